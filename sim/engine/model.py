"""The Mesa model: one world under one arm's payment contracts.

Provider incentives follow Ellis & McGuire (1986) [@ellis1986], "Provider behavior under prospective
reimbursement: cost sharing and supply", J Health Econ 5:129-151 [@ellis1986]; the
payment rules follow Medicare's [@cms_pfs2025; @cms_snf_fy2019; @cms_hh_cy2019; @cms_cjr2015;
@medpac2024].
"""

from __future__ import annotations

from typing import Any, cast

import mesa
import numpy as np

from sim.engine import practice
from sim.engine.agents import Payer, Provider
from sim.engine.behaviour import Experience
from sim.engine.draws import STREAMS
from sim.engine.features import Feature, Hooks, build
from sim.engine.features.upcoding import Coding
from sim.engine.month import (
    adaptation,
    calendar,
    delivery,
    incentives,
    lifecourse,
    needs,
    payment,
    records,
)
from sim.engine.month.care import SettingMonth
from sim.engine.payment import REGISTRY, PaymentModel
from sim.engine.population import Population, Shard
from sim.engine.settings import CareSetting
from sim.engine.subgroups import Subgroups
from sim.engine.world import Exchange, Providers, Style, World
from sim.scenario import Scenario


def _month_total(model: HealthSystemModel, column: str) -> float:
    n = len(model.settings) * len(model.payers)
    return float(sum(r[column] for r in model.rows[-n:]))


def _members(model: HealthSystemModel) -> float:
    """Members this month (every patient without a life course)."""
    if model.world.life is None:
        return model.population.n
    return float(model.world.payer_members.sum())


def _per_member(column: str):
    def reporter(model: HealthSystemModel) -> float:
        return _month_total(model, column) / _members(model)

    return reporter


def _mean_function(model: HealthSystemModel) -> float:
    """Mean function of this month's members, computed once a month (``mean_function`` and
    ``function_change`` both report it: a pass over everyone, ≈ 5 ms at 1M with a life
    course); the population's function changes only within a step."""
    done = model._mean_function_at
    if done is not None and done[0] == model.steps:
        return done[1]
    pop = model.population
    life = model.world.life
    if life is None:
        value = float(pop.function.mean(dtype=np.float64))
    else:
        value = float(pop.function.sum(dtype=np.float64, where=life.enrolled)) / _members(model)
    model._mean_function_at = (model.steps, value)
    return value


def _units_per_treated(model: HealthSystemModel) -> float:
    treated = _month_total(model, "patients_treated")
    return _month_total(model, "service_units") / treated if treated else 0.0


#: model-level reporters of the DataCollector (one value per month, all settings and payers)
MODEL_REPORTERS = {
    "spending_pmpm": _per_member("spending"),
    "oop_pmpm": _per_member("oop"),
    "provider_margin_pmpm": _per_member("provider_margin"),
    "adverse_events_per_1000": lambda m: 1000 * _per_member("adverse_events")(m),
    "units_per_treated": _units_per_treated,
    "mean_function": _mean_function,
    "function_change": lambda m: _mean_function(m) - m._function_start,
}


def _theta_offset(care: SettingMonth) -> np.ndarray:
    """θ's offset for each patient: units the provider planned (before prior authorization
    refused any: the cap is part of what its choice earns, not of the choice) minus the
    patient optimum."""
    return care.planned_units + care.not_authorized - care.optimal_units


#: provider-level reporters of the DataCollector (one row per provider a month)
PROVIDER_REPORTERS = {
    "setting": lambda p: p.model.world.settings[p.setting].name,
    "region": "region",
    "altruism": "altruism",
    "for_profit": "for_profit",
    "theta": "theta",
}


def root_sequence(
    rng: int | np.random.Generator | np.random.BitGenerator | np.random.SeedSequence,
    replicate: int,
) -> tuple[int | None, np.random.SeedSequence]:
    """(the seed, the root ``SeedSequence`` of replicate ``replicate``) from what
    ``mesa.Model`` accepts as ``rng``: a seed, a Generator or BitGenerator (its own seed
    sequence, never drawn from) or a SeedSequence. The seed is the sequence's entropy (None
    when it is not a seed an output table can hold)."""
    if isinstance(rng, bool):
        raise TypeError("rng: a seed is an int, not a bool")
    if isinstance(rng, int | np.integer):
        seed = int(rng)
        return seed, np.random.SeedSequence(seed, spawn_key=(replicate,))
    seq: object = rng
    if isinstance(seq, np.random.Generator):
        seq = seq.bit_generator
    if isinstance(seq, np.random.BitGenerator):
        seq = seq.seed_seq
    if not isinstance(seq, np.random.SeedSequence):
        raise TypeError(
            f"rng: a seed (int), a numpy Generator, BitGenerator or SeedSequence, not "
            f"{type(seq).__name__}"
        )
    entropy = seq.entropy
    held = int(entropy) if isinstance(entropy, int) and 0 <= entropy < 2**63 else None
    return held, np.random.SeedSequence(entropy, spawn_key=(*seq.spawn_key, replicate))


class HealthSystemModel(mesa.Model):
    """Patients, providers and payers under one arm's payment contracts, month by month.

    Each month (``step``) runs the stages of :mod:`sim.engine.month` in this order:

    1. **Calendar and health drift** (``calendar``) — deductibles reset each January; every
       patient's function declines (aging, chronic disease); the month's uniforms are drawn
       (common random numbers: the same draws in every arm). With a life course
       (``lifecourse``) last month's dead leave and new beneficiaries enter; with trends
       (``trends``) rates are updated each January. Features start their month (panel churn,
       the pathway's state, investment spending).
    2. **Needs and care seeking** (``needs``, each care setting in scenario order) — episodes
       of need start with a probability that rises with the risk score and with low function;
       an elective need is taken to the patient's provider with a probability that falls as
       the expected out-of-pocket cost rises.
    3. **Provider decisions and delivery** (``delivery``, same setting) — each provider sets
       the units of care of each of its patients from its practice style (``q_B + θ``, with
       the small variations it learns from); units become visits, billed units (8-minute rule)
       and minutes; patients gain function with diminishing returns, and adverse events strike
       with a risk that rises with under-treatment. Then the features' ``after_care``: with a
       care pathway, right after the acute setting the hospital discharges each patient home or
       to a post-acute setting later in scenario order (a referral starting this month).
    After the care of every setting, with a life course, members die (``lifecourse.deaths``:
    the life table's hazard, raised by risk, low function, admissions and adverse events);
    their open episodes end.

    4. **Payment** (``payment``) — each payer settles its contracts: the payment model says
       what is owed (fees, PMPM, episode prices), the contract's terms say what the patient
       pays and who bears adverse-event costs; features pay what is not tied to a claim
       (pathway reconciliations, investment fees).
    5. **Adaptation** (``adaptation``: ``estimate``, then ``move_all``, each ``Provider.step``
       for a setting's providers in one pass) — each provider estimates, from
       its patients' realised results, how its objective (profit + α·benefit) changes with
       each of its styles, moves part of the way toward the perceived best, and sometimes
       imitates a better-performing peer.
    6. **Records** (``records``) — one row per (setting, payer) of the monthly table (and the
       provider panel). Then the features' ``after_records``: therapist staffing, investment
       levels.

    When contracts change (at the start and at each policy switch) ``incentives`` recomputes
    what they make worth at the margin, and in ``optimal`` mode providers play the closed form.

    Parameters
    ----------
    scenario:
        A validated :class:`~sim.scenario.Scenario`.
    arm:
        The arm whose contracts apply (default: the first).
    rng:
        What ``mesa.Model`` takes: a seed (an int), a ``numpy.random.Generator``, a
        ``BitGenerator`` or a ``SeedSequence``; default ``scenario.seed`` (a run is reproducible
        without one). Streams are spawned from ``SeedSequence(seed, spawn_key=(replicate,))``;
        a Generator gives its own seed sequence (``default_rng(7)`` runs exactly as ``7``) and
        is never drawn from.
    replicate:
        Replication number (a child seed of the root seed).
    """

    def __init__(
        self,
        scenario: Scenario,
        arm: str | None = None,
        *,
        rng: int
        | np.random.Generator
        | np.random.BitGenerator
        | np.random.SeedSequence
        | None = None,
        replicate: int = 0,
        shard: tuple[int, int, frozenset[int]] | None = None,
        exchange: Exchange | None = None,
    ) -> None:
        seed, root = root_sequence(scenario.seed if rng is None else rng, replicate)
        streams = dict(zip(STREAMS, root.spawn(len(STREAMS)), strict=True))
        super().__init__(rng=np.random.default_rng(streams["mesa"]))
        #: what the month exchanges with the other shards of a sharded run
        #: (:mod:`sim.experiments.shards`)
        self._exchange = exchange if exchange is not None else Exchange()
        self.config = scenario
        self.arm = scenario.arm(arm) if arm is not None else scenario.arms[0]
        self.seed = seed
        self.replicate = replicate
        settings = [
            CareSetting(name, s, cfg, scenario.population.regions)
            for s, (name, cfg) in enumerate(scenario.settings.items())
        ]
        self._provider_rng = np.random.default_rng(streams["providers_monthly"])

        # providers (Mesa agents) and their styles
        prov_rng = np.random.default_rng(streams["providers"])
        self._reserve_seed = streams["providers"]
        region_shares = [r.share for r in scenario.population.regions.values()]
        regions = None if shard is None else shard[2]
        made = [self._make_providers(st, region_shares, prov_rng, regions) for st in settings]
        providers = [p for p, _ in made]
        names = [st.name for st in settings]
        population = Population(
            scenario,
            np.random.default_rng(streams["population"]),
            streams["patients_monthly"],
            {name: by_region for name, (_, by_region) in zip(names, made, strict=True)},
            None
            if shard is None
            else Shard(
                *shard,
                # each provider's number in the shard: set for a shard's providers
                {n: cast(np.ndarray, p.local_of) for n, p in zip(names, providers, strict=True)},
            ),
        )

        # payers and their contracts for this arm
        conditions = tuple(scenario.population.conditions)
        payers = []
        for g, (name, cfg) in enumerate(scenario.payers.items()):
            contracts = [
                self.make_contract(self.arm.contract_for(name, st.name), conditions)
                for st in settings
            ]
            payers.append(Payer(self, name, g, cfg.rate_multiplier, contracts))

        world = self.world = World(scenario, self.arm, settings, population, providers, payers)
        world.exchange = self._exchange
        world.streams = streams
        world.coding = Coding(
            scenario.behaviour.upcoding, [p.for_profit for p in providers], len(payers)
        )
        if scenario.life is not None:
            # ages, sexes, who enters when; members only on the panels from here on
            world.life = lifecourse.Life(world, scenario.life, streams["life"])
        self._build_panels()
        self._f0_sum = population.function_sum_by_payer()
        #: (step, mean function of the members then): see _mean_function
        self._mean_function_at: tuple[int, float] | None = None
        #: members' mean function at month 0 (the DataCollector's function_change)
        life = world.life
        self._function_start = (
            float(population.function.mean(dtype=np.float64))
            if life is None
            else float(population.function.sum(dtype=np.float64, where=life.enrolled))
            / max(1, int(life.enrolled.sum()))
        )
        self._pending_contracts: dict[int, list[tuple[str, str, PaymentModel]]] = {}
        #: announcement month -> the months of the switches announced then
        self._announcements: dict[int, list[int]] = {}
        for switch in self.arm.switches:
            for payer in payers:
                for setting in settings:
                    switched = self.arm.switch_for(switch, payer.name, setting.name)
                    if switched is not None:
                        contract = self.make_contract(switched, conditions)
                        base = contract.base_period()
                        if base is not None:
                            # (the scenario refuses a base period that ends after the switch)
                            world.history.want(setting.index, payer.index, base)
                        self.schedule_contract_change(
                            switch.month, payer.name, setting.name, contract
                        )
            if scenario.behaviour.foresight > 0 and self.world.learning:
                # from the announcement, providers know where the announced rules put them
                self._announcements.setdefault(switch.announcement, []).append(switch.month)
                # before any contract change due at the same time (those come at + 0.5), so
                # that the rules in force are still the old ones when providers compare
                self.schedule_event(self._announce_due, at=switch.announcement + 0.25)
        #: how providers set units: learnt styles or a best response (:mod:`sim.engine.practice`)
        world.practice = practice.choose(world)
        #: the optional features this run has (:mod:`sim.engine.features`), and their hooks
        self.features: list[Feature] = build(world)
        world.hooks = self.hooks = Hooks(self.features, len(settings))
        incentives.refresh(world)

        self.rows: list[dict[str, Any]] = []
        self.provider_rows: list[dict[str, Any]] = []
        #: the life table's rows (sim/engine/month/lifecourse.py), with a [life] table
        self.life_rows: list[dict[str, Any]] | None = [] if scenario.life is not None else None
        #: subgroup rows (sim/engine/subgroups.py), when the scenario has an [analysis] table
        self.subgroups = Subgroups(world, scenario.analysis) if scenario.analysis else None
        # for mesa.batch_run and Mesa tooling: whole-population aggregates each month, and each
        # provider's style and traits (get_agenttype_vars_dataframe(Provider))
        self.datacollector = mesa.DataCollector(
            model_reporters=MODEL_REPORTERS, agenttype_reporters={Provider: PROVIDER_REPORTERS}
        )

    # -----------------------------------------------------------------------------------------
    # the month

    def step(self) -> None:
        """One month: the stages of :mod:`sim.engine.month`, in order (see the class docstring)."""
        world = self.world
        world.month_number = self.steps - 1
        calendar.start_month(world)
        world.month = []
        for setting in world.settings:
            new = needs.new_episodes(world, setting)
            care = delivery.deliver(world, setting, new)
            world.month.append(care)
            for f in self.hooks("after_care", setting.index):
                f.after_care(world, setting.index, care)
        lifecourse.deaths(world)
        payment.settle(world)
        adaptation.estimate(world, self._provider_rng)
        if world.learning:
            # what every Provider.step does, in one pass per setting (the same bits)
            for s in range(len(world.settings)):
                adaptation.move_all(world, s)
        provider_rows = self.provider_rows if self.config.outputs.provider_panel else None
        records.record(
            world, self._f0_sum, self.rows, provider_rows, self.subgroups, self.life_rows
        )
        for f in self.hooks("after_records"):
            f.after_records(world)
        world.practice.end_month(world)
        self.datacollector.collect(self)
        self.running = self.steps < self.config.months

    # -----------------------------------------------------------------------------------------
    # construction

    def _make_providers(
        self,
        setting: CareSetting,
        region_shares: list[float],
        rng: np.random.Generator,
        regions: frozenset[int] | None = None,
    ) -> tuple[Providers, list[np.ndarray]]:
        """The setting's providers, and each region's providers in the run's numbering (for
        the patients' draws). A shard (``regions``) draws every provider of the run, as the
        whole run does, and keeps its regions' ones."""
        pc = setting.cfg.providers
        beh = self.config.behaviour
        n = pc.resolved_count(self.config.population.patients)
        # providers per region: proportional to the region's share, at least one each
        raw = np.asarray(region_shares) * n
        counts = np.maximum(np.floor(raw).astype(int), 1)
        while counts.sum() < n:
            counts[np.argmax(raw - counts)] += 1
        while counts.sum() > n:
            counts[np.argmax(np.where(counts > 1, counts - raw, -np.inf))] -= 1
        region: np.ndarray = np.repeat(np.arange(len(region_shares)), counts)

        def characteristics(rng: np.random.Generator, n: int):
            def scaled_beta(d) -> np.ndarray:
                return d.low + (d.high - d.low) * rng.beta(d.a, d.b, n)

            alpha = scaled_beta(pc.altruism)
            speed = scaled_beta(pc.adaptation_speed)
            for_profit = rng.random(n) < pc.for_profit_share
            alpha = np.where(for_profit, alpha * pc.for_profit_altruism_multiplier, alpha)
            speed = np.where(for_profit, speed * pc.for_profit_speed_multiplier, speed)
            return alpha, np.minimum(speed, 1), for_profit

        alpha, speed, for_profit = characteristics(rng, n)
        # potential entrants (supply.market): drawn from their own stream after the providers
        # in the market, with the same distributions, so the market's providers are the same
        reserve = self.config.supply.reserve(setting.name, counts.tolist())
        active: np.ndarray = np.ones(n, np.bool_)
        if sum(reserve):
            extra_rng = np.random.default_rng(self._reserve_seed.spawn(1)[0])
            extra = characteristics(extra_rng, sum(reserve))
            alpha, speed, for_profit = (
                np.concatenate(x) for x in zip((alpha, speed, for_profit), extra, strict=True)
            )
            region = np.concatenate([region, np.repeat(np.arange(len(reserve)), reserve)])
            active = np.concatenate([active, np.zeros(sum(reserve), np.bool_)])
            n += sum(reserve)
        n_regions = len(region_shares)
        by_region_all = [np.flatnonzero((region == r) & active) for r in range(n_regions)]
        n_total = n
        global_id = None
        local_of = None
        if regions is not None:
            global_id = np.flatnonzero(np.isin(region, sorted(regions)))
            local_of = np.full(n_total, -1, np.int64)
            local_of[global_id] = np.arange(global_id.size)
            alpha, speed, for_profit, region, active = (
                x[global_id] for x in (alpha, speed, for_profit, region, active)
            )
            n = global_id.size
        agents = [
            Provider(
                self,
                setting.index,
                i,
                int(region[i]),
                float(alpha[i]),
                float(speed[i]),
                bool(for_profit[i]),
                i if global_id is None else int(global_id[i]),
            )
            for i in range(n)
        ]
        cfg = setting.cfg
        theta = Style(
            name="theta",
            value=np.full(n, beh.initial_offset),
            scale=cfg.optimal_units,
            bound=float(cfg.max_units),
            experience=Experience(n, cfg.optimal_units, beh.memory),
            offset=_theta_offset,
            closed_form=lambda: incentives.optimal_theta(self.world, setting.index),
        )
        providers = Providers(
            agents=agents,
            region=np.array([p.region for p in agents], dtype=np.int64),
            altruism=np.array([p.altruism for p in agents], dtype=np.float64),
            speed=np.array([p.speed for p in agents], dtype=np.float64),
            for_profit=np.array([p.for_profit for p in agents], dtype=np.bool_),
            by_region=[np.flatnonzero((region == r) & active) for r in range(n_regions)],
            styles=[theta],
            seen=np.zeros(n, np.int64),
            active=active,
            global_id=global_id,
            n_total=n_total,
            local_of=local_of,
        )
        return providers, by_region_all

    def _build_panels(self) -> None:
        """Panels of every setting, and each payer's share of the settings' fixed costs."""
        world = self.world
        pop = world.population
        for s, setting in enumerate(world.settings):
            providers = world.providers[s]
            providers.panels = world.build_panels(s)
            members = np.stack([pn.members for pn in providers.panels], axis=1)
            total = members.sum(axis=1, keepdims=True)
            share = np.divide(members, total, out=np.zeros(members.shape), where=total > 0)
            fixed = setting.cfg.providers.fixed_cost * share.sum(axis=0)
            # providers with no members still incur fixed cost; charge it to the largest payer
            if world.life is None:
                has = np.bincount(pop.provider[s], minlength=providers.n) > 0
            else:
                has = total[:, 0] > 0  # members this month
            # (potential entrants not yet in the market have no fixed cost)
            empty = int((~has & providers.active).sum())
            if empty:
                g_big = int(np.argmax(pop.payer_counts))
                fixed[g_big] += empty * setting.cfg.providers.fixed_cost
            providers.fixed_cost_by_payer = fixed

    def make_contract(self, cfg, conditions: tuple[str, ...]) -> PaymentModel:
        """The payment model a contract of the scenario names, with its parameters."""
        cls = REGISTRY[cfg.model]
        contract = cls(cfg.params, conditions)
        # aggregates over every provider of the run come through the exchange (sharded runs)
        contract.run_totals = self._exchange.totals  # type: ignore[method-assign]
        return contract

    # -----------------------------------------------------------------------------------------
    # policy switches

    def set_contract(self, payer: str, setting: str, contract: PaymentModel) -> None:
        """Replace one payer's contract for one setting (a policy switch), effective at once."""
        world = self.world
        g = [p.name for p in world.payers].index(payer)
        s = [st.name for st in world.settings].index(setting)
        old = world.payers[g].contracts[s]
        base = contract.base_period()
        if base is not None:
            contract.begin(world.history.of(s, g, base))
        world.payers[g].contracts[s] = contract
        world.policy_period[s, g] += 1
        world.practice.contract_changed(world, s, g, old)
        incentives.refresh(world)

    def schedule_contract_change(
        self, month: int, payer: str, setting: str, contract: PaymentModel
    ) -> None:
        """Replace a payer's contract for a setting from month ``month`` (0-based) on, with
        Mesa's event scheduling. Months before ``month`` are untouched."""
        if month < self.steps:
            raise ValueError(f"month {month} has already been simulated")
        self._pending_contracts.setdefault(month, []).append((payer, setting, contract))
        # step k (month k - 1) runs at time k: the change lands between months
        self.schedule_event(self._apply_contract_changes, at=month + 0.5)

    def _announce_due(self) -> None:
        for month in self._announcements.pop(self.steps, []):
            self._announce(month)

    def _announce(self, month: int) -> None:
        """A switch of month ``month`` is announced: each provider computes how the announced
        contracts move its closed-form best, and foresight pulls each style by that much from
        where it stands (``target = style + θ*_announced − θ*_now``). What the closed form
        leaves out (payment thresholds, the spread of cases) stays in the learnt style, and a
        style whose best the switch does not move is not pulled (a switch of one setting's
        contract leaves the other settings' styles to learning)."""
        world = self.world
        names = {p.name: g for g, p in enumerate(world.payers)}
        settings = {st.name: st.index for st in world.settings}
        now = {
            id(style): np.array(style.closed_form(), dtype=np.float64)
            for providers in world.providers
            for style in providers.styles
            if style.closed_form is not None
        }
        saved = [list(p.contracts) for p in world.payers]
        for payer, setting, contract in self._pending_contracts.get(month, []):
            world.payers[names[payer]].contracts[settings[setting]] = contract
        incentives.refresh(world)
        for providers in world.providers:
            for style in providers.styles:
                if style.closed_form is not None:
                    announced = np.array(style.closed_form(), dtype=np.float64)
                    style.target = style.value + (announced - now[id(style)])
        for payer, contracts in zip(world.payers, saved, strict=True):
            payer.contracts[:] = contracts
        incentives.refresh(world)

    def _apply_contract_changes(self) -> None:
        for payer, setting, contract in self._pending_contracts.pop(self.steps, []):
            self.set_contract(payer, setting, contract)

    # -----------------------------------------------------------------------------------------
    # views for tests, notebooks and tools

    @property
    def month(self) -> int:
        """The month simulated last (0-based; −1 before the first)."""
        return self.world.month_number

    @property
    def population(self) -> Population:
        """The patients (columnar state)."""
        return self.world.population

    @property
    def settings(self) -> list[CareSetting]:
        """The care settings at run time."""
        return self.world.settings

    @property
    def payers(self) -> list[Payer]:
        """The payers (Mesa agents), in scenario order."""
        return self.world.payers

    @property
    def month_care(self) -> list[SettingMonth]:
        """This month's care, per setting."""
        return self.world.month

    def feature(self, cls: type[Feature], setting: int | None = None) -> Any:
        """The run's instance of feature ``cls`` (in ``setting``); None when absent."""
        for f in self.features:
            if isinstance(f, cls) and (setting is None or setting in f.settings):
                return f
        return None

    def optimal_theta(self, s: int) -> np.ndarray:
        """Closed-form best style of each provider of setting ``s`` [@ellis1986]."""
        return incentives.optimal_theta(self.world, s)
