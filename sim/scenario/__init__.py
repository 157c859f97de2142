"""Typed, validated scenarios.

A scenario file (TOML) describes one world: a population of patients, care settings with their
providers, payers, provider behaviour, and the *arms* to compare (payment designs) under common
random numbers. It is validated once, up front, into the frozen objects below; nothing
downstream re-checks it.

Every field carries a description and a unit (``json_schema_extra={"unit": ...}``) so that the
field reference in ``docs/scenario-reference.md`` is generated from this schema and cannot drift.
Defaults cite their source (``../shared/REFERENCE.md`` section) or say "assumption".
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import annotated_types as at
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.errors import ScenarioError
from sim.guards.limits import MAX_SEED, gb, parse_toml, patient_bytes, read_input

WILDCARD = "*"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: names that become folder names or output labels (scenario, sweep and arm names)
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")
MAX_PATIENTS = 100_000_000


def check_label(v: str, what: str = "name") -> str:
    """A scenario, sweep or arm name: it becomes a folder name or an output label, so it is
    one word of letters, digits, '_', '-', '+' or '.', starting with a letter or digit."""
    if not _LABEL.fullmatch(v):
        raise ValueError(
            f"{what}: use 1-100 letters, digits, '_', '-', '+' or '.', starting with a letter "
            "or digit (no spaces, commas, slashes or line breaks)"
        )
    return v


def F(default: Any, unit: str, description: str, **kw: Any) -> Any:
    """A field with a default, a unit and a description (all three are required here)."""
    extra = {"unit": unit}
    return Field(default, description=description, json_schema_extra=extra, **kw)


def _iso_date(v: Any) -> Any:
    """A date written as TOML's date, or as an ISO 8601 string (``"2017-10-01"``, as JSON
    writes dates); anything else is left for strict validation to refuse."""
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a date (use YYYY-MM-DD, e.g. 2017-10-01)") from None
    return v


class Strict(BaseModel):
    """Base: unknown keys are errors, values are immutable once loaded, and values are taken
    as they are written: no coercion between booleans, numbers and strings (``true`` is not 1,
    ``"yes"`` is not true; a whole number is accepted where a decimal belongs), and numbers
    are finite (no ``inf`` or ``nan``)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, strict=True, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _magnitudes(self) -> Strict:
        for name, info in type(self).model_fields.items():
            if any(isinstance(m, at.Le | at.Lt) for m in info.metadata):
                continue  # the field states its own maximum
            for where, v in _numbers(getattr(self, name), name):
                if abs(v) > MAX_MAGNITUDE:
                    raise ValueError(_too_large(where, v))
        return self


#: largest magnitude of a number without a stated maximum: no price, rate, count or slope of a
#: scenario needs more, and larger ones overflow the model's arithmetic
MAX_MAGNITUDE = 1e9


def _too_large(where: str, v: float) -> str:
    return f"{where}: must be between -1e9 and 1e9 (got {v:.6g})"


def _numbers(value: Any, where: str) -> Iterator[tuple[str, float]]:
    """(path, number) of the numbers in a plain value (not in nested models)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{where}.{i}")


def _check_names(table: dict[str, Any], what: str) -> None:
    for name in table:
        if not _NAME.match(name):
            raise ValueError(
                f"{what}: name {name!r} must start with a lower-case letter and use a-z, 0-9, _"
            )
    if not table:
        raise ValueError(f"{what}: at least one entry is needed")


def _check_shares(shares: dict[str, float], what: str) -> None:
    total = sum(shares.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"{what}: shares must sum to 1 (they sum to {total:.6g})")


# ---------------------------------------------------------------------------------------------
# Population


class RegionConfig(Strict):
    """A region: its share of patients and its geographic practice cost indices."""

    share: float = F(1.0, "fraction", "Share of patients living in the region.", gt=0, le=1)
    gpci_work: float = F(1.0, "index", "Geographic practice cost index, work (Medicare PFS).", gt=0)
    gpci_pe: float = F(1.0, "index", "Geographic practice cost index, practice expense.", gt=0)
    gpci_mp: float = F(1.0, "index", "Geographic practice cost index, malpractice.", gt=0)


class ConditionConfig(Strict):
    """A condition group: its share of patients and how it scales need and intensity."""

    share: float = F(1.0, "fraction", "Share of patients in the condition group.", gt=0, le=1)
    need_multiplier: float = F(
        1.0, "ratio", "Multiplies the probability that a need for care arises.", ge=0
    )
    intensity_multiplier: float = F(
        1.0, "ratio", "Multiplies the patient-optimal service quantity of an episode.", gt=0
    )


def _default_conditions() -> dict[str, ConditionConfig]:
    return {
        "musculoskeletal": ConditionConfig(share=0.5, need_multiplier=1.2),
        "neurological": ConditionConfig(share=0.2, need_multiplier=1.0, intensity_multiplier=1.3),
        "medical_complex": ConditionConfig(
            share=0.3, need_multiplier=0.8, intensity_multiplier=0.9
        ),
    }


class PopulationConfig(Strict):
    """The patients: how many, and the distributions of their characteristics."""

    patients: int = F(
        100_000, "persons", f"Number of patients simulated (at most {MAX_PATIENTS:,}).", ge=1
    )
    risk_sigma: float = F(
        0.5,
        "log-sd",
        "Spread of the comorbidity risk score (lognormal, normalised to mean 1.0 as CMS-HCC "
        "scores are; REFERENCE.md §7).",
        ge=0,
        le=3,
    )
    function_mean: float = F(
        65.0, "points (0-100)", "Mean functional status at month 0 (assumption).", ge=0, le=100
    )
    function_sd: float = F(
        15.0, "points (0-100)", "Spread of functional status at month 0 (assumption).", ge=0
    )
    function_decline: float = F(
        0.15,
        "points/month",
        "Chronic decline of function per month at risk score 1 (aging; assumption).",
        ge=0,
    )
    risk_decline_elasticity: float = F(
        0.5,
        "ratio",
        "Decline scales with risk_score ** this (sicker patients decline faster; assumption).",
        ge=0,
        le=10,
    )
    conditions: dict[str, ConditionConfig] = F(
        _default_conditions(),
        "table",
        "Condition groups (case-mix dimension of bundles).",
    )
    regions: dict[str, RegionConfig] = F(
        {"national": RegionConfig()},
        "table",
        "Regions with their Medicare geographic practice cost indices.",
    )

    @model_validator(mode="before")
    @classmethod
    def _builtins(cls, data: Any) -> Any:
        data = _inherit(data, "conditions", _default_conditions())
        return _inherit(data, "regions", {"national": RegionConfig()})

    @field_validator("patients")
    @classmethod
    def _scale(cls, v: int) -> int:
        if v > MAX_PATIENTS:
            raise ValueError(
                f"at most {MAX_PATIENTS:,} patients (this many would need about "
                f"{gb(patient_bytes(v, 2))} of memory or more)"
            )
        return v

    @model_validator(mode="after")
    def _shares(self) -> PopulationConfig:
        for name, table in (("conditions", self.conditions), ("regions", self.regions)):
            _check_names(table, name)
            _check_shares({k: v.share for k, v in table.items()}, name)
        return self


# ---------------------------------------------------------------------------------------------
# Payers


class BenefitDesign(Strict):
    """The patients' cost sharing a payer's coverage sets, whatever pays the provider."""

    coinsurance: float = F(
        0.2,
        "fraction",
        "Patient share of the fee-schedule value of services after the deductible (Part B: "
        "20%; REFERENCE.md §3).",
        ge=0,
        le=1,
    )
    deductible_applies: bool = F(
        True, "flag", "Whether the fee-schedule value counts toward the payer's deductible."
    )
    copay_per_visit: float = F(0.0, "USD/visit", "Patient payment per visit.", ge=0)


class PayerConfig(Strict):
    """A payer: its share of patients, rate level, deductible and benefit design."""

    share: float = F(1.0, "fraction", "Share of patients covered by this payer.", gt=0, le=1)
    public: bool = F(
        True,
        "flag",
        "A public payer (Medicare): its spending, including what it pays capitated plans, is "
        "the public payer's perspective (public_payer_spending); false for a commercial "
        "insurer.",
    )
    rate_multiplier: float = F(
        1.0,
        "ratio",
        "Payer-specific rate level applied to every price it pays (fee schedule, PMPM, bundle).",
        gt=0,
    )
    deductible: float = F(
        257.0,
        "USD/year",
        "Annual deductible (Medicare Part B 2025: $257; REFERENCE.md §3).",
        ge=0,
    )
    benefit_design: BenefitDesign = F(
        BenefitDesign(),
        "table",
        'The coverage\'s cost sharing for arms with benefit_design = "payer": applied to the '
        "fee-schedule value of the services, the same whatever the payment model, so arms "
        "differ only in how providers are paid (default: Part B's deductible and 20%).",
    )
    other_care_per_month: float = F(
        0.0,
        "USD/member-month",
        "Allowed amounts of care outside the modelled settings that count toward the "
        "deductible each month (so the deductible is not met by these settings alone).",
        ge=0,
    )


# ---------------------------------------------------------------------------------------------
# Care settings and their providers


class AdverseEventConfig(Strict):
    """Adverse events of a setting: base rate, how they rise with low function and
    under-treatment, their cost and the function they take."""

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
        "Weight α on patient benefit, heterogeneous across providers (Godager & Wiesen 2013; "
        "REFERENCE.md §1, §8).",
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
        "changes; REFERENCE.md §8).",
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
    patients) or in groups (REFERENCE.md §4).

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
        "REFERENCE.md §4).",
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


class InvestmentType(Strict):
    """One kind of investment a provider can make, with its documented effect.

    Spending ``x`` (USD per member-month of the provider's panel, or per discharge) lowers the
    probability of each targeted event by ``reduction · (1 − exp(−x / scale))``: diminishing
    returns, at most ``reduction``. Effects of several investments on one event multiply."""

    basis: Literal["member", "discharge"] = F(
        ...,
        "choice",
        "member: spent on every member of the provider's panel each month, acting after "
        "lag_months; discharge: spent on each patient the acute setting of the pathway "
        "discharges, acting on that discharge's 30-day readmission risk.",
    )
    scale: float = F(
        ...,
        "USD/member-month or USD/discharge",
        "Spending at which 63% (1 − 1/e) of the largest effect is reached.",
        gt=0,
    )
    needs: float = F(
        0.0,
        "fraction",
        "Largest relative reduction of the probability that an episode of need (in the acute "
        "setting: an acute event) starts (member basis).",
        ge=0,
        le=1,
    )
    adverse_events: float = F(
        0.0,
        "fraction",
        "Largest relative reduction of adverse-event risk during the setting's episodes "
        "(member basis).",
        ge=0,
        le=1,
    )
    readmissions: float = F(
        0.0,
        "fraction",
        "Largest relative reduction of the readmission risk of a discharge: after a discharge "
        "home, and from post-acute care in the month of discharge (discharge basis).",
        ge=0,
        le=1,
    )
    lag_months: int = F(0, "months", "Months from spending to effect (member basis).", ge=0, le=24)
    fee_share: float = F(
        0.0,
        "fraction",
        "Share of the spending the payer pays as a separate fee (e.g. care-management or "
        "transitional-care codes); the provider bears the rest.",
        ge=0,
        le=1,
    )

    @model_validator(mode="after")
    def _targets(self) -> InvestmentType:
        if self.basis == "member" and self.readmissions:
            raise ValueError(
                "readmissions: a member-basis investment acts on needs and adverse "
                "events; use basis = 'discharge' for readmissions"
            )
        if self.basis == "discharge" and (self.needs or self.adverse_events or self.lag_months):
            raise ValueError(
                "a discharge-basis investment acts on readmissions only (needs, "
                "adverse_events and lag_months must be 0)"
            )
        return self


class InvestmentsConfig(Strict):
    """Investments the setting's providers can make that lower future need (care that no fee
    schedule rewards). Each provider chooses its spending on each type from its estimates,
    learnt from its own patients, of what the targeted events cost or earn it under its
    contracts, plus its altruism × what avoiding them is worth to patients, over the months it
    looks ahead; it moves toward that choice at its adaptation speed. Effects and costs are
    assumptions of the scenario; the defaults of each type are none."""

    preventive_visits: InvestmentType | None = F(
        None, "table", "Preventive and primary-care visits for the panel (member basis)."
    )
    care_coordination: InvestmentType | None = F(
        None, "table", "Care coordination of the panel (member basis)."
    )
    home_visits: InvestmentType | None = F(
        None, "table", "Home visits after a discharge (discharge basis)."
    )
    discharge_follow_up: InvestmentType | None = F(
        None,
        "table",
        "Follow-up after discharge: a call, a visit, medication reconciliation (discharge basis).",
    )
    horizon_months: int = F(
        12,
        "months",
        "How far ahead providers count an investment's effect: effects later than this are "
        "worth nothing to them (assumption).",
        ge=0,
        le=120,
    )
    need_value: float = F(
        0.0,
        "USD/event",
        "What avoiding an episode of need (an acute event) is worth to the patient, weighed "
        "by the provider's altruism (assumption).",
        ge=0,
    )
    readmission_value: float = F(
        0.0,
        "USD/event",
        "What avoiding a readmission is worth to the patient, weighed by altruism (assumption).",
        ge=0,
    )

    def types(self) -> dict[str, InvestmentType]:
        """The investment types the setting offers, by name."""
        return {k: v for k in INVESTMENT_TYPES if (v := getattr(self, k)) is not None}


#: the investment types, in output order
INVESTMENT_TYPES = ("preventive_visits", "care_coordination", "home_visits", "discharge_follow_up")


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
        "(REFERENCE.md §3). Empty for visit-based settings.",
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
        "(e.g. home health per-visit rates, REFERENCE.md §5); then no codes are needed.",
        ge=0,
    )
    conversion_factor: float = F(
        32.3465, "USD/RVU", "Medicare PFS conversion factor (2025; REFERENCE.md §3).", gt=0
    )
    mppr: bool = F(
        True,
        "flag",
        "Apply the multiple procedure payment reduction (50% of practice expense after the "
        "first unit of the day; REFERENCE.md §3).",
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
        "d in B(q) = b·q − (d/2)·q² (money-valued patient benefit; REFERENCE.md §1).",
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
        "REFERENCE.md §4); the episode ends when they are used. None: no limit.",
        ge=1,
        le=100_000,
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
        "Manning et al. 1987; REFERENCE.md §2).",
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


def _default_payers() -> dict[str, PayerConfig]:
    return {
        "medicare_ffs": PayerConfig(share=0.7, other_care_per_month=150.0),
        "commercial": PayerConfig(
            share=0.3,
            public=False,
            rate_multiplier=1.4,
            deductible=1_500.0,
            other_care_per_month=200.0,
        ),
    }


def _default_settings() -> dict[str, SettingConfig]:
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


# ---------------------------------------------------------------------------------------------
# Behaviour


class BunchingConfig(Strict):
    """Volume pushed up to a payment threshold (e.g. home-health therapy-visit thresholds, the
    LUPA threshold): at the last month of a payment period, a provider whose patient is a few
    units short of a threshold adds the units that reach it when the extra payment outweighs
    what they cost it (their marginal cost less its altruism times their benefit to the
    patient, which is negative past the patient optimum)."""

    enabled: bool = F(False, "flag", "Switch the behaviour on.")
    window: int = F(
        2, "units", "Largest shortfall below a threshold that providers make up.", ge=1, le=50
    )
    probability: float = F(
        1.0, "probability", "Chance that an eligible period is pushed to the threshold.", ge=0, le=1
    )


class UpcodingConfig(Strict):
    """Case-mix coding inflation: providers code patients as sicker than they are. Only what
    payment models see changes (risk scores for risk adjustment, function for case-mix
    groups); patients' health does not."""

    enabled: bool = F(False, "flag", "Switch the behaviour on.")
    risk_inflation: float = F(
        0.05,
        "fraction",
        "Coded risk score = true score × (1 + this) (assumption; cf. MA coding intensity).",
        ge=0,
        le=1,
    )
    function_shift: float = F(
        5.0, "points (0-100)", "Coded function = true function − this (floored at 0).", ge=0
    )
    for_profit_only: bool = F(False, "flag", "Only for-profit providers upcode.")


class SelectionConfig(Strict):
    """Selection of profitable patients: at the start of an episode a provider turns away a
    patient whose episode is worth less than −threshold to it: what episodes of patients of
    the same payer and risk quartile earned it (claims and reconciliations less variable and
    adverse-event costs; learnt from its own ended episodes; per-member payments are received
    either way) plus α times the patient's benefit at its current style. A provider paid per
    member (capitation, the blend) may not turn away its members' episodes. Where prices follow
    case mix only roughly (risk adjustment is imperfect), this falls on the patients whose care
    costs more than it pays."""

    enabled: bool = F(False, "flag", "Switch the behaviour on.")
    threshold: float = F(
        0.0, "USD/episode", "Expected loss a provider accepts before turning a patient away.", ge=0
    )
    probability: float = F(
        1.0, "probability", "Chance that an unprofitable patient is turned away.", ge=0, le=1
    )


class BehaviourConfig(Strict):
    """How providers decide and adapt (Ellis & McGuire's objective, learnt from experience)."""

    mode: Literal["learning", "optimal", "fixed"] = F(
        "learning",
        "choice",
        "learning: providers adapt their practice style from experience; optimal: each plays "
        "the closed-form best response at once (REFERENCE.md §1); fixed: styles never move.",
    )
    initial_offset: float = F(
        0.0,
        "units/month",
        "Starting practice style: units above (+) or below (−) each patient's optimum.",
    )
    experiment_step: float = F(
        0.15,
        "fraction of optimal_units",
        "Size of the small variations around its style a provider tries to learn from.",
        gt=0,
        le=1,
    )
    max_step: float = F(
        0.25,
        "fraction of optimal_units",
        "Largest change of style in one month.",
        gt=0,
    )
    memory: float = F(
        0.1,
        "weight",
        "Weight of the newest month in a provider's running record of experience (exponential "
        "forgetting: about 1/memory months are remembered).",
        gt=0,
        le=1,
    )
    min_patients: int = F(
        12, "patients", "A provider updates its style only with at least this many treated.", ge=5
    )
    event_costs: Literal["expected", "realised"] = F(
        "expected",
        "choice",
        "What a provider's record of experience charges a patient for adverse events: "
        "expected (the event's probability under the care given × what an event costs the "
        "provider: providers know the clinical risk of under- and over-treatment and learn what "
        "contracts pay by experience) or realised (the events that happened: rare, costly events "
        "make the learnt slope so noisy that styles under contracts bearing event costs scatter "
        "around θ* for decades; docs/ODD.md, 'How long learning takes'). The accounts always "
        "charge the realised events.",
    )
    imitation_probability: float = F(
        0.05,
        "probability/month",
        "Chance a provider compares itself with one random peer of its setting this month.",
        ge=0,
        le=1,
    )
    imitation_weight: float = F(
        0.3,
        "fraction",
        "How far a provider moves toward a better-performing peer's style.",
        ge=0,
        le=1,
    )
    foresight: float = F(
        0.0,
        "fraction",
        "From a policy switch's announcement (arms.<i>.switches.<k>.announced) on, each month a "
        "provider also moves every style this fraction of its adaptation speed toward where it "
        "stood at the announcement plus how the announced rules move its closed-form best "
        "(what a final rule lets it compute ahead), while learning from experience corrects "
        "what it cannot compute; 0: trial and error only (assumption: providers differ through "
        "their speed).",
        ge=0,
        le=1,
    )
    payer_specificity: float = F(
        0.0,
        "fraction",
        "Size of the payer-specific part of every learnt style (θ: units, and so length of "
        "stay in a day-of-stay setting; a therapy setting's minutes per day): 0, one norm for "
        "all of a provider's patients, which responds to every payer's incentives weighted by "
        "its share of the provider's patients; 1, a fully separate style per payer, learnt "
        "from that payer's patients alone; in between, the norm plus that share of the "
        "difference. 0 is the default because it is what providers did before the option "
        "existed (one style per provider); physicians' treatment follows the payer mix of "
        "their whole panel (Glied & Zivin 2002, J Health Econ 21:337; values in between are "
        "an assumption).",
        ge=0,
        le=1,
    )
    income_effect: float = F(
        0.0,
        "elasticity",
        "Elasticity η of a provider's marginal utility of income with respect to its income "
        "(CRRA utility): it weighs profit by (reference income / income)^η, so a provider "
        "whose revenue fell below its reference moves its styles toward what pays (more "
        "volume under fee-for-service after a fee cut: the income effect) and one whose "
        "revenue rose the other way. 0: no income effect (off).",
        ge=0,
        le=5,
    )
    income_reference_months: int = F(
        12,
        "months",
        "With income effects: a provider's reference income is its mean monthly revenue over "
        "the run's first this-many months (a target income; no income effect before then). "
        "Its income is its monthly revenue smoothed at the rate ``memory``.",
        ge=1,
        le=1200,
    )
    bunching: BunchingConfig = F(
        BunchingConfig(), "table", "Bunching of volume just above payment thresholds."
    )
    upcoding: UpcodingConfig = F(UpcodingConfig(), "table", "Upcoding of case mix.")
    selection: SelectionConfig = F(
        SelectionConfig(), "table", "Selection of profitable patients at episode start."
    )


# ---------------------------------------------------------------------------------------------
# The supply side: participation, capacity and congestion, entry and exit


class ParticipationConfig(Strict):
    """Whose patients a provider takes: each month each provider decides, per payer, the share
    of that payer's new patients it accepts. With spare capacity it takes every payer whose
    episodes are worth at least −threshold to it — what its own ended episodes of that payer's
    patients earned it (revenue less variable and adverse-event costs, learnt as
    ``behaviour.selection`` learns it) plus its altruism times the benefit of an episode at its
    style — and none of the others. When its capacity is short (``supply.capacity``), it cuts
    new patients by the excess demand, from the payer worth least to it first. A patient turned
    away tries ``search`` other providers of its region, or goes without."""

    enabled: bool = F(False, "flag", "Switch the mechanism on.")
    threshold: float = F(
        0.0,
        "USD/episode",
        "Expected loss per episode of a payer's patients a provider accepts before it stops "
        "taking that payer's new patients (assumption).",
        ge=0,
    )
    search: int = F(
        1,
        "providers",
        "Other providers of the region a turned-away patient asks before going without care "
        "(assumption).",
        ge=0,
        le=10,
    )


class CapacityConfig(Strict):
    """Capacity and congestion in every setting: each provider can deliver so many service
    units a month (the setting's unit: visits, days). Capacity follows planned demand with a
    lag, as therapist staffing does (``settings.<name>.therapy.staffing``), but expands only
    while the provider makes money and shrinks after a loss. When planned units exceed
    capacity, care is rationed: the provider serves payers' patients in the order it chooses
    (``priority``), a patient served a share r of its planned units waits (1 − r)/r months
    for the rest (what it loses is unmet demand), and new elective patients seek care less as
    the wait at their provider rises."""

    enabled: bool = F(False, "flag", "Switch the mechanism on.")
    initial: float = F(
        1.1,
        "ratio",
        "A provider's capacity when it first has patients: this × its planned units that month "
        "(assumption: 10% slack).",
        gt=0,
        le=100,
    )
    warmup_months: int = F(
        12,
        "months",
        "For the first months of a run capacity is set each month to initial × that month's "
        "planned units: a run starts with no episode under way and providers still learning, "
        "and the market is taken to be in balance before it (assumption).",
        ge=0,
        le=1200,
    )
    adjustment: float = F(
        0.15,
        "fraction/month",
        "Share of the gap between capacity and its target closed each month (hiring and "
        "attrition lags, as therapist staffing; assumption: about six months to adjust).",
        gt=0,
        le=1,
    )
    slack: float = F(
        0.10,
        "fraction",
        "Target capacity = last month's planned units × (1 + slack) (assumption).",
        ge=0,
        le=10,
    )
    margin_response: float = F(
        0.10,
        "fraction",
        "A provider with a negative margin last month does not expand and targets this much "
        "less than its current capacity or its target, whichever is lower (assumption).",
        ge=0,
        le=1,
    )
    priority: Literal["proportional", "payer_value"] = F(
        "payer_value",
        "choice",
        "Whom a provider short of capacity serves first: payer_value — patients of the payer "
        "whose unit of care earns it most at the margin (the payment model's marginal revenue "
        "less marginal cost), the next payer with what is left; proportional — every patient "
        "the same share.",
    )
    wait_elasticity: float = F(
        -0.2,
        "elasticity",
        "Elasticity of elective care seeking to the wait: a new elective patient seeks care "
        "with the usual probability × (1 + wait / wait_reference)^elasticity. Approx.: "
        "demand elasticities to waiting time of about −0.1 to −0.2 for elective surgery "
        "(Martin & Smith 1999, J Public Econ 71:141; Gravelle, Smith & Xavier 2003); an "
        "assumption for other settings.",
        ge=-10,
        le=0,
    )
    wait_reference: float = F(
        1.0, "months", "Reference wait of the care-seeking response.", gt=0, le=120
    )
    max_wait: float = F(
        12.0,
        "months",
        "Longest wait reported (a patient served nothing waits this long).",
        gt=0,
        le=120,
    )


class MarketConfig(Strict):
    """Entry and exit: a provider whose margin stays below ``exit_margin`` for ``exit_months``
    in a row leaves (at most one per region and setting a month, the last of a region stays);
    its members move to the other providers of its region, their episodes continuing there.
    Where the providers of a region keep a margin above ``entry_margin`` for ``entry_months``
    in a row, an entrant appears: one of a reserve of potential entrants drawn with the
    setting's distribution of characteristics (altruism, speed, ownership) in each region; it
    starts with the region's mean styles and takes a fair share of the region's members who
    are not in an episode. For-profit providers exit and enter ``for_profit_speed`` times
    faster (REFERENCE.md §8: for-profit providers responded more strongly to payment changes;
    SNF volume responds mostly via entry and exit, §2)."""

    enabled: bool = F(False, "flag", "Switch the mechanism on.")
    exit_margin: float = F(
        -0.05,
        "fraction of revenue",
        "A month's margin (margin / revenue) below this counts toward exit (assumption).",
        ge=-10,
        le=10,
    )
    exit_months: int = F(
        12, "months", "Months in a row below exit_margin before a non-profit exits.", ge=1, le=600
    )
    entry_margin: float = F(
        0.10,
        "fraction of revenue",
        "A region's margin (its providers' margin / revenue) above this counts toward entry "
        "(assumption).",
        ge=-10,
        le=10,
    )
    entry_months: int = F(
        12,
        "months",
        "Months in a row above entry_margin before a non-profit enters the region.",
        ge=1,
        le=600,
    )
    for_profit_speed: float = F(
        2.0,
        "ratio",
        "For-profit providers exit and enter after exit_months / this and entry_months / this "
        "months (rounded up; assumption, cf. REFERENCE.md §8).",
        ge=1,
        le=100,
    )
    reserve: float = F(
        0.25,
        "fraction",
        "Potential entrants per region, as a share of its providers (at least one).",
        gt=0,
        le=10,
    )


class SupplyConfig(Strict):
    """The supply side beyond intensity: whom providers accept, how much they can do, who
    stays in the market (RAND's PADSIM margins; White et al. 2016). Each part is off by
    default, and off reproduces the model without it."""

    participation: ParticipationConfig = F(
        ParticipationConfig(), "table", "Whose patients a provider takes, per payer."
    )
    capacity: CapacityConfig = F(CapacityConfig(), "table", "Capacity and congestion.")
    market: MarketConfig = F(MarketConfig(), "table", "Entry and exit of providers.")
    settings: list[str] = F(
        [], "names", "Settings the supply mechanisms act in (empty: every setting)."
    )

    def applies(self, setting: str) -> bool:
        """Whether the mechanisms act in ``setting``."""
        return not self.settings or setting in self.settings

    def reserve(self, setting: str, counts: list[int]) -> list[int]:
        """Potential entrants per region for a setting with ``counts`` providers per region
        (none unless ``market`` is on there)."""
        if not (self.market.enabled and self.applies(setting)):
            return [0] * len(counts)
        return [max(1, math.ceil(self.market.reserve * c)) for c in counts]


# ---------------------------------------------------------------------------------------------
# The acute care pathway


class DestinationConfig(Strict):
    """A post-acute setting patients can be discharged to (home is the reference, value 0)."""

    value: float = F(
        ...,
        "USD",
        "Clinical value to the patient of discharge here rather than home, at the reference "
        "function and risk score 1, as the discharging physician sees it (calibrated to the "
        "pre-reform discharge mix; assumption). Any negative value is allowed (a destination "
        "can be far worse than home).",
        le=MAX_MAGNITUDE,
    )
    function_slope: float = F(
        0.0,
        "ratio per 10 points",
        "Relative rise of that value per 10 points of function below the reference.",
        ge=0,
    )
    risk_elasticity: float = F(
        0.0, "ratio", "The value scales with risk_score ** this.", ge=0, le=10
    )
    institutional: bool = F(
        False, "flag", "Institutional post-acute care (counted in the institutional share)."
    )
    patient_preference: float = F(
        0.0,
        "USD",
        "With a patient weight in the discharge decision (pathway.patient_weight): what the "
        "patient is willing to pay to go here rather than home, besides the clinical value "
        "(negative: a preference for home; assumption).",
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
    )


class NetworkConfig(Strict):
    """A preferred post-acute network: bearing post-acute spending, hospitals steer referrals.

    Hospitals that bear post-acute spending steer referrals to the region's post-acute
    providers with the cheapest stays, and post-acute providers shorten stays to win
    referrals."""

    size: float = F(
        0.25,
        "fraction",
        "Share of a region's post-acute providers of each setting in the hospitals' network: "
        "those with the lowest estimated spending per stay (assumption).",
        gt=0,
        le=1,
    )
    switch_cost: float = F(
        500.0,
        "USD",
        "A referral of a patient whose own post-acute provider is outside the network goes to "
        "a network provider when the hospital's perceived saving (its share of pathway "
        "spending borne × the difference in spending per stay) exceeds this (the cost of "
        "steering: the patient's and the physician's attachment, paperwork; assumption).",
        ge=0,
    )
    referral_elasticity: float = F(
        1.0,
        "elasticity",
        "What post-acute providers believe: the referrals steered to them rise this many "
        "percent per percent less spending per stay (assumption). Each day of stay then costs "
        "a provider elasticity × the steering hospitals' mean share of spending borne × its "
        "margin per stay / its days per stay in referrals lost; 0: providers do not respond.",
        ge=0,
        le=20,
    )
    memory: float = F(
        0.2,
        "weight",
        "Weight of the newest month in the running estimates of each post-acute provider's "
        "spending, margin and days per stay.",
        gt=0,
        le=1,
    )


class PathwayConfig(Strict):
    """Acute events → a hospital stay → discharge home or to post-acute care → back to the
    community, or readmission. The acute setting's episodes are admissions; at discharge the
    hospital (with its physicians) picks the destination; a destination setting's episode
    starts in the same month; an adverse event during post-acute care, or a readmission draw
    after a home discharge, admits the patient again next month. Spending of every setting
    over ``window_months`` from an index admission is the pathway's spending (the CJR episode:
    the stay plus 90 days)."""

    acute_setting: str = F(..., "name", "The setting whose episodes are hospital admissions.")
    destinations: dict[str, DestinationConfig] = F(
        ..., "table", "Post-acute settings patients can be discharged to (besides home)."
    )
    window_months: int = F(
        3,
        "months",
        "Months of a pathway from its index admission (3 ≈ the 90-day CJR episode; "
        "REFERENCE.md §6); readmissions inside it belong to it.",
        ge=1,
        le=24,
    )
    reference_function: float = F(
        70.0, "points (0-100)", "Function at which destination values apply.", ge=0, le=100
    )
    choice_scale: float = F(
        2_000.0,
        "USD",
        "Scale of what the model does not see in a discharge decision (the patient's home "
        "support, preferences, bed availability): logit scale of the destination choice "
        "(assumption).",
        gt=0,
    )
    home_readmission_rate: float = F(
        0.05,
        "probability",
        "Probability of a readmission within 30 days of a discharge home, at risk score 1 and "
        "the reference function (assumption; readmissions after post-acute care come from the "
        "post-acute setting's adverse events).",
        ge=0,
        le=1,
    )
    readmission_function_slope: float = F(
        1.0,
        "ratio",
        "Relative rise of the home readmission risk per 100 points of function below 100.",
        ge=0,
    )
    cost_memory: float = F(
        0.2,
        "weight",
        "Weight of the newest month in a hospital's running estimate of pathway spending by "
        "destination (learnt from its own patients' closed pathways).",
        gt=0,
        le=1,
    )
    hospital_weight: float = F(
        1.0,
        "fraction",
        "Weight of the hospital in the discharge decision, which it takes jointly with its "
        "physicians and the patient: the hospital weighs clinical value by its altruism "
        "against its share of pathway spending borne; the physicians weigh the same value "
        "against only the gainsharing share of it; the patient weighs the clinical value, its "
        "own expected out-of-pocket cost and its preference (patient_preference). 1 (the "
        "default, as before the option existed): the hospital decides alone.",
        ge=0,
        le=1,
    )
    patient_weight: float = F(
        0.0,
        "fraction",
        "Weight of the patient in the discharge decision; the physicians have 1 − "
        "hospital_weight − patient_weight (assumption).",
        ge=0,
        le=1,
    )
    gainsharing: float = F(
        0.0,
        "fraction",
        "Share of the hospital's reconciliation passed on to its physicians (a gainsharing "
        "arrangement, as CJR allows): the physicians' perceived share of pathway spending is "
        "this times the hospital's. 0: physicians bear none of it.",
        ge=0,
        le=1,
    )
    perceived_cost: Literal["contract", "reconciliation"] = F(
        "contract",
        "choice",
        "What share of a dollar of pathway spending a hospital perceives it bears. contract "
        "(as before the option existed): the acute contract's nominal share from month 0 (all "
        "of it under a pathway bundle). reconciliation: what the reconciliation of its own "
        "closed pathways actually took of a further dollar (the phase-in of downside risk, "
        "stop-loss and stop-gain, pathways not reconciled), averaged over the month's closed "
        "pathways of each payer; the hospital's perceived share moves toward it at its "
        "adaptation speed.",
    )
    payer_specificity: float = F(
        1.0,
        "fraction",
        "Size of the payer-specific part of a hospital's discharge pattern: 1 (the default, as "
        "before the option existed), each payer's patients are discharged weighing that "
        "payer's contract alone; 0, one norm for all the hospital's patients, weighing the "
        "patient-share-weighted mean of its perceived shares of spending borne.",
        ge=0,
        le=1,
    )
    network: NetworkConfig | None = F(
        None,
        "table",
        "A preferred post-acute network (absent: referrals go to the patient's own post-acute "
        "provider, and post-acute providers do not compete for them).",
    )

    @field_validator("patient_weight")
    @classmethod
    def _decision_weights(cls, v: float, info: ValidationInfo) -> float:
        hospital = info.data.get("hospital_weight", 1.0)
        if hospital + v > 1.0 + 1e-12:
            raise ValueError(
                "hospital_weight + patient_weight must be at most 1 (the physicians have the "
                f"rest); got {hospital} + {v}"
            )
        return v


# ---------------------------------------------------------------------------------------------
# Arms and contracts


class ContractConfig(BaseModel):
    """Which payment model a payer uses for a setting in an arm, with that model's parameters.

    ``setting`` and ``payer`` may be ``"*"`` (all). Later entries override earlier ones.
    """

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    model: str = F(
        ..., "name", "Payment model (see sim.engine.payment: ffs, capitation, bundled, ...)."
    )
    setting: str = F(WILDCARD, "name", "Care setting the contract covers, or '*' for all.")
    payer: str = F(WILDCARD, "name", "Payer whose contract this is, or '*' for all.")

    @model_validator(mode="after")
    def _params(self) -> ContractConfig:
        from sim.engine.payment import REGISTRY

        if self.model not in REGISTRY:
            raise ValueError(
                f"unknown payment model {self.model!r}; allowed: {', '.join(sorted(REGISTRY))}"
            )
        # validate the model-specific parameters now, so errors surface at load time
        for where, value in _non_finite(self.model_extra or {}):
            raise ValueError(
                f"{self.model} contract: {where}: must be a finite number (got {value!r})"
            )
        for key, given in (self.model_extra or {}).items():
            for where, value in _numbers(given, key):
                if abs(value) > MAX_MAGNITUDE:
                    raise ValueError(f"{self.model} contract: {_too_large(where, value)}")
        try:
            REGISTRY[self.model].Params.model_validate(self.model_extra or {}, strict=True)
        except ValidationError as exc:
            raise ValueError(
                f"{self.model} contract: " + "; ".join(_describe(e) for e in exc.errors())
            ) from None
        return self

    @property
    def params(self) -> BaseModel:
        """The contract's parameters, validated by its payment model's Params."""
        from sim.engine.payment import REGISTRY

        return REGISTRY[self.model].Params.model_validate(self.model_extra or {})


def _non_finite(data: Any, where: str = "") -> Iterator[tuple[str, float]]:
    """(dotted path, value) of every infinite or NaN number in plain data."""
    if isinstance(data, float) and not math.isfinite(data):
        yield where, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _non_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _non_finite(v, f"{where}.{i}" if where else str(i))


def _matching(contracts: list[ContractConfig], payer: str, setting: str) -> ContractConfig | None:
    found = None
    for c in contracts:
        if c.payer in (WILDCARD, payer) and c.setting in (WILDCARD, setting):
            found = c
    return found


class SwitchConfig(Strict):
    """A policy switch: from ``month`` on, these contracts replace the ones they match."""

    month: int = F(
        ...,
        "month",
        "First month (from 0) under the new contracts; derived from `date` when that is given.",
        ge=1,
    )
    date: dt.date | None = F(
        None,
        "date",
        "Calendar date the new contracts take effect (e.g. 2019-10-01), instead of `month`: "
        "the switch comes at the start of that calendar month, counted from the scenario's "
        "`start`.",
    )
    announced: int | None = F(
        None,
        "month",
        "Month (from 0) the switch is announced, as a final rule is published months before "
        "it takes effect; from then on providers with behaviour.foresight > 0 move toward their "
        "best under the announced rules. Default: the switch month.",
        ge=0,
    )
    description: str = F("", "text", "What the switch represents (e.g. 'PDPM replaces RUG-IV').")
    contracts: list[ContractConfig] = F(
        ...,
        "table",
        "New contracts; each replaces the contract of the (payer, setting) it matches.",
    )

    _date = field_validator("date", mode="before")(_iso_date)

    @model_validator(mode="after")
    def _announced_before(self) -> SwitchConfig:
        if self.announced is not None and self.announced > self.month:
            raise ValueError(
                f"announced: month {self.announced} comes after the switch (month {self.month})"
            )
        return self

    @property
    def announcement(self) -> int:
        """The month the switch is announced (its own month unless said earlier)."""
        return self.month if self.announced is None else self.announced


class ArmConfig(Strict):
    """An arm: a payment design (contracts by payer and setting), its policy switches and
    options."""

    name: str = F(..., "name", "Arm name (a column of every output).")
    description: str = F("", "text", "What the arm represents.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_label(v, "arm name")

    contracts: list[ContractConfig] = F(
        ..., "table", "Payment contracts of the arm; later entries override earlier ones."
    )
    switches: list[SwitchConfig] = F(
        [], "table", "Policy switches of the arm, applied at their months (Mesa events)."
    )
    benefit_design: Literal["contract", "payer"] = F(
        "contract",
        "choice",
        "Whose cost sharing patients face: each contract's own (its coinsurance, deductible "
        "and copays on what the contract allows: the payment model's usual benefit design), or "
        "the payer's benefit design (payers.<name>.benefit_design) on the fee-schedule value "
        "of the services, the same in every arm — so arms compare payment models alone.",
    )
    investments: bool = F(
        True,
        "flag",
        "Providers may make the investments their settings offer ([settings.<name>."
        "investments]); false switches the option off (the arm is then identical to a world "
        "without it, patient for patient).",
    )

    @model_validator(mode="after")
    def _switch_order(self) -> ArmConfig:
        months = [w.month for w in self.switches]
        if months != sorted(set(months)):
            raise ValueError("switches: months must be distinct and increasing")
        return self

    def contract_for(self, payer: str, setting: str) -> ContractConfig | None:
        """The contract in force at month 0 for (payer, setting): the last entry that matches."""
        return _matching(self.contracts, payer, setting)

    def switch_for(self, switch: SwitchConfig, payer: str, setting: str) -> ContractConfig | None:
        """The contract a switch puts in force for (payer, setting), or None if unchanged."""
        return _matching(switch.contracts, payer, setting)


class OutputsConfig(Strict):
    """What a run writes besides the monthly table and summary."""

    provider_panel: bool = F(False, "flag", "Also write a per-provider monthly panel.")
    figure: bool = F(True, "flag", "Write the PNG figure of cost and outcome trends.")
    summary_months: int = F(
        0,
        "months",
        "The summary table averages the last this many months (0: the whole run; a run no "
        "longer than this is summarised whole). Keep them after learning has reached steady "
        "state (docs/ODD.md, 'How long learning takes'; `python scripts/convergence.py`); the "
        "monthly table keeps every month.",
        ge=0,
    )


#: subgroup dimensions a scenario may ask for (``[analysis] subgroups``); combinations are
#: written ``"payer*risk_quantile"``
SUBGROUP_DIMENSIONS = ("risk_quantile", "condition", "payer", "function_band", "region")
#: cost perspectives of the health-economic outcomes (sim/results/economics.py)
PERSPECTIVES = ("health_system", "public_payer", "plans", "patients", "providers")


class AnalysisConfig(Strict):
    """What the analysis of a scenario asks: the counterfactual arm, the measures a report
    leads with, subgroup tables and health-economic outcomes (QALYs, costs by perspective,
    ICER and net monetary benefit against the baseline). Without this table a run writes none
    of them and its other outputs are unchanged."""

    baseline: str | None = F(
        None,
        "arm name",
        "The counterfactual arm: differences, ICERs and net monetary benefit are taken against "
        "it (default: the first arm).",
    )
    key_measures: list[str] = F(
        [],
        "names",
        "Measures `sim report` leads with, as `measure` or `measure:setting` (e.g. "
        "`therapy_minutes_per_day:snf`, `length_of_stay:snf`, `discharge_share:snf`); the "
        "catalogue is `sim.scenario.key_measures.MEASURES` (docs/tutorial.md lists it).",
    )
    subgroups: list[str] = F(
        [],
        "names",
        "Subgroup tables to write: any of " + ", ".join(SUBGROUP_DIMENSIONS) + ", or a "
        "combination joined by '*' (`payer*risk_quantile`). Groups are fixed at month 0 "
        "(function band: function at month 0), so patients neither enter nor leave a group.",
    )
    risk_quantiles: int = F(
        4,
        "groups",
        "Groups of the risk_quantile subgroup (4: quartiles of the risk score).",
        ge=2,
        le=10,
    )
    function_bands: list[float] = F(
        [40.0, 60.0, 80.0],
        "points (0-100)",
        "Edges of the function_band subgroup (function at month 0; increasing, within 0-100).",
    )
    discount_rate: float = F(
        0.03,
        "fraction/year",
        "Annual discount rate of QALYs and costs (3%: the Second Panel on Cost-Effectiveness "
        "in Health and Medicine, Sanders et al. 2016 JAMA 316:1093), applied monthly as "
        "(1 + r)^(-month/12).",
        ge=0,
        le=0.2,
    )
    utility_function: list[float] = F(
        [0.0, 100.0],
        "points (0-100)",
        "Function points of the utility mapping (increasing, from 0 to 100); utility is "
        "interpolated linearly between them.",
    )
    utility_values: list[float] = F(
        [0.30, 0.95],
        "utility (0-1)",
        "Utility weight at each point of utility_function (assumption: no published crosswalk "
        "maps this model's 0-100 function score to EQ-5D; the range 0.30-0.95 brackets "
        "EQ-5D index values reported for older adults from severe disability to full "
        "function). Change it to test the assumption.",
    )
    wtp: list[float] = F(
        [50_000.0, 100_000.0, 150_000.0],
        "USD/QALY",
        "Willingness-to-pay thresholds for net monetary benefit (the US range $50,000-"
        "$150,000 per QALY; Neumann, Cohen & Weinstein 2014 NEJM 371:796).",
    )
    perspective: Literal[PERSPECTIVES] = F(  # type: ignore[valid-type]
        "health_system",
        "choice",
        "Cost perspective of the ICER and net monetary benefit: health_system (payers and "
        "patients: all payments for care, adverse-event costs included), public_payer, plans "
        "(capitated plans' net cost: spending less their revenue), patients (out-of-pocket) "
        "or providers (their negative margin).",
    )

    @field_validator("subgroups")
    @classmethod
    def _subgroups(cls, v: list[str]) -> list[str]:
        for name in v:
            parts = name.split("*")
            bad = [p for p in parts if p not in SUBGROUP_DIMENSIONS]
            if bad:
                raise ValueError(
                    f"unknown subgroup dimension {bad[0]!r} in {name!r}; allowed: "
                    f"{', '.join(SUBGROUP_DIMENSIONS)} or a combination joined by '*'"
                )
            if len(set(parts)) != len(parts):
                raise ValueError(f"{name!r}: a dimension is repeated")
        if len(set(v)) != len(v):
            raise ValueError("each subgroup may be listed once")
        return v

    @field_validator("function_bands")
    @classmethod
    def _bands(cls, v: list[float]) -> list[float]:
        if not v or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("give at least one edge, strictly increasing")
        if v[0] <= 0 or v[-1] >= 100:
            raise ValueError("edges must lie strictly between 0 and 100")
        return v

    @field_validator("wtp")
    @classmethod
    def _wtp(cls, v: list[float]) -> list[float]:
        if not v or any(x < 0 for x in v):
            raise ValueError("give at least one threshold, none negative")
        return v

    @model_validator(mode="after")
    def _utility(self) -> AnalysisConfig:
        x, u = self.utility_function, self.utility_values
        if len(x) != len(u) or len(x) < 2:
            raise ValueError(
                "utility_function and utility_values: the same number of points, at least 2"
            )
        if x[0] != 0 or x[-1] != 100 or any(b <= a for a, b in itertools.pairwise(x)):
            raise ValueError("utility_function: strictly increasing from 0 to 100")
        if any(not -0.6 <= w <= 1 for w in u):
            raise ValueError("utility_values: each between -0.6 (worse than death) and 1")
        return self


def _inherit(data: Any, table: str, builtin: dict[str, BaseModel]) -> Any:
    """Entries of a named table that share a built-in entry's name start from its values."""
    if isinstance(data, dict) and isinstance(data.get(table), dict):
        merged = dict(data[table])
        for name, given in merged.items():
            if name in builtin and isinstance(given, dict):
                merged[name] = _deep_merge(builtin[name].model_dump(mode="json"), given)
        data = {**data, table: merged}
    return data


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = (
            _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def _month_of(start: Any, date: Any) -> int | None:
    """Months from ``start`` to ``date`` (calendar months), or None when either is unreadable
    (validation then reports the field)."""
    try:
        s = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
        d = date if isinstance(date, dt.date) else dt.date.fromisoformat(str(date))
    except ValueError:
        return None
    return (d.year - s.year) * 12 + (d.month - s.month)


def _add_months(start: Any, months: int) -> dt.date:
    s = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
    k = s.year * 12 + s.month - 1 + months
    return dt.date(k // 12, k % 12 + 1, 1)


def _switch_months(data: Any) -> Any:
    """Switches given as dates get their month, counted from the scenario's start. Where a
    month is given too (``--set arms.0.switches.0.month=30``, a sweep over switch months), the
    month wins and the date moves with it."""
    if not isinstance(data, dict) or not isinstance(data.get("arms"), list):
        return data
    start = data.get("start", dt.date(2025, 1, 1))
    arms = []
    for arm in data["arms"]:
        if isinstance(arm, dict) and isinstance(arm.get("switches"), list):
            switches = []
            for sw in arm["switches"]:
                if isinstance(sw, dict) and sw.get("date") is not None:
                    month = _month_of(start, sw["date"])
                    given = sw.get("month")
                    if isinstance(given, int) and not isinstance(given, bool) and given != month:
                        if month is not None:  # start and date readable: move the date
                            sw = {**sw, "date": _add_months(start, given)}
                    elif month is not None:
                        sw = {**sw, "month": month}
                switches.append(sw)
            arm = {**arm, "switches": switches}
        arms.append(arm)
    return {**data, "arms": arms}


class Scenario(Strict):
    """A scenario: the world (population, payers, settings, behaviour, pathway) and the arms
    compared on it under common random numbers. Built and validated once, up front
    (``load_scenario``, ``validate_scenario``)."""

    name: str = F("scenario", "name", "Scenario name; default results folder results/<name>/.")
    description: str = F("", "text", "What question the scenario asks.")
    months: int = F(60, "months", "Months simulated.", ge=1, le=1200)
    seed: int = F(
        20261127, "integer", "Root seed of the run (numpy SeedSequence).", ge=0, le=MAX_SEED
    )
    start: dt.date = F(
        dt.date(2025, 1, 1),
        "date",
        "Calendar month of month 0 (any day of it; e.g. 2017-10-01): the outputs carry calendar "
        "dates, deductibles and year-to-date out-of-pocket reset each calendar January, and "
        "policy switches may be given as dates.",
    )
    replications: int = F(
        1, "runs", "Independent replications (child seeds of the root seed).", ge=1, le=10_000
    )
    population: PopulationConfig = F(PopulationConfig(), "table", "The patients.")
    payers: dict[str, PayerConfig] = F(
        _default_payers(),
        "table",
        "Payers. Medicare Part B deductible from REFERENCE.md §3; commercial rates ≈ 1.4× "
        "Medicare, the $1,500 commercial deductible and the other-care amounts are assumptions.",
    )
    settings: dict[str, SettingConfig] = F(_default_settings(), "table", "Care settings, by name.")
    behaviour: BehaviourConfig = F(BehaviourConfig(), "table", "How providers decide and adapt.")
    pathway: PathwayConfig | None = F(
        None,
        "table",
        "The acute care pathway linking a hospital setting to post-acute settings; none: the "
        "settings are independent.",
    )
    supply: SupplyConfig = F(
        SupplyConfig(),
        "table",
        "The supply side: participation per payer, capacity and congestion, entry and exit.",
    )
    arms: list[ArmConfig] = F(..., "table", "Payment designs compared under common random numbers.")
    outputs: OutputsConfig = F(OutputsConfig(), "table", "What to write.")
    analysis: AnalysisConfig | None = F(
        None,
        "table",
        "Baseline arm, key measures, subgroups and health-economic outcomes; none: a run writes "
        "none of them.",
    )

    @model_validator(mode="before")
    @classmethod
    def _builtins(cls, data: Any) -> Any:
        data = _inherit(data, "settings", _default_settings())
        data = _switch_months(data)
        return _inherit(data, "payers", _default_payers())

    _start = field_validator("start", mode="before")(_iso_date)

    def date_of(self, month: int) -> dt.date:
        """The calendar month (its first day) of simulation month ``month``."""
        return _add_months(self.start, month)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_label(v, "scenario name")

    @model_validator(mode="after")
    def _cross(self) -> Scenario:
        _check_names(self.payers, "payers")
        _check_names(self.settings, "settings")
        _check_shares({k: v.share for k, v in self.payers.items()}, "payers")
        n_regions = len(self.population.regions)
        for name, st in self.settings.items():
            if st.providers.resolved_count(self.population.patients) < n_regions:
                raise ValueError(
                    f"settings.{name}.providers.count: needs at least one provider per region "
                    f"({n_regions} regions)"
                )
        if len(self.settings) > 32:
            raise ValueError("settings: at most 32 care settings")
        acute = self.pathway.acute_setting if self.pathway is not None else None
        for name, st in self.settings.items():
            if st.investments is None:
                continue
            for k, t in st.investments.types().items():
                if t.basis == "discharge" and name != acute:
                    raise ValueError(
                        f"settings.{name}.investments.{k}: a discharge-basis investment belongs "
                        f"to the acute setting of a [pathway]"
                        + (f" ({acute!r})" if acute else "; the scenario has none")
                    )
        if self.pathway is not None:
            self._check_pathway(self.pathway)
        for i, name in enumerate(self.supply.settings):
            if name not in self.settings:
                raise ValueError(
                    f"supply.settings.{i}: unknown setting {name!r}; allowed: "
                    f"{', '.join(map(repr, self.settings))}"
                )
        names = [a.name for a in self.arms]
        if not names:
            raise ValueError("arms: at least one arm is needed")
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"arms: names must be unique (repeated: {', '.join(sorted(dup))})")
        for i, arm in enumerate(self.arms):
            listed = [(f"arms.{i}.contracts.{j}", c) for j, c in enumerate(arm.contracts)]
            for k, w in enumerate(arm.switches):
                if w.month >= self.months:
                    raise ValueError(
                        f"arms.{i}.switches.{k}.month: {w.month} is not before the end "
                        f"(months = {self.months})"
                    )
                listed += [
                    (f"arms.{i}.switches.{k}.contracts.{j}", c) for j, c in enumerate(w.contracts)
                ]
            for where, c in listed:
                from sim.engine.payment import REGISTRY

                try:  # a contract may check its parameters against the world (conditions)
                    REGISTRY[c.model](c.params, tuple(self.population.conditions))
                except ValueError as exc:
                    raise ValueError(f"{where} ({c.model}): {exc}") from None
                if getattr(c.params, "scope", None) == "pathway":
                    acute = self.pathway.acute_setting if self.pathway else None
                    if c.setting != acute:
                        raise ValueError(
                            f"{where}.scope: 'pathway' reconciles a care pathway in its acute "
                            f"setting; "
                            + (
                                f"set setting = {acute!r}"
                                if acute
                                else "the scenario has no [pathway] table"
                            )
                        )
                if c.setting != WILDCARD and c.setting not in self.settings:
                    raise ValueError(
                        f"{where}.setting: unknown setting {c.setting!r}; allowed: "
                        f"'*', {', '.join(map(repr, self.settings))}"
                    )
                if c.payer != WILDCARD and c.payer not in self.payers:
                    raise ValueError(
                        f"{where}.payer: unknown payer {c.payer!r}; allowed: "
                        f"'*', {', '.join(map(repr, self.payers))}"
                    )
            for payer in self.payers:
                for setting in self.settings:
                    if arm.contract_for(payer, setting) is None:
                        raise ValueError(
                            f"arms.{i} ({arm.name}): no contract covers payer {payer!r} in "
                            f"setting {setting!r}"
                        )
        if self.analysis is not None:
            self._check_analysis(self.analysis, names)
        return self

    def _check_analysis(self, an: AnalysisConfig, arms: list[str]) -> None:
        from sim.scenario import key_measures as measures

        if an.baseline is not None and an.baseline not in arms:
            raise ValueError(
                f"analysis.baseline: unknown arm {an.baseline!r}; allowed: "
                f"{', '.join(map(repr, arms))}"
            )
        for i, name in enumerate(an.key_measures):
            problem = measures.check(name, list(self.settings))
            if problem:
                raise ValueError(f"analysis.key_measures.{i}: {problem}")

    @property
    def baseline(self) -> str:
        """The counterfactual arm: ``analysis.baseline``, else the first arm."""
        if self.analysis is not None and self.analysis.baseline is not None:
            return self.analysis.baseline
        return self.arms[0].name

    def _check_pathway(self, pw: PathwayConfig) -> None:
        order = list(self.settings)
        if pw.acute_setting not in self.settings:
            raise ValueError(
                f"pathway.acute_setting: unknown setting {pw.acute_setting!r}; allowed: "
                f"{', '.join(map(repr, order))}"
            )
        for name in pw.destinations:
            if name not in self.settings or name == pw.acute_setting:
                others = [n for n in order if n != pw.acute_setting]
                raise ValueError(
                    f"pathway.destinations.{name}: not a post-acute setting of the scenario; "
                    f"allowed: {', '.join(map(repr, others))}"
                )
            if order.index(name) < order.index(pw.acute_setting):
                raise ValueError(
                    f"pathway.destinations.{name}: list the setting after the acute setting "
                    f"{pw.acute_setting!r} in [settings] (settings run in that order each month)"
                )

    def investment_counterfactuals(self) -> dict[str, str]:
        """Arms with the investment option, each mapped to the arm with the same contracts and
        switches and the option switched off (when the scenario has one)."""

        def design(a: ArmConfig) -> Any:
            return a.model_dump(include={"contracts", "switches"})

        off = {id(a): a for a in self.arms if not a.investments}
        out = {}
        for a in self.arms:
            if a.investments:
                match = [b for b in off.values() if design(b) == design(a)]
                if match:
                    out[a.name] = match[0].name
        return out

    def arm(self, name: str) -> ArmConfig:
        """The arm called ``name`` (KeyError if none)."""
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# Loading


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``dotted.key=value``; the value is read as TOML (``3``, ``"x"``, ``[1, 2]``, ``true``)
    and falls back to a bare string."""
    if "=" not in text:
        raise ScenarioError("--set", text, "expected dotted.key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ScenarioError("--set", text, "expected dotted.key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except RecursionError:
        raise ScenarioError("--set", text[:60], "value nested too deeply") from None
    return key.split("."), value


def _builtin_tables() -> dict[tuple[str, ...], dict[str, BaseModel]]:
    return {
        ("settings",): _default_settings(),
        ("payers",): _default_payers(),
        ("population", "conditions"): _default_conditions(),
        ("population", "regions"): {"national": RegionConfig()},
    }


def apply_override(data: dict[str, Any], path: list[str], value: Any, source: str) -> None:
    """Set ``data[path] = value``. Overriding inside a built-in named table the data does not
    define (``settings``, ``payers``, ``population.conditions``, ``population.regions``) first
    copies the built-in table in, so its other entries and fields keep their defaults.

    A numpy scalar (from a design or an optimiser) is set as the Python number it holds, so the
    strict schema sees an ``int`` or ``float``."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    for prefix, table in _builtin_tables().items():
        if len(path) > len(prefix) and tuple(path[: len(prefix)]) == prefix:
            node = data
            for part in prefix[:-1]:
                node = node.setdefault(part, {}) if isinstance(node, dict) else node
            if isinstance(node, dict) and prefix[-1] not in node:
                node[prefix[-1]] = {k: v.model_dump(mode="json") for k, v in table.items()}
    node: Any = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(
                    source, ".".join(path[: i + 1]), f"index must be 0..{len(node) - 1}"
                )
            idx = int(part)
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ScenarioError(
                source, ".".join(path[:i]), "is a value, not a table; cannot set a key inside it"
            )


def _describe(err: Any) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()))
    msg = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    elif "input" in err and err.get("type") != "missing":
        shown = repr(err["input"])
        if len(shown) <= 60 and not isinstance(err["input"], dict | list):
            msg += f" (got {shown})"
    return f"{loc}: {msg}" if loc else msg


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file. Errors raise :class:`ScenarioError`.

    A top-level ``include = ["params.toml"]`` applies parameter files first
    (:mod:`sim.scenario.parameters`, docs/calibration.md); ``overrides`` come after them."""
    path = Path(path)
    source = str(path)
    data = read_scenario_data(path, source)
    for item in overrides or []:
        keys, value = parse_override(item)
        apply_override(data, keys, value, f"{source} (--set {item})")
    return validate_scenario(data, source)


def read_scenario_data(path: Path, source: str, field: str | None = None) -> dict[str, Any]:
    """A scenario file's data, named after the file by default, with the parameter files it
    includes applied (``include``, :func:`sim.scenario.parameters.with_includes`)."""
    from sim.scenario.parameters import with_includes

    data = parse_toml(read_input(path, source if field else None, field), str(path))
    data.setdefault("name", path.stem)
    return with_includes(data, path, str(path), validate_scenario)


def validate_scenario(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a dict (from TOML, JSON or code); errors raise
    :class:`~sim.errors.ScenarioError` naming ``source`` and the field."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError.from_validation(source, exc) from None
    except RecursionError:
        raise ScenarioError(source, None, "values nested too deeply") from None
