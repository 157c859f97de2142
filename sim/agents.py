"""The Mesa agents: providers and payers.

Patients are not agents here: a million of them live as columns in
:class:`sim.population.Population` and behave through vectorized operations. Providers and
payers are few, make decisions with real structure, and are ordinary Mesa agents with their own
``step``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.behaviour import adapt
from sim.billing import apply_cost_sharing
from sim.payment import Claims, PaymentModel

if TYPE_CHECKING:
    from sim.model import HealthSystemModel


class Provider(mesa.Agent):
    """A provider in one care setting (clinic, practice, ...).

    It holds a practice style ``theta`` (units above or below each patient's optimum), a weight
    on patient benefit ``altruism`` and an adaptation ``speed``. Each month, in ``learning``
    mode, it updates its style from the realised results of its patients (see
    :mod:`sim.behaviour`); in ``optimal`` mode it plays the closed-form best response to its
    current contracts; in ``fixed`` mode it never changes.
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
    ) -> None:
        super().__init__(model)
        self.setting = setting
        self.index = index
        self.region = region
        self.altruism = altruism
        self.speed = speed
        self.for_profit = for_profit

    @property
    def theta(self) -> float:
        return float(self.model.theta[self.setting][self.index])

    def step(self) -> None:
        m = self.model
        behaviour = m.config.behaviour
        if behaviour.mode != "learning":
            return
        s, i = self.setting, self.index
        est = m.estimates[s]
        # imitation of a better-performing peer (compared on this provider's own values)
        peer = None
        if est.imitate[i]:
            j = est.peer[i]
            mine = float(est.profit_pp[i] + self.altruism * est.benefit_pp[i])
            theirs = float(est.profit_pp[j] + self.altruism * est.benefit_pp[j])
            if math.isfinite(theirs) and (not math.isfinite(mine) or theirs > mine):
                peer = j
        w = behaviour.imitation_weight
        theta = self._move(m.theta_before[s], est.slope, est.curvature, est.max_step, peer, w)
        m.theta[s][i] = min(max(theta, -est.bound), est.bound)
        if est.therapy_slope is not None:
            # the therapy style (minutes per day) learns the same way from the same patients
            phi = self._move(
                m.phi_before[s], est.therapy_slope, est.therapy_curvature,
                est.therapy_max_step, peer, w,
            )  # fmt: skip
            m.phi[s][i] = min(max(phi, -est.therapy_bound), est.therapy_bound)

    def _move(self, before, slope, curvature, max_step, peer, weight) -> float:
        """One style's month: a damped Newton step on the perceived objective, then part of
        the way toward a better-performing peer's style."""
        i = self.index
        value = float(before[i])
        sl = float(slope[i])
        if math.isfinite(sl):
            value = adapt(value, sl, float(curvature[i]), self.speed, max_step)
        if peer is not None:
            value += weight * (float(before[peer]) - value)
        return value


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
        m = self.model
        pop = m.population
        g = self.index
        for s, contract in enumerate(self.contracts):
            month = m.month_care[s]
            b = month.by_payer[g]  # this payer's patients: a contiguous block
            idx = month.patients[b]
            prov = month.provider[b]
            # payment models see case mix as coded (upcoding, if any), not as it is
            claims = Claims(
                provider=prov,
                fee_value=month.fee_value[b] * self.rate_multiplier,
                units=month.billed[b],
                visits=month.visits[b],
                new_episode=month.new_episode[b],
                condition=pop.condition[idx],
                function_at_start=m.coded_function(s, prov, month.function_at_start[b]),
                risk=pop.risk[idx] * m.coded_risk_factor(s, prov),
                rate_multiplier=self.rate_multiplier,
                period_units=month.period_units[b],
                period_end=month.period_end[b],
                episode_month=month.episode_month[b],
                period_value=month.period_value[b] * self.rate_multiplier,
                month=m.month,
                therapy_individual=month.therapy_individual[b],
                therapy_concurrent=month.therapy_concurrent[b],
                therapy_group=month.therapy_group[b],
            )
            settlement = contract.settle(claims, m.panels[s][g])
            p = contract.params
            allowed = np.where(month.sought[b], settlement.allowed, 0.0)
            copays = p.copay_per_visit * claims.visits
            if settlement.patient_share is not None:
                # the contract sets the patient's share itself (skilled nursing coinsurance)
                share = np.where(month.sought[b], settlement.patient_share, 0.0)
                oop = np.minimum(share, allowed) + copays
            elif p.deductible_applies:
                ded = pop.deductible_remaining[idx].astype(np.float64)
                oop, ded_after = apply_cost_sharing(allowed, ded, p.coinsurance, copays)
                pop.deductible_remaining[idx] = ded_after
            else:
                oop = p.coinsurance * allowed + copays
            pop.oop_to_date[idx] += oop
            # pay-for-performance on outcomes: per point of function gained, minus a penalty
            # per adverse event, for the episodes taken to the provider (not cost-shared)
            p4p = np.where(
                month.sought[b],
                p.outcome_payment * month.gain[b] - p.adverse_event_penalty * month.adverse[b],
                0.0,
            )
            adjustment = np.zeros_like(allowed)
            if settlement.adjustment is not None:
                adjustment = np.where(month.sought[b], settlement.adjustment, 0.0)
            # the provider receives the allowed amount, copays, pay-for-performance and any
            # reconciliation of the contract
            revenue = allowed + copays + p4p + adjustment
            ae_cost = month.adverse_cost[b]
            # a provider answers for complications of the episodes taken to it, not of needs
            # that never reached it
            liability = np.where(month.sought[b], p.adverse_event_liability * ae_cost, 0.0)
            ae_payer = ae_cost - liability
            lump_by_provider = settlement.lump
            if p.shared_savings_rate:
                # shared savings, settled monthly and exactly attributed: the provider gets
                # s·benchmark per member and gives back s of the payer's spending on each patient
                share = p.shared_savings_rate
                revenue = revenue - share * (revenue - oop + ae_payer)
                panel = m.panels[s][g]
                lump_by_provider = lump_by_provider + share * p.benchmark_pmpm * (
                    panel.risk_sum * panel.rate_multiplier
                )
            claims_paid = float(revenue.sum() - oop.sum())
            lump = float(lump_by_provider.sum())
            ae_paid = float(ae_payer.sum())
            self.paid_total += claims_paid + lump + ae_paid
            # write back into the month's per-patient arrays and the ledgers
            month.revenue[b] = revenue
            month.allowed[b] = allowed
            month.p4p[b] = p4p
            month.adjustment[b] = adjustment
            month.oop[b] = oop
            month.liability[b] = liability
            month.ae_payer[b] = ae_payer
            month.lump_by_payer[g] = lump_by_provider
            m.ledger_payer[s, g] += claims_paid + lump
            m.ledger_payer_ae[s, g] += ae_paid
