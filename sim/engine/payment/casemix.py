"""Case-mix groups: condition × functional level × comorbidity level, as in DRG-, PDGM- and
PDPM-like systems [@cms_snf_fy2019; @cms_hh_cy2019; @cms_cjr2015]. Shared by the payment models
that price by group."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from sim.engine.payment.base import ContractParams, NonNegative, Points


class CaseMixParams(ContractParams):
    """Case-mix weights by condition group, functional level and comorbidity (risk) level."""

    condition_weights: dict[str, NonNegative] = Field(
        {},
        description="Case-mix weight per condition group (missing groups weigh 1).",
        json_schema_extra={"unit": "ratio"},
    )
    function_cutoffs: list[Points] = Field(
        [40.0, 70.0],
        description="Function at the start separating the functional levels (low < c1 ≤ "
        "mid < c2 ≤ high).",
        json_schema_extra={"unit": "points (0-100)"},
    )
    function_weights: list[NonNegative] = Field(
        [1.3, 1.0, 0.8],
        description="Case-mix weight per functional level, low to high.",
        json_schema_extra={"unit": "ratio"},
    )
    comorbidity_cutoffs: list[NonNegative] = Field(
        [0.8, 1.5],
        description="Risk score separating the comorbidity levels.",
        json_schema_extra={"unit": "risk score"},
    )
    comorbidity_weights: list[NonNegative] = Field(
        [0.9, 1.0, 1.25],
        description="Case-mix weight per comorbidity level, low to high.",
        json_schema_extra={"unit": "ratio"},
    )

    @model_validator(mode="after")
    def _levels(self) -> CaseMixParams:
        for cut, w, what in (
            (self.function_cutoffs, self.function_weights, "function"),
            (self.comorbidity_cutoffs, self.comorbidity_weights, "comorbidity"),
        ):
            if len(w) != len(cut) + 1:
                raise ValueError(f"{what}_weights needs len({what}_cutoffs) + 1 entries")
            if sorted(cut) != list(cut):
                raise ValueError(f"{what}_cutoffs must increase")
        return self


class CaseMix:
    """The case-mix weight of each patient under a contract's case-mix parameters."""

    def __init__(self, params: CaseMixParams, condition_names: tuple[str, ...]) -> None:
        unknown = set(params.condition_weights) - set(condition_names)
        if condition_names and unknown:
            raise ValueError(
                f"condition_weights: unknown condition(s) {sorted(unknown)}; "
                f"allowed: {list(condition_names)}"
            )
        self.params = params
        self.condition = np.array(
            [params.condition_weights.get(c, 1.0) for c in condition_names] or [1.0]
        )
        self.function_cutoffs = np.asarray(params.function_cutoffs)
        self.function_weights = np.asarray(params.function_weights)
        self.comorbidity_cutoffs = np.asarray(params.comorbidity_cutoffs)
        self.comorbidity_weights = np.asarray(params.comorbidity_weights)

    def function_weight(self, function: np.ndarray) -> np.ndarray:
        """Weight of each patient's functional level."""
        return self.function_weights[np.searchsorted(self.function_cutoffs, function, "right")]

    def comorbidity_weight(self, risk: np.ndarray) -> np.ndarray:
        """Weight of each patient's comorbidity level (by risk score)."""
        return self.comorbidity_weights[np.searchsorted(self.comorbidity_cutoffs, risk, "right")]

    def weight(self, condition: np.ndarray, function: np.ndarray, risk: np.ndarray) -> np.ndarray:
        """Each patient's case-mix weight from its condition, (coded) function and risk."""
        return (
            self.condition[condition]
            * self.function_weight(function)
            * self.comorbidity_weight(risk)
        )
