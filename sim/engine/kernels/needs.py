"""The kernels of who needs care: the month's new needs over every patient, the patients in
episode, new episodes stored, the patients counted by payer and risk quartile.

:class:`NumpyNeeds` holds the numpy twins (the reference), :class:`NumbaNeeds` their compiled
wrappers (the kernels of :mod:`sim.engine.compiled.needs`); :mod:`sim.engine.kernels` joins
every seam's into its ``Numpy`` and ``Numba``.
"""

from __future__ import annotations

import itertools

import numpy as np

from sim.engine.kernels.common import CompiledTwin


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


class NumpyNeeds:
    """The numpy twins of the needs kernels (the reference semantics)."""

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
    def calendar(
        function: np.ndarray,
        decline: np.ndarray,
        deductible_left: np.ndarray,
        payer_start: np.ndarray,
        other_care: np.ndarray,
    ) -> None:
        """The month's calendar, in place (:meth:`sim.engine.population.Population.start_month`):
        when any payer's members have care outside the modelled settings, each payer's block
        of ``deductible_left`` (``payer_start``: the blocks' bounds) less its ``other_care``,
        at least 0; then ``function`` less ``decline``, at least 0 (``np.maximum``: NaN kept,
        −0 made +0)."""
        if other_care.any():
            # payers are contiguous blocks: one subtraction per block, no gather
            for g, (a, b) in enumerate(itertools.pairwise(payer_start)):
                deductible_left[a:b] -= other_care[g]
            np.maximum(deductible_left, 0.0, out=deductible_left)
        np.subtract(function, decline, out=function)
        np.maximum(function, 0.0, out=function)


class NumbaNeeds(CompiledTwin):
    """The compiled twins: the same signatures and bits as :class:`NumpyNeeds`."""

    def new_needs(self, u, function, risk, factor, left, reference_function, slope):
        """:meth:`NumpyNeeds.new_needs`, compiled."""
        f32 = np.float32
        # numpy's weak Python scalars become float32 before each float32 operation
        return self._k["new_needs"](
            u, function, risk, factor, left, f32(reference_function), f32(slope / 100.0)
        )

    def active(self, left, provider, sought, need, new_patients, new_referred):
        """:meth:`NumpyNeeds.active`, compiled."""
        return self._k["active"](
            left,
            provider,
            sought,
            need,
            new_patients.astype(np.int64, copy=False),
            new_referred,
        )

    def start_episodes(self, patients, length, need, seek, left, optimal_units, sought):
        """:meth:`NumpyNeeds.start_episodes`, compiled."""
        self._k["start_episodes"](
            patients.astype(np.int64, copy=False),
            length.astype(np.int16, copy=False),
            np.asarray(need, np.float64),
            seek,
            left,
            optimal_units,
            sought,
        )

    def calendar(self, function, decline, deductible_left, payer_start, other_care):
        """:meth:`NumpyNeeds.calendar`, compiled (one pass over each array) for the
        population's dtypes (float32 function, decline, deductible and other care); numpy's
        otherwise."""
        f32 = np.dtype(np.float32)
        if not (
            function.dtype == decline.dtype == deductible_left.dtype == other_care.dtype == f32
            and function.shape == decline.shape
            and function.flags.c_contiguous
            and decline.flags.c_contiguous
            and deductible_left.flags.c_contiguous
        ):
            NumpyNeeds.calendar(function, decline, deductible_left, payer_start, other_care)
            return
        self._k["calendar"](
            function,
            decline,
            deductible_left,
            np.asarray(payer_start, np.int64),
            other_care,
            bool(other_care.any()),
        )

    def group_counts(self, patients, payer, risk_group, n_payers):
        """:meth:`NumpyNeeds.group_counts`, compiled."""
        return self._k["group_counts"](
            patients.astype(np.int64, copy=False), payer, risk_group, int(n_payers)
        )
