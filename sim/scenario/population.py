"""``[population]``: the patients, their condition groups and regions."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from sim.guards.limits import gb, patient_bytes
from sim.scenario.common import MAX_PATIENTS, F, Strict, check_names, check_shares, inherit


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


def default_conditions() -> dict[str, ConditionConfig]:
    """The built-in condition groups."""
    return {
        "musculoskeletal": ConditionConfig(share=0.5, need_multiplier=1.2),
        "neurological": ConditionConfig(share=0.2, need_multiplier=1.0, intensity_multiplier=1.3),
        "medical_complex": ConditionConfig(
            share=0.3, need_multiplier=0.8, intensity_multiplier=0.9
        ),
    }


def default_regions() -> dict[str, RegionConfig]:
    """The built-in region: one, national."""
    return {"national": RegionConfig()}


class PopulationConfig(Strict):
    """The patients: how many, and the distributions of their characteristics."""

    patients: int = F(
        100_000, "persons", f"Number of patients simulated (at most {MAX_PATIENTS:,}).", ge=1
    )
    risk_sigma: float = F(
        0.5,
        "log-sd",
        "Spread of the comorbidity risk score (lognormal, normalised to mean 1.0 as CMS-HCC "
        "scores are [@medpac2024]).",
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
        default_conditions(),
        "table",
        "Condition groups (case-mix dimension of bundles).",
    )
    regions: dict[str, RegionConfig] = F(
        default_regions(),
        "table",
        "Regions with their Medicare geographic practice cost indices.",
    )

    @model_validator(mode="before")
    @classmethod
    def _builtins(cls, data: Any) -> Any:
        data = inherit(data, "conditions", default_conditions())
        return inherit(data, "regions", default_regions())

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
            check_names(table, name)
            check_shares({k: v.share for k, v in table.items()}, name)
        return self
