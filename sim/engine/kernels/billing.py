"""The kernels of what care is billed: units into visits, billed units, minutes and fee value;
the benefit and low-value units of care; the patients' cost sharing.

:class:`NumpyBilling` holds the numpy twins (the reference), :class:`NumbaBilling` their
compiled wrappers (the kernels of :mod:`sim.engine.compiled.billing`); :mod:`sim.engine.kernels`
joins every seam's into its ``Numpy`` and ``Numba``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.engine import clinical
from sim.engine.kernels.common import CompiledTwin


class NumpyBilling:
    """The numpy twins of the billing kernels (the reference semantics)."""

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


class NumbaBilling(CompiledTwin):
    """The compiled twins: the same signatures and bits as :class:`NumpyBilling`."""

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
        """:meth:`NumpyBilling.deliver`, compiled."""
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
        """:meth:`NumpyBilling.care_value`, compiled."""
        return self._k["care_value"](
            units.astype(np.int64, copy=False),
            np.asarray(need, np.float64),
            float(curvature),
            float(value_per_point),
            threshold / curvature,  # as clinical.low_value_units divides, in Python
        )

    def share_costs(self, terms_of, patients, allowed, visits, deductible, oop_year_to_date):
        """:meth:`NumpyBilling.share_costs`, compiled."""
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
