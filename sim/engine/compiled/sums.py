"""The compiled kernels that sum for the records (:mod:`sim.engine.kernels.sums`).

What each computes, and the bits it must give, is its numpy twin's docstring in
:mod:`sim.engine.kernels.sums`. Every compiled function a kernel here calls is defined in
this file (the cache is per file: see :mod:`sim.engine.compiled`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, nogil=True)


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
def cell_sums(cell, function, f0, xp, fp, slopes, n_cells, member):  # pragma: no cover
    """:meth:`sim.engine.kernels.Numpy.cell_sums`, compiled: one pass over everyone (the
    patients of ``member``); the utility is numpy's ``arr_interp`` step for step (numba's port
    of it: ``np.interp``), and the members counted (whole numbers: exact in any order)."""
    out = np.zeros((4, n_cells))
    last = xp.size - 1
    if last == 1:
        return cell_sums_line(cell, function, f0, xp, fp, slopes, member, out)
    for i in range(cell.size):
        if not member[i]:
            continue
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
        out[3, c] += 1.0
    return out


#: the patients :func:`cell_sums_line` takes together
cell_block = 1024


@jit
def cell_sums_line(cell, function, f0, xp, fp, slopes, member, out):  # pragma: no cover
    """:func:`cell_sums` when the utility is one line (two points, the default): in blocks of
    :data:`cell_block` patients, first each one's function, change and utility over views of
    the block, with no branch (the compiler runs them in vector lanes: the branches of
    :func:`cell_sums` as selects, the same arithmetic), then the members' sums per cell in
    patient order."""
    x0, x1, y0, y1, slope = xp[0], xp[1], fp[0], fp[1], slopes[0]
    size = cell_block
    fb = np.empty(size)
    gb = np.empty(size)
    ub = np.empty(size)
    n = cell.size
    for start in range(0, n, size):
        stop = min(start + size, n)
        m = stop - start
        fn = function[start:stop]
        fz = f0[start:stop]
        for r in range(m):
            f = np.float64(fn[r])
            fb[r] = f
            gb[r] = f - np.float64(fz[r])
            # between the points (x0 < f < x1): along the line from x0, else from x1, else
            # (both NaN, a flat line) y0
            a = slope * (f - x0) + y0
            b = slope * (f - x1) + y1
            b = y0 if (b != b and y0 == y1) else b
            u = b if a != a else a
            u = y0 if x0 == f else u  # at the first point
            u = y1 if f >= x1 else u  # at the last point (beyond it: below)
            u = y0 if f < x0 else u
            u = y1 if f > x1 else u
            ub[r] = f if f != f else u  # NaN
        mine = member[start:stop]
        cl = cell[start:stop]
        for r in range(m):
            if not mine[r]:
                continue
            c = cl[r]
            out[0, c] += fb[r]
            out[1, c] += gb[r]
            out[2, c] += ub[r]
            out[3, c] += 1.0
    return out
