"""Validation against replayed reforms: ``sim validate [SUITE]``.

A suite is a folder of case files (``<case_id>.toml``, each a ``[case]`` table; format in
docs/calibration.md): a published finding replayed as a scenario (or a pair of arms), the
measure of the model's outputs that corresponds to it (:mod:`sim.experiments.measures`), the
published figure and range, and the citation. Every case runs ``replications`` replicates of its
scenario; the model's figure is their mean with a 95% t-interval. Whether it falls inside the
published range is reported, never asserted, and never fed back: a case is not a calibration
target, and a parameter file calibrated on a case id of the suite is refused.

Runs go to the sweep executors; each (case, replicate) writes a part file named by a hash of
the case, its scenario and the simulation code, so a killed validation resumes and a changed
case is run again.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError, field_validator, model_validator

from sim.errors import ScenarioError
from sim.experiments.measures import MeasureConfig, MeasureTask, check_against, interval, read_part
from sim.guards.limits import parse_toml, read_input
from sim.guards.paths import TEMPLATES, data_file
from sim.scenario import F, apply_override, check_label, read_scenario_data

#: ``--small``: at most this many patients and replications per case
SMALL_PATIENTS = 2_000
SMALL_REPLICATIONS = 2
PARTS = "parts"
TEMPLATE = data_file(TEMPLATES) / "validation.html"


class CaseConfig(MeasureConfig):
    """A validation case: a published finding, its replay and the measure compared."""

    title: str = F(..., "text", "One line: the reform and what was found.")
    finding: str = F(..., "text", "The published finding, in words and figures.")
    citation: str = F(..., "text", "Where it is published.")
    published: float = F(..., "as statistic", "The published figure, in the statistic's units.")
    range: list[float] = F(..., "as statistic", "[low, high]: the published range or interval.")
    replications: int = F(5, "runs", "Replicates for the model's interval.", ge=1, le=1_000)
    notes: str = F("", "text", "How the figure maps to the statistic; what the model leaves out.")

    @field_validator("citation", "title", "finding")
    @classmethod
    def _text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _range(self) -> CaseConfig:
        if len(self.range) != 2 or not self.range[0] <= self.range[1]:
            raise ValueError("range: [low, high] with low <= high")
        return self


@dataclass(frozen=True)
class Case:
    """A loaded case: id, file, config, the scenario to run (data) and its seed."""

    id: str
    path: Path
    config: CaseConfig
    scenario: dict[str, Any]
    seed: int
    replications: int

    def key(self) -> str:
        """A hash of what the case's parts depend on."""
        from sim.experiments.sweep import code_hash

        blob = json.dumps(
            {"case": self.config.model_dump(mode="json"), "scenario": self.scenario,
             "seed": self.seed, "code": code_hash()},
            sort_keys=True,
        )  # fmt: skip
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Suite:
    """A validated suite: its folder, cases, and what was applied to every case."""

    folder: Path
    cases: list[Case]
    small: bool
    parameters: str | None


def _refuse_calibrated(ids: set[str], targets: list[str], source: str, what: Path) -> None:
    clash = sorted(ids & set(targets))
    if clash:
        raise ScenarioError(
            source,
            "parameters",
            f"{what} was calibrated on {', '.join(clash)}, a case of this suite: a validation "
            "case may not feed calibration. Validate with parameters calibrated without it",
        )


def load_suite(
    folder: str | Path,
    *,
    small: bool = False,
    replications: int | None = None,
    parameters: str | Path | None = None,
    cases: list[str] | None = None,
) -> Suite:
    """Read and validate every case of a suite and its scenario, up front."""
    from sim.scenario import validate_scenario
    from sim.scenario.parameters import apply_parameters, calibrated_on, read_parameter_file

    folder = Path(folder)
    if not folder.is_dir():
        raise ScenarioError(str(folder), None, "not a folder of validation cases")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ScenarioError(str(folder), None, "holds no case files (<case_id>.toml)")
    ids = {f.stem for f in files}
    if cases is not None:
        unknown = [c for c in cases if c not in ids]
        if unknown or not cases or len(set(cases)) != len(cases):
            raise ScenarioError(
                "--cases", None, f"unknown, empty or repeated case ids {unknown or cases}; "
                f"allowed: {', '.join(sorted(ids))} (each once)",
            )  # fmt: skip
        files = [f for f in files if f.stem in cases]
    extra = None
    if parameters is not None:
        extra = read_parameter_file(parameters, "--parameters")
        _refuse_calibrated(ids, extra["calibration"].get("targets", []), "--parameters",
                           Path(parameters))  # fmt: skip
    out = []
    for f in files:
        source = str(f)
        try:
            check_label(f.stem, "case id (the file name)")
        except ValueError as exc:
            raise ScenarioError(source, None, str(exc)) from None
        raw = parse_toml(read_input(f), source)
        if set(raw) != {"case"} or not isinstance(raw["case"], dict):
            raise ScenarioError(source, None, "a case file holds one [case] table and nothing else")
        try:
            config = CaseConfig.model_validate(raw["case"])
        except ValidationError as exc:
            err = ScenarioError.from_validation(source, exc)
            err.problems = [(f"case.{p}" if p else p, m) for p, m in err.problems]
            err.args = (err._text(),)
            raise err from None
        scen = (f.parent / config.scenario).resolve()
        scen_raw = parse_toml(read_input(scen, source, "case.scenario"), str(scen))
        for pf, targets in calibrated_on(scen_raw, scen, str(scen)).items():
            _refuse_calibrated(ids, targets, source, pf)
        data = read_scenario_data(scen, source, "case.scenario")
        for k, v in config.set.items():
            apply_override(data, k.split("."), v, f"{source} (case.set.{k})")
        sc = validate_scenario(data, f"{scen} (case {f.stem})")
        data = sc.model_dump(mode="json")
        if extra is not None:
            data, _ = apply_parameters(data, extra["parameters"])
        if small:
            data["population"]["patients"] = min(data["population"]["patients"], SMALL_PATIENTS)
        sc = validate_scenario(data, f"{scen} (case {f.stem}, as run)")
        check_against(config, sc, source, "case")
        reps = replications or config.replications
        if small:
            reps = min(reps, SMALL_REPLICATIONS)
        out.append(Case(f.stem, f, config, sc.model_dump(mode="json"), sc.seed, reps))
    return Suite(folder, out, small, None if parameters is None else str(parameters))


# ---------------------------------------------------------------------------------------------
# running


@dataclass
class ValidationOutcome:
    """How a validation went: the table, cases measured, inside the range, failures."""

    folder: Path
    table: pd.DataFrame
    cases: int
    ok: int
    inside: int
    failed: list[tuple[str, str]]
    seconds: float
    files: list[str] = field(default_factory=list)

    @property
    def table_text(self) -> str:
        """The table as plain text (the terminal's summary)."""
        cols = ["case", "published", "range_low", "range_high", "model", "interval_low",
                "interval_high", "result"]  # fmt: skip
        return self.table[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}")


def part_path(folder: Path, case: Case, replicate: int) -> Path:
    """The part file of one (case, replicate)."""
    return folder / PARTS / f"{case.id}-{case.key()}-r{replicate:04d}.json"


def run_suite(
    suite: Suite,
    folder: Path,
    *,
    executor: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    command: list[str] | None = None,
) -> ValidationOutcome:
    """Run every (case, replicate) not yet done, then write the table, Markdown and HTML."""
    from sim.experiments.measures import execute, executors
    from sim.experiments.sweep import code_hash

    started = time.perf_counter()
    folder = Path(folder)
    if executor == "dask":
        from sim.experiments.sweep import check_scheduler

        if not scheduler:
            raise ScenarioError("--scheduler", None, "--executor dask needs --scheduler")
        check_scheduler(scheduler)
    (folder / PARTS).mkdir(parents=True, exist_ok=True)
    for leftover in (folder / PARTS).glob(".*.tmp"):
        leftover.unlink()
    tasks, total = [], 0
    for i, c in enumerate(suite.cases):
        for r in range(c.replications):
            total += 1
            part = part_path(folder, c, r)
            if read_part(part) is None:
                tasks.append(
                    MeasureTask(
                        point=i, replicate=r, seed=c.seed, scenario=c.scenario,
                        arms=tuple(c.config.arms),
                        measures=((c.id, c.config.model_dump(
                            mode="json", include=set(MeasureConfig.model_fields))),),
                        part=str(part), code=code_hash(),
                    )
                )  # fmt: skip
    done = total - len(tasks)
    errors: dict[str, str] = {}
    if progress:
        progress(done, total)
    with executors(executor, workers, scheduler) as pool:
        for res in pool.results(tasks, execute):
            if res.status == "done":
                done += 1
            else:
                errors.setdefault(suite.cases[res.point].id, (res.error or "").splitlines()[0])
            if progress:
                progress(done, total)
    table = _table(suite, folder, errors)
    files = write_outputs(suite, folder, table, command)
    ok = int((table["status"] == "measured").sum())
    return ValidationOutcome(
        folder=folder,
        table=table,
        cases=len(suite.cases),
        ok=ok,
        inside=int((table["result"] == "inside").sum()),
        failed=[(c, e) for c, e in errors.items()],
        seconds=time.perf_counter() - started,
        files=files,
    )


def _table(suite: Suite, folder: Path, errors: dict[str, str]) -> pd.DataFrame:
    rows = []
    for c in suite.cases:
        vals = [read_part(part_path(folder, c, r)) for r in range(c.replications)]
        got = [v[c.id] for v in vals if v is not None]
        mean, lo, hi = interval(got)
        lo_r, hi_r = c.config.range
        if c.id in errors or len(got) < c.replications:
            status, result = "failed", "not run"
        elif math.isnan(mean):
            status, result = "measured", "undefined"
        else:
            status, result = "measured", "inside" if lo_r <= mean <= hi_r else "outside"
        rows.append(
            {
                "case": c.id,
                "title": c.config.title,
                "statistic": c.config.statistic,
                "published": c.config.published,
                "range_low": lo_r,
                "range_high": hi_r,
                "model": mean,
                "interval_low": lo,
                "interval_high": hi,
                "replications": len(got),
                "result": result,
                "status": status,
                "error": errors.get(c.id, ""),
                "citation": c.config.citation,
            }
        )
    return pd.DataFrame(rows)


def _fmt(x: object) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown: case, published figure and range, model and interval, result."""
    lines = [
        "| case | published | range | model | 95% interval | result | citation |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.case} | {_fmt(r.published)} | [{_fmt(r.range_low)}, {_fmt(r.range_high)}] "
            f"| {_fmt(r.model)} | [{_fmt(r.interval_low)}, {_fmt(r.interval_high)}] "
            f"| {r.result} | {r.citation} |"
        )
    return "\n".join(lines) + "\n"


def write_outputs(
    suite: Suite, folder: Path, table: pd.DataFrame, command: list[str] | None
) -> list[str]:
    """validation.csv, validation.md, validation.html (jinja2) and metadata.json."""
    from sim.experiments.measures import write_json
    from sim.guards.extras import require
    from sim.results.folder import provenance, versions

    jinja2 = require("jinja2", "calibration", "sim validate's HTML page")
    table.to_csv(folder / "validation.csv", index=False)
    small = " (reduced suite: --small)" if suite.small else ""
    md = f"# Validation: {suite.folder}{small}\n\n" + markdown(table)
    (folder / "validation.md").write_text(md, encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    page = env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(
        suite=str(suite.folder),
        small=suite.small,
        parameters=suite.parameters,
        rows=[
            {
                **r,
                **{
                    k: _fmt(r[k])
                    for k in (
                        "published",
                        "range_low",
                        "range_high",
                        "model",
                        "interval_low",
                        "interval_high",
                    )
                },
            }
            for r in table.to_dict("records")
        ],
        cases={c.id: c.config for c in suite.cases},
    )
    (folder / "validation.html").write_text(page, encoding="utf-8")
    write_json(
        folder / "metadata.json",
        {
            "suite": str(suite.folder),
            "small": suite.small,
            "parameters": suite.parameters,
            "cases": {
                c.id: {
                    "file": str(c.path),
                    "replications": c.replications,
                    "seed": c.seed,
                    "key": c.key(),
                }
                for c in suite.cases
            },
            "versions": versions(),
            "command": command or [],
            **provenance(),
        },
    )
    return ["validation.csv", "validation.md", "validation.html", "metadata.json"]
