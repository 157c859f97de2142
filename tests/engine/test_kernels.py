"""The compiled kernels give the bits of their numpy twins (sim.engine.kernels).

Each kernel is run both ways on random inputs of the model's dtypes and on edge cases (empty,
one patient, nobody eligible, everybody eligible, zero units, a partial visit), and the outputs
compared byte for byte (dtype, shape and every bit, so −0.0 against 0.0 or a different NaN
would fail). Then the reference outputs of every shipped scenario are recomputed with the
compiled kernels forced on: the same hashes as recorded from the numpy engine.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from paths import TESTS

from sim.engine import kernels
from sim.errors import SimError

numba = pytest.importorskip("numba")

NP = kernels.NUMPY
NB = kernels.Numba()
SIZES = [0, 1, 7, 1000, 65_537]


def same(a, b) -> None:
    """Identical arrays: dtype, shape and bytes (tuples element by element)."""
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.tobytes() == b.tobytes(), np.flatnonzero(a.reshape(-1) != b.reshape(-1))[:10]


def _needs_inputs(rng, n, left_zero=0.7):
    u = rng.random(n, dtype=np.float32)
    function = rng.uniform(0, 100, n).astype(np.float32)
    risk = rng.lognormal(0, 0.6, n).astype(np.float32)
    factor = (rng.choice([0.01, 0.05, 0.3], n) * rng.choice([1.0, 1.7], n)).astype(np.float32)
    left = np.where(rng.random(n) < left_zero, 0, rng.integers(1, 30, n)).astype(np.int16)
    return u, function, risk, factor, left


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("ref,slope", [(70.0, 1.3), (100.0, 0.0), (55.5, 7.25)])
def test_new_needs(n, ref, slope):
    rng = np.random.default_rng(n + int(ref))
    args = (*_needs_inputs(rng, n), ref, slope)
    out = NB.new_needs(*args)
    same(out, NP.new_needs(*args))
    if n > 100:
        assert 0 < out[0].size < n  # some patients, not all, start an episode


def test_new_needs_probabilities_above_one_are_capped_alike():
    n = 5000
    rng = np.random.default_rng(3)
    u, function, risk, factor, left = _needs_inputs(rng, n, left_zero=1.0)
    factor = np.full(n, 0.9, np.float32)
    risk *= 3
    a = NB.new_needs(u, function, risk, factor, left, 90.0, 2.0)
    same(a, NP.new_needs(u, function, risk, factor, left, 90.0, 2.0))
    assert (a[1] == 1.0).sum() > 100  # many capped, the cap itself compared


def test_new_needs_nobody_without_an_episode():
    rng = np.random.default_rng(4)
    u, function, risk, factor, left = _needs_inputs(rng, 300, left_zero=0.0)
    a = NB.new_needs(u, function, risk, factor, left, 70.0, 1.0)
    same(a, NP.new_needs(u, function, risk, factor, left, 70.0, 1.0))
    assert a[0].size == 0


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("prov_dtype", [np.int8, np.int16, np.int32])
def test_active(n, prov_dtype):
    rng = np.random.default_rng(n)
    left = np.where(rng.random(n) < 0.6, 0, rng.integers(1, 9, n)).astype(np.int16)
    provider = rng.integers(0, 100, n).astype(prov_dtype)
    sought = rng.random(n) < 0.8
    need = rng.uniform(0, 12, n).astype(np.float32)
    act = np.flatnonzero(left > 0)
    new = np.sort(rng.choice(act, size=act.size // 3, replace=False)) if act.size else act
    referred = rng.random(new.size) < 0.2
    a = NB.active(left, provider, sought, need, new, referred)
    same(a, NP.active(left, provider, sought, need, new, referred))
    if act.size:
        assert a[4].sum() == new.size and a[5].sum() == referred.sum()


def test_active_refuses_a_new_patient_without_an_episode():
    left = np.array([0, 2, 0, 1], np.int16)
    z = np.zeros(4)
    with pytest.raises(IndexError):
        NB.active(left, z.astype(np.int8), z > 0, z.astype(np.float32), np.array([3, 5]), z[:2] > 0)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("upv", [1, 2, 4])
def test_deliver(n, upv):
    rng = np.random.default_rng(n * 10 + upv)
    regions = 3
    units = rng.integers(0, 4 * upv + 3, n).astype(np.int64)
    units[: n // 5] = 0  # nobody treated
    region = rng.integers(0, regions, n).astype(np.int8)
    new_episode = rng.random(n) < 0.3
    visit_fee = rng.uniform(20, 90, (regions, upv + 1))
    visit_fee[:, 0] = 0.0
    first = rng.uniform(0, 40, (regions, upv + 1))
    billed = np.arange(upv + 1, dtype=np.int64) * 2
    minutes = np.arange(upv + 1, dtype=np.int64) * 15
    args = (units, region, new_episode, upv, visit_fee, first, billed, minutes, 3)
    a = NB.deliver(*args)
    same(a, NP.deliver(*args))
    if n:
        assert (a[0] == -(-units // upv)).all()  # ceil(n / units per visit) visits


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(
    "d,vpp,threshold", [(12.0, 150.0, 5.0), (3.3, 7.0, 0.0), (40.0, 1.0, 90.0)]
)
def test_care_value(n, d, vpp, threshold):
    rng = np.random.default_rng(n)
    units = rng.integers(0, 14, n).astype(np.int64)
    need = rng.uniform(0, 10, n)
    need[: n // 7] = units[: n // 7]  # satiation exactly reached
    a = NB.care_value(units, need, d, vpp, threshold)
    same(a, NP.care_value(units, need, d, vpp, threshold))
    if n > 100:
        assert (a[2] > 0).any() and (a[2] == 0).any()  # some units low-value, some not


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("with_extra", [False, True])
def test_outcomes(n, with_extra):
    rng = np.random.default_rng(n + with_extra)
    size = 3 * n + 5
    patients = np.sort(rng.choice(size, n, replace=False)).astype(np.int64)
    gid = patients * 7 + 3  # a shard's numbers in the whole run
    units = rng.integers(0, 10, n).astype(np.int64)
    need = rng.uniform(0, 9, n)
    gain = rng.normal(2, 6, n)  # some past the 0-100 scale's ends
    extra = rng.uniform(0, 0.5, n) if with_extra else None
    function = rng.uniform(0, 100, size).astype(np.float32)
    function[patients[: n // 9]] = 100.0
    function[patients[n // 9 : n // 5]] = 0.0
    risk = rng.lognormal(0, 0.6, size).astype(np.float32)
    left = rng.integers(1, 12, size).astype(np.int16)
    base = np.uint64(0xDEADBEEF12345678)
    params = (0.02, 1.5, 0.01, 8.0)
    fa, fb = function.copy(), function.copy()
    la, lb = left.copy(), left.copy()
    a = NB.outcomes(patients, gid, base, units, need, gain, extra, fa, risk, la, *params)
    b = NP.outcomes(patients, gid, base, units, need, gain, extra, fb, risk, lb, *params)
    same(a, b)
    same(fa, fb)
    same(la, lb)
    if n > 100:
        assert 0 < a[2].sum() < n  # some adverse events, not everyone
        assert (fa[patients] == 100.0).any() and (fa[patients] == 0.0).any()  # both caps hit
        assert (la[patients] == left[patients] - 1).all()


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(("with_risk", "sharded"), [(True, False), (False, True)])
def test_deaths(n, with_risk, sharded):
    """The life course's month: the same dead, status, members left and function sums."""
    from sim.engine import lifetable

    rng = np.random.default_rng(n + 3 * with_risk + sharded)
    enrolled = rng.random(n) < 0.85
    age = rng.integers(60, 125, n).astype(np.int16)  # some past 119 (q = 1), some below 65
    female = rng.random(n) < 0.55
    q = np.stack([lifetable.Q_MALE, lifetable.Q_FEMALE]) * 20.0  # many deaths
    h = lifetable.monthly_death_probability(np.minimum(q, 1.0)).reshape(-1)
    risk = rng.lognormal(0, 0.5, n) if with_risk else None
    function = rng.uniform(0, 100, n).astype(np.float32)
    f_entry = rng.uniform(0, 100, n).astype(np.float32)
    members = np.flatnonzero(enrolled)
    care = np.sort(rng.choice(members, min(members.size, n // 4), replace=False))
    survive = rng.uniform(0.5, 1.0, care.size)
    gid = np.arange(n, dtype=np.int64) * 5 + 2 if sharded else None
    cut = np.sort(rng.integers(0, n + 1, 2))
    bounds = np.array([0, *cut, n])
    status = np.where(enrolled, 1, rng.choice([0, 2], n)).astype(np.int8)
    sa, sb = status.copy(), status.copy()
    args = (h, risk, function, 0.013, care, survive, gid, np.uint64(0xABCDEF12), bounds)
    a = NB.deaths(enrolled, age, female, *args, sa, f_entry)
    b = NP.deaths(enrolled, age, female, *args, sb, f_entry)
    same(a, b)
    same(sa, sb)
    if n > 100:
        assert 0 < a[0].size < members.size  # some die, not every member
        assert (sa[a[0]] == 2).all() and enrolled[a[0]].all()


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("n_payers", [1, 3])
def test_record_counts(n, n_payers):
    rng = np.random.default_rng(n + n_payers)
    size = 2 * n + 3
    patients = np.sort(rng.choice(size, n, replace=False)).astype(np.int64)
    cut = np.sort(rng.integers(0, n + 1, n_payers - 1))
    bounds = np.array([0, *cut, n])
    flag = lambda p: rng.random(n) < p  # noqa: E731
    sought = flag(0.9)
    units = np.where(sought, rng.integers(0, 9, n), 0).astype(np.int64)
    cols = (
        sought,
        units,
        flag(0.3),
        units * 2,
        -(-units // 4),
        units * 15,
        flag(0.05),
        flag(0.4),
        rng.integers(0, 30, n).astype(np.int64),
        flag(0.1),
        flag(0.1),
        flag(0.1),
        np.where(rng.random(size) < 0.3, 0, rng.integers(1, 5, size)).astype(np.int16),
        np.where(rng.random(size) < 0.2, 100.0, rng.uniform(0, 100, size)).astype(np.float32),
        rng.integers(0, 200, size).astype(np.int16),
    )
    a = NB.record_counts(bounds, patients, *cols)
    same(a, NP.record_counts(bounds, patients, *cols))
    assert a.shape == (n_payers, len(kernels.RECORD_COUNTS))
    assert a[:, 2].sum() == units.sum() and a[:, 0].sum() == (units > 0).sum()


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("applies", [True, False])
@pytest.mark.parametrize("coinsurance,copay", [(0.2, 0.0), (0.0, 20.0), (1.0, 5.0)])
def test_share_costs(n, applies, coinsurance, copay):
    from types import SimpleNamespace

    rng = np.random.default_rng(n)
    size = 2 * n + 1
    patients = np.sort(rng.choice(size, n, replace=False)).astype(np.int64)
    allowed = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0, 400, n))
    visits = rng.integers(0, 5, n).astype(np.int64)
    deductible = np.where(rng.random(size) < 0.5, 0.0, rng.uniform(0, 260, size)).astype(np.float32)
    ytd = rng.uniform(0, 900, size).astype(np.float32)
    terms_of = SimpleNamespace(
        deductible_applies=applies, coinsurance=coinsurance, copay_per_visit=copay
    )
    da, db, ya, yb = deductible.copy(), deductible.copy(), ytd.copy(), ytd.copy()
    a = NB.share_costs(terms_of, patients, allowed, visits, da, ya)
    b = NP.share_costs(terms_of, patients, allowed, visits, db, yb)
    same(a, b)
    same(da, db)
    same(ya, yb)
    assert (a <= allowed).all()
    if applies and n:
        bad = allowed.copy()
        bad[-1] = -1.0
        for k in (NB, NP):
            d0 = deductible.copy()
            with pytest.raises(ValueError, match="non-negative"):
                k.share_costs(terms_of, patients, bad, visits, d0, ytd.copy())
            same(d0, deductible)  # nothing changed


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("n_payers", [1, 4])
def test_group_counts_and_start_episodes(n, n_payers):
    rng = np.random.default_rng(n + n_payers)
    size = 3 * n + 2
    patients = np.sort(rng.choice(size, n, replace=False)).astype(np.int64)
    payer = np.sort(rng.integers(0, n_payers, size)).astype(np.int8)
    risk_group = rng.integers(0, 4, size).astype(np.int8)
    a = NB.group_counts(patients, payer, risk_group, n_payers)
    same(a, NP.group_counts(patients, payer, risk_group, n_payers))
    assert a[0].sum() == n and (a[1].sum(axis=1) == a[0]).all()
    length = rng.integers(1, 240, n).astype(np.int16)
    need = rng.uniform(0, 12, n)  # float64, stored as float32
    seek = rng.random(n) < 0.7
    arrays = (
        np.zeros(size, np.int16),
        np.zeros(size, np.float32),
        np.zeros(size, np.bool_),
    )
    mine = tuple(x.copy() for x in arrays)
    NB.start_episodes(patients, length, need, seek, *mine)
    NP.start_episodes(patients, length, need, seek, *arrays)
    same(mine, arrays)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("experimenting", [True, False])
def test_plan_units(n, experimenting):
    rng = np.random.default_rng(n + experimenting)
    size = 2 * n + 3
    patients = np.sort(rng.choice(size, n, replace=False)).astype(np.int64)
    gid = patients + 10**9
    theta = rng.normal(0, 3, n)  # some plans below 0, some above the maximum
    need = rng.uniform(0, 10, n)
    sought = rng.random(n) < 0.85
    new = rng.random(n) < 0.3
    states = (
        rng.integers(0, 400, size).astype(np.int16),
        rng.integers(0, 30, size).astype(np.int16),
        rng.integers(0, 50, size).astype(np.int16),
    )
    states[0][patients[: n // 10]] = 32767  # saturates
    args = (gid, patients, 17, experimenting, 0.45, theta, need, 8, np.uint64(987654321))
    mine = tuple(x.copy() for x in states)
    a = NB.plan_units(*args, sought, new, *mine)
    b = NP.plan_units(*args, sought, new, *states)
    same(a, b)
    same(mine, states)
    if n > 100:
        assert (a[1] == 0).any() and (a[1] == 8).any()  # clipped at both ends
        assert (a[2][~sought] == 0).all() and set(np.unique(a[0])) <= {-1, 0, 1}


@pytest.mark.parametrize(
    "n", [0, 1, 7, 8, 9, 127, 128, 129, 255, 256, 257, 1000, 8192, 8193, 70_001]
)
def test_block_sums_are_numpys_pairwise_sums(n):
    """Every block length around numpy's unrolling (8) and block (128) sizes, and beyond its
    buffer (8192): the compiled sums repeat numpy's pairwise summation bit for bit."""
    rng = np.random.default_rng(n)
    columns = (
        rng.normal(0, 1, n),
        rng.normal(0, 1, n) * 10.0 ** rng.integers(-12, 12, n),  # wide magnitudes: order shows
        np.where(rng.random(n) < 0.5, -0.0, 0.0),
        np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0, 400, n)),
    )
    for n_blocks in (1, 2, 5):
        cut = np.sort(rng.integers(0, n + 1, n_blocks - 1))
        bounds = np.array([0, *cut, n])
        a = NB.block_sums(bounds, columns)
        same(a, NP.block_sums(bounds, columns))
        assert a.shape == (n_blocks, len(columns))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("memory", [0.25, 1.0])
def test_learn(n, memory):
    rng = np.random.default_rng(n + 1)
    k = 37
    provider = rng.integers(0, k, n).astype(np.int64)
    provider[provider == 5] = 6  # a provider without patients keeps its record
    value = rng.normal(100, 60, n)
    need_z = rng.normal(0, 0.4, n)
    x = rng.normal(0, 0.2, n)
    new = rng.random(n) < 0.3
    xtx0 = rng.normal(0, 1, (k, 6, 6))
    xty0 = rng.normal(0, 1, (k, 6))
    for mask in (None, rng.random(n) < 0.8):
        a_xtx, a_xty, b_xtx, b_xty = xtx0.copy(), xty0.copy(), xtx0.copy(), xty0.copy()
        ca = NB.learn(provider, value, need_z, x, new, a_xtx, a_xty, memory, mask)
        cb = NP.learn(provider, value, need_z, x, new, b_xtx, b_xty, memory, mask)
        same(ca, cb)
        same(a_xtx, b_xtx)
        same(a_xty, b_xty)
        same(a_xtx[5], xtx0[5])
        if n > 100:
            assert not np.array_equal(a_xtx[6], xtx0[6])
            assert ca.sum() == (n if mask is None else mask.sum())


@pytest.mark.parametrize("n", SIZES)
def test_provider_sums(n):
    rng = np.random.default_rng(n)
    provider = rng.integers(0, 23, n).astype(np.int16)
    mask = rng.random(n) < 0.7
    profit = rng.normal(50, 80, n)
    benefit = rng.normal(20, 10, n)
    a = NB.provider_sums(provider, mask, profit, benefit, 25)
    same(a, NP.provider_sums(provider, mask, profit, benefit, 25))
    assert a[0].sum() == mask.sum() and a[0][23:].sum() == 0


@pytest.mark.parametrize("n", SIZES)
def test_uniforms(n):
    rng = np.random.default_rng(n)
    patients = np.sort(rng.integers(0, 2**40, n))
    for base in (np.uint64(0), np.uint64(2**64 - 1), np.uint64(0x1234_5678_9ABC_DEF0)):
        u = NB.uniforms(patients, base)
        same(u, NP.uniforms(patients, base))
        assert ((u >= 0) & (u < 1)).all()


def test_select(monkeypatch):
    monkeypatch.setenv("SIM_KERNELS", "numpy")
    assert kernels.select(10**7) is kernels.NUMPY
    monkeypatch.setenv("SIM_KERNELS", "numba")
    assert kernels.select(10).name == "numba"
    monkeypatch.setenv("SIM_KERNELS", "auto")
    monkeypatch.setattr(kernels, "loaded", lambda: False)
    assert kernels.select(kernels.MIN_PATIENTS - 1) is kernels.NUMPY
    assert kernels.select(kernels.MIN_PATIENTS).name == "numba"
    # once a process has loaded them, small models take them too
    monkeypatch.setattr(kernels, "loaded", lambda: True)
    assert kernels.select(10).name == "numba"
    monkeypatch.setenv("SIM_KERNELS", "numpy")
    assert kernels.select(10) is kernels.NUMPY
    monkeypatch.setenv("SIM_KERNELS", "fast")
    with pytest.raises(SimError, match=r"SIM_KERNELS='fast'.*auto, numpy, numba"):
        kernels.select(10)


def test_preload_loads_the_kernels_for_small_models(monkeypatch):
    monkeypatch.setenv("SIM_KERNELS", "numpy")
    assert kernels.preload() is False
    monkeypatch.setenv("SIM_KERNELS", "auto")
    assert kernels.preload() is True
    assert kernels.loaded() and kernels.select(10).name == "numba"


def test_a_process_running_many_small_models_loads_the_kernels_once(monkeypatch):
    """kernels.ran: the numpy kernels' patient-months are counted under auto, and the compiled
    kernels are loaded once the count reaches PRELOAD_AFTER; not under SIM_KERNELS=numpy, not
    for models that ran the compiled kernels, and not again once loaded."""
    calls = []
    monkeypatch.setattr(kernels, "preload", lambda: calls.append(1) or True)
    monkeypatch.setattr(kernels, "loaded", lambda: bool(calls))
    monkeypatch.setattr(kernels, "_small_work", 0)
    monkeypatch.setenv("SIM_KERNELS", "auto")
    step = kernels.PRELOAD_AFTER // 4
    kernels.ran(kernels._numba(), 10 * kernels.PRELOAD_AFTER)  # compiled: not counted
    for _ in range(3):
        kernels.ran(kernels.NUMPY, step)
    assert not calls  # three quarters of the way
    kernels.ran(kernels.NUMPY, step)
    assert calls == [1]
    kernels.ran(kernels.NUMPY, 10 * kernels.PRELOAD_AFTER)
    assert calls == [1]  # once
    calls.clear()
    monkeypatch.setattr(kernels, "_small_work", 0)
    monkeypatch.setenv("SIM_KERNELS", "numpy")
    kernels.ran(kernels.NUMPY, 10 * kernels.PRELOAD_AFTER)
    assert not calls


def test_the_models_data_collector_is_the_same_with_compiled_kernels(monkeypatch):
    """Mesa's DataCollector (mean function over everyone, per-member rates) gives the same
    numbers whichever kernels a model runs."""
    from reference_outputs import _small

    from sim.engine.model import HealthSystemModel
    from sim.scenario import validate_scenario

    sc = validate_scenario(_small("compare_payment_models"), "kernels test")
    frames = {}
    for mode in ("numpy", "numba"):
        monkeypatch.setenv("SIM_KERNELS", mode)
        m = HealthSystemModel(sc, sc.arms[0].name)
        assert m.world.kernels.name == mode
        for _ in range(4):
            m.step()
        frames[mode] = m.datacollector.get_model_vars_dataframe()
    assert frames["numpy"].equals(frames["numba"])
    assert len(frames["numba"]) == 4


def test_reference_outputs_with_compiled_kernels(monkeypatch):
    """Every shipped scenario (small) and variant: the recorded bytes with numba forced."""
    from reference_outputs import STORE, cases, fingerprint

    monkeypatch.setenv("SIM_KERNELS", "numba")
    used = []
    select = kernels.select
    monkeypatch.setattr(kernels, "select", lambda n: used.append(select(n).name) or select(n))
    stored = json.loads(STORE.read_text())
    bad = [name for name, data in cases().items() if fingerprint(data) != stored[name]]
    assert not bad
    assert used and set(used) == {"numba"}  # every model ran the compiled kernels


#: a fresh process: small models of the main comparison (before and on the base world) and of
#: the default world with the compiled kernels forced, two months each (every kernel is
#: called), then numba's cache statistics of every kernel printed as JSON
_FRESH_PROCESS = """
import json, sys
sys.path.insert(0, sys.argv[1])
from conftest import default_world
from reference_outputs import _small
from sim.engine import kernels
from sim.engine.model import HealthSystemModel
from sim.scenario import validate_scenario
main = validate_scenario(_small("compare_payment_models"), "kernels test")
# without the life course too: its subgroup sums run the care and cell kernels
off = validate_scenario(_small("compare_payment_models", off=True), "kernels test")
# on the base world: providers' best responses (the plan kernel)
world = validate_scenario(_small("compare_payment_models", shipped=True), "kernels test")
for sc in (main, off, world, default_world()):
    m = HealthSystemModel(sc, sc.arms[0].name)
    m.step()
    m.step()
import numpy as np
kernels.Numba().uniforms(np.arange(5), np.uint64(3))
# a schedule that is not straight (the shipped first arms price by the unit)
one = np.ones(2)
kernels.Numba().best_units(np.zeros((2, 3)), one, one, one, one, one, (1.0,) * 5, None, None)
stats = {k: d.stats for k, d in kernels._compiled().items()}
print(json.dumps({
    k: [sum(s.cache_hits.values()), sum(s.cache_misses.values())] for k, s in stats.items()
}))
"""


def _cache_files(folder) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_a_second_process_loads_every_kernel_from_the_cache(tmp_path):
    """Kernels are compiled once per install: in a fresh process with an empty cache they are
    compiled and saved; a second process loads every one of them (no cache miss, nothing
    compiled) and the cache folder is left as it was (no new entry, no file rewritten)."""
    import os
    import subprocess
    import sys

    cache = tmp_path / "numba_cache"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "SIM_KERNELS": "numba"}
    tests = str(TESTS)

    def fresh() -> dict[str, list[int]]:
        p = subprocess.run(
            [sys.executable, "-c", _FRESH_PROCESS, tests],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout.strip().splitlines()[-1])

    first = fresh()
    assert set(first) == set(kernels._compiled())
    assert all(misses >= 1 for _, misses in first.values())  # an empty cache: compiled
    files = _cache_files(cache)
    assert files
    second = fresh()
    assert {k: misses for k, (_, misses) in second.items()} == dict.fromkeys(first, 0)
    assert all(hits >= 1 for hits, _ in second.values())
    assert _cache_files(cache) == files


#: the seams of the month's kernels: a module of each in sim.engine.kernels (the numpy twins
#: and their compiled wrappers) and in sim.engine.compiled (the compiled kernels)
SEAMS = ("needs", "draws", "billing", "sums", "learning")


def _methods(cls) -> set[str]:
    return {n for n, v in vars(cls).items() if not n.startswith("_") and callable(v)}


def test_each_seam_has_both_twins_of_its_kernels_and_no_other():
    """Per seam, the numpy twins, the compiled wrappers and the compiled kernels are the same
    names; together they are every kernel of Numpy and Numba."""
    import importlib

    from sim.engine.compiled import KERNELS

    seen: set[str] = set()
    for seam in SEAMS:
        module = importlib.import_module(f"sim.engine.kernels.{seam}")
        cap = seam.capitalize()
        names = _methods(getattr(module, f"Numpy{cap}"))
        assert names == _methods(getattr(module, f"Numba{cap}")), seam
        compiled = {k for k, v in KERNELS.items() if v.__module__ == f"sim.engine.compiled.{seam}"}
        assert names == compiled, seam
        assert not names & seen
        seen |= names
    every = {n for n in dir(kernels.Numpy) if not n.startswith("_") and n != "name"}
    assert every == {n for n in dir(kernels.Numba) if not n.startswith("_") and n != "name"}
    assert every == seen == set(KERNELS)


def test_a_compiled_kernel_calls_only_compiled_functions_of_its_own_module():
    """numba's cache of a module is keyed on that file alone, and a kernel carries a copy of
    every compiled function it calls: a call into another module would keep a stale copy after
    an edit there. No seam's compiled module holds another's compiled function or module."""
    import importlib
    import types

    from numba.core.dispatcher import Dispatcher

    for seam in SEAMS:
        module = importlib.import_module(f"sim.engine.compiled.{seam}")
        for name, value in vars(module).items():
            if isinstance(value, Dispatcher):
                assert value.py_func.__module__ == module.__name__, f"{seam}: {name}"
            if isinstance(value, types.ModuleType):
                assert not value.__name__.startswith("sim."), f"{seam}: {name}"


def test_the_seam_check_sees_a_borrowed_function(monkeypatch):
    """The check itself fails when a module holds another's compiled function."""
    from sim.engine.compiled import draws, needs

    monkeypatch.setattr(needs, "uniform", draws.uniform, raising=False)
    with pytest.raises(AssertionError, match="needs: uniform"):
        test_a_compiled_kernel_calls_only_compiled_functions_of_its_own_module()


def _care_inputs(rng, n, n_settings, n_cells):
    cell = rng.integers(0, n_cells, n)
    lists = [np.flatnonzero(rng.random(n) < 0.3) for _ in range(n_settings)]
    spend = tuple(rng.normal(100, 80, p.size) for p in lists)
    oop = tuple(np.where(rng.random(p.size) < 0.3, 0.0, rng.gamma(2, 20, p.size)) for p in lists)
    units = tuple(rng.integers(0, 4, p.size) for p in lists)
    adverse = tuple(rng.random(p.size) < 0.1 for p in lists)
    return cell, tuple(lists), spend, oop, units, adverse


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("n_settings,n_cells", [(1, 1), (2, 13), (3, 40)])
def test_care_cell_sums(n, n_settings, n_cells):
    """Both twins give the bits of the per-patient arrays over everyone summed by bincount
    (what the subgroup tables summed before)."""
    rng = np.random.default_rng(n + n_settings)
    args = _care_inputs(rng, n, n_settings, n_cells)
    out = NB.care_cell_sums(*args, n_cells)
    same(out, NP.care_cell_sums(*args, n_cells))
    cell, lists, spend, oop, units, adverse = args
    dense = np.zeros((4, n))
    for s, p in enumerate(lists):
        for row, col in zip(dense, (spend, oop, units, adverse), strict=True):
            row[p] += col[s]
    # (np.bincount of nobody gives integer zeros)
    for j in range(4):
        same(out[j], np.bincount(cell, dense[j], n_cells).astype(np.float64))
    same(out[4], np.bincount(cell, (dense[2] > 0).astype(np.float64), n_cells).astype(float))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(
    "xp,fp",
    [([0.0, 100.0], [0.30, 0.95]), ([0.0, 20.0, 55.5, 100.0], [-0.2, 0.31, 0.7, 1.0])],
)
def test_cell_sums(n, xp, fp):
    """Function, change and utility per cell: np.interp's bits, bincount's order; the
    mapping's points themselves and the ends of the scale included; and the members."""
    rng = np.random.default_rng(n)
    function = rng.uniform(0, 100, n).astype(np.float32)
    special = np.array([0.0, 100.0, *xp[1:-1], 50.0], np.float32)[:n]
    function[: special.size] = special
    f0 = rng.uniform(0, 100, n).astype(np.float32).astype(np.float64)
    cell = rng.integers(0, 9, n)
    out = NB.cell_sums(cell, function, f0, xp, fp, 9)
    same(out, NP.cell_sums(cell, function, f0, np.array(xp), np.array(fp), 9))
    f = function.astype(np.float64)
    same(out[2], np.bincount(cell, np.interp(f, xp, fp), 9).astype(np.float64))
    same(out[3], np.bincount(cell, minlength=9).astype(np.float64))  # everyone a member
    # this month's members only (a life course): the compiled pass skips the others, numpy
    # weighs them by 0; a negative change times 0 is -0.0, which leaves the sums as they are
    member = rng.random(n) < 0.7
    out = NB.cell_sums(cell, function, f0, xp, fp, 9, member)
    same(out, NP.cell_sums(cell, function, f0, np.array(xp), np.array(fp), 9, member))
    w = member.astype(np.float64)
    same(out[1], np.bincount(cell, (f - f0) * w, 9).astype(np.float64))
    same(out[3], np.bincount(cell, w, 9).astype(np.float64))  # a bincount of 0s and 1s
    every = NB.cell_sums(cell, function, f0, xp, fp, 9, np.ones(n, np.bool_))
    same(every, NB.cell_sums(cell, function, f0, xp, fp, 9))


@pytest.mark.parametrize("n", SIZES)
def test_episode_values(n):
    """The month's profit added to each episode's value, the ended ones counted and summed by
    (provider, payer, risk group) in patient order and reset: both twins, in place alike."""
    rng = np.random.default_rng(n + 5)
    size = max(n, 1)
    patients = np.flatnonzero(rng.random(size) < 0.4)
    sought = rng.random(patients.size) < 0.8
    profit = rng.normal(50, 40, patients.size)
    left = rng.integers(0, 3, size).astype(np.int16)
    provider = rng.integers(0, 7, size).astype(np.int32)
    payer = rng.integers(0, 2, size).astype(np.int8)
    risk_group = rng.integers(0, 4, size).astype(np.int8)
    value = rng.normal(0, 100, size)
    value_nb = value.copy()
    args = (patients, sought, profit, left, provider, payer, risk_group)
    out = NB.episode_values(*args, value_nb, 2, 7 * 2 * 4)
    same(out, NP.episode_values(*args, value, 2, 7 * 2 * 4))
    same(value_nb, value)
    if n > 100:
        assert out[0].sum() > 0 and (value[patients[sought & (left[patients] == 0)]] == 0).all()


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("over", [0.0, 0.3])
def test_best_units(n, over):
    """The best plan on the unit grid: the compiled walk, the numpy twin and the grid of
    :func:`sim.engine.decisions.plan` give the same units and bits of value, with limits,
    floors, ties (a flat schedule at zero curvature) and non-finite prices."""
    from sim.engine.decisions import Terms, plan
    from sim.engine.payment.prices import Prices

    rng = np.random.default_rng(n + 7)
    width = 13
    schedule = np.cumsum(rng.uniform(0, 60, (n, width)), axis=1)
    schedule[:, 0] = 0.0
    if n > 3:
        schedule[1] = 0.0  # flat: ties broken toward the first best
        schedule[2, 5:] = np.inf
        schedule[3, 4] = np.nan
    if n > 6:
        schedule[4, 0] = np.nan  # a NaN first: np.argmax stops there
        schedule[5, 2] = np.inf  # an infinite price before a NaN
        schedule[5, 9] = np.nan
        schedule[6, 7:] = -np.inf
    months = rng.integers(1, 4, n).astype(np.float64)
    need = rng.uniform(0, 8, n)
    if n > 7:
        need[7] = np.nan  # every value NaN
    terms = Terms(
        benefit_weight=rng.uniform(0, 1.5, n),
        per_event=rng.uniform(0, 9000, n),
        per_point=rng.uniform(0, 50, n),
        marginal_cost=18.0,
        curvature=0.0 if n == 1 else 2.5,
        shortfall_risk=0.002,
        value_per_point=300.0,
        overtreatment_risk=over,
    )
    limit = rng.integers(0, width + 2, n).astype(np.float64)
    floor = np.floor(rng.uniform(0, 5, n))
    if n > 9:
        limit[8], floor[9] = np.nan, np.nan  # nothing allowed
    prices = Prices(schedule=schedule, case=np.zeros(n))
    for lim, flo in ((None, None), (limit, None), (limit, floor), (None, floor)):
        grid = plan(prices, need, months, terms, lim, flo)
        for k in (NP, NB):
            got = plan(prices, need, months, terms, lim, flo, kernels=k)
            same(got.units, grid.units)
            same(got.value, grid.value)
            same(got.per_month, grid.per_month)


@pytest.mark.parametrize("n", SIZES)
def test_best_units_straight(n):
    """A straight schedule (a price per unit) is walked from its price, never built: the same
    units and bits of value as the grid over the schedule numpy builds, for both kernels and
    whether the schedule was built first or not; with negative, zero and non-finite prices."""
    from sim.engine.decisions import Terms

    rng = np.random.default_rng(n + 11)
    units = 9
    per = rng.uniform(-20, 90, n)
    if n > 4:
        per[1], per[2], per[3], per[4] = 0.0, np.inf, np.nan, -np.inf
    months = rng.integers(1, 4, n).astype(np.float64)
    need = rng.uniform(0, 8, n)
    terms = Terms(
        benefit_weight=rng.uniform(0, 1.5, n),
        per_event=rng.uniform(0, 9000, n),
        per_point=rng.uniform(0, 50, n),
        marginal_cost=18.0,
        curvature=2.5,
        shortfall_risk=0.002,
        value_per_point=300.0,
    )
    limit = rng.integers(0, units + 2, n).astype(np.float64)
    floor = np.floor(rng.uniform(0, 5, n))
    with np.errstate(invalid="ignore"):  # an infinite price × 0 units: NaN, as numpy makes it
        _straight_plans(n, per, units, months, need, terms, limit, floor)


def _straight_plans(n, per, units, months, need, terms, limit, floor):
    from sim.engine.decisions import plan
    from sim.engine.payment.prices import Prices, straight

    built = Prices(per[:, None] * np.arange(units + 1, dtype=np.float64)[None, :], np.zeros(n))
    for lim, flo in ((None, None), (limit, floor)):
        grid = plan(built, need, months, terms, lim, flo)
        for k in (NP, NB):
            lazy = straight(per, n, units)
            assert lazy.per_unit is not None and lazy.units == units and lazy.size == n
            got = plan(lazy, need, months, terms, lim, flo, kernels=k)
            same(got.units, grid.units)
            same(got.value, grid.value)
            same(lazy.schedule, built.schedule)  # built when read
            again = plan(lazy, need, months, terms, lim, flo, kernels=k)
            same(again.value, grid.value)


@pytest.mark.parametrize("n", [*SIZES, 63, 64, 65, 130])
@pytest.mark.parametrize("npay", [1, 2, 3])
def test_best_units_payers(n, npay):
    """Several payers' straight schedules walked at once: row g of the compiled kernel, of its
    numpy twin and of :func:`sim.engine.decisions.straight_plans` (with and without kernels) is
    the plan each kernel's ``best_units_straight`` and the grid of ``decisions.plan`` give at
    payer g's price per unit and terms alone, bit for bit; with payers whose event and point
    terms are the same and differ (+0 against −0 too), negative, zero and non-finite prices,
    NaN need, limits and floors, ties, and blocks of patients cut anywhere (63, 64, 65, 130)."""
    from dataclasses import replace

    from sim.engine.decisions import Terms, plan, straight_plans
    from sim.engine.payment.prices import straight

    rng = np.random.default_rng(100 * n + npay)
    units = 11
    per = rng.uniform(-20, 90, (npay, n))
    per[:, : n // 2] = per[0, : n // 2]  # the same price for every payer in half the rows
    if n > 6:
        per[0, 1], per[-1, 2], per[0, 3], per[-1, 4] = 0.0, np.inf, np.nan, -np.inf
        per[:, 5] = np.nan
    months = rng.integers(1, 4, n).astype(np.float64)
    need = rng.uniform(0, 8, n)
    if n > 7:
        need[6] = np.nan  # every value NaN
    per_event = np.repeat(rng.uniform(0, 9000, n)[None, :], npay, axis=0)
    per_point = np.repeat(rng.uniform(0, 50, n)[None, :], npay, axis=0)
    if npay > 1:
        per_event[1:, ::3] = rng.uniform(0, 9000, per_event[1:, ::3].shape)
        per_point[-1, 1::4] = 0.0
        per_point[0, 1::4] = -0.0
    terms = Terms(
        benefit_weight=rng.uniform(0, 1.5, n),
        per_event=per_event,
        per_point=per_point,
        marginal_cost=18.0,
        curvature=0.0 if n == 1 else 2.5,  # 0: a flat value, ties broken toward the first
        shortfall_risk=0.002,
        value_per_point=300.0,
        overtreatment_risk=0.0 if n == 63 else 0.0004,
    )
    limit = rng.integers(0, units + 2, n).astype(np.float64)
    floor = np.floor(rng.uniform(0, 5, n))
    if n > 9:
        limit[8], floor[9] = np.nan, np.nan  # nothing allowed
    coefficients = (18.0, terms.curvature, 0.002, terms.overtreatment_risk, 300.0)
    args = (months, need, terms.benefit_weight, per_event, per_point, coefficients)
    with np.errstate(invalid="ignore"):  # an infinite price × 0 units: NaN, as numpy makes it
        for lim, flo in ((None, None), (limit, floor), (limit, None)):
            got = NB.best_units_payers(per, units, *args, lim, flo)
            same(got, NP.best_units_payers(per, units, *args, lim, flo))
            assert got[0].shape == (npay, n)
            for k in (None, NP, NB):
                same(straight_plans(per, units, need, months, terms, lim, flo, k), got[0])
            for g in range(npay):
                alone = (months, need, terms.benefit_weight, per_event[g], per_point[g])
                for k in (NP, NB):
                    one = k.best_units_straight(per[g], units, *alone, coefficients, lim, flo)
                    same(one, (got[0][g], got[1][g]))
                mine = replace(terms, per_event=per_event[g], per_point=per_point[g])
                grid = plan(straight(per[g], n, units), need, months, mine, lim, flo)
                same(grid.units, got[0][g])
                same(grid.value, got[1][g])


def test_best_units_payers_on_a_wider_grid_than_a_payer_needs():
    """The plans do not depend on how far the grid goes past a patient's limit: a payer's
    patients planned on the grid of its own part (``priced`` makes it as wide as the part's
    largest limit) and on a wider one shared with another payer give the same units."""
    from sim.engine.decisions import Terms, straight_plans

    rng = np.random.default_rng(5)
    n = 300
    per = rng.uniform(0, 120, (2, n))
    months = np.ones(n)
    need = rng.uniform(0, 12, n)
    terms = Terms(rng.uniform(0.2, 1.2, n), np.zeros((2, n)), np.zeros((2, n)), 40.0, 3.0,
                  0.01, 500.0, 0.001)  # fmt: skip
    limit = np.full(n, 6.0)
    floor = np.ceil(0.5 * need)
    for k in (None, NP, NB):
        narrow = straight_plans(per, 6, need, months, terms, limit, floor, k)
        wide = straight_plans(per, 60, need, months, terms, limit, floor, k)
        same(narrow, wide)
        assert narrow.max() <= 6


@pytest.mark.parametrize("cut", [0, 2047, 2048, 2049, 4100])
def test_deaths_care_and_blocks_at_the_compiled_walks_edges(cut):
    """The compiled deaths take patients in blocks of 2,048 (survival and uniforms in vector
    lanes, then the members in order): members in care on either side of a block's edge and
    of a payer's bound, and a bound on an edge, give the numpy twin's dead, status and sums."""
    from sim.engine import lifetable
    from sim.engine.compiled import draws

    assert draws.death_block == 2048
    n = 6150
    rng = np.random.default_rng(cut)
    enrolled = rng.random(n) < 0.8
    edges = np.array([0, 1, 2046, 2047, 2048, 2049, 4095, 4096, 6143, 6144, 6149])
    enrolled[edges] = True
    age = rng.integers(64, 122, n).astype(np.int16)
    female = rng.random(n) < 0.5
    q = np.stack([lifetable.Q_MALE, lifetable.Q_FEMALE]) * 30.0
    h = lifetable.monthly_death_probability(np.minimum(q, 1.0)).reshape(-1)
    function = rng.uniform(0, 100, n).astype(np.float32)
    f_entry = rng.uniform(0, 100, n).astype(np.float32)
    care = np.union1d(edges, np.sort(rng.choice(np.flatnonzero(enrolled), 300, replace=False)))
    survive = rng.uniform(0.0, 1.0, care.size)
    status = np.where(enrolled, 1, rng.choice([0, 2], n)).astype(np.int8)
    bounds = np.array([0, cut, n])
    for risk in (None, rng.lognormal(0, 0.5, n)):
        sa, sb = status.copy(), status.copy()
        args = (h, risk, function, 0.02, care, survive, None, np.uint64(77), bounds)
        a = NB.deaths(enrolled, age, female, *args, sa, f_entry)
        same(a, NP.deaths(enrolled, age, female, *args, sb, f_entry))
        same(sa, sb)
        assert np.isin(edges, a[0]).any()  # some in care at an edge die


@pytest.mark.parametrize("n", [1, 8, 1023, 1024, 1025, 5000])
@pytest.mark.parametrize(
    "xp,fp",
    [
        ([0.0, 100.0], [0.30, 0.95]),
        ([10.0, 70.0], [0.2, 0.9]),  # the line from the first point misses the last by an ulp
        ([10.0, 60.0], [0.5, 0.5]),
        ([0.0, 100.0], [0.9, -0.6]),
        ([0.0, 100.0], [np.inf, np.inf]),  # NaN along the line both ways: the flat value
        ([0.0, 100.0], [0.0, np.inf]),  # at the first point its value, not inf × 0
    ],
)
def test_cell_sums_on_one_line(n, xp, fp):
    """A utility of two points (one line, the default) is taken in blocks of 1,024 patients
    with selects for np.interp's branches: its bits, with function at the points, beyond them
    on both sides, NaN, infinite, a flat line, a falling one and an infinite one."""
    rng = np.random.default_rng(n + int(xp[0]))
    function = rng.uniform(-20, 120, n).astype(np.float32)
    special = np.array([xp[0], xp[1], -5.0, 130.0, np.nan, np.inf, -np.inf, 0.0], np.float32)
    function[: min(n, special.size)] = special[:n]
    f0 = rng.uniform(0, 100, n).astype(np.float32)
    # up to 8: each special value alone in its cell (an ulp of one utility shows)
    cell = np.arange(n) if n <= 8 else rng.integers(0, 8, n)
    member = rng.random(n) < 0.8
    with np.errstate(invalid="ignore"):  # np.interp's and the slopes' NaN, as numpy makes them
        for mine in (None, member):
            got = NB.cell_sums(cell, function, f0, xp, fp, 8, mine)
            f = function.astype(np.float64)
            m = member if mine is not None else np.ones(n, bool)
            want = np.bincount(cell[m], np.interp(f[m], xp, fp), 8)
            same(got[2], want.astype(np.float64))
            same(got[0], np.bincount(cell[m], f[m], 8).astype(np.float64))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("other", [(0.0, 0.0), (150.0, 200.0), (12.3, 0.0)])
def test_calendar(n, other):
    """The month's calendar in place: each payer's deductible less its members' care outside
    the settings and function less decline, both at least 0 as np.maximum makes them (NaN
    kept with its bits, −0 made +0), in float32; no care outside: the deductible untouched."""
    rng = np.random.default_rng(n + int(other[0]))
    function = rng.uniform(-1, 100, n).astype(np.float32)
    decline = rng.uniform(0, 2, n).astype(np.float32)
    deductible = rng.choice([0.0, 100.0, 257.0, 150.0], n).astype(np.float32)
    if n > 6:
        function[:4] = [np.nan, -0.0, 0.0, 1.5]
        decline[:6] = [0.0, 0.0, 0.0, 1.5, np.inf, 0.0]
        function[5] = -np.float32(np.nan)  # a NaN with its sign bit
        deductible[:3] = [np.nan, -0.0, 150.0]
    start = np.array([0, n // 3, n], np.int64)
    care = np.array(other, np.float32)
    fa, fb = function.copy(), function.copy()
    da, db = deductible.copy(), deductible.copy()
    NB.calendar(fa, decline, da, start, care)
    NP.calendar(fb, decline, db, start, care)
    same(fa, fb)
    same(da, db)
    if n > 6:
        assert not np.signbit(fa[1]) and np.isnan(fa[0]) and np.signbit(fa[5])
    if not any(other):
        same(da, deductible)
    # another dtype: numpy's own
    fc, dc = function.astype(np.float64), deductible.copy()
    NB.calendar(fc, decline, dc, start, care)
    same(fc, np.maximum(function.astype(np.float64) - decline, 0.0))
