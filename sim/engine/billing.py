"""Medicare Part B fee-for-service billing rules for outpatient therapy.

Pure functions and immutable data; no module-level mutable state is read or written by the
functions. Every number and rule here comes from these sources (keys of docs/references.bib):

* the Medicare Physician Fee Schedule (PFS) payment formula
  ``(wRVU·GPCI_w + peRVU·GPCI_pe + mpRVU·GPCI_mp) × CF``;
* the Medicare Claims Processing Manual (CMS Pub. 100-04), chapter 5, §20.2 for the 8-minute
  rule and the assignment of timed units to codes;
* the multiple procedure payment reduction (MPPR, 50% of practice expense after the first unit),
  the 85% assistant (CQ/CO modifier) rate, the annual Part B deductible, 20% coinsurance and the
  KX-modifier thresholds.

Contents
--------
``units_from_minutes``  8-minute rule (vectorized).
``allocate_units``      total-time method: distribute a day's timed units over codes.
``split_minutes``       largest-remainder split of a minute total by shares.
``fee``                 PFS payment for one unit of one code.
``visit_payment``       payment for one visit (one day) with MPPR and assistant reduction.
``visit_fee_table``     fee / billed units / minutes per planned number of timed units.
``apply_cost_sharing``  deductible then coinsurance (vectorized).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "ASSISTANT_RATE",
    "CONVERSION_FACTORS",
    "CONVERSION_FACTOR_2024_TO_MAR8",
    "CONVERSION_FACTOR_2026_QUALIFYING_APM",
    "DEFAULT_CODES",
    "GPCI",
    "KX_THRESHOLD",
    "MEDICAL_REVIEW_THRESHOLD",
    "MINUTES_PER_UNIT",
    "MIN_MINUTES_FOR_UNIT",
    "MPPR_PE_RATE",
    "PART_B_COINSURANCE",
    "PART_B_DEDUCTIBLE",
    "CodeRVU",
    "VisitTable",
    "allocate_units",
    "apply_cost_sharing",
    "fee",
    "split_minutes",
    "units_from_minutes",
    "visit_fee_table",
    "visit_payment",
]

# ---------------------------------------------------------------------------------------------
# Constants [@cms_pfs2025]
# ---------------------------------------------------------------------------------------------

#: Length of one timed-code unit in minutes (CMS Pub. 100-04 ch. 5 §20.2).
MINUTES_PER_UNIT = 15
#: Minimum timed minutes in a day to bill one unit: "< 8 → 0" ([@cms_claims_ch5], ch. 5 §20.2).
MIN_MINUTES_FOR_UNIT = 8

#: PFS conversion factor ($ per RVU) by calendar year [@cms_pfs2025].
#: 2024: $33.2875 applies from 9 March 2024; the earlier 2024 value was $32.7442 (1 Jan–8 Mar),
#: kept separately as ``CONVERSION_FACTOR_2024_TO_MAR8``.
#: 2026: $33.4009 is the non-qualifying-APM factor; qualifying APM participants get
#: ``CONVERSION_FACTOR_2026_QUALIFYING_APM``.
CONVERSION_FACTORS: dict[int, float] = {
    2023: 33.8872,
    2024: 33.2875,
    2025: 32.3465,
    2026: 33.4009,
}
#: 2024 CF in force 1 Jan–8 Mar 2024 [@cms_pfs2025].
CONVERSION_FACTOR_2024_TO_MAR8 = 32.7442
#: 2026 CF for qualifying APM participants [@cms_pfs2025].
CONVERSION_FACTOR_2026_QUALIFYING_APM = 33.5675

#: Annual Part B deductible in $ [@cms_partb2025].
PART_B_DEDUCTIBLE: dict[int, float] = {2024: 240.0, 2025: 257.0, 2026: 283.0}
#: KX-modifier threshold per beneficiary-year in $ (PT+SLP combined; OT separate)
#: [@cms_pfs2025].
KX_THRESHOLD: dict[int, float] = {2024: 2330.0, 2025: 2410.0, 2026: 2480.0}
#: Targeted medical review above this annual amount in $ [@cms_pfs2025].
MEDICAL_REVIEW_THRESHOLD = 3000.0
#: Part B coinsurance after the deductible [@cms_partb2025].
PART_B_COINSURANCE = 0.20
#: Services furnished in whole or part by a therapy assistant (CQ/CO modifiers) are paid at 85%
#: [@cms_pfs2025].
ASSISTANT_RATE = 0.85
#: MPPR: after the first unit of the day, the practice-expense part of each further therapy unit
#: is paid at 50% [@cms_pfs2025].
MPPR_PE_RATE = 0.50


# ---------------------------------------------------------------------------------------------
# 8-minute rule and the total-time method (CMS Pub. 100-04 ch. 5 §20.2)
# ---------------------------------------------------------------------------------------------


def units_from_minutes(total_minutes: int | np.integer | np.ndarray) -> int | np.ndarray:
    """Billable 15-minute units for a day's total timed minutes (the "8-minute rule").

    [@cms_claims_ch5] / Medicare Claims Processing Manual (CMS Pub. 100-04) ch. 5 §20.2:
    ``< 8 → 0; 8–22 → 1; 23–37 → 2; 38–52 → 3; 53–67 → 4; 68–82 → 5``, then one more unit per
    further 15 minutes, a remainder of ≥ 8 minutes earning a unit. Closed form:
    ``0 if m < 8 else (m + 7) // 15`` (for ``m ≥ 8`` this is ``m // 15 + (m % 15 >= 8)``).

    Args:
        total_minutes: a non-negative integer (Python or numpy) or a numpy integer array.

    Returns:
        ``int`` for scalar input; an ``int64`` array of the same shape for array input.

    Raises:
        TypeError: if the input is not integer-valued (floats and bools are rejected).
        ValueError: if any minute count is negative.
    """
    if isinstance(total_minutes, np.ndarray):
        if total_minutes.dtype == np.bool_ or not np.issubdtype(total_minutes.dtype, np.integer):
            raise TypeError(f"minutes must be an integer array, got dtype {total_minutes.dtype}")
        minutes = total_minutes.astype(np.int64)
        if np.any(minutes < 0):
            raise ValueError("minutes must be non-negative")
        return np.where(minutes < MIN_MINUTES_FOR_UNIT, 0, (minutes + 7) // MINUTES_PER_UNIT)
    if isinstance(total_minutes, bool | np.bool_) or not isinstance(
        total_minutes, int | np.integer
    ):
        raise TypeError(f"minutes must be an integer, got {type(total_minutes).__name__}")
    m = int(total_minutes)
    if m < 0:
        raise ValueError(f"minutes must be non-negative, got {m}")
    return 0 if m < MIN_MINUTES_FOR_UNIT else (m + 7) // MINUTES_PER_UNIT


def allocate_units(minutes_by_code: Mapping[str, int]) -> dict[str, int]:
    """Distribute a day's timed units over timed codes by the total-time method.

    CMS Pub. 100-04 ch. 5 §20.2 [@cms_claims_ch5]: the number of units is set by the *total*
    timed minutes of the day, ``units_from_minutes(sum(minutes))``. Assignment:

    1. each code first gets ``minutes // 15`` whole units (a service performed for at least 15
       minutes is billed for at least one unit, at least 30 minutes for two, ...);
    2. the remaining units (total minus whole units; never negative, and never more than the
       number of codes with a non-zero remainder) go one at a time to the codes with the largest
       remaining minutes ``minutes − 15·whole_units``.

    Tie rule for step 2: equal remaining minutes → the code with more total minutes wins; still
    equal → the code listed first in ``minutes_by_code`` wins. Codes whose remainder is 0 are
    never given an extra unit, so a code with 0 minutes always gets 0.

    CMS examples reproduced: 33 min 97110 + 7 min 97140 (40 min, 3 units) → 97110×2, 97140×1;
    7 min 97110 + 7 min 97140 (14 min, 1 unit) → first listed ×1; 24 min 97112 + 23 min 97110
    (47 min, 3 units) → 97112×2, 97110×1.

    Args:
        minutes_by_code: timed code → direct timed minutes that day (non-negative integers).
            Iteration order is the listing order used for ties.

    Returns:
        code → units, with the same keys in the same order; values sum to
        ``units_from_minutes(sum(minutes_by_code.values()))``.

    Raises:
        ValueError: if any minute count is negative.
        TypeError: if any minute count is not an integer.
    """
    minutes: dict[str, int] = {}
    for code, m in minutes_by_code.items():
        if isinstance(m, bool | np.bool_) or not isinstance(m, int | np.integer):
            raise TypeError(f"minutes for {code!r} must be an integer, got {type(m).__name__}")
        if m < 0:
            raise ValueError(f"minutes for {code!r} must be non-negative, got {m}")
        minutes[code] = int(m)

    total_units = int(units_from_minutes(sum(minutes.values())))
    units = {code: m // MINUTES_PER_UNIT for code, m in minutes.items()}
    remaining = total_units - sum(units.values())
    # remaining >= 0 because (M + 7) // 15 >= M // 15 >= sum(m // 15) for M = sum(m). And with p
    # codes having a positive remainder r_i <= 14, remaining = units(sum r_i) <= (14p + 7) // 15
    # <= p, so every extra unit goes to a distinct code that has leftover minutes.
    candidates = [
        (-(m - MINUTES_PER_UNIT * units[code]), -m, order, code)
        for order, (code, m) in enumerate(minutes.items())
        if m - MINUTES_PER_UNIT * units[code] > 0
    ]
    candidates.sort()
    for _, _, _, code in candidates[: max(remaining, 0)]:
        units[code] += 1
    return units


def split_minutes(total_minutes: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Split an integer minute total over codes in proportion to ``shares``.

    Largest-remainder (Hamilton) rounding: each code gets ``floor(total·share)``; the minutes
    left over go one at a time to the codes with the largest fractional parts, ties to the code
    listed first. The result sums exactly to ``total_minutes``.

    Args:
        total_minutes: non-negative integer.
        shares: code → non-negative share; shares must sum to 1 (tolerance 1e-9).

    Raises:
        ValueError: on negative total, negative/non-finite shares, or shares not summing to 1.
    """
    total = int(total_minutes)
    if total < 0:
        raise ValueError(f"total_minutes must be non-negative, got {total}")
    _check_shares(shares)
    quotas = {code: total * float(s) for code, s in shares.items()}
    alloc = {code: math.floor(q) for code, q in quotas.items()}
    leftover = total - sum(alloc.values())
    order = sorted(
        ((-(q - alloc[code]), i, code) for i, (code, q) in enumerate(quotas.items())),
    )
    for _, _, code in order[: max(leftover, 0)]:
        alloc[code] += 1
    return alloc


def _check_shares(shares: Mapping[str, float]) -> None:
    if not shares:
        raise ValueError("shares must not be empty")
    values = [float(s) for s in shares.values()]
    if any(not math.isfinite(s) or s < 0 for s in values):
        raise ValueError("shares must be finite and non-negative")
    if not math.isclose(sum(values), 1.0, rel_tol=0.0, abs_tol=1e-9):
        raise ValueError(f"shares must sum to 1, got {sum(values)!r}")


# ---------------------------------------------------------------------------------------------
# RVUs, GPCIs and the PFS formula
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeRVU:
    """Relative value units of one HCPCS/CPT code (non-facility setting).

    ``timed``: True for 15-minute timed codes (billed by the 8-minute rule), False for untimed
    codes billed as 1 unit per service [@cms_pfs2025].
    """

    code: str
    work: float
    pe: float
    mp: float
    timed: bool
    description: str

    @property
    def total(self) -> float:
        """Total RVU ``work + pe + mp`` (GPCI 1, full practice expense)."""
        return self.work + self.pe + self.mp


@dataclass(frozen=True, slots=True)
class GPCI:
    """Geographic practice cost indices of a payment locality (work, PE, malpractice)."""

    work: float
    pe: float
    mp: float

    @classmethod
    def national(cls) -> GPCI:
        """National (unadjusted) indices: 1.0, 1.0, 1.0."""
        return cls(1.0, 1.0, 1.0)


def fee(
    rvu: CodeRVU,
    gpci: GPCI,
    conversion_factor: float,
    payer_multiplier: float = 1.0,
    *,
    pe_fraction: float = 1.0,
) -> float:
    """Payment for one unit of one code under the Medicare PFS.

    [@cms_pfs2025] (Medicare PFS):
    ``(work·GPCI_w + pe·pe_fraction·GPCI_pe + mp·GPCI_mp) × CF × payer_multiplier``.

    ``pe_fraction`` scales the practice-expense component only; ``MPPR_PE_RATE`` (0.5) implements
    the multiple procedure payment reduction. ``payer_multiplier`` rescales the Medicare amount
    for other payers (1.0 = Medicare).
    """
    if conversion_factor < 0 or payer_multiplier < 0:
        raise ValueError("conversion_factor and payer_multiplier must be non-negative")
    if not 0.0 <= pe_fraction <= 1.0:
        raise ValueError(f"pe_fraction must be in [0, 1], got {pe_fraction}")
    rvu_adj = rvu.work * gpci.work + rvu.pe * pe_fraction * gpci.pe + rvu.mp * gpci.mp
    return rvu_adj * conversion_factor * payer_multiplier


def _rvu(code: str, work: float, pe: float, mp: float, timed: bool, desc: str) -> CodeRVU:
    return CodeRVU(code=code, work=work, pe=pe, mp=mp, timed=timed, description=desc)


#: Default non-facility RVUs.
#:
#: Calibration: the *total* RVU of each code is chosen (to 2 decimals) so that
#: ``total × CF_2025 ($32.3465)`` reproduces [@cms_pfs2025]'s approx. 2025 national non-facility
#: payment per unit (secondary sources there): 97110 ≈ $28.8 (0.89 → $28.79), 97112 ≈ $32.4
#: (1.00 → $32.35), 97140 ≈ $27.2 (0.84 → $27.17), 97530 ≈ $35 (1.08 → $34.93), 97535 ≈ $32
#: (0.99 → $32.02), 97165/97166/97167 ≈ $100 each (3.09 → $99.95).
#:
#: ASSUMPTION: the split of each total into work/PE/MP is NOT from a source; it is a plausible
#: typical split (therapy codes ≈ 52% work, 45% PE, 3% MP; E/M ≈ 46% work, 50% PE, 4% MP). Only
#: the totals were calibrated. The split matters for GPCI adjustment and for MPPR (which cuts PE).
#:
#: ASSUMPTION: 97161–97163 (PT evaluations), 99213 and 99214 are not priced in the sources;
#: their values are approx., assumption; verify against the CMS RVU files: PT evaluations set equal
#: to the OT evaluations (≈ $100), 99213 ≈ $91 (2.81 RVU), 99214 ≈ $129 (3.99 RVU).
DEFAULT_CODES: dict[str, CodeRVU] = {
    c.code: c
    for c in (
        # Timed 15-minute therapy codes ([@cms_pfs2025] approx. 2025 prices).
        _rvu("97110", 0.46, 0.40, 0.03, True, "therapeutic exercise, each 15 min"),
        _rvu("97112", 0.52, 0.45, 0.03, True, "neuromuscular re-education, each 15 min"),
        _rvu("97140", 0.44, 0.38, 0.02, True, "manual therapy techniques, each 15 min"),
        _rvu("97530", 0.56, 0.49, 0.03, True, "therapeutic activities, each 15 min"),
        _rvu("97535", 0.51, 0.45, 0.03, True, "self-care/home management training, each 15 min"),
        # PT evaluations, untimed -- approx., assumption; verify against the CMS RVU files.
        _rvu("97161", 1.61, 1.39, 0.09, False, "PT evaluation, low complexity"),
        _rvu("97162", 1.61, 1.39, 0.09, False, "PT evaluation, moderate complexity"),
        _rvu("97163", 1.61, 1.39, 0.09, False, "PT evaluation, high complexity"),
        # OT evaluations, untimed ([@cms_pfs2025]: 97165 ≈ $100, 97166/97167 reported equal).
        _rvu("97165", 1.61, 1.39, 0.09, False, "OT evaluation, low complexity"),
        _rvu("97166", 1.61, 1.39, 0.09, False, "OT evaluation, moderate complexity"),
        _rvu("97167", 1.61, 1.39, 0.09, False, "OT evaluation, high complexity"),
        # Office visits, untimed -- approx., assumption; verify against the CMS RVU files.
        _rvu("99213", 1.30, 1.40, 0.11, False, "office/outpatient visit, established, low MDM"),
        _rvu("99214", 1.92, 1.92, 0.15, False, "office/outpatient visit, established, mod. MDM"),
    )
}


# ---------------------------------------------------------------------------------------------
# One visit: MPPR and assistant reduction
# ---------------------------------------------------------------------------------------------


def visit_payment(
    minutes_by_code: Mapping[str, int],
    untimed_codes: Sequence[str],
    codes: Mapping[str, CodeRVU],
    gpci: GPCI,
    conversion_factor: float,
    payer_multiplier: float = 1.0,
    *,
    assistant: bool = False,
    mppr: bool = True,
) -> float:
    """Allowed amount for one visit (one patient, one day).

    ``mppr=False`` pays every unit with full practice expense (to switch the reduction off).

    Units billed ([@cms_claims_ch5]; CMS Pub. 100-04 ch. 5 §20.2): timed codes get
    ``allocate_units(minutes_by_code)`` units; each entry of ``untimed_codes`` bills 1 unit
    (a code listed twice bills twice).

    MPPR [@cms_pfs2025]: exactly one unit of the day is paid with full practice expense; every
    other unit has its PE component paid at ``MPPR_PE_RATE`` (50%). The full-PE unit is chosen by
    ranking all units of the day (timed and untimed) by the code's PE RVU, highest first; ties
    go to untimed units before timed units, then to the code listed first (``untimed_codes``
    order, then ``minutes_by_code`` order). Since GPCI_pe is common to all units of a visit,
    ranking by PE RVU equals ranking by PE payment.

    Assistant ([@cms_pfs2025], CQ/CO modifiers): if ``assistant`` is True every *timed* unit
    (after MPPR) is paid at ``ASSISTANT_RATE`` (85%); untimed evaluation/visit codes are not
    reduced (they are furnished by the therapist/physician).

    Raises:
        KeyError: if a code is missing from ``codes``.
        ValueError: if a code in ``minutes_by_code`` is untimed or a code in ``untimed_codes`` is
            timed, or on negative minutes.
    """
    for code in minutes_by_code:
        if not codes[code].timed:
            raise ValueError(f"code {code!r} is untimed; list it in untimed_codes")
    for code in untimed_codes:
        if codes[code].timed:
            raise ValueError(f"code {code!r} is timed; give its minutes in minutes_by_code")

    timed_units = allocate_units(minutes_by_code)
    # (is_timed, code, n_units) in tie-break order: untimed first, then listing order.
    lines: list[tuple[bool, str, int]] = [(False, code, 1) for code in untimed_codes]
    lines += [(True, code, n) for code, n in timed_units.items() if n > 0]
    if not lines:
        return 0.0

    full_pe_line = min(range(len(lines)), key=lambda i: (-codes[lines[i][1]].pe, lines[i][0], i))
    total = 0.0
    for i, (is_timed, code, n) in enumerate(lines):
        rvu = codes[code]
        full = fee(rvu, gpci, conversion_factor, payer_multiplier)
        reduced = fee(rvu, gpci, conversion_factor, payer_multiplier, pe_fraction=MPPR_PE_RATE)
        if not mppr:
            reduced = full
        line = full + (n - 1) * reduced if i == full_pe_line else n * reduced
        if is_timed and assistant:
            line *= ASSISTANT_RATE
        total += line
    return total


class VisitTable(NamedTuple):
    """Per-visit pricing by planned number of timed units ``k = 0..max_units``."""

    fees: np.ndarray  #: float64, allowed amount of the visit
    billed_units: np.ndarray  #: int64, units billed under the 8-minute rule
    minutes: np.ndarray  #: int64, total timed minutes of the visit


def visit_fee_table(
    timed_shares: Mapping[str, float],
    codes: Mapping[str, CodeRVU],
    gpci: GPCI,
    conversion_factor: float,
    payer_multiplier: float = 1.0,
    *,
    max_units: int,
    minutes_per_unit: float = 15.0,
) -> VisitTable:
    """Price a visit for each planned number of timed units ``k = 0..max_units``.

    For each ``k``: total timed minutes ``= round(k·minutes_per_unit)`` (round half up);
    split over codes by ``timed_shares`` with ``split_minutes`` (largest remainder, exact sum);
    priced by ``visit_payment`` with no untimed codes and no assistant. ``billed_units[k]`` is
    ``units_from_minutes(minutes[k])``; with ``minutes_per_unit == 15`` it equals ``k``.
    ``fees[0] == 0``.

    Monotonicity: the table is priced honestly, not smoothed. With ``minutes_per_unit == 15``
    each step adds one billed unit and, for ``DEFAULT_CODES``, fees rise strictly in ``k``
    (checked by property tests). With other ``minutes_per_unit`` two consecutive ``k`` can bill
    the same number of units while the total-time method hands the extra unit to a different,
    cheaper code, so ``fees`` can *fall* (e.g. 40 → 50 minutes over five codes). Callers that
    need a monotone schedule must impose it themselves.

    Args:
        timed_shares: timed code → share of the visit's timed minutes (sum to 1).
        max_units: largest planned number of units (≥ 0).
        minutes_per_unit: minutes actually delivered per planned unit (> 0).
    """
    if max_units < 0:
        raise ValueError(f"max_units must be non-negative, got {max_units}")
    if not (math.isfinite(minutes_per_unit) and minutes_per_unit > 0):
        raise ValueError(f"minutes_per_unit must be positive, got {minutes_per_unit}")
    _check_shares(timed_shares)
    for code in timed_shares:
        if not codes[code].timed:
            raise ValueError(f"code {code!r} in timed_shares is untimed")

    ks = np.arange(max_units + 1, dtype=np.float64)
    minutes = np.floor(ks * minutes_per_unit + 0.5).astype(np.int64)
    fees = np.zeros(max_units + 1, dtype=np.float64)
    for k in range(1, max_units + 1):
        split = split_minutes(int(minutes[k]), timed_shares)
        fees[k] = visit_payment(split, (), codes, gpci, conversion_factor, payer_multiplier)
    billed = np.asarray(units_from_minutes(minutes), dtype=np.int64)
    return VisitTable(fees=fees, billed_units=billed, minutes=minutes)


# ---------------------------------------------------------------------------------------------
# Beneficiary cost sharing
# ---------------------------------------------------------------------------------------------


def apply_cost_sharing(
    allowed: float | np.ndarray,
    deductible_remaining: float | np.ndarray,
    coinsurance: float | np.ndarray,
    copay: float | np.ndarray = 0.0,
    *,
    trusted: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Beneficiary out-of-pocket for a claim: deductible first, then coinsurance, plus copay.

    [@cms_partb2025]: the beneficiary pays the annual Part B deductible, then 20% coinsurance
    (``PART_B_COINSURANCE``). Elementwise (broadcasting) over arrays, one element per
    independent claim/beneficiary:

    ``ded_part = min(allowed, deductible_remaining)``;
    ``oop = ded_part + coinsurance·(allowed − ded_part) + copay``;
    ``deductible_remaining_after = deductible_remaining − ded_part``.

    Claims of the same beneficiary are processed sequentially by feeding the returned remaining
    deductible into the next call. Inputs are not mutated.

    Returns:
        ``(oop, deductible_remaining_after)`` as float64 arrays (0-d for scalar inputs).

    ``trusted``: the engine's own call, whose deductible, coinsurance and copays are validated
    scenario values and state kept non-negative; only ``allowed`` (what a payment model says
    is owed) is checked, and float64 arrays are used without a copy.

    Raises:
        ValueError: if any input is negative or NaN, or coinsurance exceeds 1.
    """
    convert = np.asarray if trusted else np.array
    a = convert(allowed, dtype=np.float64)
    d = convert(deductible_remaining, dtype=np.float64)
    c = convert(coinsurance, dtype=np.float64)
    p = convert(copay, dtype=np.float64)
    checked = (("allowed", a),) if trusted else (
        ("allowed", a), ("deductible_remaining", d), ("coinsurance", c), ("copay", p)
    )  # fmt: skip
    for name, x in checked:
        if np.any(~(x >= 0)):
            raise ValueError(f"{name} must be non-negative (and not NaN)")
    if not trusted and np.any(c > 1):
        raise ValueError("coinsurance must be at most 1")
    ded_part = np.minimum(a, d)
    oop = ded_part + c * (a - ded_part) + p
    return oop, d - ded_part
