"""An accountable care organization (the Medicare Shared Savings Program, MSSP).

Each provider of the setting is an ACO: it is paid fee-for-service, and after each calendar
year its members' spending in the setting ``S_h`` (allowed amounts of their claims) is
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

At the margin (in the sharing region) a unit earns the fee less the share of it that savings
would have returned: ``fee · (1 − sharing_rate)`` (:func:`sim.engine.payment.terms.shared_savings`'s
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
from sim.engine.payment.prices import CodingRevenue, Position


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
        self._reset_year(0)
        self._period_spending = np.zeros(0)
        self._period_risk = np.zeros(0)

    def _reset_year(self, n_prov: int) -> None:
        self._accrued = np.zeros(n_prov)
        self.benchmark = np.zeros(n_prov)
        self.spending = np.zeros(n_prov)
        self._risk_months = np.zeros(n_prov)
        self._events = np.zeros(n_prov)
        self._treated = np.zeros(n_prov)

    def marginal_revenue(self, fee_per_unit, rate_multiplier: float = 1.0):
        """The fee less the savings share it costs (in the sharing region)."""
        prm = self.params
        return prm.fee_multiplier * (1.0 - prm.sharing_rate) * fee_per_unit

    def expected_allowed(self, fee_value, condition, function, risk, rate_multiplier):
        """The fee-for-service claims (what cost sharing applies to)."""
        return self.params.fee_multiplier * np.asarray(fee_value, np.float64)

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """In performance years the benchmark follows the members' coded risk, and the ACO
        keeps ``sharing_rate`` of it: ``sharing_rate·benchmark rate·rate·Σ coded risk`` per
        unit of relative coding (in the sharing region: the MSR, the caps, the gate and the
        benchmark years' own risk are ignored, as in :meth:`marginal_revenue`); nothing
        before the first performance year."""
        n = panel.members.size
        if self.benchmark_rate is None or self.benchmark_rate.size != n:
            return CodingRevenue(np.zeros(position.size), np.zeros(n))
        rate = self.params.sharing_rate * self.benchmark_rate * panel.rate_multiplier
        return CodingRevenue(np.zeros(position.size), rate * panel.risk_sum)

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """Fee-for-service claims; in December, the year's reconciliation per ACO as a lump
        (and, at an agreement period's end, the rebased benchmark)."""
        prm = self.params
        n_prov = panel.members.size
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
        self.benchmark += self.benchmark_rate * risk_months
        self._risk_months += risk_months
        self.spending += np.bincount(prov, allowed, minlength=n_prov)
        treated = np.asarray(claims.visits) > 0
        self._treated += np.bincount(prov[treated], minlength=n_prov)
        if claims.adverse is not None:
            events = np.asarray(claims.adverse, bool) & treated
            self._events += np.bincount(prov[events], minlength=n_prov)
        lump = np.zeros(n_prov)
        adjustment = None
        if prm.interim_accrual:
            r = prm.sharing_rate
            adjustment = -r * allowed
            lump = r * self.benchmark_rate * risk_months
            self._accrued += lump + np.bincount(prov, adjustment, minlength=n_prov)
        if claims.month_of_year == 12:
            lump = lump + self.reconcile_year()
        return Settlement(allowed=allowed, lump=lump, adjustment=adjustment)

    def _initial_benchmark(self, n_prov: int) -> np.ndarray:
        """Each ACO's benchmark rate: ``benchmark_pmpm``, or its own spending per
        risk-adjusted member-month over its last benchmark years (the mean of all ACOs' for
        one without members)."""
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
        spend = np.asarray(sum(self._history[y][0] for y in years))
        risk = np.asarray(sum(self._history[y][1] for y in years))
        # the mean over every ACO of the run (all shards)
        spend_all, risk_all = self.run_totals(np.array([spend.sum(), risk.sum()]))
        mean = float(spend_all / risk_all) if risk_all > 0 else 0.0
        return np.divide(spend, risk, out=np.full(n_prov, mean), where=risk > 0)

    def reconcile_year(self) -> np.ndarray:
        """The year's payment per ACO less what was accrued; then the next year starts
        (rebased when due)."""
        prm = self.params
        if prm.max_adverse_rate is None:
            quality = np.ones(self.benchmark.size, bool)
        else:
            rate = np.divide(
                self._events,
                self._treated,
                out=np.zeros(self._events.size),
                where=self._treated > 0,
            )
            quality = rate <= prm.max_adverse_rate
        pay = reconcile(
            self.benchmark,
            self.spending,
            quality,
            prm.sharing_rate,
            prm.loss_rate,
            prm.minimum_savings_rate,
            prm.minimum_loss_rate,
            prm.savings_cap,
            prm.loss_cap,
        )
        self._period_spending += self.spending
        self._period_risk += self._risk_months
        self._years += 1
        if prm.rebase_years is not None and self._years == prm.rebase_years:
            has = self._period_risk > 0
            assert self.benchmark_rate is not None
            self.benchmark_rate = np.where(
                has,
                np.divide(
                    self._period_spending,
                    self._period_risk,
                    out=np.zeros(has.size),
                    where=has,
                ),
                self.benchmark_rate,
            )
            self._years = 0
            self._period_spending = np.zeros(has.size)
            self._period_risk = np.zeros(has.size)
        pay = pay - self._accrued
        self._reset_year(self.benchmark.size)
        return pay
