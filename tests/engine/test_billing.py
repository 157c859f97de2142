"""Tests for sim.engine.billing: Medicare Part B FFS rules ([@cms_pfs2025]; CMS Pub. 100-04 ch.
5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.billing import (
    ASSISTANT_RATE,
    CONVERSION_FACTOR_2024_TO_MAR8,
    CONVERSION_FACTOR_2026_QUALIFYING_APM,
    CONVERSION_FACTORS,
    DEFAULT_CODES,
    GPCI,
    KX_THRESHOLD,
    MPPR_PE_RATE,
    PART_B_COINSURANCE,
    PART_B_DEDUCTIBLE,
    CodeRVU,
    VisitTable,
    allocate_units,
    apply_cost_sharing,
    fee,
    split_minutes,
    units_from_minutes,
    visit_fee_table,
    visit_payment,
)

# No example database: keep the test run from writing .hypothesis/ into the repository.
PROPERTY = settings(database=None, max_examples=200, deadline=None)

CF_2025 = CONVERSION_FACTORS[2025]
NATIONAL = GPCI.national()
TIMED_DEFAULTS = [c for c, r in DEFAULT_CODES.items() if r.timed]

# ---------------------------------------------------------------------------------------------
# 8-minute rule
# ---------------------------------------------------------------------------------------------

EIGHT_MINUTE_TABLE = [
    (0, 0), (7, 0), (8, 1), (22, 1), (23, 2), (37, 2), (38, 3), (52, 3),
    (53, 4), (67, 4), (68, 5), (82, 5), (83, 6), (97, 6), (98, 7), (112, 7), (113, 8),
]  # fmt: skip


@pytest.mark.parametrize(("minutes", "units"), EIGHT_MINUTE_TABLE)
def test_units_from_minutes_table(minutes: int, units: int) -> None:
    """The 8-minute-rule table of [@cms_claims_ch5] holds at every edge, plus its extension."""
    assert units_from_minutes(minutes) == units
    assert isinstance(units_from_minutes(minutes), int)


def test_units_from_minutes_numpy_scalar() -> None:
    """A numpy integer scalar is accepted and gives a Python int."""
    assert units_from_minutes(np.int32(38)) == 3


def test_units_from_minutes_vectorized_matches_scalar() -> None:
    """Array input returns an int64 array of the same shape equal to the scalar results."""
    minutes = np.array([m for m, _ in EIGHT_MINUTE_TABLE], dtype=np.int32).reshape(1, -1)
    out = units_from_minutes(minutes)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.int64
    assert out.shape == minutes.shape
    assert out.ravel().tolist() == [u for _, u in EIGHT_MINUTE_TABLE]


def test_units_from_minutes_does_not_mutate_input() -> None:
    """The input array is left unchanged."""
    minutes = np.array([5, 40, 100])
    units_from_minutes(minutes)
    assert minutes.tolist() == [5, 40, 100]


def test_units_from_minutes_negative_scalar_raises() -> None:
    """Negative minutes are rejected with ValueError."""
    with pytest.raises(ValueError, match="non-negative"):
        units_from_minutes(-1)


def test_units_from_minutes_negative_array_raises() -> None:
    """An array with any negative entry is rejected with ValueError."""
    with pytest.raises(ValueError, match="non-negative"):
        units_from_minutes(np.array([10, -3]))


def test_units_from_minutes_rejects_non_integers() -> None:
    """Float and bool inputs are rejected with TypeError (minutes must be integers)."""
    with pytest.raises(TypeError, match="integer"):
        units_from_minutes(8.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="integer"):
        units_from_minutes(np.array([8.0]))
    with pytest.raises(TypeError, match="integer"):
        units_from_minutes(True)


def _units_oracle(m: int) -> int:
    """Independent oracle: whole 15-min blocks, plus one if the leftover is ≥ 8 minutes."""
    full, rem = divmod(m, 15)
    return full + (1 if rem >= 8 else 0)


@PROPERTY
@given(st.integers(min_value=0, max_value=10_000))
def test_units_from_minutes_matches_block_oracle(m: int) -> None:
    """Units equal whole 15-min blocks plus one for a remainder of ≥ 8 minutes."""
    assert units_from_minutes(m) == _units_oracle(m)


@PROPERTY
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=200))
def test_units_from_minutes_monotone(m: int, extra: int) -> None:
    """More minutes never bill fewer units."""
    assert units_from_minutes(m + extra) >= units_from_minutes(m)


# ---------------------------------------------------------------------------------------------
# Total-time method
# ---------------------------------------------------------------------------------------------


def test_allocate_cms_example_33_plus_7() -> None:
    """CMS example: 33 min 97110 + 7 min 97140 = 40 min → 97110 ×2, 97140 ×1."""
    assert allocate_units({"97110": 33, "97140": 7}) == {"97110": 2, "97140": 1}


def test_allocate_cms_example_7_plus_7_first_listed() -> None:
    """CMS example: 7 + 7 min = 14 min → 1 unit, to the first-listed code when minutes tie."""
    assert allocate_units({"97110": 7, "97140": 7}) == {"97110": 1, "97140": 0}
    assert allocate_units({"97140": 7, "97110": 7}) == {"97140": 1, "97110": 0}


def test_allocate_cms_example_24_plus_23() -> None:
    """CMS example: 24 min 97112 + 23 min 97110 = 47 min → 97112 ×2, 97110 ×1."""
    assert allocate_units({"97112": 24, "97110": 23}) == {"97112": 2, "97110": 1}


def test_allocate_three_codes_20_minutes_each() -> None:
    """20+20+20 = 60 min → 4 units: one whole unit each, the 4th to the first-listed code."""
    assert allocate_units({"97110": 20, "97140": 20, "97530": 20}) == {
        "97110": 2,
        "97140": 1,
        "97530": 1,
    }


def test_allocate_cms_example_four_codes_49_minutes() -> None:
    """CMS example: 18 min 97110, 13 min 97140, 10 min 97116, 8 min 97035 → 1,1,1,0."""
    got = allocate_units({"97110": 18, "97140": 13, "97116": 10, "97035": 8})
    assert got == {"97110": 1, "97140": 1, "97116": 1, "97035": 0}


def test_allocate_tie_on_remainder_goes_to_more_total_minutes() -> None:
    """Equal remainders: the code with more total minutes gets the extra unit."""
    # 97110: 1 whole unit, remainder 7; 97140: remainder 7 → 29 min = 2 units.
    assert allocate_units({"97140": 7, "97110": 22}) == {"97140": 0, "97110": 2}


def test_allocate_single_code_and_zero_minutes() -> None:
    """One code gets units_from_minutes of its minutes; codes with 0 minutes get 0."""
    assert allocate_units({"97110": 38, "97140": 0}) == {"97110": 3, "97140": 0}
    assert allocate_units({"97110": 7}) == {"97110": 0}
    assert allocate_units({}) == {}


def test_allocate_negative_minutes_raise() -> None:
    """Negative minutes for any code are rejected with ValueError."""
    with pytest.raises(ValueError, match="non-negative"):
        allocate_units({"97110": 20, "97140": -1})


minute_dicts = st.dictionaries(
    keys=st.sampled_from(["97110", "97112", "97140", "97530", "97535", "97116"]),
    values=st.integers(min_value=0, max_value=120),
    max_size=6,
)


@PROPERTY
@given(minute_dicts)
def test_allocate_total_equals_units_of_total_minutes(minutes: dict[str, int]) -> None:
    """Units assigned always sum to units_from_minutes(total minutes), keys preserved."""
    got = allocate_units(minutes)
    assert list(got) == list(minutes)
    assert sum(got.values()) == units_from_minutes(sum(minutes.values()))


@PROPERTY
@given(minute_dicts)
def test_allocate_respects_minutes_of_each_code(minutes: dict[str, int]) -> None:
    """No code gets units without minutes; each gets its whole units and at most one more."""
    got = allocate_units(minutes)
    for code, m in minutes.items():
        if m == 0:
            assert got[code] == 0
        assert m // 15 <= got[code] <= m // 15 + 1
        if m % 15 == 0:
            assert got[code] == m // 15


# ---------------------------------------------------------------------------------------------
# Constants, fee formula and default RVUs
# ---------------------------------------------------------------------------------------------


def test_constants_match_reference() -> None:
    """Conversion factors, deductibles, KX thresholds and rates equal [@cms_partb2025]."""
    assert CONVERSION_FACTORS == {2023: 33.8872, 2024: 33.2875, 2025: 32.3465, 2026: 33.4009}
    assert CONVERSION_FACTOR_2024_TO_MAR8 == 32.7442
    assert CONVERSION_FACTOR_2026_QUALIFYING_APM == 33.5675
    assert PART_B_DEDUCTIBLE == {2024: 240, 2025: 257, 2026: 283}
    assert KX_THRESHOLD == {2024: 2330, 2025: 2410, 2026: 2480}
    assert (PART_B_COINSURANCE, ASSISTANT_RATE, MPPR_PE_RATE) == (0.20, 0.85, 0.50)


def test_fee_hand_worked_example() -> None:
    """fee = (w·Gw + pe·f·Gpe + mp·Gmp) × CF × multiplier on a hand-worked example."""
    rvu = CodeRVU("X", work=0.5, pe=0.4, mp=0.1, timed=True, description="test")
    gpci = GPCI(work=1.1, pe=0.9, mp=0.5)
    # 0.55 + 0.36 + 0.05 = 0.96 RVU; × 30 = 28.8; × 1.2 = 34.56.
    assert fee(rvu, gpci, 30.0) == pytest.approx(28.8)
    assert fee(rvu, gpci, 30.0, 1.2) == pytest.approx(34.56)
    # Half PE: 0.55 + 0.18 + 0.05 = 0.78 RVU; × 30 = 23.4.
    assert fee(rvu, gpci, 30.0, pe_fraction=0.5) == pytest.approx(23.4)


def test_fee_rejects_bad_pe_fraction() -> None:
    """pe_fraction outside [0, 1] is rejected with ValueError."""
    rvu = DEFAULT_CODES["97110"]
    with pytest.raises(ValueError, match="pe_fraction"):
        fee(rvu, NATIONAL, CF_2025, pe_fraction=1.5)


def test_gpci_national_is_unity() -> None:
    """GPCI.national() is (1, 1, 1)."""
    assert GPCI.national() == GPCI(1.0, 1.0, 1.0)


REFERENCE_2025_PRICES = {
    "97110": 28.8,
    "97112": 32.4,
    "97140": 27.2,
    "97530": 35.0,
    "97535": 32.0,
    "97165": 100.0,
    "97166": 100.0,
    "97167": 100.0,
}


@pytest.mark.parametrize(("code", "price"), sorted(REFERENCE_2025_PRICES.items()))
def test_default_codes_reproduce_reference_2025_prices(code: str, price: float) -> None:
    """DEFAULT_CODES × 2025 CF at national GPCI is within ±1% of [@cms_pfs2025]'s price."""
    assert fee(DEFAULT_CODES[code], NATIONAL, CF_2025) == pytest.approx(price, rel=0.01)


def test_default_codes_assumed_prices_in_stated_ranges() -> None:
    """Unreferenced codes price in their assumed ranges (PT evals ≈ $100, 99213/99214)."""
    for code in ("97161", "97162", "97163"):
        assert fee(DEFAULT_CODES[code], NATIONAL, CF_2025) == pytest.approx(100.0, rel=0.01)
    assert 90.0 <= fee(DEFAULT_CODES["99213"], NATIONAL, CF_2025) <= 92.0
    assert 128.0 <= fee(DEFAULT_CODES["99214"], NATIONAL, CF_2025) <= 130.0


def test_default_codes_are_consistent() -> None:
    """Keys match CodeRVU.code, timed flags match the code type, components are positive."""
    timed = {"97110", "97112", "97140", "97530", "97535"}
    untimed = {"97161", "97162", "97163", "97165", "97166", "97167", "99213", "99214"}
    assert set(DEFAULT_CODES) == timed | untimed
    for code, rvu in DEFAULT_CODES.items():
        assert rvu.code == code
        assert rvu.timed == (code in timed)
        assert min(rvu.work, rvu.pe, rvu.mp) > 0
        assert rvu.total == pytest.approx(rvu.work + rvu.pe + rvu.mp)


# ---------------------------------------------------------------------------------------------
# One visit: MPPR and assistant rate
# ---------------------------------------------------------------------------------------------

TOY_CODES = {
    "A": CodeRVU("A", work=1.0, pe=2.0, mp=0.0, timed=True, description="timed, high PE"),
    "B": CodeRVU("B", work=1.0, pe=1.0, mp=0.0, timed=True, description="timed, low PE"),
    "E": CodeRVU("E", work=3.0, pe=1.5, mp=0.0, timed=False, description="untimed"),
    "H": CodeRVU("H", work=3.0, pe=4.0, mp=0.0, timed=False, description="untimed, top PE"),
    "T": CodeRVU("T", work=1.0, pe=2.0, mp=0.0, timed=False, description="untimed, PE as A"),
}


def test_visit_payment_mppr_hand_computed() -> None:
    """Highest-PE unit paid in full, PE of every other unit at 50% (hand-computed, CF 10)."""
    # A: 30 min = 2 units, B: 15 min = 1 unit, E untimed = 1 unit. A has the highest PE (2.0).
    # A: full (1+2)·10 = 30, reduced (1+1)·10 = 20 → 50. B: (1+0.5)·10 = 15. E: (3+0.75)·10 = 37.5.
    got = visit_payment({"A": 30, "B": 15}, ["E"], TOY_CODES, NATIONAL, 10.0)
    assert got == pytest.approx(102.5)


def test_visit_payment_assistant_reduces_timed_units_only() -> None:
    """Assistant visit pays timed units at 85% after MPPR; untimed units unreduced."""
    got = visit_payment({"A": 30, "B": 15}, ["E"], TOY_CODES, NATIONAL, 10.0, assistant=True)
    assert got == pytest.approx((50.0 + 15.0) * 0.85 + 37.5)


def test_visit_payment_untimed_unit_can_take_full_pe() -> None:
    """When an untimed code has the highest PE it keeps full PE and all timed units are cut."""
    # H full: (3+4)·10 = 70; A two reduced units: 2·20 = 40; B reduced 15.
    got = visit_payment({"A": 30, "B": 15}, ["H"], TOY_CODES, NATIONAL, 10.0)
    assert got == pytest.approx(125.0)


def test_visit_payment_pe_tie_goes_to_untimed_unit() -> None:
    """PE tie between untimed and timed units: the untimed unit keeps full PE."""
    # T full (1+2)·10 = 30 unreduced; A one reduced unit 20 × 0.85 = 17.
    got = visit_payment({"A": 15}, ["T"], TOY_CODES, NATIONAL, 10.0, assistant=True)
    assert got == pytest.approx(47.0)


def test_visit_payment_default_codes_three_units() -> None:
    """45 min of 97110 at 2025 national rates: one full unit plus two with PE halved."""
    rvu = DEFAULT_CODES["97110"]
    expected = (rvu.total + 2 * (rvu.total - 0.5 * rvu.pe)) * CF_2025
    got = visit_payment({"97110": 45}, [], DEFAULT_CODES, NATIONAL, CF_2025)
    assert got == pytest.approx(expected)
    gross = 3 * fee(rvu, NATIONAL, CF_2025)
    assert 85.0 <= gross <= 100.0  # [@cms_pfs2025]: 45-min visit ≈ 3 units ≈ $85–100 gross
    assert got < gross


def test_visit_payment_payer_multiplier_and_empty_visit() -> None:
    """The payer multiplier scales the visit linearly; a visit with no units pays 0."""
    base = visit_payment({"A": 30, "B": 15}, ["E"], TOY_CODES, NATIONAL, 10.0)
    scaled = visit_payment({"A": 30, "B": 15}, ["E"], TOY_CODES, NATIONAL, 10.0, 1.25)
    assert scaled == pytest.approx(1.25 * base)
    assert visit_payment({"A": 7}, [], TOY_CODES, NATIONAL, 10.0) == 0.0


def test_visit_payment_rejects_misclassified_codes() -> None:
    """Untimed codes given minutes, or timed codes listed as untimed, raise ValueError."""
    with pytest.raises(ValueError, match="untimed"):
        visit_payment({"E": 30}, [], TOY_CODES, NATIONAL, 10.0)
    with pytest.raises(ValueError, match="timed"):
        visit_payment({}, ["A"], TOY_CODES, NATIONAL, 10.0)


# ---------------------------------------------------------------------------------------------
# Fee table by planned units
# ---------------------------------------------------------------------------------------------

STANDARD_SHARES = {"97110": 0.5, "97140": 0.3, "97530": 0.2}


def test_visit_fee_table_shapes_and_units() -> None:
    """Table has max_units+1 rows, fees[0] = 0, billed units == k at 15 min per unit."""
    table = visit_fee_table(STANDARD_SHARES, DEFAULT_CODES, NATIONAL, CF_2025, max_units=8)
    assert isinstance(table, VisitTable)
    assert table.fees.dtype == np.float64
    assert table.fees.shape == (9,)
    assert table.fees[0] == 0.0
    assert table.minutes.tolist() == [15 * k for k in range(9)]
    assert table.billed_units.tolist() == list(range(9))
    assert np.all(np.diff(table.fees) > 0)


def test_visit_fee_table_matches_visit_payment() -> None:
    """Each row equals visit_payment of the largest-remainder minute split."""
    table = visit_fee_table(STANDARD_SHARES, DEFAULT_CODES, NATIONAL, CF_2025, max_units=4)
    # k = 3: 45 min → 22.5/13.5/9 → floors 22/13/9 (sum 44), leftover to 97110 (.5 ties, first).
    assert split_minutes(45, STANDARD_SHARES) == {"97110": 23, "97140": 13, "97530": 9}
    expected = visit_payment(
        {"97110": 23, "97140": 13, "97530": 9}, [], DEFAULT_CODES, NATIONAL, CF_2025
    )
    assert table.fees[3] == pytest.approx(expected)


def test_visit_fee_table_short_units() -> None:
    """With 12 delivered minutes per planned unit, billed units follow the 8-minute rule."""
    table = visit_fee_table(
        {"97110": 1.0}, DEFAULT_CODES, NATIONAL, CF_2025, max_units=6, minutes_per_unit=12.0
    )
    assert table.minutes.tolist() == [0, 12, 24, 36, 48, 60, 72]
    assert table.billed_units.tolist() == [0, 1, 2, 2, 3, 4, 5]
    assert table.fees[3] == pytest.approx(table.fees[2])


def test_visit_fee_table_rejects_bad_shares() -> None:
    """Shares that do not sum to 1 are rejected with ValueError."""
    with pytest.raises(ValueError, match="sum to 1"):
        visit_fee_table({"97110": 0.6, "97140": 0.3}, DEFAULT_CODES, NATIONAL, CF_2025, max_units=3)


shares_strategy = st.lists(
    st.floats(min_value=0.01, max_value=1.0), min_size=len(TIMED_DEFAULTS), max_size=5
).map(lambda w: {c: x / sum(w) for c, x in zip(TIMED_DEFAULTS, w, strict=True)})


@PROPERTY
@given(shares_strategy)
def test_visit_fee_table_fees_increasing_at_15_minutes(shares: dict[str, float]) -> None:
    """At 15 min per unit, fees rise strictly with k for any mix of the default timed codes."""
    table = visit_fee_table(shares, DEFAULT_CODES, NATIONAL, CF_2025, max_units=12)
    assert np.all(np.diff(table.fees) > 0)
    assert table.billed_units.tolist() == list(range(13))


@PROPERTY
@given(shares_strategy, st.sampled_from([8.0, 10.0, 12.5, 20.0, 22.5]))
def test_visit_fee_table_fees_rise_with_billed_units(shares: dict[str, float], mpu: float) -> None:
    """For any minutes per unit, a step that bills more units never lowers the visit fee."""
    table = visit_fee_table(
        shares, DEFAULT_CODES, NATIONAL, CF_2025, max_units=10, minutes_per_unit=mpu
    )
    assert table.billed_units.tolist() == [units_from_minutes(int(m)) for m in table.minutes]
    more_units = np.diff(table.billed_units) > 0
    assert np.all(np.diff(table.fees)[more_units] > 0)


def test_visit_fee_table_can_fall_when_units_do_not_rise() -> None:
    """Pinned caveat: at 10 min/unit, 40 → 50 min keeps 3 units but moves one to a cheaper code."""
    weights = {"97110": 1.0, "97112": 1.0, "97140": 0.9375, "97530": 1.0, "97535": 0.5}
    shares = {c: w / sum(weights.values()) for c, w in weights.items()}
    table = visit_fee_table(
        shares, DEFAULT_CODES, NATIONAL, CF_2025, max_units=5, minutes_per_unit=10.0
    )
    assert table.billed_units[4] == table.billed_units[5] == 3
    assert allocate_units(split_minutes(40, shares))["97530"] == 1
    assert allocate_units(split_minutes(50, shares))["97530"] == 0
    assert table.fees[5] < table.fees[4]


@PROPERTY
@given(st.integers(min_value=0, max_value=500), shares_strategy)
def test_split_minutes_sums_exactly(total: int, shares: dict[str, float]) -> None:
    """Largest-remainder split sums exactly to the total and each part is within 1 of quota."""
    split = split_minutes(total, shares)
    assert list(split) == list(shares)
    assert sum(split.values()) == total
    for code, m in split.items():
        assert math.floor(total * shares[code]) <= m <= math.floor(total * shares[code]) + 1


# ---------------------------------------------------------------------------------------------
# Cost sharing
# ---------------------------------------------------------------------------------------------


def test_cost_sharing_deductible_then_coinsurance() -> None:
    """$257 deductible, $500 allowed → oop = 257 + 0.2·243, deductible exhausted."""
    oop, ded = apply_cost_sharing(500.0, PART_B_DEDUCTIBLE[2025], PART_B_COINSURANCE)
    assert oop == pytest.approx(257.0 + 0.2 * 243.0)
    assert ded == pytest.approx(0.0)
    assert oop.dtype == np.float64


def test_cost_sharing_deductible_carries_across_calls() -> None:
    """The returned remaining deductible carries into the next claim."""
    oop1, ded1 = apply_cost_sharing(100.0, 257.0, 0.2)
    assert (oop1, ded1) == (pytest.approx(100.0), pytest.approx(157.0))
    oop2, ded2 = apply_cost_sharing(200.0, ded1, 0.2)
    assert oop2 == pytest.approx(157.0 + 0.2 * 43.0)
    assert ded2 == pytest.approx(0.0)


def test_cost_sharing_zero_allowed_and_copay() -> None:
    """Zero allowed → zero oop and deductible unchanged; a copay is added on top."""
    oop, ded = apply_cost_sharing(0.0, 257.0, 0.2)
    assert oop == 0.0
    assert ded == 257.0
    oop, _ = apply_cost_sharing(50.0, 0.0, 0.2, copay=15.0)
    assert oop == pytest.approx(10.0 + 15.0)


def test_cost_sharing_vectorized_without_mutation() -> None:
    """Arrays are processed elementwise, return float64, and inputs are not mutated."""
    allowed = np.array([0.0, 100.0, 500.0])
    ded = np.array([257.0, 257.0, 50.0])
    oop, ded_after = apply_cost_sharing(allowed, ded, 0.2)
    np.testing.assert_allclose(oop, [0.0, 100.0, 50.0 + 0.2 * 450.0])
    np.testing.assert_allclose(ded_after, [257.0, 157.0, 0.0])
    assert oop.dtype == np.float64 and ded_after.dtype == np.float64
    assert allowed.tolist() == [0.0, 100.0, 500.0]
    assert ded.tolist() == [257.0, 257.0, 50.0]


def test_cost_sharing_rejects_negative_inputs() -> None:
    """Negative scalars or any negative array entry raise ValueError."""
    with pytest.raises(ValueError, match="allowed"):
        apply_cost_sharing(-1.0, 257.0, 0.2)
    with pytest.raises(ValueError, match="deductible_remaining"):
        apply_cost_sharing(np.array([1.0, 2.0]), np.array([0.0, -5.0]), 0.2)
    with pytest.raises(ValueError, match="copay"):
        apply_cost_sharing(1.0, 0.0, 0.2, copay=-1.0)
