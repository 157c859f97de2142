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
With the default ``exceptions = "expected"``, exceptions and review are expected shares, not
draws. Care *not sought* because of the
threshold (deterrence) is what providers learn from the revenue they lose above it, and what
the comparison with an arm without the threshold shows beyond the denials. At the margin the
closed form sees the fee (a beneficiary below the threshold): an approximation for those above.

**Exceptions as decisions** (``exceptions = "decision"``; the default, ``"expected"``, is the
rule above). Under the 2006 rule a claim above the cap is paid only with an exception the
provider requests, documenting medical necessity, and a service above the cap without one is
not covered: the beneficiary is liable for its full price, notice or not, as it was before
2013 (a statutory limit on coverage [S, validation/research.md A5]; CMS told providers to
refund "any private payments collected because of the cap" once an exception was granted:
[V] on cms.gov, [@cms_dra_fact_sheet]). With ``"decision"``:

- *the provider's request* (:class:`sim.engine.features.exceptions.CapExceptions`, at the first
  month of care that takes a beneficiary over the cap with care still planned): it requests an
  exception, at ``exception_cost`` per beneficiary-year (documentation), when what the
  exception is expected to earn exceeds that cost, :func:`requests`: ``exception_approval`` ×
  the revenue of the rest of the year's planned care above the cap × the chance the patient
  would stop it without cover (1 − :func:`continuation`). A request is approved with
  probability ``exception_approval`` (a counter-based draw);
- *the claims* (:meth:`TherapyThreshold.settle`): with an approved exception, the part above
  the cap is paid like any claim (cost shared; × (1 − ``review_denial_rate``) above the review
  threshold); without one (none requested, or denied), Medicare pays nothing of it and the
  patient pays it in full (``Settlement.liable``: out of pocket, received by the provider);
- *the patient going on* (the feature, next month): a patient in care left without cover
  continues its episode with probability :func:`continuation`: the world's care-seeking rule
  (``oop_elasticity``, ``oop_reference``) at the full price of the rest of its planned care,
  relative to the price at which it sought care; otherwise it stops (care not sought);
- *deterrence at care seeking* (:meth:`TherapyThreshold.expected_uncovered`): a new elective
  need's expected out-of-pocket counts, in full, the part of the episode above the cap the
  patient expects no exception to cover (all of it once left without cover this year; none
  once an exception was approved; otherwise 1 − ``exception_approval``: it expects its
  provider to request one), so the world's calibrated elasticity deters: no new behavioural
  parameter.

The provider's price of a unit (:meth:`prices`) is the fee either way (the patient pays what
Medicare does not; less the review's expected denials above a review threshold); what the cap
changes for it is whether the patient goes on. Not modelled: learning-by-doing with the
exceptions process (approval rising with a provider's experience), which the engine's
learning of styles (:class:`sim.engine.behaviour.Experience`, a fit of patient value against
intensity) does not carry.
"""

from __future__ import annotations

from typing import Literal

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
    exception_rate: float | np.ndarray,
    review_denial_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """What is paid and denied of ``value`` for beneficiaries whose allowed amounts so far this
    year are ``before`` (module docstring); ``exception_rate`` one number or one per
    beneficiary (with exceptions as decisions: 1 where one was approved, else 0)."""
    after = before + value

    def part(lo: float, hi: float) -> np.ndarray:
        return np.clip(np.minimum(after, hi) - np.maximum(before, lo), 0.0, None)

    below = part(0.0, threshold)
    middle = part(threshold, review_threshold)
    above = part(review_threshold, np.inf)
    paid = below + exception_rate * middle + exception_rate * (1 - review_denial_rate) * above
    return paid, value - paid


#: a beneficiary's standing under ``exceptions = "decision"`` this year: no exception decided
#: yet; an exception approved (the care above the cap is covered); left without cover this
#: month (no request, or a denied one: the patient decides next month whether to go on); left
#: without cover, the patient's choice made
UNDECIDED, COVERED, UNCOVERED_NEW, UNCOVERED = 0, 1, 2, 3


def continuation(
    full: np.ndarray, covered: np.ndarray, elasticity: float, reference: float
) -> np.ndarray:
    """The chance a patient in care goes on when the rest of its planned care costs it
    ``full`` out of pocket instead of ``covered``: the world's care-seeking rule
    (:func:`sim.engine.clinical.seek_probability`, ``(1 + oop / reference)^elasticity``) at the
    new price relative to the price at which it sought care, at most 1."""
    ratio = (1.0 + np.asarray(full, np.float64) / reference) / (
        1.0 + np.asarray(covered, np.float64) / reference
    )
    return np.minimum(np.power(ratio, elasticity), 1.0)


def exception_gain(approval: float, revenue: np.ndarray, going_on: np.ndarray) -> np.ndarray:
    """What requesting an exception is expected to earn the provider: the revenue of the rest
    of the year's planned care above the cap, which it keeps anyway when the patient goes on
    paying in full (``going_on``: :func:`continuation`) and keeps otherwise only when the
    exception is approved (``approval``)."""
    return approval * np.asarray(revenue, np.float64) * (1.0 - np.asarray(going_on, np.float64))


def requests(gain: np.ndarray, cost: float) -> np.ndarray:
    """The provider requests an exception exactly when what it is expected to earn exceeds
    what requesting costs (``exception_cost``)."""
    return np.asarray(gain, np.float64) > cost


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
    exceptions: Literal["expected", "decision"] = Field(
        "expected",
        description="How claims above the threshold get an exception: 'expected', a share of "
        "them (exception_rate) and the rest denied, paid by no one; 'decision', the provider "
        "requests one per beneficiary-year when it is worth its cost (exception_cost), it is "
        "approved with probability exception_approval, and without one the patient pays the "
        "care above the threshold in full (the 2006 rule) and may stop; patients expect it when "
        "they seek care (see the contract's docstring).",
        json_schema_extra={"unit": "choice"},
    )
    exception_approval: float = Field(
        1.0,
        ge=0,
        le=1,
        description="With exceptions = 'decision': probability that a request for an exception "
        "is approved.",
        json_schema_extra={"unit": "probability"},
    )
    exception_cost: float = Field(
        0.0,
        ge=0,
        description="With exceptions = 'decision': what requesting an exception costs the "
        "provider (documentation of medical necessity), per beneficiary-year.",
        json_schema_extra={"unit": "USD/beneficiary-year"},
    )

    @model_validator(mode="after")
    def _review_above(self) -> TherapyThresholdParams:
        if self.review_threshold is not None and self.review_threshold < self.threshold:
            raise ValueError(
                f"review_threshold ({self.review_threshold}) must be at least threshold "
                f"({self.threshold})"
            )
        return self

    @model_validator(mode="after")
    def _one_kind_of_exception(self) -> TherapyThresholdParams:
        if self.exceptions == "decision" and self.exception_rate != 1.0:
            raise ValueError(
                "exception_rate applies only with exceptions = 'expected'; with 'decision' "
                "providers request exceptions (exception_approval, exception_cost): leave "
                "exception_rate out"
            )
        if self.exceptions == "expected" and (
            self.exception_approval != 1.0 or self.exception_cost != 0.0
        ):
            raise ValueError(
                "exception_approval and exception_cost apply only with exceptions = 'decision'"
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
        #: with exceptions = "decision", per patient number: its standing this year
        #: (:data:`UNDECIDED` …) and, left without cover, its chance of going on
        self._status = np.zeros(0, np.int8)
        self._going_on = np.zeros(0)

    @property
    def decides(self) -> bool:
        """Whether providers request exceptions (``exceptions = "decision"``)."""
        return self.params.exceptions == "decision"

    def start_year(self, year: int) -> None:
        """The calendar year of the month: a new year starts every beneficiary afresh."""
        if self._year != year:
            self._year = year
            self._allowed[:] = 0.0
            self._status[:] = UNDECIDED
            self._going_on[:] = 0.0

    def _grow(self, patient: np.ndarray) -> None:
        """Room for patient numbers up to ``patient.max()``."""
        if patient.size and patient.max() >= self._allowed.size:
            n = int(patient.max()) + 1
            for name in ("_allowed", "_status", "_going_on"):
                old = getattr(self, name)
                grown = np.zeros(n, old.dtype)
                grown[: old.size] = old
                setattr(self, name, grown)

    def year_to_date(self, patient: np.ndarray) -> np.ndarray:
        """The allowed amounts of each patient so far this year (the fee schedule × the fee
        level, whether paid or not)."""
        patient = np.asarray(patient, np.int64)
        self._grow(patient)
        return self._allowed[patient]

    def status(self, patient: np.ndarray) -> np.ndarray:
        """Each patient's standing this year (:data:`UNDECIDED`, :data:`COVERED`, …)."""
        patient = np.asarray(patient, np.int64)
        self._grow(patient)
        return self._status[patient]

    def decide(self, patient: np.ndarray, approved: np.ndarray, going_on: np.ndarray) -> None:
        """The exception decided for ``patient`` this year: covered when ``approved``, else
        without cover, with the patient's chance of going on (decided next month)."""
        patient = np.asarray(patient, np.int64)
        self._grow(patient)
        self._status[patient] = np.where(approved, COVERED, UNCOVERED_NEW)
        self._going_on[patient] = np.where(approved, 0.0, going_on)

    def patients_to_decide(self) -> tuple[np.ndarray, np.ndarray]:
        """The patients left without cover last month, and their chance of going on; they
        count as having decided from now on."""
        new = np.flatnonzero(self._status == UNCOVERED_NEW)
        self._status[new] = UNCOVERED
        return new, self._going_on[new]

    def expected_uncovered(self, fee_value: np.ndarray, patient: np.ndarray) -> np.ndarray | None:
        """With ``exceptions = "decision"``: of an episode whose services are worth
        ``fee_value`` on the fee schedule, the part above the cap (given the patient's amounts
        so far this year) that the patient expects no exception to cover and so to pay in
        full: all of it once it was left without cover this year, none once an exception was
        approved, and otherwise 1 − ``exception_approval`` of it (it expects its provider to
        request one). None with ``"expected"``."""
        if not self.decides:
            return None
        prm = self.params
        before = self.year_to_date(patient)
        value = np.asarray(fee_value, np.float64) * prm.fee_multiplier
        above = np.clip(before + value - np.maximum(before, prm.threshold), 0.0, None)
        st = self.status(patient)
        uncovered = np.where(
            st == COVERED, 0.0, np.where(st == UNDECIDED, 1.0 - prm.exception_approval, 1.0)
        )
        return uncovered * above

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
        self.start_year(claims.year)
        self._grow(patient)
        value = claims.fee_value * prm.fee_multiplier
        before = self._allowed[patient]
        review = np.inf if prm.review_threshold is None else prm.review_threshold
        self._allowed[patient] = before + value
        if not self.decides:
            paid, denied = paid_share(
                before, value, prm.threshold, review, prm.exception_rate, prm.review_denial_rate
            )
            return Settlement(allowed=paid, lump=np.zeros_like(panel.members), denied=denied)
        # an exception approved covers the care above the cap like any claim (review
        # included); without one the patient pays it in full
        covered = self._status[patient] == COVERED
        paid, denied = paid_share(
            before, value, prm.threshold, review, covered.astype(np.float64),
            prm.review_denial_rate,
        )  # fmt: skip
        below, _ = paid_share(before, value, prm.threshold, np.inf, 0.0, 0.0)
        liable = np.where(covered, 0.0, value - below)
        return Settlement(
            allowed=paid,
            lump=np.zeros_like(panel.members),
            denied=np.where(covered, denied, 0.0),
            liable=liable,
        )
