"""The compiled kernels that draw (:mod:`sim.engine.kernels.draws`), beside the one
compiled uniform they call.

What each computes, and the bits it must give, is its numpy twin's docstring in
:mod:`sim.engine.kernels.draws`. Every compiled function a kernel here calls is defined in
this file (the cache is per file: see :mod:`sim.engine.compiled`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, nogil=True)
#: the same, dividing as IEEE does (x/0 is ±inf or NaN, as numpy's; Python's error model
#: raises on it, a branch in every division that keeps a loop out of vector lanes)
jit_ieee = njit(cache=True, nogil=True, error_model="numpy")

# (the same constants as sim.engine.kernels.draws', which this module does not import)
int16_max = np.int64(np.iinfo(np.int16).max)
golden = np.uint64(0x9E3779B97F4A7C15)
m1 = np.uint64(0xBF58476D1CE4E5B9)
m2 = np.uint64(0x94D049BB133111EB)
s30, s27, s31, s11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
scale = 1.0 / (1 << 53)


@jit
def uniform(g, base):  # pragma: no cover - compiled
    """One counter-based uniform on [0, 1): :meth:`sim.engine.kernels.Numpy.uniforms` of one
    patient."""
    # splitmix64 of a patient's number and the counter; its top 53 bits on [0, 1)
    x = np.uint64(g) * golden + base
    x ^= x >> s30
    x *= m1
    x ^= x >> s27
    x *= m2
    x ^= x >> s31
    return np.float64(x >> s11) * scale


@jit
def uniforms(patients, base):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.uniforms`, compiled."""
    out = np.empty(patients.size)
    for i in range(patients.size):
        out[i] = uniform(patients[i], base)
    return out


@jit
def plan_units(
    gid,
    patients,
    month,
    experimenting,
    delta,
    theta,
    need,
    max_units,
    base,
    sought,
    new_episode,
    episode_units,
    episode_month,
    period_units,
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.plan_units`, compiled."""
    m = patients.size
    sign = np.zeros(m, np.int8)
    planned = np.empty(m)
    units = np.empty(m, np.int64)
    ep_month = np.empty(m, np.int64)
    for k in range(m):
        i = patients[k]
        if experimenting:
            sign[k] = np.int8((gid[k] + month) % 3 - 1)
        x = need[k] + (theta[k] + delta * np.float64(sign[k]))
        x = 0.0 if x < 0.0 else x
        x = max_units if x > max_units else x
        planned[k] = x
        u = np.int64(np.floor(x + uniform(gid[k], base))) if sought[k] else 0
        units[k] = u
        used = 0 if new_episode[k] else np.int64(episode_units[i])
        total = used + u
        episode_units[i] = total if total < int16_max else int16_max
        e = 0 if new_episode[k] else np.int64(episode_month[i])
        ep_month[k] = e
        period_units[i] = u if u < int16_max else int16_max
        episode_month[i] = e + 1 if e + 1 < int16_max else int16_max
    return sign, planned, units, ep_month


@jit
def outcomes(
    patients,
    gid,
    base,
    units,
    need,
    gain,
    extra_risk,
    has_extra,
    function,
    risk,
    left,
    base_rate,
    slope,
    shortfall,
    loss,
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.outcomes`, compiled."""
    m = patients.size
    f0 = np.empty(m)
    p_ae = np.empty(m)
    adverse = np.empty(m, np.bool_)
    change = np.empty(m)
    rate = np.float32(base_rate)  # a weak Python float times float32 risk: float32
    for k in range(m):
        i = patients[k]
        f = np.float64(function[i])
        f0[k] = f
        b = np.float64(rate * risk[i]) * (1.0 + slope * (100.0 - f) / 100.0)
        short = need[k] - units[k]
        short = short if short > 0.0 else 0.0
        p = b + shortfall * short * short
        p = 1.0 if p > 1.0 else p
        if has_extra:
            p = p + extra_risk[k]
            p = 1.0 if p > 1.0 else p
        p_ae[k] = p
        event = uniform(gid[k], base) < p
        adverse[k] = event
        after = f + gain[k] - loss * (1.0 if event else 0.0)
        after = 0.0 if after < 0.0 else after
        after = 100.0 if after > 100.0 else after
        stored = np.float32(after)
        function[i] = stored
        change[k] = np.float64(stored) - f
        left[i] -= 1
    return f0, p_ae, adverse, change


#: the patients :func:`deaths` takes together
death_block = 2048


@jit
def deaths(
    enrolled,
    age,
    female,
    h,
    risk_term,
    has_risk,
    function,
    slope,
    care_idx,
    care_survive,
    gid,
    has_gid,
    base,
    bounds,
    status,
    f_entry,
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.deaths`, compiled: in blocks of :data:`death_block`
    patients, first what does not depend on the order (each patient's survival and uniform,
    over views of the block so that the compiler runs them in vector lanes; then the members
    in care: their survival times care's), then the members in patient order (the sums in
    registers, the same additions in the same order, the dead and their status)."""
    ages = h.size // 2
    nb = bounds.size - 1
    end = np.zeros(nb)
    f_sum = np.zeros(nb)
    f0_sum = np.zeros(nb)
    dead = np.empty(enrolled.size, np.int64)
    nd = 0
    c = 0
    nc = care_idx.size
    size = death_block
    survive = np.empty(size)
    u = np.empty(size)
    for g in range(nb):
        fs = 0.0
        f0s = 0.0
        alive = 0.0
        for start in range(bounds[g], bounds[g + 1], size):
            stop = min(start + size, bounds[g + 1])
            m = stop - start
            ag = age[start:stop]
            fem = female[start:stop]
            fn = function[start:stop]
            if has_risk:
                rt = risk_term[start:stop]
                for r in range(m):
                    f = np.float64(fn[r])
                    a = np.int64(ag[r]) - 65
                    a = np.int64(0) if a < 0 else (ages - 1 if a > ages - 1 else a)
                    hh = h[(ages if fem[r] else 0) + a]
                    hh = hh * rt[r] * (1.0 + slope * (100.0 - f))
                    hh = 1.0 if hh > 1.0 else hh
                    survive[r] = 1.0 - hh
            else:
                for r in range(m):
                    a = np.int64(ag[r]) - 65
                    a = np.int64(0) if a < 0 else (ages - 1 if a > ages - 1 else a)
                    survive[r] = 1.0 - h[(ages if fem[r] else 0) + a]
            if has_gid:
                gd = gid[start:stop]
                for r in range(m):
                    u[r] = uniform(gd[r], base)
            else:
                for r in range(m):
                    u[r] = uniform(start + r, base)
            # care's survival, once per patient (its first entry: the walk in patient order
            # passed the others by)
            while c < nc and care_idx[c] < stop:
                i = care_idx[c]
                if i >= start and (c == 0 or care_idx[c - 1] != i):
                    survive[i - start] *= care_survive[c]
                c += 1
            member = enrolled[start:stop]
            fe = f_entry[start:stop]
            st = status[start:stop]
            for r in range(m):
                if not member[r]:
                    continue
                fs += np.float64(fn[r])
                f0s += np.float64(fe[r])
                if u[r] < 1.0 - survive[r]:
                    dead[nd] = start + r
                    nd += 1
                    st[r] = 2
                elif st[r] == 1:
                    alive += 1
        f_sum[g] = fs
        f0_sum[g] = f0s
        end[g] = alive
    return dead[:nd].copy(), end, f_sum, f0_sum


@jit
def best_units(
    schedule, months, need, alpha, per_event, per_point, mc, d, h, h_o, vpp, limit, floor
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.best_units`, compiled (:func:`walk_units`)."""
    return walk_units(
        schedule, months, need, alpha, per_event, per_point, mc, d, h, h_o, vpp, limit, floor
    )


@jit_ieee
def best_units_straight(
    per_unit, width, months, need, alpha, per_event, per_point, mc, d, h, h_o, vpp, limit, floor
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.best_units_straight`, compiled: :func:`walk_payers`
    with one payer."""
    n = months.shape[0]
    p = np.empty((1, n))
    e = np.empty((1, n))
    o = np.empty((1, n))
    p[0, :] = per_unit
    e[0, :] = per_event
    o[0, :] = per_point
    units, value = walk_payers(
        p, width, e, o, months, need, alpha, mc, d, h, h_o, vpp, limit, floor
    )
    return units[0], value[0]


@jit_ieee
def best_units_payers(
    per_unit, width, per_event, per_point, months, need, alpha, mc, d, h, h_o, vpp, limit,
    floor,
):  # pragma: no cover - compiled  # fmt: skip
    """:meth:`sim.engine.kernels.Numpy.best_units_payers`, compiled (:func:`walk_payers`)."""
    return walk_payers(
        per_unit, width, per_event, per_point, months, need, alpha, mc, d, h, h_o, vpp, limit,
        floor,
    )  # fmt: skip


#: the patients :func:`walk_payers` walks together
walk_block = 64


@jit_ieee
def walk_payers(
    per_unit, width, per_event, per_point, months, need, alpha, mc, d, h, h_o, vpp, limit,
    floor,
):  # pragma: no cover - compiled  # fmt: skip
    """The best units of straight schedules at every payer's prices (row ``g`` of
    ``per_unit``, ``per_event`` and ``per_point``; :meth:`sim.engine.kernels.Numpy.
    best_units_payers`): numpy's operations in numpy's order, element by element.

    The patients are walked in blocks of :data:`walk_block`, along the unit grid with the
    block's patients innermost (no branch, so the compiler runs them in vector lanes; IEEE
    division, ``error_model="numpy"``, so that no division raises): at each unit count what
    does not depend on the payer (benefit, events, function gained, whether the count is
    within the limit and the floor) once for the block, then each payer's value from it
    (``price·k − mc·k + m·(α·benefit − e·events + o·gain)``) and ``np.argmax``'s search as a
    running one: the first maximum (a strict ``>`` keeps the first of equals, from −inf, so a
    row of −inf keeps 0), or the row's first NaN (its own bits) if it has one."""
    npay = per_unit.shape[0]
    n = months.shape[0]
    units = np.zeros((npay, n), np.int64)
    value = np.zeros((npay, n))
    nblock = walk_block
    m_ = np.empty(nblock)
    q_ = np.empty(nblock)
    a_ = np.empty(nblock)
    lim_ = np.empty(nblock)
    flo_ = np.empty(nblock)
    benefit_ = np.empty(nblock)
    events_ = np.empty(nblock)
    gain_ = np.empty(nblock)
    inside_ = np.empty(nblock)
    p_ = np.empty((npay, nblock))
    e_ = np.empty((npay, nblock))
    o_ = np.empty((npay, nblock))
    best_ = np.empty((npay, nblock), np.int64)
    best_v_ = np.empty((npay, nblock))
    nan_ = np.empty((npay, nblock), np.int64)
    nan_v_ = np.empty((npay, nblock))
    for start in range(0, n, nblock):
        nb = min(nblock, n - start)
        for r in range(nb):
            i = start + r
            m_[r] = months[i]
            q_[r] = need[i]
            a_[r] = alpha[i]
            lim_[r] = limit[i]
            flo_[r] = floor[i]
        for g in range(npay):
            for r in range(nb):
                i = start + r
                p_[g, r] = per_unit[g, i]
                e_[g, r] = per_event[g, i]
                o_[g, r] = per_point[g, i]
                best_[g, r] = 0
                best_v_[g, r] = -np.inf
                nan_[g, r] = -1
                nan_v_[g, r] = 0.0
        for j in range(width):
            k = np.float64(j)
            cost = mc * k
            for r in range(nb):
                m = m_[r]
                q_b = q_[r]
                q = k / m
                benefit = d * q * (q_b - 0.5 * q)
                x = q_b - q
                short = x if (x >= 0.0 or x != x) else 0.0
                events = h * short * short
                y = q - q_b
                over = y if (y >= 0.0 or y != y) else 0.0
                both = events + h_o * over * over
                events = both if h_o != 0.0 else events
                lo = q if (q <= q_b or q != q) else q_b
                benefit_[r] = a_[r] * benefit
                events_[r] = events
                gain_[r] = d * lo * (q_b - 0.5 * lo) / vpp
                inside_[r] = 1.0 if (k <= lim_[r] and k >= flo_[r]) else 0.0
            for g in range(npay):
                p = p_[g]
                e = e_[g]
                o = o_[g]
                best = best_[g]
                best_v = best_v_[g]
                nan = nan_[g]
                nan_v = nan_v_[g]
                for r in range(nb):
                    v = (
                        p[r] * k
                        - cost
                        + m_[r] * (benefit_[r] - e[r] * events_[r] + o[r] * gain_[r])
                    )
                    v = v if inside_[r] != 0.0 else -np.inf
                    above = v > best_v[r]
                    best[r] = j if above else best[r]
                    best_v[r] = v if above else best_v[r]
                    first_nan = v != v and nan[r] < 0
                    nan_v[r] = v if first_nan else nan_v[r]
                    nan[r] = j if first_nan else nan[r]
        for g in range(npay):
            for r in range(nb):
                i = start + r
                if nan_[g, r] >= 0:
                    units[g, i] = nan_[g, r]
                    value[g, i] = nan_v_[g, r]
                else:
                    units[g, i] = best_[g, r]
                    value[g, i] = best_v_[g, r]
    return units, value


@jit
def walk_units(
    schedule, months, need, alpha, per_event, per_point, mc, d, h, h_o, vpp, limit, floor
):  # pragma: no cover - compiled
    """The best units of :meth:`sim.engine.kernels.Numpy.best_units`: each patient's grid
    computed in one pass, numpy's operations in numpy's order (``np.maximum``/``np.minimum``
    keep their first argument on a tie or NaN), then searched in a second as ``np.argmax``
    does (the first maximum, or the first NaN). Two passes, not one: the first has no branch
    that depends on the values and the second is a chain of selects, which together run about
    twice as fast as one walk comparing as it goes."""
    n = months.shape[0]
    width = schedule.shape[1]
    units = np.zeros(n, np.int64)
    value = np.zeros(n)
    row = np.empty(width)
    for i in range(n):
        m = months[i]
        q_b = need[i]
        a = alpha[i]
        e = per_event[i]
        o = per_point[i]
        lim = limit[i]
        flo = floor[i]
        for j in range(width):
            k = np.float64(j)
            q = k / m
            benefit = d * q * (q_b - 0.5 * q)
            x = q_b - q
            short = x if (x >= 0.0 or x != x) else 0.0
            events = h * short * short
            if h_o != 0.0:
                y = q - q_b
                over = y if (y >= 0.0 or y != y) else 0.0
                events = events + h_o * over * over
            lo = q if (q <= q_b or q != q) else q_b
            gain = d * lo * (q_b - 0.5 * lo) / vpp
            v = schedule[i, j] - mc * k + m * (a * benefit - e * events + o * gain)
            row[j] = v if (k <= lim and k >= flo) else -np.inf
        # np.argmax: the first maximum (a strict > keeps the first of equals), or the row's
        # first NaN if it has one
        best = 0
        best_v = row[0]
        nan = -1
        for j in range(width):
            v = row[j]
            above = v > best_v
            best = j if above else best
            best_v = v if above else best_v
            if v != v and nan < 0:
                nan = j
        if nan >= 0:
            best = nan
            best_v = row[nan]
        units[i] = best
        value[i] = best_v
    return units, value
