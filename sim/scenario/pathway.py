"""``[pathway]``: the acute care pathway, its post-acute destinations and preferred network,
and its check against the settings."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from pydantic import ValidationInfo, field_validator

from sim.scenario.common import MAX_MAGNITUDE, F, Strict


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
    hospital_sd: float = F(
        0.0,
        "log-odds",
        "Between-hospital spread of discharge practice: each hospital leans toward this "
        "destination (rather than home) by its own amount, drawn once per hospital from a "
        "normal with mean 0 and this standard deviation on the log-odds of the choice "
        "(× choice_scale in the utility's dollars); the habits, referral relationships and "
        "local supply that make hospitals differ in post-acute use at the same prices and "
        "patients. 0: every hospital alike. A cross-sectional pattern: most of the variation "
        "in episode spending between hospitals is in post-acute care.",
        ge=0,
        le=5,
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
        "[@cms_cjr2015]); readmissions inside it belong to it.",
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


def check_pathway(pw: PathwayConfig, settings: Collection[str]) -> None:
    """The acute setting and the destinations are settings of the scenario, each destination
    listed after the acute setting (settings run in scenario order each month)."""
    order = list(settings)
    if pw.acute_setting not in settings:
        raise ValueError(
            f"pathway.acute_setting: unknown setting {pw.acute_setting!r}; allowed: "
            f"{', '.join(map(repr, order))}"
        )
    for name in pw.destinations:
        if name not in settings or name == pw.acute_setting:
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
