"""The compiled twins of :mod:`sim.engine.kernels`' numpy kernels (numba), at module level.

Imported by :func:`sim.engine.kernels._compiled` at a model's first compiled kernel call, never
at ``import sim``. Every kernel is a module-level function with ``cache=True``, so numba saves
its machine code next to this file (or in ``NUMBA_CACHE_DIR``) on the first use after an
install and later processes load it: a kernel defined inside a function (a closure) that calls
another compiled function was saved again by every process and never loaded
(``NUMBA_DEBUG_CACHE=1`` shows it). ``tests/test_kernels.py`` checks that a second process
compiles nothing and adds nothing to the cache. The cache is keyed on this file's time stamp
and size: editing it recompiles every kernel, so the kernels that call ``uniform``,
``compact`` or ``pairwise`` never keep a stale copy of them.

What each computes, and the bits it must give, is its numpy twin's docstring in
:class:`sim.engine.kernels.Numpy`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, nogil=True)

# (the same constants as sim.engine.kernels', which this module does not import)
int16_max = np.int64(np.iinfo(np.int16).max)
golden = np.uint64(0x9E3779B97F4A7C15)
m1 = np.uint64(0xBF58476D1CE4E5B9)
m2 = np.uint64(0x94D049BB133111EB)
s30, s27, s31, s11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
scale = 1.0 / (1 << 53)


@jit
def new_needs(u, function, risk, factor, left, ref, slope):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.new_needs`, compiled."""
    # a branch-free (vectorized) pass marking the new episodes, a branch-free compaction
    # of their numbers, and their probabilities recomputed (the same bits)
    n = u.size
    one = np.float32(1.0)
    zero = np.float32(0.0)
    new = np.empty(n, np.bool_)
    m = 0
    for i in range(n):
        d = ref - function[i]
        d = zero if d < zero else d  # np.maximum(d, 0): NaN stays NaN
        p = (d * slope + one) * risk[i] * factor[i]
        c = (left[i] == 0) & (u[i] < p)
        new[i] = c
        m += c
    idx = compact(new, m)
    pn = np.empty(m, np.float32)
    for k in range(m):
        i = idx[k]
        d = ref - function[i]
        d = zero if d < zero else d
        p = (d * slope + one) * risk[i] * factor[i]
        pn[k] = one if p > one else p  # np.minimum(p, 1): NaN stays NaN
    return idx, pn


@jit
def compact(mask, m):  # pragma: no cover - compiled
    """The positions of the ``m`` true values of ``mask``, ascending, with no branch per value."""
    # the positions of the m true values, without a branch per value
    idx = np.empty(m + 1, np.int64)
    k = 0
    for i in range(mask.size):
        idx[k] = i
        k += mask[i]
    return idx[:m]


@jit
def active(left, provider, sought, need, new_patients, new_referred):  # pragma: no cover
    """:meth:`sim.engine.kernels.Numpy.active`, compiled."""
    n = left.size
    m = 0
    for i in range(n):
        m += left[i] > 0
    idx = np.empty(m + 1, np.int64)
    k = 0
    for i in range(n):
        idx[k] = i
        k += left[i] > 0
    idx = idx[:m]
    prov = np.empty(m, np.int64)
    sgt = np.empty(m, np.bool_)
    nd = np.empty(m, np.float64)
    new_ep = np.zeros(m, np.bool_)
    referred = np.zeros(m, np.bool_)
    j = 0
    n_new = new_patients.size
    for k in range(m):
        i = idx[k]
        prov[k] = provider[i]
        sgt[k] = sought[i]
        nd[k] = need[i]
        # np.searchsorted(idx, new_patients): the first active patient at or after
        while j < n_new and new_patients[j] <= i:
            new_ep[k] = True
            referred[k] = new_referred[j]
            j += 1
    if j < n_new:
        raise IndexError("a new episode's patient is not active")
    return idx, prov, sgt, nd, new_ep, referred


@jit
def deliver(
    units, region, new_episode, upv, visit_fee, first_extra, billed_units, minutes, ep_units
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.deliver`, compiled."""
    m = units.size
    visits = np.empty(m, np.int64)
    billed = np.empty(m, np.int64)
    mins = np.empty(m, np.int64)
    value = np.empty(m, np.float64)
    for i in range(m):
        n = units[i]
        v = -(-n // upv)
        safe = v if v > 1 else 1
        base = n // safe
        extra = n - base * safe
        hi = base + 1 if base + 1 < upv else upv
        lo_n = v - extra
        r = region[i]
        val = lo_n * visit_fee[r, base] + extra * visit_fee[r, hi]
        b = lo_n * billed_units[base] + extra * billed_units[hi]
        if new_episode[i] and v > 0:
            val = val + first_extra[r, hi if extra > 0 else base]
            b = b + ep_units
        else:
            val = val + 0.0
        visits[i] = v
        billed[i] = b
        mins[i] = lo_n * minutes[base] + extra * minutes[hi]
        value[i] = val
    return visits, billed, mins, value


@jit
def care_value(units, need, d, vpp, low):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.care_value`, compiled."""
    m = units.size
    benefit = np.empty(m)
    gain = np.empty(m)
    low_value = np.empty(m)
    for i in range(m):
        q = np.float64(units[i])
        nd = need[i]
        benefit[i] = d * q * (nd - 0.5 * q)
        qs = q if q < nd else nd  # np.minimum(q, need); need is never NaN
        gain[i] = d * qs * (nd - 0.5 * qs) / vpp
        valuable = np.floor(nd - low + 0.5)
        valuable = valuable if valuable > 0.0 else 0.0
        extra = units[i] - valuable
        low_value[i] = extra if extra > 0.0 else 0.0
    return benefit, gain, low_value


@jit
def record_counts(
    bounds,
    patients,
    sought,
    service_units,
    new_episode,
    billed,
    visits,
    minutes,
    adverse,
    period_end,
    period_units,
    at_threshold,
    below_threshold,
    referred,
    left,
    function,
    episode_units,
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.record_counts`, compiled."""
    n_blocks = bounds.size - 1
    out = np.empty((n_blocks, 15))
    for g in range(n_blocks):
        # scalar accumulators and no branch per patient
        treated = episodes = units = n_billed = n_visits = n_minutes = np.int64(0)
        n_adverse = ceiling = periods = p_units = at = below = ended_n = e_units = np.int64(0)
        n_referred = np.int64(0)
        for k in range(bounds[g], bounds[g + 1]):
            i = patients[k]
            u = np.int64(service_units[k])
            ended = sought[k] & (left[i] == 0)
            treated += u > 0
            episodes += new_episode[k]
            units += u
            n_billed += billed[k]
            n_visits += visits[k]
            n_minutes += minutes[k]
            n_adverse += adverse[k]
            ceiling += ended & (function[i] >= 100.0)
            periods += period_end[k]
            p_units += np.int64(period_units[k]) * period_end[k]
            at += at_threshold[k]
            below += below_threshold[k]
            ended_n += ended
            e_units += np.int64(episode_units[i]) * ended
            n_referred += referred[k]
        row = (treated, episodes, units, n_billed, n_visits, n_minutes, n_adverse, ceiling)
        row2 = (periods, p_units, at, below, ended_n, e_units, n_referred)
        for j in range(8):
            out[g, j] = np.float64(row[j])
        for j in range(7):
            out[g, 8 + j] = np.float64(row2[j])
    return out


@jit
def share_costs(
    patients, allowed, visits, deductible, ytd, coinsurance, copay, applies
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.share_costs`, compiled."""
    m = patients.size
    oop = np.empty(m)
    for k in range(m):
        i = patients[k]
        a = allowed[k]
        c = copay * visits[k]
        if applies:
            d = np.float64(deductible[i])
            part = a if a < d else d  # np.minimum(allowed, deductible)
            o = part + coinsurance * (a - part) + c
            deductible[i] = np.float32(d - part)
        else:
            o = coinsurance * a + c
        o = o if o < a else a  # at most the allowed amount
        oop[k] = o
        ytd[i] = np.float32(np.float64(ytd[i]) + o)
    return oop


@jit
def group_counts(patients, payer, risk_group, n_payers):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.group_counts`, compiled."""
    by_payer = np.zeros(n_payers, np.int64)
    by_group = np.zeros((n_payers, 4), np.int64)
    for k in range(patients.size):
        i = patients[k]
        g = payer[i]
        by_payer[g] += 1
        by_group[g, risk_group[i]] += 1
    return by_payer, by_group


@jit
def start_episodes(
    patients, length, need, seek, left, optimal_units, sought
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.start_episodes`, compiled."""
    for k in range(patients.size):
        i = patients[k]
        left[i] = length[k]
        optimal_units[i] = need[k]
        sought[i] = seek[k]


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
def pairwise(a, lo, n):  # pragma: no cover - compiled
    """numpy's pairwise sum of ``a[lo:lo + n]`` (float64), step for step."""
    # numpy's pairwise summation of float64 (numpy/_core/src/umath/loops_utils.h.src):
    # below 8 in order; up to 128 in 8 accumulators, combined in a tree, then the rest in
    # order; beyond, halves cut at a multiple of 8
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        end = n - n % 8
        i = 8
        while i < end:
            j = lo + i
            r0 += a[j]
            r1 += a[j + 1]
            r2 += a[j + 2]
            r3 += a[j + 3]
            r4 += a[j + 4]
            r5 += a[j + 5]
            r6 += a[j + 6]
            r7 += a[j + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return pairwise(a, lo, n2) + pairwise(a, lo + n2, n - n2)


@jit
def block_sums(bounds, columns):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.block_sums`, compiled."""
    n_blocks = bounds.size - 1
    out = np.empty((n_blocks, len(columns)))
    for g in range(n_blocks):
        a = bounds[g]
        n = bounds[g + 1] - a
        for j in range(len(columns)):
            # the reduction starts from add's identity
            out[g, j] = 0.0 + pairwise(columns[j], a, n)
    return out


@jit
def provider_sums(provider, mask, profit, benefit, n_prov):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.provider_sums`, compiled."""
    count = np.zeros(n_prov, np.int64)
    p_sum = np.zeros(n_prov)
    b_sum = np.zeros(n_prov)
    for i in range(provider.size):
        if mask[i]:
            p = provider[i]
            count[p] += 1
            p_sum[p] += profit[i]
            b_sum[p] += benefit[i]
    return count, p_sum, b_sum


@jit
def learn(provider, value, need_z, x, new_episode, xtx, xty, memory, mask):  # pragma: no cover
    """:meth:`sim.engine.kernels.Numpy.learn`, compiled."""
    n_prov = xty.shape[0]
    mx = np.zeros((n_prov, 6, 6))
    my = np.zeros((n_prov, 6))
    for i in range(provider.size):
        if not mask[i]:
            continue
        p = provider[i]
        y = value[i]
        z = need_z[i]
        xi = x[i]
        c = (z, z * z, xi, xi * xi, 1.0 if new_episode[i] else 0.0)
        my[p, 0] += y
        mx[p, 0, 0] += 1.0
        for a in range(5):
            my[p, a + 1] += c[a] * y
            mx[p, 0, a + 1] += c[a]
            for b in range(a, 5):
                if not ((a == 0 and b == 0) or (a == 2 and b == 2) or (a == 4 and b == 4)):
                    mx[p, a + 1, b + 1] += c[a] * c[b]
    count = np.empty(n_prov)
    keep = 1 - memory
    for p in range(n_prov):
        # the squares of z and x and the 0/1 column's square are columns 2, 4 and 5
        mx[p, 1, 1] = mx[p, 0, 2]
        mx[p, 3, 3] = mx[p, 0, 4]
        mx[p, 5, 5] = mx[p, 0, 5]
        for a in range(6):
            for b in range(a + 1, 6):
                mx[p, b, a] = mx[p, a, b]
        count[p] = mx[p, 0, 0]
        if mx[p, 0, 0] > 0:
            for a in range(6):
                xty[p, a] = keep * xty[p, a] + memory * my[p, a]
                for b in range(6):
                    xtx[p, a, b] = keep * xtx[p, a, b] + memory * mx[p, a, b]
    return count


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


@jit
def episode_values(
    patients, sought, profit, left, provider, payer, risk_group, value, n_payers, n_keys
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.episode_values`, compiled."""
    count = np.zeros(n_keys, np.int64)
    total = np.zeros(n_keys)
    for k in range(patients.size):
        if not sought[k]:
            continue
        i = patients[k]
        v = value[i] + profit[k]
        if left[i] == 0:
            key = (np.int64(provider[i]) * n_payers + np.int64(payer[i])) * 4 + risk_group[i]
            count[key] += 1
            total[key] += v
            value[i] = 0.0
        else:
            value[i] = v
    return count, total


@jit
def care_cell_sums(cell, patients, spend, oop, units, adverse, n_cells):  # pragma: no cover
    """:meth:`sim.engine.kernels.Numpy.care_cell_sums`, compiled: the settings' patient lists
    merged in one pass (each ascending), each patient's totals added to its cell at once."""
    n_settings = len(patients)
    out = np.zeros((5, n_cells))
    at = np.zeros(n_settings, np.int64)
    end = np.iinfo(np.int64).max
    while True:
        i = end
        for s in range(n_settings):
            if at[s] < patients[s].size and patients[s][at[s]] < i:
                i = patients[s][at[s]]
        if i == end:
            break
        sp = 0.0
        oo = 0.0
        un = 0.0
        ad = 0.0
        for s in range(n_settings):
            k = at[s]
            if k < patients[s].size and patients[s][k] == i:
                sp += spend[s][k]
                oo += oop[s][k]
                un += units[s][k]
                ad += 1.0 if adverse[s][k] else 0.0
                at[s] = k + 1
        c = cell[i]
        out[0, c] += sp
        out[1, c] += oo
        out[2, c] += un
        out[3, c] += ad
        out[4, c] += 1.0 if un > 0.0 else 0.0
    return out


@jit
def cell_sums(cell, function, f0, xp, fp, slopes, n_cells):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.cell_sums`, compiled: one pass over everyone; the
    utility is numpy's ``arr_interp`` step for step (numba's port of it: ``np.interp``)."""
    out = np.zeros((3, n_cells))
    last = xp.size - 1
    for i in range(cell.size):
        f = np.float64(function[i])
        c = cell[i]
        out[0, c] += f
        out[1, c] += f - np.float64(f0[i])
        if f != f:  # NaN
            u = f
        elif f > xp[last]:
            u = fp[last]
        elif f < xp[0]:
            u = fp[0]
        else:
            lo = 0  # the last point at or below f
            hi = last
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if xp[mid] <= f:
                    lo = mid
                else:
                    hi = mid - 1
            if lo == last or xp[lo] == f:
                u = fp[lo]
            else:
                slope = slopes[lo]
                u = slope * (f - xp[lo]) + fp[lo]
                if u != u:  # NaN in one direction: try the other
                    u = slope * (f - xp[lo + 1]) + fp[lo + 1]
                    if u != u and fp[lo] == fp[lo + 1]:
                        u = fp[lo]
        out[2, c] += u
    return out


#: the kernels by name (the methods of :class:`sim.engine.kernels.Numba` call these)
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
    """:meth:`sim.engine.kernels.Numpy.deaths`, compiled."""
    ages = h.size // 2
    nb = bounds.size - 1
    end = np.zeros(nb)
    f_sum = np.zeros(nb)
    f0_sum = np.zeros(nb)
    dead = np.empty(enrolled.size, np.int64)
    nd = 0
    c = 0
    nc = care_idx.size
    for g in range(nb):
        for i in range(bounds[g], bounds[g + 1]):
            if not enrolled[i]:
                continue
            f = np.float64(function[i])
            f_sum[g] += f
            f0_sum[g] += np.float64(f_entry[i])
            a = np.int64(age[i]) - 65
            a = np.int64(0) if a < 0 else (ages - 1 if a > ages - 1 else a)
            hh = h[(ages if female[i] else 0) + a]
            if has_risk:
                hh = hh * risk_term[i] * (1.0 + slope * (100.0 - f))
                hh = 1.0 if hh > 1.0 else hh
            s = 1.0 - hh
            while c < nc and care_idx[c] < i:
                c += 1
            if c < nc and care_idx[c] == i:
                s *= care_survive[c]
            if uniform(gid[i] if has_gid else i, base) < 1.0 - s:
                dead[nd] = i
                nd += 1
                status[i] = 2
            elif status[i] == 1:
                end[g] += 1
    return dead[:nd].copy(), end, f_sum, f0_sum


KERNELS = {
    "deaths": deaths,
    "new_needs": new_needs,
    "active": active,
    "deliver": deliver,
    "care_value": care_value,
    "outcomes": outcomes,
    "record_counts": record_counts,
    "share_costs": share_costs,
    "group_counts": group_counts,
    "start_episodes": start_episodes,
    "plan_units": plan_units,
    "block_sums": block_sums,
    "provider_sums": provider_sums,
    "learn": learn,
    "uniforms": uniforms,
    "episode_values": episode_values,
    "care_cell_sums": care_cell_sums,
    "cell_sums": cell_sums,
}
