"""Hospitals differ in post-acute practice (``pathway.destinations.*.hospital_sd``): each
hospital's leaning toward a destination, on the log-odds of the discharge choice, drawn once
from a stream of its own and centred on the run's hospitals; and the joint decision's weights,
which decide nothing while no one bears post-acute spending (what makes the world's
``hospital_weight`` prior-only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from paths import FROZEN

from sim.engine.features.pathway import Pathway
from sim.engine.model import HealthSystemModel
from sim.errors import ScenarioError
from sim.experiments import shards
from sim.scenario import load_scenario

SD = "pathway.destinations.snf.hospital_sd"
REGIONS = [
    "population.regions.national.share=0.4",
    "population.regions.south.share=0.35",
    "population.regions.west.share=0.25",
]


def joint(extra: list[str] | None = None, patients: int = 40_000):
    return load_scenario(
        FROZEN / "joint_replacement_bundle.toml",
        [f"population.patients={patients}", "months=12", *(extra or [])],
    )


def _pathway(sc, arm: str = "ffs", **kw) -> tuple[HealthSystemModel, Pathway]:
    m = HealthSystemModel(sc, arm, **kw)
    return m, m.feature(Pathway)


def test_without_a_spread_every_hospital_is_alike():
    _, pw = _pathway(joint())
    assert pw.leaning is None


def test_leanings_are_centred_scaled_and_only_where_asked():
    """One column per destination: home and home health (no spread) lean by nothing; skilled
    nursing's leanings sum to zero over the hospitals and scale with the spread exactly (the
    same normals), in the choice's dollars (× choice_scale)."""
    sc1 = joint([f"{SD}=0.5"])
    sc2 = joint([f"{SD}=1.0"])
    m1, pw1 = _pathway(sc1)
    _, pw2 = _pathway(sc2)
    n_h = m1.world.providers[pw1.acute].n
    assert n_h > 3
    assert pw1.leaning is not None and pw2.leaning is not None
    assert pw1.leaning.shape == (n_h, pw1.n_dest)
    snf = pw1.dest_setting.index(
        m1.world.settings.index(next(st for st in m1.world.settings if st.name == "snf"))
    )
    others = [k for k in range(pw1.n_dest) if k != snf]
    assert (pw1.leaning[:, others] == 0).all()
    assert abs(pw1.leaning[:, snf].sum()) < 1e-6 * sc1.pathway.choice_scale
    assert pw1.leaning[:, snf].std() > 0
    np.testing.assert_allclose(pw2.leaning, 2.0 * pw1.leaning, rtol=1e-12)


def test_the_leaning_stream_leaves_every_other_draw_alone():
    """A run with leanings has the same patients, providers and need draws as one without."""
    m0, _ = _pathway(joint())
    m1, _ = _pathway(joint([f"{SD}=0.8"]))
    p0, p1 = m0.world.population, m1.world.population
    for name in ("payer", "region", "condition", "risk", "function"):
        np.testing.assert_array_equal(getattr(p0, name), getattr(p1, name))
    for a, b in zip(m0.world.providers, m1.world.providers, strict=True):
        np.testing.assert_array_equal(a.altruism, b.altruism)
        np.testing.assert_array_equal(a.speed, b.speed)


def test_a_leaning_moves_the_hospitals_own_patients_and_no_one_elses():
    """A hospital leaning far toward skilled nursing sends there every patient who can go; far
    away from it, none; the other hospitals' patients go where they went."""
    m, pw = _pathway(joint([f"{SD}=0.5"]))
    m.run_for(3)
    out = np.arange(0, m.population.n, 7)
    s = pw.acute
    hosp = m.population.provider[s][out]
    snf = 1 + list(m.config.pathway.destinations).index("snf")
    free = m.population.episode_left[pw.dest_setting[snf]][out] == 0
    before, _ = pw.choose(m.world, out)
    h = int(np.bincount(hosp).argmax())
    mine = hosp == h
    for sign, expect in ((1.0, True), (-1.0, False)):
        pw.leaning[h, snf] = sign * 1e9
        dest, _ = pw.choose(m.world, out)
        assert ((dest[mine & free] == snf) == expect).all()
        np.testing.assert_array_equal(dest[~mine], before[~mine])


def test_hospitals_that_lean_further_discharge_more_to_skilled_nursing():
    """Over a year of discharges, the hospitals' institutional shares rank as their leanings."""
    m, pw = _pathway(joint([f"{SD}=1.0"], patients=60_000))
    s = pw.acute
    n_h = m.world.providers[s].n
    inst = np.zeros(n_h)
    total = np.zeros(n_h)
    snf = 1 + list(m.config.pathway.destinations).index("snf")
    orig = pw.choose

    def counting(world, patients):
        dest, borne = orig(world, patients)
        h = world.population.provider[s][patients]
        total[:] += np.bincount(h, minlength=n_h)
        inst[:] += np.bincount(h[dest == snf], minlength=n_h)
        return dest, borne

    pw.choose = counting  # type: ignore[method-assign]
    m.run_for(12)
    share = inst / np.maximum(total, 1)
    rank = np.argsort(np.argsort(share))
    lean = np.argsort(np.argsort(pw.leaning[:, snf]))
    rho = np.corrcoef(rank, lean)[0, 1]
    assert total.min() > 50
    assert rho > 0.8


def test_a_shards_hospitals_lean_as_in_the_whole_run():
    sc = joint([f"{SD}=0.7", *REGIONS])
    _, pw = _pathway(sc)
    regions = shards.assign_regions([0.4, 0.35, 0.25], 2)
    for k in range(2):
        part, pk = _pathway(sc, shard=(k, 2, regions[k]))
        gid = part.world.providers[pk.acute].global_id
        assert gid is not None and pk.leaning is not None
        np.testing.assert_array_equal(pk.leaning, pw.leaning[gid])


def test_no_one_bearing_spending_the_weights_decide_nothing():
    """With no spending borne and no patient weight, the joint decision is the hospital's own
    to the bit, whatever the hospital's weight and the gainsharing (so no level under fee-for-
    service or DRGs depends on them); once the hospital bears spending, they do."""
    m, pw = _pathway(joint([f"{SD}=0.5"]))
    m.run_for(3)
    out = np.arange(0, m.population.n, 5)
    pw.cost[:] = np.array([0.0, 30_000.0, 5_000.0])
    pw.weight[:] = 0.0
    pw.joint = False
    alone, _ = pw.choose(m.world, out)
    pw.joint = True
    cfg = m.config.pathway
    for hw, gs in ((0.0, 0.0), (0.3, 0.0), (0.7, 0.5), (1.0, 1.0)):
        object.__setattr__(cfg, "hospital_weight", hw)
        object.__setattr__(cfg, "gainsharing", gs)
        together, _ = pw.choose(m.world, out)
        np.testing.assert_array_equal(together, alone)
    pw.weight[:] = 1.0
    object.__setattr__(cfg, "hospital_weight", 0.1)
    object.__setattr__(cfg, "gainsharing", 0.0)
    weak, _ = pw.choose(m.world, out)
    object.__setattr__(cfg, "hospital_weight", 1.0)
    strong, _ = pw.choose(m.world, out)
    snf = 1
    assert (strong == snf).sum() < (weak == snf).sum() < (alone == snf).sum()


def test_a_negative_spread_is_refused():
    with pytest.raises(ScenarioError, match="hospital_sd"):
        joint([f"{SD}=-0.1"])


def test_no_level_tells_the_discharge_scale_from_the_destination_values():
    """Every destination's value and the choice's scale twice as large (exact in floating
    point; the leanings scale with it): where no one bears post-acute spending (the ffs arm)
    the utility is twice the same and every month is the same to the bit, so no level target
    can tell the scale from the values; where the hospital bears it (the bundle), a borne
    dollar weighs half as much and the discharges differ."""
    doubled = [
        "pathway.choice_scale=12000.0",
        "pathway.destinations.snf.value=9900.0",
        "pathway.destinations.home_health.value=18000.0",
    ]
    common = [f"{SD}=0.6", "months=12"]
    rows = {}
    for label, extra in (("base", common), ("doubled", common + doubled)):
        sc = joint(extra, patients=20_000)
        for arm in ("ffs", "cjr_bundle"):
            m = HealthSystemModel(sc, arm)
            for _ in range(sc.months):
                m.step()
            rows[label, arm] = pd.DataFrame(m.rows)
    pd.testing.assert_frame_equal(rows["base", "ffs"], rows["doubled", "ffs"])
    hosp = {k: v[v["setting"] == "hospital"]["discharges_institutional"] for k, v in rows.items()}
    assert not hosp["base", "cjr_bundle"].equals(hosp["doubled", "cjr_bundle"])
