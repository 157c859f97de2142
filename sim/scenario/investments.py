"""``[settings.<name>.investments]``: investments a setting's providers can make that lower
future need, and their check against the pathway (a discharge-basis investment belongs to the
acute setting)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import model_validator

from sim.scenario.common import F, Strict

if TYPE_CHECKING:
    from sim.scenario.pathway import PathwayConfig
    from sim.scenario.settings import SettingConfig


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


def check_investments(settings: dict[str, SettingConfig], pathway: PathwayConfig | None) -> None:
    """A discharge-basis investment is offered only by the acute setting of the pathway."""
    acute = pathway.acute_setting if pathway is not None else None
    for name, st in settings.items():
        if st.investments is None:
            continue
        for k, t in st.investments.types().items():
            if t.basis == "discharge" and name != acute:
                raise ValueError(
                    f"settings.{name}.investments.{k}: a discharge-basis investment belongs "
                    f"to the acute setting of a [pathway]"
                    + (f" ({acute!r})" if acute else "; the scenario has none")
                )
