"""Bunching at payment thresholds (``behaviour.bunching``).

At a payment period's last month, a provider whose patient is a few units short of a
threshold at which payment jumps (``PaymentModel.thresholds``: home health's therapy-visit
thresholds, a LUPA threshold) adds the units that lift the period's total to it, when it is at
most ``window`` units away (with probability ``probability``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.features.base import Feature
from sim.population import BUNCHING

if TYPE_CHECKING:
    from sim.scenario import BunchingConfig
    from sim.world import World


class Bunching(Feature):
    """Providers top up a payment period to a threshold within reach."""

    name = "bunching"

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """On with ``behaviour.bunching.enabled``."""
        cfg = world.behaviour.bunching
        return [cls(cfg)] if cfg.enabled else []

    def __init__(self, cfg: BunchingConfig) -> None:
        self.cfg = cfg

    def adjust_units(self, world, s, units, before, thresholds, eligible, patients):
        """Add the units that lift the period's total to the next threshold within reach."""
        total = (before + units)[:, None]
        gap = np.where(thresholds > total, thresholds - total, np.inf).min(axis=1)
        lift = eligible & (gap <= self.cfg.window)
        if self.cfg.probability < 1.0:
            lift &= world.population.uniforms(patients, s, BUNCHING) < self.cfg.probability
        return units + np.where(lift, gap, 0).astype(np.int64)
