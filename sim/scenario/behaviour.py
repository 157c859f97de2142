"""``[behaviour]``: how providers decide and adapt, and the behaviours that can be switched on
(bunching at thresholds, upcoding, selection of patients)."""

from __future__ import annotations

from typing import Literal

from sim.scenario.common import F, Strict


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
    groups); patients' health does not. ``fixed``: a given inflation, the same for every
    payer; ``decision``: each provider chooses how hard to code each payer's risk scores from
    what the payer's contract pays for coding, against a convex cost of coding (docs/ODD.md,
    "Coding")."""

    enabled: bool = F(False, "flag", "Switch the behaviour on.")
    mode: Literal["fixed", "decision"] = F(
        "fixed",
        "choice",
        "fixed: upcoding providers code risk scores risk_inflation higher and function "
        "function_shift lower, whatever the contract; decision: each provider chooses the "
        "relative coding intensity k of each payer's risk scores (coded = true × (1 + k), "
        "0 ≤ k ≤ max_risk_inflation) that maximises what the payer's contract pays for coding "
        "less its cost, coding_cost × V × k²/2 per patient-month in care (V: the fee-schedule "
        "value of a month of patient-optimal care), so k* = (what coding earns per unit of k) "
        "/ (patients in care × coding_cost × V): positive where payment is risk-adjusted, 0 "
        "under fee-for-service; k moves toward k* at the provider's adaptation speed each month "
        "(at once in optimal mode). Function is coded as it is in this mode (docs/ODD.md, "
        "'Coding').",
    )
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
    coding_cost: float = F(
        16.0,
        "ratio",
        "Mode decision: κ, the cost of coding at intensity k per patient-month in care, κ·V·k²/2, "
        "in units of V, the fee-schedule value of a month of patient-optimal care at the "
        "provider (optimal_units × its region's fee per unit). A risk-adjusted PMPM that pays "
        "what its members' optimal care is worth on the fee schedule makes k* = mean risk / κ: "
        "16 gives 6.25%, the coding intensity of Medicare Advantage over traditional Medicare "
        "for the same people (6.4%: Geruso & Layton 2020, J Polit Econ 128:984; Kronick & Welch "
        "2014, MMRR 4(2)); the cost itself is an assumption.",
        gt=0,
        le=1e6,
    )
    max_risk_inflation: float = F(
        0.3,
        "fraction",
        "Mode decision: the most a provider can code risk scores above the true ones (assumption).",
        ge=0,
        le=1,
    )


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


class AdmissionConfig(Strict):
    """The extensive margin: whether a need becomes a case with the provider (admission,
    acceptance, start of care, readmission) is the provider's decision, at the contract's
    price of a case (each setting's ``admission`` table gives its scale and gray area)."""

    enabled: bool = F(
        False,
        "flag",
        "Providers decide which new cases to take: a logit in the case's net value to them "
        "(the contract's price of the case and of its units, less its cost, plus their weight "
        "on the patient's benefit against the alternative); turned-away patients go to the "
        "setting's alternative. Replaces behaviour.selection and supply.participation, which "
        "must then be off.",
    )


class BehaviourConfig(Strict):
    """How providers decide and adapt (Ellis & McGuire's objective, learnt from experience)."""

    mode: Literal["learning", "optimal", "fixed", "best_response"] = F(
        "learning",
        "choice",
        "learning: providers adapt one practice style per provider from experience; optimal: "
        "each plays the style's closed-form best response at once [@ellis1986]; fixed: "
        "styles never move; best_response: providers compute the rules they are told about — "
        "each patient's units are the best response to the contract's prices for that patient "
        "where it stands (thresholds, caps, per diems by day of stay, limits), and after a "
        "change of rules practice moves toward the new best response at the provider's "
        "adjustment speed per month (partial adjustment; docs/ODD.md).",
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
        "Size of the payer-specific part of a provider's practice: of every learnt style (θ: "
        "units, and so length of stay in a day-of-stay setting; a therapy setting's minutes "
        "per day), and of a best-responding provider's planned units. 0, one norm for all of "
        "a provider's patients, which responds to every payer's incentives weighted by its "
        "share of the provider's patients (best response: the share-weighted mean of its "
        "best responses to each payer's prices for the patient); 1, a fully separate style "
        "per payer, learnt from that payer's patients alone (best response: each patient "
        "planned at its own payer's prices); in between, the norm plus that share of the "
        "difference. Physicians' treatment follows the payer mix of their whole panel (Glied "
        "& Zivin 2002, J Health Econ 21:337 [@glied2002]; the size is an assumption, and the "
        "base world calibrates it).",
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
    admission: AdmissionConfig = F(
        AdmissionConfig(), "table", "The extensive margin: which new cases providers take."
    )
