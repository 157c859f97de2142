"""An accountable care organization (the Medicare Shared Savings Program, MSSP).

Each provider of the setting is an ACO, or with ``members_per_aco`` the providers of each region
are grouped into ACOs of about that many members (MSSP ACOs are organisations of many
practices: at least 5,000 assigned beneficiaries, 42 CFR 425.110 [@cfr_425]), benchmarked and
reconciled as one, which share what they are paid by their members. An ACO is paid
fee-for-service, and after each calendar year its members' spending in the setting ``S_h``
(allowed amounts of their claims) is
reconciled against a historical, risk-adjusted benchmark ``B_h`` (a rate per member-month at
risk score 1 × its members' risk scores, month by month). The rate is the ACO's own: its
spending per risk-adjusted member-month over the ``benchmark_years`` calendar years before
``first_performance_year`` (years before it are paid fee-for-service and only recorded), or
``benchmark_pmpm`` for every ACO when given (a regional benchmark). Each performance year:

- savings ``B − S`` of at least the minimum savings rate (MSR) × ``B``, with the quality gate
  met, earn ``sharing_rate`` × the savings from the first dollar, at most ``savings_cap`` × B;
- with downside risk (``loss_rate`` > 0), losses ``S − B`` of at least the minimum loss rate ×
  ``B`` are repaid at ``loss_rate``, at most ``loss_cap`` × B;
- otherwise nothing moves.

The quality gate: the ACO's adverse events per treated patient-month over the year at most
``max_adverse_rate`` (none: no gate). Rebasing: every ``rebase_years`` the benchmark becomes
the ACO's own spending per risk-adjusted member-month over the agreement period that ended
(the ratchet that makes today's savings lower tomorrow's benchmark). MSSP track 1: one-sided,
50% sharing, MSR 2-3.9%, a 10% cap, three-year agreements (42 CFR 425 [@cfr_425]; McWilliams
et al. 2016, N Engl J Med 374:2357 [@mcwilliams2016]).

Across settings (``accountable_for``): an ACO is accountable for its members' spending in the
settings named as well as in its own (MSSP and Pioneer ACOs: all Parts A and B spending of
their assigned beneficiaries [@mcwilliams2016; @nyweide2015]). A member is the ACO's when its
provider in the contract's setting is (primary care: assignment by where beneficiaries get
their primary care); its allowed amounts in the other settings join ``S_h`` and the
benchmark years' spending month by month (:meth:`ACO.settle_accountable`, called by the
payment stage once every setting of the payer has settled; December's reconciliation waits
for it). The ACO's own providers make none of the other settings' decisions about units; its
lever there is its physicians' part in deciding where a patient goes after a hospital stay
(:mod:`sim.engine.features.pathway`: they weigh the pathway's spending at
:meth:`ACO.accountable_share`, ``sharing_rate`` in a performance year).

At the margin (in the sharing region) a unit earns the fee less the share of it that savings
would have returned to the provider: ``fee · (1 − sharing_rate · m)``, ``m`` the provider's share
of its ACO's members (1 for an ACO of one; a practice of an ACO of ten bears a tenth of what its
own visits cost the ACO) (:func:`sim.engine.payment.terms.shared_savings`'s
margin, settled once a year with a threshold instead of monthly; the closed form ignores the
MSR, the caps and the gate). With ``interim_accrual`` (the default) the provider's books
accrue the expected savings month by month as the two-sided term would settle them —
``sharing_rate`` × the benchmark as a lump, less ``sharing_rate`` × each claim's allowed amount
as its reconciliation — and December trues the year up to the rule's payment; so learning
sees on each patient what a unit costs the ACO, and the year's total is the rule's either way.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from sim.engine.payment.base import Claims, ContractParams, Panel, PaymentModel, Settlement
from sim.engine.payment.prices import CodingRevenue, Position, Prices, straight


def reconcile(
    benchmark: np.ndarray,
    spending: np.ndarray,
    quality_met: np.ndarray,
    sharing_rate: float,
    loss_rate: float,
    minimum_savings_rate: float,
    minimum_loss_rate: float,
    savings_cap: float,
    loss_cap: float,
) -> np.ndarray:
    """Each ACO's payment for a year (negative: repaid), from its benchmark and spending
    (module docstring)."""
    savings = benchmark - spending
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(benchmark > 0, savings / benchmark, 0.0)
    earned = np.minimum(sharing_rate * savings, savings_cap * benchmark)
    owed = np.minimum(loss_rate * -savings, loss_cap * benchmark)
    pay = np.where((rate >= minimum_savings_rate) & quality_met & (savings > 0), earned, 0.0)
    if loss_rate > 0:
        pay = np.where((-rate >= minimum_loss_rate) & (savings < 0), -owed, pay)
    return pay


class ACOParams(ContractParams):
    """Parameters of an ACO contract: fee-for-service plus an annual reconciliation."""

    fee_multiplier: float = Field(
        1.0,
        gt=0,
        description="Scales the fee schedule of the fee-for-service claims.",
        json_schema_extra={"unit": "ratio"},
    )
    # the base's shared-savings benchmark, optional here (None: each ACO's own history); the
    # shared-savings term that reads the base's is off unless shared_savings_rate is set
    benchmark_pmpm: float | None = Field(  # type: ignore[assignment]
        None,
        ge=0,
        description="A benchmark for every ACO: allowed amounts per member-month at risk score "
        "1 (risk-adjusted with its members' risk scores); none: each ACO's own history "
        "(first_performance_year).",
        json_schema_extra={"unit": "USD/member-month"},
    )
    first_performance_year: int | None = Field(
        None,
        ge=1900,
        le=2200,
        description="Calendar year of the first reconciliation; earlier years are paid "
        "fee-for-service and their spending per risk-adjusted member-month makes each ACO's "
        "own benchmark. None: from the contract's start (needs benchmark_pmpm).",
        json_schema_extra={"unit": "year"},
    )
    benchmark_years: int = Field(
        3,
        ge=1,
        le=10,
        description="Calendar years before the first performance year the own benchmark is "
        "taken from (MSSP: three).",
        json_schema_extra={"unit": "years"},
    )
    sharing_rate: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of savings paid to the ACO (MSSP track 1: 50%).",
        json_schema_extra={"unit": "fraction"},
    )
    loss_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of losses the ACO repays (0: one-sided, MSSP track 1).",
        json_schema_extra={"unit": "fraction"},
    )
    minimum_savings_rate: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Savings are shared only when at least this share of the benchmark "
        "(MSSP: 2-3.9% by size).",
        json_schema_extra={"unit": "fraction"},
    )
    minimum_loss_rate: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Losses are repaid only when at least this share of the benchmark.",
        json_schema_extra={"unit": "fraction"},
    )
    savings_cap: float = Field(
        0.10,
        ge=0,
        le=1,
        description="Largest shared-savings payment, as a share of the benchmark (MSSP "
        "track 1: 10%).",
        json_schema_extra={"unit": "fraction"},
    )
    loss_cap: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Largest repayment, as a share of the benchmark.",
        json_schema_extra={"unit": "fraction"},
    )
    max_adverse_rate: float | None = Field(
        None,
        ge=0,
        description="Quality gate: savings are shared only if the ACO's adverse events per "
        "treated patient-month over the year are at most this; none: no gate.",
        json_schema_extra={"unit": "events/patient-month"},
    )
    interim_accrual: bool = Field(
        True,
        description="Accrue the expected shared savings month by month on each claim and "
        "true the year up in December (module docstring); false: one payment in December.",
        json_schema_extra={"unit": "flag"},
    )
    members_per_aco: float | None = Field(
        None,
        ge=1,
        description="An ACO's size in members: each region's providers of the setting form "
        "round(the region's members / this) ACOs (at least one), which are benchmarked and "
        "reconciled as one and share what they are paid by their members; none: each provider "
        "is an ACO of its own.",
        json_schema_extra={"unit": "members"},
    )
    accountable_for: list[str] = Field(
        [],
        description="Other settings of the scenario whose allowed amounts for the ACO's "
        "members count in its spending and benchmark (an ACO accountable for its members' "
        "Parts A and B spending: the hospital and post-acute settings); a member belongs to "
        "its provider in the contract's setting. Empty: the contract's setting only.",
        json_schema_extra={"unit": "settings"},
    )
    rebase_years: int | None = Field(
        3,
        ge=1,
        le=50,
        description="Agreement period: every this many calendar years the benchmark is reset to "
        "the ACO's own spending per risk-adjusted member-month over the period; none: never.",
        json_schema_extra={"unit": "years"},
    )

    @model_validator(mode="after")
    def _benchmark(self) -> ACOParams:
        if self.benchmark_pmpm is None and self.first_performance_year is None:
            raise ValueError(
                "give benchmark_pmpm (one benchmark for every ACO) or first_performance_year "
                "(each ACO's own history before it)"
            )
        if len(set(self.accountable_for)) != len(self.accountable_for):
            raise ValueError(f"accountable_for: a setting is named twice in {self.accountable_for}")
        return self


class ACO(PaymentModel):
    """Fee-for-service plus an annual shared-savings reconciliation against a historical,
    risk-adjusted benchmark (module docstring)."""

    name = "aco"
    Params = ACOParams
    params: ACOParams
    summary = (
        "pays fee-for-service, then shares savings (and losses) against a historical "
        "risk-adjusted benchmark each year, with a minimum savings rate, a quality gate and "
        "rebasing"
    )

    def __init__(self, params: ACOParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        self.benchmark_rate: np.ndarray | None = None  # per provider, USD per risk-month
        #: benchmark years: (spending, risk-months) per provider, by calendar year
        self._history: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._years = 0  # reconciled years in this agreement period
        #: each provider's ACO (set at the first settlement), the number of ACOs, and each
        #: provider's share of its ACO's members this month (1 until known: an ACO of one)
        self.group: np.ndarray | None = None
        self.n_groups = 0
        self.share = np.ones(0)
        self._mean_share = 1.0
        self._reset_year(0)
        self._period_spending = np.zeros(0)
        self._period_risk = np.zeros(0)

    def _reset_year(self, n_prov: int) -> None:
        self._accrued = np.zeros(n_prov)
        self.benchmark = np.zeros(n_prov)
        self.spending = np.zeros(n_prov)
        self._risk_months = np.zeros(n_prov)
        self._members = np.zeros(n_prov)
        self._events = np.zeros(n_prov)
        self._treated = np.zeros(n_prov)

    # -- the organisations ----------------------------------------------------------------------
    def _organise(self, panel: Panel) -> None:
        """Group the providers into ACOs once, at the first settlement: each its own ACO, or
        with ``members_per_aco`` each region's providers, in provider order, split as evenly
        as :func:`numpy.array_split` does into ``round(the region's members /
        members_per_aco)`` ACOs (at least one, at most one per provider)."""
        n = panel.members.size
        per = self.params.members_per_aco
        if per is None:
            self.group = np.arange(n)
        else:
            region = np.zeros(n, np.int64) if panel.region is None else panel.region
            self.group = np.zeros(n, np.int64)
            next_id = 0
            for r in np.unique(region):
                ids = np.flatnonzero(region == r)
                k = min(max(1, round(float(panel.members[ids].sum()) / per)), ids.size)
                for part in np.array_split(ids, k):
                    self.group[part] = next_id
                    next_id += 1
        self.n_groups = int(self.group.max()) + 1 if n else 0
        self.share = np.ones(n)

    def by_aco(self, values: np.ndarray) -> np.ndarray:
        """Per-provider ``values`` summed by ACO (one entry per ACO)."""
        assert self.group is not None
        return np.bincount(self.group, values, minlength=self.n_groups)

    def _shares(self, members: np.ndarray) -> np.ndarray:
        """Each provider's share of its ACO's members (an ACO without members: equal)."""
        assert self.group is not None
        total = self.by_aco(members)[self.group]
        size = np.bincount(self.group, minlength=self.n_groups)[self.group]
        return np.divide(members, total, out=1.0 / size, where=total > 0)

    # -- prices -----------------------------------------------------------------------------------
    def marginal_revenue(self, fee_per_unit, rate_multiplier: float = 1.0):
        """The fee less the savings share it costs the provider (in the sharing region): the
        ACO's ``sharing_rate`` × the provider's share of what the ACO is paid (its share of
        the ACO's members; the mean over providers in this closed form)."""
        prm = self.params
        return prm.fee_multiplier * (1.0 - prm.sharing_rate * self._mean_share) * fee_per_unit

    def prices(self, position: Position, units: int) -> Prices:
        """In a benchmark year (before ``first_performance_year``) the fee-for-service fee:
        the year is paid fee-for-service and only recorded (what a higher benchmark would earn
        later is not weighed); in a performance year the fee less ``sharing_rate`` × the
        provider's share of its ACO's members (the share of the ACO's savings a unit of its
        own costs it, in the sharing region)."""
        prm = self.params
        first = prm.first_performance_year
        fee = np.asarray(position.fee_per_unit, np.float64)
        if first is not None and position.year < first:
            return straight(prm.fee_multiplier * fee, position.size, units)
        share = self.share[position.provider] if self.share.size else 1.0
        per = prm.fee_multiplier * (1.0 - prm.sharing_rate * share) * fee
        return straight(np.asarray(per, np.float64), position.size, units)

    def expected_allowed(self, fee_value, condition, function, risk, rate_multiplier):
        """The fee-for-service claims (what cost sharing applies to)."""
        return self.params.fee_multiplier * np.asarray(fee_value, np.float64)

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """In performance years the benchmark follows the members' coded risk, and the ACO
        keeps ``sharing_rate`` of it, of which the provider its share of the ACO's members:
        ``sharing_rate·benchmark rate·rate·Σ coded risk·share`` per unit of relative coding
        (in the sharing region: the MSR, the caps, the gate and the benchmark years' own risk
        are ignored, as in :meth:`prices`); nothing before the first performance year."""
        n = panel.members.size
        if self.benchmark_rate is None or self.benchmark_rate.size != n:
            return CodingRevenue(np.zeros(position.size), np.zeros(n))
        rate = self.params.sharing_rate * self.benchmark_rate * panel.rate_multiplier
        share = self.share if self.share.size == n else 1.0  # (1: not settled yet)
        return CodingRevenue(np.zeros(position.size), rate * panel.risk_sum * share)

    # -- settlement -------------------------------------------------------------------------------
    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """Fee-for-service claims; in December, the year's reconciliation per ACO as a lump
        (and, at an agreement period's end, the rebased benchmark)."""
        prm = self.params
        n_prov = panel.members.size
        if self.group is None:
            self._organise(panel)
        prov = claims.provider.astype(np.int64)
        allowed = claims.fee_value * prm.fee_multiplier
        risk_months = panel.risk_sum * panel.rate_multiplier
        first = prm.first_performance_year
        if first is not None and claims.year < first:
            # a benchmark year: fee-for-service, spending recorded
            spend, risk = self._history.setdefault(
                claims.year, (np.zeros(n_prov), np.zeros(n_prov))
            )
            spend += np.bincount(prov, allowed, minlength=n_prov)
            risk += risk_months
            return Settlement(allowed=allowed, lump=np.zeros(n_prov))
        if self.benchmark_rate is None:
            self.benchmark_rate = self._initial_benchmark(n_prov)
            self._reset_year(n_prov)
            self._period_spending = np.zeros(n_prov)
            self._period_risk = np.zeros(n_prov)
        self.share = self._shares(panel.members)
        self._mean_share = float(self.share.mean()) if n_prov else 1.0
        benchmark = self.benchmark_rate * risk_months
        own = np.bincount(prov, allowed, minlength=n_prov)
        self.benchmark += benchmark
        self._risk_months += risk_months
        self._members += panel.members
        self.spending += own
        treated = np.asarray(claims.visits) > 0
        self._treated += np.bincount(prov[treated], minlength=n_prov)
        if claims.adverse is not None:
            events = np.asarray(claims.adverse, bool) & treated
            self._events += np.bincount(prov[events], minlength=n_prov)
        lump = np.zeros(n_prov)
        adjustment = None
        if prm.interim_accrual:
            # the ACO's savings of the month, r·(benchmark − spending), shared by members: a
            # provider's own claims carry r·share of their allowed amount, the rest of its
            # share is a lump (an ACO of one: r·benchmark as the lump)
            r = prm.sharing_rate
            assert self.group is not None
            adjustment = -r * self.share[prov] * allowed
            others = self.by_aco(own)[self.group] - own
            lump = r * self.share * (self.by_aco(benchmark)[self.group] - others)
            self._accrued += lump + np.bincount(prov, adjustment, minlength=n_prov)
        if claims.month_of_year == 12 and not prm.accountable_for:
            # (accountable for other settings: December's reconciliation waits for their
            # claims, settle_accountable)
            lump = lump + self.reconcile_year()
        return Settlement(allowed=allowed, lump=lump, adjustment=adjustment)

    def accountable_settings(self) -> tuple[str, ...]:
        """The settings named in ``accountable_for``."""
        return tuple(self.params.accountable_for)

    def _performance_year(self, year: int) -> bool:
        first = self.params.first_performance_year
        return first is None or year >= first

    def accountable_share(self, year: int) -> float:
        """In a performance year, ``sharing_rate``: a further dollar of a member's spending
        in the other settings lowers its ACO's shared savings by that much (in the sharing
        region); the organisation, not one of its providers, acts on it (discharge planning,
        post-acute referrals). Nothing in a benchmark year."""
        if not self.params.accountable_for or not self._performance_year(year):
            return 0.0
        return self.params.sharing_rate

    def settle_accountable(
        self, spending: np.ndarray, year: int, month_of_year: int
    ) -> np.ndarray | None:
        """The members' allowed amounts in the other settings join the ACO's spending as its
        own claims do (:meth:`settle`, which ran first this month): recorded in a benchmark
        year; in a performance year accrued at ``sharing_rate`` × each provider's share of
        its ACO (with ``interim_accrual``) and, in December, the year reconciled over every
        setting."""
        prm = self.params
        if not prm.accountable_for:
            return None
        if not self._performance_year(year):
            self._history[year][0][:] += spending
            return None
        assert self.group is not None
        self.spending += spending
        lump = np.zeros(spending.size)
        if prm.interim_accrual:
            lump = -prm.sharing_rate * self.share * self.by_aco(spending)[self.group]
            self._accrued += lump
        if month_of_year == 12:
            lump = lump + self.reconcile_year()
        return lump

    def _initial_benchmark(self, n_prov: int) -> np.ndarray:
        """Each ACO's benchmark rate: ``benchmark_pmpm``, or its own spending per
        risk-adjusted member-month over its last benchmark years (the mean of all ACOs' for
        one without members), the same for each of its providers."""
        prm = self.params
        years = sorted(self._history)[-prm.benchmark_years :]
        if prm.benchmark_pmpm is not None:
            return np.full(n_prov, prm.benchmark_pmpm)
        if not years:
            raise ValueError(
                f"aco: first_performance_year {prm.first_performance_year} leaves no benchmark "
                "year before it in the run (start the run, or the contract, earlier, or give "
                "benchmark_pmpm)"
            )
        # np.asarray: arrays already (sum() is typed as maybe its start, 0)
        spend = self.by_aco(np.asarray(sum(self._history[y][0] for y in years)))
        risk = self.by_aco(np.asarray(sum(self._history[y][1] for y in years)))
        # the mean over every ACO of the run (all shards)
        spend_all, risk_all = self.run_totals(np.array([spend.sum(), risk.sum()]))
        mean = float(spend_all / risk_all) if risk_all > 0 else 0.0
        assert self.group is not None
        return np.divide(spend, risk, out=np.full(spend.size, mean), where=risk > 0)[self.group]

    def reconcile_year(self) -> np.ndarray:
        """The year's payment per ACO, shared among its providers by their member-months,
        less what each accrued; then the next year starts (rebased when due)."""
        prm = self.params
        assert self.group is not None
        benchmark = self.by_aco(self.benchmark)
        if prm.max_adverse_rate is None:
            quality = np.ones(benchmark.size, bool)
        else:
            events, treated = self.by_aco(self._events), self.by_aco(self._treated)
            rate = np.divide(events, treated, out=np.zeros(events.size), where=treated > 0)
            quality = rate <= prm.max_adverse_rate
        pay = reconcile(
            benchmark,
            self.by_aco(self.spending),
            quality,
            prm.sharing_rate,
            prm.loss_rate,
            prm.minimum_savings_rate,
            prm.minimum_loss_rate,
            prm.savings_cap,
            prm.loss_cap,
        )
        pay = pay[self.group] * self._shares(self._members)
        self._period_spending += self.spending
        self._period_risk += self._risk_months
        self._years += 1
        if prm.rebase_years is not None and self._years == prm.rebase_years:
            spend, risk = self.by_aco(self._period_spending), self.by_aco(self._period_risk)
            has = risk > 0
            assert self.benchmark_rate is not None
            rebased = np.divide(spend, risk, out=np.zeros(has.size), where=has)
            self.benchmark_rate = np.where(
                has[self.group], rebased[self.group], self.benchmark_rate
            )
            self._years = 0
            self._period_spending = np.zeros(self.group.size)
            self._period_risk = np.zeros(self.group.size)
        pay = pay - self._accrued
        self._reset_year(self.benchmark.size)
        return pay
