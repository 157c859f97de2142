"""Selection of patients (``behaviour.selection``): providers turn away unprofitable ones.

A provider values a new patient as a provider would: by what accepting the episode adds over
turning it away — what episodes of patients like this one (the same payer and risk-score
quartile) have earned it, learnt from its own ended episodes: its revenue for them (claims and
the contract's reconciliations) less its variable costs and the adverse-event costs it bore —
plus its altruism times the benefit the episode would give the patient at its current style.
Per-member payments (a PMPM) are not part of it: the provider receives them whether or not it
treats. Where that is below ``−threshold`` it turns the patient away (with probability
``probability``). Until it has seen an episode of such a patient it takes them. A provider paid
to care for its members (``PaymentModel.cares_for_members``: capitation, the blend) may not turn
away its members' episodes; under those contracts selection works through whom a provider
enrols, not through the care of its panel. Where prices follow case mix only roughly (risk
adjustment is imperfect), this falls on the patients whose care costs more than it pays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engine import clinical, draws
from sim.engine.behaviour import planned_units
from sim.engine.features.base import Feature
from sim.engine.month.accounts import patient_profit

if TYPE_CHECKING:
    from sim.engine.world import World
    from sim.scenario import SelectionConfig

#: risk groups: quartiles of the risk score (World.risk_group)
GROUPS = 4


class Selection(Feature):
    """Providers turn away new patients whose episode is worth too little to them."""

    name = "selection"
    SHARDABLE = True

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """On with ``behaviour.selection.enabled``."""
        cfg = world.behaviour.selection
        return [cls(world, cfg)] if cfg.enabled else []

    def __init__(self, world: World, cfg: SelectionConfig) -> None:
        self.cfg = cfg
        #: what each provider learnt its episodes are worth (shared with participation)
        self.values = EpisodeValues(world)

    def screen(self, world: World, s: int, patients: np.ndarray, need: np.ndarray) -> np.ndarray:
        """The new patients turned away (see the module docstring)."""
        pop = world.population
        prov = pop.provider[s][patients].astype(np.int64)
        cell = (prov, pop.payer[patients].astype(np.int64), world.risk_group[patients])
        value = self.values.mean[s][cell] + expected_benefit(world, s, patients, need, prov)
        away = self.values.seen[s][cell] & (value < -self.cfg.threshold)
        for g, b in enumerate(pop.payer_slices(patients)):
            if world.contract(s, g).cares_for_members:
                away[b] = False
        if self.cfg.probability < 1.0:
            away &= pop.uniforms(patients, s, draws.SELECTION) < self.cfg.probability
        return away

    def after_records(self, world: World) -> None:
        """Fold the month into what providers learnt episodes are worth."""
        self.values.fold(world)


class EpisodeValues:
    """What each provider learnt an episode of a patient of each payer and risk quartile is
    worth to it: the mean over its own ended episodes (exponential forgetting at
    ``behaviour.memory``) of what the episode earned it — revenue and reconciliations less
    variable and adverse-event costs (per-member payments come whether or not it treats)."""

    def __init__(self, world: World) -> None:
        n = world.population.n
        shape = [(p.n, world.n_payers, GROUPS) for p in world.providers]
        #: per setting: each patient's value to its provider over the current episode so far
        self.episode_value = [np.zeros(n) for _ in world.settings]
        #: per setting, provider, payer and risk group: mean value of an ended episode
        self.mean = [np.zeros(x) for x in shape]
        self.seen = [np.zeros(x, np.bool_) for x in shape]
        #: ended episodes so far, per setting, provider, payer and risk group
        self.count = [np.zeros(x) for x in shape]

    def fold(self, world: World) -> None:
        """Add the month to each episode's value; fold the episodes that ended into the
        provider's record (exponential forgetting at ``behaviour.memory``)."""
        pop = world.population
        w = world.behaviour.memory
        for s, care in enumerate(world.month):
            size = world.providers[s].n * world.n_payers * GROUPS
            count, total = world.kernels.episode_values(
                care.patients,
                care.sought,
                patient_profit(world, s),
                pop.episode_left[s],
                pop.provider[s],
                pop.payer,
                world.risk_group,
                self.episode_value[s],
                world.n_payers,
                size,
            )
            if not count.any():  # no episode ended
                continue
            count = count.reshape(self.mean[s].shape)
            total = total.reshape(self.mean[s].shape)
            has = count > 0
            batch = np.divide(total, count, out=np.zeros(total.shape), where=has)
            first = has & ~self.seen[s]
            again = has & self.seen[s]
            self.mean[s][first] = batch[first]
            self.mean[s][again] = (1 - w) * self.mean[s][again] + w * batch[again]
            self.seen[s] |= has
            self.count[s] += count


def expected_benefit(
    world: World, s: int, idx: np.ndarray, need: np.ndarray, prov: np.ndarray
) -> np.ndarray:
    """Altruism × the patient's benefit over the episode at the provider's current style."""
    cfg = world.settings[s].cfg
    providers = world.providers[s]
    q = planned_units(need, providers.theta[prov], cfg.max_units)
    benefit = clinical.benefit_value(q, need, cfg.benefit_curvature) * cfg.episode_months
    return providers.altruism[prov] * benefit


def turn_away(
    world: World, s: int, idx: np.ndarray, need: np.ndarray, cfg: SelectionConfig
) -> np.ndarray:
    """Which new patients (ascending) the run's selection feature turns away."""
    for f in world.hooks("screen", s):
        if isinstance(f, Selection):
            return f.screen(world, s, idx, need)
    return np.zeros(idx.size, np.bool_)
