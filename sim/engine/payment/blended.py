"""Blended payment: a fixed part per member per month plus a reduced fee per unit.

With fixed part K' and fee p' per unit, the provider's optimum is
q = q_B − (c − p')/(α·d) (Ellis & McGuire 1986) [@ellis1986]: a mix of the two can reach the
efficient quantity.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sim.engine.payment.base import Claims, ContractParams, Panel, PaymentModel, Settlement
from sim.engine.payment.prices import CodingRevenue, Position


class BlendedParams(ContractParams):
    """Parameters of a blended contract: a PMPM part and a share of the fee schedule."""

    pmpm: float = Field(
        ...,
        ge=0,
        description="Fixed part: payment per member per month at risk score 1.",
        json_schema_extra={"unit": "USD/member-month"},
    )
    fee_fraction: float = Field(
        ...,
        ge=0,
        le=1,
        description="Share of the fee schedule paid per unit (the reduced fee p').",
        json_schema_extra={"unit": "fraction"},
    )
    risk_adjusted: bool = Field(
        True,
        description="Multiply the fixed part by each member's risk score.",
        json_schema_extra={"unit": "flag"},
    )
    adverse_event_liability: float = Field(
        0.5,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Share of adverse-event cost borne by the provider (assumption: half).",
    )


class Blended(PaymentModel):
    """Blended payment: part fixed per member (risk-adjusted PMPM), part a share of the fee
    schedule per unit [@ellis1986]."""

    name = "blended"
    cares_for_members = True
    Params = BlendedParams
    params: BlendedParams
    summary = "pays a fixed part per member per month plus a reduced fee per unit"

    def marginal_revenue(
        self, fee_per_unit: np.ndarray | float, rate_multiplier: float = 1.0
    ) -> np.ndarray | float:
        """One more unit earns the fee share of the fee schedule."""
        return self.params.fee_fraction * fee_per_unit

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """The fixed part follows the members' coded risk (``pmpm·rate·Σ coded risk`` per unit of
        relative coding, risk-adjusted); the fee share does not read risk."""
        per = panel.risk_sum * (self.params.pmpm * panel.rate_multiplier)
        if not self.params.risk_adjusted:
            per = per * 0.0
        return CodingRevenue(np.zeros(position.size), per)

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """The fee share of each claim's fee-schedule value; the PMPM part per provider as a
        lump."""
        base = panel.risk_sum if self.params.risk_adjusted else panel.members
        return Settlement(
            allowed=claims.fee_value * self.params.fee_fraction,
            lump=base * (self.params.pmpm * panel.rate_multiplier),
        )
