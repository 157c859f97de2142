"""Optional features: plug-ins with the hook protocol of :mod:`sim.engine.features.base`.

``FEATURES`` lists every feature class, in the order their hooks run within a stage (and
their output columns appear in the monthly table). A run builds the instances its scenario
asks for (``Feature.from_world``); an absent feature costs nothing. To add a feature, add a
module here with a :class:`~sim.engine.features.base.Feature` subclass and list it below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.engine.features.admission import Admission
from sim.engine.features.base import HOOKS, Feature, Hooks
from sim.engine.features.bunching import Bunching
from sim.engine.features.capacity import Capacity
from sim.engine.features.churn import Churn
from sim.engine.features.exceptions import CapExceptions
from sim.engine.features.investments import Investments
from sim.engine.features.market import Market
from sim.engine.features.participation import Participation
from sim.engine.features.pathway import Pathway
from sim.engine.features.selection import Selection
from sim.engine.features.therapy import Therapy
from sim.engine.features.upcoding import CodingDecisions
from sim.engine.features.voluntary import Voluntary

if TYPE_CHECKING:
    from sim.engine.world import World

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
    Admission,
    CodingDecisions,
    Voluntary,
    CapExceptions,
)


def build(world: World) -> list[Feature]:
    """The features a run of ``world``'s scenario and arm needs, in ``FEATURES`` order."""
    return [f for cls in FEATURES for f in cls.from_world(world)]


__all__ = ["FEATURES", "HOOKS", "Feature", "Hooks", "build"]
