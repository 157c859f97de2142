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

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError, field_validator, model_validator

from sim.errors import ResultsError, ScenarioError
from sim.experiments.measures import MeasureConfig, MeasureTask, check_against, interval, read_part
from sim.guards.limits import parse_toml, read_input
from sim.guards.paths import TEMPLATES, data_file
from sim.scenario import F, apply_override, check_label, read_scenario_data

#: the seed of a suite's posterior draws (the same draws for every case)
DRAWS_SEED = 20261206
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
    range: list[float] = F(
        ...,
        "as statistic",
        "[low, high]: the study's confidence interval when it gives one (then interval_level "
        "says its level), otherwise the range the published figures span (e.g. across years); "
        "the notes say which.",
    )
    interval_level: float | None = F(
        None,
        "probability",
        "The level of the study's confidence interval given as range (e.g. 0.95); none: the "
        "range is not a confidence interval (its half-width is then taken as 1.96 standard "
        "errors for the standardised error, a convention stated in the notes).",
        gt=0,
        lt=1,
    )
    design: str = F(
        "",
        "text",
        "The study's design and comparison: randomised trial, difference-in-differences against "
        "which group, regression discontinuity, a before-after series against which trend.",
    )
    concurrent: str = F(
        "",
        "text",
        "Concurrent policies and confounders the study names, and how the replay handles each.",
    )
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
        if not self.range[0] <= self.published <= self.range[1]:
            raise ValueError(
                f"published ({self.published:g}) lies outside its own range [{self.range[0]:g}, "
                f"{self.range[1]:g}]: the range is the published figure's interval"
            )
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
    #: with posterior draws: the scenario of each replicate (replicate d runs draw d)
    draws: list[dict[str, Any]] | None = None

    def scenario_of(self, replicate: int) -> dict[str, Any]:
        """The scenario (as data) replicate ``replicate`` runs."""
        return self.scenario if self.draws is None else self.draws[replicate]

    def key(self) -> str:
        """A hash of what the case's parts depend on."""
        from sim.experiments.sweep import code_hash

        blob = json.dumps(
            {"case": self.config.model_dump(mode="json"), "scenario": self.scenario,
             "draws": self.draws, "seed": self.seed, "code": code_hash()},
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
    #: the posterior the cases' parameters were drawn from, and how many draws (None: none)
    posterior: str | None = None
    draws: int | None = None


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
    posterior: Any = None,
    draws: int | None = None,
) -> Suite:
    """Read and validate every case of a suite and its scenario, up front.

    A case's scenario may set only policy: none of the fields its base world declares
    calibrated (``world.calibrated``, :mod:`sim.scenario.world`) — a case that sets a
    behavioural parameter is refused. With ``posterior`` (:class:`~sim.experiments.posterior.
    Posterior`) and ``draws``, replicate ``d`` of every case runs the same posterior draw ``d``:
    one parameter vector for the whole suite per draw."""
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
        _refuse_behavioural(scen_raw, scen, config, source)
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
        data = sc.model_dump(mode="json")
        per_draw = None
        if posterior is not None:
            from sim.experiments.posterior import draw_scenarios

            reps = int(draws or reps)
            # the suite's draws: the same for every case (a seed of the suite's own)
            per_draw, _ = draw_scenarios(data, posterior, reps, DRAWS_SEED)
            for d, x in enumerate(per_draw):
                validate_scenario(x, f"{scen} (case {f.stem}, posterior draw {d})")
        out.append(Case(f.stem, f, config, data, sc.seed, reps, per_draw))
    return Suite(
        folder, out, small, None if parameters is None else str(parameters),
        None if posterior is None else posterior.source, draws if posterior is not None else None,
    )  # fmt: skip


def _refuse_behavioural(raw: dict[str, Any], path: Path, config: CaseConfig, source: str) -> None:
    """A case sets policy only: its scenario file and its ``set`` may not touch a field its
    world declares calibrated (behaviour, providers, the world's calibrated parameters)."""
    from sim.scenario.world import calibrated_fields, sets_calibrated

    patterns = calibrated_fields(raw, path, source)
    if not patterns:
        return
    found = sets_calibrated(raw, patterns)
    nested: dict[str, Any] = {}
    for key, value in config.set.items():
        apply_override(nested, key.split("."), value, source)
    found += [f"case.set.{x}" for x in sets_calibrated(nested, patterns)]
    if found:
        raise ScenarioError(
            source,
            "case.scenario",
            f"{path.name} sets {', '.join(found)}: a behavioural or calibrated parameter of its "
            "base world (world.calibrated). A validation case may set only policy — contracts, "
            "switches, the era's policy parameters and the composition of the population it "
            "studies — so that every case tests the same world",
        )


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
    covered: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def table_text(self) -> str:
        """The table as plain text (the terminal's summary)."""
        cols = ["case", "published", "range_low", "range_high", "model", "interval_low",
                "interval_high", "covered", "standardised_error", "result"]  # fmt: skip
        return self.table[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}")


#: what ``sim validate`` writes into its folder
VALIDATION_ENTRIES = {
    **dict.fromkeys(
        (
            "validation.csv",
            "validation.md",
            "validation.html",
            "metadata.json",
            "forest.png",
            "forest.pdf",
            "forest.svg",
        ),
        "file",
    ),
    PARTS: "folder",
}


def _own_validation(folder: Path) -> str | None:
    from sim.guards import files

    if files.kind(folder, "metadata.json") == "file":
        from sim.guards.limits import read_json_object

        try:
            meta = read_json_object(folder / "metadata.json")
        except ResultsError:
            return "its metadata.json is not readable JSON"
        if not isinstance(meta.get("suite"), str) or not isinstance(meta.get("cases"), dict):
            return "its metadata.json is not one it writes"
    if files.kind(folder, PARTS) == "folder":
        for name, kind in files.entries(folder, PARTS).items():
            if kind != "file" or not (name.endswith(".json") or name.endswith(".tmp")):
                return f"{PARTS}/{name} is not a part it writes"
    return None


def prepare_folder(folder: Path) -> None:
    """Check the output folder (absent, empty or a validation's, by content: nothing in it
    is followed through a link) and make its ``parts/``, without the temporary files of a
    run that was killed."""
    from sim.guards import files
    from sim.results.folder import check_folder

    check_folder(folder, command="sim validate", entries=VALIDATION_ENTRIES, own=_own_validation)
    with files.folder(folder, PARTS, create=True) as fd:
        for leftover in os.listdir(fd):
            if leftover.startswith(".") and leftover.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover, dir_fd=fd)


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
    notice: Callable[[str], None] | None = None,
) -> ValidationOutcome:
    """Run every (case, replicate) not yet done, then write the table, Markdown and HTML.
    ``notice(text)``: told at once when a worker process dies (its run fails, the others go
    on on a fresh worker)."""
    from sim.experiments.measures import execute, executors
    from sim.experiments.sweep import code_hash

    started = time.perf_counter()
    folder = Path(folder)
    if executor == "dask":
        from sim.experiments.sweep import check_scheduler

        if not scheduler:
            raise ScenarioError("--scheduler", None, "--executor dask needs --scheduler")
        check_scheduler(scheduler)
    prepare_folder(folder)
    tasks, total = [], 0
    for i, c in enumerate(suite.cases):
        for r in range(c.replications):
            total += 1
            part = part_path(folder, c, r)
            if read_part(part, folder) is None:
                tasks.append(
                    MeasureTask(
                        point=i, replicate=r, seed=c.seed, scenario=c.scenario_of(r),
                        arms=tuple(c.config.arms),
                        measures=((c.id, c.config.model_dump(
                            mode="json", include=set(MeasureConfig.model_fields))),),
                        part=str(part), code=code_hash(), folder=str(folder),
                    )
                )  # fmt: skip
    done = total - len(tasks)
    errors: dict[str, str] = {}
    if progress:
        progress(done, total)
    with executors(executor, workers, scheduler, notice) as pool:
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
        covered=int(table["covered"].sum()),
        failed=[(c, e) for c, e in errors.items()],
        seconds=time.perf_counter() - started,
        files=files,
    )


#: a model figure this small relative to the published figures' scale is zero (rounding)
SIGN_TOLERANCE = 1e-9


def sign(x: float, scale: tuple[float, ...]) -> float:
    """The sign of a model figure, 0 where it is zero up to floating-point rounding relative to
    the published figure and interval (``scale``): an effect the model does not produce
    (−5.6e-18 from subtracting equal sums in a different order) has no sign to agree with."""
    if abs(x) <= SIGN_TOLERANCE * max((abs(v) for v in scale), default=0.0):
        return 0.0
    return float(np.sign(x))


def _table(suite: Suite, folder: Path, errors: dict[str, str]) -> pd.DataFrame:
    """One row per case: the published figure and interval, the model's figure and interval
    (a prediction interval over posterior draws, else the t-interval of the mean over
    replicates), and the scores: whether the published figure lies inside the model's
    interval (covered), whether the signs agree, and the standardised error
    ``(model − published) / sqrt(sd_model² + se_published²)``."""
    from sim.experiments.posterior import prediction_interval

    rows = []
    for c in suite.cases:
        vals = [read_part(part_path(folder, c, r), folder) for r in range(c.replications)]
        got = [v[c.id] for v in vals if v is not None]
        if c.draws is not None:
            mean, lo, hi = prediction_interval(np.asarray(got, np.float64))
            kind = "prediction"
        else:
            mean, lo, hi = interval(got)
            kind = "replication"
        x = np.asarray(got, np.float64)
        x = x[np.isfinite(x)]
        sd = float(x.std(ddof=1)) if x.size > 1 else math.nan
        lo_r, hi_r = c.config.range
        level = c.config.interval_level or 0.95
        from scipy.stats import norm

        se_pub = (hi_r - lo_r) / (2 * float(norm.ppf(0.5 + level / 2)))
        pub = c.config.published
        if c.id in errors or len(got) < c.replications:
            status, result = "failed", "not run"
        elif math.isnan(mean):
            status, result = "measured", "undefined"
        else:
            status, result = "measured", "inside" if lo_r <= mean <= hi_r else "outside"
        measured = status == "measured" and not math.isnan(mean)
        denom = math.sqrt((sd if math.isfinite(sd) else 0.0) ** 2 + se_pub**2)
        rows.append(
            {
                "case": c.id,
                "title": c.config.title,
                "statistic": c.config.statistic,
                "published": pub,
                "range_low": lo_r,
                "range_high": hi_r,
                "range_is_ci": c.config.interval_level is not None,
                "model": mean,
                "interval_low": lo,
                "interval_high": hi,
                "interval_kind": kind,
                "model_sd": sd,
                "replications": len(got),
                "covered": bool(measured and lo <= pub <= hi),
                # a published figure of 0 has no sign to agree with: not scored
                "sign_agrees": (
                    bool(measured and sign(mean, (pub, lo_r, hi_r)) == np.sign(pub))
                    if pub != 0
                    else None
                ),
                "standardised_error": (mean - pub) / denom if measured and denom > 0 else math.nan,
                "result": result,
                "status": status,
                "error": errors.get(c.id, ""),
                "citation": c.config.citation,
            }
        )
    return pd.DataFrame(rows)


def scores(table: pd.DataFrame) -> dict[str, Any]:
    """The suite's scores over the cases measured: coverage (published figure inside the
    model's interval), sign agreement, the mean standardised error and its mean absolute
    value, and the share of model figures inside the published range."""
    m = table[table["status"] == "measured"]
    z = m["standardised_error"].to_numpy(np.float64)
    z = z[np.isfinite(z)]
    n = len(m)
    return {
        "cases": len(table),
        "measured": int(n),
        "coverage": float(m["covered"].mean()) if n else math.nan,
        "sign_agreement": (
            float(m["sign_agrees"].dropna().astype(bool).mean())
            if m["sign_agrees"].notna().any()
            else math.nan
        ),
        "mean_standardised_error": float(z.mean()) if z.size else math.nan,
        "mean_absolute_standardised_error": float(np.abs(z).mean()) if z.size else math.nan,
        "inside_published_range": float((m["result"] == "inside").mean()) if n else math.nan,
    }


def _fmt(x: object) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown: case, published figure and interval, model and its interval,
    whether the published figure is covered, the signs agree, and the standardised error."""
    predicted = "interval_kind" in table and (table["interval_kind"] == "prediction").any()
    kind = "prediction" if predicted else "95%"
    lines = [
        f"| case | published | published interval | model | {kind} interval | covered "
        "| sign | z | citation |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        ci = "CI" if r.range_is_ci else "range"
        lines.append(
            f"| {r.case} | {_fmt(r.published)} | [{_fmt(r.range_low)}, {_fmt(r.range_high)}] "
            f"({ci}) | {_fmt(r.model)} | [{_fmt(r.interval_low)}, {_fmt(r.interval_high)}] "
            f"| {'yes' if r.covered else 'no'} "
            f"| {'—' if r.sign_agrees is None else 'yes' if r.sign_agrees else 'no'} "
            f"| {_fmt(r.standardised_error)} | {r.citation} |"
        )
    return "\n".join(lines) + "\n"


def scores_markdown(s: dict[str, Any]) -> str:
    """The scores as a short Markdown list."""

    def pct(x: float) -> str:
        return "—" if x != x else f"{100 * x:.0f}%"

    return (
        f"- cases measured: {s['measured']} of {s['cases']}\n"
        f"- coverage (published figure inside the model's interval): {pct(s['coverage'])}\n"
        f"- sign agreement: {pct(s['sign_agreement'])}\n"
        f"- mean standardised error: {_fmt(s['mean_standardised_error'])} "
        f"(mean absolute: {_fmt(s['mean_absolute_standardised_error'])})\n"
        f"- model figure inside the published interval: {pct(s['inside_published_range'])}\n"
    )


def forest(table: pd.DataFrame, folder: Path) -> list[str]:
    """A forest plot of every measured case: the published figure and interval (black) and
    the model's figure and interval (blue), one row per case on its own scale (cases measure
    different things in different units: dollars, shares, minutes, elasticities), each with
    zero marked, grouped by statistic (PNG, PDF, SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = table[table["status"] == "measured"]
    if m.empty:
        return []
    order = list(dict.fromkeys(m["statistic"]))
    m = m.assign(_g=m["statistic"].map(order.index)).sort_values("_g", kind="stable")
    fig, axes = plt.subplots(
        len(m), 1, figsize=(6.5, 0.62 * len(m) + 0.9), squeeze=False
    )  # fmt: skip
    for ax, (_, r) in zip(axes[:, 0], m.iterrows(), strict=True):
        g = r["statistic"]
        scale = 100.0 if g == "relative_change" else 1.0
        pub = np.array([r["range_low"], r["published"], r["range_high"]], np.float64) * scale
        mod = np.array([r["interval_low"], r["model"], r["interval_high"]], np.float64) * scale
        ax.errorbar(
            [pub[1]], [0.18], xerr=[[pub[1] - pub[0]], [pub[2] - pub[1]]], fmt="s",
            color="black", ms=4, capsize=2, label="published (interval)",
        )  # fmt: skip
        if np.isfinite(mod[1]):
            ax.errorbar(
                [mod[1]], [-0.18],
                xerr=[[max(mod[1] - mod[0], 0.0)], [max(mod[2] - mod[1], 0.0)]],
                fmt="o", color="#1f5fa8", ms=4, capsize=2, label="model (interval)",
            )  # fmt: skip
        ax.axvline(0, color="0.6", lw=0.8)
        values = np.concatenate([pub, mod[np.isfinite(mod)], [0.0]])
        lo, hi = float(values.min()), float(values.max())
        pad = 0.08 * (hi - lo) if hi > lo else 1.0
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(-0.6, 0.6)
        ax.set_yticks([0.0], [str(r["case"]).replace("_", " ")], fontsize=7)
        unit = " (%)" if scale == 100.0 else ""
        ax.text(1.0, 1.0, f"{g.replace('_', ' ')}{unit}", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=6, color="0.35")  # fmt: skip
        ax.tick_params(axis="x", labelsize=6, pad=1)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0, 0].legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.05), ncol=2,
                      frameon=False)  # fmt: skip
    fig.tight_layout(h_pad=0.6)
    out = []
    for ext in ("png", "pdf", "svg"):
        fig.savefig(folder / f"forest.{ext}", dpi=300)
        out.append(f"forest.{ext}")
    plt.close(fig)
    return out


def write_outputs(
    suite: Suite, folder: Path, table: pd.DataFrame, command: list[str] | None
) -> list[str]:
    """validation.csv, validation.md, validation.html (jinja2) and metadata.json."""
    from sim.experiments.measures import write_json
    from sim.guards import files
    from sim.guards.extras import require
    from sim.results.folder import provenance, versions

    jinja2 = require("jinja2", "calibration", "sim validate's HTML page")
    files.write_text(folder, "validation.csv", table.to_csv(index=False))
    small = " (reduced suite: --small)" if suite.small else ""
    score = scores(table)
    md = (
        f"# Validation: {suite.folder}{small}\n\n## Scores\n\n{scores_markdown(score)}\n"
        f"## Cases\n\n{markdown(table)}"
    )
    files.write_text(folder, "validation.md", md)
    from sim.experiments.forecast import markdown as forecast_markdown
    from sim.experiments.forecast import registered

    forecasts = registered(suite.folder)
    if forecasts:
        md += "\n" + forecast_markdown(forecasts)
        files.write_text(folder, "validation.md", md)
    figures = forest(table, folder)
    svg = (folder / "forest.svg").read_text(encoding="utf-8") if figures else ""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    page = env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(
        suite=str(suite.folder),
        small=suite.small,
        parameters=suite.parameters,
        posterior=suite.posterior,
        draws=suite.draws,
        scores=score,
        scores_text=scores_markdown(score),
        forest=svg,
        forecasts=forecasts,
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
                        "standardised_error",
                    )
                },
            }
            for r in table.to_dict("records")
        ],
        cases={c.id: c.config for c in suite.cases},
    )
    files.write_text(folder, "validation.html", page)
    write_json(
        folder / "metadata.json",
        {
            "suite": str(suite.folder),
            "small": suite.small,
            "parameters": suite.parameters,
            "posterior": suite.posterior,
            "draws": suite.draws,
            "scores": score,
            "forecasts": [fc["file"] for fc in forecasts],
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
        root=folder,
    )
    return ["validation.csv", "validation.md", "validation.html", *figures, "metadata.json"]
