"""Rule changes are announced ahead: with foresight, providers move toward their best under
the announced rules from the announcement on, and learning corrects the rest."""

from __future__ import annotations

import numpy as np
from conftest import one_setting
from paths import FROZEN

from sim.engine.model import HealthSystemModel

SWITCH = 8


def world(foresight: float, announced: int | None):
    switch = {"month": SWITCH, "contracts": [{"model": "capitation", "pmpm": 40.0}]}
    if announced is not None:
        switch["announced"] = announced
    return one_setting(
        months=20,
        behaviour={"foresight": foresight, "imitation_probability": 0.0},
        arms=[{"name": "reform", "contracts": [{"model": "ffs"}], "switches": [switch]}],
    )


def styles(sc, months: int) -> list[np.ndarray]:
    m = HealthSystemModel(sc, "reform")
    out = []
    for _ in range(months):
        m.step()
        out.append(m.world.providers[0].theta.copy())
    return out, m


def test_without_foresight_an_announcement_changes_nothing():
    """foresight = 0: the announcement month does not matter, byte for byte."""
    a, _ = styles(world(0.0, None), 14)
    b, _ = styles(world(0.0, 2), 14)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_foresight_moves_styles_from_the_announcement_toward_the_announced_optimum():
    """Before the announcement nothing differs; from it, styles move toward the capitation
    optimum (below the patient optimum) while FFS is still in force; after the switch they
    are closer to the closed form than trial and error alone has them."""
    plain, _ = styles(world(0.0, None), 14)
    ahead, m = styles(world(0.6, 3), 14)
    for month in range(3):  # announced for month 3: it acts from month 3's adaptation on
        np.testing.assert_array_equal(plain[month], ahead[month])
    assert (ahead[6] < plain[6]).all()
    target = m.optimal_theta(0)  # capitation is in force at the end
    assert target.max() < 0
    after = SWITCH + 2
    gap_plain = np.abs(plain[after] - target).mean()
    gap_ahead = np.abs(ahead[after] - target).mean()
    assert gap_ahead < gap_plain


def test_foresight_moves_styles_by_what_the_announced_rules_change():
    """The SNF reform announces only a new SNF contract: at the announcement each style's
    target is where it stands plus how the announced rules move its closed-form best, so the
    hospital's and home health's styles (whose best does not move) are not pulled, and the
    SNF's days are pulled by θ*_PDPM − θ*_legacy. (A pull toward the absolute closed form drew
    home health, whose closed form ignores its payment thresholds, toward no visits at all.)"""

    from sim.scenario import load_scenario

    path = FROZEN / "snf_payment_reform.toml"
    sc = load_scenario(path, ["population.patients=20000", "months=26", "replications=1"])
    switch = next(w for w in sc.arms[0].switches)
    m = HealthSystemModel(sc, sc.arms[0].name)
    before = {}
    for _ in range(switch.announcement + 1):
        before = {
            st.name: [s.closed_form().copy() for s in m.world.providers[st.index].styles]
            for st in m.world.settings
        }
        values = {
            st.name: [s.value.copy() for s in m.world.providers[st.index].styles]
            for st in m.world.settings
        }
        m.step()
    snf_moved = False
    for st in m.world.settings:
        for k, style in enumerate(m.world.providers[st.index].styles):
            assert style.target is not None
            pull = style.target - values[st.name][k]
            if st.name == "snf":
                snf_moved |= bool(np.any(np.abs(pull) > 1e-9))
            else:
                np.testing.assert_allclose(pull, 0.0, atol=1e-9)
    assert snf_moved
    assert before  # the closed forms were read before the announcement
