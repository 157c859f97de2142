"""``[settings.<name>]``: the care settings, with their billing, need, benefit and cost, and
their providers, staffing, therapy decision and adverse events (investments:
:mod:`sim.scenario.investments`); the built-in settings; the checks of the settings against the
population (a provider per region) and of their number."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import field_validator, model_validator

from sim.scenario.common import MAX_PATIENTS, F, Strict
from sim.scenario.investments import InvestmentsConfig

if TYPE_CHECKING:
    from sim.scenario.population import PopulationConfig


class AdverseEventConfig(Strict):
    """Adverse events of a setting: base rate, how they rise with low function, with
    under-treatment and with over-treatment, their cost and the function they take."""

    base_rate: float = F(
        0.004,
        "probability/month",
        "Monthly adverse-event risk during an episode at risk score 1 (assumption).",
        ge=0,
        le=1,
    )
    function_slope: float = F(
        1.0,
        "ratio",
        "Relative rise in base risk per 100 points of function below 100 (assumption).",
        ge=0,
    )
    shortfall_risk: float = F(
        8e-5,
        "probability/unit^2",
        "Added monthly risk per squared unit of under-treatment below the patient optimum "
        "(assumption).",
        ge=0,
    )
    overtreatment_risk: float = F(
        0.0,
        "probability/unit^2",
        "Added monthly risk per squared unit of care above the patient optimum: harm from too "
        "much care (hospital-acquired conditions, cascades of further tests and treatment, "
        "iatrogenic events), so low-value care can hurt (assumption; 0: care above the "
        "optimum is harmless, as before).",
        ge=0,
    )
    cost: float = F(
        12_000.0,
        "USD/event",
        "Cost of treating one adverse event (e.g. a fall with a hospital stay; assumption).",
        ge=0,
    )
    function_loss: float = F(
        5.0, "points", "Loss of functional status caused by one adverse event (assumption).", ge=0
    )


class DistributionConfig(Strict):
    """A Beta(a, b) distribution scaled to [low, high]."""

    a: float = F(2.0, "shape", "Beta shape a.", gt=0)
    b: float = F(2.0, "shape", "Beta shape b.", gt=0)
    low: float = F(0.0, "as parameter", "Lower end of the scaled range.")
    high: float = F(1.0, "as parameter", "Upper end of the scaled range.")

    @model_validator(mode="after")
    def _range(self) -> DistributionConfig:
        if not self.high >= self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self

    @property
    def mean(self) -> float:
        """The distribution's mean."""
        return self.low + (self.high - self.low) * self.a / (self.a + self.b)


class ProvidersConfig(Strict):
    """A setting's providers: how many, their altruism and adaptation speed, ownership and
    fixed cost."""

    count: int | None = F(
        None,
        "providers",
        "Number of providers in the setting; default: patients / members_per_provider.",
        ge=1,
        le=1_000_000,
    )
    members_per_provider: float = F(
        2_000.0,
        "persons/provider",
        "Panel size used to set the number of providers when count is not given (assumption).",
        ge=1,
        le=MAX_PATIENTS,
    )
    altruism: DistributionConfig = F(
        DistributionConfig(a=2.0, b=2.0, low=0.1, high=0.9),
        "weight",
        "Weight α on patient benefit, heterogeneous across providers (Godager & Wiesen 2013) "
        "[@ellis1986; @godager2013; @brosigkoch2017].",
    )
    adaptation_speed: DistributionConfig = F(
        DistributionConfig(a=2.0, b=5.0, low=0.05, high=0.6),
        "fraction/month",
        "Share of the gap to the perceived best style closed each month (inertia).",
    )
    for_profit_share: float = F(
        0.5, "fraction", "Share of providers that are for-profit.", ge=0, le=1
    )
    for_profit_speed_multiplier: float = F(
        1.5,
        "ratio",
        "For-profit providers adapt this much faster (responded more strongly to past payment "
        "changes [@godager2013]).",
        gt=0,
    )
    for_profit_altruism_multiplier: float = F(
        0.8, "ratio", "For-profit providers' altruism is scaled by this (assumption).", ge=0
    )
    churn: float = F(
        0.0,
        "fraction/month",
        "Members who leave their provider each month for another of the same region (panel "
        "churn; what a provider spends on a member who leaves pays off for another).",
        ge=0,
        le=1,
    )
    fixed_cost: float = F(
        6_800.0,
        "USD/provider-month",
        "Fixed monthly cost of one provider: set so that a 2,000-member panel earns a margin of "
        "about 5% under fee-for-service at the patient optimum (assumption).",
        ge=0,
    )

    @model_validator(mode="after")
    def _ranges(self) -> ProvidersConfig:
        for name, lo, hi in (("altruism", 0.0, 10.0), ("adaptation_speed", 0.0, 1.0)):
            d = getattr(self, name)
            if not (lo <= d.low and d.high <= hi):
                raise ValueError(
                    f"{name}: low and high must lie within [{lo:g}, {hi:g}] "
                    f"(got {d.low:g} to {d.high:g})"
                )
        return self

    def resolved_count(self, patients: int) -> int:
        """The number of providers for a population of ``patients``."""
        if self.count is not None:
            return self.count
        return max(1, round(patients / self.members_per_provider))


class StaffingConfig(Strict):
    """Therapist staffing of each provider: the therapist minutes it can deliver in a month.
    Staff follow demand with a lag, and shrink when the provider loses money."""

    adjustment: float = F(
        0.15,
        "fraction/month",
        "Share of the gap between staff and target closed each month (hiring and attrition "
        "lags; assumption: about six months to adjust).",
        gt=0,
        le=1,
    )
    slack: float = F(
        0.10,
        "fraction",
        "Target staff = last month's planned therapist minutes × (1 + slack) (assumption).",
        ge=0,
    )
    margin_response: float = F(
        0.10,
        "fraction",
        "A provider with a negative margin last month targets this much less staff (assumption).",
        ge=0,
        le=1,
    )
    minutes_per_fte: float = F(
        7_200.0,
        "minutes/month",
        "Treatment minutes one full-time therapist delivers in a month (120 productive hours; "
        "assumption). Used to report staffing in FTEs.",
        gt=0,
    )


class TherapyConfig(Strict):
    """A second decision for settings whose service unit is a day of stay (skilled nursing):
    therapy minutes per day, delivered individually, concurrently (one therapist, two
    patients) or in groups [@cms_snf_fy2019].

    Per patient-month the provider's objective adds ``days × g(m)``, with m the planned
    minutes per day, ``g(m) = R(m) − cost_per_minute·k·m + α·(β(m) − β(m_B))``, R the per-day
    payment that depends on counted minutes (legacy) and β the per-day benefit of therapy,
    ``β = curvature·(m_B·x − x²/2)`` in effective minutes x (shared minutes weigh
    ``shared_benefit``). Days at the patient-optimal intensity m_B are what the setting's
    ``optimal_units`` describe, so therapy away from m_B only lowers benefit."""

    optimal_minutes: float = F(
        90.0,
        "minutes/day",
        "Patient-optimal therapy minutes per day (PT+OT+SLP; assumption).",
        gt=0,
        le=1440,
    )
    benefit_curvature: float = F(
        0.10,
        "USD/(minute/day)^2 per day",
        "Curvature of the per-day benefit of therapy (assumption).",
        gt=0,
    )
    cost_per_minute: float = F(
        0.8,
        "USD/therapist-minute",
        "Cost of one therapist minute (≈ $48/hour with benefits; assumption).",
        ge=0,
    )
    max_minutes: float = F(240.0, "minutes/day", "Most therapy minutes per day.", gt=0, le=1440)
    initial_offset: float = F(
        0.0,
        "minutes/day",
        "Starting therapy style: planned minutes per day above (+) or below (−) the patient "
        "optimum (e.g. where years under the rules in force have already taken providers).",
    )
    minutes_sd: float = F(
        0.2,
        "log-sd",
        "Spread of minutes delivered around minutes planned, per patient-month (missed "
        "sessions, refusals, schedules; assumption). Providers aiming at a minutes threshold "
        "plan above it because of this.",
        ge=0,
        le=2,
    )
    shared_benefit: float = F(
        0.6,
        "ratio",
        "Benefit of a concurrent or group minute relative to an individual minute (assumption).",
        ge=0,
        le=1,
    )
    concurrent_fraction: float = F(
        0.5,
        "fraction",
        "Share of shared (concurrent or group) minutes delivered concurrently (assumption).",
        ge=0,
        le=1,
    )
    baseline_shared_share: float = F(
        0.02,
        "fraction",
        "Share of minutes delivered concurrently or in groups where payment counts shared "
        "minutes at less than full weight (RUG-IV: fewer than 3% of stays had any; "
        "[@cms_snf_fy2019]).",
        ge=0,
        le=1,
    )
    unpaid_shared_share: float = F(
        0.25,
        "fraction",
        "Share of minutes providers move to concurrent and group therapy where minutes are "
        "not a payment factor (shared minutes cost less staff time; assumption), within the "
        "contract's cap. Providers move toward it at their adaptation speed.",
        ge=0,
        le=1,
    )
    shortfall_risk: float = F(
        0.002,
        "probability/day",
        "Adverse-event probability a day of stay adds per unit of squared therapy shortfall "
        "((m_B − x)/m_B)² in effective minutes x below the patient-optimal intensity: a day "
        "with no therapy adds 0.2 percentage points to the month's risk, a day at half the "
        "optimum 0.05 (assumption: the direction follows studies that associate more SNF "
        "therapy with fewer readmissions, the size is not from them). Adverse events in "
        "post-acute care are what readmits pathway patients.",
        ge=0,
        le=0.04,
    )
    staffing: StaffingConfig = F(StaffingConfig(), "table", "Therapist staffing.")


class AdmissionSettingConfig(Strict):
    """How a setting's cases are admitted when providers decide (``behaviour.admission``):
    the scale of what they do not see, the gray area and the alternative."""

    scale: float = F(
        0.1,
        "× episode benefit",
        "Scale σ of the logit of taking a case — the spread of what the provider does not see "
        "(the patient's and the day's circumstances) — as a share of the patient benefit of an "
        "average episode at its optimum (d·q_B²/2 × episode_months at risk score 1), so that "
        "it means the same in every setting. A case worth σ to the provider is taken with "
        "probability 0.73, one worth −σ with 0.27 (assumption; calibrate it to the dispersion "
        "of admission rates across areas, docs/calibration.md).",
        gt=0,
    )
    case_cost: float = F(
        0.0,
        "× episode cost",
        "What taking on a case costs the provider apart from its units (intake, evaluation, "
        "scheduling, the paperwork of an admission; assumption), as a share of the cost of the "
        "units of an average episode at its optimum (marginal_cost × optimal_units × "
        "episode_months at risk score 1), so that it means the same in every setting: what "
        "makes a case at a price per unit above cost worth turning away when its benefit is "
        "small.",
        ge=0,
        le=10,
    )
    discretionary_share: float = F(
        0.0,
        "fraction",
        "Share of new needs in the gray area: cases an alternative could also treat, so "
        "taking them is a choice (0: every need is taken wherever it is worth anything, e.g. "
        "hip fracture). Each discretionary case's alternative gives a share of its benefit "
        "drawn uniformly up to alternative_benefit.",
        ge=0,
        le=1,
    )
    alternative_benefit: float = F(
        0.9,
        "fraction",
        "Largest share of the patient's benefit at its optimum that the alternative gives a "
        "discretionary case (outpatient care, watchful waiting; assumption).",
        ge=0,
        le=1,
    )
    alternative: str | None = F(
        None,
        "setting",
        "Setting where a turned-away patient's need goes (a later setting of the scenario, e.g. "
        "outpatient care for an inpatient setting); none: care outside the modelled settings, "
        "which gives the patient the alternative's share of the function gain and costs the "
        "modelled payers nothing.",
    )


class SettingConfig(Strict):
    """A care setting: billing, need, benefit, cost, providers and optional therapy and
    investments."""

    unit: str = F("visit", "label", "What one service unit is (for labels and docs).")
    units_per_visit: int = F(
        1, "units/visit", "Most service units delivered in one visit (one day).", ge=1, le=32
    )
    minutes_per_unit: float = F(
        15.0, "minutes/unit", "Direct time delivered per planned service unit.", gt=0, le=1440
    )
    timed_codes: dict[str, float] = F(
        {},
        "share of minutes",
        "Timed CPT codes and the share of timed minutes each gets; billed by the 8-minute rule "
        "[@cms_pfs2025]. Empty for visit-based settings.",
    )
    per_visit_codes: list[str] = F(
        [], "codes", "Untimed codes billed once per visit (1 unit each)."
    )
    per_episode_codes: list[str] = F(
        [], "codes", "Untimed codes billed once per episode, at its first visit (evaluations)."
    )
    per_visit_rate: float | None = F(
        None,
        "USD/visit",
        "Fee-schedule value of one visit for a setting paid outside the physician fee schedule "
        "(e.g. home health per-visit rates [@cms_hh_cy2019]); then no codes are needed.",
        ge=0,
    )
    conversion_factor: float = F(
        32.3465, "USD/RVU", "Medicare PFS conversion factor (2025 [@cms_pfs2025]).", gt=0
    )
    mppr: bool = F(
        True,
        "flag",
        "Apply the multiple procedure payment reduction (50% of practice expense after the "
        "first unit of the day [@cms_pfs2025]).",
    )
    need_probability: float = F(
        0.01,
        "probability/month",
        "Monthly probability that a new episode of need starts, at risk score 1 and the "
        "reference function.",
        ge=0,
        le=1,
    )
    need_function_slope: float = F(
        1.0,
        "ratio",
        "Relative rise of need probability per 100 points of function below the reference.",
        ge=0,
    )
    need_reference_function: float = F(
        70.0, "points (0-100)", "Function at which need_probability applies.", ge=0, le=100
    )
    episode_months: float = F(
        2.0, "months", "Mean episode length (geometric, at least one month).", ge=1, le=1200
    )
    elective_share: float = F(
        0.7,
        "fraction",
        "Share of new needs that are elective (sought less as out-of-pocket cost rises).",
        ge=0,
        le=1,
    )
    optimal_units: float = F(
        16.0,
        "units/month",
        "Patient-optimal quantity q_B = b/d per episode-month at risk score 1 (assumption).",
        gt=0,
        le=10_000,
    )
    need_risk_elasticity: float = F(
        0.5, "ratio", "Patient-optimal quantity scales with risk_score ** this.", ge=0, le=10
    )
    benefit_curvature: float = F(
        3.0,
        "USD/unit^2",
        "d in B(q) = b·q − (d/2)·q² (money-valued patient benefit [@ellis1986]).",
        gt=0,
    )
    value_per_function_point: float = F(
        100.0,
        "USD/point",
        "Money value of one point of functional status; converts benefit to function gain.",
        gt=0,
    )
    marginal_cost: float = F(
        18.0, "USD/unit", "Provider's marginal cost of one service unit (assumption).", ge=0
    )
    max_units: int = F(
        60, "units/month", "Most units one patient can receive in a month.", ge=1, le=10_000
    )
    max_units_per_episode: int | None = F(
        None,
        "units/episode",
        "Most units of one episode (skilled nursing: 100 covered days per benefit period, "
        "[@cms_snf_fy2019]); the episode ends when they are used. None: no limit.",
        ge=1,
        le=100_000,
    )
    minimum_care: float = F(
        0.0,
        "fraction",
        "Standard of care: a provider deciding by best response (behaviour.mode = "
        "'best_response') gives a patient it takes on at least this share of the patient's "
        "optimal units (a physician's plan of care, utilization review, malpractice risk; "
        "assumption). 0: no floor.",
        ge=0,
        le=1,
    )
    admission: AdmissionSettingConfig = F(
        AdmissionSettingConfig(),
        "table",
        "How the setting's cases are admitted when providers decide (behaviour.admission).",
    )
    therapy: TherapyConfig | None = F(
        None,
        "table",
        "Therapy minutes per day as a second provider decision (settings whose unit is a day "
        "of stay); none: no therapy decision.",
    )
    investments: InvestmentsConfig | None = F(
        None,
        "table",
        "Investments that lower future need (prevention, care coordination, home visits, "
        "follow-up after discharge) the setting's providers can make; none: no such option.",
    )
    low_value_threshold: float = F(
        18.0,
        "USD/unit",
        "A unit whose marginal patient benefit is below this counts as low-value.",
        ge=0,
    )
    oop_elasticity: float = F(
        -0.2,
        "elasticity",
        "Elasticity of elective care seeking to expected out-of-pocket cost (RAND HIE, "
        "Manning et al. 1987 [@manning1987]).",
        ge=-10,
        le=0,
    )
    oop_reference: float = F(
        100.0,
        "USD",
        "Expected out-of-pocket cost at which demand starts to respond (assumption).",
        gt=0,
    )
    adverse_events: AdverseEventConfig = F(
        AdverseEventConfig(), "table", "Adverse events during episodes."
    )
    providers: ProvidersConfig = F(ProvidersConfig(), "table", "The setting's providers.")

    @field_validator("timed_codes")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        if v:
            if any(s < 0 for s in v.values()):
                raise ValueError("timed code shares must be >= 0")
            if not math.isclose(sum(v.values()), 1.0, abs_tol=1e-6):
                raise ValueError(f"timed code shares must sum to 1 (they sum to {sum(v.values())})")
        return v

    @model_validator(mode="after")
    def _billing(self) -> SettingConfig:
        from sim.engine.billing import DEFAULT_CODES

        listed = [
            (where, code)
            for where in ("timed_codes", "per_visit_codes", "per_episode_codes")
            for code in getattr(self, where)
        ]
        for where, code in listed:
            if code not in DEFAULT_CODES:
                raise ValueError(
                    f"{where}: unknown code {code!r}; known: {', '.join(sorted(DEFAULT_CODES))}"
                )
            timed = DEFAULT_CODES[code].timed
            if (code in self.timed_codes) != timed:
                kind = "timed" if timed else "untimed"
                raise ValueError(f"{where}: code {code!r} is {kind}; list it accordingly")
        if not self.timed_codes and self.units_per_visit != 1:
            raise ValueError("a setting without timed codes bills per visit: units_per_visit = 1")
        coded = bool(self.timed_codes or self.per_visit_codes)
        if coded == (self.per_visit_rate is not None):
            raise ValueError(
                "a setting bills either by codes (timed_codes or per_visit_codes) or by "
                "per_visit_rate: give exactly one"
            )
        return self


def default_settings() -> dict[str, SettingConfig]:
    """The built-in settings: outpatient therapy and primary care."""
    return {
        "outpatient_therapy": SettingConfig(
            unit="15-minute timed unit",
            units_per_visit=4,
            timed_codes={"97110": 0.4, "97112": 0.2, "97140": 0.2, "97530": 0.2},
            per_episode_codes=["97163"],
        ),
        "primary_care": SettingConfig(
            unit="visit",
            per_visit_codes=["99213"],
            minutes_per_unit=20.0,
            need_probability=0.06,
            episode_months=1.0,
            elective_share=0.5,
            optimal_units=1.5,
            benefit_curvature=120.0,
            value_per_function_point=300.0,
            marginal_cost=60.0,
            max_units=6,
            low_value_threshold=60.0,
            adverse_events=AdverseEventConfig(
                base_rate=0.003, shortfall_risk=0.004, cost=9_000.0, function_loss=3.0
            ),
            providers=ProvidersConfig(fixed_cost=6_100.0),
        ),
    }


def check_settings(settings: dict[str, SettingConfig], population: PopulationConfig) -> None:
    """Each setting has at least one provider per region; a scenario has at most 32 settings."""
    n_regions = len(population.regions)
    for name, st in settings.items():
        if st.providers.resolved_count(population.patients) < n_regions:
            raise ValueError(
                f"settings.{name}.providers.count: needs at least one provider per region "
                f"({n_regions} regions)"
            )
    if len(settings) > 32:
        raise ValueError("settings: at most 32 care settings")
    names = list(settings)
    for i, (name, st) in enumerate(settings.items()):
        alt = st.admission.alternative
        if alt is not None and alt not in names[i + 1 :]:
            raise ValueError(
                f"settings.{name}.admission.alternative: {alt!r} is not a setting after "
                f"{name!r} in the scenario (a turned-away need starts there the same month); "
                f"allowed: {names[i + 1 :] or 'none (no later setting)'}"
            )


def check_admission(behaviour: Any, supply: Any) -> None:
    """The extensive margin replaces selection and participation: not both. Capacity rations
    admissions only where providers decide them."""
    cap = supply.capacity
    if cap.enabled and cap.ration_admissions and not behaviour.admission.enabled:
        raise ValueError(
            "supply.capacity.ration_admissions: capacity rations admissions through the "
            "providers' admission decisions; switch behaviour.admission.enabled on, or this off"
        )
    if behaviour.admission.enabled:
        if behaviour.selection.enabled:
            raise ValueError(
                "behaviour.selection.enabled: providers already decide which cases to take "
                "(behaviour.admission); switch one of them off"
            )
        if supply.participation.enabled:
            raise ValueError(
                "supply.participation: providers already decide which cases to take "
                "(behaviour.admission); switch one of them off"
            )
