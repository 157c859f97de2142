"""``[life]``: age, sex, deaths and new beneficiaries (the life course). Without the table the
population is a closed cohort without age, no one dies, and every output is as before.

The life table, the starting ages and the need gradient by age are in
:mod:`sim.engine.lifetable` (with their sources); what happens each month in
:mod:`sim.engine.month.lifecourse`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from sim.scenario.common import F, Strict


class LifeSettingConfig(Strict):
    """Excess mortality after care in one setting: case fatality of an admission and of an
    adverse event, on top of the life table's hazard."""

    admission_fatality: float = F(
        0.0,
        "probability",
        "Probability that a patient admitted this month (an episode of the setting taken to a "
        "provider) dies within the month, beyond the life table's hazard: the case fatality of "
        "the admission (e.g. 30-day mortality after a hospital admission for heart failure "
        "≈ 0.12; set it from the conditions the setting treats).",
        ge=0,
        le=1,
    )
    condition_admission_fatality: dict[str, float] = F(
        {},
        "probability",
        "admission_fatality of particular condition groups (by name), in place of the setting's.",
    )
    adverse_event_fatality: float = F(
        0.0,
        "probability",
        "Probability that an adverse event in the setting is fatal within its month (beyond "
        "the life table's hazard).",
        ge=0,
        le=1,
    )

    @model_validator(mode="after")
    def _probabilities(self) -> LifeSettingConfig:
        for name, p in self.condition_admission_fatality.items():
            if not 0 <= p <= 1:
                raise ValueError(
                    f"condition_admission_fatality.{name}: a probability between 0 and 1"
                )
        return self


class LifeConfig(Strict):
    """The life course: every patient has an age and a sex, dies with a monthly probability
    from the life table (scaled by risk and low function, raised after admissions and adverse
    events), and new beneficiaries enter at 65."""

    age_shares: list[float] = F(
        [0.582, 0.296, 0.122],
        "fractions",
        "Shares of the starting population aged 65-74, 75-84 and 85 and over (default: the "
        "US population 65+ in 2019, 31.5 / 16.0 / 6.6 million; Administration for Community "
        "Living, 2020 Profile of Older Americans, from Census Bureau estimates). Within a band, "
        "ages and sexes follow the life table's survivors (sim/engine/lifetable.py).",
    )
    female_share_at_65: float = F(
        0.52,
        "fraction",
        "Share of women among people reaching 65, for the entrants and for the sex ratio of "
        "the starting ages (approx.: about 92 men per 100 women at 65 in Census Bureau "
        "estimates; written from memory, check before relying on it).",
        ge=0,
        le=1,
    )
    mortality_multiplier: float = F(
        1.0,
        "ratio",
        "Multiplies every death probability of the life table (1: the table).",
        ge=0,
        le=10,
    )
    risk_elasticity: float = F(
        1.0,
        "ratio",
        "The death hazard scales with risk_score ** this, normalised to mean 1 over the "
        "starting population so that the table holds on average (assumption: CMS-HCC scores "
        "predict mortality; 0 switches it off).",
        ge=0,
        le=5,
    )
    function_slope: float = F(
        1.0,
        "ratio",
        "The death hazard scales with 1 + this × (100 − function) / 100, normalised to mean 1 "
        "over the starting population (assumption: low function predicts death; 0 switches "
        "it off).",
        ge=0,
        le=10,
    )
    need_by_age: bool = F(
        True,
        "flag",
        "Scale each patient's probability of a new need by the CMS-HCC demographic factor of "
        "its age and sex, relative to the starting population's mean (need rises with age as "
        "expected cost does; sim/engine/lifetable.py).",
    )
    entries: Literal["replacement", "none", "rate"] = F(
        "replacement",
        "choice",
        "New beneficiaries at 65: replacement (as many, in expectation, as the starting "
        "population's deaths by the life table: a population of stable size that keeps "
        "turning over), none (a closed cohort that ages) or rate (entry_rate a year).",
    )
    entry_rate: float = F(
        0.07,
        "fraction/year",
        "With entries = rate: entrants a year as a share of the starting population (≈ 0.07: "
        "Medicare's aged enrolment grew 2.6% from 2021 to 2022, 55.85 to 57.30 million, CMS "
        "Medicare Monthly Enrollment, with about 4.4% dying a year by the life table).",
        ge=0,
        le=1,
    )
    settings: dict[str, LifeSettingConfig] = F(
        {},
        "table",
        "Excess mortality after care, by setting (settings not listed: none).",
    )

    @model_validator(mode="after")
    def _shares(self) -> LifeConfig:
        shares = self.age_shares
        if len(shares) != 3 or any(s < 0 for s in shares) or abs(sum(shares) - 1) > 1e-6:
            raise ValueError(
                "age_shares: three shares (65-74, 75-84, 85+), none negative, summing to 1"
            )
        return self


def check_life(life: LifeConfig, settings: list[str], conditions: list[str]) -> None:
    """``life.settings`` names settings of the scenario, and their condition groups the
    scenario's."""
    for name, st in life.settings.items():
        if name not in settings:
            raise ValueError(
                f"life.settings.{name}: unknown setting; allowed: {', '.join(settings)}"
            )
        for cond in st.condition_admission_fatality:
            if cond not in conditions:
                raise ValueError(
                    f"life.settings.{name}.condition_admission_fatality.{cond}: unknown "
                    f"condition group; allowed: {', '.join(conditions)}"
                )
