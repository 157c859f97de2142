"""The Mesa agents: providers and payers.

Patients are not agents here: a million of them live as columns in
:class:`sim.engine.population.Population` and behave through vectorized operations. Providers and
payers are few, make decisions with real structure, and are ordinary Mesa agents with their own
``step``; what they decide with lives in the :class:`~sim.engine.world.World` their model holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.engine.month import adaptation, payment

if TYPE_CHECKING:
    from sim.engine.model import HealthSystemModel
    from sim.engine.payment import PaymentModel


class Provider(mesa.Agent):
    """A provider in one care setting (clinic, practice, hospital, ...).

    It holds practice styles (``theta``: units above or below each patient's optimum; a
    therapy setting's minutes per day as well), a weight on patient benefit ``altruism`` and an
    adaptation ``speed``. Each month, in ``learning`` mode, it updates its styles from the
    realised results of its patients (:mod:`sim.engine.month.adaptation`); in ``optimal`` mode it
    plays the closed-form best response to its current contracts; in ``fixed`` mode it never
    changes.
    """

    model: HealthSystemModel

    def __init__(
        self,
        model: HealthSystemModel,
        setting: int,
        index: int,
        region: int,
        altruism: float,
        speed: float,
        for_profit: bool,
        global_index: int | None = None,
    ) -> None:
        super().__init__(model)
        self.setting = setting
        #: its number in this model's arrays, and in the whole run (they differ in a shard)
        self.index = index
        self.global_index = index if global_index is None else global_index
        self.region = region
        self.altruism = altruism
        self.speed = speed
        self.for_profit = for_profit

    @property
    def theta(self) -> float:
        """This provider's practice style θ (units above or below each patient's optimum)."""
        return float(self.model.world.providers[self.setting].theta[self.index])

    def step(self) -> None:
        """Adapt every style from this month's estimates (``learning`` mode only): the
        setting's one-pass move (:func:`~sim.engine.month.adaptation.move_all`) for this
        provider alone, the same bits as when every provider moves together."""
        world = self.model.world
        if world.learning:
            adaptation.move_all(world, self.setting, np.array([self.index]))


class Payer(mesa.Agent):
    """A payer (Medicare FFS, a commercial insurer, a plan): holds one payment contract per
    care setting, pays what its contracts owe, applies patient cost sharing and tracks its
    spending. ``contracts[s]`` can be replaced at any month (a policy switch)."""

    model: HealthSystemModel

    def __init__(
        self,
        model: HealthSystemModel,
        name: str,
        index: int,
        rate_multiplier: float,
        contracts: list[PaymentModel],
    ) -> None:
        super().__init__(model)
        self.name = name
        self.index = index
        self.rate_multiplier = rate_multiplier
        self.contracts = contracts
        self.paid_total = 0.0

    def step(self) -> None:
        """Settle this month's claims and panels in every setting, in setting order."""
        payment.settle_payer(self.model.world, self.index)
