"""Bundled (episode) payment: one price per episode of care, set by case-mix group.

The case-mix group is condition × functional level × comorbidity level, as in PDGM-like and
PDPM-like systems [@cms_snf_fy2019; @cms_hh_cy2019; @cms_cjr2015]. The price is paid when the
episode starts; further units earn nothing at the margin, and complications inside the episode
(adverse events) are the provider's cost.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from sim.engine.payment.base import Base, BaseMonths, Claims, Panel, PaymentModel, Settlement
from sim.engine.payment.casemix import CaseMix, CaseMixParams
from sim.engine.payment.prices import CodingRevenue, Position, Prices, by_difference, straight


class BundledParams(CaseMixParams):
    """Parameters of a bundled contract: the episode base rate and case-mix weights."""

    base_rate: float | None = Field(
        None,
        ge=0,
        description="Price of an episode with all case-mix weights 1; or give base_months.",
        json_schema_extra={"unit": "USD/episode"},
    )
    base_months: BaseMonths | None = Field(
        None,
        description="[first, last) months of the run (from 0, before the switch that brings "
        "the contract in) whose payments set the base rate, budget-neutrally: the payer's "
        "revenue paid to every provider of the setting over those months per episode of care "
        "started (at a mean case-mix weight of 1), as the 1983 prospective payment system's "
        "rates were set from the costs paid before it; instead of base_rate.",
        json_schema_extra={"unit": "months"},
    )
    adverse_event_liability: float = Field(
        1.0,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Share of adverse-event cost borne by the provider (inside the bundle: all).",
    )

    @model_validator(mode="after")
    def _one_rate(self) -> BundledParams:
        if (self.base_rate is None) == (self.base_months is None):
            raise ValueError(
                "give base_rate (the price at weight 1) or base_months (budget-neutral from "
                "those months' payments), not both"
            )
        return self


class Bundled(PaymentModel):
    """One case-mix-adjusted price per episode, paid in its first month; units earn nothing
    more."""

    name = "bundled"
    Params: ClassVar[type[BundledParams]] = BundledParams
    params: BundledParams
    summary = "pays one case-mix-adjusted price per episode, at its start"

    def __init__(self, params: BundledParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        self.case_mix = CaseMix(params, condition_names)
        #: the price at weight 1: the parameter's, or set from the base months at the switch
        self.base_rate = params.base_rate

    def begin(self, base: Base) -> None:
        """The base rate: what the payer paid every provider over the base months per episode
        of care they started (over the whole run's providers, :meth:`run_totals`)."""
        revenue, episodes = self.run_totals(np.array([base.revenue.sum(), base.episodes.sum()]))
        self.base_rate = float(revenue / episodes) if episodes > 0 else 0.0

    def marginal_revenue(
        self, fee_per_unit: np.ndarray | float, rate_multiplier: float = 1.0
    ) -> float:
        """Zero: the episode price does not move with units."""
        return 0.0

    def price(self, condition: np.ndarray, function: np.ndarray, risk: np.ndarray) -> np.ndarray:
        """Episode price at weight 1 × the case-mix weights (before the payer's rate level)."""
        assert self.base_rate is not None, "a rate from base months is set at its switch"
        return self.base_rate * self.case_mix.weight(condition, function, risk)

    def prices(self, position: Position, units: int) -> Prices:
        """Units earn nothing; a case earns its case-mix price when it starts."""
        price = self.price(position.condition, position.function, position.risk)
        case = np.where(position.new_episode, price * position.rate_multiplier, 0.0)
        return straight(0.0, position.size, units, case)

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """Coding moves the case price through its comorbidity weight: the finite difference of
        :meth:`prices` at risk scores coded 1% higher
        (:func:`~sim.engine.payment.prices.by_difference`); nothing per member."""
        return CodingRevenue(by_difference(self, position, units), np.zeros(panel.members.size))

    def expected_allowed(self, fee_value, condition, function, risk, rate_multiplier):
        """The episode's case-mix price (what a patient's cost sharing applies to)."""
        return self.price(condition, function, risk) * rate_multiplier

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """The case-mix price for each episode that starts this month."""
        price = self.price(claims.condition, claims.function_at_start, claims.risk)
        allowed = np.where(claims.new_episode, price * claims.rate_multiplier, 0.0)
        return Settlement(allowed=allowed, lump=np.zeros_like(panel.members))
