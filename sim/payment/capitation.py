"""Capitation: a fixed, risk-adjusted amount per enrolled member per month (PMPM).

Paid whether or not care is used, so a unit of care earns nothing at the margin and the
provider bears the cost of adverse events (REFERENCE.md §1, §7). Risk adjustment multiplies
the PMPM by the member's risk score (normalised to mean 1.0, like CMS-HCC scores).
"""

from __future__ import annotations

from pydantic import Field

from sim.payment.base import Claims, ContractParams, Panel, PaymentModel, Settlement


class CapitationParams(ContractParams):
    """Parameters of a capitation contract: the PMPM at risk score 1."""

    pmpm: float = Field(
        ...,
        ge=0,
        description="Payment per member per month at risk score 1.",
        json_schema_extra={"unit": "USD/member-month"},
    )
    risk_adjusted: bool = Field(
        True,
        description="Multiply the PMPM by each member's risk score.",
        json_schema_extra={"unit": "flag"},
    )
    coinsurance: float = Field(
        0.0,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Patient share of claims (none under capitation).",
    )
    deductible_applies: bool = Field(
        False,
        json_schema_extra={"unit": "flag"},
        description="No deductible applies to capitated care.",
    )
    adverse_event_liability: float = Field(
        1.0,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Share of adverse-event cost borne by the provider (capitated: all).",
    )


class Capitation(PaymentModel):
    """A risk-adjusted payment per member per month, whatever is used."""

    name = "capitation"
    cares_for_members = True
    Params = CapitationParams
    summary = "pays a risk-adjusted amount per member per month, whatever is used"

    def marginal_revenue(self, fee_per_unit: float, rate_multiplier: float = 1.0) -> float:
        """Zero: the PMPM does not move with units."""
        return 0.0

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """No claim amounts; PMPM × members' risk (coded) × rate level per provider as a lump."""
        base = panel.risk_sum if self.params.risk_adjusted else panel.members
        return Settlement(
            allowed=claims.fee_value * 0.0,
            lump=base * (self.params.pmpm * panel.rate_multiplier),
        )
