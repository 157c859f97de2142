"""Stage 4: payers settle the month.

For each payer and setting, the contract's payment model says what is owed for the month's
claims and panel (``settle(claims, panel)``: ``allowed`` per claim, ``lump`` per provider),
seeing case mix as coded. Then the contract's terms (:mod:`sim.engine.payment.terms`) apply in this
order: the claims of episodes an admission review denied go unpaid (``claims_denied``), the
patient's cost sharing (deductible, coinsurance, copays) comes out of the allowed amount,
the patient pays in full what the contract does not cover (``Settlement.liable``: a therapy
cap without an exception), pay-for-performance and any reconciliation of the contract are
added, the provider's share of adverse-event costs is split off, and shared savings settle
against the benchmark.
Finally features pay what is not tied to a claim (:meth:`Feature.after_payment`: pathway
reconciliations, investment fees), booked by :meth:`World.book`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engine.month.care import Payments
from sim.engine.payment import Claims, terms
from sim.engine.world import Transfer

if TYPE_CHECKING:
    from sim.engine.world import World


def settle(world: World) -> None:
    """Every payer's contracts, in payer then setting order, then the features' transfers."""
    for care in world.month:
        care.paid = Payments.empty(care.size, world.n_payers)
    for g in range(world.n_payers):
        settle_payer(world, g)
        for transfer in settle_accountable(world, g):
            world.book(transfer)
    for f in world.hooks("after_payment"):
        for transfer in f.after_payment(world):
            world.book(transfer)


def settle_accountable(world: World, g: int) -> list[Transfer]:
    """Payer ``g``'s contracts that hold their providers accountable for their members'
    spending in other settings (:meth:`PaymentModel.accountable_settings`: an ACO across
    settings), once every setting of the payer has settled: each such contract gets the
    month's allowed amounts of the payer's claims in those settings, summed by the members'
    provider in the contract's setting, and what it pays back is booked as a reconciliation."""
    transfers: list[Transfer] = []
    contracts = world.payers[g].contracts
    for s, contract in enumerate(contracts):
        scope = contract.accountable_settings()
        if not scope:
            continue
        members_provider = world.population.provider[s]
        n_prov = world.providers[s].n
        spending = np.zeros(n_prov)
        for t in world.setting_indices(scope):
            care = world.month[t]
            b = care.by_payer[g]
            spending += np.bincount(
                members_provider[care.patients[b]], care.paid.allowed[b], minlength=n_prov
            )
        date = world.date
        lump = contract.settle_accountable(spending, date.year, date.month)
        if lump is not None:
            transfers.append(Transfer("reconciliation", s, g, lump, float(lump.sum())))
    return transfers


def claims_of(world: World, s: int, g: int) -> Claims:
    """Payer ``g``'s claims in setting ``s`` this month, with case mix as coded."""
    pop = world.population
    care = world.month[s]
    b = care.by_payer[g]  # this payer's patients: a contiguous block
    idx = care.patients[b]
    prov = care.provider[b]
    rate = world.payers[g].rate_multiplier
    coding = world.coding
    readmission = care.columns.get("readmission")
    date = world.date
    cost = world.settings[s].cfg.marginal_cost * care.service_units[b] + care.extra_cost[b]
    return Claims(
        provider=prov,
        fee_value=care.fee_value[b] * rate,
        units=care.billed_units[b],
        visits=care.visits[b],
        new_episode=care.new_episode[b],
        condition=pop.condition[idx],
        function_at_start=coding.function(s, prov, care.function_at_start[b]),
        risk=coding.coded_risk(s, prov, pop.risk[idx], g),
        rate_multiplier=rate,
        period_units=care.period_units[b],
        period_end=care.period_end[b],
        episode_month=care.episode_month[b],
        period_value=care.period_value[b] * rate,
        month=world.month_number,
        therapy_individual=care.column("therapy_individual")[b],
        therapy_concurrent=care.column("therapy_concurrent")[b],
        therapy_group=care.column("therapy_group")[b],
        patient=idx,
        cost=cost,
        adverse=care.adverse[b],
        readmission=None if readmission is None else readmission[b] > 0,
        year=date.year,
        month_of_year=date.month,
    )


def hypothetical_claims(
    world: World,
    s: int,
    g: int,
    patients: np.ndarray,
    period_units: np.ndarray,
    episode_month: np.ndarray,
) -> Claims:
    """Claims of payer ``g``'s ``patients`` (ascending) in setting ``s`` at their payment
    period's end with ``period_units`` service units, case mix as coded: what a provider asks
    of a contract when it weighs changing a period's volume (bunching)."""
    pop = world.population
    prov = pop.provider[s][patients].astype(np.int64)
    n = patients.size
    coding = world.coding
    rate = world.payers[g].rate_multiplier
    function = pop.function[patients].astype(np.float64)
    return Claims(
        provider=prov,
        fee_value=np.zeros(n),
        units=period_units,
        visits=period_units,
        new_episode=np.zeros(n, np.bool_),
        condition=pop.condition[patients],
        function_at_start=coding.function(s, prov, function),
        risk=pop.risk[patients] * coding.risk_factor(s, prov, g),
        rate_multiplier=rate,
        period_units=period_units,
        period_end=np.ones(n, np.bool_),
        episode_month=episode_month,
        period_value=np.zeros(n),
        month=world.month_number,
    )


def settle_payer(world: World, g: int) -> None:
    """Payer ``g``'s month in every setting, in setting order."""
    pop = world.population
    payer = world.payers[g]
    for s, contract in enumerate(payer.contracts):
        care = world.month[s]
        b = care.by_payer[g]
        idx = care.patients[b]
        sought = care.sought[b]
        claims = claims_of(world, s, g)
        settlement = contract.settle(claims, world.providers[s].panels[g])
        prm = contract.params
        allowed = np.where(sought, settlement.allowed, 0.0)
        denied = None if settlement.denied is None else np.where(sought, settlement.denied, 0.0)
        flags = world.review_denied[s]
        if flags is not None:
            # admission review: the claims of episodes it denied are paid by no one
            allowed, refused = terms.review_denials(allowed, flags[idx] & sought)
            denied = refused if denied is None else denied + refused
        if world.payer_design or settlement.patient_share is None:
            # the payer's benefit design on the fee-schedule value of the services, or the
            # contract's terms on what it allows: deductible, coinsurance and copays
            if world.payer_design:
                cost_sharing = world.benefit_design[g]
                amount = np.where(sought, claims.fee_value, 0.0)
            else:
                cost_sharing, amount = prm, allowed
            oop = world.kernels.share_costs(
                cost_sharing,
                idx,
                amount,
                claims.visits,
                pop.deductible_remaining,
                pop.oop_year_to_date,
            )
        else:
            # the contract sets the patient's share itself (skilled nursing's daily coinsurance)
            oop, _ = terms.patient_cost_sharing(
                prm, allowed, claims.visits, None, settlement.patient_share, sought
            )
            pop.oop_year_to_date[idx] += oop
        liable = None
        if settlement.liable is not None:
            # services the contract does not cover: the patient pays them in full
            liable = np.where(sought, settlement.liable, 0.0)
            oop = oop + liable
            pop.oop_year_to_date[idx] += liable
        # the provider receives the allowed amount (the patient's share comes out of it),
        # pay-for-performance and any reconciliation of the contract; terms a contract does
        # not have are left at the month's zeros (care gains function, events cost: no
        # signed zeros to lose)
        p4p = adjustment = None
        if prm.outcome_payment or prm.adverse_event_penalty or settlement.adjustment is not None:
            p4p = terms.pay_for_performance(prm, care.gain[b], care.adverse[b], sought)
            adjustment = np.zeros_like(allowed)
            if settlement.adjustment is not None:
                adjustment = np.where(sought, settlement.adjustment, 0.0)
            revenue = allowed + p4p + adjustment
        else:
            revenue = allowed + 0.0
        if liable is not None:
            revenue = revenue + liable
        ae_cost = care.adverse_cost[b]
        liability = None
        if prm.adverse_event_liability:
            liability = terms.liability(prm, ae_cost, sought)
            ae_payer = ae_cost - liability
        else:
            ae_payer = ae_cost
        panel = world.providers[s].panels[g]
        revenue, lump_by_provider = terms.shared_savings(
            prm, revenue, oop, ae_payer, settlement.lump, panel.risk_sum, panel.rate_multiplier
        )
        claims_paid = float(revenue.sum() - oop.sum())
        lump = float(lump_by_provider.sum())
        ae_paid = float(ae_payer.sum())
        payer.paid_total += claims_paid + lump + ae_paid
        # the month's per-patient amounts and the ledgers
        paid = care.paid
        paid.revenue[b] = revenue
        paid.allowed[b] = allowed
        if p4p is not None:
            paid.p4p[b] = p4p
            paid.adjustment[b] = adjustment
        paid.oop[b] = oop
        if liability is not None:
            paid.liability[b] = liability
        paid.ae_payer[b] = ae_payer
        if denied is not None:
            paid.denied[b] = denied
        paid.lump_by_payer[g] = lump_by_provider
        if world.history.asks(s, g, world.month_number):
            world.history.record(
                s, g, world.month_number, care.provider[b], revenue,
                care.new_episode[b] & sought, lump_by_provider, panel.members, panel.risk_sum,
            )  # fmt: skip
        world.ledgers.payer[s, g] += claims_paid + lump
        world.ledgers.payer_adverse_events[s, g] += ae_paid
