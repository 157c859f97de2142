"""Stage 1: the calendar and health drift.

The population advances a month (:meth:`sim.engine.population.Population.start_month`): deductibles
reset each January, care outside the modelled settings draws deductibles down, function
declines, and the month's need uniforms are drawn for everyone (common random numbers). Then
features start their month (:meth:`Feature.start_month`: panel churn, the pathway's monthly
state, investment spending at last month's levels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.engine.world import World


def start_month(world: World) -> None:
    """Advance the calendar a month (see the module docstring)."""
    world.population.start_month(world.month_number)
    world.date = world.config.date_of(world.month_number)
    world.start_accounts()
    for f in world.hooks("start_month"):
        f.start_month(world)
