"""Fused passes over the patients: numba kernels, each with a pure-numpy twin of the same bits.

The monthly step is array code; most of it is one numpy call per quantity, which is as fast as
numpy goes. Some passes are a chain of numpy calls over the same patients (a temporary per
step): the need probability and the new episodes over every patient, the patients with an
active episode, a plain month's units and period bookkeeping, units → visits, billed units,
minutes and fee value, benefit and outcomes, cost sharing, the providers' sums and learning
record, the records' sums (the table in docs/architecture.md, "Compiled kernels"). Each of
those is written twice here, with one signature:

* :class:`Numpy` - the reference: plain numpy, the code the model has always run;
* :class:`Numba` - the same arithmetic in one compiled loop (``numba.njit``, no fastmath:
  every operation is the IEEE one numpy does, in the same dtype and order).

Both give the same bits for every input the model makes (``tests/test_kernels.py`` checks each
kernel on random and edge-case inputs, and the reference outputs under both). Which one a run
uses cannot change its outputs, so it is chosen for speed alone, once per model by
:func:`select`:

* ``SIM_KERNELS=numpy`` or ``numba`` forces one (``numba`` fails if numba is not installed);
* ``auto`` (the default) takes numba when it is installed and the population has at least
  :data:`MIN_PATIENTS` patients, or when this process has loaded the kernels already (a large
  model ran, or :func:`preload`: a process running many small simulations). Other small runs
  keep numpy and never import numba, whose import and kernel loading would dominate one small
  run; numba is imported at a kernel's first call.

numba is in the ``fast`` extra (and in ``all``); without it every run uses :class:`Numpy`.
The compiled kernels live in :mod:`sim.engine.compiled` (module-level functions, cached on disk
by numba): only a process's first use after an install compiles them (about 6 s); later
processes load them.

No kernel uses a transcendental function: numpy's SIMD ``log``, ``exp`` and ``power`` differ
from libm's by an ulp on some CPUs, so a compiled twin could not promise the same bits.

Where another kernel would pay, write both twins here, add the method to both classes and to
``tests/test_kernels.py``; the call site calls ``world.kernels.<name>(…)`` and never branches.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from typing import Any

import numpy as np

from sim.engine import clinical
from sim.errors import SimError
from sim.guards.extras import require

#: populations from this size on use the compiled kernels under ``SIM_KERNELS=auto``
MIN_PATIENTS = 50_000

_MODES = ("auto", "numpy", "numba")
_GOLDEN = 0x9E3779B97F4A7C15
_INT16_MAX = np.iinfo(np.int16).max

#: the columns of :meth:`Numpy.record_counts`, in order (the monthly records' names)
RECORD_COUNTS = (
    "treated",
    "episodes",
    "units",
    "billed",
    "visits",
    "minutes",
    "adverse",
    "at_ceiling",
    "periods",
    "period_units",
    "at_threshold",
    "below_threshold",
    "episodes_ended",
    "ended_units",
    "referrals",
)


def planned_units(need: np.ndarray, offset: np.ndarray, max_units: int) -> np.ndarray:
    """Planned (continuous) units for each patient: clip(q_B + offset, 0, max_units)."""
    return np.clip(need + offset, 0.0, float(max_units))


def need_probability(
    function: np.ndarray,
    risk: np.ndarray,
    factor: np.ndarray,
    reference_function: float,
    slope: float,
) -> np.ndarray:
    """Every patient's probability of a new need this month (float32, may exceed 1):
    ``(1 + slope/100 · max(reference_function − function, 0)) · risk · factor``."""
    p = reference_function - function
    np.maximum(p, 0.0, out=p)
    p *= slope / 100.0
    p += 1.0
    p *= risk
    p *= factor
    return p


def variation_sign(patient_index: np.ndarray, month: int) -> np.ndarray:
    """−1, 0 or +1: which variation of its style a provider tries on this patient this month.

    Deterministic and balanced (by patient number and month), so it uses no random numbers
    and leaves the common random numbers of the arms untouched.
    """
    return ((patient_index + month) % 3).astype(np.int8) - 1


class Numpy:
    """The numpy twins (the reference semantics)."""

    name = "numpy"

    @staticmethod
    def new_needs(
        u: np.ndarray,
        function: np.ndarray,
        risk: np.ndarray,
        factor: np.ndarray,
        left: np.ndarray,
        reference_function: float,
        slope: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Patients whose need draw ``u`` falls below their need probability
        ``(1 + slope/100 · max(reference_function − function, 0)) · risk · factor`` and who have
        no episode (``left == 0``): their numbers (ascending) and probabilities capped at 1
        (float32, as the probability)."""
        p = need_probability(function, risk, factor, reference_function, slope)
        new = u < p
        new &= left == 0
        idx = np.flatnonzero(new)
        return idx, np.minimum(p[idx], 1.0)

    @staticmethod
    def active(
        left: np.ndarray,
        provider: np.ndarray,
        sought: np.ndarray,
        need: np.ndarray,
        new_patients: np.ndarray,
        new_referred: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        """The patients with an episode (``left > 0``, ascending) and, for them, their
        provider (int64), whether they sought care, their need (float64), whether their
        episode is new (one of ``new_patients``, ascending) and whether it was referred."""
        idx = np.flatnonzero(left > 0)
        new_ep = np.zeros(idx.size, np.bool_)
        pos = np.searchsorted(idx, new_patients)
        new_ep[pos] = True
        referred = np.zeros(idx.size, np.bool_)
        referred[pos] = new_referred
        return (
            idx,
            provider[idx].astype(np.int64),
            sought[idx],
            need[idx].astype(np.float64),
            new_ep,
            referred,
        )

    @staticmethod
    def deliver(
        units: np.ndarray,
        region: np.ndarray,
        new_episode: np.ndarray,
        units_per_visit: int,
        visit_fee: np.ndarray,
        first_visit_extra: np.ndarray,
        billed_units: np.ndarray,
        minutes: np.ndarray,
        episode_units: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Units → (visits, billed units, minutes, fee value): ``ceil(n / units_per_visit)``
        visits, ``n mod visits`` of them with one unit more; the fee of a visit with k units
        in the patient's region from ``visit_fee[region, k]``, plus ``first_visit_extra`` and
        ``episode_units`` on the first visit of a new episode."""
        upv = units_per_visit
        n = units.astype(np.int64)
        visits = -(-n // upv)
        safe = np.maximum(visits, 1)
        base = n // safe
        extra = n - base * safe  # visits with base + 1 units
        hi = np.minimum(base + 1, upv)
        value = (visits - extra) * visit_fee[region, base] + extra * visit_fee[region, hi]
        first = new_episode & (visits > 0)
        first_k = np.where(extra > 0, hi, base)
        value += np.where(first, first_visit_extra[region, first_k], 0.0)
        billed = (visits - extra) * billed_units[base] + extra * billed_units[hi]
        billed += np.where(first, episode_units, 0)
        mins = (visits - extra) * minutes[base] + extra * minutes[hi]
        return visits, billed, mins, value

    @staticmethod
    def care_value(
        units: np.ndarray,
        need: np.ndarray,
        curvature: float,
        value_per_point: float,
        threshold: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Benefit, function gain and low-value units of the units given: the formulas of
        :mod:`sim.engine.clinical`."""
        return (
            clinical.benefit_value(units, need, curvature),
            clinical.function_gain(units, need, curvature, value_per_point),
            clinical.low_value_units(units, need, curvature, threshold),
        )

    @staticmethod
    def outcomes(
        patients: np.ndarray,
        gid: np.ndarray,
        base: np.uint64,
        units: np.ndarray,
        need: np.ndarray,
        gain: np.ndarray,
        extra_risk: np.ndarray | None,
        function: np.ndarray,
        risk: np.ndarray,
        left: np.ndarray,
        base_rate: float,
        function_slope: float,
        shortfall_risk: float,
        function_loss: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The month's outcomes for the patients in episode (ascending ``patients``; ``gid``
        their numbers in the whole run): adverse events drawn against their probability
        (:func:`sim.engine.clinical.adverse_event_probability`, plus ``extra_risk``, capped at 1)
        with the uniforms of counter ``base``, then function ``clip(f + gain − loss·event, 0,
        100)`` stored and the episode's months left counted down, in place. Returns function
        at the start (float64), the probability, the events and the change in function."""
        f0 = function[patients].astype(np.float64)
        p_ae = clinical.adverse_event_probability(
            risk[patients],
            f0,
            units,
            need,
            base_rate=base_rate,
            function_slope=function_slope,
            shortfall_risk=shortfall_risk,
        )
        if extra_risk is not None:
            p_ae = np.minimum(p_ae + extra_risk, 1.0)
        adverse = Numpy.uniforms(gid, base) < p_ae
        function[patients] = np.clip(f0 + gain - function_loss * adverse, 0.0, 100.0)
        left[patients] -= 1
        return f0, p_ae, adverse, function[patients] - f0

    @staticmethod
    def record_counts(
        bounds: np.ndarray,
        patients: np.ndarray,
        sought: np.ndarray,
        service_units: np.ndarray,
        new_episode: np.ndarray,
        billed: np.ndarray,
        visits: np.ndarray,
        minutes: np.ndarray,
        adverse: np.ndarray,
        period_end: np.ndarray,
        period_units: np.ndarray,
        at_threshold: np.ndarray,
        below_threshold: np.ndarray,
        referred: np.ndarray,
        left: np.ndarray,
        function: np.ndarray,
        episode_units: np.ndarray,
    ) -> np.ndarray:
        """The records' whole-number sums over each payer's block (``bounds[g]`` to
        ``bounds[g + 1]``), float64, one row per payer and one column per name in
        :data:`RECORD_COUNTS`: counts of the boolean columns and sums of the integer ones.
        An episode *ended* if it was sought and has no months left; it ended *at the ceiling*
        if function is then 100. Whole numbers below 2⁵³ add up exactly in any order."""
        ended = sought & (left[patients] == 0)
        cols = (
            service_units > 0,
            new_episode,
            service_units,
            billed,
            visits,
            minutes,
            adverse,
            ended & (function[patients] >= 100.0),
            period_end,
            np.where(period_end, period_units, 0),
            at_threshold,
            below_threshold,
            ended,
            np.where(ended, episode_units[patients], 0),
            referred,
        )
        out = np.empty((bounds.size - 1, len(cols)))
        for g in range(bounds.size - 1):
            b = slice(int(bounds[g]), int(bounds[g + 1]))
            for j, w in enumerate(cols):
                if w.dtype == np.bool_:
                    out[g, j] = np.count_nonzero(w[b])
                else:
                    out[g, j] = w[b].sum(dtype=np.float64)
        return out

    @staticmethod
    def share_costs(
        terms_of: Any,
        patients: np.ndarray,
        allowed: np.ndarray,
        visits: np.ndarray,
        deductible: np.ndarray,
        oop_year_to_date: np.ndarray,
    ) -> np.ndarray:
        """What patients pay of ``allowed`` under cost-sharing terms ``terms_of`` (a contract's
        parameters or a benefit design: :func:`sim.engine.payment.terms.patient_cost_sharing`
        without a contract's own patient share), their deductible left and year-to-date
        out-of-pocket updated in place. Returns the out-of-pocket amounts."""
        from sim.engine.payment.terms import patient_cost_sharing

        oop, left = patient_cost_sharing(
            terms_of, allowed, visits, deductible[patients], None, None
        )
        if left is not None:
            deductible[patients] = left
        oop_year_to_date[patients] += oop
        return oop

    @staticmethod
    def group_counts(
        patients: np.ndarray, payer: np.ndarray, risk_group: np.ndarray, n_payers: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Counts of ``patients`` by payer (int64, n_payers) and by payer and risk quartile
        (int64, n_payers × 4)."""
        by_payer = np.bincount(payer[patients], minlength=n_payers)
        key = payer[patients].astype(np.int64) * 4 + risk_group[patients]
        by_group = np.bincount(key, minlength=n_payers * 4).reshape(n_payers, 4)
        return by_payer, by_group

    @staticmethod
    def start_episodes(
        patients: np.ndarray,
        length: np.ndarray,
        need: np.ndarray,
        seek: np.ndarray,
        left: np.ndarray,
        optimal_units: np.ndarray,
        sought: np.ndarray,
    ) -> None:
        """Store new episodes in the population's arrays: months left, need (as the array's
        dtype) and whether the patient sought care."""
        left[patients] = length
        optimal_units[patients] = need
        sought[patients] = seek

    @staticmethod
    def plan_units(
        gid: np.ndarray,
        patients: np.ndarray,
        month: int,
        experimenting: bool,
        delta: float,
        theta: np.ndarray,
        need: np.ndarray,
        max_units: int,
        base: np.uint64,
        sought: np.ndarray,
        new_episode: np.ndarray,
        episode_units: np.ndarray,
        episode_month: np.ndarray,
        period_units: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A plain month's units for the patients in episode (ascending ``patients``; ``gid``
        their numbers in the whole run): the experiment's sign (−1, 0, +1 by patient and
        month when ``experimenting``, else 0), planned units ``clip(need + θ + δ·sign, 0,
        max)``, rounded with the uniforms of counter ``base`` (0 for who did not seek care);
        the episode's units so far, the period's units and the episode month stored (at most
        the int16 maximum). Returns (sign, planned, units, episode month before this one)."""
        sign = variation_sign(gid, month) if experimenting else np.zeros(patients.size, np.int8)
        planned = planned_units(need, theta + delta * sign, max_units)
        units = np.floor(planned + Numpy.uniforms(gid, base)).astype(np.int64)
        units[~sought] = 0
        used = np.where(new_episode, 0, episode_units[patients]).astype(np.int64)
        episode_units[patients] = np.minimum(used + units, _INT16_MAX)
        ep_month = np.where(new_episode, 0, episode_month[patients]).astype(np.int64)
        period_units[patients] = np.minimum(units + np.int64(0), _INT16_MAX)
        episode_month[patients] = np.minimum(ep_month + 1, _INT16_MAX)
        return sign, planned, units, ep_month

    @staticmethod
    def block_sums(bounds: np.ndarray, columns: tuple[np.ndarray, ...]) -> np.ndarray:
        """Sums of each float64 column over each block (``bounds[g]`` to ``bounds[g + 1]``):
        one row per block, one column per column (``np.sum``: pairwise)."""
        out = np.empty((bounds.size - 1, len(columns)))
        for g in range(bounds.size - 1):
            a, b = int(bounds[g]), int(bounds[g + 1])
            for j, c in enumerate(columns):
                out[g, j] = c[a:b].sum(dtype=np.float64)
        return out

    @staticmethod
    def provider_sums(
        provider: np.ndarray,
        mask: np.ndarray,
        profit: np.ndarray,
        benefit: np.ndarray,
        n_providers: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per provider, over the patients where ``mask`` is true: their number (int64) and
        the sums of ``profit`` and ``benefit`` (``np.bincount``: in patient order)."""
        own = provider[mask]
        # (np.bincount of no patients gives integer zeros even with weights: sums are float64)
        return (
            np.bincount(own, minlength=n_providers),
            np.bincount(own, profit[mask], n_providers).astype(np.float64, copy=False),
            np.bincount(own, benefit[mask], n_providers).astype(np.float64, copy=False),
        )

    @staticmethod
    def learn(
        provider: np.ndarray,
        value: np.ndarray,
        need_z: np.ndarray,
        x: np.ndarray,
        new_episode: np.ndarray,
        xtx: np.ndarray,
        xty: np.ndarray,
        memory: float,
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Fold a month into each provider's least-squares record, in place: the month's
        ``X'X`` and ``X'y`` of the regressors (1, z, z², x, x², new episode) and ``y = value``
        (sums over the patients in order, as ``np.bincount`` adds them; only the patients
        where ``mask`` is true, if given), then ``record = (1 − memory)·record +
        memory·month`` for the providers with patients. Returns the patients per provider
        (float64)."""
        if mask is not None:
            provider, value, need_z = provider[mask], value[mask], need_z[mask]
            x, new_episode = x[mask], new_episode[mask]
        n_providers = xty.shape[0]
        cols = [None, need_z, need_z * need_z, x, x * x, new_episode.astype(float)]
        k = len(cols)
        mx = np.empty_like(xtx)
        my = np.empty_like(xty)

        def total(w: np.ndarray | None) -> np.ndarray:
            if w is None:  # the constant's own product: a count, as float64
                return np.bincount(provider, minlength=n_providers).astype(np.float64)
            return np.bincount(provider, w, minlength=n_providers)

        # products with the constant column (1.0 · w is w, exactly) need no multiplication;
        # the squares of z and x are the columns 2 and 4 themselves, and the 0/1 column's
        # square is itself: each of those sums is computed once
        same = {(1, 1): (0, 2), (3, 3): (0, 4), (5, 5): (0, 5)}
        for i in range(k):
            my[:, i] = total(value if i == 0 else cols[i] * value)
            for j in range(i, k):
                if (i, j) in same:
                    v = mx[:, same[i, j][0], same[i, j][1]]
                elif i == 0:
                    v = total(cols[j])
                else:
                    v = np.bincount(provider, cols[i] * cols[j], minlength=n_providers)
                mx[:, i, j] = v
                mx[:, j, i] = v
        count = mx[:, 0, 0]
        seen = count > 0
        xtx[seen] = (1 - memory) * xtx[seen] + memory * mx[seen]
        xty[seen] = (1 - memory) * xty[seen] + memory * my[seen]
        return count

    @staticmethod
    def deaths(
        enrolled: np.ndarray,
        age: np.ndarray,
        female: np.ndarray,
        h: np.ndarray,
        risk_term: np.ndarray | None,
        function: np.ndarray,
        slope: float,
        care_idx: np.ndarray,
        care_survive: np.ndarray,
        gid: np.ndarray | None,
        base: np.uint64,
        bounds: np.ndarray,
        status: np.ndarray,
        f_entry: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The life course's month (:mod:`sim.engine.month.lifecourse`): each member
        (``enrolled``) dies when its counter-based uniform (counter ``base``, the patient's
        number in the whole run ``gid``, itself when None) falls below ``1 − s``, with ``s =
        (1 − min(1, h[sex, age − 65] · risk_term · (1 + slope·(100 − function)))) ·
        care_survive`` (``age`` in whole years, ``h`` flattened: men's ages 65-119, then
        women's; ``slope`` per point of function; the risk term only when ``risk_term`` is
        given; ``care_survive`` for the members ``care_idx``, ascending, 1 for the others); the
        dead's ``status`` becomes 2. Returns the dead (ascending) and,
        per block of ``bounds``, the members still alive (``status`` 1), and the members'
        sums of ``function`` and ``f_entry`` (float64, summed in patient order)."""
        ages = h.size // 2
        idx = np.flatnonzero(enrolled)
        a = np.clip(age[idx].astype(np.int64) - 65, 0, ages - 1)
        hh = h[female[idx].astype(np.int64) * ages + a]
        if risk_term is not None:
            f = function[idx].astype(np.float64)
            hh = np.minimum(hh * risk_term[idx] * (1.0 + slope * (100.0 - f)), 1.0)
        survive = 1.0 - hh
        if care_idx.size:
            survive[np.searchsorted(idx, care_idx)] *= care_survive
        u = Numpy.uniforms(idx if gid is None else gid[idx], base)
        dead = idx[u < 1.0 - survive]
        status[dead] = 2
        nb = bounds.size - 1
        end, f_sum, f0_sum = np.zeros(nb), np.zeros(nb), np.zeros(nb)
        for g in range(nb):
            lo, hi = int(bounds[g]), int(bounds[g + 1])
            end[g] = np.count_nonzero(status[lo:hi] == 1)
            if hi > lo:
                mine = enrolled[lo:hi]
                # in patient order (a running sum), as the compiled loop adds them
                f_sum[g] = np.cumsum(np.where(mine, function[lo:hi].astype(np.float64), 0.0))[-1]
                f0_sum[g] = np.cumsum(np.where(mine, f_entry[lo:hi].astype(np.float64), 0.0))[-1]
        return dead, end, f_sum, f0_sum

    @staticmethod
    def episode_values(
        patients: np.ndarray,
        sought: np.ndarray,
        profit: np.ndarray,
        left: np.ndarray,
        provider: np.ndarray,
        payer: np.ndarray,
        risk_group: np.ndarray,
        value: np.ndarray,
        n_payers: int,
        n_keys: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Episode values (:class:`sim.engine.features.selection.EpisodeValues`): the month's
        ``profit`` of the patients in episode (ascending) who sought care added to their
        episode's ``value``; the episodes that ended (``left == 0``) counted and their values
        summed by key ``(provider · n_payers + payer) · 4 + risk group`` in patient order
        (``np.bincount``, ``n_keys`` keys), and their values reset to 0, in place. Returns the
        counts (int64) and sums (float64)."""
        idx = patients[sought]
        value[idx] += profit[sought]
        ended = idx[left[idx] == 0]
        key = (
            provider[ended].astype(np.int64) * n_payers + payer[ended].astype(np.int64)
        ) * 4 + risk_group[ended]
        count = np.bincount(key, minlength=n_keys)
        total = np.bincount(key, value[ended], minlength=n_keys).astype(np.float64)
        value[ended] = 0.0
        return count, total

    @staticmethod
    def care_cell_sums(
        cell: np.ndarray,
        patients: tuple[np.ndarray, ...],
        spend: tuple[np.ndarray, ...],
        oop: tuple[np.ndarray, ...],
        units: tuple[np.ndarray, ...],
        adverse: tuple[np.ndarray, ...],
        n_cells: int,
    ) -> np.ndarray:
        """The month's care by subgroup cell (:mod:`sim.engine.subgroups`): per setting its
        patients in episode (ascending) and their spending, out-of-pocket, service units and
        adverse events; each patient's totals over the settings (added in setting order, from
        0.0), summed per cell ``cell[patient]`` in patient order, as ``np.bincount`` sums a
        per-patient array over everyone (a patient without care adds 0.0, which changes no
        sum). Rows (float64, ``n_cells`` each): spending, out-of-pocket, service units, adverse
        events, patients treated (service units above 0)."""
        every = np.unique(np.concatenate(patients)) if patients else np.zeros(0, np.int64)
        per = np.zeros((4, every.size))
        for s, p in enumerate(patients):
            at = np.searchsorted(every, p)
            for row, col in zip(per, (spend, oop, units, adverse), strict=True):
                row[at] += col[s]
        c = cell[every]
        out = np.empty((5, n_cells))
        for j in range(4):
            out[j] = np.bincount(c, per[j], n_cells)
        out[4] = np.bincount(c, (per[2] > 0).astype(np.float64), n_cells)
        return out

    @staticmethod
    def cell_sums(
        cell: np.ndarray,
        function: np.ndarray,
        f0: np.ndarray,
        xp: np.ndarray,
        fp: np.ndarray,
        n_cells: int,
    ) -> np.ndarray:
        """Everyone's function by subgroup cell: per cell ``cell[i]``, in patient order
        (``np.bincount``), the sums of function (as float64), of its change since ``f0`` (as
        float64) and of the utility ``np.interp(function, xp, fp)``. Rows (float64,
        ``n_cells`` each): function, change, utility."""
        f = function.astype(np.float64)
        out = np.empty((3, n_cells))
        out[0] = np.bincount(cell, f, n_cells)
        out[1] = np.bincount(cell, f - f0, n_cells)
        out[2] = np.bincount(cell, np.interp(f, xp, fp), n_cells)
        return out

    @staticmethod
    def uniforms(patients: np.ndarray, base: np.uint64) -> np.ndarray:
        """Counter-based uniforms on [0, 1), float64 with 53 random bits: the splitmix64
        finaliser of ``patient · golden + base`` (wrapping uint64), top 53 bits."""
        x = patients.astype(np.uint64) * np.uint64(_GOLDEN)
        x += base
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
        x >>= np.uint64(11)
        return x * (1.0 / (1 << 53))


class Numba:
    """The compiled twins: the same signatures and bits as :class:`Numpy`."""

    name = "numba"

    @property
    def _k(self) -> dict[str, Any]:
        # numba is imported and the kernels loaded at the first call, not when a model is
        # built (a model that never steps, such as shards.check's probe, does not load them)
        return _compiled()

    def new_needs(self, u, function, risk, factor, left, reference_function, slope):
        """:meth:`Numpy.new_needs`, compiled."""
        f32 = np.float32
        # numpy's weak Python scalars become float32 before each float32 operation
        return self._k["new_needs"](
            u, function, risk, factor, left, f32(reference_function), f32(slope / 100.0)
        )

    def active(self, left, provider, sought, need, new_patients, new_referred):
        """:meth:`Numpy.active`, compiled."""
        return self._k["active"](
            left,
            provider,
            sought,
            need,
            new_patients.astype(np.int64, copy=False),
            new_referred,
        )

    def deliver(
        self,
        units,
        region,
        new_episode,
        units_per_visit,
        visit_fee,
        first_visit_extra,
        billed_units,
        minutes,
        episode_units,
    ):
        """:meth:`Numpy.deliver`, compiled."""
        return self._k["deliver"](
            units.astype(np.int64, copy=False),
            region,
            new_episode,
            int(units_per_visit),
            np.ascontiguousarray(visit_fee, np.float64),
            np.ascontiguousarray(first_visit_extra, np.float64),
            billed_units.astype(np.int64, copy=False),
            minutes.astype(np.int64, copy=False),
            int(episode_units),
        )

    def care_value(self, units, need, curvature, value_per_point, threshold):
        """:meth:`Numpy.care_value`, compiled."""
        return self._k["care_value"](
            units.astype(np.int64, copy=False),
            np.asarray(need, np.float64),
            float(curvature),
            float(value_per_point),
            threshold / curvature,  # as clinical.low_value_units divides, in Python
        )

    def outcomes(
        self,
        patients,
        gid,
        base,
        units,
        need,
        gain,
        extra_risk,
        function,
        risk,
        left,
        base_rate,
        function_slope,
        shortfall_risk,
        function_loss,
    ):
        """:meth:`Numpy.outcomes`, compiled."""
        has_extra = extra_risk is not None
        return self._k["outcomes"](
            patients.astype(np.int64, copy=False),
            gid.astype(np.int64, copy=False),
            np.uint64(base),
            units.astype(np.int64, copy=False),
            np.asarray(need, np.float64),
            np.asarray(gain, np.float64),
            np.asarray(extra_risk, np.float64) if has_extra else np.zeros(0),
            has_extra,
            function,
            risk,
            left,
            float(base_rate),
            float(function_slope),
            float(shortfall_risk),
            float(function_loss),
        )

    def record_counts(self, bounds, patients, *columns):
        """:meth:`Numpy.record_counts`, compiled."""
        return self._k["record_counts"](np.asarray(bounds, np.int64), patients, *columns)

    def share_costs(self, terms_of, patients, allowed, visits, deductible, oop_year_to_date):
        """:meth:`Numpy.share_costs`, compiled."""
        allowed = np.asarray(allowed, np.float64)
        applies = bool(terms_of.deductible_applies)
        if applies and np.any(~(allowed >= 0)):
            # what billing.apply_cost_sharing refuses, before anything is changed
            raise ValueError("allowed must be non-negative (and not NaN)")
        return self._k["share_costs"](
            patients.astype(np.int64, copy=False),
            allowed,
            visits.astype(np.int64, copy=False),
            deductible,
            oop_year_to_date,
            float(terms_of.coinsurance),
            float(terms_of.copay_per_visit),
            applies,
        )

    def group_counts(self, patients, payer, risk_group, n_payers):
        """:meth:`Numpy.group_counts`, compiled."""
        return self._k["group_counts"](
            patients.astype(np.int64, copy=False), payer, risk_group, int(n_payers)
        )

    def start_episodes(self, patients, length, need, seek, left, optimal_units, sought):
        """:meth:`Numpy.start_episodes`, compiled."""
        self._k["start_episodes"](
            patients.astype(np.int64, copy=False),
            length.astype(np.int16, copy=False),
            np.asarray(need, np.float64),
            seek,
            left,
            optimal_units,
            sought,
        )

    def plan_units(
        self,
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
    ):
        """:meth:`Numpy.plan_units`, compiled."""
        return self._k["plan_units"](
            gid.astype(np.int64, copy=False),
            patients.astype(np.int64, copy=False),
            int(month),
            bool(experimenting),
            float(delta),
            np.asarray(theta, np.float64),
            np.asarray(need, np.float64),
            float(max_units),
            np.uint64(base),
            sought,
            new_episode,
            episode_units,
            episode_month,
            period_units,
        )

    def block_sums(self, bounds, columns):
        """:meth:`Numpy.block_sums`, compiled: numpy's pairwise summation, step for step."""
        cols = tuple(np.ascontiguousarray(c, np.float64) for c in columns)
        return self._k["block_sums"](np.asarray(bounds, np.int64), cols)

    def learn(self, provider, value, need_z, x, new_episode, xtx, xty, memory, mask=None):
        """:meth:`Numpy.learn`, compiled."""
        return self._k["learn"](
            provider.astype(np.int64, copy=False),
            np.asarray(value, np.float64),
            np.asarray(need_z, np.float64),
            np.asarray(x, np.float64),
            new_episode,
            xtx,
            xty,
            float(memory),
            np.ones(provider.size, np.bool_) if mask is None else mask,
        )

    def provider_sums(self, provider, mask, profit, benefit, n_providers):
        """:meth:`Numpy.provider_sums`, compiled."""
        return self._k["provider_sums"](
            provider.astype(np.int64, copy=False),
            mask,
            np.asarray(profit, np.float64),
            np.asarray(benefit, np.float64),
            int(n_providers),
        )

    def deaths(
        self,
        enrolled,
        age,
        female,
        h,
        risk_term,
        function,
        slope,
        care_idx,
        care_survive,
        gid,
        base,
        bounds,
        status,
        f_entry,
    ):
        """:meth:`Numpy.deaths`, compiled."""
        has_risk, has_gid = risk_term is not None, gid is not None
        return self._k["deaths"](
            enrolled,
            age,
            female,
            np.asarray(h, np.float64),
            np.asarray(risk_term, np.float64) if has_risk else np.zeros(0),
            has_risk,
            function,
            float(slope),
            np.asarray(care_idx, np.int64),
            np.asarray(care_survive, np.float64),
            np.asarray(gid, np.int64) if has_gid else np.zeros(0, np.int64),
            has_gid,
            np.uint64(base),
            np.asarray(bounds, np.int64),
            status,
            f_entry,
        )

    def episode_values(
        self, patients, sought, profit, left, provider, payer, risk_group, value, n_payers, n_keys
    ):
        """:meth:`Numpy.episode_values`, compiled."""
        return self._k["episode_values"](
            patients.astype(np.int64, copy=False),
            sought,
            np.asarray(profit, np.float64),
            left,
            provider,
            payer,
            risk_group,
            value,
            int(n_payers),
            int(n_keys),
        )

    def care_cell_sums(self, cell, patients, spend, oop, units, adverse, n_cells):
        """:meth:`Numpy.care_cell_sums`, compiled: one merge of the settings' patients."""
        if not patients:
            return NUMPY.care_cell_sums(cell, patients, spend, oop, units, adverse, n_cells)

        def as_(arrays, dtype):
            return tuple(np.asarray(a, dtype) for a in arrays)

        return self._k["care_cell_sums"](
            cell,
            as_(patients, np.int64),
            as_(spend, np.float64),
            as_(oop, np.float64),
            as_(units, np.int64),
            as_(adverse, np.bool_),
            int(n_cells),
        )

    def cell_sums(self, cell, function, f0, xp, fp, n_cells):
        """:meth:`Numpy.cell_sums`, compiled: one pass, ``np.interp``'s arithmetic."""
        xp = np.asarray(xp, np.float64)
        fp = np.asarray(fp, np.float64)
        if xp.size < 2:
            return NUMPY.cell_sums(cell, function, f0, xp, fp, n_cells)
        # the slopes as np.interp computes them (one division per segment)
        slopes = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])
        return self._k["cell_sums"](cell, function, f0, xp, fp, slopes, int(n_cells))

    def uniforms(self, patients, base):
        """:meth:`Numpy.uniforms`, compiled."""
        return self._k["uniforms"](patients.astype(np.int64, copy=False), np.uint64(base))


def mode() -> str:
    """``SIM_KERNELS`` (auto, numpy or numba), checked: numba must be installed for
    ``numba``."""
    m = os.environ.get("SIM_KERNELS", "auto").strip().lower() or "auto"
    if m not in _MODES:
        raise SimError(
            f"environment variable SIM_KERNELS={m!r}: allowed values are {', '.join(_MODES)}"
        )
    if m == "numba" and not numba_available():
        require("numba", "fast", "SIM_KERNELS=numba")
    return m


@cache
def numba_available() -> bool:
    """Whether numba is installed (the ``fast`` extra); it is not imported here."""
    return importlib.util.find_spec("numba") is not None


def select(n_patients: int) -> Kernels:
    """The kernels for a model of ``n_patients`` patients (see the module docstring)."""
    m = mode()
    if m == "numpy":
        return NUMPY
    if m == "numba" or (numba_available() and (n_patients >= MIN_PATIENTS or loaded())):
        return _numba()
    return NUMPY


def loaded() -> bool:
    """Whether this process has loaded the compiled kernels already (a large model ran, or
    :func:`preload`): then ``auto`` gives them to models of any size, at no further cost."""
    return _compiled.cache_info().currsize > 0


def preload() -> bool:
    """Load the compiled kernels now when numba is installed and ``SIM_KERNELS`` allows them
    (``auto`` or ``numba``), so that every later model of this process uses them, small ones
    included: for a process that runs many small simulations (a calibration's or a sweep's
    worker), where the load (about 0.5-1 s, once) is soon repaid. Returns whether they are
    loaded. The outputs are the same either way."""
    if mode() == "numpy" or not numba_available():
        return False
    k = _compiled()
    x = np.zeros(1, np.int64)
    k["uniforms"](x, np.uint64(0))  # numba's own start-up, and one kernel, at once
    return True


#: the numpy twins (what a model of fewer than MIN_PATIENTS patients, or without numba, uses)
NUMPY = Numpy()

#: either set of kernels (the same methods and bits)
Kernels = Numpy | Numba


@cache
def _numba() -> Numba:
    return Numba()


@cache
def _compiled() -> dict[str, Any]:
    """The numba kernels (:mod:`sim.engine.compiled`), imported on first use: compiled on a
    process's first use after an install, loaded from numba's cache after that."""
    from sim.engine.compiled import KERNELS

    return KERNELS
