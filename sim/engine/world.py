"""The state a month acts on: patients, providers and payers, contracts, ledgers.

The stages of a month (:mod:`sim.engine.month`) and the optional features
(:mod:`sim.engine.features`) receive a :class:`World` and act on it; none of them reaches into the
Mesa model. The world holds:

- ``population``: the patients, as columns (:class:`sim.engine.population.Population`);
- ``settings``: the care settings at run time (:class:`sim.engine.settings.CareSetting`);
- ``providers[s]``: per setting, the providers' characteristics and learnt styles
  (:class:`Providers`), and their panels of members by payer;
- ``payers``: the payers (Mesa agents) with their contracts by setting;
- ``ledgers``: money moved so far between payers, patients and providers (:class:`Ledgers`);
- ``month``: this month's care per setting (:class:`sim.engine.month.care.SettingMonth`), once the
  delivery stage has run;
- ``life``: the life course (:class:`sim.engine.month.lifecourse.Life`: who is enrolled, ages,
  deaths) with a ``[life]`` table, else None: then every patient is a member all the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.engine import kernels
from sim.engine.behaviour import Experience
from sim.engine.payment import Panel, PaymentModel
from sim.engine.payment.base import Base, ClosedPathways

if TYPE_CHECKING:
    from sim.engine.features.base import Hooks
    from sim.engine.month.care import SettingMonth
    from sim.engine.month.lifecourse import Life
    from sim.engine.population import Population
    from sim.engine.settings import CareSetting
    from sim.scenario import ArmConfig, Scenario


@dataclass
class Style:
    """A learnt decision of a setting's providers: one value per provider, an offset from the
    patient optimum (``theta``: units per month; a therapy setting's ``phi``: minutes per day).

    ``scale`` is the patient-optimal level the offset is measured from (it scales the learning
    regression and the largest monthly step), ``bound`` keeps the style within ±bound;
    ``offset(care)`` is what the style set for each patient of the month's care, as an offset
    from that patient's optimum (what the provider learns from).
    """

    name: str
    value: np.ndarray
    scale: float
    bound: float
    experience: Experience
    offset: Callable[[SettingMonth], np.ndarray]
    #: the style's closed-form best under the contracts in force (for foresight)
    closed_form: Callable[[], np.ndarray] | None = None
    #: where foresight pulls the style: the closed form under announced rules (None: nowhere)
    target: np.ndarray | None = None
    #: the value before this month's adaptation (what providers imitate); this and the next two
    #: default to None (``type: ignore``) and are set before they are read: typed as set
    before: np.ndarray = field(default=None)  # type: ignore[arg-type]
    #: this month's perceived slope and curvature of the objective (NaN: not enough seen)
    slope: np.ndarray = field(default=None)  # type: ignore[arg-type]
    curvature: np.ndarray = field(default=None)  # type: ignore[arg-type]
    #: payer specificity λ (``behaviour.payer_specificity``): ``value`` is the provider's
    #: norm, shared by all its patients; payer g's patients get ``norm + λ·(separate_g −
    #: norm)``. With λ = 0 (the default) there is no separate style and nothing below is set.
    specificity: float = 0.0
    #: providers × payers: the style each provider would keep for each payer's patients
    #: alone, learnt from them (:meth:`by_payer`); None when λ = 0
    separate: np.ndarray | None = None
    separate_experience: list[Experience] = field(default_factory=list)
    #: the closed-form best separate style under the contracts in force (one payer's
    #: objective), providers × payers
    separate_best: np.ndarray | None = None
    separate_before: np.ndarray | None = None
    separate_slope: np.ndarray | None = None
    separate_curvature: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.before = self.value.copy()

    def split_by_payer(self, n_payers: int, specificity: float, memory: float) -> None:
        """Give the style a payer-specific part of size ``specificity`` (0: none): each
        payer's separate style starts at the norm and learns from that payer's patients."""
        if specificity <= 0:
            return
        n = self.value.size
        self.specificity = float(specificity)
        self.separate = np.repeat(self.value[:, None], n_payers, axis=1)
        self.separate_best = self.separate.copy()
        self.separate_before = self.separate.copy()
        self.separate_experience = [
            Experience(n, self.experience.scale, memory) for _ in range(n_payers)
        ]

    def by_payer(self) -> np.ndarray:
        """providers × payers: the style each provider plays for each payer's patients
        (``norm + λ·(separate − norm)``; the norm in every column when λ = 0)."""
        if self.separate is None:
            return self.value[:, None]
        norm = self.value[:, None]
        return norm + self.specificity * (self.separate - norm)

    def for_patients(self, provider: np.ndarray, by_payer: list[slice]) -> np.ndarray:
        """The style played for each patient of a month's care (``provider``: each patient's
        provider; ``by_payer``: each payer's block of the patients)."""
        norm = self.value[provider]
        if self.separate is None:
            return norm
        out = norm.copy()
        lam = self.specificity
        for g, b in enumerate(by_payer):
            out[b] = norm[b] + lam * (self.separate[provider[b], g] - norm[b])
        return out


@dataclass
class Providers:
    """One setting's providers: who they are, what they learnt, whom they serve.

    The fields are grouped by who writes them: the model when it builds the providers, the
    incentives when contracts change, the estimates stage every month, income tracking, the
    features, and a sharded run's exchange. A field defaulting to None with ``type: ignore`` is
    set by its writer before anything reads it: typed as set, its readers need no None check."""

    # -- built with the providers (:meth:`HealthSystemModel._make_providers`) ------------------
    agents: list  # list[sim.engine.agents.Provider]
    region: np.ndarray
    altruism: np.ndarray
    speed: np.ndarray
    for_profit: np.ndarray
    #: provider numbers of each region (active providers only: patients are theirs)
    by_region: list[np.ndarray]
    #: the learnt decisions: ``styles[0]`` is θ, features may add more (therapy's φ)
    styles: list[Style]
    #: patients each provider has treated so far (learning needs ``min_patients``)
    seen: np.ndarray
    #: in the market: False for potential entrants not yet in it and for providers that left
    #: (``supply.market`` moves it; all True otherwise)
    active: np.ndarray = field(default=None)  # type: ignore[arg-type]
    #: in a shard of a sharded run (:mod:`sim.experiments.shards`): each provider's number in
    #: the whole run, and for each of the run's providers its number here (−1: another
    #: shard's); None when the model holds the whole run
    global_id: np.ndarray | None = None
    local_of: np.ndarray | None = None
    #: the setting's providers in the whole run (``n`` unless sharded)
    n_total: int = 0

    # -- panels, when the model is built and whenever members move -----------------------------
    #: each payer's members on each provider's panel, with their coded risk
    panels: list[Panel] = field(default_factory=list)
    #: fixed cost of the setting's providers charged to each payer (by members)
    fixed_cost_by_payer: np.ndarray = field(default=None)  # type: ignore[arg-type]

    # -- the incentives, when contracts change (:mod:`sim.engine.month.incentives`) -----------
    #: what the current contracts make worth at the margin
    marginal_revenue: np.ndarray = field(default=None)  # type: ignore[arg-type]
    shortfall_curvature: np.ndarray = field(default=None)  # type: ignore[arg-type]
    #: the extra cost of over-treatment (harm from too much care), likewise
    overtreatment_curvature: np.ndarray = field(default=None)  # type: ignore[arg-type]
    #: what the provider bears of one adverse event (liability, penalties, shared savings)
    event_margin: np.ndarray = field(default=None)  # type: ignore[arg-type]
    #: value a day of stay adds at the best planned intensity of a second decision (therapy
    #: settings; zeros elsewhere), for the closed-form length of stay
    day_extra: np.ndarray = field(default=None)  # type: ignore[arg-type]

    # -- the month's estimates (:func:`sim.engine.month.adaptation.estimate`) ------------------
    #: profit and benefit per patient treated, who imitates and whom
    profit_pp: np.ndarray = field(default=None)  # type: ignore[arg-type]
    benefit_pp: np.ndarray = field(default=None)  # type: ignore[arg-type]
    imitate: np.ndarray = field(default=None)  # type: ignore[arg-type]
    peer: np.ndarray = field(default=None)  # type: ignore[arg-type]

    # -- income effects (``behaviour.income_effect``; :func:`~sim.engine.month.adaptation.
    #    track_income`): smoothed monthly revenue, the reference income, and the marginal
    #    utility of income relative to it (:func:`sim.engine.behaviour.income_weight`); None
    #    when income effects are off
    income: np.ndarray | None = None
    income_reference: np.ndarray | None = None
    income_weight: np.ndarray | None = None

    # -- features --------------------------------------------------------------------------------
    #: a value per service unit not paid by any claim (USD per unit; None: none): what a
    #: post-acute provider perceives a day of stay costs it in referrals lost under a
    #: preferred network (the pathway). Providers weigh it like revenue, in the closed form
    #: and in what they learn from; no money moves.
    unit_value: np.ndarray | None = None

    # -- the exchange after the estimates (:class:`Exchange`) ---------------------------------
    #: this month's figures of every provider of the run that imitation compares and copies
    peers: Peers | None = None

    #: :meth:`payer_weight` as made from ``panels`` (that list, and the weights), until the
    #: members change
    _payer_weight: tuple[list[Panel], np.ndarray] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def benefit_weight(self) -> np.ndarray:
        """The weight each provider puts on a dollar of patient benefit relative to a dollar
        of profit: its altruism, divided by its marginal utility of income with income
        effects (a provider short of income values profit more)."""
        if self.income_weight is None:
            return self.altruism
        return self.altruism / self.income_weight

    @property
    def n(self) -> int:
        """Number of providers."""
        return len(self.agents)

    @property
    def theta(self) -> np.ndarray:
        """The practice style θ: units above (+) or below (−) each patient's optimum."""
        return self.styles[0].value

    def payer_weight(self) -> np.ndarray:
        """``w[p, g]``: provider p's share of members covered by payer g (an equal split for a
        provider without members). Read-only: made once while the panels stay as they are
        (several stages read it each month; :meth:`members_changed` and a new list of panels
        make it again)."""
        made = self._payer_weight
        if made is not None and made[0] is self.panels:
            return made[1]
        members = np.stack([pn.members for pn in self.panels], 1)
        total = members.sum(axis=1, keepdims=True)
        w = np.divide(members, total, out=np.zeros(members.shape), where=total > 0)
        w[total[:, 0] == 0] = 1.0 / len(self.panels)
        w.flags.writeable = False
        self._payer_weight = (self.panels, w)
        return w

    def members_changed(self) -> None:
        """The panels' members were changed in place (:meth:`World.move_members`,
        :meth:`World.change_members`): :meth:`payer_weight` is made again when next read."""
        self._payer_weight = None


@dataclass
class Peers:
    """What imitation reads of a peer, for every provider of the setting in the whole run's
    numbering: profit and benefit per patient treated this month, and each style's value
    (and per-payer separate parts) at the start of the month."""

    profit_pp: np.ndarray
    benefit_pp: np.ndarray
    before: list[np.ndarray]
    separate_before: list[np.ndarray | None]


class Exchange:
    """What a month exchanges with the other shards of a run. A model holding the whole run
    exchanges with nobody: the providers' own figures are the peers' (no copy), and the
    month's sums are the run's. :class:`sim.experiments.shards.ShardExchange` gathers and reduces
    them across shards."""

    def peers(self, providers: list[Providers]) -> None:
        """Set each setting's :attr:`Providers.peers` after the month's estimates."""
        for p in providers:
            p.peers = local_peers(p)

    def sums(self, sums: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        """The run's sums of the month's records (a shard's own sums, added up over the shards:
        :func:`sim.engine.columns.add_up`; the columns are read off them after)."""
        return sums

    def totals(self, values: np.ndarray) -> np.ndarray:
        """An array of sums over this model's providers or patients, summed over the run."""
        return values


def local_peers(p: Providers) -> Peers:
    """The providers' own figures, as :class:`Peers`."""
    return Peers(
        p.profit_pp,
        p.benefit_pp,
        [st.before for st in p.styles],
        [st.separate_before if st.separate is not None else None for st in p.styles],
    )


#: kinds of transfers (payments not tied to a claim), tallied per month by setting and payer
TRANSFER_KINDS = ("reconciliation", "investment_fees")


@dataclass
class Transfer:
    """A payment not tied to a claim, from payer ``payer`` to the providers of setting
    ``setting`` (``by_provider``), booked as ``total`` (features return these; the engine books
    them). ``kind`` is one of :data:`TRANSFER_KINDS`."""

    kind: str
    setting: int
    payer: int
    by_provider: np.ndarray
    total: float


class Ledgers:
    """Money moved so far, by setting and payer (money conservation is tested on these)."""

    def __init__(self, n_settings: int, n_payers: int, n_providers: list[int]) -> None:
        self.payer = np.zeros((n_settings, n_payers))
        self.payer_adverse_events = np.zeros((n_settings, n_payers))
        self.oop = np.zeros((n_settings, n_payers))
        self.provider = [np.zeros(n) for n in n_providers]


class History:
    """What contracts that set a number from the run's past (:meth:`PaymentModel.base_period`)
    read when they come into force: per (setting, payer) asked for, each provider's revenue
    from the payer, its members and their risk scores, and the episodes of care it started, per
    month, and in a pathway's acute setting the pathways that closed in those months
    (:class:`~sim.engine.payment.base.Base`), summed over a contract's months when it reads
    them. Nothing is recorded for a (setting, payer) no contract asks about; several contracts
    (switches) may ask about one pair, each for its own months."""

    def __init__(self) -> None:
        #: (setting, payer) -> the [first, last) months each contract asked for
        self.window: dict[tuple[int, int], list[tuple[int, int]]] = {}
        #: (setting, payer) -> month -> that month's sums
        self.sums: dict[tuple[int, int], dict[int, Base]] = {}
        #: (setting, payer) -> month -> the pathways that closed in it (joined when read)
        self.closed: dict[tuple[int, int], dict[int, list[ClosedPathways]]] = {}

    def want(self, s: int, g: int, months: tuple[int, int]) -> None:
        """Record (setting ``s``, payer ``g``) over ``months`` (as well as any other months
        asked for)."""
        windows = self.window.setdefault((s, g), [])
        if months not in windows:
            windows.append(months)

    def asks(self, s: int, g: int, month: int) -> bool:
        """Whether a contract asks for (setting ``s``, payer ``g``)'s ``month``."""
        return any(a <= month < b for a, b in self.window.get((s, g), ()))

    def record(
        self, s: int, g: int, month: int, provider: np.ndarray, revenue: np.ndarray,
        started: np.ndarray, lump: np.ndarray, members: np.ndarray, risk_sum: np.ndarray,
    ) -> None:  # fmt: skip
        """Keep ``month`` (one that :meth:`asks`): its revenue (per claim row, by provider,
        plus the lumps per provider), the episodes started (``started``: per claim row), and
        the panel's members and risk sums."""
        n = risk_sum.size
        by = np.bincount(provider, revenue, minlength=n)[:n]
        if lump.size:
            by = by + lump
        self.sums.setdefault((s, g), {})[month] = Base(
            revenue=by,
            members=np.asarray(members, np.float64),
            risk=np.asarray(risk_sum, np.float64),
            episodes=np.bincount(provider, started, minlength=n)[:n].astype(np.float64),
        )

    def record_pathways(self, s: int, g: int, month: int, closed: ClosedPathways) -> None:
        """Add the pathways of acute setting ``s`` and payer ``g`` that closed in ``month``
        (one that :meth:`asks`)."""
        self.closed.setdefault((s, g), {}).setdefault(month, []).append(closed)

    def of(self, s: int, g: int, months: tuple[int, int]) -> Base:
        """Per provider, summed over ``months`` ([first, last), in month order), with the
        pathways that closed in them."""
        total: Base | None = None
        for m, now in sorted(self.sums[s, g].items()):
            if months[0] <= m < months[1]:
                total = now if total is None else total + now
        if total is None:
            raise ValueError(f"no month of {months} was recorded")
        closed = self.closed.get((s, g))
        if closed is None:
            return total
        parts = [p for m, ps in sorted(closed.items()) if months[0] <= m < months[1] for p in ps]
        return dataclasses.replace(total, pathways=ClosedPathways.joined(parts))


class World:
    """Everything a month acts on (see the module docstring)."""

    #: what the month exchanges with the other shards of a run (:class:`Exchange`); set by the
    #: model
    exchange: Exchange
    #: the run's seed streams by name (:data:`sim.engine.draws.STREAMS`), for the features
    #: that draw characteristics of their own at build (the pathway's hospital leanings); set
    #: by the model
    streams: dict[str, np.random.SeedSequence]

    def __init__(
        self,
        config: Scenario,
        arm: ArmConfig,
        settings: list[CareSetting],
        population: Population,
        providers: list[Providers],
        payers: list,  # list[sim.engine.agents.Payer]
    ) -> None:
        self.config = config
        self.arm = arm
        self.settings = settings
        self.population = population
        self.providers = providers
        self.payers = payers
        self.behaviour = config.behaviour
        self.learning = config.behaviour.mode == "learning"
        self.optimal = config.behaviour.mode == "optimal"
        #: what follows a contract's rules besides the units (the pathway's perceived share of
        #: post-acute spending, investments, therapy's shared minutes) moves toward its target
        #: at the providers' adaptation speed: when learning, and when best-responding (partial
        #: adjustment after a change of rules); it jumps when optimal, and stays when fixed
        self.adjusting = config.behaviour.mode in ("learning", "best_response")
        self.ledgers = Ledgers(len(settings), len(payers), [p.n for p in providers])
        #: the past that contracts coming in by a switch set numbers from
        self.history = History()
        #: per setting, per patient: whether the admission review of the patient's current
        #: episode denied it (every claim of the episode unpaid); None until a contract with
        #: ``admission_review`` decides a case (:mod:`sim.engine.features.admission`)
        self.review_denied: list[np.ndarray | None] = [None] * len(settings)
        beh = config.behaviour
        for prov in providers:
            # one practice across payers: a payer-specific part only with payer_specificity > 0
            for style in prov.styles:
                style.split_by_payer(len(payers), beh.payer_specificity, beh.memory)
            if beh.income_effect > 0:
                prov.income = np.zeros(prov.n)
                prov.income_reference = np.full(prov.n, np.nan)
                prov.income_weight = np.ones(prov.n)
        self.month_number = -1
        #: this month's calendar date (its first day), set by the calendar stage
        self.date = config.date_of(self.month_number)
        #: this month's care, per setting (filled by the delivery stage)
        self.month: list[SettingMonth] = []
        self.transferred: dict[str, np.ndarray] = {}
        self.payer_members = np.bincount(population.payer, minlength=len(payers)).astype(np.float64)
        #: whose cost sharing patients face: the payers' benefit designs (the same in every arm)
        #: or each contract's own
        self.payer_design = arm.benefit_design == "payer"
        self.benefit_design = [p.benefit_design for p in config.payers.values()]
        #: which payers are public (Medicare), for the public payer's perspective
        self.payer_public = [p.public for p in config.payers.values()]
        #: how many policy switches have changed each (setting, payer) contract so far
        self.policy_period = np.zeros((len(settings), len(payers)), np.int64)
        #: coded case mix (upcoding); set by the model (:mod:`sim.engine.features.upcoding`)
        self.coding: Any = None
        #: the features' hooks (:class:`sim.engine.features.base.Hooks`); set by the model
        self.hooks: Hooks = None  # type: ignore[assignment]
        #: how providers set units (:mod:`sim.engine.practice`); set by the model
        self.practice: Any = None
        #: each patient's risk-score quartile (0-3), for outputs by risk group and for
        #: providers who value patients by what patients like them earned them
        edges = population.risk_quantile_edges(4)
        self.risk_group = np.searchsorted(edges, population.risk, side="right").astype(np.int8)
        conditions = config.population.conditions.values()
        #: per condition group: need multiplier (float32) and intensity multiplier
        self.condition_need = np.array([c.need_multiplier for c in conditions], np.float32)
        self.condition_intensity = np.array([c.intensity_multiplier for c in conditions])
        self._need_factor: dict[int, np.ndarray] = {}
        #: the fused passes over the patients (numba or their numpy twins: the same bits)
        self.kernels = population.kernels = kernels.select(population.n)
        #: the life course (set by the model with ``[life]``): who is a member this month
        self.life: Life | None = None
        #: each patient's factor on its need probability from the life course (its age and
        #: sex, 0 when not a member); None without one
        self.need_scale: np.ndarray | None = None
        #: the trends' multiplier on new episodes' patient-optimal units (``[trends]``)
        self.intensity = 1.0

    def need_factor(self, s: int, need_probability: float) -> np.ndarray:
        """Each patient's ``need_probability`` × its condition's need multiplier (float32) in
        setting ``s``: it never changes during a run, so it is gathered once."""
        cached = self._need_factor.get(s)
        if cached is None:
            per_condition = need_probability * self.condition_need
            cached = self._need_factor[s] = per_condition[self.population.condition]
            if self.need_scale is not None:
                cached *= self.need_scale
        return cached

    def rescale_need(self, patients: np.ndarray) -> None:
        """The need factors of ``patients`` after their :attr:`need_scale` changed (the life
        course: entries, deaths, a birthday into an older age band)."""
        if self.need_scale is None:
            return
        condition = self.population.condition[patients]
        scale = self.need_scale[patients]
        for s, cached in self._need_factor.items():
            per_condition = self.settings[s].cfg.need_probability * self.condition_need
            cached[patients] = per_condition[condition] * scale

    @property
    def n_payers(self) -> int:
        """Number of payers."""
        return len(self.payers)

    def setting_indices(self, names: tuple[str, ...] | list[str]) -> list[int]:
        """The indices of the settings named (in the order named)."""
        order = [st.name for st in self.settings]
        return [order.index(name) for name in names]

    def contract(self, s: int, g: int) -> PaymentModel:
        """Payer ``g``'s contract in setting ``s``."""
        return self.payers[g].contracts[s]

    def contracts(self, s: int) -> list[PaymentModel]:
        """Every payer's contract in setting ``s``, in payer order."""
        return [p.contracts[s] for p in self.payers]

    def build_panels(self, s: int) -> list[Panel]:
        """Each payer's members of setting ``s`` per provider, with their (coded) risk."""
        pop = self.population
        n_payers = self.n_payers
        n_prov = self.providers[s].n
        key = pop.provider[s].astype(np.int64) * n_payers + pop.payer
        if self.life is None:
            members = np.bincount(key, minlength=n_prov * n_payers).reshape(n_prov, n_payers)
            r = pop.risk
        else:
            # members this month only (the life course: not yet enrolled or dead are not)
            enrolled = self.life.enrolled
            members = np.bincount(key, enrolled, minlength=n_prov * n_payers)
            members = members.reshape(n_prov, n_payers)
            r = np.where(enrolled, pop.risk, np.float32(0.0))
        risk = np.bincount(key, r, minlength=n_prov * n_payers).reshape(n_prov, n_payers)
        # risk adjustment sees coded risk scores
        risk = risk * self.coding.panel_factor(s, n_prov)
        return [
            Panel(
                members=members[:, g].astype(np.float64),
                risk_sum=risk[:, g],
                rate_multiplier=self.payers[g].rate_multiplier,
                region=self.providers[s].region,
            )
            for g in range(n_payers)
        ]

    def rebuild_panels(self, s: int) -> None:
        """After members moved between providers of setting ``s`` (churn)."""
        self.providers[s].panels = self.build_panels(s)

    def move_members(self, s: int, patients: np.ndarray, to: np.ndarray) -> None:
        """Move ``patients`` to providers ``to`` in setting ``s``, updating the panels by the
        movers alone (what :meth:`rebuild_panels` would count, up to rounding of the risk
        sums)."""
        pop = self.population
        if not patients.size:
            return
        frm = pop.provider[s][patients].astype(np.int64)
        to = np.asarray(to, np.int64)
        pop.provider[s][patients] = to
        if self.life is not None:
            # only members this month are on panels (the others move all the same)
            counted = self.life.enrolled[patients]
            patients, frm, to = patients[counted], frm[counted], to[counted]
        n_prov = self.providers[s].n
        payer = pop.payer[patients]
        risk = pop.risk[patients].astype(np.float64)
        for g, pn in enumerate(self.providers[s].panels):
            mine = payer == g
            if not mine.any():
                continue
            a, b, r = frm[mine], to[mine], risk[mine]
            pn.members[:] += np.bincount(b, minlength=n_prov) - np.bincount(a, minlength=n_prov)
            moved = np.bincount(b, r, minlength=n_prov) - np.bincount(a, r, minlength=n_prov)
            pn.risk_sum[:] += moved * self.coding.risk_factor(s, np.arange(n_prov), g)
        self.providers[s].members_changed()

    def change_members(self, patients: np.ndarray, sign: int) -> None:
        """Add (``sign`` = +1) or remove (−1) ``patients`` to or from their providers' panels
        in every setting and from their payers' members (the life course's entries and
        deaths), by the changers alone."""
        pop = self.population
        if not patients.size:
            return
        payer = pop.payer[patients]
        risk = pop.risk[patients].astype(np.float64)
        n_payers = self.n_payers
        by_payer = np.bincount(payer, minlength=n_payers)
        for s, providers in enumerate(self.providers):
            n_prov = providers.n
            factor = self.coding.risk_factor(s, np.arange(n_prov))
            # (provider, payer) cells: each cell's patients in their order, as a bincount of
            # the payer's patients alone counts and sums them
            key = pop.provider[s][patients].astype(np.int64) * n_payers + payer
            size = n_prov * n_payers
            count = np.bincount(key, minlength=size).reshape(n_prov, n_payers)
            risk_sum = np.bincount(key, risk, size).reshape(n_prov, n_payers)
            for g, pn in enumerate(providers.panels):
                if by_payer[g]:
                    pn.members[:] += sign * count[:, g]
                    pn.risk_sum[:] += sign * risk_sum[:, g] * factor
            providers.members_changed()
        self.payer_members += sign * by_payer

    def start_accounts(self) -> None:
        """A new month's tallies of transfers."""
        shape = (len(self.settings), self.n_payers)
        self.transferred = {k: np.zeros(shape) for k in TRANSFER_KINDS}

    def book(self, transfer: Transfer) -> None:
        """Book a payment not tied to a claim: into this month's lumps and the ledgers."""
        s, g = transfer.setting, transfer.payer
        self.transferred[transfer.kind][s, g] += transfer.total
        care = self.month[s]
        care.paid.lump_by_payer[g] = care.paid.lump_by_payer[g] + transfer.by_provider
        self.ledgers.payer[s, g] += transfer.total
        self.payers[g].paid_total += transfer.total
