"""An all-payer hospital global budget (Maryland's global budget revenue, from 2014).

Each hospital has an annual revenue target, set from its historical revenue per member and
grown by an annual update; the rates it charges every payer are adjusted so that revenue meets
the target. Only a share of a volume change moves revenue (Maryland's variable-cost factor):
with the month's charges ``F_h`` at the all-payer rates (the fee schedule × ``rate_level``),
the month's target ``T_h`` and the volume share ``v``, hospital ``h`` is paid

    T_h + v · (F_h − T_h)  =  v · F_h  +  (1 − v) · T_h

so its effective price per unit is ``v · rate + (1 − v) · T_h / volume``: ``v = 0`` is a fixed
budget (prices move to meet the target whatever the volume), ``v = 1`` the rates alone. The
target is ``budget_pmpm`` × the risk scores of the hospital's members (per member-month at risk
score 1, risk-adjusted like capitation when ``risk_adjusted``) — or, with ``base_months``, each
hospital's own revenue per unit of its members' risk over those months of the run before the
switch that brings the contract in (:meth:`PaymentModel.base_period`; the HSCRC set each
hospital's budget from its own base-year revenue [@hscrc_gbr]) × its members' risk scores now —
× (1 + ``annual_update``) per calendar year since the contract began, at the payer's rate
level when it began: the trends' price updates (``[trends]``) raise the charges, not the
target, so the annual update is a cap on revenue growth that saves against a trend. One more
unit earns ``v · rate`` at the margin.

*All-payer*: give every payer's contract for the setting this model (each payer's members'
target and charges; the payer's rate level applies to both).
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
from sim.engine.payment.prices import CodingRevenue, Position


class AllPayerBudgetParams(ContractParams):
    """Parameters of an all-payer global budget: the target per member, its update, the
    all-payer rate level and the share of volume changes paid."""

    budget_pmpm: float | None = Field(
        None,
        ge=0,
        description="Revenue target per member-month at risk score 1, the same for every "
        "hospital (its historical revenue per member), at the payer's rate level; or give "
        "base_months.",
        json_schema_extra={"unit": "USD/member-month"},
    )
    base_months: BaseMonths | None = Field(
        None,
        description="[first, last) months of the run (from 0, before the switch that brings "
        "the contract in) whose revenue sets each hospital's own target: its revenue from the "
        "payer over those months per unit of its members' risk scores (per member when the "
        "target is not risk-adjusted), as the HSCRC set each hospital's global budget from "
        "its base-year revenue; instead of budget_pmpm.",
        json_schema_extra={"unit": "months"},
    )
    annual_update: float = Field(
        0.0,
        ge=-0.5,
        le=0.5,
        description="Growth of the target per calendar year after the contract's first.",
        json_schema_extra={"unit": "fraction/year"},
    )
    volume_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share v of the all-payer rate paid for volume above or below the target "
        "(0: a fixed budget; 1: the rates alone). Maryland's variable-cost factor; 0.5 is an "
        "assumption.",
        json_schema_extra={"unit": "fraction"},
    )
    rate_level: float = Field(
        1.0,
        gt=0,
        description="The all-payer rates as a multiple of the fee schedule.",
        json_schema_extra={"unit": "ratio"},
    )
    risk_adjusted: bool = Field(
        True,
        description="Scale each hospital's target by its members' risk scores.",
        json_schema_extra={"unit": "flag"},
    )
    adverse_event_liability: float = Field(
        1.0,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Share of adverse-event cost borne by the hospital (complications come out "
        "of its budget: all, as under a price per stay).",
    )
    coinsurance: float = Field(
        0.0,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Patient share of the volume part (the Part A deductible is not modelled).",
    )
    deductible_applies: bool = Field(
        False,
        json_schema_extra={"unit": "flag"},
        description="No deductible applies.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> AllPayerBudgetParams:
        if (self.budget_pmpm is None) == (self.base_months is None):
            raise ValueError(
                "give budget_pmpm (one target per member for every hospital) or base_months "
                "(each hospital's own revenue over those months), not both"
            )
        return self


class AllPayerBudget(PaymentModel):
    """A hospital's revenue target with rates adjusted to meet it (module docstring)."""

    name = "all_payer_budget"
    Params = AllPayerBudgetParams
    params: AllPayerBudgetParams
    summary = (
        "pays each hospital its annual revenue target, with all-payer rates adjusted to meet "
        "it and a share of volume changes paid"
    )

    def __init__(self, params: AllPayerBudgetParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        #: the contract's first year, and the payer's rate level when it began: the target
        #: grows by its own annual update, not by the trends' price updates (a cap on revenue
        #: growth)
        self._start: tuple[int, float] | None = None
        #: each hospital's target per unit of members' risk from its base months (with
        #: base_months), in money of the payer's rates then
        self._base: np.ndarray | None = None

    def begin(self, base: Base) -> None:
        """Each hospital's target per unit of its members' risk scores (per member when the
        target is not risk-adjusted) is its revenue per unit of them over the base months; a
        hospital that had none gets the mean of the others'."""
        revenue = base.revenue
        per = base.risk if self.params.risk_adjusted else base.members
        mean = revenue.sum() / per.sum() if per.sum() > 0 else 0.0
        self._base = np.divide(revenue, per, out=np.full(revenue.size, mean), where=per > 0)

    def marginal_revenue(self, fee_per_unit, rate_multiplier: float = 1.0):
        """``v`` × the all-payer rate of a unit."""
        return self.params.volume_share * self.params.rate_level * fee_per_unit

    def expected_allowed(self, fee_value, condition, function, risk, rate_multiplier):
        """The charges at the all-payer rates (what cost sharing would apply to)."""
        return self.params.rate_level * np.asarray(fee_value, np.float64)

    def target(self, panel: Panel, year: int) -> np.ndarray:
        """This month's revenue target of each hospital (one twelfth of the annual)."""
        prm = self.params
        if self._start is None:
            self._start = (year, panel.rate_multiplier)
        first_year, rate = self._start
        growth = (1.0 + prm.annual_update) ** (year - first_year)
        base = panel.risk_sum if prm.risk_adjusted else panel.members
        if self._base is not None:
            # each hospital's own history, already at the payer's rates of the base months
            return base * self._base * growth
        assert prm.budget_pmpm is not None
        return base * (prm.budget_pmpm * growth * rate)

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """A risk-adjusted target follows the members' coded risk, and ``1 − v`` of it is
        paid whatever the volume: ``(1 − v)·target`` per unit of relative coding; nothing
        when the target is not risk-adjusted."""
        target = self.target(panel, position.year) if self.params.risk_adjusted else 0.0
        per = (1.0 - self.params.volume_share) * target * np.ones(panel.members.size)
        return CodingRevenue(np.zeros(position.size), per)

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """``v`` of the charges per claim (cost-shared), ``(1 − v)`` of the target per
        hospital as a lump."""
        prm = self.params
        v = prm.volume_share
        return Settlement(
            allowed=claims.fee_value * (v * prm.rate_level),
            lump=(1.0 - v) * self.target(panel, claims.year),
        )
