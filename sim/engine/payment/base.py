"""The one small interface every payment model implements.

A payment model is a *contract rule*: given what was delivered to a payer's patients in one
setting this month, it says what the provider is owed. The engine does everything else: it
applies the contract's patient cost sharing, moves the money between the three ledgers (payer,
patient, provider) and tells providers what a marginal unit earns.

Adding a payment model means adding a module here with a ``PaymentModel`` subclass and a
``Params`` class, and registering it in ``sim/engine/payment/__init__.py``. Nothing in the engine
changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

import annotated_types as at
import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sim.engine.payment.prices import CodingRevenue, Position, Prices, straight

#: the entries of lists and tables of numbers with a sign or a scale: amounts, weights and
#: risk scores that cannot be negative, points of the 0-100 function scale, visit counts
NonNegative = Annotated[float, at.Ge(0)]
Points = Annotated[float, at.Ge(0), at.Le(100)]
Visits = Annotated[int, at.Ge(1)]


def _base_months(b: list[int]) -> list[int]:
    if len(b) != 2 or not 0 <= b[0] < b[1]:
        raise ValueError(f"[first, last) months, 0 <= first < last; got {b}")
    return b


#: a contract's base months (``base_months``: [first, last) months of the run, from 0), from
#: whose history it sets a number when a switch brings it in (:meth:`PaymentModel.base_period`)
BaseMonths = Annotated[list[int], AfterValidator(_base_months)]


class ContractParams(BaseModel):
    """Parameters every contract has. Subclasses add their own and may change the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coinsurance: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Patient share of the allowed amount after the deductible (Part B: 20%).",
        json_schema_extra={"unit": "fraction"},
    )
    deductible_applies: bool = Field(
        True,
        description="Whether allowed amounts count toward the payer's annual deductible.",
        json_schema_extra={"unit": "flag"},
    )
    copay_per_visit: float = Field(
        0.0,
        ge=0,
        description="Fixed patient payment per visit, collected by the provider.",
        json_schema_extra={"unit": "USD/visit"},
    )
    adverse_event_liability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of the cost of adverse events borne by the provider (the payer "
        "bears the rest).",
        json_schema_extra={"unit": "fraction"},
    )
    outcome_payment: float = Field(
        0.0,
        ge=0,
        description="Pay-for-performance: paid to the provider per point of function its "
        "patients gain from care (on top of the model's payment; not cost-shared).",
        json_schema_extra={"unit": "USD/point"},
    )
    shared_savings_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Shared savings (two-sided, settled monthly): the provider receives this "
        "share of the difference between the benchmark and the payer's spending on its "
        "members in the setting (claims, pay-for-performance and the payer's adverse-event "
        "costs), and repays the same share of any overrun.",
        json_schema_extra={"unit": "fraction"},
    )
    benchmark_pmpm: float = Field(
        0.0,
        ge=0,
        description="Shared savings benchmark: spending per member-month at risk score 1, "
        "risk-adjusted like capitation.",
        json_schema_extra={"unit": "USD/member-month"},
    )
    plan_pmpm: float = Field(
        0.0,
        ge=0,
        description="A capitated plan (Medicare Advantage-like) runs this contract: Medicare "
        "pays the plan this much per member-month at risk score 1 (risk-adjusted with coded "
        "risk scores) and the plan pays providers under the contract, keeping the difference "
        "(plan_margin). MA benchmarks are 95-115% of FFS cost, payments ≈ 120% [@medpac2024]. "
        "0: no plan.",
        json_schema_extra={"unit": "USD/member-month"},
    )
    prior_authorization: float | None = Field(
        None,
        gt=0,
        description="Utilization management: units authorized per month, as a multiple of the "
        "patient's optimal units (e.g. 1.0 authorizes no more than the clinical optimum); "
        "none: no limit.",
        json_schema_extra={"unit": "× optimal units"},
    )
    adverse_event_penalty: float = Field(
        0.0,
        ge=0,
        description="Pay-for-performance: charged to the provider per adverse event (e.g. a "
        "readmission) in an episode taken to it; refunded to the payer.",
        json_schema_extra={"unit": "USD/event"},
    )
    admission_review: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Utilization (admission) review: share of the new cases a provider takes "
        "that the payer reviews for medical necessity (PRO review: about 25% of Medicare "
        "discharges, [@iom1989um]); a reviewed case found unnecessary (review_standard) is "
        "not paid at all — every claim of its episode is denied, paid by neither payer nor "
        "patient (claims_denied) — and the provider's admission decision weighs the case's "
        "price × (1 − admission_review × its chance of denial). Needs behaviour.admission. "
        "0: no review.",
        json_schema_extra={"unit": "fraction"},
    )
    review_standard: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Utilization review: the clinical value below which a reviewed admission "
        "is found not medically necessary — the benefit the admission adds over the gray "
        "area's alternative, (1 − the alternative's share) × the patient's benefit at its "
        "optimum, as a multiple of the benefit of an average episode at risk score 1 (the "
        "same unit as admission.scale: (q_B / optimal_units)² × (1 − alternative share)). "
        "0: no admission is found unnecessary.",
        json_schema_extra={"unit": "× episode benefit"},
    )
    review_noise: float = Field(
        0.0,
        ge=0,
        le=10,
        description="Utilization review: standard deviation of the reviewer's error on the "
        "log of a case's clinical value (a reviewed case is denied with probability "
        "Φ(ln(review_standard / value) / review_noise)); 0: the reviewer judges exactly.",
        json_schema_extra={"unit": "log"},
    )


@dataclass(frozen=True, slots=True)
class Claims:
    """One payer's patients with an active episode in one setting this month (vectorized).

    Every array has one entry per patient with an active episode, including those who did not
    take it to a provider (their claims are zeroed by the engine). ``fee_value`` is the
    fee-schedule value of the month's services for that patient (RVU × CF × GPCI × payer
    multiplier), whatever the contract pays.
    """

    provider: np.ndarray  # int: provider index within the setting
    fee_value: np.ndarray  # float64, USD
    units: np.ndarray  # int: billed units
    visits: np.ndarray  # int
    new_episode: np.ndarray  # bool: the episode started this month
    condition: np.ndarray  # int: condition group index
    function_at_start: np.ndarray  # float: function at the start of this month (0-100); in an
    # episode's first month, its function at admission (as coded, with upcoding)
    risk: np.ndarray  # float: risk score
    rate_multiplier: float
    #: the contract's payment period (``period_months``): service units so far in the
    #: patient's current period (this month included), whether the period ends this month,
    #: and the month of the episode (0 = its first)
    period_units: np.ndarray | None = None
    period_end: np.ndarray | None = None
    episode_month: np.ndarray | None = None
    #: fee-schedule value of the period's services so far (payer multiplier included)
    period_value: np.ndarray | None = None
    #: the simulation month (0-based), for rules that change over time (phase-ins)
    month: int = 0
    #: settings with a therapy decision (skilled nursing): therapy minutes delivered this month
    #: per patient in each mode, after any cap on group plus concurrent minutes
    therapy_individual: np.ndarray | None = None
    therapy_concurrent: np.ndarray | None = None
    therapy_group: np.ndarray | None = None
    #: for rules that follow patients, costs or events over time (cost-based reimbursement,
    #: annual thresholds, readmission penalties, stop-loss): each claim's patient number, the
    #: provider's cost of the month's services (marginal cost × service units plus what
    #: features add, e.g. therapy minutes), whether an adverse event happened, whether the
    #: episode is a readmission (a care pathway's acute setting), and the calendar year and
    #: month (1-12) of the claims (annual rules settle in December)
    patient: np.ndarray | None = None
    cost: np.ndarray | None = None
    adverse: np.ndarray | None = None
    readmission: np.ndarray | None = None
    year: int = 0
    month_of_year: int = 1


@dataclass(frozen=True, slots=True)
class Panel:
    """The payer's members in the setting, per provider (for per-member payments)."""

    members: np.ndarray  # float64 per provider: enrolled members
    risk_sum: np.ndarray  # float64 per provider: sum of members' risk scores
    rate_multiplier: float
    #: int per provider: its region (None: one region); contracts that group providers
    #: (ACOs of several practices) group them within a region
    region: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class ClosedPathways:
    """Care pathways (:mod:`sim.engine.features.pathway`) whose window closed, one entry each:
    the admitting provider, the pathway's spending (every setting's allowed amounts and
    adjustments over the window, divided by the payer's rate level: at rate level 1, as
    targets are), the case mix a reconciliation weighs it by (condition, function at
    admission, coded risk score), and the month (of the run, from 0) the window closed."""

    hospital: np.ndarray
    spending: np.ndarray
    condition: np.ndarray
    function: np.ndarray
    risk: np.ndarray
    month: np.ndarray

    @classmethod
    def empty(cls) -> ClosedPathways:
        """No pathway (what a setting without a pathway, or a month with none closing, adds)."""
        z = np.zeros(0)
        i = np.zeros(0, np.int64)
        return cls(i, z, i, z, z, i)

    @classmethod
    def joined(cls, parts: list[ClosedPathways]) -> ClosedPathways:
        """The pathways of ``parts``, in their order, concatenated once."""
        if not parts:
            return cls.empty()
        columns = zip(*(p.fields() for p in parts), strict=True)
        return cls(*(np.concatenate(arrays) for arrays in columns))

    def __add__(self, other: ClosedPathways) -> ClosedPathways:
        return ClosedPathways.joined([self, other])

    def fields(self) -> tuple[np.ndarray, ...]:
        """The six arrays, in the order of the constructor's arguments."""
        return (self.hospital, self.spending, self.condition, self.function, self.risk, self.month)

    def during(self, months: tuple[int, int] | list[int]) -> ClosedPathways:
        """The pathways that closed in months ``[first, last)``."""
        keep = (self.month >= months[0]) & (self.month < months[1])
        return ClosedPathways(*(a[keep] for a in self.fields()))


@dataclass(frozen=True, slots=True)
class Participation:
    """Which providers chose to take part in a voluntary contract, decided once when it came
    into force, per provider of the setting: whether it joined, and the quartile (0-3, lowest
    first) of its base-period spending per case relative to every provider's, by which
    evaluations report the choice (−1 for a provider with no base-period history, which no
    quartile counts)."""

    joined: np.ndarray
    quartile: np.ndarray


@dataclass(frozen=True, slots=True)
class Base:
    """A provider's history over a contract's base months (:meth:`PaymentModel.base_period`),
    per provider, summed over the months: its revenue from the payer, its member-months, its
    members' risk scores, and the episodes of care it started; in a pathway's acute setting,
    also the pathways that closed in those months (:class:`ClosedPathways`)."""

    revenue: np.ndarray
    members: np.ndarray
    risk: np.ndarray
    episodes: np.ndarray
    pathways: ClosedPathways = field(default_factory=ClosedPathways.empty)

    def __add__(self, other: Base) -> Base:
        return Base(
            self.revenue + other.revenue,
            self.members + other.members,
            self.risk + other.risk,
            self.episodes + other.episodes,
            self.pathways + other.pathways,
        )


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the provider is owed.

    ``allowed``: per treated patient, claim amounts subject to the contract's cost sharing.
    ``lump``: per provider, payments not tied to a claim (PMPM, fixed parts).
    ``adjustment``: per patient, amounts outside cost sharing, possibly negative (episode
    reconciliation: savings paid, overruns repaid).
    ``patient_share``: per patient, what the patient owes of ``allowed`` when the contract sets
    it itself (skilled nursing's daily coinsurance from day 21) instead of the generic
    deductible and coinsurance; at most ``allowed``.
    ``denied``: per patient, claim amounts the contract refused to pay (medical review above
    an annual threshold): neither the payer nor the patient pays them (reported, not paid).
    ``liable``: per patient, amounts of services the contract does not cover and the patient
    pays in full, outside cost sharing (an annual therapy cap without an exception, 2006): the
    provider receives them, the payer pays none of them.
    """

    allowed: np.ndarray
    lump: np.ndarray
    adjustment: np.ndarray | None = None
    patient_share: np.ndarray | None = None
    denied: np.ndarray | None = None
    liable: np.ndarray | None = None


class PaymentModel:
    """Base class. Subclasses set ``name`` and ``Params`` and implement the two methods."""

    name: ClassVar[str]
    Params: ClassVar[type[ContractParams]] = ContractParams
    #: a short statement of what the model pays for, shown in docs and reports
    summary: ClassVar[str] = ""

    #: the provider is paid to care for its members (per member): it may not turn away an
    #: episode of a member of its panel (selection then works through whom it enrols)
    cares_for_members: ClassVar[bool] = False
    #: whether a run can be split by region into shards (:mod:`sim.experiments.shards`): its
    #: settlement keeps to each provider's own patients, and any aggregate over every provider comes
    #: through :meth:`run_totals` (national readmission rates, mean benchmarks)
    shardable: ClassVar[bool] = True

    #: months in one payment period: claims carry the units of the patient's current period
    #: and mark the period's last month (home health: 2 for 60-day episodes, 1 for 30 days)
    period_months: int = 1

    def __init__(self, params: ContractParams, condition_names: tuple[str, ...] = ()) -> None:
        self.params = params
        self.condition_names = condition_names

    #: therapy rules (settings with a therapy decision): how payment counts minutes delivered
    #: individually, concurrently (one therapist, two patients) and in groups, and the largest
    #: share of a patient's minutes that may be concurrent or group (None: no limit)
    therapy_minute_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    group_concurrent_cap: float | None = None

    def marginal_revenue(
        self, fee_per_unit: np.ndarray | float, rate_multiplier: float = 1.0
    ) -> np.ndarray | float:
        """Revenue the provider earns from one more service unit, before cost sharing
        (what the payer and patient pay together), given the fee-schedule value of a unit
        (payer rate level included) and the payer's rate level. Called with an array (one
        value per provider); any function of the fee is allowed, not only a share of it."""
        raise NotImplementedError

    def prices(self, position: Position, units: int) -> Prices:
        """What the contract pays for each decision about each patient where it stands: the
        revenue of 0..``units`` more units in its payment period, and of taking the case
        (:mod:`sim.engine.payment.prices`). Default: a straight schedule at the model's
        :meth:`marginal_revenue` of the patient's fee (plus :meth:`cost_margin` × the marginal
        cost it pays back) and nothing per case. A model whose price depends on where the
        patient stands (a threshold, a cap, a per diem by day of stay, a limit, a price per
        case) overrides it."""
        per = (
            np.asarray(
                self.marginal_revenue(position.fee_per_unit, position.rate_multiplier), np.float64
            )
            + self.cost_margin() * position.marginal_cost
        )
        return straight(per, position.size, units)

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """What coding every risk score 1% higher earns under the contract this month, ×100
        (:mod:`sim.engine.payment.prices`): per patient in care at ``position`` given its
        month's ``units`` (a price by case-mix group: :func:`~sim.engine.payment.prices.
        by_difference`), and per provider of ``panel`` (a risk-adjusted payment per member).
        Default: nothing — the payment does not read risk scores (fee-for-service). The
        contract's generic terms (a shared-savings benchmark, a capitated plan's PMPM) add theirs
        (:func:`sim.engine.payment.terms.coding_margin`)."""
        return CodingRevenue(np.zeros(position.size), np.zeros(panel.members.size))

    def cost_margin(self) -> float:
        """Share of a unit's cost the contract pays back at the margin (cost-based
        reimbursement: 1 − the provider's cost share). The closed form adds it times the
        setting's marginal cost to ``marginal_revenue``. Default 0: payment does not follow
        cost."""
        return 0.0

    def readmission_margin(self, n_providers: int) -> np.ndarray:
        """What one more readmission of its patients costs each provider under this contract
        beyond the readmission's own stay (USD per readmission; a readmission penalty's
        expected payment reductions). Features that act on readmissions (investments in
        follow-up after discharge) weigh it. Default: nothing."""
        return np.zeros(n_providers)

    def therapy_revenue_per_day(self, counted_minutes_per_day: np.ndarray) -> np.ndarray:
        """Settings with a therapy decision: the part of a day's payment that depends on the
        therapy minutes counted for it (``therapy_minute_weights`` applied), at rate level 1.
        Minutes-driven per diems (legacy skilled nursing) step up with the minutes; default:
        minutes are not a payment factor."""
        return np.zeros(np.asarray(counted_minutes_per_day).shape)

    def pathway_cost_share(self, month: int) -> float | np.ndarray:
        """Acute settings of a care pathway: the share of a pathway's spending (its stay,
        post-acute care and readmissions over the window) that falls on the admitting provider
        at the margin: one number, or one per provider when providers chose whether to take
        part (:meth:`participation`). Default 0: the hospital is paid for its stay and bears
        nothing after discharge (fee-for-service, DRG)."""
        return 0.0

    def participation(self) -> Participation | None:
        """A voluntary contract's providers' decision to take part, made when it came into
        force (:class:`Participation`); ``None``: every provider is in the contract (the
        default, a mandatory contract)."""
        return None

    def reconcile_pathway(
        self,
        spending: np.ndarray,
        condition: np.ndarray,
        function: np.ndarray,
        risk: np.ndarray,
        rate_multiplier: float,
        month: int,
        hospital: np.ndarray,
        *,
        commit: bool = True,
    ) -> np.ndarray | None:
        """Acute settings of a care pathway: the payment to the admitting provider
        (``hospital``; negative: repayment) when pathways' windows close, given their spending
        (allowed amounts of every setting over the window, payer rate level included) and the
        case mix at admission; per pathway, read summed by hospital (a reconciliation over a
        hospital's year may put a hospital's whole payment on one of its pathways). A contract
        that keeps a running reconciliation adds the pathways to it only with ``commit`` (the
        engine prices a further dollar with ``commit=False``). Default None: no
        reconciliation."""
        return None

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """Amounts owed for this month's claims and panel."""
        raise NotImplementedError

    def accountable_settings(self) -> tuple[str, ...]:
        """Settings besides its own whose spending on each provider's attributed members the
        contract holds the provider accountable for (an ACO across settings: its members'
        hospital and post-acute claims count against its benchmark). A member is attributed to
        its provider in the contract's setting (its panel). Default: none, the contract's own
        setting only."""
        return ()

    def accountable_share(self, year: int) -> float:
        """With :meth:`accountable_settings`: the share of a further dollar of a member's
        spending in them that falls on the member's provider in calendar year ``year`` (what
        the provider's physicians weigh when they help decide that care, e.g. where a
        patient goes after a hospital stay). Default 0."""
        return 0.0

    def settle_accountable(
        self, spending: np.ndarray, year: int, month_of_year: int
    ) -> np.ndarray | None:
        """With :meth:`accountable_settings`: called once a month after every setting of the
        payer settled, with the allowed amounts of the month's claims in those settings summed
        by the members' provider in the contract's setting; returns a payment per provider
        not tied to a claim (negative: repaid), or ``None``. Default: nothing to settle."""
        return None

    def expected_allowed(
        self,
        fee_value: np.ndarray,
        condition: np.ndarray,
        function: np.ndarray,
        risk: np.ndarray,
        rate_multiplier: float,
    ) -> np.ndarray:
        """Allowed amount (subject to cost sharing) a patient can expect for an episode whose
        services are worth ``fee_value`` on the fee schedule (payer multiplier included).
        Used by patients deciding whether to seek elective care. Default: the share of the
        fee schedule that the contract pays per unit, ``marginal_revenue(1)·fee_value``;
        override it when payment is not proportional to the fee (episode prices, fixed
        amounts per unit)."""
        return self.marginal_revenue(1.0) * np.asarray(fee_value, np.float64)

    def expected_uncovered(self, fee_value: np.ndarray, patient: np.ndarray) -> np.ndarray | None:
        """Of the allowed amount :meth:`expected_allowed` gives for an episode worth
        ``fee_value`` (payer multiplier included), the part the patients (numbers
        ``patient``) expect the contract not to cover, so that they pay it in full instead of
        its cost sharing (a benefit limit: an annual therapy cap without an exception). Used
        by care seeking. Default None: the contract covers all of it."""
        return None

    def base_period(self) -> tuple[int, int] | None:
        """Months ``[first, last)`` of the run (0-based) from whose history the contract sets
        a number when it comes into force, provider by provider (a global budget from each
        hospital's own revenue, as the programmes set it from a base year): its parameters'
        ``base_months`` (:data:`BaseMonths`), if it has them; ``None``: the contract needs no
        history. Such a contract can only come in by a switch after them."""
        b = getattr(self.params, "base_months", None)
        return None if b is None else (int(b[0]), int(b[1]))

    def begin(self, base: Base) -> None:
        """The contract comes into force (a switch) with its :meth:`base_period`'s history
        (each provider's, summed over those months); called only when :meth:`base_period`
        gives months."""

    def run_totals(self, values: np.ndarray) -> np.ndarray:
        """``values`` (sums over this model's providers) summed over the whole run: the same
        values unless the run is sharded, when the model sets this to the exchange's
        (:meth:`sim.engine.world.Exchange.totals`). A model whose rates come from aggregates of
        every provider (a national rate, a mean benchmark) computes them from these totals, at times
        every shard reaches alike (the same months)."""
        return values

    @property
    def has_thresholds(self) -> bool:
        """Whether the model may have payment thresholds (it overrides :meth:`thresholds`)."""
        return type(self).thresholds is not PaymentModel.thresholds

    def thresholds(
        self, condition: np.ndarray, function: np.ndarray, risk: np.ndarray
    ) -> np.ndarray:
        """Service units per payment period at which payment jumps, one row per patient
        (``inf`` pads rows). Used by the bunching behaviour and reported in the outputs.
        Default: none."""
        return np.empty((np.asarray(condition).size, 0))

    def describe(self) -> str:
        """The model and its parameters in one line, for logs and reports."""
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.params.model_dump().items())})"
