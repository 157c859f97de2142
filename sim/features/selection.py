"""Selection of patients (``behaviour.selection``): providers turn away unprofitable ones.

A new patient whose episode's expected value to the provider, at its current style, is below
``−threshold`` is turned away (with probability ``probability``): the revenue its contract
pays for the episode, minus the marginal cost of the planned units and the expected
adverse-event liability, plus altruism times the patient's benefit, per month × the expected
months of the episode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim import clinical
from sim.behaviour import planned_units
from sim.features.base import Feature
from sim.payment import terms
from sim.population import SELECTION

if TYPE_CHECKING:
    from sim.scenario import SelectionConfig
    from sim.world import World


class Selection(Feature):
    """Providers turn away new patients whose episode is worth too little to them."""

    name = "selection"

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """On with ``behaviour.selection.enabled``."""
        cfg = world.behaviour.selection
        return [cls(cfg)] if cfg.enabled else []

    def __init__(self, cfg: SelectionConfig) -> None:
        self.cfg = cfg

    def screen(self, world: World, s: int, patients: np.ndarray, need: np.ndarray) -> np.ndarray:
        """The new patients turned away (:func:`turn_away`)."""
        return turn_away(world, s, patients, need, self.cfg)


def episode_value(world: World, s: int, idx: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Each new patient's expected episode value to its provider at its current style."""
    pop = world.population
    setting = world.settings[s]
    cfg = setting.cfg
    providers = world.providers[s]
    prov = pop.provider[s][idx].astype(np.int64)
    q = planned_units(need, providers.theta[prov], cfg.max_units)
    months = cfg.episode_months
    value = np.empty(idx.size)
    ae = cfg.adverse_events
    d = cfg.benefit_curvature
    for g, b in enumerate(pop.payer_slices(idx)):
        if b.start == b.stop:
            continue
        payer = world.payers[g]
        c = payer.contracts[s]
        ii = idx[b]
        fee = setting.fee_per_unit[pop.region[ii]] * q[b] * months * payer.rate_multiplier
        revenue = c.expected_allowed(
            fee, pop.condition[ii], pop.function[ii], pop.risk[ii], payer.rate_multiplier
        )
        p_ae = clinical.adverse_event_probability(
            pop.risk[ii],
            pop.function[ii],
            q[b],
            need[b],
            base_rate=ae.base_rate,
            function_slope=ae.function_slope,
            shortfall_risk=ae.shortfall_risk,
        )
        liability = terms.event_cost_borne(c.params, ae.cost) * p_ae * months
        benefit = clinical.benefit_value(q[b], need[b], d) * months
        value[b] = (
            revenue
            - cfg.marginal_cost * q[b] * months
            - liability
            + providers.altruism[prov[b]] * benefit
        )
    return value


def turn_away(
    world: World, s: int, idx: np.ndarray, need: np.ndarray, cfg: SelectionConfig
) -> np.ndarray:
    """Which new patients (ascending) their provider turns away."""
    away = episode_value(world, s, idx, need) < -cfg.threshold
    if cfg.probability < 1.0:
        away &= world.population.uniforms(idx, s, SELECTION) < cfg.probability
    return away
