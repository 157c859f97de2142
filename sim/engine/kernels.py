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
  :data:`MIN_PATIENTS` patients. Smaller runs keep numpy and never import numba, whose import
  and kernel loading would dominate a small run; numba is imported at a kernel's first call.

numba is in the ``fast`` extra (and in ``all``); without it every run uses :class:`Numpy`.
Compiled kernels are cached next to this file (``cache=True``): only a process's first use
after an install compiles them (about 6 s); later processes load them.

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
    if m == "numba" or (n_patients >= MIN_PATIENTS and numba_available()):
        return _numba()
    return NUMPY


#: the numpy twins (what a model of fewer than MIN_PATIENTS patients, or without numba, uses)
NUMPY = Numpy()

#: either set of kernels (the same methods and bits)
Kernels = Numpy | Numba


@cache
def _numba() -> Numba:
    return Numba()


@cache
def _compiled() -> dict[str, Any]:
    """The numba kernels, compiled on first use (cached on disk)."""
    from numba import njit

    jit = njit(cache=True, nogil=True)

    @jit
    def new_needs(u, function, risk, factor, left, ref, slope):  # pragma: no cover - compiled
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
        # the positions of the m true values, without a branch per value
        idx = np.empty(m + 1, np.int64)
        k = 0
        for i in range(mask.size):
            idx[k] = i
            k += mask[i]
        return idx[:m]

    @jit
    def active(left, provider, sought, need, new_patients, new_referred):  # pragma: no cover
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
        n_blocks = bounds.size - 1
        out = np.empty((n_blocks, 15))
        for g in range(n_blocks):
            # scalar accumulators and no branch per patient
            treated = episodes = units = n_billed = n_visits = n_minutes = 0
            n_adverse = ceiling = periods = p_units = at = below = ended_n = e_units = 0
            n_referred = 0
            for k in range(bounds[g], bounds[g + 1]):
                i = patients[k]
                u = np.int64(service_units[k])
                ended = sought[k] & (left[i] == 0)
                # numpy scalars added to the int accumulators: numba types them all int64
                treated += u > 0  # type: ignore[assignment]
                episodes += new_episode[k]
                units += u  # type: ignore[assignment]
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

    int16_max = np.int64(_INT16_MAX)
    golden = np.uint64(_GOLDEN)
    m1 = np.uint64(0xBF58476D1CE4E5B9)
    m2 = np.uint64(0x94D049BB133111EB)
    s30, s27, s31, s11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
    scale = 1.0 / (1 << 53)

    @jit
    def uniform(g, base):  # pragma: no cover - compiled
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

    return {
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
    }
