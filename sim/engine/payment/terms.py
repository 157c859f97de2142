"""The terms every contract can carry, each written once.

A payment model (:mod:`sim.engine.payment.base`) says what a contract owes for the month's claims
and panel. Around it every contract carries the same generic terms (fields of
:class:`~sim.engine.payment.base.ContractParams`): the patient's cost sharing, pay-for-performance,
two-sided shared savings, the provider's liability for adverse events, a capitated plan's PMPM
from Medicare, prior authorization, and admission (utilization) review. Each term has two
faces, kept side by side here so that they cannot drift apart:

- its **settlement**: what it moves between payer, patient and provider this month
  (used by :mod:`sim.engine.month.payment`), and
- its **margin**: what it adds to, or takes from, the provider's objective at the margin, for
  the closed-form optimum of :mod:`sim.engine.behaviour` (used by :func:`unit_margin`).

With ``m`` the payment model's marginal revenue per unit, ``s`` the shared-savings rate, ``L``
the liability share, ``C`` an adverse event's cost, ``k`` the outcome payment per point and
``P`` the penalty per event, a provider facing one payer's contract sees

    per unit:         m·(1 − s·(1 − coinsurance))
    per event borne:  L·C + (1 − s)·P + s·(1 − L)·C
    per point gained: (1 − s)·k
    per case taken:   its prices × (1 − r·P(denied | the case))   (admission review)

(the deductible is ignored at the margin: an approximation when it is not met). Admission
review, with ``r`` the share of admissions reviewed, weighs only on the decision to take a
case: the units of a case taken are planned at its prices (an approximation for cost-paid
units of a case that may be denied).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtr

from sim.engine.billing import apply_cost_sharing
from sim.engine.payment.base import ContractParams, Panel
from sim.engine.payment.prices import CodingRevenue, Prices

if TYPE_CHECKING:
    from sim.scenario import BenefitDesign

# ---------------------------------------------------------------------------------------------
# prior authorization (utilization management)


def authorize(
    prm: ContractParams, planned: np.ndarray, need: np.ndarray, sought: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Settlement: the units the contract authorizes (at most ``prior_authorization`` × the
    patient optimum) and the planned units it refused (for those who sought care).
    Margin: none (a cap on volume, not a price)."""
    cap = prm.prior_authorization
    if cap is None:
        return planned, np.zeros(planned.size)
    allowed = np.minimum(planned, cap * need)
    return allowed, np.where(sought, planned - allowed, 0.0)


# ---------------------------------------------------------------------------------------------
# utilization (admission) review


def case_clinical_value(
    need: np.ndarray, optimal_units: float, alternative: np.ndarray
) -> np.ndarray:
    """What an admission adds for the patient, as the reviewer judges it: the benefit over the
    gray area's alternative, (1 − ``alternative``) × the patient's benefit at its optimum
    ``need`` (q_B), as a multiple of the benefit of an average episode at risk score 1
    (``optimal_units``): ``(q_B / optimal_units)² × (1 − alternative)``."""
    q = np.asarray(need, np.float64) / optimal_units
    return q * q * (1.0 - np.asarray(alternative, np.float64))


def denial_probability(prm: ContractParams, value: np.ndarray) -> np.ndarray:
    """The chance that a reviewed admission of clinical ``value`` (:func:`case_clinical_value`)
    is found not medically necessary: the reviewer sees the value times ``exp(ε)``, ε normal
    with standard deviation ``review_noise``, and denies below ``review_standard``:
    ``Φ(ln(standard / value) / noise)``; with no noise, 1 below the standard and 0 at or above
    it; 0 with no standard."""
    v = np.asarray(value, np.float64)
    t = prm.review_standard
    if t <= 0:
        return np.zeros(v.shape)
    if prm.review_noise <= 0:
        return (v < t).astype(np.float64)
    with np.errstate(divide="ignore"):
        z = np.log(t / np.maximum(v, 0.0)) / prm.review_noise
    return ndtr(z)


def review_factor(prm: ContractParams, value: np.ndarray) -> np.ndarray:
    """Margin: the share of a case's revenue the provider expects to be paid, ``1 −
    admission_review × P(denied | the case)``: what the admission decision weighs the case's
    prices by (:mod:`sim.engine.features.admission`)."""
    return 1.0 - prm.admission_review * denial_probability(prm, value)


def review_denials(allowed: np.ndarray, refused: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Settlement: the claims of episodes whose admission review refused (``refused``) are not
    paid: the allowed amounts left, and what is denied (paid by neither payer nor patient)."""
    denied = np.where(refused, allowed, 0.0)
    return np.where(refused, 0.0, allowed), denied


# ---------------------------------------------------------------------------------------------
# patient cost sharing


def patient_cost_sharing(
    prm: ContractParams | BenefitDesign,
    allowed: np.ndarray,
    visits: np.ndarray,
    deductible_left: np.ndarray | None,
    contract_share: np.ndarray | None,
    sought: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Settlement: what patients pay of ``allowed`` — the deductible, coinsurance and copays,
    all out of the allowed amount (the provider's total: a patient never pays more than it) —
    and the deductible left afterwards (None when the deductible does not apply). A contract
    may set the patient's share of ``allowed`` itself (``contract_share``: skilled nursing's
    daily coinsurance). Under a payer's benefit design (``prm`` a
    :class:`~sim.scenario.BenefitDesign`), ``allowed`` is the fee-schedule value of the
    services: patients pay the same whatever the contract pays the provider, and the payer pays
    the provider the rest of what the contract owes (``sought`` is needed with
    ``contract_share``, ``deductible_left`` without it)."""
    copays = prm.copay_per_visit * visits
    if contract_share is not None:
        assert sought is not None
        share = np.where(sought, contract_share, 0.0)
        return np.minimum(share + copays, allowed), None
    if prm.deductible_applies:
        assert deductible_left is not None
        ded = deductible_left.astype(np.float64)
        oop, ded_after = apply_cost_sharing(allowed, ded, prm.coinsurance, copays, trusted=True)
        return np.minimum(oop, allowed), ded_after
    return np.minimum(prm.coinsurance * allowed + copays, allowed), None


def expected_oop(
    prm: ContractParams | BenefitDesign,
    allowed: np.ndarray,
    deductible_left: np.ndarray | float,
    visits: np.ndarray,
) -> np.ndarray:
    """What a patient expects to pay for an episode whose allowed amount is ``allowed``: the
    part of the deductible it uses, coinsurance on the rest, and copays, at most the allowed
    amount (for care seeking)."""
    ded = deductible_left if prm.deductible_applies else 0.0
    ded_part = np.minimum(allowed, ded)
    oop = ded_part + prm.coinsurance * (allowed - ded_part)
    oop += prm.copay_per_visit * visits
    return np.minimum(oop, allowed)


# ---------------------------------------------------------------------------------------------
# pay-for-performance and adverse-event liability


def pay_for_performance(
    prm: ContractParams, gain: np.ndarray, adverse: np.ndarray, sought: np.ndarray
) -> np.ndarray:
    """Settlement: outcome payments per point of function gained minus the penalty per adverse
    event, for the episodes taken to the provider (not cost-shared)."""
    return np.where(sought, prm.outcome_payment * gain - prm.adverse_event_penalty * adverse, 0.0)


def event_cost_borne(prm: ContractParams, event_cost: float) -> float:
    """What the provider bears of one adverse event's cost (its liability share)."""
    return prm.adverse_event_liability * event_cost


def event_charge(prm: ContractParams, event_cost: float) -> float:
    """What one adverse event costs the provider in settlement: its share of the event's cost
    plus the pay-for-performance penalty."""
    return event_cost_borne(prm, event_cost) + prm.adverse_event_penalty


def event_margin(prm: ContractParams, event_cost: float) -> float:
    """What one more adverse event of an episode taken to the provider costs it under every
    term together: its liability share of the cost, the penalty net of shared savings, and the
    shared savings it gives back of the payer's share of the cost."""
    L = prm.adverse_event_liability
    s = prm.shared_savings_rate
    return L * event_cost + (1.0 - s) * prm.adverse_event_penalty + s * (1.0 - L) * event_cost


def liability(prm: ContractParams, adverse_cost: np.ndarray, sought: np.ndarray) -> np.ndarray:
    """Settlement: the part of adverse-event costs the provider bears; it answers for
    complications of the episodes taken to it, not of needs that never reached it."""
    return np.where(sought, prm.adverse_event_liability * adverse_cost, 0.0)


# ---------------------------------------------------------------------------------------------
# shared savings


def shared_savings(
    prm: ContractParams,
    revenue: np.ndarray,
    oop: np.ndarray,
    ae_payer: np.ndarray,
    lump: np.ndarray,
    risk_sum: np.ndarray,
    rate_multiplier: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Settlement (two-sided, monthly, exactly attributed): the provider receives s·benchmark
    per member (risk-adjusted) and gives back s of the payer's spending on each patient.
    Returns the revenue per claim and the lump per provider after the term."""
    s = prm.shared_savings_rate
    if not s:
        return revenue, lump
    revenue = revenue - s * (revenue - oop + ae_payer)
    lump = lump + s * prm.benchmark_pmpm * (risk_sum * rate_multiplier)
    return revenue, lump


# ---------------------------------------------------------------------------------------------
# a capitated plan paid by Medicare


def plan_revenue(prm: ContractParams, coded_risk_sum: float) -> float:
    """Settlement: what Medicare pays the plan running this contract for its members in the
    setting (risk-adjusted PMPM); 0 when no plan runs it. Margin: none for providers."""
    return prm.plan_pmpm * coded_risk_sum


# ---------------------------------------------------------------------------------------------
# the margins of every term together, for the closed-form optimum


@dataclass(frozen=True)
class Margins:
    """What a provider's contracts make worth to it at the margin, averaged over its members'
    payers (one entry per provider): revenue per service unit, the cost of an adverse event it
    bears, and the payment per point of function its patients gain (module docstring)."""

    per_unit: np.ndarray
    per_event: np.ndarray
    per_point: np.ndarray


def margins(
    contracts: list[tuple[ContractParams, np.ndarray]],
    payer_weight: np.ndarray,
    event_cost: float,
    patient_share: list[np.ndarray] | None = None,
) -> Margins:
    """The margins of every term of each payer's contract around its payment model's marginal
    revenue per unit (``contracts``: (params, marginal revenue per provider) by payer),
    weighted by each provider's members by payer (``payer_weight[p, g]``). ``patient_share``:
    under a payer's benefit design, what patients pay per unit (coinsurance × the fee per
    unit), by payer; otherwise the contract's coinsurance of its marginal revenue."""
    n_prov = payer_weight.shape[0]
    per_unit = np.zeros(n_prov)
    per_event = np.zeros(n_prov)
    per_point = np.zeros(n_prov)
    for g, (prm, mr) in enumerate(contracts):
        w = payer_weight[:, g]
        s = prm.shared_savings_rate
        keep = 1.0 - s  # of each dollar the payer spends
        # shared savings give back s of the payer's share of each unit (the deductible is
        # ignored here: an approximation when it is not met); copays come out of the allowed
        # amount: they move money from payer to patient, not to the provider
        if patient_share is None:
            per_unit += w * (mr * (1.0 - s * (1.0 - prm.coinsurance)))
        else:
            per_unit += w * (mr - s * (mr - patient_share[g]))
        per_event += w * event_margin(prm, event_cost)
        per_point += w * keep * prm.outcome_payment
    return Margins(per_unit=per_unit, per_event=per_event, per_point=per_point)


# ---------------------------------------------------------------------------------------------
# the prices of decisions, net of the terms


def net_prices(prm: ContractParams, prices: Prices) -> Prices:
    """A model's prices (:mod:`sim.engine.payment.prices`) net of the contract's terms that
    move with them: shared savings give back ``s`` of the payer's share of every dollar
    (as :func:`margins` does for the closed form; liability for adverse events and outcome
    payments are weighed with the events and the function they go with)."""
    s = prm.shared_savings_rate
    if s == 0:
        return prices
    return prices.scaled(1.0 - s * (1.0 - prm.coinsurance))


def point_margin(prm: ContractParams) -> float:
    """What one more point of function gained pays the provider, net of shared savings."""
    return (1.0 - prm.shared_savings_rate) * prm.outcome_payment


def coding_margin(
    prm: ContractParams, revenue: CodingRevenue | None, provider: np.ndarray, panel: Panel
) -> np.ndarray:
    """What coding every risk score 1% higher earns each provider of ``panel`` under every term
    of the contract, ×100: the model's answer (``revenue``: per patient of ``provider``, and
    per member; None: nothing), its claims net of shared savings as :func:`net_prices`, plus
    the shared-savings benchmark's ``s·benchmark_pmpm·rate`` per unit of coded risk and a
    capitated plan's ``plan_pmpm`` from Medicare per unit of coded risk (the plan codes with
    its providers: what the plan gains counts as the providers'; assumption)."""
    n = panel.members.size
    s = prm.shared_savings_rate
    out = np.zeros(n)
    if revenue is not None:
        claims = np.bincount(np.asarray(provider, np.int64), revenue.claims, minlength=n)
        out += claims * (1.0 - s * (1.0 - prm.coinsurance)) + revenue.members
    if s:
        out += s * prm.benchmark_pmpm * panel.rate_multiplier * panel.risk_sum
    if prm.plan_pmpm:
        out += prm.plan_pmpm * panel.risk_sum
    return out
