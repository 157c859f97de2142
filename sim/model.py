"""The Mesa model: one world under one arm's payment contracts.

Provider incentives follow Ellis & McGuire (1986), "Provider behavior under prospective
reimbursement: cost sharing and supply", J Health Econ 5:129-151 (REFERENCE.md §1); the
payment rules follow Medicare's (REFERENCE.md §3-§7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mesa
import numpy as np
from scipy.special import ndtri

from sim import clinical
from sim.agents import Payer, Provider
from sim.behaviour import (
    Experience,
    capped_share,
    optimal_offset,
    optimal_therapy,
    planned_units,
    therapy_mix,
    therapy_variation_sign,
    variation_sign,
)
from sim.investment import Investments, churn
from sim.pathway import Pathway, zero_counts
from sim.payment import REGISTRY, Panel, PaymentModel
from sim.population import (
    ADVERSE_EVENT,
    BUNCHING,
    EPISODE,
    ROUNDING,
    SELECTION,
    THERAPY,
    Population,
)
from sim.scenario import INVESTMENT_TYPES, Scenario
from sim.settings import CareSetting

#: counter-based draws of churn use the setting slots from here on (settings are at most 32)
CHURN_SLOT = 32

#: order of the spawned random streams of a run (documented in docs/architecture.md)
STREAMS = ("population", "patients_monthly", "providers", "providers_monthly", "mesa")


def _month_total(model: HealthSystemModel, column: str) -> float:
    n = len(model.settings) * len(model.payers)
    return float(sum(r[column] for r in model.rows[-n:]))


def _per_member(column: str):
    def reporter(model: HealthSystemModel) -> float:
        return _month_total(model, column) / model.population.n

    return reporter


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
    "mean_function": lambda m: float(m.population.function.mean(dtype=np.float64)),
}


@dataclass
class MonthCare:
    """One setting's patients with an active episode this month (arrays aligned by patient)."""

    patients: np.ndarray
    payer: np.ndarray
    provider: np.ndarray
    sought: np.ndarray
    new_episode: np.ndarray
    need: np.ndarray
    sign: np.ndarray
    planned: np.ndarray
    units: np.ndarray
    visits: np.ndarray
    billed: np.ndarray
    minutes: np.ndarray
    fee_value: np.ndarray
    function_at_start: np.ndarray
    benefit: np.ndarray
    gain: np.ndarray
    low_value: np.ndarray
    adverse: np.ndarray
    adverse_cost: np.ndarray
    revenue: np.ndarray = field(default=None)  # type: ignore[assignment]
    oop: np.ndarray = field(default=None)  # type: ignore[assignment]
    liability: np.ndarray = field(default=None)  # type: ignore[assignment]
    ae_payer: np.ndarray = field(default=None)  # type: ignore[assignment]
    p4p: np.ndarray = field(default=None)  # type: ignore[assignment]
    lump_by_payer: list[np.ndarray] = field(default_factory=list)
    by_payer: list[slice] = field(default_factory=list)  # each payer's block of the arrays
    episode_month: np.ndarray = field(default=None)  # type: ignore[assignment]
    period_units: np.ndarray = field(default=None)  # type: ignore[assignment]
    period_value: np.ndarray = field(default=None)  # type: ignore[assignment]
    adjustment: np.ndarray = field(default=None)  # type: ignore[assignment]
    period_end: np.ndarray = field(default=None)  # type: ignore[assignment]
    at_threshold: np.ndarray = field(default=None)  # type: ignore[assignment]
    new_needs_by_payer: np.ndarray = field(default=None)  # type: ignore[assignment]
    declined_by_payer: np.ndarray = field(default=None)  # type: ignore[assignment]
    not_authorized: np.ndarray = field(default=None)  # type: ignore[assignment]
    referred: np.ndarray = field(default=None)  # type: ignore[assignment]
    allowed: np.ndarray = field(default=None)  # type: ignore[assignment]
    #: settings with a therapy decision: minutes this month by mode, therapist minutes, cost
    #: and planned minutes per day (zeros elsewhere)
    therapy_individual: np.ndarray = field(default=None)  # type: ignore[assignment]
    therapy_concurrent: np.ndarray = field(default=None)  # type: ignore[assignment]
    therapy_group: np.ndarray = field(default=None)  # type: ignore[assignment]
    therapist_minutes: np.ndarray = field(default=None)  # type: ignore[assignment]
    therapist_demand: np.ndarray = field(default=None)  # type: ignore[assignment]
    therapy_cost: np.ndarray = field(default=None)  # type: ignore[assignment]
    planned_minutes: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = self.patients.size
        self.allowed = np.zeros(n)
        for name in (
            "therapy_individual",
            "therapy_concurrent",
            "therapy_group",
            "therapist_minutes",
            "therapist_demand",
            "therapy_cost",
            "planned_minutes",
        ):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(n))
        self.revenue = np.zeros(n)
        self.oop = np.zeros(n)
        self.liability = np.zeros(n)
        self.ae_payer = np.zeros(n)
        self.p4p = np.zeros(n)
        self.adjustment = np.zeros(n)


@dataclass
class Estimates:
    """What each provider of a setting learnt this month (read by ``Provider.step``)."""

    slope: np.ndarray
    curvature: np.ndarray
    profit_pp: np.ndarray
    benefit_pp: np.ndarray
    imitate: np.ndarray
    peer: np.ndarray
    max_step: float
    bound: float  # the style stays within ±bound (the setting's max units)
    #: settings with a therapy decision: the same for the therapy style (minutes per day)
    therapy_slope: np.ndarray | None = None
    therapy_curvature: np.ndarray | None = None
    therapy_max_step: float = 0.0
    therapy_bound: float = 0.0


class HealthSystemModel(mesa.Model):
    """Patients, providers and payers under one arm's payment contracts, month by month.

    Each month (``step``), in this order:

    1. **Calendar and health drift** — deductibles reset each January; every patient's function
       declines (aging, chronic disease); the month's uniforms are drawn (common random
       numbers: the same draws in every arm). Where panels churn, some members move to another
       provider; providers spend this month's investments on their members, whose effects
       come after the investment's lag.
    2. **Needs and care seeking** (each care setting, in scenario order) — episodes of need
       start with a probability that rises with the risk score and with low function; an
       elective need is taken to the patient's provider with a probability that falls as the
       expected out-of-pocket cost rises.
    3. **Provider decisions and delivery** — each provider sets the units of care of each of its
       patients from its practice style (``q_B + θ``, with the small variations it learns from);
       units become visits, billed units (8-minute rule) and minutes; patients gain function
       with diminishing returns, and adverse events strike with a risk that rises with
       under-treatment. Settings with a therapy decision (skilled nursing) also plan therapy
       minutes per day from a second style, split them into individual, concurrent and group
       minutes and deliver them within their therapist staff. With a care pathway, right after
       the acute setting the hospital discharges each patient home or to a post-acute setting
       (whose episode starts this month, as a referral), and after a post-acute setting its
       adverse events send patients back to hospital next month (readmissions). Investments
       lower the probabilities of needs, adverse events and readmissions they target (the same
       draws against lower probabilities: the events avoided are counted).
    4. **Payment** (``Payer.step``) — each payer settles its contracts: the payment model says
       what is owed (fees, PMPM, episode prices), the contract's cost sharing says what the
       patient pays, and adverse-event costs fall on the payer or the provider as the contract
       says. With a care pathway, the month's spending is added to open pathways, and those
       whose window closes are reconciled under the acute contract and teach hospitals what a
       discharge to each destination costs. Payers pay their share of investment fees.
    5. **Adaptation** (``Provider.step``) — each provider estimates, from its patients' realised
       results, how its objective (profit + α·benefit) changes with its style, moves part of the
       way toward the perceived best style, and sometimes imitates a better-performing peer;
       the therapy style learns the same way.
    6. **Records** — one row per (setting, payer) of the monthly table. Then therapist staff
       move toward the month's planned demand (less after a loss), the share of shared
       therapy minutes toward what the contracts reward, and investment levels toward the
       best response to what the providers have learnt avoided events are worth to them.

    Parameters
    ----------
    scenario:
        A validated :class:`~sim.scenario.Scenario`.
    arm:
        The arm whose contracts apply (default: the first).
    rng:
        Root seed of the run (an int; default ``scenario.seed``). Streams are spawned from
        ``SeedSequence(rng, spawn_key=(replicate,))``.
    replicate:
        Replication number (a child seed of the root seed).
    """

    def __init__(
        self,
        scenario: Scenario,
        arm: str | None = None,
        *,
        rng: int | None = None,
        replicate: int = 0,
    ) -> None:
        seed = scenario.seed if rng is None else int(rng)
        root = np.random.SeedSequence(seed, spawn_key=(replicate,))
        streams = dict(zip(STREAMS, root.spawn(len(STREAMS)), strict=True))
        super().__init__(rng=np.random.default_rng(streams["mesa"]))
        self.month = -1
        self.config = scenario
        self.arm = scenario.arm(arm) if arm is not None else scenario.arms[0]
        self.seed = seed
        self.replicate = replicate
        self.settings = [
            CareSetting(name, s, cfg, scenario.population.regions)
            for s, (name, cfg) in enumerate(scenario.settings.items())
        ]
        self._provider_rng = np.random.default_rng(streams["providers_monthly"])

        # providers (Mesa agents) and their styles
        prov_rng = np.random.default_rng(streams["providers"])
        self.providers_by_setting: list[list[Provider]] = []
        providers_by_region: dict[str, list[np.ndarray]] = {}
        region_shares = [r.share for r in scenario.population.regions.values()]
        for setting in self.settings:
            agents, by_region = self._make_providers(setting, region_shares, prov_rng)
            self.providers_by_setting.append(agents)
            providers_by_region[setting.name] = by_region
        self.providers_by_region = providers_by_region
        up = scenario.behaviour.upcoding
        #: which providers code their patients as sicker than they are (upcoding)
        self.upcodes = [
            np.array([up.enabled and (p.for_profit or not up.for_profit_only) for p in ps])
            for ps in self.providers_by_setting
        ]
        self.population = Population(
            scenario,
            np.random.default_rng(streams["population"]),
            streams["patients_monthly"],
            providers_by_region,
        )
        pop = self.population
        self.altruism = [np.array([p.altruism for p in ps]) for ps in self.providers_by_setting]
        self.speed = [np.array([p.speed for p in ps]) for ps in self.providers_by_setting]
        self.theta = [
            np.full(len(ps), scenario.behaviour.initial_offset) for ps in self.providers_by_setting
        ]
        self.theta_before = [t.copy() for t in self.theta]
        beh = scenario.behaviour
        self._seen = [np.zeros(len(ps), np.int64) for ps in self.providers_by_setting]
        self.experience = [
            Experience(len(ps), st.cfg.optimal_units, beh.memory)
            for ps, st in zip(self.providers_by_setting, self.settings, strict=True)
        ]
        # the therapy decision (settings with [therapy]): style φ in minutes per day around
        # the patient optimum, the share of minutes delivered concurrently or in groups, and
        # therapist staffing (minutes a month; NaN until the first month sets it)
        self.phi: list[np.ndarray | None] = []
        self.phi_before: list[np.ndarray | None] = []
        self.shared_share: list[np.ndarray | None] = []
        self.staff: list[np.ndarray | None] = []
        self.therapy_experience: list[Experience | None] = []
        for ps, st in zip(self.providers_by_setting, self.settings, strict=True):
            t = st.cfg.therapy
            n_prov = len(ps)
            self.phi.append(None if t is None else np.full(n_prov, t.initial_offset))
            self.phi_before.append(None if t is None else self.phi[-1].copy())
            self.shared_share.append(
                None if t is None else np.full(n_prov, t.baseline_shared_share)
            )
            self.staff.append(None if t is None else np.full(n_prov, np.nan))
            self.therapy_experience.append(
                None if t is None else Experience(n_prov, t.optimal_minutes, beh.memory)
            )

        # payers and their contracts for this arm
        conditions = tuple(scenario.population.conditions)
        self.payers: list[Payer] = []
        for g, (name, cfg) in enumerate(scenario.payers.items()):
            contracts = [
                self.make_contract(self.arm.contract_for(name, s.name), conditions)
                for s in self.settings
            ]
            self.payers.append(Payer(self, name, g, cfg.rate_multiplier, contracts))

        # panels: members and their risk per provider, per setting and payer
        n_payers = len(self.payers)
        self.payer_members = np.bincount(pop.payer, minlength=n_payers).astype(np.float64)
        self.panels: list[list[Panel]] = []
        self._fixed_cost_share = np.zeros((len(self.settings), n_payers))
        for s, setting in enumerate(self.settings):
            self.panels.append(self._build_panels(s))
            members = np.stack([pn.members for pn in self.panels[s]], axis=1)
            total = members.sum(axis=1, keepdims=True)
            share = np.divide(members, total, out=np.zeros(members.shape), where=total > 0)
            self._fixed_cost_share[s] = setting.cfg.providers.fixed_cost * share.sum(axis=0)
        # providers with no members still incur fixed cost; charge it to the largest payer
        for s, setting in enumerate(self.settings):
            n_prov = len(self.providers_by_setting[s])
            has = np.bincount(pop.provider[s], minlength=n_prov) > 0
            empty = int((~has).sum())
            if empty:
                g_big = int(np.argmax(self.payer_members))
                self._fixed_cost_share[s, g_big] += empty * setting.cfg.providers.fixed_cost
        self._f0_sum = pop.function_sum_by_payer()
        self._pending_contracts: dict[int, list[tuple[str, str, PaymentModel]]] = {}
        #: how many policy switches have changed each (setting, payer) contract so far
        self.policy_period = np.zeros((len(self.settings), n_payers), np.int64)
        for switch in self.arm.switches:
            for payer in self.payers:
                for setting in self.settings:
                    cfg = self.arm.switch_for(switch, payer.name, setting.name)
                    if cfg is not None:
                        contract = self.make_contract(cfg, conditions)
                        self.schedule_contract_change(
                            switch.month, payer.name, setting.name, contract
                        )
        self.refresh_contract_terms()
        #: the acute care pathway linking settings (None: settings are independent)
        self.pathway = Pathway(self, scenario.pathway) if scenario.pathway is not None else None
        #: investments that lower future need, per setting (None: not offered, or switched off
        #: in this arm)
        self.investments: list[Investments | None] = [
            Investments(self, st.index, st.cfg.investments)
            if st.cfg.investments is not None and self.arm.investments
            else None
            for st in self.settings
        ]

        # ledgers (money conservation is tested against these) and records
        self.ledger_payer = np.zeros((len(self.settings), n_payers))
        self.ledger_payer_ae = np.zeros((len(self.settings), n_payers))
        self.ledger_oop = np.zeros((len(self.settings), n_payers))
        self.ledger_provider = [np.zeros(len(ps)) for ps in self.providers_by_setting]
        self.rows: list[dict] = []
        self.provider_rows: list[dict] = []
        # for mesa.batch_run and Mesa tooling: whole-population aggregates each month
        self.datacollector = mesa.DataCollector(model_reporters=MODEL_REPORTERS)
        self.month_care: list[MonthCare] = []
        self.estimates: list[Estimates] = []
        self.month = -1

    # -----------------------------------------------------------------------------------------
    # construction helpers

    def _make_providers(
        self, setting: CareSetting, region_shares: list[float], rng: np.random.Generator
    ) -> tuple[list[Provider], list[np.ndarray]]:
        pc = setting.cfg.providers
        n = pc.resolved_count(self.config.population.patients)
        # providers per region: proportional to the region's share, at least one each
        raw = np.asarray(region_shares) * n
        counts = np.maximum(np.floor(raw).astype(int), 1)
        while counts.sum() < n:
            counts[np.argmax(raw - counts)] += 1
        while counts.sum() > n:
            counts[np.argmax(np.where(counts > 1, counts - raw, -np.inf))] -= 1
        region = np.repeat(np.arange(len(region_shares)), counts)

        def scaled_beta(d) -> np.ndarray:
            return d.low + (d.high - d.low) * rng.beta(d.a, d.b, n)

        alpha = scaled_beta(pc.altruism)
        speed = scaled_beta(pc.adaptation_speed)
        for_profit = rng.random(n) < pc.for_profit_share
        alpha = np.where(for_profit, alpha * pc.for_profit_altruism_multiplier, alpha)
        speed = np.minimum(np.where(for_profit, speed * pc.for_profit_speed_multiplier, speed), 1)
        agents = [
            Provider(
                self,
                setting.index,
                i,
                int(region[i]),
                float(alpha[i]),
                float(speed[i]),
                bool(for_profit[i]),
            )
            for i in range(n)
        ]
        by_region = [np.flatnonzero(region == r) for r in range(len(region_shares))]
        return agents, by_region

    def _build_panels(self, s: int) -> list[Panel]:
        """Each payer's members of setting ``s`` per provider, with their (coded) risk."""
        pop = self.population
        n_payers = len(self.payers)
        n_prov = len(self.providers_by_setting[s])
        key = pop.provider[s].astype(np.int64) * n_payers + pop.payer
        members = np.bincount(key, minlength=n_prov * n_payers).reshape(n_prov, n_payers)
        risk = np.bincount(key, pop.risk, minlength=n_prov * n_payers).reshape(n_prov, n_payers)
        # risk adjustment sees coded risk scores
        risk = risk * self.coded_risk_factor(s, np.arange(n_prov))[:, None]
        return [
            Panel(
                members=members[:, g].astype(np.float64),
                risk_sum=risk[:, g],
                rate_multiplier=self.payers[g].rate_multiplier,
            )
            for g in range(n_payers)
        ]

    def coded_risk_factor(self, s: int, provider: np.ndarray) -> np.ndarray:
        """Coded / true risk score for patients of these providers (1 without upcoding)."""
        inflation = self.config.behaviour.upcoding.risk_inflation
        return 1.0 + inflation * self.upcodes[s][provider]

    def coded_function(self, s: int, provider: np.ndarray, function: np.ndarray) -> np.ndarray:
        """Functional status as coded by these providers (lower than true when upcoding)."""
        shift = self.config.behaviour.upcoding.function_shift
        return np.maximum(function - shift * self.upcodes[s][provider], 0.0)

    def make_contract(self, cfg, conditions: tuple[str, ...]) -> PaymentModel:
        cls = REGISTRY[cfg.model]
        return cls(cfg.params, conditions)

    def set_contract(self, payer: str, setting: str, contract: PaymentModel) -> None:
        """Replace one payer's contract for one setting (a policy switch), effective at once."""
        g = [p.name for p in self.payers].index(payer)
        s = [st.name for st in self.settings].index(setting)
        self.payers[g].contracts[s] = contract
        self.policy_period[s, g] += 1
        self.refresh_contract_terms()

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

    def _apply_contract_changes(self) -> None:
        for payer, setting, contract in self._pending_contracts.pop(self.steps, []):
            self.set_contract(payer, setting, contract)

    def refresh_contract_terms(self) -> None:
        """Recompute what providers face under the current contracts: marginal revenue per unit
        and the extra cost of under-treatment (adverse events borne, penalties, outcome
        payments, shared savings), averaged over each provider's members by payer. In
        ``optimal`` mode providers move to the closed-form best response."""
        self.marginal_revenue: list[np.ndarray] = []
        self.shortfall_curvature: list[np.ndarray] = []
        #: therapy settings: best minutes per day, the value g(m*) a day adds at them, and the
        #: share of minutes providers aim to deliver concurrently or in groups
        self.therapy_optimum: list[np.ndarray | None] = []
        self.day_extra: list[np.ndarray] = []
        self.shared_target: list[np.ndarray | None] = []
        for s, setting in enumerate(self.settings):
            provs = self.providers_by_setting[s]
            region = np.array([p.region for p in provs])
            members = np.stack([self.panels[s][g].members for g in range(len(self.payers))], 1)
            total = members.sum(axis=1, keepdims=True)
            w = np.divide(members, total, out=np.zeros(members.shape), where=total > 0)
            w[total[:, 0] == 0] = 1.0 / len(self.payers)
            fee_unit = setting.fee_per_unit[region]
            m = np.zeros(len(provs))
            # what under-treatment costs the provider per (2·h·unit²): its share of adverse
            # events, penalties, and the payer's costs it shares through shared savings
            event = np.zeros(len(provs))
            outcome = np.zeros(len(provs))
            ae = setting.cfg.adverse_events
            for g, payer in enumerate(self.payers):
                c = payer.contracts[s]
                prm = c.params
                keep = 1.0 - prm.shared_savings_rate  # of each dollar the payer spends
                mr = np.asarray(
                    c.marginal_revenue(fee_unit * payer.rate_multiplier, payer.rate_multiplier),
                    float,
                )
                # shared savings give back s of the payer's share of each unit (the deductible
                # is ignored here: an approximation when it is not met)
                per_unit = mr * (1.0 - prm.shared_savings_rate * (1.0 - prm.coinsurance))
                per_unit += prm.copay_per_visit / setting.units_per_visit
                m += w[:, g] * per_unit
                L = prm.adverse_event_liability
                event += w[:, g] * (
                    L * ae.cost
                    + keep * prm.adverse_event_penalty
                    + prm.shared_savings_rate * (1.0 - L) * ae.cost
                )
                outcome += w[:, g] * keep * prm.outcome_payment
            self.marginal_revenue.append(m)
            # below the optimum the objective bends more: expected adverse-event costs borne
            # (2·event·h) and the outcome payments lost (k·d/v)
            cfg = setting.cfg
            self.shortfall_curvature.append(
                2.0 * event * ae.shortfall_risk
                + outcome * cfg.benefit_curvature / cfg.value_per_function_point
            )
            self._therapy_terms(s, w)
        if self.config.behaviour.mode == "optimal":
            for s in range(len(self.settings)):
                self.theta[s][:] = self.optimal_theta(s)
                if self.phi[s] is not None:
                    self.phi[s][:] = (
                        self.therapy_optimum[s] - self.settings[s].cfg.therapy.optimal_minutes
                    )
                    self.shared_share[s][:] = self.shared_target[s]

    def _therapy_terms(self, s: int, payer_weight: np.ndarray) -> None:
        """Therapy settings: each provider's target share of shared (concurrent or group)
        minutes, best planned minutes per day and what a day at them is worth (for the
        closed-form length of stay). ``payer_weight[p, g]``: provider p's members by payer."""
        t = self.settings[s].cfg.therapy
        n_prov = payer_weight.shape[0]
        if t is None:
            self.therapy_optimum.append(None)
            self.shared_target.append(None)
            self.day_extra.append(np.zeros(n_prov))
            return
        contracts = [p.contracts[s] for p in self.payers]
        # shared minutes save therapist time; where payment counts them at less than full
        # weight, providers keep to the baseline share, otherwise they move toward the
        # unpaid share within the contract's cap
        by_payer = np.array(
            [
                t.baseline_shared_share
                if min(c.therapy_minute_weights) < 1.0
                else capped_share(t.unpaid_shared_share, c.group_concurrent_cap)
                for c in contracts
            ]
        )
        target = payer_weight @ by_payer
        self.shared_target.append(target)
        share = target if self.config.behaviour.mode == "optimal" else self.shared_share[s]
        effective, staff, _ = therapy_mix(share, t.concurrent_fraction, t.shared_benefit, (1, 1, 1))

        def revenue(minutes: np.ndarray) -> np.ndarray:
            out = np.zeros(minutes.shape)
            for g, (c, payer) in enumerate(zip(contracts, self.payers, strict=True)):
                if not payer_weight[:, g].any():
                    continue
                _, _, counted = therapy_mix(
                    capped_share(share, c.group_concurrent_cap),
                    t.concurrent_fraction,
                    t.shared_benefit,
                    c.therapy_minute_weights,
                )
                r = c.therapy_revenue_per_day(minutes * counted[:, None])
                out += payer_weight[:, g][:, None] * payer.rate_multiplier * r
            return out

        m_star, g_star = optimal_therapy(
            revenue,
            cost_per_minute=t.cost_per_minute,
            staff=staff,
            effective=effective,
            altruism=self.altruism[s],
            curvature=t.benefit_curvature,
            optimal_minutes=t.optimal_minutes,
            sd=t.minutes_sd,
            max_minutes=t.max_minutes,
        )
        self.therapy_optimum.append(m_star)
        self.day_extra.append(g_star)

    def optimal_theta(self, s: int) -> np.ndarray:
        """Closed-form best style of each provider of setting ``s`` (REFERENCE.md §1)."""
        cfg = self.settings[s].cfg
        return optimal_offset(
            self.marginal_revenue[s] + self.day_extra[s],
            cfg.marginal_cost,
            self.altruism[s],
            cfg.benefit_curvature,
            self.shortfall_curvature[s],
            float(cfg.max_units),
        )

    # -----------------------------------------------------------------------------------------
    # the month

    def step(self) -> None:
        self.month = month = self.steps - 1
        pop = self.population
        pop.start_month(month)
        for setting in self.settings:
            rate = setting.cfg.providers.churn
            if rate > 0:
                s = setting.index

                def uniform(idx, j, s=s):
                    return pop.uniforms(idx, CHURN_SLOT + s, j + 1)

                churn(self, s, rate, uniform)
        for inv in self.investments:
            if inv is not None:
                inv.start_month(self)
        pathway = self.pathway
        if pathway is not None:
            pathway.start_month()
        self.month_care = []
        for setting in self.settings:
            mc = self._care(setting, month)
            self.month_care.append(mc)
            if pathway is not None:
                pathway.after_care(self, setting.index, mc)
        for payer in self.payers:
            payer.step()
        if pathway is not None:
            pathway.settle(self)
        for inv in self.investments:
            if inv is not None:
                inv.book(self)
        self._learn(month)
        self.agents_by_type[Provider].do("step")
        self._record(month)
        self._adjust_therapy_staff()
        for inv in self.investments:
            if inv is not None:
                discharges, readmits = (
                    pathway.by_hospital()
                    if pathway is not None and pathway.acute == inv.s
                    else (0.0, 0.0)
                )
                inv.learn(self, self.month_care[inv.s], discharges, readmits)
        self.datacollector.collect(self)
        self.running = self.steps < self.config.months

    def _care(self, setting: CareSetting, month: int) -> MonthCare:
        """Steps 2 and 3 for one setting: needs, care seeking, decisions, delivery, outcomes."""
        pop = self.population
        cfg = setting.cfg
        s = setting.index
        u_need = pop.need_draws(s)
        left = pop.episode_left[s]
        n_payers = len(self.payers)

        # -- 2. needs arise among patients without an episode
        p = cfg.need_reference_function - pop.function
        np.maximum(p, 0.0, out=p)
        p *= cfg.need_function_slope / 100.0
        p += 1.0
        p *= pop.risk
        p *= (cfg.need_probability * self._cond_need)[pop.condition]
        inv = self.investments[s]
        need_factor = inv.factor("needs", None, month) if inv is not None else None
        if need_factor is not None:
            # prevention: the same draws against a lower probability (patient for patient)
            would = (u_need < p) & (left == 0)
            p *= need_factor
        new = u_need < p
        new &= left == 0
        if need_factor is not None:
            inv.count_avoided("needs", pop.payer[would & ~new], n_payers)
            del would
        # the pathway starts episodes whatever the need draw: readmissions, referrals
        forced = self.pathway.forced_needs(s) if self.pathway is not None else None
        if forced is not None:
            forced = forced & (left == 0)
            new |= forced
        idx_new = np.flatnonzero(new)
        p_new = np.minimum(p[idx_new], 1.0)
        del p, new
        referred = np.zeros(idx_new.size, np.bool_)
        if forced is not None:
            referred = forced[idx_new]
        if idx_new.size:
            e = pop.uniforms(idx_new, s, EPISODE)
            # uniform on [0, 1) given that a need arose; referrals use their own draw
            v = np.where(referred, e, u_need[idx_new] / np.where(referred, 1, p_new))
            length = clinical.episode_length(v, cfg.episode_months)
            elective = (e < cfg.elective_share) & ~referred
            w = np.where(elective, e / max(cfg.elective_share, 1e-300), 0.0)
            need = (
                cfg.optimal_units
                * pop.risk[idx_new].astype(np.float64) ** cfg.need_risk_elasticity
                * self._cond_intensity[pop.condition[idx_new]]
            )
            seek = ~elective | (w < self._seek_probability(setting, idx_new, need, length))
            if self.config.behaviour.selection.enabled:
                turned_away = seek & self._turn_away(setting, idx_new, need)
                seek &= ~turned_away
                declined_by_payer = np.bincount(pop.payer[idx_new[turned_away]], minlength=n_payers)
            left[idx_new] = length
            pop.need[s][idx_new] = need
            pop.sought[s][idx_new] = seek
        new_needs_by_payer = np.bincount(pop.payer[idx_new], minlength=n_payers)
        if not (self.config.behaviour.selection.enabled and idx_new.size):
            declined_by_payer = np.zeros(n_payers, np.int64)

        # -- 3. decisions and delivery for everyone with an active episode
        idx = np.flatnonzero(left > 0)
        prov = pop.provider[s][idx].astype(np.int64)
        sought = pop.sought[s][idx]
        need = pop.need[s][idx].astype(np.float64)
        new_ep = np.zeros(idx.size, np.bool_)
        new_pos = np.searchsorted(idx, idx_new)
        new_ep[new_pos] = True
        referred_ep = np.zeros(idx.size, np.bool_)
        referred_ep[new_pos] = referred
        learning = self.config.behaviour.mode == "learning"
        sign = variation_sign(idx, month) if learning else np.zeros(idx.size, np.int8)
        delta = self.config.behaviour.experiment_step * cfg.optimal_units
        q = planned_units(need, self.theta[s][prov] + delta * sign, cfg.max_units)
        # utilization management: a contract may authorize at most a multiple of the optimum
        blocks = pop.payer_slices(idx)
        not_authorized = np.zeros(idx.size)
        for g, b in enumerate(blocks):
            cap = self.payers[g].contracts[s].params.prior_authorization
            if cap is not None and b.start != b.stop:
                allowed_q = np.minimum(q[b], cap * need[b])
                not_authorized[b] = np.where(sought[b], q[b] - allowed_q, 0.0)
                q[b] = allowed_q
        # unbiased stochastic rounding
        units = np.floor(q + pop.uniforms(idx, s, ROUNDING)).astype(np.int64)
        units[~sought] = 0
        # units used so far in the episode; an episode ends when its covered units run out
        ep_before = np.where(new_ep, 0, pop.episode_units[s][idx]).astype(np.int64)
        if cfg.max_units_per_episode is not None:
            units = np.minimum(units, cfg.max_units_per_episode - ep_before)
            left[idx[sought & (ep_before + units >= cfg.max_units_per_episode)]] = 1
        pop.episode_units[s][idx] = np.minimum(ep_before + units, np.iinfo(np.int16).max)

        # payment periods: each contract sets its period length; units accumulate per period
        period = np.ones(idx.size, np.int64)
        thresholds = np.full((idx.size, 0), np.inf)
        contracts = [payer.contracts[s] for payer in self.payers]
        ep_month = np.where(new_ep, 0, pop.episode_month[s][idx]).astype(np.int64)
        t_blocks = []
        for g, b in enumerate(blocks):
            period[b] = contracts[g].period_months
            t_blocks.append(
                contracts[g].thresholds(
                    pop.condition[idx[b]], pop.function[idx[b]], pop.risk[idx[b]]
                )
            )
        width = max((t.shape[1] for t in t_blocks), default=0)
        if width:
            thresholds = np.full((idx.size, width), np.inf)
            for b, t in zip(blocks, t_blocks, strict=True):
                thresholds[b, : t.shape[1]] = t
        in_period = ep_month % period
        before = np.where(in_period == 0, 0, pop.period_units[s][idx]).astype(np.int64)
        period_end = (in_period == period - 1) | (left[idx] == 1)
        bunch = self.config.behaviour.bunching
        if bunch.enabled and width:
            units = self._bunch(units, before, thresholds, period_end & sought, idx, s, bunch)
        period_units = before + units
        pop.period_units[s][idx] = np.minimum(period_units, np.iinfo(np.int16).max)
        pop.episode_month[s][idx] = np.minimum(ep_month + 1, np.iinfo(np.int16).max)
        at_threshold = np.any(
            (period_units[:, None] >= thresholds) & (period_units[:, None] <= thresholds + 1),
            axis=1,
        )

        region = pop.region[idx]
        visits, billed, minutes, value = setting.deliver(units, region, new_ep & sought)
        # the fee-schedule value of the period's services so far (for reconciliations)
        before_value = np.where(in_period == 0, 0.0, pop.period_value[s][idx])
        period_value = before_value + value
        pop.period_value[s][idx] = period_value

        f_start = pop.function[idx].astype(np.float64)
        d = cfg.benefit_curvature
        benefit = clinical.benefit_value(units, need, d)
        gain = clinical.function_gain(units, need, d, cfg.value_per_function_point)
        therapy: dict[str, np.ndarray] = {}
        if cfg.therapy is not None:
            therapy = self._therapy(setting, idx, prov, units, sought, blocks, month, learning)
            benefit += therapy["benefit"]
            gain += therapy.pop("benefit") / cfg.value_per_function_point
        low = clinical.low_value_units(units, need, d, cfg.low_value_threshold)
        ae = cfg.adverse_events
        p_ae = clinical.adverse_event_probability(
            pop.risk[idx],
            f_start,
            units,
            need,
            base_rate=ae.base_rate,
            function_slope=ae.function_slope,
            shortfall_risk=ae.shortfall_risk,
        )
        u_ae = pop.uniforms(idx, s, ADVERSE_EVENT)
        ae_factor = inv.factor("adverse_events", idx, month) if inv is not None else None
        if self.pathway is not None:
            ae_factor = self.pathway.protection(s, idx, ae_factor)
        if ae_factor is not None:
            would = u_ae < p_ae
            p_ae = p_ae * ae_factor
        adverse = u_ae < p_ae
        if ae_factor is not None:
            avoided = would & ~adverse
            if inv is not None:
                inv.count_avoided("adverse_events", pop.payer[idx[avoided]], n_payers)
            if self.pathway is not None:
                self.pathway.count_avoided_readmissions(s, idx[avoided & sought])
        pop.function[idx] = np.clip(f_start + gain - ae.function_loss * adverse, 0.0, 100.0)
        left[idx] -= 1
        return MonthCare(
            patients=idx,
            payer=pop.payer[idx],
            provider=prov,
            sought=sought,
            new_episode=new_ep & sought,
            need=need,
            sign=sign,
            planned=np.where(sought, q, 0.0),
            units=units,
            visits=visits,
            billed=billed,
            minutes=minutes,
            fee_value=value,
            function_at_start=f_start,
            benefit=benefit,
            gain=gain,
            low_value=low,
            adverse=adverse,
            adverse_cost=adverse * ae.cost,
            lump_by_payer=[np.zeros(0)] * n_payers,
            by_payer=blocks,
            new_needs_by_payer=new_needs_by_payer,
            declined_by_payer=declined_by_payer,
            not_authorized=not_authorized,
            episode_month=ep_month,
            period_units=period_units,
            period_value=period_value,
            period_end=period_end & sought,
            at_threshold=at_threshold & period_end & sought,
            referred=referred_ep & sought,
            **therapy,
        )

    def _therapy(
        self,
        setting: CareSetting,
        idx: np.ndarray,
        prov: np.ndarray,
        days: np.ndarray,
        sought: np.ndarray,
        blocks: list[slice],
        month: int,
        learning: bool,
    ) -> dict[str, np.ndarray]:
        """Therapy of a stay-month: minutes per day planned from the provider's therapy style,
        delivered with a spread around the plan, split into individual, concurrent and group
        minutes (within the contract's cap), limited by the provider's therapist staff; their
        cost, and the benefit of therapy relative to the patient-optimal intensity."""
        pop = self.population
        t = setting.cfg.therapy
        s = setting.index
        m_opt = t.optimal_minutes
        sign = therapy_variation_sign(idx, month) if learning else np.zeros(idx.size, np.int8)
        delta = self.config.behaviour.experiment_step * m_opt
        active = sought & (days > 0)
        planned = np.clip(m_opt + self.phi[s][prov] + delta * sign, 0.0, t.max_minutes)
        planned = np.where(active, planned, 0.0)
        per_day = planned
        if t.minutes_sd > 0 and idx.size:
            u = np.clip(pop.uniforms(idx, s, THERAPY), 1e-12, 1.0 - 1e-12)
            sd = t.minutes_sd
            per_day = planned * np.exp(sd * ndtri(u) - 0.5 * sd * sd)
        share = self.shared_share[s][prov]
        fc = t.concurrent_fraction
        ind, conc, grp = np.zeros(idx.size), np.zeros(idx.size), np.zeros(idx.size)
        for g, b in enumerate(blocks):
            sh = capped_share(share[b], self.payers[g].contracts[s].group_concurrent_cap)
            ind[b] = (1.0 - sh) * per_day[b]
            conc[b] = sh * fc * per_day[b]
            grp[b] = sh * (1.0 - fc) * per_day[b]
        # therapist minutes: a concurrent minute takes half a therapist minute, group a quarter
        staff_per_day = ind + conc / 2.0 + grp / 4.0
        wanted = staff_per_day * days
        n_prov = len(self.theta[s])
        demand = np.bincount(prov, wanted, minlength=n_prov)
        staff = self.staff[s]
        unset = np.isnan(staff)
        staff[unset] = demand[unset] * (1.0 + t.staffing.slack)
        scale = np.divide(staff, demand, out=np.ones(n_prov), where=demand > staff)[prov]
        ind, conc, grp, staff_per_day = (
            ind * scale,
            conc * scale,
            grp * scale,
            staff_per_day * scale,
        )
        effective = ind + t.shared_benefit * (conc + grp)
        d_t = t.benefit_curvature
        benefit = days * d_t * (m_opt * effective - 0.5 * effective**2 - 0.5 * m_opt**2)
        therapist = staff_per_day * days
        return {
            "therapy_individual": ind * days,
            "therapy_concurrent": conc * days,
            "therapy_group": grp * days,
            "therapist_minutes": therapist,
            "therapist_demand": wanted,
            "therapy_cost": t.cost_per_minute * therapist,
            "planned_minutes": planned,
            "benefit": np.where(active, benefit, 0.0),
        }

    def _adjust_therapy_staff(self) -> None:
        """End of month, therapy settings: therapist staff move part of the way toward this
        month's demand (less after a loss), and the share of shared minutes toward its target
        at each provider's adaptation speed."""
        for s, setting in enumerate(self.settings):
            t = setting.cfg.therapy
            if t is None:
                continue
            mc = self.month_care[s]
            n_prov = len(self.theta[s])
            # staff follow the minutes providers planned, not the minutes staff could deliver
            demand = np.bincount(mc.provider, mc.therapist_demand, minlength=n_prov)
            margin = self._provider_margin(s)
            target = (
                demand
                * (1.0 + t.staffing.slack)
                * np.where(margin < 0, 1.0 - t.staffing.margin_response, 1.0)
            )
            self.staff[s] += t.staffing.adjustment * (target - self.staff[s])
            if self.config.behaviour.mode == "learning":
                gap = self.shared_target[s] - self.shared_share[s]
                self.shared_share[s] += self.speed[s] * gap

    def _provider_revenue(self, s: int) -> np.ndarray:
        """What each provider of setting ``s`` received this month (claims and lumps)."""
        mc = self.month_care[s]
        rev = np.bincount(mc.provider, mc.revenue, minlength=len(self.theta[s]))
        for lump in mc.lump_by_payer:
            rev = rev + lump
        return rev

    def _provider_cost(self, s: int) -> np.ndarray:
        mc = self.month_care[s]
        cfg = self.settings[s].cfg
        n_prov = len(self.theta[s])
        variable = cfg.marginal_cost * mc.units + mc.therapy_cost + mc.liability
        cost = np.bincount(mc.provider, variable, minlength=n_prov) + cfg.providers.fixed_cost
        if self.investments[s] is not None:
            cost = cost + self.investments[s].cost_by_provider()
        return cost

    def _provider_margin(self, s: int) -> np.ndarray:
        return self._provider_revenue(s) - self._provider_cost(s)

    def _bunch(
        self,
        units: np.ndarray,
        before: np.ndarray,
        thresholds: np.ndarray,
        eligible: np.ndarray,
        idx: np.ndarray,
        s: int,
        bunch,
    ) -> np.ndarray:
        """Bunching: at a period's last month, add the units that lift the period's total to
        the next payment threshold when it is at most ``window`` units away."""
        total = (before + units)[:, None]
        gap = np.where(thresholds > total, thresholds - total, np.inf).min(axis=1)
        lift = eligible & (gap <= bunch.window)
        if bunch.probability < 1.0:
            lift &= self.population.uniforms(idx, s, BUNCHING) < bunch.probability
        return units + np.where(lift, gap, 0).astype(np.int64)

    def _turn_away(self, setting: CareSetting, idx: np.ndarray, need: np.ndarray) -> np.ndarray:
        """Selection: which new patients their provider turns away, from the episode's expected
        value to the provider at its current style (per month × expected months)."""
        pop = self.population
        cfg = setting.cfg
        s = setting.index
        sel = self.config.behaviour.selection
        prov = pop.provider[s][idx].astype(np.int64)
        q = planned_units(need, self.theta[s][prov], cfg.max_units)
        months = cfg.episode_months
        value = np.empty(idx.size)
        ae = cfg.adverse_events
        d = cfg.benefit_curvature
        for g, b in enumerate(pop.payer_slices(idx)):
            if b.start == b.stop:
                continue
            payer = self.payers[g]
            c = payer.contracts[s]
            ii = idx[b]
            fee = setting.fee_per_unit[pop.region[ii]] * q[b] * months * payer.rate_multiplier
            revenue = c.expected_allowed(
                fee, pop.condition[ii], pop.function[ii], pop.risk[ii], payer.rate_multiplier
            )
            p_ae = clinical.adverse_event_probability(
                pop.risk[ii],
                pop.function[ii],
                q[b],
                need[b],
                base_rate=ae.base_rate,
                function_slope=ae.function_slope,
                shortfall_risk=ae.shortfall_risk,
            )
            liability = c.params.adverse_event_liability * ae.cost * p_ae * months
            benefit = clinical.benefit_value(q[b], need[b], d) * months
            value[b] = (
                revenue
                - cfg.marginal_cost * q[b] * months
                - liability
                + self.altruism[s][prov[b]] * benefit
            )
        away = value < -sel.threshold
        if sel.probability < 1.0:
            away &= pop.uniforms(idx, s, SELECTION) < sel.probability
        return away

    def _seek_probability(
        self, setting: CareSetting, idx: np.ndarray, need: np.ndarray, length: np.ndarray
    ) -> np.ndarray:
        """Probability that a patient takes an elective need to a provider, from the expected
        out-of-pocket cost of an episode of patient-optimal care under the payer's contract."""
        pop = self.population
        cfg = setting.cfg
        payer = pop.payer[idx]
        oop = np.zeros(idx.size)
        units = need * length
        fee = setting.fee_per_unit[pop.region[idx]] * units
        for g, pay in enumerate(self.payers):
            mask = payer == g
            if not mask.any():
                continue
            c = pay.contracts[setting.index]
            allowed = c.expected_allowed(
                fee[mask] * pay.rate_multiplier,
                pop.condition[idx[mask]],
                pop.function[idx[mask]],
                pop.risk[idx[mask]],
                pay.rate_multiplier,
            )
            prm = c.params
            ded = pop.deductible_remaining[idx[mask]] if prm.deductible_applies else 0.0
            ded_part = np.minimum(allowed, ded)
            visits = np.ceil(units[mask] / setting.units_per_visit)
            oop[mask] = ded_part + prm.coinsurance * (allowed - ded_part)
            oop[mask] += prm.copay_per_visit * visits
        return clinical.seek_probability(oop, cfg.oop_elasticity, cfg.oop_reference)

    @property
    def _cond_need(self) -> np.ndarray:
        return self._cond_arrays[0]

    @property
    def _cond_intensity(self) -> np.ndarray:
        return self._cond_arrays[1]

    @property
    def _cond_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "_cond_cache"):
            conds = self.config.population.conditions.values()
            self._cond_cache = (
                np.array([c.need_multiplier for c in conds], np.float32),
                np.array([c.intensity_multiplier for c in conds]),
            )
        return self._cond_cache

    def _learn(self, month: int) -> None:
        """Step 5, first half: per-provider estimates from this month's realised results
        (what each provider can know), plus this month's imitation draws."""
        beh = self.config.behaviour
        self.theta_before = [t.copy() for t in self.theta]
        self.phi_before = [None if p is None else p.copy() for p in self.phi]
        self.estimates = []
        n_total = sum(len(p) for p in self.providers_by_setting)
        u_imit = self._provider_rng.random(n_total)
        u_peer = self._provider_rng.random(n_total)
        offset = 0
        for s, setting in enumerate(self.settings):
            cfg = setting.cfg
            mc = self.month_care[s]
            n_prov = len(self.providers_by_setting[s])
            alpha = self.altruism[s][mc.provider]
            profit = mc.revenue - cfg.marginal_cost * mc.units - mc.therapy_cost - mc.liability
            value = profit + alpha * mc.benefit
            own = mc.sought
            treated = np.bincount(mc.provider[own], minlength=n_prov)
            with np.errstate(invalid="ignore", divide="ignore"):
                profit_pp = np.bincount(mc.provider[own], profit[own], n_prov) / treated
                benefit_pp = np.bincount(mc.provider[own], mc.benefit[own], n_prov) / treated
            if beh.mode == "learning":
                exp = self.experience[s]
                need_z = (mc.need - cfg.optimal_units) / cfg.optimal_units
                exp.add_month(
                    mc.provider[own],
                    value[own],
                    need_z[own],
                    mc.planned[own] - mc.need[own],
                    mc.new_episode[own],
                )
                self._seen[s] += treated
                enough = self._seen[s] >= beh.min_patients
                slope, curv = exp.slope_curvature(self.theta[s], enough)
                t_exp = self.therapy_experience[s]
                if t_exp is not None:
                    m_opt = cfg.therapy.optimal_minutes
                    t_exp.add_month(
                        mc.provider[own],
                        value[own],
                        need_z[own],
                        mc.planned_minutes[own] - m_opt,
                        mc.new_episode[own],
                    )
                    t_slope, t_curv = t_exp.slope_curvature(self.phi[s], enough)
            else:
                slope = curv = np.full(n_prov, np.nan)
                t_slope = t_curv = np.full(n_prov, np.nan)
            ui = u_imit[offset : offset + n_prov]
            up = u_peer[offset : offset + n_prov]
            offset += n_prov
            peer = (np.arange(n_prov) + 1 + np.floor(up * max(n_prov - 1, 1)).astype(int)) % n_prov
            self.estimates.append(
                Estimates(
                    slope=slope,
                    curvature=curv,
                    profit_pp=profit_pp,
                    benefit_pp=benefit_pp,
                    imitate=(ui < beh.imitation_probability) & (n_prov > 1),
                    peer=peer,
                    max_step=beh.max_step * cfg.optimal_units,
                    bound=float(cfg.max_units),
                    **(
                        {}
                        if cfg.therapy is None
                        else {
                            "therapy_slope": t_slope,
                            "therapy_curvature": t_curv,
                            "therapy_max_step": beh.max_step * cfg.therapy.optimal_minutes,
                            "therapy_bound": float(cfg.therapy.max_minutes),
                        }
                    ),
                )
            )

    # -----------------------------------------------------------------------------------------
    # records

    def _record(self, month: int) -> None:
        pop = self.population
        n_payers = len(self.payers)
        f_sum = pop.function_sum_by_payer()
        members = self.payer_members
        for s, setting in enumerate(self.settings):
            mc = self.month_care[s]
            cfg = setting.cfg
            blocks = mc.by_payer

            def by_payer(w: np.ndarray, blocks=blocks) -> np.ndarray:
                """Sum of ``w`` over each payer's block (counts when ``w`` is boolean)."""
                return np.array([w[b].sum(dtype=np.float64) for b in blocks])

            in_episode = np.array([b.stop - b.start for b in blocks])
            treated = by_payer(mc.units > 0)
            episodes = by_payer(mc.new_episode)
            units = by_payer(mc.units)
            billed = by_payer(mc.billed)
            visits = by_payer(mc.visits)
            minutes = by_payer(mc.minutes)
            revenue = by_payer(mc.revenue)
            oop = by_payer(mc.oop)
            liability = by_payer(mc.liability)
            ae_payer = by_payer(mc.ae_payer)
            ae_n = by_payer(mc.adverse)
            gain = by_payer(mc.gain)
            benefit = by_payer(mc.benefit)
            low = by_payer(mc.low_value)
            p4p = by_payer(mc.p4p)
            adjustment = by_payer(mc.adjustment)
            not_authorized = by_payer(mc.not_authorized)
            periods = by_payer(mc.period_end)
            period_units = by_payer(np.where(mc.period_end, mc.period_units, 0))
            at_threshold = by_payer(mc.at_threshold)
            service_cost = cfg.marginal_cost * units + by_payer(mc.therapy_cost)
            inv = self.investments[s]
            invest = {
                f"investment_{k}": inv.cost_by_payer(k) if inv is not None else np.zeros(n_payers)
                for k in INVESTMENT_TYPES
            }
            invest_fees = inv.fees.sum(axis=0) if inv is not None else np.zeros(n_payers)
            service_cost = service_cost + sum(invest.values())
            avoided = {
                f"{t}_avoided": inv.avoided[t] if inv is not None else np.zeros(n_payers, np.int64)
                for t in ("needs", "adverse_events")
            }
            # episodes that ended this month (a stay's length when the unit is a day)
            ended = mc.sought & (pop.episode_left[s][mc.patients] == 0)
            episodes_ended = by_payer(ended)
            ended_units = by_payer(np.where(ended, pop.episode_units[s][mc.patients], 0))
            referrals = by_payer(mc.referred)
            t_ind = by_payer(mc.therapy_individual)
            t_conc = by_payer(mc.therapy_concurrent)
            t_grp = by_payer(mc.therapy_group)
            fte = np.zeros(n_payers)
            if cfg.therapy is not None:
                # each provider's staff, attributed to payers by their share of its minutes
                n_prov = len(self.theta[s])
                mins = np.bincount(mc.provider, mc.therapist_minutes, minlength=n_prov)
                per_min = np.divide(self.staff[s], mins, out=np.zeros(n_prov), where=mins > 0)
                fte = by_payer(mc.therapist_minutes * per_min[mc.provider])
                fte /= cfg.therapy.staffing.minutes_per_fte
            pw = self.pathway
            acute = pw is not None and pw.acute == s
            reconciled = pw.reconciled if acute else np.zeros(n_payers)
            pw_counts = pw.counts if acute else zero_counts(n_payers)
            # provider-side ledger: what each provider received this month
            prov_rev = self._provider_revenue(s)
            self.ledger_provider[s] += prov_rev
            for g, payer in enumerate(self.payers):
                lump = float(mc.lump_by_payer[g].sum())
                rev = float(revenue[g]) + lump
                payer_payments = rev - float(oop[g])
                spending = payer_payments + float(ae_payer[g])
                # a capitated plan running this contract is paid by Medicare per member
                plan_pmpm = payer.contracts[s].params.plan_pmpm
                plan_revenue = plan_pmpm * float(self.panels[s][g].risk_sum.sum())
                cost = float(service_cost[g] + liability[g] + self._fixed_cost_share[s, g])
                self.ledger_oop[s, g] += float(oop[g])
                nm = float(members[g])
                tr = int(treated[g])
                self.rows.append(
                    {
                        "month": month,
                        "setting": setting.name,
                        "payer": payer.name,
                        "payment_model": payer.contracts[s].name,
                        "policy_period": int(self.policy_period[s, g]),
                        "members": int(nm),
                        "patients_in_episode": int(in_episode[g]),
                        "new_needs": int(mc.new_needs_by_payer[g]),
                        "episodes_declined": int(mc.declined_by_payer[g]),
                        "episodes": int(episodes[g]),
                        "patients_treated": tr,
                        "visits": int(visits[g]),
                        "units": int(billed[g]),
                        "service_units": int(units[g]),
                        "minutes": int(minutes[g]),
                        "units_per_treated": float(units[g] / tr) if tr else 0.0,
                        "payer_payments": payer_payments,
                        "spending": spending,
                        "spending_pmpm": spending / nm if nm else 0.0,
                        "oop": float(oop[g]),
                        "oop_pmpm": float(oop[g]) / nm if nm else 0.0,
                        "provider_revenue": rev,
                        "provider_cost": cost,
                        "provider_margin": rev - cost,
                        "adverse_events": int(ae_n[g]),
                        "adverse_event_cost_payer": float(ae_payer[g]),
                        "adverse_event_cost_provider": float(liability[g]),
                        "mean_function": float(f_sum[g] / nm) if nm else 0.0,
                        "function_change": float((f_sum[g] - self._f0_sum[g]) / nm) if nm else 0.0,
                        "function_gain": float(gain[g]),
                        "patient_benefit": float(benefit[g]),
                        "low_value_units": float(low[g]),
                        "p4p_payments": float(p4p[g]),
                        "reconciliation": float(adjustment[g] + reconciled[g]),
                        "units_not_authorized": float(not_authorized[g]),
                        "plan_revenue": plan_revenue,
                        "plan_margin": plan_revenue - spending if plan_revenue else 0.0,
                        "periods_ended": int(periods[g]),
                        "period_units": int(period_units[g]),
                        "periods_at_threshold": int(at_threshold[g]),
                        "episodes_ended": int(episodes_ended[g]),
                        "episode_units_ended": int(ended_units[g]),
                        "referrals_in": int(referrals[g]),
                        "therapy_minutes_individual": float(t_ind[g]),
                        "therapy_minutes_concurrent": float(t_conc[g]),
                        "therapy_minutes_group": float(t_grp[g]),
                        "therapist_fte": float(fte[g]),
                        **{k: float(v[g]) for k, v in invest.items()},
                        "investment_fees": float(invest_fees[g]),
                        **{k: int(v[g]) for k, v in avoided.items()},
                        **{k: v[g].item() for k, v in pw_counts.items()},
                    }
                )
            if self.config.outputs.provider_panel:
                self._record_providers(s, month, prov_rev)

    def _record_providers(self, s: int, month: int, revenue: np.ndarray) -> None:
        mc = self.month_care[s]
        n_prov = len(self.theta[s])
        units = np.bincount(mc.provider, mc.units, n_prov)
        treated = np.bincount(mc.provider[mc.units > 0], minlength=n_prov)
        benefit = np.bincount(mc.provider, mc.benefit, n_prov)
        cost = self._provider_cost(s)
        optimal = self.optimal_theta(s)
        for p in self.providers_by_setting[s]:
            i = p.index
            self.provider_rows.append(
                {
                    "month": month,
                    "setting": self.settings[s].name,
                    "provider": i,
                    "region": self.population.region_names[p.region],
                    "for_profit": p.for_profit,
                    "altruism": p.altruism,
                    "speed": p.speed,
                    "theta": float(self.theta[s][i]),
                    "theta_optimal": float(optimal[i]),
                    "patients_treated": int(treated[i]),
                    "service_units": int(units[i]),
                    "revenue": float(revenue[i]),
                    "cost": float(cost[i]),
                    "margin": float(revenue[i] - cost[i]),
                    "patient_benefit": float(benefit[i]),
                }
            )
