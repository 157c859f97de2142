"""The hook protocol of optional features.

A feature is an optional mechanism (panel churn, the therapy decision of a skilled-nursing
stay, the acute care pathway, investments that lower future need, bunching at payment
thresholds, selection of patients) that plugs into the month at fixed points. Every hook is a
no-op here (``deliver`` is called only where overridden); a feature overrides the hooks it
needs. :class:`Hooks` builds, once per run, the list of features that override each hook, per
setting, so the stages call only those: an absent feature costs nothing and the engine never
asks whether a feature is on.

Features receive the :class:`~sim.engine.world.World` they act on and never import the model. They
change patients' and their own state; money goes through the engine: a payment not tied to a
claim is returned as a :class:`~sim.engine.world.Transfer` and booked by the payment stage.

The hooks, in the order a month calls them (``s`` is a setting's index):

=====================  ==========================================================================
``start_month``        calendar stage, after the population's drift
``forced_needs``       needs stage: patients whose episode starts whatever their need draw
``seek_factor``        needs stage: a factor on new elective patients' care-seeking probability
``screen``             needs stage: new patients their provider turns away
``displaced_value``    needs stage: what a new case's units would displace at its provider
``ration_units``       delivery stage: the month's units when capacity is short (congestion)
``adjust_units``       delivery stage: units at a payment period's end (thresholds ahead)
``deliver``            delivery stage: a second decision delivered with the units (therapy)
``risk_factor``        needs and delivery stages: a factor on the probability of an event
``events_avoided``     needs and delivery stages: the events the same draws would have produced
``after_care``         right after setting ``s`` delivered its month
``after_payment``      payment stage: transfers not tied to claims (reconciliations, fees)
``provider_cost``      a cost of its own, per provider (margins, records)
``cost_by_payer``      the same cost attributed to payers (records)
``record``             records stage: the feature's output columns for setting ``s``
``after_records``      end of month: staffing, investment levels
``incentives``         when contracts change: what a second decision adds at the margin
``play_optimum``       ``optimal`` mode: move the feature's decisions to their optimum
=====================  ==========================================================================

Events that ``risk_factor`` and ``events_avoided`` name: ``"needs"`` and ``"adverse_events"``.
Factors of several features multiply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:
    from sim.engine.columns import Column
    from sim.engine.month.care import SettingMonth
    from sim.engine.month.delivery import Delivered, Delivery
    from sim.engine.world import Transfer, World

#: hook names, in the order of the month (documented above)
HOOKS = (
    "start_month",
    "forced_needs",
    "seek_factor",
    "screen",
    "displaced_value",
    "ration_units",
    "adjust_units",
    "deliver",
    "risk_factor",
    "events_avoided",
    "after_care",
    "after_payment",
    "provider_cost",
    "cost_by_payer",
    "record",
    "after_records",
    "incentives",
    "play_optimum",
)


class Feature:
    """Base class of optional features: every hook a no-op.

    ``settings``: the settings whose per-setting hooks the feature answers (empty: all).
    ``COLUMNS``: the monthly output columns the feature computes, each a
    :class:`~sim.engine.columns.Column` (its dictionary entry; a sum :meth:`record` returns
    under its name, a ratio of two of them, …); they are part of every monthly table, zero
    where the feature is absent.
    """

    #: the name a scenario uses for the feature
    name: ClassVar[str] = ""
    COLUMNS: ClassVar[dict[str, Column]] = {}
    #: whether a sharded run (:mod:`sim.experiments.shards`) can split the feature's state by
    #: region:
    #: everything it does stays within a region and its columns are sums or ratios of sums
    SHARDABLE: ClassVar[bool] = False
    settings: tuple[int, ...] = ()

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """The instances of this feature a run needs (none when the scenario does not ask for
        it): one per setting for a per-setting feature."""
        return []

    def connect(self, features: list[Feature]) -> None:
        """Once, after every feature is built: find the features this one talks to."""

    # -- the month, in order
    def start_month(self, world: World) -> None:
        """Calendar stage, after the population's drift."""

    def forced_needs(self, world: World, s: int) -> np.ndarray | None:
        """Patients (a boolean per patient) whose episode starts this month whatever their
        need draw (readmissions, referrals)."""
        return None

    def seek_factor(
        self,
        world: World,
        s: int,
        patients: np.ndarray,
        elective: np.ndarray,
        draw: np.ndarray,
        probability: np.ndarray,
    ) -> np.ndarray | None:
        """A factor on the care-seeking probability of the new patients (ascending) with an
        elective need (``elective``; ``draw``: their seeking uniforms, ``probability``: the
        probability before the factors: a patient seeks care when draw < probability)."""
        return None

    def screen(
        self, world: World, s: int, patients: np.ndarray, need: np.ndarray
    ) -> np.ndarray | None:
        """New patients (ascending) seeking care whom their provider turns away (a boolean per
        patient)."""
        return None

    def displaced_value(
        self, world: World, s: int, provider: np.ndarray, units: np.ndarray
    ) -> np.ndarray | None:
        """What new cases (taken or not) of ``units`` service units over their episode would
        displace at their ``provider`` (USD per case; the shadow price of capacity × the
        units), which the provider's admission decision weighs; None: nothing."""
        return None

    def ration_units(
        self,
        world: World,
        s: int,
        units: np.ndarray,
        patients: np.ndarray,
        provider: np.ndarray,
        by_payer: list[slice],
    ) -> np.ndarray:
        """The month's service units of the patients with an active episode (ascending) when
        their provider cannot deliver all it planned (0 for patients not seeking care)."""
        return units

    def adjust_units(
        self,
        world: World,
        s: int,
        units: np.ndarray,
        before: np.ndarray,
        thresholds: np.ndarray,
        eligible: np.ndarray,
        patients: np.ndarray,
        episode_month: np.ndarray,
    ) -> np.ndarray:
        """Units this month given the period's units so far and its payment thresholds
        (``episode_month``: each patient's month of the episode, 0 = its first)."""
        return units

    def deliver(self, world: World, s: int, delivery: Delivery) -> Delivered:
        """Deliver a decision of the feature's with the month's units: what it delivered (its
        columns, benefit, gain, cost and adverse risk). Called only where overridden."""
        raise NotImplementedError

    def risk_factor(
        self, world: World, s: int, event: str, patients: np.ndarray | None
    ) -> np.ndarray | None:
        """Factor on the probability of ``event`` in setting ``s`` for these patients (None:
        every patient, in patient order)."""
        return None

    def events_avoided(
        self, world: World, s: int, event: str, avoided: np.ndarray, sought: np.ndarray | None
    ) -> None:
        """The patients (ascending) for whom the same draws would have produced ``event``
        without the factors, and whether they sought care (None for needs)."""

    def after_care(self, world: World, s: int, care: SettingMonth) -> None:
        """Right after setting ``s`` delivered this month's care."""

    def after_payment(self, world: World) -> list[Transfer]:
        """After payers settled the month's claims: payments not tied to a claim."""
        return []

    def provider_cost(self, world: World, s: int) -> np.ndarray | None:
        """A cost of the feature's per provider of setting ``s`` this month."""
        return None

    def cost_by_payer(self, world: World, s: int) -> np.ndarray | None:
        """The same cost, attributed to payers."""
        return None

    def record(self, world: World, s: int, care: SettingMonth, by_payer) -> dict[str, np.ndarray]:
        """The sums :data:`COLUMNS` read for setting ``s``, one value per payer (``by_payer(x)``
        sums a per-patient array over each payer's block); a sharded run adds them up."""
        return {}

    def after_records(self, world: World) -> None:
        """End of month."""

    # -- when contracts change
    def incentives(self, world: World, s: int, payer_weight: np.ndarray) -> np.ndarray | None:
        """What a day (service unit) adds to the provider's objective at the best level of a
        second decision (therapy minutes per day), per provider; None: nothing."""
        return None

    def play_optimum(self, world: World, s: int) -> None:
        """``optimal`` behaviour: move the feature's decisions to their closed-form best."""


class Hooks:
    """For each hook, the features that override it (per setting for per-setting hooks), in
    feature order. Built once per run."""

    def __init__(self, features: list[Feature], n_settings: int) -> None:
        self.features = features
        self._by_setting: dict[str, list[list[Feature]]] = {}
        self._all: dict[str, list[Feature]] = {}
        for hook in HOOKS:
            mine = [f for f in features if getattr(type(f), hook) is not getattr(Feature, hook)]
            self._all[hook] = mine
            self._by_setting[hook] = [
                [f for f in mine if not f.settings or s in f.settings] for s in range(n_settings)
            ]
        for f in features:
            f.connect(features)

    def __call__(self, hook: str, s: int | None = None) -> list[Feature]:
        """The features that answer ``hook`` (in setting ``s``)."""
        return self._all[hook] if s is None else self._by_setting[hook][s]

    def factor(
        self, world: World, s: int, event: str, patients: np.ndarray | None
    ) -> np.ndarray | None:
        """The product of every feature's factor on ``event`` (None: no feature changes it)."""
        out = None
        for f in self("risk_factor", s):
            x = f.risk_factor(world, s, event, patients)
            if x is not None:
                out = x if out is None else out * x
        return out
