"""Typed, validated scenarios.

A scenario file (TOML) describes one world: a population of patients, care settings with their
providers, payers, provider behaviour, and the *arms* to compare (payment designs) under common
random numbers. It is validated once, up front, into frozen objects; nothing downstream
re-checks it.

One module per table of a scenario file, each with the checks of that table against the rest
of the scenario (the root model runs them, in a fixed order):

============================================  ==================================================
table                                         module
============================================  ==================================================
the root (``name``, ``months``, ``seed``...)  :mod:`~sim.scenario.scenario` (``Scenario``)
``[population]`` (conditions, regions)        :mod:`~sim.scenario.population`
``[payers.<name>]`` (benefit design)          :mod:`~sim.scenario.payers`
``[settings.<name>]`` (providers, therapy,    :mod:`~sim.scenario.settings`
adverse events)
``[settings.<name>.investments]``             :mod:`~sim.scenario.investments`
``[behaviour]`` (bunching, upcoding,          :mod:`~sim.scenario.behaviour`
selection)
``[supply]`` (participation, capacity,        :mod:`~sim.scenario.supply`
market)
``[pathway]`` (destinations, network)         :mod:`~sim.scenario.pathway`
``[life]`` (age, deaths, entries)             :mod:`~sim.scenario.life`
``[trends]`` (price updates, intensity)       :mod:`~sim.scenario.trends`
``[[arms.contracts]]``                        :mod:`~sim.scenario.contracts`
``[[arms]]`` (switches)                       :mod:`~sim.scenario.arms`
``[outputs]``, ``[analysis]``                 :mod:`~sim.scenario.analysis`
============================================  ==================================================

What the tables share (the strict base model, fields with a unit, name and share checks,
limits) is in :mod:`~sim.scenario.common`; reading files, ``include`` and ``--set`` in
:mod:`~sim.scenario.loading`. The tables of the engine's optional features (therapy,
investments, pathway, the behaviours, the supply side) are part of this schema, not of
``sim/engine/features/``: the schema reaches into the engine only for its rule book (payment,
billing, rules). Beside the scenario: the sweep file's schema (:mod:`~sim.scenario.sweep`),
parameter files (:mod:`~sim.scenario.parameters`), the key measures
(:mod:`~sim.scenario.key_measures`) and the shipped scenarios (:mod:`~sim.scenario.catalog`).

Every name below is importable from ``sim.scenario``.
"""

from __future__ import annotations

from sim.scenario.analysis import PERSPECTIVES, SUBGROUP_DIMENSIONS, AnalysisConfig, OutputsConfig
from sim.scenario.arms import ArmConfig, SwitchConfig
from sim.scenario.behaviour import (
    BehaviourConfig,
    BunchingConfig,
    SelectionConfig,
    UpcodingConfig,
)
from sim.scenario.common import MAX_MAGNITUDE, MAX_PATIENTS, WILDCARD, F, Strict, check_label
from sim.scenario.contracts import ContractConfig
from sim.scenario.investments import INVESTMENT_TYPES, InvestmentsConfig, InvestmentType
from sim.scenario.life import LifeConfig, LifeSettingConfig
from sim.scenario.loading import (
    apply_override,
    load_scenario,
    parse_override,
    read_scenario_data,
    validate_scenario,
)
from sim.scenario.pathway import DestinationConfig, NetworkConfig, PathwayConfig
from sim.scenario.payers import BenefitDesign, PayerConfig
from sim.scenario.population import ConditionConfig, PopulationConfig, RegionConfig
from sim.scenario.scenario import Scenario
from sim.scenario.settings import (
    AdverseEventConfig,
    DistributionConfig,
    ProvidersConfig,
    SettingConfig,
    StaffingConfig,
    TherapyConfig,
)
from sim.scenario.supply import CapacityConfig, MarketConfig, ParticipationConfig, SupplyConfig
from sim.scenario.trends import TrendsConfig

__all__ = [
    "INVESTMENT_TYPES",
    "MAX_MAGNITUDE",
    "MAX_PATIENTS",
    "PERSPECTIVES",
    "SUBGROUP_DIMENSIONS",
    "WILDCARD",
    "AdverseEventConfig",
    "AnalysisConfig",
    "ArmConfig",
    "BehaviourConfig",
    "BenefitDesign",
    "BunchingConfig",
    "CapacityConfig",
    "ConditionConfig",
    "ContractConfig",
    "DestinationConfig",
    "DistributionConfig",
    "F",
    "InvestmentType",
    "InvestmentsConfig",
    "LifeConfig",
    "LifeSettingConfig",
    "MarketConfig",
    "NetworkConfig",
    "OutputsConfig",
    "ParticipationConfig",
    "PathwayConfig",
    "PayerConfig",
    "PopulationConfig",
    "ProvidersConfig",
    "RegionConfig",
    "Scenario",
    "SelectionConfig",
    "SettingConfig",
    "StaffingConfig",
    "Strict",
    "SupplyConfig",
    "SwitchConfig",
    "TherapyConfig",
    "TrendsConfig",
    "UpcodingConfig",
    "apply_override",
    "check_label",
    "load_scenario",
    "parse_override",
    "read_scenario_data",
    "validate_scenario",
]
