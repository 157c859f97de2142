"""Bundled (episode) payment: one price per episode of care, set by case-mix group.

The case-mix group is condition × functional level × comorbidity level, as in PDGM-like and
PDPM-like systems (REFERENCE.md §4-§6). The price is paid when the episode starts; further
units earn nothing at the margin, and complications inside the episode (adverse events) are the
provider's cost.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator, model_validator

from sim.payment.base import Claims, ContractParams, Panel, PaymentModel, Settlement


class BundledParams(ContractParams):
    base_rate: float = Field(
        ...,
        ge=0,
        description="Price of an episode with all case-mix weights 1.",
        json_schema_extra={"unit": "USD/episode"},
    )
    condition_weights: dict[str, float] = Field(
        {},
        description="Case-mix weight per condition group (missing groups weigh 1).",
        json_schema_extra={"unit": "ratio"},
    )
    function_cutoffs: list[float] = Field(
        [40.0, 70.0],
        description="Function at episode start separating the functional levels (low < c1 ≤ "
        "mid < c2 ≤ high).",
        json_schema_extra={"unit": "points (0-100)"},
    )
    function_weights: list[float] = Field(
        [1.3, 1.0, 0.8],
        description="Case-mix weight per functional level, low to high.",
        json_schema_extra={"unit": "ratio"},
    )
    comorbidity_cutoffs: list[float] = Field(
        [0.8, 1.5],
        description="Risk score separating the comorbidity levels.",
        json_schema_extra={"unit": "risk score"},
    )
    comorbidity_weights: list[float] = Field(
        [0.9, 1.0, 1.25],
        description="Case-mix weight per comorbidity level, low to high.",
        json_schema_extra={"unit": "ratio"},
    )
    adverse_event_liability: float = Field(
        1.0,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Share of adverse-event cost borne by the provider (inside the bundle: all).",
    )

    @field_validator("function_weights", "comorbidity_weights")
    @classmethod
    def _weights(cls, v: list[float]) -> list[float]:
        if any(w < 0 for w in v):
            raise ValueError("weights must be >= 0")
        return v

    @model_validator(mode="after")
    def _levels(self) -> BundledParams:
        for cut, w, what in (
            (self.function_cutoffs, self.function_weights, "function"),
            (self.comorbidity_cutoffs, self.comorbidity_weights, "comorbidity"),
        ):
            if len(w) != len(cut) + 1:
                raise ValueError(f"{what}_weights needs len({what}_cutoffs) + 1 entries")
            if sorted(cut) != list(cut):
                raise ValueError(f"{what}_cutoffs must increase")
        return self


class Bundled(PaymentModel):
    name = "bundled"
    Params = BundledParams
    summary = "pays one case-mix-adjusted price per episode, at its start"

    def __init__(self, params: BundledParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        unknown = set(params.condition_weights) - set(condition_names)
        if condition_names and unknown:
            raise ValueError(
                f"condition_weights: unknown condition(s) {sorted(unknown)}; "
                f"allowed: {list(condition_names)}"
            )
        self._cond_w = np.array(
            [params.condition_weights.get(c, 1.0) for c in condition_names] or [1.0]
        )

    def marginal_revenue(self, fee_per_unit: float) -> float:
        return 0.0

    def price(self, condition: np.ndarray, function: np.ndarray, risk: np.ndarray) -> np.ndarray:
        """Episode price at weight 1 × the case-mix weights (before the payer's rate level)."""
        p = self.params
        fl = np.searchsorted(np.asarray(p.function_cutoffs), function, side="right")
        cl = np.searchsorted(np.asarray(p.comorbidity_cutoffs), risk, side="right")
        return (
            p.base_rate
            * self._cond_w[condition]
            * np.asarray(p.function_weights)[fl]
            * np.asarray(p.comorbidity_weights)[cl]
        )

    def expected_allowed(self, fee_value, condition, function, risk, rate_multiplier):
        return self.price(condition, function, risk) * rate_multiplier

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        price = self.price(claims.condition, claims.function_at_start, claims.risk)
        allowed = np.where(claims.new_episode, price * claims.rate_multiplier, 0.0)
        return Settlement(allowed=allowed, lump=np.zeros_like(panel.members))
