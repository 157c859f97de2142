"""Cost-based reimbursement: the provider is paid its reported cost, less a cost share it bears.

Medicare paid hospitals their reasonable costs until the 1983 prospective payment system, and
home-health agencies until October 2000; from October 1997 the home-health *interim payment
system* (IPS) paid an agency the least of its reasonable costs, an aggregate per-visit limit
(the limit × its visits) and an aggregate per-beneficiary limit (the annual limit × the
beneficiaries it served), per fiscal year (McCall et al. 2003; validation/ips_1997_users.toml).

With cost share ``s`` borne by the provider (Ellis & McGuire 1986 [@ellis1986]), a
prospective part ``R`` per episode and reported cost ``C``, the contract pays

    R + (1 − s) · C,    C = (marginal cost + overhead allocated per unit) × units

(plus what features add to a unit's cost, e.g. therapy minutes). Below the limits one more unit
earns ``(1 − s)·(c + overhead)``: the closed form sees ``(1 − s)`` of the marginal cost through
:meth:`cost_margin` and ``(1 − s)·overhead`` through :meth:`marginal_revenue`, so with no
overhead and ``s = 0`` the provider's best is the patient optimum, and overhead allocated to
units pushes above it. Once a limit binds a unit earns nothing more (learning sees it in the
realised revenue; the closed form ignores the limits: an approximation where they bind).

The limits are applied to each provider's calendar year to date: each month the provider is
paid the increase of ``min(reimbursable cost, per-visit limit × visits, per-beneficiary limit ×
beneficiaries)`` so far this year, spread over the month's claims in proportion to their cost.
A beneficiary is counted once a year by each provider that gave it a visit.

What the provider's decisions earn (:meth:`CostBased.prices`) depends on which of the three
amounts will be the least at the end of the provider's year, projected from its year to date
(``× 12 / months``; in January, last year's totals; in a provider's first year, the cost):
where reimbursable cost is the least, a unit earns ``(1 − s)·(c + overhead)`` and a case
nothing; where the per-visit limit binds, a unit earns the limit per visit; where the
per-beneficiary limit binds — the shadow price of the limit — a unit earns nothing and a new
beneficiary (one the provider has not served this year) earns the limit. Heavy users cost more
units for the same limit, so an agency at its limit turns them away first.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from sim.engine.payment.base import (
    Base,
    BaseMonths,
    Claims,
    ContractParams,
    Panel,
    PaymentModel,
    Settlement,
)
from sim.engine.payment.prices import Position, Prices, straight


class CostBasedParams(ContractParams):
    """Parameters of cost-based reimbursement: the provider's cost share, an overhead allocated
    per unit, a prospective part per episode and the interim payment system's limits."""

    cost_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Supply-side cost share s: the share of its reported cost the provider "
        "bears (0: full cost reimbursement, Medicare before 1983).",
        json_schema_extra={"unit": "fraction"},
    )
    overhead_per_unit: float = Field(
        0.0,
        ge=0,
        description="Fixed cost the cost report allocates to each service unit (reimbursed "
        "with the marginal cost, so more units bring more of it in). 0: none.",
        json_schema_extra={"unit": "USD/unit"},
    )
    prospective_rate: float = Field(
        0.0,
        ge=0,
        description="Prospective part R paid per episode at its start (a mixed system with "
        "cost_share > 0). 0: none.",
        json_schema_extra={"unit": "USD/episode"},
    )
    per_visit_limit: float | None = Field(
        None,
        gt=0,
        description="Interim payment system: aggregate per-visit limit, per visit of the "
        "provider's calendar year (payer rate level applies); none: no limit.",
        json_schema_extra={"unit": "USD/visit"},
    )
    per_beneficiary_limit: float | None = Field(
        None,
        gt=0,
        description="Interim payment system: aggregate per-beneficiary limit, per beneficiary "
        "the provider served in the calendar year (payer rate level applies); none: no limit.",
        json_schema_extra={"unit": "USD/beneficiary-year"},
    )
    base_months: BaseMonths | None = Field(
        None,
        description="Interim payment system with agency-specific limits: [first, last) months "
        "of the run (from 0, before the switch that brings the contract in) whose payments "
        "set each provider's per-beneficiary limit, limit_factor × (agency_share × its own "
        "payment per episode of care started then + (1 − agency_share) × every provider's), "
        "instead of one per_beneficiary_limit (BBA 1997 §4602: 98% of 75% agency-specific and "
        "25% census-division per-beneficiary costs of a base year; the run's providers are "
        "the division, and episodes stand in for beneficiaries).",
        json_schema_extra={"unit": "months"},
    )
    agency_share: float = Field(
        0.75,
        ge=0,
        le=1,
        description="With base_months: the weight of the provider's own payment per episode in "
        "its limit (the rest: every provider's).",
        json_schema_extra={"unit": "fraction"},
    )
    limit_factor: float = Field(
        0.98,
        gt=0,
        description="With base_months: the limit as a multiple of the blended base-period "
        "payment per episode.",
        json_schema_extra={"unit": "ratio"},
    )
    coinsurance: float = Field(
        0.0,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Patient share of the reimbursement (none under Part A home health).",
    )

    @model_validator(mode="after")
    def _one_limit(self) -> CostBasedParams:
        if self.base_months is not None and self.per_beneficiary_limit is not None:
            raise ValueError(
                "give per_beneficiary_limit (one limit) or base_months (each provider's from "
                "those months), not both"
            )
        return self

    deductible_applies: bool = Field(
        False,
        json_schema_extra={"unit": "flag"},
        description="No deductible applies (Part A home health).",
    )


class CostBased(PaymentModel):
    """Reported cost less the provider's cost share, within per-visit and per-beneficiary
    limits (module docstring)."""

    name = "cost_based"
    Params = CostBasedParams
    params: CostBasedParams
    summary = (
        "pays the provider's reported cost less its cost share, within annual per-visit and "
        "per-beneficiary limits"
    )

    def __init__(self, params: CostBasedParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        self._year: int | None = None
        self._cost = np.zeros(0)  # reimbursable cost so far this year, per provider
        self._visits = np.zeros(0)
        self._beneficiaries = np.zeros(0)
        self._paid = np.zeros(0)
        self._seen_by = np.zeros(0, np.int64)  # provider + 1 that counted the patient this year
        #: the last complete year's totals per provider (cost, visits, beneficiaries)
        self._last_year: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._months = 0  # months settled so far this year
        #: per-beneficiary limit: the parameter's, or each provider's from the base months
        self._limit: float | np.ndarray | None = params.per_beneficiary_limit

    def begin(self, base: Base) -> None:
        """Each provider's per-beneficiary limit: ``limit_factor`` × (``agency_share`` × its
        own payment per episode started in the base months + the rest × every provider's,
        over the whole run, :meth:`run_totals`); a provider that started none gets the
        every-provider figure alone."""
        prm = self.params
        revenue, episodes = self.run_totals(np.array([base.revenue.sum(), base.episodes.sum()]))
        every = revenue / episodes if episodes > 0 else 0.0
        own = np.divide(
            base.revenue, base.episodes, out=np.full(base.revenue.size, every),
            where=base.episodes > 0,
        )  # fmt: skip
        self._limit = prm.limit_factor * (prm.agency_share * own + (1.0 - prm.agency_share) * every)

    def _limits(self, n_prov: int) -> np.ndarray | None:
        """Each provider's per-beneficiary limit at rate level 1 (None: no limit)."""
        if self._limit is None:
            return None
        if np.ndim(self._limit) == 0:
            return np.full(n_prov, float(self._limit))
        lim = np.asarray(self._limit, np.float64)
        if lim.size < n_prov:  # providers that entered after the base months: the mean's
            lim = np.concatenate([lim, np.full(n_prov - lim.size, float(lim.mean()))])
        return lim[:n_prov]

    def cost_margin(self) -> float:
        """``1 − s``: the share of a unit's marginal cost paid back."""
        return 1.0 - self.params.cost_share

    def marginal_revenue(self, fee_per_unit, rate_multiplier: float = 1.0):
        """``(1 − s)·overhead`` per unit (the marginal cost's part is :meth:`cost_margin`)."""
        prm = self.params
        return np.zeros(np.shape(fee_per_unit)) + (1.0 - prm.cost_share) * prm.overhead_per_unit

    def expected_allowed(self, fee_value, condition, function, risk, rate_multiplier):
        """A patient's proxy of what the episode will be reimbursed: the reimbursed share of
        its fee-schedule value, plus the prospective part."""
        prm = self.params
        return (1.0 - prm.cost_share) * np.asarray(fee_value, np.float64) + (
            prm.prospective_rate * rate_multiplier
        )

    def binding(self, n_prov: int, year: int, rate: float = 1.0) -> np.ndarray:
        """Which amount each provider's year is projected to end at: 0 its reimbursable cost,
        1 the per-visit limit, 2 the per-beneficiary limit (module docstring), the limits at
        the payer's rate level ``rate``."""
        prm = self.params
        if self._year == year and self._cost.size == n_prov and self._months > 0:
            f = 12.0 / self._months
            cost, visits, benes = self._cost * f, self._visits * f, self._beneficiaries * f
        elif self._last_year is not None and self._last_year[0].size == n_prov:
            cost, visits, benes = self._last_year
        else:
            return np.zeros(n_prov, np.int64)
        none = np.full(n_prov, np.inf)
        limits = self._limits(n_prov)
        amounts = np.stack(
            [
                cost,
                none if prm.per_visit_limit is None else prm.per_visit_limit * rate * visits,
                none if limits is None else limits * rate * benes,
            ],
            axis=1,
        )  # fmt: skip
        return np.argmin(amounts, axis=1)

    def prices(self, position: Position, units: int) -> Prices:
        """A unit and a case at the amount each provider's year is projected to end at
        (module docstring): the reimbursed cost, the per-visit limit per visit, or — at a
        binding per-beneficiary limit — nothing per unit and the limit per new beneficiary.
        The prospective part is paid per case as it starts."""
        prm = self.params
        rate = position.rate_multiplier
        prov = np.asarray(position.provider, np.int64)
        n_prov = int(prov.max(initial=-1)) + 1
        if self._cost.size > n_prov:
            n_prov = self._cost.size
        bind = self.binding(n_prov, position.year, rate)[prov]
        below = (1.0 - prm.cost_share) * (position.marginal_cost + prm.overhead_per_unit)
        per_visit = 0.0 if prm.per_visit_limit is None else prm.per_visit_limit * rate
        per_unit = np.select(
            [bind == 0, bind == 1], [below, per_visit / position.units_per_visit], 0.0
        )
        patient = np.asarray(position.patient, np.int64)
        seen = np.zeros(patient.size, bool)
        inside = patient < self._seen_by.size
        seen[inside] = self._seen_by[patient[inside]] == prov[inside] + 1
        limits = self._limits(n_prov)
        limit = 0.0 if limits is None else limits[prov] * rate
        case = np.where((bind == 2) & ~seen, limit, 0.0)
        case = case + np.where(position.new_episode, prm.prospective_rate * rate, 0.0)
        return straight(per_unit, position.size, units, case)

    def reimbursable(self, claims: Claims) -> np.ndarray:
        """Each claim's reimbursable cost: (1 − s) × (its cost + overhead × units)."""
        prm = self.params
        assert claims.cost is not None, "cost-based reimbursement needs the claims' cost"
        units = np.asarray(claims.units, np.float64)
        reported = claims.cost + prm.overhead_per_unit * units
        return (1.0 - prm.cost_share) * reported

    def _start_year(self, year: int, n_prov: int) -> None:
        if self._year == year and self._cost.size == n_prov:
            return
        if self._year is not None and self._cost.size == n_prov and self._months > 0:
            f = 12.0 / self._months  # a year the run saw in part: its pace over twelve months
            self._last_year = (self._cost * f, self._visits * f, self._beneficiaries * f)
        self._months = 0
        self._year = year
        self._cost = np.zeros(n_prov)
        self._visits = np.zeros(n_prov)
        self._beneficiaries = np.zeros(n_prov)
        self._paid = np.zeros(n_prov)
        self._seen_by[:] = 0

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """The increase of each provider's year-to-date payment within the limits, spread over
        its claims by cost; the prospective part for episodes that start."""
        prm = self.params
        n_prov = panel.members.size
        self._start_year(claims.year, n_prov)
        prov = claims.provider.astype(np.int64)
        self._months += 1
        cost = self.reimbursable(claims)
        month_cost = np.bincount(prov, cost, minlength=n_prov)
        self._cost += month_cost
        cap = self._cost.copy()
        visits = np.asarray(claims.visits, np.float64)
        if prm.per_visit_limit is not None:
            self._visits += np.bincount(prov, visits, minlength=n_prov)
            cap = np.minimum(cap, prm.per_visit_limit * claims.rate_multiplier * self._visits)
        limits = self._limits(n_prov)
        if limits is not None:
            assert claims.patient is not None, "per-beneficiary limits need patient numbers"
            patient = np.asarray(claims.patient, np.int64)
            if patient.size and patient.max() >= self._seen_by.size:
                grown = np.zeros(int(patient.max()) + 1, np.int64)
                grown[: self._seen_by.size] = self._seen_by
                self._seen_by = grown
            new = (visits > 0) & (self._seen_by[patient] != prov + 1)
            self._seen_by[patient[new]] = prov[new] + 1
            self._beneficiaries += np.bincount(prov[new], minlength=n_prov)
            cap = np.minimum(cap, limits * claims.rate_multiplier * self._beneficiaries)
        due = np.maximum(cap - self._paid, 0.0)
        self._paid += due
        # the month's payment of each provider, spread over its claims in proportion to cost
        share = np.divide(due, month_cost, out=np.zeros(n_prov), where=month_cost > 0)
        allowed = cost * share[prov]
        lump = np.where(month_cost > 0, 0.0, due)
        if prm.prospective_rate:
            allowed = allowed + np.where(
                claims.new_episode, prm.prospective_rate * claims.rate_multiplier, 0.0
            )
        return Settlement(allowed=allowed, lump=lump)
