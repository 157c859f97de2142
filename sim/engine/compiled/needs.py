"""The compiled kernels of who needs care (:mod:`sim.engine.kernels.needs`).

What each computes, and the bits it must give, is its numpy twin's docstring in
:mod:`sim.engine.kernels.needs`. Every compiled function a kernel here calls is defined in
this file (the cache is per file: see :mod:`sim.engine.compiled`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, nogil=True)


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
def calendar(
    function, decline, deductible_left, payer_start, other_care, other
):  # pragma: no cover - compiled
    """:meth:`sim.engine.kernels.Numpy.calendar`, compiled: float32 as numpy's float32 (each
    difference rounded to float32, then ``np.maximum(x, 0)``: ``x`` when above 0 or NaN, else
    +0), over views of each payer's block (no branch: vector lanes)."""
    if other:
        for g in range(payer_start.size - 1):
            block = deductible_left[payer_start[g] : payer_start[g + 1]]
            care = other_care[g]
            for r in range(block.size):
                x = block[r] - care
                block[r] = x if (x > 0.0 or x != x) else np.float32(0.0)
    for i in range(function.size):
        x = function[i] - decline[i]
        function[i] = x if (x > 0.0 or x != x) else np.float32(0.0)
