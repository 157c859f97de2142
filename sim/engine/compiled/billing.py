"""The compiled kernels of what care is billed (:mod:`sim.engine.kernels.billing`).

What each computes, and the bits it must give, is its numpy twin's docstring in
:mod:`sim.engine.kernels.billing`. Every compiled function a kernel here calls is defined in
this file (the cache is per file: see :mod:`sim.engine.compiled`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, nogil=True)


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
