"""The kernels that sum for the records: the records' whole-number sums and the float sums of
each payer's block, the care and function of each subgroup cell.

:class:`NumpySums` holds the numpy twins (the reference), :class:`NumbaSums` their compiled
wrappers (the kernels of :mod:`sim.engine.compiled.sums`); :mod:`sim.engine.kernels` joins
every seam's into its ``Numpy`` and ``Numba``.
"""

from __future__ import annotations

import numpy as np

from sim.engine.kernels.common import CompiledTwin

#: the columns of :meth:`NumpySums.record_counts`, in order (the monthly records' names)
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


class NumpySums:
    """The numpy twins of the sums kernels (the reference semantics)."""

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
        member: np.ndarray | None = None,
    ) -> np.ndarray:
        """Everyone's function by subgroup cell: per cell ``cell[i]``, in patient order
        (``np.bincount``), the sums of function (as float64), of its change since ``f0`` (as
        float64) and of the utility ``np.interp(function, xp, fp)``, each weighed by
        ``member`` (0 or 1: this month's members, with a life course) when given, and the
        members (everyone without ``member``). Rows (float64, ``n_cells`` each): function,
        change, utility, members."""
        f = function.astype(np.float64)
        out = np.empty((4, n_cells))
        if member is None:
            out[0] = np.bincount(cell, f, n_cells)
            out[1] = np.bincount(cell, f - f0, n_cells)
            out[2] = np.bincount(cell, np.interp(f, xp, fp), n_cells)
            out[3] = np.bincount(cell, minlength=n_cells)
            return out
        w = member.astype(np.float64)
        out[0] = np.bincount(cell, f * w, n_cells)
        out[1] = np.bincount(cell, (f - f0) * w, n_cells)
        out[2] = np.bincount(cell, np.interp(f, xp, fp) * w, n_cells)
        out[3] = np.bincount(cell, w, n_cells)
        return out


class NumbaSums(CompiledTwin):
    """The compiled twins: the same signatures and bits as :class:`NumpySums`."""

    def record_counts(self, bounds, patients, *columns):
        """:meth:`NumpySums.record_counts`, compiled."""
        return self._k["record_counts"](np.asarray(bounds, np.int64), patients, *columns)

    def block_sums(self, bounds, columns):
        """:meth:`NumpySums.block_sums`, compiled: numpy's pairwise summation, step for step."""
        cols = tuple(np.ascontiguousarray(c, np.float64) for c in columns)
        return self._k["block_sums"](np.asarray(bounds, np.int64), cols)

    def care_cell_sums(self, cell, patients, spend, oop, units, adverse, n_cells):
        """:meth:`NumpySums.care_cell_sums`, compiled: one merge of the settings' patients."""
        if not patients:
            return NumpySums.care_cell_sums(cell, patients, spend, oop, units, adverse, n_cells)

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

    def cell_sums(self, cell, function, f0, xp, fp, n_cells, member=None):
        """:meth:`NumpySums.cell_sums`, compiled: one pass, ``np.interp``'s arithmetic; a
        patient outside ``member`` is skipped (what it adds to numpy's sums is a zero, which
        leaves every partial sum as it is)."""
        xp = np.asarray(xp, np.float64)
        fp = np.asarray(fp, np.float64)
        if xp.size < 2:
            return NumpySums.cell_sums(cell, function, f0, xp, fp, n_cells, member)
        # the slopes as np.interp computes them (one division per segment)
        slopes = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])
        every = np.ones(cell.size, np.bool_) if member is None else member.astype(np.bool_)
        return self._k["cell_sums"](cell, function, f0, xp, fp, slopes, int(n_cells), every)
