"""The compiled kernels of what providers learn (:mod:`sim.engine.kernels.learning`).

What each computes, and the bits it must give, is its numpy twin's docstring in
:mod:`sim.engine.kernels.learning`. Every compiled function a kernel here calls is defined in
this file (the cache is per file: see :mod:`sim.engine.compiled`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, nogil=True)


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
