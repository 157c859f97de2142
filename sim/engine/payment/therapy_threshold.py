"""Fee-for-service with an annual per-beneficiary therapy threshold, exceptions and review.

Medicare's outpatient therapy cap (from 1999, with an exceptions process from 2006) limited the
allowed amounts of a beneficiary's therapy in a calendar year; above the threshold a claim is
paid only with an exception (the KX modifier: the provider attests that the care is medically
necessary), and above a higher threshold claims go to manual medical review, which denies some
(from October 2012: $3,700 [@cms_pfs2025] gives today's KX threshold, $2,410 in 2025, and
targeted review above $3,000). The Bipartisan Budget Act of 2018 replaced the cap by the KX
threshold alone.

For a beneficiary with allowed amounts ``A`` so far this year and ``v`` this month (the fee
schedule × ``fee_multiplier``), the contract pays

    the part of v below the threshold T,
    × exception_rate                          for the part between T and the review threshold R,
    × exception_rate × (1 − review_denial_rate) for the part above R,

and denies the rest (neither the payer nor the patient pays it: reported as ``claims_denied``).
Exceptions and review are expected shares, not draws. Care *not sought* because of the
threshold (deterrence) is what providers learn from the revenue they lose above it, and what
the comparison with an arm without the threshold shows beyond the denials. At the margin the
closed form sees the fee (a beneficiary below the threshold): an approximation for those above.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from sim.engine.payment.base import Claims, Panel, Settlement
from sim.engine.payment.ffs import FeeForService, FFSParams
from sim.engine.payment.prices import Position, Prices, grid


def paid_share(
    before: np.ndarray,
    value: np.ndarray,
    threshold: float,
    review_threshold: float,
    exception_rate: float,
    review_denial_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """What is paid and denied of ``value`` for beneficiaries whose allowed amounts so far this
    year are ``before`` (module docstring)."""
    after = before + value

    def part(lo: float, hi: float) -> np.ndarray:
        return np.clip(np.minimum(after, hi) - np.maximum(before, lo), 0.0, None)

    below = part(0.0, threshold)
    middle = part(threshold, review_threshold)
    above = part(review_threshold, np.inf)
    paid = below + exception_rate * middle + exception_rate * (1 - review_denial_rate) * above
    return paid, value - paid


class TherapyThresholdParams(FFSParams):
    """Parameters of fee-for-service with an annual therapy threshold."""

    threshold: float = Field(
        ...,
        ge=0,
        description="Annual allowed amounts per beneficiary above which claims need an "
        "exception (the cap; $1,920 in 2014, the KX threshold since 2018).",
        json_schema_extra={"unit": "USD/beneficiary-year"},
    )
    exception_rate: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of claims above the threshold billed with an exception (KX); the "
        "rest is denied (0: a hard cap).",
        json_schema_extra={"unit": "fraction"},
    )
    review_threshold: float | None = Field(
        None,
        ge=0,
        description="Annual allowed amounts above which claims undergo manual medical review "
        "($3,700 from Oct 2012); none: no review.",
        json_schema_extra={"unit": "USD/beneficiary-year"},
    )
    review_denial_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of reviewed claims denied.",
        json_schema_extra={"unit": "fraction"},
    )

    @model_validator(mode="after")
    def _review_above(self) -> TherapyThresholdParams:
        if self.review_threshold is not None and self.review_threshold < self.threshold:
            raise ValueError(
                f"review_threshold ({self.review_threshold}) must be at least threshold "
                f"({self.threshold})"
            )
        return self


class TherapyThreshold(FeeForService):
    """Fee-for-service with an annual per-beneficiary threshold, exceptions and medical
    review (module docstring)."""

    name = "therapy_threshold"
    Params = TherapyThresholdParams
    params: TherapyThresholdParams
    summary = (
        "pays the fee schedule up to an annual per-beneficiary threshold, above it only with an "
        "exception and after medical review"
    )

    def __init__(
        self, params: TherapyThresholdParams, condition_names: tuple[str, ...] = ()
    ) -> None:
        super().__init__(params, condition_names)
        self._year: int | None = None
        self._allowed = np.zeros(0)  # per patient number: allowed amounts so far this year

    def prices(self, position: Position, units: int) -> Prices:
        """Each further unit earns the fee until the patient's allowed amounts this year reach
        the threshold, then the fee × the exception rate, then × (1 − the review denial rate)
        above the review threshold: the price falls at the cap."""
        prm = self.params
        patient = np.asarray(position.patient, np.int64)
        before = np.zeros(patient.size)
        if self._year == position.year:
            inside = patient < self._allowed.size
            before[inside] = self._allowed[patient[inside]]
        fee = np.asarray(position.fee_per_unit, np.float64) * prm.fee_multiplier
        value = fee[:, None] * grid(units)[None, :]
        review = np.inf if prm.review_threshold is None else prm.review_threshold
        paid, _ = paid_share(
            before[:, None], value, prm.threshold, review, prm.exception_rate,
            prm.review_denial_rate,
        )  # fmt: skip
        return Prices(paid, np.zeros(patient.size))

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """The fee schedule, less what the threshold denies; the year's totals updated."""
        prm = self.params
        assert claims.patient is not None, "an annual threshold needs patient numbers"
        patient = np.asarray(claims.patient, np.int64)
        if self._year != claims.year:
            self._year = claims.year
            self._allowed[:] = 0.0
        if patient.size and patient.max() >= self._allowed.size:
            grown = np.zeros(int(patient.max()) + 1)
            grown[: self._allowed.size] = self._allowed
            self._allowed = grown
        value = claims.fee_value * prm.fee_multiplier
        before = self._allowed[patient]
        review = np.inf if prm.review_threshold is None else prm.review_threshold
        paid, denied = paid_share(
            before, value, prm.threshold, review, prm.exception_rate, prm.review_denial_rate
        )
        self._allowed[patient] = before + value
        return Settlement(allowed=paid, lump=np.zeros_like(panel.members), denied=denied)
