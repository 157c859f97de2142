"""Care settings at run time: what a service unit is, and what a visit is worth.

A setting is configuration (:class:`sim.scenario.SettingConfig`), not code: outpatient therapy
and primary care differ only in their numbers and codes. A visit of ``k`` planned units
delivers ``k · minutes_per_unit`` minutes. Timed codes share those minutes and are billed with
the 8-minute rule; untimed codes bill one unit per visit (``per_visit_codes``) or once per
episode at its first visit (``per_episode_codes``). A setting without timed codes bills per
visit, so its service unit is the visit.

The fee tables below are built once per run and region with :mod:`sim.engine.billing`
(RVU × conversion factor × GPCI); the payer's rate level multiplies them at payment time.
"""

from __future__ import annotations

import numpy as np

from sim.engine import billing
from sim.engine.kernels import NUMPY as NUMPY_KERNELS
from sim.engine.kernels import Kernels
from sim.scenario import RegionConfig, SettingConfig


class CareSetting:
    """Run-time view of one care setting: parameters and per-region fee tables.

    ``visit_fee[r, k]``: allowed amount of an ordinary visit with ``k`` planned units in region
    ``r`` (payer multiplier 1); ``first_visit_extra[r, k]``: what the episode's first visit adds
    (its per-episode codes, priced together with the visit so the payment reductions apply);
    ``billed_units[k]`` and ``minutes[k]``: billed units and minutes of a ``k``-unit visit.
    """

    def __init__(
        self, name: str, index: int, cfg: SettingConfig, regions: dict[str, RegionConfig]
    ) -> None:
        self.name = name
        self.index = index
        self.cfg = cfg
        upv = cfg.units_per_visit
        self.units_per_visit = upv
        codes = billing.DEFAULT_CODES
        timed = bool(cfg.timed_codes)
        ks = range(upv + 1)
        minutes = np.array([round(k * cfg.minutes_per_unit) for k in ks], np.int64)
        if timed:
            timed_units = np.asarray(billing.units_from_minutes(minutes), np.int64)
        else:
            timed_units = np.zeros(upv + 1, np.int64)
        per_visit = len(cfg.per_visit_codes) or int(cfg.per_visit_rate is not None)
        self.billed_units = timed_units + np.where(np.arange(upv + 1) > 0, per_visit, 0)
        self.minutes = minutes
        self.episode_units = len(cfg.per_episode_codes)

        n_regions = len(regions)
        self.visit_fee = np.zeros((n_regions, upv + 1))
        self.first_visit_extra = np.zeros((n_regions, upv + 1))
        for r, reg in enumerate(regions.values()):
            gpci = billing.GPCI(reg.gpci_work, reg.gpci_pe, reg.gpci_mp)
            for k in range(1, upv + 1):
                split = billing.split_minutes(int(minutes[k]), cfg.timed_codes) if timed else {}
                ordinary, first = (
                    billing.visit_payment(
                        split, untimed, codes, gpci, cfg.conversion_factor, mppr=cfg.mppr
                    )
                    for untimed in (
                        list(cfg.per_visit_codes),
                        [*cfg.per_episode_codes, *cfg.per_visit_codes],
                    )
                )
                if cfg.per_visit_rate is not None:
                    ordinary = first = cfg.per_visit_rate
                self.visit_fee[r, k] = ordinary
                self.first_visit_extra[r, k] = first - ordinary
        #: fee-schedule value of one planned unit in a full visit, per region (for decisions)
        self.fee_per_unit = self.visit_fee[:, upv] / upv

    def deliver(
        self,
        units: np.ndarray,
        region: np.ndarray,
        new_episode: np.ndarray,
        kernels: Kernels = NUMPY_KERNELS,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Turn each patient's units this month into visits, billed units, minutes and the
        fee-schedule value (payer multiplier 1).

        Units are spread as evenly as possible over the fewest visits that hold them:
        ``v = ceil(n / units_per_visit)`` visits, ``n mod v`` of them with one unit more.
        """
        return kernels.deliver(
            units,
            region,
            new_episode,
            self.units_per_visit,
            self.visit_fee,
            self.first_visit_extra,
            self.billed_units,
            self.minutes,
            self.episode_units,
        )
