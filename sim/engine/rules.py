"""Payment rules of the post-acute and episode reforms, as pure, vectorized functions.

Each function implements one published rule [@cms_snf_fy2019; @cms_hh_cy2019; @cms_cjr2015] and
is tested against worked examples computed by hand. Payment models (``sim/engine/payment/``) and
care settings compose them.

- Skilled nursing, PDPM-like (from Oct 2019): the variable per diem (PT and OT components fall
  2% from day 21 and every 7 days after; NTA at 300% on days 1-3) and the 25% limit on group
  plus concurrent therapy per discipline.
- Skilled nursing, legacy minutes-driven (RUG-IV-like): the rehabilitation level set by therapy
  minutes per week, the top ("ultra high") level at 720 minutes or more; concurrent and group
  minutes counted as CMS counted them.
- Home health, legacy (before 2020): 60-day episodes with therapy-visit thresholds.
- Home health, PDGM-like (from 2020): 30-day periods, case-mix groups, and the low-utilization
  payment adjustment (LUPA).
- Hospital episode bundles, CJR-like: reconciliation of episode spending against a target.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

# ---------------------------------------------------------------------------------------------
# Skilled nursing: PDPM-like variable per diem [@cms_snf_fy2019]

#: PT and OT components: 100% on days 1-20, then 2% less from day 21 and every 7 days after
PDPM_THERAPY_FIRST_DAY_OF_DECLINE = 21
PDPM_THERAPY_STEP = 0.02
PDPM_THERAPY_STEP_DAYS = 7
#: NTA component: 300% on days 1-3, 100% after
PDPM_NTA_HIGH_DAYS = 3
PDPM_NTA_HIGH_FACTOR = 3.0
#: coverage: up to 100 days per benefit period; beneficiary coinsurance from day 21
SNF_COVERED_DAYS = 100
SNF_COINSURANCE_FIRST_DAY = 21
#: PDPM: group plus concurrent minutes at most 25% of a discipline's minutes
PDPM_GROUP_CONCURRENT_CAP = 0.25


def pdpm_therapy_factor(day: np.ndarray | int) -> np.ndarray:
    """Variable per diem factor of the PT and OT components on day ``day`` (1-based) of a stay:
    1.0 on days 1-20, 0.98 on days 21-27, 0.96 on days 28-34, ... (2% per 7 days)."""
    d = np.asarray(day)
    if np.any(d < 1):
        raise ValueError("days of a stay are numbered from 1")
    steps = np.where(
        d >= PDPM_THERAPY_FIRST_DAY_OF_DECLINE,
        1 + (d - PDPM_THERAPY_FIRST_DAY_OF_DECLINE) // PDPM_THERAPY_STEP_DAYS,
        0,
    )
    return 1.0 - PDPM_THERAPY_STEP * steps


def pdpm_nta_factor(day: np.ndarray | int) -> np.ndarray:
    """Variable per diem factor of the NTA component: 3.0 on days 1-3, 1.0 after."""
    d = np.asarray(day)
    if np.any(d < 1):
        raise ValueError("days of a stay are numbered from 1")
    return np.where(d <= PDPM_NTA_HIGH_DAYS, PDPM_NTA_HIGH_FACTOR, 1.0)


def pdpm_per_diem(
    day: np.ndarray | int,
    *,
    pt: float,
    ot: float,
    slp: float,
    nursing: float,
    nta: float,
    non_case_mix: float,
) -> np.ndarray:
    """PDPM-like per diem on day ``day``: the case-mix-adjusted component rates (USD/day) with
    the variable per diem adjustment, plus the non-case-mix component. Therapy minutes do not
    enter."""
    return (
        (pt + ot) * pdpm_therapy_factor(day)
        + slp
        + nursing
        + nta * pdpm_nta_factor(day)
        + non_case_mix
    )


def stay_payment(first_day: np.ndarray, days: np.ndarray, per_diem_table: np.ndarray) -> np.ndarray:
    """Sum of per diems over days ``first_day .. first_day + days − 1`` of each stay, from a
    table of per diems by day (``per_diem_table[d − 1]`` is day ``d``); days past the table's
    end (e.g. beyond the 100 covered days) are paid nothing."""
    cum = np.concatenate([[0.0], np.cumsum(per_diem_table)])
    last = len(per_diem_table)
    start = np.clip(np.asarray(first_day) - 1, 0, last)
    end = np.clip(np.asarray(first_day) - 1 + np.asarray(days), 0, last)
    return cum[end] - cum[start]


def snf_coinsurance_days(first_day: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Days of ``first_day .. first_day + days − 1`` on which the beneficiary owes daily
    coinsurance: covered days from day 21 to day 100."""
    lo = np.maximum(np.asarray(first_day), SNF_COINSURANCE_FIRST_DAY)
    hi = np.minimum(np.asarray(first_day) + np.asarray(days) - 1, SNF_COVERED_DAYS)
    return np.maximum(hi - lo + 1, 0)


def cap_group_concurrent(
    individual: np.ndarray, concurrent: np.ndarray, group: np.ndarray, cap: float = 0.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the PDPM limit: group + concurrent minutes at most ``cap`` of a discipline's total.

    Minutes over the limit are moved to individual therapy (the provider must deliver them one
    to one), group before concurrent being cut, both in proportion. Totals are unchanged.
    Returns (individual, concurrent, group)."""
    ind = np.asarray(individual, np.float64)
    conc = np.asarray(concurrent, np.float64)
    grp = np.asarray(group, np.float64)
    total = ind + conc + grp
    shared = conc + grp
    allowed = cap * total
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(shared > allowed, allowed / shared, 1.0)
    new_conc, new_grp = conc * scale, grp * scale
    return total - new_conc - new_grp, new_conc, new_grp


# ---------------------------------------------------------------------------------------------
# Skilled nursing: legacy minutes-driven per diem (RUG-IV-like)

#: RUG-IV rehabilitation levels by therapy minutes per week (CMS, SNF PPS): ultra high ≥ 720,
#: very high ≥ 500, high ≥ 325, medium ≥ 150, low ≥ 45; below 45 no rehabilitation group
RUG_LEVELS = ("none", "low", "medium", "high", "very_high", "ultra_high")
RUG_MINUTE_THRESHOLDS = (45, 150, 325, 500, 720)


def rug_counted_minutes(
    individual: np.ndarray, concurrent: np.ndarray, group: np.ndarray
) -> np.ndarray:
    """Therapy minutes as RUG-IV counted them (from FY2011-12): individual in full, concurrent
    divided by 2 (one therapist, two residents), group divided by 4."""
    return np.asarray(individual) + np.asarray(concurrent) / 2.0 + np.asarray(group) / 4.0


def rug_level(minutes_per_week: np.ndarray) -> np.ndarray:
    """Rehabilitation level index (0 = none ... 5 = ultra high) for counted minutes per week."""
    return np.searchsorted(np.asarray(RUG_MINUTE_THRESHOLDS), minutes_per_week, side="right")


# ---------------------------------------------------------------------------------------------
# Home health [@cms_hh_cy2019]

#: legacy therapy-visit thresholds of a 60-day episode
HH_THRESHOLDS_2000_2007 = (10,)
HH_THRESHOLDS_2008_2019 = (6, 14, 20)


def threshold_payment(
    visits: np.ndarray, base: np.ndarray | float, thresholds: Sequence[int], steps: Sequence[float]
) -> np.ndarray:
    """Legacy home-health episode payment: the base rate plus ``steps[i]`` for each threshold
    ``thresholds[i]`` the episode's therapy visits reach (visits ≥ threshold)."""
    if len(thresholds) != len(steps):
        raise ValueError("one step per threshold")
    v = np.asarray(visits)
    pay = np.asarray(base, np.float64) + np.zeros(v.shape)
    for t, add in zip(thresholds, steps, strict=True):
        pay = pay + np.where(v >= t, add, 0.0)
    return pay


def lupa_payment(
    visits: np.ndarray,
    threshold: np.ndarray | int,
    period_price: np.ndarray | float,
    per_visit: np.ndarray | float,
) -> np.ndarray:
    """PDGM-like period payment: the case-mix period price, unless the period has fewer visits
    than its group's low-utilization threshold, in which case each visit is paid per visit."""
    v = np.asarray(visits)
    return np.where(v < np.asarray(threshold), v * np.asarray(per_visit), period_price)


# ---------------------------------------------------------------------------------------------
# Hospital episode bundles [@cms_cjr2015]


def reconcile(
    spending: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    downside_share: float,
    stop_gain: float = 0.20,
    stop_loss: float = 0.20,
) -> np.ndarray:
    """CJR-like reconciliation payment to the hospital (negative: repayment).

    Savings (target − spending > 0) are paid to the hospital up to ``stop_gain`` × target.
    Overruns are repaid in the share ``downside_share`` (0 while downside risk is phased in, 1
    at full risk), up to ``stop_loss`` × target."""
    s = np.asarray(spending, np.float64)
    t = np.asarray(target, np.float64)
    if not 0.0 <= downside_share <= 1.0:
        raise ValueError("downside_share must be in [0, 1]")
    diff = t - s
    gain = np.minimum(np.maximum(diff, 0.0), stop_gain * t)
    loss = np.minimum(np.maximum(-diff, 0.0) * downside_share, stop_loss * t)
    return gain - loss
