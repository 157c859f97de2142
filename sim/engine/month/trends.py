"""Trends (``[trends]``): annual price updates and secular intensity growth, part of the calendar
stage, the same in every arm.

**Price updates.** Each calendar January after the start every payer's rate level (its
``rate_multiplier``, which every payment model applies: fees, per diems, prices per stay and
episode, PMPMs, and the patients' expected out-of-pocket cost) is raised by
``price_update``, compounding; the panels carry the new level and what the contracts make
worth at the margin is recomputed (:func:`sim.engine.month.incentives.refresh`). Providers'
costs are not updated. A global budget's target grows by its own ``annual_update`` instead
(:mod:`sim.engine.payment.all_payer_budget`), which is how a cap on revenue growth saves
against a trend.

**Intensity growth.** The patient-optimal units of a new episode (q_B,
:func:`sim.engine.month.needs.patient_need`) are multiplied by
``(1 + intensity_growth)^(month / 12)``: more care per episode over time, whatever the
contract (:attr:`World.intensity`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sim.engine.month import incentives

if TYPE_CHECKING:
    from sim.engine.world import World


def start_month(world: World) -> None:
    """This month's price level and intensity (module docstring); nothing without trends."""
    cfg = world.config.trends
    if cfg is None or not cfg.active:
        return
    m = world.month_number
    world.intensity = (1.0 + cfg.intensity_growth) ** (m / 12.0)
    if cfg.price_update and m > 0 and world.date.month == 1:
        factor = 1.0 + cfg.price_update
        for payer in world.payers:
            payer.rate_multiplier *= factor
        for providers in world.providers:
            providers.panels = [
                replace(pn, rate_multiplier=payer.rate_multiplier)
                for pn, payer in zip(providers.panels, world.payers, strict=True)
            ]
        incentives.refresh(world)
