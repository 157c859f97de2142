"""The root of the schema: a :class:`Scenario` holds every table and runs the checks across
tables, each written beside the table it concerns."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import field_validator, model_validator

from sim.guards.limits import MAX_SEED
from sim.scenario.analysis import AnalysisConfig, OutputsConfig, check_analysis
from sim.scenario.arms import ArmConfig, add_months, check_arms, switch_months
from sim.scenario.behaviour import BehaviourConfig
from sim.scenario.common import F, Strict, check_label, check_names, check_shares, inherit, iso_date
from sim.scenario.investments import check_investments
from sim.scenario.life import LifeConfig, check_life
from sim.scenario.pathway import PathwayConfig, check_pathway
from sim.scenario.payers import PayerConfig, default_payers
from sim.scenario.population import PopulationConfig
from sim.scenario.settings import (
    SettingConfig,
    check_admission,
    check_settings,
    default_settings,
)
from sim.scenario.supply import SupplyConfig, check_supply
from sim.scenario.trends import TrendsConfig


class Scenario(Strict):
    """A scenario: the world (population, payers, settings, behaviour, pathway) and the arms
    compared on it under common random numbers. Built and validated once, up front
    (``load_scenario``, ``validate_scenario``)."""

    name: str = F("scenario", "name", "Scenario name; default results folder results/<name>/.")
    description: str = F("", "text", "What question the scenario asks.")
    world: str | None = F(
        None,
        "path / name",
        "In a file: the world file the scenario is built on (relative to the file; "
        "sim.scenario.world): the base world's population, settings, providers and behaviour, "
        "under the scenario's own values. Once applied: the world's name.",
    )
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
        default_payers(),
        "table",
        "Payers. Medicare Part B deductible from [@cms_partb2025]; commercial rates ≈ 1.4× "
        "Medicare, the $1,500 commercial deductible and the other-care amounts are assumptions.",
    )
    settings: dict[str, SettingConfig] = F(default_settings(), "table", "Care settings, by name.")
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
    life: LifeConfig | None = F(
        None,
        "table",
        "The life course: age, sex, deaths (a life table scaled by risk and function, raised "
        "after admissions and adverse events) and new beneficiaries at 65; none: a closed "
        "cohort without age, in which no one dies.",
    )
    trends: TrendsConfig | None = F(
        None,
        "table",
        "Annual price updates and secular intensity growth, the same in every arm; none: "
        "prices and practice stay where they start.",
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
        data = inherit(data, "settings", default_settings())
        data = switch_months(data)
        return inherit(data, "payers", default_payers())

    _start = field_validator("start", mode="before")(iso_date)

    def date_of(self, month: int) -> dt.date:
        """The calendar month (its first day) of simulation month ``month``."""
        return add_months(self.start, month)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_label(v, "scenario name")

    @model_validator(mode="after")
    def _cross(self) -> Scenario:
        """The checks across tables, each beside the table it concerns, in this order (the
        first that fails is reported)."""
        check_names(self.payers, "payers")
        check_names(self.settings, "settings")
        check_shares({k: v.share for k, v in self.payers.items()}, "payers")
        check_settings(self.settings, self.population)
        check_investments(self.settings, self.pathway)
        if self.pathway is not None:
            check_pathway(self.pathway, self.settings)
        check_supply(self.supply, self.settings)
        check_admission(self.behaviour, self.supply)
        if self.life is not None:
            check_life(self.life, list(self.settings), list(self.population.conditions))
        check_arms(self)
        if self.analysis is not None:
            check_analysis(
                self.analysis, [a.name for a in self.arms], list(self.settings), self.life
            )
        return self

    @property
    def baseline(self) -> str:
        """The counterfactual arm: ``analysis.baseline``, else the first arm."""
        if self.analysis is not None and self.analysis.baseline is not None:
            return self.analysis.baseline
        return self.arms[0].name

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
