"""``[outputs]`` and ``[analysis]``: what a run writes, and what its analysis asks (baseline arm,
key measures, subgroups, health-economic outcomes)."""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import field_validator, model_validator

from sim.scenario.common import F, Strict


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
SUBGROUP_DIMENSIONS = (
    "risk_quantile",
    "condition",
    "payer",
    "function_band",
    "region",
    "age_band",
    "sex",
)
#: the dimensions that need the life course (``[life]``: age and sex)
LIFE_DIMENSIONS = ("age_band", "sex")
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
        "(function band: function at month 0; age band: age at month 0, or at entry for a "
        "new beneficiary), so patients do not move between groups; with [life] they enter and "
        "die. age_band and sex need the [life] table.",
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
    age_bands: list[float] = F(
        [75.0, 85.0],
        "years",
        "Edges of the age_band subgroup (age at month 0, or at entry; increasing, within "
        "65-120): the default gives 65-74, 75-84 and 85+.",
    )
    discount_rate: float = F(
        0.03,
        "fraction/year",
        "Annual discount rate of QALYs and costs (3%: the Second Panel on Cost-Effectiveness "
        "in Health and Medicine, Sanders et al. 2016 JAMA 316:1093 [@sanders2016]), applied "
        "monthly as "
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
        "$150,000 per QALY; Neumann, Cohen & Weinstein 2014 NEJM 371:796 [@neumann2014]).",
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

    @field_validator("age_bands")
    @classmethod
    def _age_bands(cls, v: list[float]) -> list[float]:
        if not v or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("give at least one edge, strictly increasing")
        if v[0] <= 65 or v[-1] >= 120:
            raise ValueError("edges must lie strictly between 65 and 120")
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


def check_analysis(
    an: AnalysisConfig, arms: list[str], settings: list[str], life: object | None = None
) -> None:
    """The baseline is an arm of the scenario, each key measure one the catalogue has for
    the scenario's settings (:mod:`sim.scenario.key_measures`), and subgroups by age or sex
    come with a life course (``life``: the scenario's ``[life]`` table, or None)."""
    from sim.scenario import key_measures as measures

    if life is None:
        for i, name in enumerate(an.subgroups):
            need = [p for p in name.split("*") if p in LIFE_DIMENSIONS]
            if need:
                raise ValueError(
                    f"analysis.subgroups.{i}: {need[0]!r} needs the [life] table (patients "
                    "have an age and a sex only with a life course); add [life] or drop it"
                )
    if an.baseline is not None and an.baseline not in arms:
        raise ValueError(
            f"analysis.baseline: unknown arm {an.baseline!r}; allowed: {', '.join(map(repr, arms))}"
        )
    for i, name in enumerate(an.key_measures):
        problem = measures.check(name, settings)
        if problem:
            raise ValueError(f"analysis.key_measures.{i}: {problem}")
