"""Exceptions to an annual therapy cap as decisions: the provider's request, the patient's choice.

On when an arm of the scenario has a ``therapy_threshold`` contract with
``exceptions = "decision"`` (the contract's docstring gives the rule and its sources). Each
month, for every setting and payer whose contract in force is such a one:

- *after the setting's care* (:meth:`CapExceptions.after_care`, before the claims are settled):
  a patient in care whose allowed amounts this year pass the cap this month, with care still
  planned after it and no exception decided this year, is its provider's decision. The rest of
  the year's planned care (its episode's months left, at most to December, at this month's
  value) is the revenue at stake, ``R``; without cover the patient would go on paying it in full
  with probability ``π`` = :func:`~sim.engine.payment.therapy_threshold.continuation` (the
  world's care-seeking rule, ``oop_elasticity`` and ``oop_reference``, at ``R`` against its cost
  sharing of ``R``). The provider requests an exception when ``exception_approval × R × (1 −
  π)`` exceeds ``exception_cost`` (:func:`~sim.engine.payment.therapy_threshold.requests`), and
  bears that cost this month (the patient's ``extra_cost``: provider cost and margins); the
  request is approved with probability ``exception_approval`` (counter-based draw
  ``CAP_EXCEPTION``). The contract then pays the month's claims by the decision;
- *at the next month's start* (:meth:`CapExceptions.start_month`): a patient left without cover
  goes on with its episode with probability ``π`` (draw ``CAP_GO_ON``), else stops: its need is
  no longer taken to a provider (care not sought). A new year starts every patient afresh.

Deterrence at care seeking is the contract's (``PaymentModel.expected_uncovered``, read by the
needs stage). The feature adds no output column (the monthly table of every other scenario is
unchanged); what it does shows in ``spending``, ``oop``, ``provider_cost`` and the care given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engine import draws
from sim.engine.features.base import Feature
from sim.engine.payment import terms
from sim.engine.payment.therapy_threshold import (
    UNDECIDED,
    TherapyThreshold,
    continuation,
    exception_gain,
    requests,
)

if TYPE_CHECKING:
    from sim.engine.month.care import SettingMonth
    from sim.engine.world import World


def deciding(scenario) -> bool:  # scenario: sim.scenario.Scenario
    """Whether any contract of any arm (or switch) of the scenario has exceptions as
    decisions."""
    for arm in scenario.arms:
        contracts = list(arm.contracts) + [c for sw in arm.switches for c in sw.contracts]
        for c in contracts:
            if getattr(c.params, "exceptions", "expected") == "decision":
                return True
    return False


def _deciding_contract(world: World, s: int, g: int) -> TherapyThreshold | None:
    c = world.payers[g].contracts[s]
    return c if isinstance(c, TherapyThreshold) and c.decides else None


class CapExceptions(Feature):
    """Providers' requests for exceptions to an annual therapy cap and patients' choice to go
    on without cover (module docstring)."""

    name = "exceptions"
    #: every decision is about one patient and its own provider, within its region
    SHARDABLE = True

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """On when an arm has a therapy cap with exceptions as decisions."""
        return [cls()] if deciding(world.config) else []

    def start_month(self, world: World) -> None:
        """Patients left without cover last month go on or stop; a new year starts afresh."""
        pop = world.population
        year = world.date.year
        for s in range(len(world.settings)):
            for g in range(world.n_payers):
                c = _deciding_contract(world, s, g)
                if c is None:
                    continue
                c.start_year(year)
                patients, going_on = c.patients_to_decide()
                in_care = (pop.episode_left[s][patients] > 0) & pop.sought[s][patients]
                patients, going_on = patients[in_care], going_on[in_care]
                if patients.size:
                    u = pop.uniforms(patients, s, draws.CAP_GO_ON)
                    pop.sought[s][patients[u >= going_on]] = False

    def after_care(self, world: World, s: int, care: SettingMonth) -> None:
        """Providers decide on exceptions for the patients this month takes over the cap."""
        pop = world.population
        cfg = world.settings[s].cfg
        date = world.date
        for g, b in enumerate(care.by_payer):
            c = _deciding_contract(world, s, g)
            if c is None or b.start == b.stop:
                continue
            prm = c.params
            c.start_year(date.year)
            idx = care.patients[b]
            value = care.fee_value[b] * world.payers[g].rate_multiplier * prm.fee_multiplier
            before = c.year_to_date(idx)
            # care still planned after this month, within the year
            months = np.minimum(pop.episode_left[s][idx].astype(np.int64), 12 - date.month)
            at_stake = value * months
            rows = np.flatnonzero(
                care.sought[b]
                & (c.status(idx) == UNDECIDED)
                & (before + value > prm.threshold)
                & (at_stake > 0)
            )
            if not rows.size:
                continue
            who = idx[rows]
            revenue = at_stake[rows]
            covered_oop = terms.expected_oop(
                prm, revenue, pop.deductible_remaining[who], np.zeros(rows.size)
            )
            going_on = continuation(revenue, covered_oop, cfg.oop_elasticity, cfg.oop_reference)
            gain = exception_gain(prm.exception_approval, revenue, going_on)
            asks = requests(gain, prm.exception_cost)
            u = pop.uniforms(who, s, draws.CAP_EXCEPTION)
            approved = asks & (u < prm.exception_approval)
            c.decide(who, approved, going_on)
            if prm.exception_cost:
                care.extra_cost[b.start + rows[asks]] += prm.exception_cost
