"""Fee-for-service: pays the fee schedule for every billed service (volume-based).

The fee schedule is built the Medicare way in :mod:`sim.engine.billing` (RVU × conversion factor ×
GPCI), times the payer's rate level. The patient pays the annual deductible, then 20%
coinsurance (Medicare Part B [@cms_partb2025]). Adverse events are billed to the payer.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from sim.engine.payment.base import Claims, ContractParams, Panel, PaymentModel, Settlement


class FFSParams(ContractParams):
    """Parameters of fee-for-service: the fee level relative to the fee schedule."""

    fee_multiplier: float = Field(
        1.0,
        gt=0,
        description="Scales the fee schedule in this contract (on top of the payer's rate level).",
        json_schema_extra={"unit": "ratio"},
    )


class FeeForService(PaymentModel):
    """Fee-for-service: each claim's fee-schedule value (RVU × CF × GPCI), times the fee level."""

    name = "ffs"
    Params: ClassVar[type[FFSParams]] = FFSParams
    params: FFSParams
    summary = "pays the fee schedule per billed unit; patient pays deductible and coinsurance"

    def marginal_revenue(
        self, fee_per_unit: np.ndarray | float, rate_multiplier: float = 1.0
    ) -> np.ndarray | float:
        """One more unit earns the fee schedule's value of a unit, times the fee level."""
        return self.params.fee_multiplier * fee_per_unit

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """Each claim's fee-schedule value times the fee level; no lumps."""
        return Settlement(
            allowed=claims.fee_value * self.params.fee_multiplier,
            lump=np.zeros_like(panel.members),
        )
