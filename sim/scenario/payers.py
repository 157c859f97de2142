"""``[payers.<name>]``: who pays, at what rate level, with what deductible and benefit
design; the built-in payers."""

from __future__ import annotations

from sim.scenario.common import F, Strict


class BenefitDesign(Strict):
    """The patients' cost sharing a payer's coverage sets, whatever pays the provider."""

    coinsurance: float = F(
        0.2,
        "fraction",
        "Patient share of the fee-schedule value of services after the deductible (Part B: "
        "20% [@cms_partb2025]).",
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
        "Annual deductible (Medicare Part B 2025: $257 [@cms_partb2025]).",
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


def default_payers() -> dict[str, PayerConfig]:
    """The built-in payers: Medicare fee-for-service and a commercial insurer."""
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
