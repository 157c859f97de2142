"""Skilled nursing facility (Part A) payment, before and after PDPM [@cms_snf_fy2019].

In a skilled-nursing setting one service unit is one day of stay. Both models pay each month
for that month's days of the stay, as the sum of the per diems of those days; a whole stay
(up to the 100 covered days) is one payment period (``period_months = 240``, the longest
episode), so claims carry the
days of the stay so far and the stay day of this month's first day is
``period_units − units + 1``. Days past day 100 are not covered and are paid nothing.

- ``snf_legacy`` (RUG-IV-like, minutes-driven): per diem = nursing rate × case-mix weight + a
  rehabilitation add-on set by the therapy minutes per week, counted as RUG-IV counted them
  (individual in full, concurrent ÷ 2, group ÷ 4); the top ("ultra high") level needs
  ≥ 720 minutes/week.
- ``snf_pdpm`` (PDPM-like, from Oct 2019): per diem = the case-mix-adjusted PT, OT, SLP,
  nursing and NTA components plus a non-case-mix component, with the variable per diem (PT and
  OT 2% less from day 21 and every 7 days after; NTA at 300% on days 1-3). Therapy minutes are
  not a payment factor; group plus concurrent therapy is limited to 25% of minutes.

Patient cost sharing is Medicare's daily SNF coinsurance on covered days 21-100 (returned as
the settlement's ``patient_share``), not the generic deductible and coinsurance. Complications
(adverse events) go back to the hospital and are paid by the payer, not the SNF.
"""

from __future__ import annotations

from itertools import pairwise
from typing import ClassVar

import numpy as np
from pydantic import Field, field_validator

from sim.engine import rules
from sim.engine.payment.base import Claims, Panel, PaymentModel, Settlement
from sim.engine.payment.casemix import CaseMix, CaseMixParams
from sim.engine.payment.prices import CodingRevenue, Position, Prices, by_difference, grid

#: per diem tables over the covered days 1..100 (index d − 1 is day d)
_DAYS = np.arange(1, rules.SNF_COVERED_DAYS + 1)
_COVERED = np.ones(rules.SNF_COVERED_DAYS)
_THERAPY_FACTOR = rules.pdpm_therapy_factor(_DAYS).astype(np.float64)
_NTA_FACTOR = rules.pdpm_nta_factor(_DAYS).astype(np.float64)


class SNFParams(CaseMixParams):
    """Cost sharing and liability common to both skilled-nursing contracts."""

    daily_coinsurance: float = Field(
        209.50,
        ge=0,
        description="Patient coinsurance per covered day on days 21-100 of a stay (Medicare "
        "2025: $209.50/day [@cms_partb2025]; coinsurance starts on day 21 [@cms_snf_fy2019]).",
        json_schema_extra={"unit": "USD/day"},
    )
    coinsurance: float = Field(
        0.0, ge=0, le=1, json_schema_extra={"unit": "fraction"},
        description="Generic patient share of the allowed amount (Medicare SNF: none; the "
        "patient pays the daily coinsurance instead).",
    )  # fmt: skip
    deductible_applies: bool = Field(
        False, json_schema_extra={"unit": "flag"},
        description="Whether SNF days count toward the payer's annual deductible (Medicare "
        "SNF: no; the Part A deductible is met in the qualifying hospital stay).",
    )  # fmt: skip
    adverse_event_liability: float = Field(
        0.0, ge=0, le=1, json_schema_extra={"unit": "fraction"},
        description="Share of adverse-event cost borne by the SNF (complications go back to "
        "the hospital and are paid by Medicare: none).",
    )  # fmt: skip


def _stay_days(claims: Claims) -> tuple[np.ndarray, np.ndarray]:
    """(stay day of this month's first day, days of stay this month) per patient. Without
    ``period_units`` every stay is taken to start this month."""
    days = np.asarray(claims.units, np.int64)
    so_far = days if claims.period_units is None else np.asarray(claims.period_units, np.int64)
    return np.maximum(so_far - days + 1, 1), days


def _patient_share(
    daily_coinsurance: float, first_day: np.ndarray, days: np.ndarray, allowed: np.ndarray
) -> np.ndarray:
    """Daily coinsurance × this month's days on covered stay days 21..100, at most allowed."""
    owed = daily_coinsurance * rules.snf_coinsurance_days(first_day, days)
    return np.minimum(owed, allowed)


def _minutes(m: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n) if m is None else np.asarray(m, np.float64)


class SkilledNursing(PaymentModel):
    """What both skilled-nursing contracts share: a whole stay is one payment period, SNF
    admissions are referrals (no elective demand), and each month's days are paid with the
    daily coinsurance as the patient's share. Subclasses say what the month's days pay."""

    Params: ClassVar[type[SNFParams]] = SNFParams
    params: SNFParams
    period_months = 240

    def __init__(self, params: SNFParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        self.case_mix = CaseMix(params, condition_names)

    def expected_allowed(self, fee_value, condition, function, risk, rate_multiplier):
        # SNF admissions are referrals from a hospital stay, not elective choices
        """Zero: what patients pay is the daily coinsurance, set in settle."""
        return np.zeros(np.asarray(fee_value).shape)

    def stay_month(self, claims: Claims, first_day: np.ndarray, days: np.ndarray) -> np.ndarray:
        """What this month's days of each stay pay at rate level 1 (covered days only)."""
        raise NotImplementedError

    def days_payment(self, first_day, days, condition, function, risk) -> np.ndarray:
        """What ``days`` days of stay from day ``first_day`` pay at rate level 1, apart from
        anything their therapy minutes add (covered days only; arrays broadcast)."""
        raise NotImplementedError

    def prices(self, position: Position, units: int) -> Prices:
        """Each further day of the stay at its per diem by day of stay: days past the covered
        100 earn nothing, and under the variable per diem later days earn less. A stay is one
        payment period, so ``period_units`` are the days so far."""
        first = np.asarray(position.period_units, np.int64)[:, None] + 1
        days = grid(units).astype(np.int64)[None, :]
        schedule = self.days_payment(
            first,
            days,
            np.asarray(position.condition)[:, None],
            np.asarray(position.function)[:, None],
            np.asarray(position.risk)[:, None],
        )
        schedule = schedule * position.rate_multiplier
        return Prices(np.broadcast_to(schedule, (position.size, units + 1)).copy(),
                      np.zeros(position.size))  # fmt: skip

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """Coding moves each day's per diem through the stay's case-mix weights: the finite
        difference of :meth:`prices` at risk scores coded 1% higher
        (:func:`~sim.engine.payment.prices.by_difference`); nothing per member."""
        return CodingRevenue(by_difference(self, position, units), np.zeros(panel.members.size))

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """The month's days of covered stay at the model's per diem; the daily coinsurance from
        day 21 as the patient's share."""
        first, days = _stay_days(claims)
        allowed = self.stay_month(claims, first, days) * claims.rate_multiplier
        return Settlement(
            allowed=allowed,
            lump=np.zeros_like(panel.members),
            patient_share=_patient_share(self.params.daily_coinsurance, first, days, allowed),
        )


class LegacyParams(SNFParams):
    """Parameters of the RUG-IV-like per diem: the rehabilitation levels' add-ons by therapy
    minutes per week."""

    nursing_rate: float = Field(
        150.0,
        ge=0,
        description="Per diem at case-mix weight 1 without rehabilitation: the nursing "
        "component plus the non-case-mix part (assumption: RUG-IV-era order of magnitude).",
        json_schema_extra={"unit": "USD/day"},
    )
    rehab_rates: list[float] = Field(
        [0.0, 130.0, 230.0, 300.0, 370.0, 470.0],
        description="Rehabilitation add-on per day by level: none, low, medium, high, very "
        "high, ultra high (≥ 45, 150, 325, 500, 720 counted minutes/week). Assumption: steps "
        "of the order of the RUG-IV FY2019 rate differences between rehabilitation levels "
        "(approx.); ultra high pays ≈ $620/day at weight 1, very high ≈ $520, and a mix of "
        "mostly ultra-high stays averages ≈ $550-600/day.",
        json_schema_extra={"unit": "USD/day"},
    )

    @field_validator("rehab_rates")
    @classmethod
    def _rehab(cls, v: list[float]) -> list[float]:
        if len(v) != len(rules.RUG_LEVELS):
            raise ValueError(
                f"rehab_rates needs {len(rules.RUG_LEVELS)} entries ({', '.join(rules.RUG_LEVELS)})"
            )
        if any(r < 0 for r in v):
            raise ValueError("rehab_rates must be >= 0")
        if any(b < a for a, b in pairwise(v)):
            raise ValueError("rehab_rates must not decrease with the level")
        return v


class SNFLegacy(SkilledNursing):
    """RUG-IV-like: the per diem steps up with the therapy minutes delivered."""

    name = "snf_legacy"
    Params = LegacyParams
    params: LegacyParams
    summary = (
        "pays a per diem of nursing × case mix plus a rehabilitation add-on set by therapy "
        "minutes per week (RUG-IV-like); daily coinsurance from day 21"
    )
    #: RUG-IV counting: concurrent minutes ÷ 2, group ÷ 4; no cap on either
    therapy_minute_weights = (1.0, 0.5, 0.25)
    group_concurrent_cap = None

    def __init__(self, params: LegacyParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        self.rehab = np.asarray(params.rehab_rates, np.float64)

    def therapy_revenue_per_day(self, counted_minutes_per_day: np.ndarray) -> np.ndarray:
        """The rehabilitation add-on of the level reached by these counted minutes per day
        (× 7 per week), at rate level 1."""
        return self.rehab[rules.rug_level(7.0 * np.asarray(counted_minutes_per_day))]

    def marginal_revenue(self, fee_per_unit, rate_multiplier: float = 1.0) -> float:
        """Revenue of one more day apart from its therapy minutes: the nursing rate at weight
        1. The rehabilitation add-on depends on the minutes (``therapy_revenue_per_day``); the
        engine adds the value of a day's therapy to the closed form for length of stay."""
        return self.params.nursing_rate * rate_multiplier

    def rehab_level(self, claims: Claims) -> np.ndarray:
        """Rehabilitation level (0 = none ... 5 = ultra high) of each patient this month, from
        counted therapy minutes per week."""
        n = np.asarray(claims.units).size
        counted = rules.rug_counted_minutes(
            _minutes(claims.therapy_individual, n),
            _minutes(claims.therapy_concurrent, n),
            _minutes(claims.therapy_group, n),
        )
        days = np.asarray(claims.units, np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_week = np.where(days > 0, counted / days * 7.0, 0.0)
        return rules.rug_level(per_week)

    def per_diem(self, claims: Claims) -> np.ndarray:
        """Per diem this month at rate level 1: nursing × weight + rehabilitation add-on."""
        w = self.case_mix.weight(claims.condition, claims.function_at_start, claims.risk)
        return self.params.nursing_rate * w + self.rehab[self.rehab_level(claims)]

    def days_payment(self, first_day, days, condition, function, risk) -> np.ndarray:
        """The nursing part of the per diem (the rehabilitation add-on is the therapy
        decision's: ``therapy_revenue_per_day``)."""
        w = self.case_mix.weight(condition, function, risk)
        return self.params.nursing_rate * w * rules.stay_payment(first_day, days, _COVERED)

    def stay_month(self, claims: Claims, first_day: np.ndarray, days: np.ndarray) -> np.ndarray:
        """The month's days at the per diem of the rehabilitation level its minutes reach."""
        covered = rules.stay_payment(first_day, days, _COVERED)  # days 1..100 only
        return self.per_diem(claims) * covered


class PDPMParams(SNFParams):
    """Parameters of the PDPM-like per diem: component rates, the case-mix index and the
    variable per diem."""

    pt: float = Field(
        62.04,
        ge=0,
        description="PT component per diem at weight 1 (FY2021 unadjusted federal urban rate, "
        "SNF PPS final rule 85 FR 47594 [@cms_snf_fy2021], Table 3).",
        json_schema_extra={"unit": "USD/day"},
    )
    ot: float = Field(
        57.75,
        ge=0,
        description="OT component per diem at weight 1 (FY2021 urban, 85 FR 47594 "
        "[@cms_snf_fy2021]).",
        json_schema_extra={"unit": "USD/day"},
    )
    slp: float = Field(
        23.16,
        ge=0,
        description="Speech-language pathology component at weight 1 (FY2021 urban, "
        "85 FR 47594 [@cms_snf_fy2021]).",
        json_schema_extra={"unit": "USD/day"},
    )
    nursing: float = Field(
        108.16,
        ge=0,
        description="Nursing component at weight 1 (FY2021 urban, 85 FR 47594 [@cms_snf_fy2021]).",
        json_schema_extra={"unit": "USD/day"},
    )
    nta: float = Field(
        81.60,
        ge=0,
        description="Non-therapy ancillary component at weight 1 (FY2021 urban, 85 FR 47594 "
        "[@cms_snf_fy2021]).",
        json_schema_extra={"unit": "USD/day"},
    )
    non_case_mix: float = Field(
        96.85,
        ge=0,
        description="Non-case-mix component, paid whatever the case mix (FY2021 urban, "
        "85 FR 47594 [@cms_snf_fy2021]).",
        json_schema_extra={"unit": "USD/day"},
    )
    case_mix_index: float = Field(
        1.3,
        ge=0,
        description="Scale on every case-mix-adjusted component (PT, OT, SLP, nursing, NTA). "
        "PDPM's published case-mix indexes mostly lie between about 0.7 and 4 and average "
        "well above 1, while this model's weights average about 1. Assumption: 1.3 gives a "
        "mean per diem ≈ $550/day over a 25-30 day stay at weight 1, the order of the legacy "
        "per diem; calibrate it so that the mean per diem matches the target.",
        json_schema_extra={"unit": "ratio"},
    )


class PDPM(SkilledNursing):
    """PDPM-like: case-mix components with the variable per diem; minutes do not pay.

    Component weights from this contract's case-mix tables (condition weight c, function-level
    weight f, comorbidity-level weight k): PT and OT c × f, SLP c, nursing f × k, NTA k.
    """

    name = "snf_pdpm"
    Params = PDPMParams
    params: PDPMParams
    summary = (
        "pays a per diem of case-mix components PT, OT, SLP, nursing and NTA with the "
        "variable per diem (PDPM-like); therapy minutes do not pay; daily coinsurance from "
        "day 21"
    )
    therapy_minute_weights = (1.0, 1.0, 1.0)
    group_concurrent_cap = rules.PDPM_GROUP_CONCURRENT_CAP

    def weights(
        self, condition: np.ndarray, function: np.ndarray, risk: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per patient case-mix weights of the (PT and OT, SLP, nursing, NTA) components."""
        cm = self.case_mix
        c = cm.condition[np.asarray(condition)]
        f = cm.function_weight(function)
        k = cm.comorbidity_weight(risk)
        return c * f, c, f * k, k

    def marginal_revenue(self, fee_per_unit, rate_multiplier: float = 1.0) -> float:
        """Revenue of one more day: the per diem at weight 1 on day 21 (the first day of the
        PT/OT decline, NTA at 100%). An approximation: later days pay slightly less and case
        mix moves it; the engine's closed form for length of stay uses it."""
        p = self.params
        s = p.case_mix_index
        day21 = rules.pdpm_per_diem(
            rules.SNF_COINSURANCE_FIRST_DAY,
            pt=s * p.pt, ot=s * p.ot, slp=s * p.slp, nursing=s * p.nursing, nta=s * p.nta,
            non_case_mix=p.non_case_mix,
        )  # fmt: skip
        return float(day21) * rate_multiplier

    def stay_month_payment(
        self,
        first_day: np.ndarray,
        days: np.ndarray,
        condition: np.ndarray,
        function: np.ndarray,
        risk: np.ndarray,
    ) -> np.ndarray:
        """Sum of the per diems of stay days ``first_day .. first_day + days − 1`` (covered
        days only), at rate level 1."""
        p = self.params
        w_ptot, w_slp, w_nurs, w_nta = self.weights(condition, function, risk)
        therapy_days = rules.stay_payment(first_day, days, _THERAPY_FACTOR)
        nta_days = rules.stay_payment(first_day, days, _NTA_FACTOR)
        covered = rules.stay_payment(first_day, days, _COVERED)
        case_mix = (
            (p.pt + p.ot) * w_ptot * therapy_days
            + (p.slp * w_slp + p.nursing * w_nurs) * covered
            + p.nta * w_nta * nta_days
        )
        return p.case_mix_index * case_mix + p.non_case_mix * covered

    def days_payment(self, first_day, days, condition, function, risk) -> np.ndarray:
        """The per diems of the days, with the variable per diem by day of stay."""
        return self.stay_month_payment(first_day, days, condition, function, risk)

    def stay_month(self, claims: Claims, first_day: np.ndarray, days: np.ndarray) -> np.ndarray:
        """The month's days at the PDPM per diem, with the variable per diem by day of stay."""
        return self.stay_month_payment(
            first_day, days, claims.condition, claims.function_at_start, claims.risk
        )
