"""The kernels that draw: counter-based uniforms, and the passes that draw them (a plain
month's units, the month's outcomes, the life course's deaths).

:class:`NumpyDraws` holds the numpy twins (the reference), :class:`NumbaDraws` their compiled
wrappers (the kernels of :mod:`sim.engine.compiled.draws`, which hold the one compiled uniform
beside every kernel that calls it); :mod:`sim.engine.kernels` joins every seam's into its
``Numpy`` and ``Numba``.
"""

from __future__ import annotations

import numpy as np

from sim.engine import clinical
from sim.engine.kernels.common import CompiledTwin

_GOLDEN = 0x9E3779B97F4A7C15
_INT16_MAX = np.iinfo(np.int16).max


def planned_units(need: np.ndarray, offset: np.ndarray, max_units: int) -> np.ndarray:
    """Planned (continuous) units for each patient: clip(q_B + offset, 0, max_units)."""
    return np.clip(need + offset, 0.0, float(max_units))


def variation_sign(patient_index: np.ndarray, month: int) -> np.ndarray:
    """−1, 0 or +1: which variation of its style a provider tries on this patient this month.

    Deterministic and balanced (by patient number and month), so it uses no random numbers
    and leaves the common random numbers of the arms untouched.
    """
    return ((patient_index + month) % 3).astype(np.int8) - 1


class NumpyDraws:
    """The numpy twins of the draws kernels (the reference semantics)."""

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
        units = np.floor(planned + NumpyDraws.uniforms(gid, base)).astype(np.int64)
        units[~sought] = 0
        used = np.where(new_episode, 0, episode_units[patients]).astype(np.int64)
        episode_units[patients] = np.minimum(used + units, _INT16_MAX)
        ep_month = np.where(new_episode, 0, episode_month[patients]).astype(np.int64)
        period_units[patients] = np.minimum(units + np.int64(0), _INT16_MAX)
        episode_month[patients] = np.minimum(ep_month + 1, _INT16_MAX)
        return sign, planned, units, ep_month

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
        adverse = NumpyDraws.uniforms(gid, base) < p_ae
        function[patients] = np.clip(f0 + gain - function_loss * adverse, 0.0, 100.0)
        left[patients] -= 1
        return f0, p_ae, adverse, function[patients] - f0

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
        u = NumpyDraws.uniforms(idx if gid is None else gid[idx], base)
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
    def best_units(
        schedule: np.ndarray,
        months: np.ndarray,
        need: np.ndarray,
        alpha: np.ndarray,
        per_event: np.ndarray,
        per_point: np.ndarray,
        coefficients: tuple[float, float, float, float, float],
        limit: np.ndarray | None,
        floor: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best whole number of units of each patient (the first best where several tie)
        and its value, on the grid 0..K of :func:`sim.engine.decisions.objective` (each row's
        ``schedule`` less the cost of ``k`` units plus ``months`` × (α·benefit − per_event ×
        events + per_point × function gained), at ``coefficients`` = (marginal cost,
        curvature d, event risk slope h, over-treatment slope h_o, value of a point)), at most
        ``limit`` and at least ``floor`` (the standard of care). Returns (units as int64, value
        as float64)."""
        # the grid of sim.engine.decisions.plan itself (imported here: decisions sits above
        # the kernels, which it calls)
        from sim.engine.decisions import Terms, plan
        from sim.engine.payment.prices import Prices

        mc, d, h, h_o, vpp = coefficients
        terms = Terms(alpha, per_event, per_point, mc, d, h, vpp, h_o)
        best = plan(
            Prices(schedule, np.zeros(schedule.shape[0])), need, months, terms, limit, floor
        )
        return best.units, best.value

    @staticmethod
    def best_units_straight(
        per_unit: np.ndarray,
        units: int,
        months: np.ndarray,
        need: np.ndarray,
        alpha: np.ndarray,
        per_event: np.ndarray,
        per_point: np.ndarray,
        coefficients: tuple[float, float, float, float, float],
        limit: np.ndarray | None,
        floor: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`best_units` of a straight schedule, ``per_unit`` a unit for 0..``units``
        units (the schedule of :func:`sim.engine.payment.prices.straight`: ``per_unit[i] ×
        k``)."""
        from sim.engine.payment.prices import grid

        schedule = np.asarray(per_unit, np.float64)[:, None] * grid(units)[None, :]
        return NumpyDraws.best_units(
            schedule, months, need, alpha, per_event, per_point, coefficients, limit, floor
        )

    @staticmethod
    def best_units_payers(
        per_unit: np.ndarray,
        units: int,
        months: np.ndarray,
        need: np.ndarray,
        alpha: np.ndarray,
        per_event: np.ndarray,
        per_point: np.ndarray,
        coefficients: tuple[float, float, float, float, float],
        limit: np.ndarray | None,
        floor: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`best_units_straight` at several payers' prices: row ``g`` of ``per_unit``,
        ``per_event`` and ``per_point`` (payers × patients) is payer ``g``'s price per unit
        and terms; the patients, their months, need, benefit weight, limit and floor are the
        same for every payer. Returns (units, value), payers × patients, row ``g`` the bits of
        :meth:`best_units_straight` at payer ``g``'s prices and terms."""
        per_unit = np.asarray(per_unit, np.float64)
        npay, n = per_unit.shape
        out_units = np.zeros((npay, n), np.int64)
        out_value = np.zeros((npay, n))
        for g in range(npay):
            out_units[g], out_value[g] = NumpyDraws.best_units_straight(
                per_unit[g], units, months, need, alpha, per_event[g], per_point[g],
                coefficients, limit, floor,
            )  # fmt: skip
        return out_units, out_value


class NumbaDraws(CompiledTwin):
    """The compiled twins: the same signatures and bits as :class:`NumpyDraws`."""

    def uniforms(self, patients, base):
        """:meth:`NumpyDraws.uniforms`, compiled."""
        return self._k["uniforms"](patients.astype(np.int64, copy=False), np.uint64(base))

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
        """:meth:`NumpyDraws.plan_units`, compiled."""
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
        """:meth:`NumpyDraws.outcomes`, compiled."""
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
        """:meth:`NumpyDraws.deaths`, compiled."""
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

    def best_units(
        self, schedule, months, need, alpha, per_event, per_point, coefficients, limit, floor
    ):
        """:meth:`NumpyDraws.best_units`, compiled: one walk along each patient's grid, the
        same arithmetic element by element."""
        n, width = schedule.shape
        if n == 0 or width == 0:
            return NumpyDraws.best_units(
                schedule, months, need, alpha, per_event, per_point, coefficients, limit, floor
            )
        return self._best_units(
            "best_units", (np.ascontiguousarray(schedule, np.float64),), n, width,
            months, need, alpha, per_event, per_point, coefficients, limit, floor,
        )  # fmt: skip

    def best_units_straight(
        self, per_unit, units, months, need, alpha, per_event, per_point, coefficients, limit,
        floor,
    ):  # fmt: skip
        """:meth:`NumpyDraws.best_units_straight`, compiled: each schedule's entry made as
        it is walked (``per_unit[i] × k``, the product numpy's schedule holds)."""
        n, width = np.shape(per_unit)[0], int(units) + 1
        if n == 0:
            return NumpyDraws.best_units_straight(
                per_unit, units, months, need, alpha, per_event, per_point, coefficients,
                limit, floor,
            )  # fmt: skip
        return self._best_units(
            "best_units_straight", (np.ascontiguousarray(per_unit, np.float64), width), n, width,
            months, need, alpha, per_event, per_point, coefficients, limit, floor,
        )  # fmt: skip

    def best_units_payers(
        self, per_unit, units, months, need, alpha, per_event, per_point, coefficients, limit,
        floor,
    ):  # fmt: skip
        """:meth:`NumpyDraws.best_units_payers`, compiled: one walk of each patient's grid for
        every payer (what does not depend on the payer computed once per unit count)."""
        npay, n = np.shape(per_unit)
        if n == 0 or npay == 0:
            return NumpyDraws.best_units_payers(
                per_unit, units, months, need, alpha, per_event, per_point, coefficients,
                limit, floor,
            )  # fmt: skip
        return self._best_units(
            "best_units_payers",
            (
                np.ascontiguousarray(per_unit, np.float64),
                int(units) + 1,
                np.ascontiguousarray(np.broadcast_to(np.asarray(per_event, np.float64), (npay, n))),
                np.ascontiguousarray(np.broadcast_to(np.asarray(per_point, np.float64), (npay, n))),
            ),
            n, int(units) + 1, months, need, alpha, None, None, coefficients, limit, floor,
        )  # fmt: skip

    def _best_units(
        self, kernel, first, n, width, months, need, alpha, per_event, per_point,
        coefficients, limit, floor,
    ):  # fmt: skip
        """Compiled ``kernel`` (best_units, best_units_straight or best_units_payers) on its
        ``first`` arguments (the schedule; the price per unit and the width; or the payers'
        prices per unit, the width and their terms, with ``per_event`` and ``per_point`` None
        here) and the rest, made ready."""
        mc, d, h, h_o, vpp = (float(c) for c in coefficients)
        top = float(width - 1)
        lim = np.full(n, np.inf) if limit is None else np.asarray(limit, np.float64)
        flo = (
            np.full(n, -np.inf)
            if floor is None
            else np.minimum(np.asarray(floor, np.float64), top if limit is None else lim)
        )
        # per_event and per_point None: the kernel had them among its first arguments
        terms = () if per_event is None else (
            np.asarray(per_event, np.float64), np.asarray(per_point, np.float64)
        )  # fmt: skip
        return self._k[kernel](
            *first,
            np.asarray(months, np.float64),
            np.asarray(need, np.float64),
            np.asarray(alpha, np.float64),
            *terms,
            mc, d, h, h_o, vpp, lim, flo,
        )  # fmt: skip
