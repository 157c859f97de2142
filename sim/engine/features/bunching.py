"""Bunching at payment thresholds (``behaviour.bunching``).

At a payment period's last month, a provider whose patient is a few units short of a
threshold at which payment jumps (``PaymentModel.thresholds``: home health's therapy-visit
thresholds, a LUPA threshold) considers adding the units that lift the period's total to it,
when it is at most ``window`` units away (with probability ``probability``). It adds them
when what the contract pays for the period at the threshold, less what it pays now (the
contract's own ``settle`` on both totals), exceeds what the units cost it: their marginal
cost less its altruism times their benefit to the patient (``B(q + gap) − B(q)``, negative
past the patient optimum). Providers differ in altruism, so near a threshold some periods are
pushed to it and some are not: the density of periods dips below a threshold rather than
vanishing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engine import clinical, draws
from sim.engine.features.base import Feature
from sim.engine.month.payment import hypothetical_claims

if TYPE_CHECKING:
    from sim.engine.world import World
    from sim.scenario import BunchingConfig


class Bunching(Feature):
    """Providers top up a payment period to a threshold within reach when it pays them."""

    name = "bunching"
    SHARDABLE = True

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """On with ``behaviour.bunching.enabled``."""
        cfg = world.behaviour.bunching
        return [cls(cfg)] if cfg.enabled else []

    def __init__(self, cfg: BunchingConfig) -> None:
        self.cfg = cfg

    def adjust_units(self, world, s, units, before, thresholds, eligible, patients, episode_month):
        """Add the units that lift the period's total to the next threshold within reach,
        where the payment gained exceeds their net cost to the provider."""
        total = (before + units)[:, None]
        gap = np.where(thresholds > total, thresholds - total, np.inf).min(axis=1)
        lift = eligible & (gap <= self.cfg.window)
        if self.cfg.probability < 1.0:
            lift &= world.population.uniforms(patients, s, draws.BUNCHING) < self.cfg.probability
        if lift.any():
            lift &= self._pays(world, s, units, before, gap, lift, patients, episode_month)
        return units + np.where(lift, gap, 0).astype(np.int64)

    def _pays(self, world, s, units, before, gap, lift, patients, episode_month) -> np.ndarray:
        """Whether topping each candidate period up pays the provider (see the module)."""
        pop = world.population
        cfg = world.settings[s].cfg
        out = np.zeros(units.size, np.bool_)
        idx = np.flatnonzero(lift)
        who = patients[idx]
        add = gap[idx].astype(np.int64)
        now = (before + units)[idx]
        need = pop.optimal_units[s][who].astype(np.float64)
        q = units[idx]
        benefit = clinical.benefit_value(q + add, need, cfg.benefit_curvature)
        benefit -= clinical.benefit_value(q, need, cfg.benefit_curvature)
        provider = pop.provider[s][who].astype(np.int64)
        net_cost = add * cfg.marginal_cost - world.providers[s].altruism[provider] * benefit
        months = episode_month[idx]
        gain = np.zeros(idx.size)
        for g, b in enumerate(pop.payer_slices(who)):
            if b.start == b.stop:
                continue
            contract = world.contract(s, g)
            panel = world.providers[s].panels[g]
            paid = [
                contract.settle(
                    hypothetical_claims(world, s, g, who[b], total, months[b]), panel
                ).allowed
                for total in (now[b], now[b] + add[b])
            ]
            gain[b] = paid[1] - paid[0]
        out[idx] = gain > net_cost
        return out
