"""The learning move written provider by provider, in plain floats: the reference that the
engine's one-pass array move (:func:`sim.engine.month.adaptation.move_all`) is checked
against, bit for bit (tests/engine/test_provider_moves.py), and the scalar damped Newton step the
closed-form examples of tests/engine/test_behaviour.py pin."""

from __future__ import annotations

import math


def adapt(theta: float, slope: float, curvature_estimate: float, speed: float, max_step: float):
    """One month of adaptation: a damped Newton step toward the perceived best style.

    If the perceived objective is concave, its best style is θ − slope/curvature; otherwise the
    provider just moves uphill. The move is capped at ``max_step`` and scaled by ``speed``."""
    if curvature_estimate < 0:
        target = -slope / curvature_estimate
    else:
        target = math.copysign(max_step, slope) if slope else 0.0
    return theta + speed * min(max(target, -max_step), max_step)


def move(world, s: int, i: int) -> None:
    """Provider ``i`` of setting ``s`` adapts every style it learns (``learning`` mode)."""
    beh = world.behaviour
    providers = world.providers[s]
    speed = float(providers.speed[i])
    if providers.income_weight is not None:
        altruism = float(providers.benefit_weight[i])  # its values, at its income now
    else:
        altruism = float(providers.altruism[i])
    # imitation of a better-performing peer (compared on this provider's own values)
    peer = None
    peers = providers.peers
    if providers.imitate[i]:
        j = providers.peer[i]
        mine = float(providers.profit_pp[i] + altruism * providers.benefit_pp[i])
        theirs = float(peers.profit_pp[j] + altruism * peers.benefit_pp[j])
        if math.isfinite(theirs) and (not math.isfinite(mine) or theirs > mine):
            peer = j
    weight = beh.imitation_weight
    for k, style in enumerate(providers.styles):
        value = float(style.before[i])
        slope = float(style.slope[i])
        max_step = beh.max_step * style.scale
        if math.isfinite(slope):
            value = adapt(value, slope, float(style.curvature[i]), speed, max_step)
        if peer is not None:
            value += weight * (float(peers.before[k][peer]) - value)
        if style.target is not None:
            value += beh.foresight * speed * (float(style.target[i]) - value)
        style.value[i] = min(max(value, -style.bound), style.bound)
        if style.separate is not None:
            for g in range(style.separate.shape[1]):
                v = float(style.separate_before[i, g])
                slope = float(style.separate_slope[i, g])
                if math.isfinite(slope):
                    v = adapt(v, slope, float(style.separate_curvature[i, g]), speed, max_step)
                if peer is not None:
                    v += weight * (float(peers.separate_before[k][peer][g]) - v)
                style.separate[i, g] = min(max(v, -style.bound), style.bound)
