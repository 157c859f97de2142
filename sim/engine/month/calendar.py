"""Stage 1: the calendar and health drift.

The population advances a month (:meth:`sim.engine.population.Population.start_month`): deductibles
reset each January, care outside the modelled settings draws deductibles down, function
declines, and the month's need uniforms are drawn for everyone (common random numbers). With a
life course, last month's dead leave and this month's new beneficiaries enter
(:mod:`sim.engine.month.lifecourse`); with trends, payment rates are updated each January
(:mod:`sim.engine.month.trends`). Then features start their month (:meth:`Feature.start_month`:
panel churn, the pathway's monthly state, investment spending at last month's levels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.engine.month import lifecourse, trends

if TYPE_CHECKING:
    from sim.engine.world import World


def start_month(world: World) -> None:
    """Advance the calendar a month (see the module docstring)."""
    world.population.start_month(world.month_number)
    world.date = world.config.date_of(world.month_number)
    lifecourse.start_month(world)
    trends.start_month(world)
    world.start_accounts()
    for f in world.hooks("start_month"):
        f.start_month(world)
