"""Admission (utilization) review, a contract term of :mod:`sim.engine.payment.terms`: the
reviewer's chance of denial and the case's expected price in closed form, the admission
decision weighing it, denied episodes paid by no one with money conserved, no effect at a
review share of 0, and the refusal of bad values."""

from __future__ import annotations

import numpy as np
import pytest
from paths import ROOT
from scipy.stats import norm

from sim.engine.features import admission
from sim.engine.model import HealthSystemModel
from sim.engine.payment.base import ContractParams
from sim.engine.payment.terms import (
    case_clinical_value,
    denial_probability,
    review_denials,
    review_factor,
)
from sim.errors import ScenarioError
from sim.experiments.run import run
from sim.scenario import load_scenario

SCENARIO = str(ROOT / "validation" / "scenarios" / "pps_1983.toml")
#: a price per stay from the first month (no base months), 3,000 patients, 8 months
BUNDLED = (
    '{ setting = "hospital", model = "bundled", base_rate = 6000.0, coinsurance = 0.0, '
    "deductible_applies = false"
)


def scenario(review: str = "", *extra: str, months: int = 8):
    """The PPS replay's world with one arm paying a price per stay, with ``review`` terms."""
    arm = f'arms=[{{ name = "drg", contracts = [{BUNDLED}{review} }}] }}]'
    over = ["population.patients=3000", "replications=1", f"months={months}", arm, *extra]
    return load_scenario(SCENARIO, over)


# ---------------------------------------------------------------------------------------------
# closed forms


def test_clinical_value_is_the_benefit_over_the_alternative_relative_to_an_average_case():
    """(q_B / q_ref)² × (1 − alternative share)."""
    v = case_clinical_value(np.array([4.5, 9.0, 4.5]), 4.5, np.array([0.0, 0.0, 0.25]))
    np.testing.assert_allclose(v, [1.0, 4.0, 0.75])


def test_denial_probability_closed_forms():
    """No noise: 1 below the standard, 0 at or above; with noise σ: Φ(ln(t/v)/σ); no standard:
    never."""
    v = np.array([0.0, 0.25, 0.5, 1.0, 2.0])
    exact = ContractParams(admission_review=0.3, review_standard=0.5)
    np.testing.assert_array_equal(denial_probability(exact, v), [1, 1, 0, 0, 0])
    noisy = ContractParams(admission_review=0.3, review_standard=0.5, review_noise=0.4)
    expected = norm.cdf(np.log(0.5 / v[1:]) / 0.4)
    np.testing.assert_allclose(denial_probability(noisy, v)[1:], expected, rtol=1e-12)
    assert denial_probability(noisy, v)[0] == 1.0  # no clinical value: always denied
    assert denial_probability(noisy, np.array([0.5]))[0] == pytest.approx(0.5)
    none = ContractParams(admission_review=0.3)
    np.testing.assert_array_equal(denial_probability(none, v), 0.0)


def test_expected_price_share_is_one_minus_review_share_times_denial():
    """The case's prices are weighed by 1 − r·P(denied | the case)."""
    prm = ContractParams(admission_review=0.25, review_standard=1.0, review_noise=0.5)
    v = np.array([0.3, 1.0, 3.0])
    np.testing.assert_allclose(
        review_factor(prm, v), 1.0 - 0.25 * norm.cdf(np.log(1.0 / v) / 0.5), rtol=1e-12
    )
    assert review_factor(ContractParams(), v).tolist() == [1.0, 1.0, 1.0]


def test_denied_claims_move_from_allowed_to_denied_whole():
    allowed = np.array([100.0, 250.0, 0.0, 40.0])
    left, denied = review_denials(allowed, np.array([True, False, True, False]))
    np.testing.assert_array_equal(left, [0.0, 250.0, 0.0, 40.0])
    np.testing.assert_array_equal(denied, [100.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(left + denied, allowed)


# ---------------------------------------------------------------------------------------------
# the admission decision


def _decision_values(sc, monkeypatch) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The values the admission logit saw and the case prices, month by month (hospital)."""
    values: list[np.ndarray] = []
    cases: list[np.ndarray] = []
    last: list[np.ndarray] = []
    acceptance = admission.acceptance
    priced = admission.incentives.priced

    def seen(value, scale):
        # the case prices of the decision: those priced last before it
        values.append(np.array(value))
        cases.append(last[-1])
        return acceptance(value, scale)

    def prices(world, s, g, pos, contract):
        out = priced(world, s, g, pos, contract)
        last.append(np.array(out[0].case))
        return out

    monkeypatch.setattr(admission, "acceptance", seen)
    monkeypatch.setattr(admission.incentives, "priced", prices)
    model = HealthSystemModel(sc, "drg")
    for _ in range(sc.months):
        model.step()
    monkeypatch.undo()
    return values, cases


def test_admission_decision_weighs_the_price_times_the_chance_of_payment(monkeypatch):
    """Under a price per stay units earn nothing, so the best plan is the same with or without
    review: a review of half the cases that denies every one takes exactly half the case's
    price off its value (common random numbers: the same cases decide in month 0)."""
    months = 1
    off, price = _decision_values(scenario(months=months), monkeypatch)
    on, _ = _decision_values(
        scenario(", admission_review = 0.5, review_standard = 100.0", months=months), monkeypatch
    )
    assert len(off) == len(on) == len(price) == 1 and price[0].size > 0
    assert (price[0] > 0).all()
    np.testing.assert_allclose(off[0] - on[0], 0.5 * price[0], rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# settlement


def _settle_all(sc) -> tuple[HealthSystemModel, float, float]:
    model = HealthSystemModel(sc, "drg")
    allowed = denied = 0.0
    for _ in range(sc.months):
        model.step()
        for care in model.month_care:
            allowed += float(care.paid.allowed.sum())
            denied += float(care.paid.denied.sum())
    return model, allowed, denied


def test_every_case_reviewed_and_denied_is_paid_by_nobody_and_money_is_conserved():
    """Review of every case with a standard no case meets: no claim is paid; what the price per
    stay would have paid is denied instead; the ledgers balance (payer + patients = providers)
    and claims_denied sums the denials."""
    sc = scenario(", admission_review = 1.0, review_standard = 100.0")
    model, allowed, denied = _settle_all(sc)
    assert allowed == 0.0 and denied > 0.0
    flags = model.world.review_denied[0]
    assert flags is not None and flags.any()
    result = run(sc)
    ledger = result.ledgers[0]
    assert ledger["providers_received"] == pytest.approx(
        ledger["payer_paid"] + ledger["patients_paid"], rel=1e-12
    )
    assert result.monthly["claims_denied"].sum() == pytest.approx(denied)
    # without review nothing is denied
    _, paid_without, denied_without = _settle_all(scenario())
    assert denied_without == 0.0 and paid_without > 0.0


def test_with_full_review_no_gray_area_case_is_paid():
    """Every need equally intense (clinical value 1 − the alternative's share): with a standard
    of 1 and every case reviewed, exactly the gray-area cases taken are denied."""
    sc = scenario(
        ", admission_review = 1.0, review_standard = 1.0",
        "settings.hospital.need_risk_elasticity=0.0",
        "settings.hospital.admission.discretionary_share=0.3",
    )
    model = HealthSystemModel(sc, "drg")
    feature = next(f for f in model.world.hooks("screen", 0) if f.name == "admission")
    denied_cases = gray_taken = 0
    for _ in range(sc.months):
        model.step()
        st = feature._stats.get(0)
        flags = model.world.review_denied[0]
        care = model.month_care[0]
        new = care.patients[care.new_episode & care.sought]
        denied_cases += int(flags[new].sum())
        gray_taken += int(st["discretionary_admitted"].sum()) if st else 0
        refused = flags[care.patients] & care.sought
        assert (care.paid.allowed[refused] == 0.0).all()
    assert gray_taken > 0 and denied_cases == gray_taken


def test_review_share_zero_changes_nothing():
    """A contract with a standard but no review share gives the bytes of one without review."""
    plain = run(scenario()).monthly
    zero = run(scenario(", admission_review = 0.0, review_standard = 5.0")).monthly
    assert plain.equals(zero)


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("value", ["-0.1", "1.5"])
def test_a_review_share_outside_0_1_is_refused_naming_the_field(value):
    with pytest.raises(ScenarioError, match="admission_review"):
        scenario(f", admission_review = {value}")


def test_a_negative_standard_or_noise_is_refused_naming_the_field():
    with pytest.raises(ScenarioError, match="review_standard"):
        scenario(", review_standard = -1.0")
    with pytest.raises(ScenarioError, match="review_noise"):
        scenario(", review_noise = -0.5")


def test_review_without_the_admission_decision_is_refused():
    with pytest.raises(ScenarioError, match=r"behaviour\.admission"):
        scenario(", admission_review = 0.25", "behaviour.admission.enabled=false")
