"""Each provider's month in money: revenue received, cost incurred, margin.

Read by the records stage and by features whose decisions respond to margins (therapist
staffing). Revenue is what the payment stage paid per claim plus the lumps; cost is the
marginal cost of the service units, the costs features add per patient (therapy minutes) or
per provider (investments), adverse-event costs borne and the setting's fixed cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.engine.world import World


def provider_revenue(world: World, s: int) -> np.ndarray:
    """What each provider of setting ``s`` received this month (claims and lumps)."""
    care = world.month[s]
    rev = np.bincount(care.provider, care.paid.revenue, minlength=world.providers[s].n)
    for lump in care.paid.lump_by_payer:
        rev = rev + lump
    return rev


def provider_cost(world: World, s: int) -> np.ndarray:
    """What each provider of setting ``s`` spent this month."""
    care = world.month[s]
    cfg = world.settings[s].cfg
    n_prov = world.providers[s].n
    variable = cfg.marginal_cost * care.service_units + care.extra_cost + care.paid.liability
    cost = np.bincount(care.provider, variable, minlength=n_prov) + cfg.providers.fixed_cost
    for f in world.hooks("provider_cost", s):
        extra = f.provider_cost(world, s)
        if extra is not None:
            cost = cost + extra
    return cost


def provider_margin(world: World, s: int) -> np.ndarray:
    """Revenue − cost of each provider of setting ``s`` this month."""
    return provider_revenue(world, s) - provider_cost(world, s)


def patient_profit(world: World, s: int) -> np.ndarray:
    """Each patient's contribution to the provider's profit this month: revenue − marginal
    cost of the units − per-patient feature costs − adverse-event costs borne."""
    care = world.month[s]
    cfg = world.settings[s].cfg
    revenue, liability = care.paid.revenue, care.paid.liability
    return revenue - cfg.marginal_cost * care.service_units - care.extra_cost - liability
