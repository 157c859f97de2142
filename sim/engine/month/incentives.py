"""What the current contracts make worth to each provider at the margin, and its best style.

Recomputed when contracts change (at the start of a run and at each policy switch). For each
setting and provider, averaged over its members' payers: the revenue of one more service unit
(the payment model's ``marginal_revenue``, plus the share of a unit's cost a cost-based
contract pays back, around which every contract term adds its margin,
:func:`sim.engine.payment.terms.margins`), and the extra cost of under-treatment (adverse-event
costs borne, penalties, outcome payments lost, shared savings). Features with a second decision add
what a day is worth at its best level (therapy). The closed-form best style θ*
(:func:`sim.engine.behaviour.optimal_offset` [@ellis1986]) follows; in ``optimal`` mode
providers play it at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engine.behaviour import optimal_offset
from sim.engine.payment import terms

if TYPE_CHECKING:
    from sim.engine.world import World


def refresh(world: World) -> None:
    """Recompute every setting's margins under the current contracts (and play the optimum in
    ``optimal`` mode). With payer specificity, each style's separate best per payer is the
    closed form under that payer's contract alone; the norm's is under the members' mix."""
    for s in range(len(world.settings)):
        providers = world.providers[s]
        w = providers.payer_weight()
        split = [st for st in providers.styles if st.separate is not None]
        if split:
            for g in range(world.n_payers):
                alone = np.zeros_like(w)
                alone[:, g] = 1.0
                _margins(world, s, alone)
                for style in split:
                    if style.closed_form is not None:
                        style.separate_best[:, g] = style.closed_form()
        # last, the members' mix: what the norm and every feature's state follow
        _margins(world, s, w)
    if world.optimal:
        for s in range(len(world.settings)):
            providers = world.providers[s]
            providers.theta[:] = optimal_theta(world, s)
            for f in world.hooks("play_optimum", s):
                f.play_optimum(world, s)
            for style in providers.styles:
                if style.separate is not None:
                    style.separate[:] = style.separate_best


def _margins(world: World, s: int, w: np.ndarray) -> None:
    """Setting ``s``'s margins for providers whose members are split over payers as ``w``
    (providers × payers)."""
    setting = world.settings[s]
    providers = world.providers[s]
    fee_unit = setting.fee_per_unit[providers.region]
    ae = setting.cfg.adverse_events
    contracts = [
        (
            payer.contracts[s].params,
            np.asarray(
                payer.contracts[s].marginal_revenue(
                    fee_unit * payer.rate_multiplier, payer.rate_multiplier
                ),
                float,
            )
            # cost-based reimbursement pays back a share of each unit's cost
            + payer.contracts[s].cost_margin() * setting.cfg.marginal_cost,
        )
        for payer in world.payers
    ]
    shares = None
    if world.payer_design:
        shares = [
            design.coinsurance * fee_unit * payer.rate_multiplier
            for design, payer in zip(world.benefit_design, world.payers, strict=True)
        ]
    mg = terms.margins(contracts, w, ae.cost, shares)
    providers.marginal_revenue = mg.per_unit
    providers.event_margin = mg.per_event
    # below the optimum the objective bends more: expected adverse-event costs borne
    # (2·event·h) and the outcome payments lost (k·d/v)
    cfg = setting.cfg
    providers.shortfall_curvature = (
        2.0 * mg.per_event * ae.shortfall_risk
        + mg.per_point * cfg.benefit_curvature / cfg.value_per_function_point
    )
    day_extra = np.zeros(providers.n)
    for f in world.hooks("incentives", s):
        extra = f.incentives(world, s, w)
        if extra is not None:
            day_extra = extra
    providers.day_extra = day_extra


def optimal_theta(world: World, s: int) -> np.ndarray:
    """Closed-form best style of each provider of setting ``s`` [@ellis1986]."""
    cfg = world.settings[s].cfg
    providers = world.providers[s]
    revenue = providers.marginal_revenue + providers.day_extra
    if providers.unit_value is not None:
        revenue = revenue + providers.unit_value
    return optimal_offset(
        revenue,
        cfg.marginal_cost,
        providers.benefit_weight,
        cfg.benefit_curvature,
        providers.shortfall_curvature,
        float(cfg.max_units),
    )
