"""Stage 5: providers learn from the month and adapt their styles.

First :func:`estimate` folds each provider's month into the record of every style it learns
(:class:`sim.engine.behaviour.Experience`: how the realised value of a patient, profit + α·benefit,
varied with the offset the style set for that patient) and draws this month's imitation
chances. Then each :class:`~sim.engine.agents.Provider` steps (:func:`move`): a damped Newton step
of each style toward its perceived best, and sometimes part of the way toward a
better-performing peer's style (the same peer for every style).

With payer specificity (``behaviour.payer_specificity`` > 0) each style's separate part per
payer learns the same way from that payer's patients alone, and the norm moves on the payers'
perceived slopes at the norm, weighted by their member shares.
With income effects (``behaviour.income_effect`` > 0) :func:`track_income` first folds the
month's revenue into each provider's income, and the value a provider learns from weighs
benefit by ``α/u'`` (:attr:`sim.engine.world.Providers.benefit_weight`); in ``optimal`` mode the
closed forms are recomputed each month, since the income they depend on moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engine.behaviour import income_weight, newton_steps
from sim.engine.month import incentives
from sim.engine.month.accounts import patient_profit, provider_revenue
from sim.engine.payment import terms

if TYPE_CHECKING:
    from sim.engine.world import World


def estimate(world: World, rng: np.random.Generator) -> None:
    """Per-provider estimates from this month's realised results (what each provider can
    know), plus this month's imitation draws."""
    beh = world.behaviour
    for providers in world.providers:
        for style in providers.styles:
            style.before = style.value.copy()
            if style.separate is not None:
                style.separate_before = style.separate.copy()
    if beh.income_effect > 0:
        for s in range(len(world.settings)):
            track_income(world, s)
        if world.optimal:
            incentives.refresh(world)
    # one draw per provider of the whole run (a shard takes its own providers' draws)
    n_total = sum(p.n_total for p in world.providers)
    u_imit = rng.random(n_total)
    u_peer = rng.random(n_total)
    offset = 0
    for s, setting in enumerate(world.settings):
        cfg = setting.cfg
        care = world.month[s]
        providers = world.providers[s]
        n_prov = providers.n
        alpha = providers.benefit_weight[care.provider]
        profit = patient_profit(world, s)
        value = profit + alpha * care.benefit
        if world.learning and beh.event_costs == "expected":
            value = value + _expected_event_correction(world, s)
        if providers.unit_value is not None:
            # a value per unit no claim pays (referrals won by shorter stays)
            value = value + providers.unit_value[care.provider] * care.service_units
        own = care.sought
        treated, profit_sum, benefit_sum = world.kernels.provider_sums(
            care.provider, own, profit, care.benefit, n_prov
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            providers.profit_pp = profit_sum / treated
            providers.benefit_pp = benefit_sum / treated
        if world.learning:
            need_z = (care.optimal_units - cfg.optimal_units) / cfg.optimal_units
            providers.seen += treated
            enough = providers.seen >= beh.min_patients
            weight = providers.payer_weight() if providers.styles[0].separate is not None else None
            for style in providers.styles:
                style.experience.add_month(
                    care.provider,
                    value,
                    need_z,
                    style.offset(care),
                    care.new_episode,
                    world.kernels,
                    mask=own,
                )
                style.slope, style.curvature = style.experience.slope_curvature(style.value, enough)
                if style.separate is not None:
                    _estimate_separate(
                        style, care, own, value, need_z, enough, weight, world.kernels
                    )
        else:
            for style in providers.styles:
                style.slope = style.curvature = np.full(n_prov, np.nan)
                if style.separate is not None:
                    style.separate_slope = np.full(style.separate.shape, np.nan)
                    style.separate_curvature = np.full(style.separate.shape, np.nan)
        n_run = providers.n_total
        ids = providers.global_id
        if ids is None:
            ui = u_imit[offset : offset + n_prov]
            up = u_peer[offset : offset + n_prov]
            ids = np.arange(n_prov)
        else:
            ui, up = u_imit[offset + ids], u_peer[offset + ids]
        offset += n_run
        providers.imitate = (ui < beh.imitation_probability) & (n_run > 1)
        # the peer: any other provider of the setting in the whole run (its number there)
        providers.peer = (ids + 1 + np.floor(up * max(n_run - 1, 1)).astype(int)) % n_run
    # what imitation reads of every provider of the run (a shard gets the others' from theirs)
    world.exchange.peers(world.providers)


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


def _estimate_separate(style, care, own, value, need_z, enough, weight, kernels) -> None:
    """Each payer's separate style learns from that payer's patients alone (their block of
    the month's care). The norm's perceived slope and curvature are then the payers' ones at
    the norm, weighted by their shares of the provider's members (``weight``): the derivative
    of the patient-share-weighted objective. (A fit pooled over payers would mistake the
    payers' different levels of value for an effect of the offsets, which differ by payer.)"""
    offset = style.offset(care)
    n_prov, n_payers = style.separate.shape
    slope = np.full((n_prov, n_payers), np.nan)
    curv = np.full((n_prov, n_payers), np.nan)
    norm_slope = np.zeros(n_prov)
    norm_curv = np.zeros(n_prov)
    known = np.zeros(n_prov)
    for g, b in enumerate(care.by_payer):
        mine = own[b]
        exp = style.separate_experience[g]
        exp.add_month(
            care.provider[b][mine],
            value[b][mine],
            need_z[b][mine],
            offset[b][mine],
            care.new_episode[b][mine],
            kernels,
        )
        # a provider learns a payer's separate style once it has seen enough patients, and
        # only where it has seen that payer's patients
        ok = enough & (exp.xtx[:, 0, 0] > 0)
        slope[:, g], curv[:, g] = exp.slope_curvature(style.separate[:, g], ok)
        at_norm, curv_g = exp.slope_curvature(style.value, ok)
        w = np.where(ok, weight[:, g], 0.0)
        norm_slope += w * np.nan_to_num(at_norm)
        norm_curv += w * np.nan_to_num(curv_g)
        known += w
    style.separate_slope, style.separate_curvature = slope, curv
    # payers not seen yet are left out (the weights of those seen, renormalised)
    has = known > 0
    style.slope = np.where(has, norm_slope / np.where(has, known, 1.0), np.nan)
    style.curvature = np.where(has, norm_curv / np.where(has, known, 1.0), np.nan)


def track_income(world: World, s: int) -> None:
    """Fold this month's revenue into each provider's income (smoothed at ``memory``), set the
    reference income once ``income_reference_months`` have passed, and update the marginal
    utility of income (:func:`sim.engine.behaviour.income_weight`)."""
    beh = world.behaviour
    providers = world.providers[s]
    revenue = provider_revenue(world, s)
    # set by the world when income effects are on
    assert providers.income is not None and providers.income_reference is not None
    m = world.month_number
    if m == 0:
        providers.income[:] = revenue
    else:
        providers.income += beh.memory * (revenue - providers.income)
    n_ref = beh.income_reference_months
    if m < n_ref:
        # the reference: the mean monthly revenue of the first n_ref months
        providers.income_reference = np.nan_to_num(providers.income_reference) + revenue
        if m == n_ref - 1:
            providers.income_reference = providers.income_reference / n_ref
        else:
            return
    providers.income_weight = income_weight(
        providers.income, providers.income_reference, beh.income_effect
    )


def move_all(world: World, s: int, which: np.ndarray | None = None) -> None:
    """Every provider of setting ``s`` (or those numbered in ``which``) adapts every style it
    learns (``learning`` mode), in one pass over arrays: a damped Newton step on the perceived
    objective (:func:`sim.engine.behaviour.newton_steps`), part of the way toward a
    better-performing peer's style, and with foresight toward the best under announced rules.
    A provider's move reads only its own estimates and its peer's figures from the start of the
    month (:attr:`~sim.engine.world.Providers.peers`), never another provider's move, so the
    order in which providers move does not matter, and moving a subset (a
    :class:`~sim.engine.agents.Provider` stepping alone) gives those providers the same bits.
    The scalar rule, provider by provider, lives in the tests as the reference this pass is
    checked against (``tests/learning_reference.py``)."""
    beh = world.behaviour
    providers = world.providers[s]
    if providers.n == 0:
        return
    at = slice(None) if which is None else np.asarray(which, np.int64)
    altruism = providers.altruism if providers.income_weight is None else providers.benefit_weight
    altruism = altruism[at]
    speed = providers.speed[at]
    peers = providers.peers
    assert peers is not None  # set by the exchange after the estimates
    # imitation of a better-performing peer (compared on this provider's own values)
    peer = np.asarray(providers.peer, np.int64)[at]
    with np.errstate(invalid="ignore"):
        mine = providers.profit_pp[at] + altruism * providers.benefit_pp[at]
        theirs = peers.profit_pp[peer] + altruism * peers.benefit_pp[peer]
        copies = (
            providers.imitate[at] & np.isfinite(theirs) & (~np.isfinite(mine) | (theirs > mine))
        )
    weight = beh.imitation_weight
    for k, style in enumerate(providers.styles):
        before = np.asarray(style.before, np.float64)[at]
        max_step = beh.max_step * style.scale
        value = newton_steps(
            before, np.asarray(style.slope)[at], np.asarray(style.curvature)[at], speed, max_step
        )
        if copies.any():
            value = np.where(copies, value + weight * (peers.before[k][peer] - value), value)
        if style.target is not None:
            # foresight: toward the best under the announced rules
            value = value + beh.foresight * speed * (style.target[at] - value)
        style.value[at] = np.minimum(np.maximum(value, -style.bound), style.bound)
        if style.separate is not None:
            # a payer-specific part: its estimates are set with it
            assert style.separate_before is not None and style.separate_slope is not None
            assert style.separate_curvature is not None
            sep = style.separate_before[at]
            slope, curvature = style.separate_slope[at], style.separate_curvature[at]
            for g in range(sep.shape[1]):
                v = newton_steps(sep[:, g], slope[:, g], curvature[:, g], speed, max_step)
                if copies.any():
                    peer_separate = peers.separate_before[k]
                    assert peer_separate is not None  # the style has a payer-specific part
                    theirs_g = peer_separate[peer, g]
                    v = np.where(copies, v + weight * (theirs_g - v), v)
                style.separate[at, g] = np.minimum(np.maximum(v, -style.bound), style.bound)
