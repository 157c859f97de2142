"""The extensive margin (``behaviour.admission``): providers decide which new cases to take.

Whether a need becomes a case with the provider — an admission, an accepted patient, a start
of care, a readmission — is the provider's decision, priced by the contract
(:mod:`sim.engine.payment.prices`) and weighed by the same objective as its units
(:mod:`sim.engine.decisions`). For each new case that seeks care, the provider values it at

    V = price of the case − its cost (intake, evaluation: ``case_cost`` × the cost of the
                                       units of an average episode at its optimum)
        + (expected periods of the episode) × (best value of its units in a period
                                                − α × the benefit the patient would have from
                                                  the alternative)

at the provider's practice (its best response, or its learnt style's units) and takes it with
probability ``1 / (1 + exp(−V/σ))`` (σ: ``settings.<s>.admission.scale`` × the benefit of
an average episode at its optimum, ``d·q_B²/2 × episode_months`` at risk score 1). Most needs have no
alternative worth speaking of (a hip fracture): their value to an altruistic provider dwarfs
any price. A share of needs is in the gray area (``discretionary_share``; Chandra & Skinner
2012): an alternative — outpatient care, watchful waiting, another setting — would give a
share of the benefit (drawn uniformly up to ``alternative_benefit``), so the price of the case
decides. A readmission is priced as one (a readmission penalty's price of one more), and a
contract that pays per member (capitation) obliges the provider to take its members' cases.

A patient turned away goes to the setting's alternative: a later setting of the scenario where
its need starts the same month (``alternative``), or care outside the modelled settings, which
gives it the alternative's share of the function gain at its optimum and costs the modelled
payers nothing. This replaces ``behaviour.selection`` and ``supply.participation`` (one
mechanism instead of three: the scenario refuses them together).

Under a contract with admission (utilization) review (``admission_review``,
:mod:`sim.engine.payment.terms`) the payer reviews that share of the cases taken and denies
payment for those whose clinical value — the benefit over the alternative, relative to an
average case — the reviewer finds below its standard: the provider weighs the case's prices ×
(1 − admission_review × P(denied | the case)), and a case taken is reviewed and denied with
that chance (one counter-based draw, ``draws.REVIEW``), every claim of its episode then unpaid.

Where capacity is short, V also loses what the case's units would displace at the provider
(the features' ``displaced_value`` hook: with ``supply.capacity.ration_admissions``, the
shadow price of capacity × the units), so congested providers turn away discretionary cases
first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

import numpy as np

from sim.engine import draws
from sim.engine.columns import Column
from sim.engine.decisions import acceptance, case_value
from sim.engine.features.base import Feature
from sim.engine.month import incentives
from sim.engine.payment import terms as payment_terms

if TYPE_CHECKING:
    from sim.engine.features.pathway import Pathway
    from sim.engine.month.care import SettingMonth
    from sim.engine.world import World

#: risk groups: quartiles of the risk score (World.risk_group)
GROUPS = 4


class Admission(Feature):
    """Providers take new cases by their net value at the contract's prices (module
    docstring)."""

    name = "admission"
    SHARDABLE = True
    COLUMNS: ClassVar[dict[str, Column]] = {
        "cases_decided": Column("int64", "episodes", "New cases that sought care and whose provider decided whether to take them (behaviour.admission; 0 when off)."),
        "admission_rate": Column("float64", "fraction", "Share of cases_decided the provider took (0 when none were decided).", ratio=("_admitted", "cases_decided")),
        "admission_rate_risk_q1": Column("float64", "fraction", "admission_rate of members in risk-score quartile 1 (1 = lowest risk).", ratio=("_admitted_q1", "_decided_q1")),
        "admission_rate_risk_q2": Column("float64", "fraction", "admission_rate of members in risk-score quartile 2.", ratio=("_admitted_q2", "_decided_q2")),
        "admission_rate_risk_q3": Column("float64", "fraction", "admission_rate of members in risk-score quartile 3.", ratio=("_admitted_q3", "_decided_q3")),
        "admission_rate_risk_q4": Column("float64", "fraction", "admission_rate of members in risk-score quartile 4 (highest risk).", ratio=("_admitted_q4", "_decided_q4")),
        "discretionary_cases": Column("int64", "episodes", "cases_decided in the gray area (an alternative would give part of the benefit)."),
        "discretionary_admission_rate": Column("float64", "fraction", "Share of discretionary_cases the provider took.", ratio=("_discretionary_admitted", "discretionary_cases")),
        "cases_to_alternative": Column("int64", "episodes", "Cases turned away whose need went to the setting's alternative setting (the rest get care outside the modelled settings)."),
        "case_value": Column("float64", "USD/case", "Mean value to the provider of the cases it decided on (price of the case and of its units, less their cost, plus its weight on the patient's benefit against the alternative).", ratio=("_case_value", "cases_decided")),
        "cases_decided_risk_q1": Column("int64", "episodes", "cases_decided of members in risk-score quartile 1 (the weights of admission_rate_risk_q1 over months and payers).", sum="_decided_q1"),
        "cases_decided_risk_q2": Column("int64", "episodes", "cases_decided of members in risk-score quartile 2.", sum="_decided_q2"),
        "cases_decided_risk_q3": Column("int64", "episodes", "cases_decided of members in risk-score quartile 3.", sum="_decided_q3"),
        "cases_decided_risk_q4": Column("int64", "episodes", "cases_decided of members in risk-score quartile 4.", sum="_decided_q4"),
    }  # fmt: skip

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """On with ``behaviour.admission.enabled``."""
        return [cls(world)] if world.behaviour.admission.enabled else []

    def __init__(self, world: World) -> None:
        n = world.population.n
        n_settings = len(world.settings)
        names = [st.name for st in world.settings]
        cfgs = [st.cfg.admission for st in world.settings]
        #: per setting: the setting its turned-away needs go to (None: outside the model)
        self.alternative = [
            None if c.alternative is None else names.index(c.alternative) for c in cfgs
        ]
        #: per setting: patients turned away this month whose need goes to another setting
        self.sent = [np.zeros(n, np.bool_) for _ in range(n_settings)]
        self._stats: dict[int, dict[str, np.ndarray]] = {}
        self.pathway: Pathway | None = None

    def connect(self, features: list[Feature]) -> None:
        """Find the care pathway: its readmissions are priced as readmissions."""
        for f in features:
            if f.name == "pathway":
                self.pathway = cast("Pathway", f)  # found by its name

    def start_month(self, world: World) -> None:
        """Nothing carries over from last month's decisions."""
        for sent in self.sent:
            sent[:] = False
        self._stats = {}

    def forced_needs(self, world: World, s: int) -> np.ndarray | None:
        """Needs turned away this month by a setting whose alternative is ``s``."""
        out = None
        for src, alt in enumerate(self.alternative):
            if alt == s:
                out = self.sent[src] if out is None else out | self.sent[src]
        return out

    def screen(self, world: World, s: int, patients: np.ndarray, need: np.ndarray) -> np.ndarray:
        """The new cases turned away (module docstring)."""
        pop = world.population
        setting = world.settings[s]
        cfg = setting.cfg.admission
        n = patients.size
        provider = pop.provider[s][patients].astype(np.int64)
        # the gray area: the share of the benefit the alternative gives, from one draw
        u = pop.uniforms(patients, s, draws.DISCRETION)
        share = cfg.discretionary_share
        discretionary = u < share
        alternative = np.where(discretionary, cfg.alternative_benefit * u / max(share, 1e-300), 0.0)
        readmission = np.zeros(n, np.bool_)
        if self.pathway is not None and s == self.pathway.acute:
            readmission = self.pathway.readmit_now[patients]
        value = np.zeros(n)
        p = np.ones(n)
        # the chance that a case taken is reviewed and denied (admission review)
        deny = np.zeros(n)
        reviewed = False
        expected = max(setting.cfg.episode_months, 1.0)
        c = setting.cfg
        sigma = cfg.scale * c.benefit_curvature * 0.5 * c.optimal_units**2 * c.episode_months
        case_cost = cfg.case_cost * c.marginal_cost * c.optimal_units * c.episode_months
        for g, b in enumerate(pop.payer_slices(patients)):
            if b.start == b.stop:
                continue
            contract = world.contract(s, g)
            horizon = float(min(max(contract.period_months, 1), np.ceil(expected)))
            months = np.full(b.stop - b.start, horizon)
            pos = incentives.position(
                world, s, g, patients[b], provider[b], np.ones(b.stop - b.start, np.bool_),
                contract, months=months.astype(np.int64), readmission=readmission[b],
            )  # fmt: skip
            prices, limit = incentives.priced(world, s, g, pos, contract)
            prm = contract.params
            if prm.admission_review:
                # utilization review: the case's prices times the share it expects to be paid
                clinical = payment_terms.case_clinical_value(
                    need[b], c.optimal_units, alternative[b]
                )
                deny[b] = prm.admission_review * payment_terms.denial_probability(prm, clinical)
                reviewed = True
                prices = prices.scaled(1.0 - deny[b])
            terms = incentives.decision_terms(world, s, g, provider[b], contract)
            best = world.practice.case_plan(
                world, s, provider[b], g, prices, need[b], pos.months_left, terms, limit
            )
            periods = np.full(best.units.size, expected / horizon)
            value[b] = case_value(prices, best, need[b], periods, alternative[b], terms) - case_cost
            # what the case's units would displace where capacity is short (supply.capacity)
            for f in world.hooks("displaced_value", s):
                shadow = f.displaced_value(world, s, provider[b], periods * best.units)
                if shadow is not None:
                    value[b] -= shadow
            if not contract.cares_for_members:
                p[b] = acceptance(value[b], sigma)
        taken = pop.uniforms(patients, s, draws.ADMIT) < p
        away = ~taken
        self._count(world, s, patients, taken, discretionary, value)
        if reviewed or world.review_denied[s] is not None:
            self._review(world, s, patients, taken, deny)
        alt = self.alternative[s]
        if alt is not None:
            self.sent[s][patients[away]] = True
        else:
            # care outside the modelled settings: the alternative's share of the gain
            gain = (setting.cfg.benefit_curvature * 0.5 * need * need
                    / setting.cfg.value_per_function_point)  # fmt: skip
            lost = patients[away]
            pop.function[lost] = np.minimum(
                pop.function[lost] + (alternative[away] * gain[away]).astype(pop.function.dtype),
                100.0,
            )
        return away

    def _review(
        self, world: World, s: int, patients: np.ndarray, taken: np.ndarray, deny: np.ndarray
    ) -> None:
        """The payer's admission review of the new cases taken: one uniform per case, below
        the chance of review and denial (``deny``: admission_review × P(denied | the case)) the
        episode is denied — every claim of it goes unpaid (:mod:`sim.engine.month.payment`);
        the new cases not taken, and those of contracts without review, are not."""
        flags = world.review_denied[s]
        if flags is None:
            flags = world.review_denied[s] = np.zeros(world.population.n, np.bool_)
        denied = taken & (deny > 0)
        if denied.any():
            denied[denied] = (
                world.population.uniforms(patients[denied], s, draws.REVIEW) < deny[denied]
            )
        flags[patients] = denied

    def _count(
        self, world: World, s: int, patients: np.ndarray, taken: np.ndarray,
        discretionary: np.ndarray, value: np.ndarray,
    ) -> None:  # fmt: skip
        g = world.n_payers
        pop = world.population
        payer = pop.payer[patients].astype(np.int64)
        group = world.risk_group[patients].astype(np.int64)
        key = payer * GROUPS + group
        size = g * GROUPS
        decided = np.bincount(key, minlength=size).reshape(g, GROUPS)
        admitted = np.bincount(key, taken, minlength=size).reshape(g, GROUPS)
        st = self._stats.setdefault(s, {
            "decided": np.zeros((g, GROUPS)), "admitted": np.zeros((g, GROUPS)),
            "discretionary": np.zeros(g), "discretionary_admitted": np.zeros(g),
            "sent": np.zeros(g), "value": np.zeros(g),
        })  # fmt: skip
        st["decided"] += decided
        st["admitted"] += admitted
        st["discretionary"] += np.bincount(payer, discretionary, minlength=g)
        st["discretionary_admitted"] += np.bincount(payer, discretionary & taken, minlength=g)
        if self.alternative[s] is not None:
            st["sent"] += np.bincount(payer, ~taken, minlength=g)
        st["value"] += np.bincount(payer, value, minlength=g)

    def record(self, world: World, s: int, care: SettingMonth, by_payer) -> dict[str, np.ndarray]:
        """The month's decisions by payer and risk quartile."""
        g = world.n_payers
        st = self._stats.get(s)
        if st is None:
            zero = np.zeros(g)
            st = {"decided": np.zeros((g, GROUPS)), "admitted": np.zeros((g, GROUPS)),
                  "discretionary": zero, "discretionary_admitted": zero, "sent": zero,
                  "value": zero}  # fmt: skip
        out = {
            "cases_decided": st["decided"].sum(axis=1),
            "_admitted": st["admitted"].sum(axis=1),
            "discretionary_cases": st["discretionary"],
            "_discretionary_admitted": st["discretionary_admitted"],
            "cases_to_alternative": st["sent"],
            "_case_value": st["value"],
        }
        for k in range(GROUPS):
            out[f"_admitted_q{k + 1}"] = st["admitted"][:, k]
            out[f"_decided_q{k + 1}"] = st["decided"][:, k]
        return out
