"""Optional features: plug-ins with the hook protocol of :mod:`sim.features.base`.

``FEATURES`` lists every feature class, in the order their hooks run within a stage (and
their output columns appear in the monthly table). A run builds the instances its scenario
asks for (``Feature.from_world``); an absent feature costs nothing. To add a feature, add a
module here with a :class:`~sim.features.base.Feature` subclass and list it below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.features.base import HOOKS, Feature, Hooks
from sim.features.bunching import Bunching
from sim.features.capacity import Capacity
from sim.features.churn import Churn
from sim.features.investments import Investments
from sim.features.market import Market
from sim.features.participation import Participation
from sim.features.pathway import Pathway
from sim.features.selection import Selection
from sim.features.therapy import Therapy

if TYPE_CHECKING:
    from sim.world import World

FEATURES: tuple[type[Feature], ...] = (
    Churn,
    Therapy,
    Pathway,
    Investments,
    Bunching,
    Selection,
    Market,
    Capacity,
    Participation,
)


def build(world: World) -> list[Feature]:
    """The features a run of ``world``'s scenario and arm needs, in ``FEATURES`` order."""
    return [f for cls in FEATURES for f in cls.from_world(world)]


def columns() -> dict[str, tuple[str, str, str]]:
    """The monthly output columns of every feature, in ``FEATURES`` order."""
    out: dict[str, tuple[str, str, str]] = {}
    for cls in FEATURES:
        out.update(cls.COLUMNS)
    return out


__all__ = ["FEATURES", "HOOKS", "Feature", "Hooks", "build", "columns"]
