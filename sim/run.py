"""Running a scenario: every arm under common random numbers, every replicate.

``run(scenario)`` is a pure function of (scenario, seed): no module-level state, so a sweep can
call it in any process. It returns the tables; :func:`sim.outputs.write_results` writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sim.model import STREAMS, HealthSystemModel
from sim.outputs import MONTHLY_COLUMNS, PROVIDER_COLUMNS, SUMMARY_COLUMNS, frame, summarize
from sim.scenario import Scenario

#: progress callback: (months done, months in all, patient-months done)
Progress = Callable[[int, int, int], None]


@dataclass
class RunResult:
    """The tables of a run (monthly, summary, provider panel or None) with its scenario, seed,
    arms and the money ledgers of each arm and replicate; :meth:`metadata` for provenance."""

    scenario: Scenario
    seed: int
    arms: list[str]
    monthly: pd.DataFrame
    summary: pd.DataFrame
    providers: pd.DataFrame | None
    ledgers: list[dict[str, Any]] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """What a results folder's ``metadata.json`` records: the scenario as loaded, seed,
        replicates, arms, random streams, package version, library versions, git commit."""
        from sim.outputs import provenance, versions

        return {
            "scenario": self.scenario.model_dump(mode="json"),
            "seed": self.seed,
            "replicates": self.scenario.replications,
            "arms": self.arms,
            "random_streams": {
                "method": "numpy.random.SeedSequence(seed, spawn_key=(replicate,)).spawn("
                f"{len(STREAMS)}); every arm of a replicate uses the same streams "
                "(common random numbers)",
                "streams": list(STREAMS),
            },
            "versions": versions(),
            **provenance(),
        }


def run(
    scenario: Scenario,
    *,
    seed: int | None = None,
    arms: Sequence[str] | None = None,
    progress: Progress | None = None,
    replicate: int | None = None,
) -> RunResult:
    """Run every replicate of every arm; return the monthly table, summary and panels.

    ``replicate`` runs that one replication only (a sweep's run), with the same streams it has
    in a full run."""
    seed = scenario.seed if seed is None else seed
    arm_names = list(arms) if arms else [a.name for a in scenario.arms]
    for a in arm_names:
        scenario.arm(a)  # KeyError for unknown arms is the caller's to report
    months = scenario.months
    replicates = range(scenario.replications) if replicate is None else [replicate]
    total = months * len(arm_names) * len(replicates)
    done = 0
    rows: list[dict[str, Any]] = []
    prov_rows: list[dict[str, Any]] = []
    ledgers = []
    n = scenario.population.patients
    for rep in replicates:
        for arm in arm_names:
            model = HealthSystemModel(scenario, arm, rng=seed, replicate=rep)
            for _ in range(months):
                model.step()
                done += 1
                if progress is not None:
                    progress(done, total, done * n)
            tag = {"arm": arm, "replicate": rep, "seed": seed}
            rows.extend({**tag, **r} for r in model.rows)
            prov_rows.extend({**tag, **r} for r in model.provider_rows)
            book = model.world.ledgers
            ledgers.append(
                {
                    **tag,
                    "payer_paid": float(book.payer.sum()),
                    "payer_paid_adverse_events": float(book.payer_adverse_events.sum()),
                    "patients_paid": float(book.oop.sum()),
                    "providers_received": float(sum(x.sum() for x in book.provider)),
                }
            )
    monthly = frame(rows, MONTHLY_COLUMNS)
    providers = frame(prov_rows, PROVIDER_COLUMNS) if scenario.outputs.provider_panel else None
    return RunResult(
        scenario=scenario,
        seed=seed,
        arms=arm_names,
        monthly=monthly,
        summary=summarize(monthly, scenario.investment_counterfactuals()),
        providers=providers,
        ledgers=ledgers,
    )


def evaluate(
    scenario: Scenario,
    params: Mapping[str, Any] | None = None,
    *,
    arm: str | None = None,
    seed: int | None = None,
    replicate: int = 0,
    setting: str = "all",
) -> dict[str, float]:
    """Run one arm of a scenario with some fields changed and return its summary outcomes.

    ``params`` maps dotted scenario fields to values, as in ``--set``. A plain function of
    (scenario, params, seed): call it from SALib, EMA Workbench or any optimiser.

    >>> evaluate(sc, {"settings.outpatient_therapy.conversion_factor": 30.0}, arm="ffs")
    {'spending_pmpm': ..., 'oop_pmpm': ..., ...}
    """
    if params:
        from sim.scenario import apply_override, validate_scenario

        data = scenario.model_dump(mode="json")
        for key, value in params.items():
            apply_override(data, key.split("."), value, "evaluate(params)")
        scenario = validate_scenario(data, "evaluate(params)")
    arm = arm or scenario.arms[0].name
    result = run(scenario, seed=seed, arms=[arm], replicate=replicate)
    row = result.summary[result.summary["setting"] == setting].iloc[0]
    return {
        k: float(row[k])
        for k, (dtype, _, _) in SUMMARY_COLUMNS.items()
        if dtype in ("float64", "int64") and k not in ("replicates", "member_months")
    }


def make_function(
    scenario: Scenario,
    names: Mapping[str, str],
    *,
    arm: str | None = None,
    seed: int | None = None,
    setting: str = "all",
) -> Callable[..., dict[str, float]]:
    """A keyword-argument function for tools that call models by parameter name (EMA
    Workbench's ``Model(function=...)``): ``names`` maps each keyword to a dotted field."""

    def model_function(**kwargs: Any) -> dict[str, float]:
        unknown = set(kwargs) - set(names)
        if unknown:
            raise TypeError(f"unknown parameter(s) {sorted(unknown)}; known: {sorted(names)}")
        params = {names[k]: v for k, v in kwargs.items()}
        return evaluate(scenario, params, arm=arm, seed=seed, setting=setting)

    return model_function
