"""Stage 5: providers learn from the month and adapt their styles.

First :func:`estimate` folds each provider's month into the record of every style it learns
(:class:`sim.behaviour.Experience`: how the realised value of a patient, profit + α·benefit,
varied with the offset the style set for that patient) and draws this month's imitation
chances. Then each :class:`~sim.agents.Provider` steps (:func:`move`): a damped Newton step of
each style toward its perceived best, and sometimes part of the way toward a
better-performing peer's style (the same peer for every style).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.behaviour import adapt
from sim.month.accounts import patient_profit
from sim.payment import terms

if TYPE_CHECKING:
    from sim.world import World


def estimate(world: World, rng: np.random.Generator) -> None:
    """Per-provider estimates from this month's realised results (what each provider can
    know), plus this month's imitation draws."""
    beh = world.behaviour
    for providers in world.providers:
        for style in providers.styles:
            style.before = style.value.copy()
    n_total = sum(p.n for p in world.providers)
    u_imit = rng.random(n_total)
    u_peer = rng.random(n_total)
    offset = 0
    for s, setting in enumerate(world.settings):
        cfg = setting.cfg
        care = world.month[s]
        providers = world.providers[s]
        n_prov = providers.n
        alpha = providers.altruism[care.provider]
        profit = patient_profit(world, s)
        value = profit + alpha * care.benefit
        if world.learning and beh.event_costs == "expected":
            value = value + _expected_event_correction(world, s)
        own = care.sought
        treated = np.bincount(care.provider[own], minlength=n_prov)
        with np.errstate(invalid="ignore", divide="ignore"):
            providers.profit_pp = np.bincount(care.provider[own], profit[own], n_prov) / treated
            providers.benefit_pp = (
                np.bincount(care.provider[own], care.benefit[own], n_prov) / treated
            )
        if world.learning:
            need_z = (care.optimal_units - cfg.optimal_units) / cfg.optimal_units
            providers.seen += treated
            enough = providers.seen >= beh.min_patients
            for style in providers.styles:
                style.experience.add_month(
                    care.provider[own],
                    value[own],
                    need_z[own],
                    style.offset(care)[own],
                    care.new_episode[own],
                )
                style.slope, style.curvature = style.experience.slope_curvature(style.value, enough)
        else:
            for style in providers.styles:
                style.slope = style.curvature = np.full(n_prov, np.nan)
        ui = u_imit[offset : offset + n_prov]
        up = u_peer[offset : offset + n_prov]
        offset += n_prov
        providers.imitate = (ui < beh.imitation_probability) & (n_prov > 1)
        providers.peer = (
            np.arange(n_prov) + 1 + np.floor(up * max(n_prov - 1, 1)).astype(int)
        ) % n_prov


def _expected_event_correction(world: World, s: int) -> np.ndarray:
    """Per patient: what the realised adverse event charged the provider less what it expected
    to be charged ((event − probability) × what an event costs it under its payer's contract),
    so the record of experience learns from the expected cost of events (episodes taken to the
    provider only; only they are charged)."""
    care = world.month[s]
    event_cost = world.settings[s].cfg.adverse_events.cost
    out = np.zeros(care.size)
    for g, b in enumerate(care.by_payer):
        charge = terms.event_margin(world.contract(s, g).params, event_cost)
        if charge:
            surprise = care.adverse[b] - care.adverse_probability[b]
            out[b] = np.where(care.sought[b], surprise * charge, 0.0)
    return out


def move(world: World, s: int, i: int, altruism: float, speed: float) -> None:
    """Provider ``i`` of setting ``s`` adapts every style it learns (``learning`` mode)."""
    beh = world.behaviour
    providers = world.providers[s]
    # imitation of a better-performing peer (compared on this provider's own values)
    peer = None
    if providers.imitate[i]:
        j = providers.peer[i]
        mine = float(providers.profit_pp[i] + altruism * providers.benefit_pp[i])
        theirs = float(providers.profit_pp[j] + altruism * providers.benefit_pp[j])
        if math.isfinite(theirs) and (not math.isfinite(mine) or theirs > mine):
            peer = j
    weight = beh.imitation_weight
    for style in providers.styles:
        # a damped Newton step on the perceived objective, then part of the way toward a
        # better-performing peer's style
        value = float(style.before[i])
        slope = float(style.slope[i])
        if math.isfinite(slope):
            max_step = beh.max_step * style.scale
            value = adapt(value, slope, float(style.curvature[i]), speed, max_step)
        if peer is not None:
            value += weight * (float(style.before[peer]) - value)
        if style.target is not None:
            # foresight: toward the best under the announced rules
            value += beh.foresight * speed * (float(style.target[i]) - value)
        style.value[i] = min(max(value, -style.bound), style.bound)
