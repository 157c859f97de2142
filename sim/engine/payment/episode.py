"""Episode bundle with retrospective reconciliation (CJR-like [@cms_cjr2015]).

Fee-for-service is paid during the episode as usual. When the episode's payment period ends
(``episode_months``, 3 for a 90-day episode), its fee-schedule spending is reconciled against a
case-mix target price (:func:`sim.engine.rules.reconcile`): the provider keeps savings (up to a
stop-gain) and repays overruns in the share of downside risk phased in for that year (up to a
stop-loss).

In pathway scope the target can be set as CJR set it, from history (``base_months``): each
hospital's target price per unit of case-mix weight is ``(1 − discount) × (hospital_share × its
own spending per unit of weight over the pathways that closed in the base months + (1 −
hospital_share) × every hospital's)`` (42 CFR 510.300; the final rule's blend for performance
years 1 and 2 is two thirds the hospital's own three baseline years and one third its census
division's, with a 3% discount [@cms_cjr2015]; the run's hospitals stand in for the division).

In pathway scope the reconciliation is the hospital's, over a performance year (a year of the
run), as CJR's net payment reconciliation amount is: each pathway's spending, capped at the
high-episode-spending cap (``high_cost_cap_sd``: the base pathways' mean spending per unit of
case-mix weight plus that many standard deviations, × the pathway's weight), is summed against
the targets of the hospital's pathways that closed in the year so far; savings are paid up to
``stop_gain`` × the year's summed targets, overruns repaid at the year's downside share up to
``stop_loss`` × them. Each month pays the change of that year-to-date amount, so a year's
payments add up to its reconciliation, and a further dollar on any pathway below the cap costs
the hospital a dollar (at the downside share above the target) unless its year is at a limit.
In setting scope each patient's payment period is reconciled on its own.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from sim.engine import rules
from sim.engine.payment.base import (
    Base,
    BaseMonths,
    Claims,
    ClosedPathways,
    Panel,
    Participation,
    PaymentModel,
    Settlement,
)
from sim.engine.payment.casemix import CaseMix, CaseMixParams
from sim.engine.payment.prices import (
    CODING_STEP,
    CodingRevenue,
    Position,
    Prices,
    by_difference,
    grid,
    straight,
)


class EpisodeParams(CaseMixParams):
    """Parameters of a CJR-like episode bundle: the stay's price, the target price, the window
    and the phase-in of downside risk."""

    target_price: float | None = Field(
        None,
        ge=0,
        description="Target spending of an episode with all case-mix weights 1 (set below "
        "historical spending by a discount, as CJR does). Required unless base_months sets "
        "each hospital's.",
        json_schema_extra={"unit": "USD/episode"},
    )
    base_months: BaseMonths | None = Field(
        None,
        description="Pathway scope: [first, last) months of the run (from 0, before the switch "
        "that brings the contract in) whose closed pathways set each hospital's target price "
        "per unit of case-mix weight, (1 − discount) × (hospital_share × its own spending per "
        "unit of weight + (1 − hospital_share) × every hospital's), instead of one target_price "
        "(CJR: three baseline years, two thirds the hospital's own and one third regional in "
        "performance years 1 and 2, a 3% discount; the run's hospitals are the region).",
        json_schema_extra={"unit": "months"},
    )
    hospital_share: float = Field(
        2.0 / 3.0,
        ge=0,
        le=1,
        description="With base_months: the weight of the hospital's own base-period spending "
        "in its target (the rest: every hospital's). CJR: 2/3 in performance years 1-2, 1/3 "
        "in year 3, 0 in years 4-5.",
        json_schema_extra={"unit": "fraction"},
    )
    discount: float = Field(
        0.03,
        ge=0,
        lt=1,
        description="With base_months: the discount off the blended base-period spending (CJR: "
        "3%).",
        json_schema_extra={"unit": "fraction"},
    )
    episode_months: int = Field(
        3,
        ge=1,
        le=24,
        description="Months of the episode that are reconciled (3 ≈ a 90-day episode).",
        json_schema_extra={"unit": "months"},
    )
    downside_share_by_year: list[float] = Field(
        [0.0, 0.5, 1.0],
        description="Share of overruns repaid in simulation year 1, 2, ...; the last value "
        "holds afterwards (the phase-in of downside risk).",
        json_schema_extra={"unit": "fraction"},
    )
    stop_gain: float = Field(
        0.2, ge=0, description="Cap on savings paid, as a share of the target.",
        json_schema_extra={"unit": "fraction"},
    )  # fmt: skip
    stop_loss: float = Field(
        0.2, ge=0, description="Cap on repayments, as a share of the target.",
        json_schema_extra={"unit": "fraction"},
    )  # fmt: skip
    scope: Literal["setting", "pathway"] = Field(
        "setting",
        description="What is reconciled: 'setting', the setting's own fee-schedule spending "
        "over episode_months; 'pathway', in the acute setting of a care pathway, the spending "
        "of every setting over the pathway's window (the CJR episode: the stay, post-acute "
        "care and readmissions), reconciled when the window closes.",
        json_schema_extra={"unit": "choice"},
    )
    stay_price: float = Field(
        0.0,
        ge=0,
        description="Payment for the stay itself during the episode, at case-mix weight 1, "
        "paid at admission (a DRG-like price, as CJR hospitals keep being paid); 0: the fee "
        "schedule.",
        json_schema_extra={"unit": "USD/stay"},
    )
    high_cost_cap_sd: float | None = Field(
        None,
        ge=0,
        description="Pathway scope with base_months: each pathway's spending counts up to the "
        "base pathways' mean spending per unit of case-mix weight plus this many standard "
        "deviations, × its weight (CJR's high-episode-spending cap: two standard deviations "
        "above the regional mean); none: no cap.",
        json_schema_extra={"unit": "standard deviations"},
    )
    participation: Literal["mandatory", "expected_gain"] = Field(
        "mandatory",
        description="Who is in the contract: 'mandatory', every hospital; 'expected_gain', "
        "each hospital chooses when the contract comes in, and joins if the reconciliation "
        "of its pathways that closed in decision_months, against its new target, would have "
        "paid it (selection on levels, as hospitals chose when CJR became voluntary in 2018). "
        "A hospital that stays out is paid as before, with no reconciliation and nothing of "
        "its pathways' spending on it.",
        json_schema_extra={"unit": "choice"},
    )
    decision_months: BaseMonths | None = Field(
        None,
        description="With participation = 'expected_gain': [first, last) months of the run "
        "(from 0, before the switch) whose closed pathways each hospital judges its "
        "reconciliation by (the spending it knows when it chooses).",
        json_schema_extra={"unit": "months"},
    )

    @field_validator("downside_share_by_year")
    @classmethod
    def _shares(cls, v: list[float]) -> list[float]:
        if not v or any(not 0.0 <= x <= 1.0 for x in v):
            raise ValueError("give one share in [0, 1] per year (at least one)")
        return v

    @model_validator(mode="after")
    def _one_target(self) -> EpisodeParams:
        if self.base_months is not None:
            if self.target_price is not None:
                raise ValueError(
                    "give target_price (one target) or base_months (each hospital's from "
                    "those months), not both"
                )
            if self.scope != "pathway":
                raise ValueError(
                    "base_months sets targets from closed pathways: it needs scope = 'pathway'"
                )
        elif self.target_price is None:
            raise ValueError("give target_price, or base_months with scope = 'pathway'")
        if self.participation == "expected_gain":
            if self.base_months is None or self.decision_months is None:
                raise ValueError(
                    "participation = 'expected_gain' needs base_months (each hospital's "
                    "target) and decision_months (the spending it chooses by)"
                )
        elif self.decision_months is not None:
            raise ValueError("decision_months is for participation = 'expected_gain'")
        if self.high_cost_cap_sd is not None and self.base_months is None:
            raise ValueError(
                "high_cost_cap_sd caps spending at the base pathways' mean plus standard "
                "deviations: it needs base_months"
            )
        return self


class EpisodeBundle(PaymentModel):
    """FFS (or a stay price) during the episode, then reconciliation of the episode's spending
    against a case-mix target: savings paid, overruns repaid once downside risk is phased in
    [@cms_cjr2015]."""

    name = "episode_bundle"
    Params = EpisodeParams
    params: EpisodeParams
    summary = "pays fee-for-service, then reconciles each episode's spending against a target"

    def __init__(self, params: EpisodeParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        self.case_mix = CaseMix(params, condition_names)
        self.period_months = params.episode_months
        #: the target at case-mix weight 1 (one for every hospital; with base_months, the
        #: hospitals' are :attr:`hospital_target`, set when the contract comes in)
        self.target_price = float(params.target_price or 0.0)
        self.hospital_target: np.ndarray | None = None
        #: with participation = 'expected_gain', each hospital's choice (set by begin)
        self.chosen: Participation | None = None
        #: pathway scope: the cap on a pathway's spending per unit of case-mix weight
        self.cap_per_weight = np.inf
        #: pathway scope: the performance year so far, per hospital: its pathways' targets and
        #: their targets less their (capped) spending, summed
        self._year = -1
        self._year_target = np.zeros(0)
        self._year_net = np.zeros(0)

    def base_period(self) -> tuple[int, int] | None:
        """The base months, and with a voluntary contract the decision months too (the span of
        both: :meth:`begin` takes each part's pathways by the month they closed)."""
        prm = self.params
        if prm.base_months is None:
            return None
        spans = [prm.base_months] + ([prm.decision_months] if prm.decision_months else [])
        return min(int(b[0]) for b in spans), max(int(b[1]) for b in spans)

    def begin(self, base: Base) -> None:
        """Each hospital's target price per unit of case-mix weight from the pathways that
        closed in the base months (module docstring): its own spending per unit of weight,
        blended with every hospital's (over the whole run, :meth:`run_totals`); a hospital
        with no closed pathway then gets every hospital's alone. The spending is at rate level
        1 (:class:`~sim.engine.payment.base.ClosedPathways`), as the target is."""
        prm = self.params
        assert prm.base_months is not None  # base_period() gave months
        closed = base.pathways.during(prm.base_months)
        n = base.revenue.size
        w = self.case_mix.weight(closed.condition, closed.function, closed.risk)
        spend = np.bincount(closed.hospital, closed.spending, minlength=n)[:n]
        weight = np.bincount(closed.hospital, w, minlength=n)[:n]
        total, total_weight = self.run_totals(np.array([spend.sum(), weight.sum()]))
        # no closed pathway in the base months: a target of 0, which reconciles nothing
        # (stop-gain and stop-loss are shares of it), as a bundle's base rate without episodes
        every = total / total_weight if total_weight > 0 else 0.0
        own = np.divide(spend, weight, out=np.full(n, every), where=weight > 0)
        share = prm.hospital_share
        self.hospital_target = (1.0 - prm.discount) * (share * own + (1.0 - share) * every)
        if prm.high_cost_cap_sd is not None:
            # the mean and standard deviation of spending per unit of weight, over every
            # hospital's base pathways (the run's totals: sharded runs agree)
            per = np.divide(closed.spending, w, out=np.zeros_like(w), where=w > 0)
            count, s1, s2 = self.run_totals(
                np.array([float(per.size), float(per.sum()), float((per * per).sum())])
            )
            if count > 1:
                mean = s1 / count
                sd = float(np.sqrt(max(s2 / count - mean * mean, 0.0) * count / (count - 1)))
                self.cap_per_weight = mean + prm.high_cost_cap_sd * sd
        if prm.participation == "expected_gain":
            assert prm.decision_months is not None  # the params' check
            relative = own / every if every > 0 else np.ones(n)
            recent = base.pathways.during(prm.decision_months)
            self.chosen = self._choose(recent, relative, weight > 0)

    def _choose(
        self, recent: ClosedPathways, relative: np.ndarray, known: np.ndarray
    ) -> Participation:
        """Each hospital joins if the reconciliation of its ``recent`` pathways against its
        new target, at the downside share of the months the choice is for, sums to a payment
        (more than 0: a hospital with no recent pathway has nothing to gain and stays out).
        Quartiles of ``relative`` (base-period spending per unit of weight over every
        hospital's) among the hospitals with base-period pathways (``known``)."""
        prm = self.params
        assert prm.decision_months is not None and self.hospital_target is not None
        n = relative.size
        w = self.case_mix.weight(recent.condition, recent.function, recent.risk)
        target = self.hospital_target[recent.hospital] * w
        spent = np.minimum(recent.spending, self.cap_per_weight * w)
        gain = self._year_payment(
            np.bincount(recent.hospital, target - spent, minlength=n)[:n],
            np.bincount(recent.hospital, target, minlength=n)[:n],
            self.downside_share(int(prm.decision_months[1])),
        )
        quartile = np.full(n, -1, np.int8)
        idx = np.flatnonzero(known)
        if idx.size:
            # rank by relative spending (ties by hospital number), quartile = ⌊4·rank / n⌋
            order = idx[np.lexsort((idx, relative[idx]))]
            quartile[order] = (4 * np.arange(order.size)) // order.size
        return Participation(joined=gain > 0, quartile=quartile)

    def participation(self) -> Participation | None:
        """The hospitals' choice of a voluntary contract (None: mandatory)."""
        return self.chosen

    def _targets(self, hospital: np.ndarray) -> np.ndarray | float:
        """The target at case-mix weight 1 of each pathway's hospital (a hospital that came
        after the base months: the hospitals' mean)."""
        t = self.hospital_target
        if t is None:
            return self.target_price
        h = np.asarray(hospital)
        known = h < t.size
        return np.where(known, t[np.where(known, h, 0)], float(t.mean()) if t.size else 0.0)

    def downside_share(self, month: int) -> float:
        """The share of an overrun the provider repays in this month (the phase-in)."""
        shares = self.params.downside_share_by_year
        return shares[min(month // 12, len(shares) - 1)]

    def marginal_revenue(self, fee_per_unit, rate_multiplier=1.0):
        """What one more unit earns at the margin: nothing with a price per stay; otherwise its
        fee less what the reconciliation takes back (at the final year's downside share)."""
        if self.params.stay_price > 0:
            return np.zeros(np.shape(fee_per_unit))  # a price per stay: days earn nothing
        if self.params.scope == "pathway":
            # the stay's fee counts against the pathway target like any other spending
            # (a participant's share: the closed form prices the contract for those in it)
            return np.asarray(fee_per_unit) * 0.0
        # at full downside risk each extra dollar of spending is a dollar less of savings or a
        # dollar more repaid; the closed form takes the final year's share (an approximation
        # during the phase-in)
        return np.asarray(fee_per_unit) * (1.0 - self.params.downside_share_by_year[-1])

    def expected_allowed(self, fee_value, condition, function, risk, rate_multiplier):
        """What a patient's cost sharing applies to: the stay's price, or the fee schedule."""
        if self.params.stay_price > 0:
            return self.stay_payment(condition, function, risk) * rate_multiplier
        return np.asarray(fee_value, np.float64)  # patients pay on the FFS claims

    def stay_payment(self, condition, function, risk) -> np.ndarray:
        """The stay's price per admission: ``stay_price`` × the case-mix weight."""
        return self.params.stay_price * self.case_mix.weight(condition, function, risk)

    def pathway_cost_share(self, month: int) -> float | np.ndarray:
        """Inside a pathway bundle the hospital keeps each dollar saved below the target and
        repays overruns at the year's downside share: at the margin, below the target, all of
        the pathway's spending is its own (phase-in aside); nothing of it for a hospital that
        stayed out of a voluntary contract."""
        share = 1.0 if self.params.scope == "pathway" else 0.0
        if self.chosen is None:
            return share
        return np.where(self.chosen.joined, share, 0.0)

    def _year_payment(self, net: np.ndarray, target: np.ndarray, downside: float) -> np.ndarray:
        """A hospital's reconciliation over pathways whose targets sum to ``target`` and whose
        targets less capped spending sum to ``net``: savings up to the stop-gain, overruns at
        the downside share up to the stop-loss (:func:`sim.engine.rules.reconcile` of the
        sums)."""
        return rules.reconcile(
            target - net,
            target,
            downside_share=downside,
            stop_gain=self.params.stop_gain,
            stop_loss=self.params.stop_loss,
        )

    def reconcile_pathway(
        self, spending, condition, function, risk, rate_multiplier, month, hospital, *,
        commit=True,
    ):  # fmt: skip
        """The reconciliation of closed pathways against the case-mix targets (pathway scope;
        each hospital's own with ``base_months``): per hospital, the change this month's
        pathways make to its performance year's reconciliation (module docstring), put on the
        first of its pathways (the others 0). ``commit`` False prices the pathways without
        adding them to the year (what a further dollar would change)."""
        if self.params.scope != "pathway":
            return None
        h = np.asarray(hospital, np.int64)
        if self.chosen is not None:
            # a hospital that stayed out (or came after the choice) is not reconciled
            joined = self.chosen.joined
            inside = np.zeros(h.size, np.bool_)
            known = h < joined.size
            inside[known] = joined[h[known]]
        else:
            inside = np.ones(h.size, np.bool_)
        weight = self.case_mix.weight(condition, function, risk)
        target = self._targets(h) * weight * rate_multiplier
        spent = np.minimum(
            np.asarray(spending, np.float64), self.cap_per_weight * weight * rate_multiplier
        )
        n = max(int(h.max()) + 1 if h.size else 0, self._year_net.size)
        year = month // 12
        if year != self._year or n > self._year_net.size:
            net0 = np.zeros(n)
            tgt0 = np.zeros(n)
            if year == self._year:
                net0[: self._year_net.size] = self._year_net
                tgt0[: self._year_target.size] = self._year_target
            self._year, self._year_net, self._year_target = year, net0, tgt0
        add_net = np.bincount(h[inside], (target - spent)[inside], minlength=n)
        add_target = np.bincount(h[inside], target[inside], minlength=n)
        downside = self.downside_share(month)
        before = self._year_payment(self._year_net, self._year_target, downside)
        after = self._year_payment(
            self._year_net + add_net, self._year_target + add_target, downside
        )
        if commit:
            self._year_net = self._year_net + add_net
            self._year_target = self._year_target + add_target
        out = np.zeros(h.size)
        if h.size:
            first = np.unique(h, return_index=True)[1]
            out[first] = (after - before)[h[first]]
        return out

    def prices(self, position: Position, units: int) -> Prices:
        """Setting scope: each unit earns its fee, and the episode's reconciliation takes back
        what its spending adds — all of it below the target (savings lost, up to the stop-gain),
        the year's downside share above it (up to the stop-loss). Pathway scope: the stay's
        price per case, or the fee less the pathway's cost share."""
        prm = self.params
        rate = position.rate_multiplier
        if prm.scope == "pathway":
            if prm.stay_price > 0:
                case = self.stay_payment(position.condition, position.function, position.risk)
                case = np.where(position.new_episode, case * rate, 0.0)
                return straight(0.0, position.size, units, case)
            return super().prices(position, units)
        fee = np.asarray(position.fee_per_unit, np.float64)[:, None]
        target = (
            self.target_price
            * self.case_mix.weight(position.condition, position.function, position.risk)
            * rate
        )[:, None]
        before = np.asarray(position.period_value, np.float64)[:, None]
        spending = before + fee * grid(units)[None, :]

        def reconciled(value: np.ndarray) -> np.ndarray:
            return rules.reconcile(
                value,
                target,
                downside_share=self.downside_share(position.month),
                stop_gain=prm.stop_gain,
                stop_loss=prm.stop_loss,
            )

        schedule = spending - before + reconciled(spending) - reconciled(before)
        return Prices(schedule, np.zeros(position.size))

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """Coding moves the stay's price and the reconciliation's case-mix target: the finite
        difference of :meth:`prices` at risk scores coded 1% higher
        (:func:`~sim.engine.payment.prices.by_difference`: what the target does to the
        reconciliation of the period's spending from where it stands), plus, in setting scope
        at a period's start, what it does to the reconciliation's level there (the savings at
        no spending, ``stop_gain × target``, from which :meth:`prices` counts). Nothing per
        member; a pathway's reconciliation, settled when its window closes, is not priced."""
        claims = by_difference(self, position, units)
        prm = self.params
        if prm.scope == "setting":
            start = np.asarray(position.episode_month) % self.period_months == 0

            def level(risk: np.ndarray) -> np.ndarray:
                w = self.case_mix.weight(position.condition, position.function, risk)
                return rules.reconcile(
                    0.0,
                    self.target_price * w * position.rate_multiplier,
                    downside_share=self.downside_share(position.month),
                    stop_gain=prm.stop_gain,
                    stop_loss=prm.stop_loss,
                )

            up = level(position.risk * (1.0 + CODING_STEP)) - level(position.risk)
            claims = claims + np.where(start, up / CODING_STEP, 0.0)
        return CodingRevenue(claims, np.zeros(panel.members.size))

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """The month's claims; at a period's end (setting scope) its reconciliation as an
        adjustment."""
        if self.params.scope == "pathway":
            # during the pathway: the stay is paid as usual; reconciliation comes at its end
            if self.params.stay_price > 0:
                price = self.stay_payment(claims.condition, claims.function_at_start, claims.risk)
                allowed = np.where(claims.new_episode, price * claims.rate_multiplier, 0.0)
            else:
                allowed = claims.fee_value
            return Settlement(allowed=allowed, lump=np.zeros_like(panel.members))
        target = (
            self.target_price
            * self.case_mix.weight(claims.condition, claims.function_at_start, claims.risk)
            * claims.rate_multiplier
        )
        assert claims.period_value is not None and claims.period_end is not None  # the engine's
        reconciliation = rules.reconcile(
            claims.period_value,
            target,
            downside_share=self.downside_share(claims.month),
            stop_gain=self.params.stop_gain,
            stop_loss=self.params.stop_loss,
        )
        return Settlement(
            allowed=claims.fee_value,
            lump=np.zeros_like(panel.members),
            adjustment=np.where(claims.period_end, reconciliation, 0.0),
        )
