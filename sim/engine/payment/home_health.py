"""Home health payment, before and after the 2020 reform [@cms_hh_cy2019].

- ``hh_legacy``: 60-day episodes (two model months). The episode's case-mix price rises at
  therapy-visit thresholds — a single threshold at 10 visits (2000-2007) or thresholds at 6, 14
  and 20 (2008-2019) — and an episode with fewer visits than the low-utilization threshold is
  paid per visit.
- ``pdgm``: 30-day periods (one model month) priced by case-mix group: condition (clinical
  group) × functional level × comorbidity, with a lower weight for late periods; therapy visits
  are not a payment factor. A period with fewer visits than its group's low-utilization
  threshold (2-6 visits) is paid per visit instead (LUPA).

Both pay at the end of each payment period, for that period's visits; the provider bears the
cost of adverse events during the period (they are complications of a prospectively paid
episode).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator, model_validator

from sim.engine import rules
from sim.engine.payment.base import Claims, NonNegative, Panel, PaymentModel, Settlement, Visits
from sim.engine.payment.casemix import CaseMix, CaseMixParams
from sim.engine.payment.prices import CodingRevenue, Position, Prices, by_difference, from_total


class HomeHealthParams(CaseMixParams):
    """Parameters every home-health model shares: per-visit rates and case-mix weights."""

    per_visit: float = Field(
        160.14,
        ge=0,
        description="Per-visit payment of a low-utilization period (2019 PT rate $160.14; "
        "SN $146.50, OT $161.24 [@cms_hh_cy2019]).",
        json_schema_extra={"unit": "USD/visit"},
    )
    adverse_event_liability: float = Field(
        1.0, ge=0, le=1, json_schema_extra={"unit": "fraction"},
        description="Share of adverse-event cost borne by the agency during a period.",
    )  # fmt: skip
    coinsurance: float = Field(
        0.0, ge=0, le=1, json_schema_extra={"unit": "fraction"},
        description="Patient share (Medicare home health: none).",
    )  # fmt: skip
    deductible_applies: bool = Field(
        False, json_schema_extra={"unit": "flag"},
        description="Medicare home health has no deductible.",
    )  # fmt: skip


class LegacyParams(HomeHealthParams):
    """Parameters of the legacy 60-day episode: the base rate, therapy-visit thresholds and
    their steps, and the LUPA."""

    base_rate: float = Field(
        ...,
        ge=0,
        description="Price of a 60-day episode below the first therapy threshold, weight 1.",
        json_schema_extra={"unit": "USD/episode"},
    )
    thresholds: list[Visits] = Field(
        list(rules.HH_THRESHOLDS_2008_2019),
        description="Therapy-visit thresholds of an episode ([10] for 2000-2007; [6, 14, 20] "
        "for 2008-2019 [@cms_hh_cy2019]).",
        json_schema_extra={"unit": "visits/episode"},
    )
    steps: list[NonNegative] = Field(
        [500.0, 800.0, 600.0],
        description="Payment added at each threshold, times the case-mix weight (assumption).",
        json_schema_extra={"unit": "USD"},
    )
    lupa_visits: int = Field(
        5,
        ge=0,
        description="Episodes with fewer visits are paid per visit (legacy LUPA: fewer than 5).",
        json_schema_extra={"unit": "visits/episode"},
    )

    @model_validator(mode="after")
    def _steps(self) -> LegacyParams:
        if len(self.steps) != len(self.thresholds):
            raise ValueError("steps needs one entry per threshold")
        if sorted(self.thresholds) != list(self.thresholds) or len(set(self.thresholds)) != len(
            self.thresholds
        ):
            raise ValueError("thresholds must increase")
        return self


class HomeHealthLegacy(PaymentModel):
    """Legacy home health: a 60-day episode whose price steps up at therapy-visit thresholds,
    per visit below the LUPA [@cms_hh_cy2019]."""

    name = "hh_legacy"
    Params = LegacyParams
    params: LegacyParams
    summary = "pays 60-day episodes whose price steps up at therapy-visit thresholds"
    period_months = 2

    def __init__(self, params: LegacyParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        self.case_mix = CaseMix(params, condition_names)

    def marginal_revenue(
        self, fee_per_unit: np.ndarray | float, rate_multiplier: float = 1.0
    ) -> float:
        """Zero between thresholds."""
        return 0.0  # between thresholds a visit earns nothing more

    def thresholds(self, condition, function, risk) -> np.ndarray:
        """The LUPA and the therapy-visit thresholds, for every patient."""
        t = [self.params.lupa_visits, *self.params.thresholds]
        return np.tile(np.asarray(t, float), (np.asarray(condition).size, 1))

    def episode_price(self, visits, condition, function, risk) -> np.ndarray:
        """(base + the steps of the thresholds reached) × case-mix weight; per visit below
        the low-utilization threshold."""
        p = self.params
        w = self.case_mix.weight(condition, function, risk)
        full = rules.threshold_payment(visits, p.base_rate, p.thresholds, p.steps) * w
        return rules.lupa_payment(visits, p.lupa_visits, full, p.per_visit)

    def expected_allowed(self, fee_value, condition, function, risk, rate_multiplier):
        """Zero: Medicare home health has no patient cost sharing."""
        return np.zeros(np.asarray(fee_value).shape)  # no patient cost sharing

    def prices(self, position: Position, units: int) -> Prices:
        """The period's price as a function of its visits, from the visits it has so far: per
        visit below the LUPA, then the episode price, which jumps at each therapy threshold."""
        w = self.case_mix.weight(position.condition, position.function, position.risk)[:, None]
        p = self.params
        rate = position.rate_multiplier

        def total(visits: np.ndarray) -> np.ndarray:
            full = rules.threshold_payment(visits, p.base_rate, p.thresholds, p.steps) * w
            return rules.lupa_payment(visits, p.lupa_visits, full, p.per_visit) * rate

        return from_total(total, position.period_units, units)

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """Coding moves the period's price through its case-mix weight: the finite difference of
        :meth:`prices` at risk scores coded 1% higher
        (:func:`~sim.engine.payment.prices.by_difference`); nothing per member."""
        return CodingRevenue(by_difference(self, position, units), np.zeros(panel.members.size))

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """The episode's price at its last month, from the period's visits."""
        assert claims.period_units is not None and claims.period_end is not None  # the engine's
        price = self.episode_price(
            claims.period_units, claims.condition, claims.function_at_start, claims.risk
        )
        allowed = np.where(claims.period_end, price * claims.rate_multiplier, 0.0)
        return Settlement(allowed=allowed, lump=np.zeros_like(panel.members))


class PDGMParams(HomeHealthParams):
    """Parameters of PDGM: the 30-day period's base rate, the timing weight and the LUPA
    thresholds by group."""

    base_rate: float = Field(
        ...,
        ge=0,
        description="Price of a 30-day period with all case-mix weights 1.",
        json_schema_extra={"unit": "USD/period"},
    )
    late_period_weight: float = Field(
        0.85,
        gt=0,
        description="Weight of periods after the first (PDGM timing: late periods are paid "
        "less; assumption).",
        json_schema_extra={"unit": "ratio"},
    )
    lupa_thresholds: dict[str, int] = Field(
        {},
        description="Low-utilization threshold per condition group (the group's 10th "
        "percentile, 2-6 visits [@cms_hh_cy2019]); missing groups use default_lupa.",
        json_schema_extra={"unit": "visits/period"},
    )
    default_lupa: int = Field(
        4,
        ge=2,
        le=6,
        description="Low-utilization threshold of groups not listed.",
        json_schema_extra={"unit": "visits/period"},
    )

    @field_validator("lupa_thresholds")
    @classmethod
    def _range(cls, v: dict[str, int]) -> dict[str, int]:
        bad = {k: t for k, t in v.items() if not 2 <= t <= 6}
        if bad:
            raise ValueError(f"LUPA thresholds are 2-6 visits (got {bad})")
        return v


class PDGM(PaymentModel):
    """PDGM-like home health: 30-day periods priced by case-mix group, per visit below the
    group's LUPA threshold [@cms_hh_cy2019]."""

    name = "pdgm"
    Params = PDGMParams
    params: PDGMParams
    summary = "pays 30-day periods by case-mix group; below the LUPA threshold, per visit"
    period_months = 1

    def __init__(self, params: PDGMParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        self.case_mix = CaseMix(params, condition_names)
        unknown = set(params.lupa_thresholds) - set(condition_names)
        if condition_names and unknown:
            raise ValueError(f"lupa_thresholds: unknown condition(s) {sorted(unknown)}")
        self.lupa = np.array(
            [params.lupa_thresholds.get(c, params.default_lupa) for c in condition_names]
            or [params.default_lupa]
        )

    def marginal_revenue(
        self, fee_per_unit: np.ndarray | float, rate_multiplier: float = 1.0
    ) -> float:
        """Zero above the LUPA threshold."""
        return 0.0  # above the LUPA threshold a visit earns nothing more

    def thresholds(self, condition, function, risk) -> np.ndarray:
        """Each patient's LUPA threshold (its condition group's)."""
        return self.lupa[np.asarray(condition)][:, None].astype(float)

    def period_price(self, condition, function, risk, episode_month) -> np.ndarray:
        """The period's price: base rate × case-mix weight × timing (early or late period)."""
        p = self.params
        timing = np.where(np.asarray(episode_month) == 0, 1.0, p.late_period_weight)
        return p.base_rate * self.case_mix.weight(condition, function, risk) * timing

    def expected_allowed(self, fee_value, condition, function, risk, rate_multiplier):
        """Zero: Medicare home health has no patient cost sharing."""
        return np.zeros(np.asarray(fee_value).shape)  # no patient cost sharing

    def prices(self, position: Position, units: int) -> Prices:
        """The period's price as a function of its visits: per visit below the group's LUPA
        threshold, then the period's case-mix price, which further visits do not move."""
        price = self.period_price(
            position.condition, position.function, position.risk, position.episode_month
        )[:, None]
        lupa = self.lupa[np.asarray(position.condition)][:, None]
        per_visit = self.params.per_visit
        rate = position.rate_multiplier

        def total(visits: np.ndarray) -> np.ndarray:
            return rules.lupa_payment(visits, lupa, price, per_visit) * rate

        return from_total(total, position.period_units, units)

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """Coding moves the period's price through its case-mix weight: the finite difference of
        :meth:`prices` at risk scores coded 1% higher
        (:func:`~sim.engine.payment.prices.by_difference`); nothing per member."""
        return CodingRevenue(by_difference(self, position, units), np.zeros(panel.members.size))

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """Each period's price at its end, or its visits at per-visit rates below the LUPA."""
        assert claims.period_units is not None and claims.period_end is not None  # the engine's
        price = self.period_price(
            claims.condition, claims.function_at_start, claims.risk, claims.episode_month
        )
        pay = rules.lupa_payment(
            claims.period_units, self.lupa[claims.condition], price, self.params.per_visit
        )
        allowed = np.where(claims.period_end, pay * claims.rate_multiplier, 0.0)
        return Settlement(allowed=allowed, lump=np.zeros_like(panel.members))
