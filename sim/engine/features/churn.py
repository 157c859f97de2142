"""Panel churn (``providers.churn``): members move to another provider of their region.

Each month a share ``churn`` of a setting's members leave their provider for another provider
of the same region, chosen at random (counter-based draws, the same in every arm). Panels are
rebuilt after the move; investments made on a member follow the member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engine import draws
from sim.engine.features.base import Feature

if TYPE_CHECKING:
    from sim.engine.world import World


class Churn(Feature):
    """Panel churn in one setting."""

    name = "churn"
    SHARDABLE = True

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """One per setting with ``providers.churn > 0``."""
        return [
            cls(st.index, st.cfg.providers.churn)
            for st in world.settings
            if st.cfg.providers.churn > 0
        ]

    def __init__(self, s: int, rate: float) -> None:
        self.s = s
        self.settings = (s,)
        self.rate = rate

    def start_month(self, world: World) -> None:
        """This month's movers, with the setting's counter-based draws."""
        churn(world, self.s, self.rate)


def churn(world: World, s: int, rate: float) -> None:
    """Members who leave their provider this month move to another provider of their region,
    chosen at random (counter-based draws, the same in every arm)."""
    pop = world.population
    everyone = np.arange(pop.n)
    leave = everyone[pop.uniforms(everyone, s, draws.CHURN_LEAVE) < rate]
    if not leave.size:
        return
    pick = pop.uniforms(leave, s, draws.CHURN_PICK)
    by_region = world.providers[s].by_region
    region = pop.region[leave]
    prov = pop.provider[s]
    for r, members in enumerate(by_region):
        mine = region == r
        if not mine.any() or len(members) < 2:
            continue
        current = prov[leave[mine]].astype(np.int64)
        # a different provider of the region, uniformly
        pos = np.searchsorted(members, current)
        step = 1 + np.floor(pick[mine] * (len(members) - 1)).astype(np.int64)
        prov[leave[mine]] = members[(pos + step) % len(members)]
    world.rebuild_panels(s)
