"""Calibration to stated targets: ``sim calibrate CALIBRATION.toml``.

A calibration file names free parameters (dotted scenario fields, ``*`` for every entry of a
table, several fields moving together; a range and a prior), targets (a measure of a
scenario's outputs, :mod:`sim.experiments.measures`, with the published value, its uncertainty and
source) and how to search:

- ``method = "optuna"``: Optuna's TPE (or random) sampler minimises the objective, by default
  the weighted squared standardized distance ``Σ_k w_k ((m_k − v_k) / u_k)²``, where ``m_k`` is
  target k's model figure averaged over ``seeds`` replicates;
- ``method = "abc"``: ABC rejection (Pritchard et al. 1999): ``trials`` draws from the prior,
  each simulated, the distance is the same objective, and the ``accept`` fraction of draws
  closest to the targets (or those within ``epsilon``) is the posterior sample.

Every trial uses replicates 0..seeds−1 of the same root seed: common random numbers across
trials, so two trials differ only by their parameters. The study lives in ``study.db``
(SQLite) in the output folder, and each (trial, scenario, replicate) writes a part file: a
calibration killed at any moment (even ``kill -9``) resumes where it stopped, finishing the
trials that were running. Runs go to the sweep executors (process pool, Dask, serial).

Parameters are searched on the unit cube: a trial's ``u`` in [0, 1] becomes the parameter's
value through the prior's quantile function (uniform, log-uniform, normal truncated to the
range, or beta scaled to it), so the sampler sees the prior's shape and ABC draws from it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import ValidationError, field_validator, model_validator

from sim.errors import ResultsError, ScenarioError
from sim.experiments.measures import MeasureConfig, MeasureTask, check_against, interval, read_part
from sim.guards.limits import parse_toml, read_input
from sim.scenario import F, Strict, apply_override, check_label, read_scenario_data
from sim.scenario.parameters import apply_parameters, matches

STUDY = "study.db"
SPEC = "calibration.json"
PARTS = "parts"
ERRORS = "errors.jsonl"


class FreeParameter(Strict):
    """One free parameter: the fields it sets (all to the same value), its range and prior."""

    name: str = F(..., "name", "Short name (a column of the trials table).")
    fields: list[str] = F(
        ...,
        "dotted paths",
        "Scenario fields set to the parameter's value; '*' matches every entry of a table "
        "(settings.*.oop_elasticity: every setting). A field applies to every target scenario "
        "that has its table.",
    )
    low: float = F(..., "as field", "Lower end of the range.")
    high: float = F(..., "as field", "Upper end of the range.")
    prior: Literal["uniform", "loguniform", "normal", "beta"] = F(
        "uniform",
        "choice",
        "uniform or loguniform on [low, high]; normal(mean, sd) truncated to [low, high]; "
        "beta(a, b) scaled to [low, high].",
    )
    mean: float | None = F(None, "as field", "normal prior: mean.")
    sd: float | None = F(None, "as field", "normal prior: standard deviation.", gt=0)
    a: float | None = F(None, "shape", "beta prior: shape a.", gt=0)
    b: float | None = F(None, "shape", "beta prior: shape b.", gt=0)
    integer: bool = F(False, "flag", "Round the value to a whole number.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_label(v, "parameter name")

    @model_validator(mode="after")
    def _prior(self) -> FreeParameter:
        if not self.high > self.low:
            raise ValueError(f"high ({self.high}) must be greater than low ({self.low})")
        if not self.fields or not all(f and all(f.split(".")) for f in self.fields):
            raise ValueError("fields: at least one dotted field, without empty parts")
        if self.prior == "loguniform" and self.low <= 0:
            raise ValueError("a loguniform prior needs low > 0")
        if (self.prior == "normal") != (self.mean is not None and self.sd is not None):
            raise ValueError("mean and sd are needed by, and only by, a normal prior")
        if (self.prior == "beta") != (self.a is not None and self.b is not None):
            raise ValueError("a and b are needed by, and only by, a beta prior")
        return self

    def value(self, u: float) -> float:
        """The parameter's value at ``u`` in [0, 1]: the prior's quantile function."""
        lo, hi = self.low, self.high
        if self.prior == "uniform":
            x = lo + (hi - lo) * u
        elif self.prior == "loguniform":
            x = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)
        elif self.prior == "normal":
            from scipy.stats import truncnorm

            sd = float(self.sd or 1.0)
            mu = float(self.mean or 0.0)
            x = float(truncnorm.ppf(u, (lo - mu) / sd, (hi - mu) / sd, loc=mu, scale=sd))
        else:
            from scipy.stats import beta

            assert self.a is not None and self.b is not None  # a beta prior has them (validated)
            x = lo + (hi - lo) * float(beta.ppf(u, self.a, self.b))
        x = min(max(x, lo), hi)
        return float(round(x)) if self.integer else float(x)


class TargetConfig(MeasureConfig):
    """A calibration target: a measure of a scenario, the published value, its uncertainty."""

    id: str = F(..., "name", "Target id (a validation case may not share it).")
    value: float = F(..., "as measure", "The target value.")
    uncertainty: float = F(
        ..., "as measure", "Its standard uncertainty (the objective's unit of distance).", gt=0
    )
    source: str = F(..., "text", "Where the value comes from (citation).")
    weight: float = F(1.0, "weight", "Weight in the objective.", ge=0)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_label(v, "target id")

    def measure_data(self) -> dict[str, Any]:
        """The measure alone (a :class:`MeasureConfig` as data)."""
        return self.model_dump(mode="json", include=set(MeasureConfig.model_fields))

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("source: cite where the target value comes from")
        return v


class AbcConfig(Strict):
    """ABC rejection: which draws are accepted as the posterior sample."""

    accept: float = F(
        0.1, "fraction", "Share of the draws closest to the targets that is accepted.", gt=0, le=1
    )
    epsilon: float | None = F(
        None, "as objective", "Accept the draws whose distance is at most this instead.", gt=0
    )


class CalibrationConfig(Strict):
    """A calibration file: free parameters, targets, objective and search."""

    name: str = F("calibration", "name", "Name; default output folder results/<name>/.")
    description: str = F("", "text", "What is calibrated and why.")
    method: Literal["optuna", "abc"] = F(
        "optuna",
        "choice",
        "optuna: minimise the objective (a point estimate); abc: ABC rejection from the prior "
        "(a posterior sample).",
    )
    sampler: Literal["tpe", "random"] = F(
        "tpe", "choice", "optuna: TPE (Bayesian optimisation) or random search."
    )
    trials: int = F(50, "trials", "Trials (optuna) or prior draws (abc).", ge=1, le=100_000)
    batch: int | None = F(
        None, "trials", "Trials run at once (default: the number of workers).", ge=1, le=4096
    )
    seeds: int = F(
        3, "replicates", "Replicates each trial is averaged over (common random numbers).",
        ge=1, le=1_000,
    )  # fmt: skip
    seed: int | None = F(
        None, "integer", "Root seed of every target's runs (default: each scenario's own).", ge=0
    )
    sampler_seed: int = F(0, "integer", "Seed of the sampler (its draws of parameters).", ge=0)
    objective: Literal["squared", "absolute"] = F(
        "squared",
        "choice",
        "squared: Σ w·((model − value)/uncertainty)²; absolute: "
        "Σ w·abs(model − value)/uncertainty.",
    )
    set: dict[str, Any] = F(
        {}, "table", "Overrides of every target's scenario (dotted keys), e.g. population size."
    )
    abc: AbcConfig = F(AbcConfig(), "table", "ABC rejection settings (method = abc).")
    parameters: list[FreeParameter] = F(..., "table", "Free parameters.")
    targets: list[TargetConfig] = F(..., "table", "Targets.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_label(v, "calibration name")

    @model_validator(mode="after")
    def _unique(self) -> CalibrationConfig:
        if not self.parameters or not self.targets:
            raise ValueError("at least one parameter and one target are needed")
        for what, names in (
            ("parameters", [p.name for p in self.parameters]),
            ("targets", [t.id for t in self.targets]),
        ):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{what}: named twice: {', '.join(dup)}")
        fields = [f for p in self.parameters for f in p.fields]
        dup = sorted({f for f in fields if fields.count(f) > 1})
        if dup:
            raise ValueError(f"parameters: field(s) set by two parameters: {', '.join(dup)}")
        return self


@dataclass(frozen=True)
class Group:
    """Targets measured on one scenario (same file and overrides): one run per replicate."""

    scenario: dict[str, Any]  # validated and dumped, calibration and target overrides applied
    source: str
    targets: tuple[int, ...]  # indices into the calibration's targets
    arms: tuple[str, ...]
    seed: int


@dataclass(frozen=True)
class Calibration:
    """A validated calibration: its config, target groups and fingerprint."""

    config: CalibrationConfig
    source: str
    groups: list[Group]

    def values(self, u: dict[str, float]) -> dict[str, float]:
        """Parameter values at unit-cube point ``u`` (by parameter name)."""
        return {p.name: p.value(u[p.name]) for p in self.config.parameters}

    def fields(self, values: dict[str, float]) -> dict[str, float]:
        """Scenario fields (as written, wildcards kept) and their values."""
        return {f: values[p.name] for p in self.config.parameters for f in p.fields}

    def scenario(self, g: int, values: dict[str, float]) -> dict[str, Any]:
        """Group ``g``'s scenario data with the parameter values applied."""
        return apply_parameters(self.groups[g].scenario, self.fields(values))[0]

    def fingerprint(self) -> str:
        """A hash of the calibration and its scenarios: an output folder belongs to one."""
        blob = json.dumps(
            {
                "config": self.config.model_dump(mode="json"),
                "groups": [g.scenario for g in self.groups],
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def load_calibration(path: str | Path, trials: int | None = None) -> Calibration:
    """Read and validate a calibration file, its target scenarios and the parameters' effect
    on them (at both ends of every range), before anything runs."""
    from sim.scenario import validate_scenario

    path = Path(path)
    source = str(path)
    raw = parse_toml(read_input(path), source)
    raw.setdefault("name", path.stem)
    if trials is not None:
        raw["trials"] = trials
    try:
        config = CalibrationConfig.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError.from_validation(source, exc) from None
    except RecursionError:
        raise ScenarioError(source, None, "values nested too deeply") from None

    keyed: dict[str, list[int]] = {}
    for i, t in enumerate(config.targets):
        key = json.dumps([str((path.parent / t.scenario).resolve()), t.set], sort_keys=True)
        keyed.setdefault(key, []).append(i)
    groups = []
    for key, idx in keyed.items():
        scen_path = Path(json.loads(key)[0])
        where = f"targets.{idx[0]}.scenario"
        data = read_scenario_data(scen_path, source, where)
        for k, v in {**config.set, **config.targets[idx[0]].set}.items():
            apply_override(data, k.split("."), v, f"{source} (set.{k})")
        sc = validate_scenario(data, f"{scen_path} (with the overrides of {source})")
        for i in idx:
            check_against(config.targets[i], sc, source, f"targets.{i}")
        arms = tuple(dict.fromkeys(a for i in idx for a in config.targets[i].arms))
        seed = sc.seed if config.seed is None else config.seed
        groups.append(Group(sc.model_dump(mode="json"), str(scen_path), tuple(idx), arms, seed))
    cal = Calibration(config, source, groups)
    for j, p in enumerate(config.parameters):
        for f in p.fields:
            if not any(matches(g.scenario, f.split(".")) for g in groups):
                raise ScenarioError(
                    source,
                    f"parameters.{j}.fields",
                    f"{f!r} is in none of the target scenarios (check the spelling; a "
                    "setting must exist in a scenario for its fields to apply)",
                )
    # every range's ends must give valid scenarios
    for end in (0.0, 1.0):
        values = {p.name: p.value(end) for p in config.parameters}
        for g in range(len(groups)):
            try:
                validate_scenario(cal.scenario(g, values), "x")
            except ScenarioError as exc:
                shown = ", ".join(f"{k}={v:g}" for k, v in values.items())
                raise ScenarioError(
                    source,
                    "parameters",
                    f"at {shown}, {groups[g].source} is invalid: {exc.problems[0][0]}: "
                    f"{exc.problems[0][1]}",
                ) from None
    return cal


# ---------------------------------------------------------------------------------------------
# running


@dataclass
class CalibrationOutcome:
    """How a calibration went: trials finished, failed, skipped, and what was written."""

    folder: Path
    trials: int
    finished: int
    failed: int
    resumed: int
    seconds: float
    best: float
    files: list[str]


def _objective(cfg: CalibrationConfig, means: dict[str, float]) -> float:
    total = 0.0
    for t in cfg.targets:
        m = means.get(t.id, math.nan)
        if math.isnan(m):
            return math.nan
        z = (m - t.value) / t.uncertainty
        total += t.weight * (z * z if cfg.objective == "squared" else abs(z))
    return total


def _sampler(cfg: CalibrationConfig):
    import optuna

    if cfg.method == "abc" or cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=cfg.sampler_seed)
    return optuna.samplers.TPESampler(
        seed=cfg.sampler_seed, n_startup_trials=min(10, max(2, cfg.trials // 5))
    )


def open_study(cal: Calibration, folder: Path):
    """Create or reopen the study in ``folder/study.db``; refuse another calibration's."""
    from sim.experiments.measures import write_json
    from sim.experiments.sweep import code_hash
    from sim.guards.extras import require

    optuna = require("optuna", "calibration", "sim calibrate")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / SPEC
    if spec.exists():
        from sim.guards.limits import read_json_object

        old = read_json_object(spec)
        if old.get("fingerprint") != cal.fingerprint():
            raise ResultsError(
                f"{folder}: holds another calibration ({old.get('name')!r}) or the same one with "
                "other settings or scenarios; choose another --out or remove it"
            )
        if old.get("code") != code_hash():
            raise ResultsError(
                f"{folder}: was started with other simulation code ({old.get('code')}; this is "
                f"{code_hash()}); choose another --out, or remove it to start again"
            )
    elif any(folder.iterdir()):
        raise ResultsError(
            f"{folder}: exists and is not a calibration folder (no {SPEC}); choose another --out"
        )
    else:
        write_json(
            spec,
            {
                "name": cal.config.name,
                "fingerprint": cal.fingerprint(),
                "code": code_hash(),
                "calibration": cal.config.model_dump(mode="json"),
                "source": cal.source,
            },
        )
    (folder / PARTS).mkdir(exist_ok=True)
    storage = f"sqlite:///{(folder / STUDY).resolve()}"
    return optuna.create_study(
        study_name=cal.config.name,
        storage=storage,
        sampler=_sampler(cal.config),
        direction="minimize",
        load_if_exists=True,
    )


def part_path(folder: Path, trial: int, group: int, replicate: int) -> Path:
    """The part file of one (trial, target scenario, replicate)."""
    return folder / PARTS / f"t{trial:06d}-g{group:03d}-r{replicate:04d}.json"


def _trial_tasks(cal: Calibration, folder: Path, trial: int, u: dict[str, float]):
    from sim.experiments.sweep import code_hash

    values = cal.values(u)
    tasks = []
    for g, grp in enumerate(cal.groups):
        data = cal.scenario(g, values)
        measures = tuple(
            (cal.config.targets[i].id, cal.config.targets[i].measure_data()) for i in grp.targets
        )
        for r in range(cal.config.seeds):
            part = part_path(folder, trial, g, r)
            if read_part(part) is not None:
                continue
            tasks.append(
                MeasureTask(
                    point=trial,
                    replicate=r,
                    seed=grp.seed,
                    scenario=data,
                    arms=grp.arms,
                    measures=measures,
                    part=str(part),
                    code=code_hash(),
                )
            )
    return tasks


def trial_values(cal: Calibration, folder: Path, trial: int) -> dict[str, list[float]] | None:
    """Each target's values over the replicates of a trial, or None if a part is missing."""
    out: dict[str, list[float]] = {t.id: [] for t in cal.config.targets}
    for g in range(len(cal.groups)):
        for r in range(cal.config.seeds):
            part = read_part(part_path(folder, trial, g, r))
            if part is None:
                return None
            for k, v in part.items():
                out[k].append(v)
    return out


def run_calibration(
    cal: Calibration,
    folder: Path,
    *,
    executor: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    command: list[str] | None = None,
) -> CalibrationOutcome:
    """Run (or resume) the calibration until ``trials`` trials are finished, then write the
    outputs. ``progress(finished, trials, best objective)`` after each trial."""
    import os

    import optuna
    from optuna.trial import TrialState

    from sim.experiments.measures import executors
    from sim.experiments.sweep import check_scheduler

    started = time.perf_counter()
    folder = Path(folder)
    if executor == "dask":
        if not scheduler:
            raise ScenarioError("--scheduler", None, "--executor dask needs --scheduler")
        check_scheduler(scheduler)
    study = open_study(cal, folder)
    cfg = cal.config
    workers = workers or os.cpu_count() or 1
    batch = cfg.batch or workers
    names = [p.name for p in cfg.parameters]
    dist = {n: optuna.distributions.FloatDistribution(0.0, 1.0) for n in names}

    def finished() -> list[Any]:
        return [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]

    # trials a killed coordinator left running: finish them first (their parts are kept)
    pending = [t.number for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    resumed = len(pending)

    def best() -> float:
        done = [t.value for t in finished() if t.state == TrialState.COMPLETE]
        return min(done) if done else math.nan

    if progress:
        progress(len(finished()), cfg.trials, best())
    with executors(executor, workers, scheduler) as pool:
        while len(finished()) < cfg.trials:
            _batch(cal, folder, study, pool, pending, batch, dist, names, progress, best)
    files = write_outputs(cal, folder, study, command)
    done = finished()
    return CalibrationOutcome(
        folder=folder,
        trials=cfg.trials,
        finished=len(done),
        failed=sum(t.state != TrialState.COMPLETE for t in done),
        resumed=resumed,
        seconds=time.perf_counter() - started,
        best=best(),
        files=files,
    )


def _finished(study: Any) -> int:
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))


def _batch(cal, folder, study, pool, pending, batch, dist, names, progress, best) -> None:
    """Ask (or take from the trials left running) one batch of trials, run them, tell them."""
    from optuna.trial import TrialState

    from sim.experiments.measures import execute

    cfg = cal.config

    room = cfg.trials - _finished(study)
    trials: list[tuple[int, dict[str, float]]] = []
    while pending and len(trials) < batch:
        num = pending.pop(0)
        t = study.get_trials(deepcopy=False)[num]
        trials.append((num, {n: float(t.params[n]) for n in names}))
    while len(trials) < min(batch, room):
        t = study.ask(dist)
        trials.append((t.number, {n: float(t.params[n]) for n in names}))
    tasks = [task for num, u in trials for task in _trial_tasks(cal, folder, num, u)]
    errors: dict[int, str] = {}
    for res in pool.results(tasks, execute):
        if res.status != "done":
            errors.setdefault(res.point, (res.error or "").splitlines()[0])
    for num, _ in trials:
        vals = trial_values(cal, folder, num)
        means = {k: interval(v)[0] for k, v in vals.items()} if vals else {}
        obj = _objective(cfg, means) if vals else math.nan
        if num in errors or math.isnan(obj):
            with (folder / ERRORS).open("a", encoding="utf-8") as fh:
                why = errors.get(num, "a measure is undefined (NaN) in every replicate")
                fh.write(json.dumps({"trial": num, "error": why}) + "\n")
            study.tell(num, state=TrialState.FAIL)
        else:
            study.tell(num, obj)
        if progress:
            progress(_finished(study), cfg.trials, best())


# ---------------------------------------------------------------------------------------------
# outputs


def trials_table(cal: Calibration, folder: Path, study: Any) -> pd.DataFrame:
    """One row per trial: number, state, objective, parameter values, each target's mean."""
    errors: dict[int, str] = {}
    if (folder / ERRORS).exists():
        for line in (folder / ERRORS).read_text(encoding="utf-8").splitlines():
            try:
                e = json.loads(line)
                errors[int(e["trial"])] = str(e["error"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill
    rows = []
    for t in study.get_trials(deepcopy=False):
        if not t.state.is_finished():
            continue
        u = {n: float(t.params[n]) for n in t.params}
        values = cal.values(u) if len(u) == len(cal.config.parameters) else {}
        vals = trial_values(cal, folder, t.number)
        row: dict[str, Any] = {
            "trial": t.number,
            "state": t.state.name.lower(),
            "objective": float(t.value) if t.value is not None else math.nan,
        }
        row.update({p.name: values.get(p.name, math.nan) for p in cal.config.parameters})
        for tg in cal.config.targets:
            row[f"model_{tg.id}"] = interval(vals[tg.id])[0] if vals else math.nan
        row["error"] = errors.get(t.number, "")
        rows.append(row)
    return pd.DataFrame(rows)


def _fit(cal: Calibration, values_by_target: dict[str, list[float]], spread: str) -> pd.DataFrame:
    rows = []
    for t in cal.config.targets:
        v = values_by_target[t.id]
        if spread == "replicates":
            mean, lo, hi = interval(v)
        else:  # a posterior sample: its 2.5% and 97.5% quantiles
            x = np.asarray(v, dtype=np.float64)
            mean = float(np.nanmean(x))
            lo, hi = (float(q) for q in np.nanquantile(x, [0.025, 0.975]))
        z = (mean - t.value) / t.uncertainty
        rows.append(
            {
                "target": t.id,
                "value": t.value,
                "uncertainty": t.uncertainty,
                "model": mean,
                "model_low": lo,
                "model_high": hi,
                "z": z,
                "weight": t.weight,
                "contribution": t.weight * (z * z if cal.config.objective == "squared" else abs(z)),
                "within_1_uncertainty": bool(abs(z) <= 1),
                "source": t.source,
            }
        )
    return pd.DataFrame(rows)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def write_parameter_file(
    path: Path, cal: Calibration, values: dict[str, float], info: dict[str, Any]
) -> None:
    """A parameter file scenarios can include: [calibration] provenance, [parameters]."""
    from sim import __version__

    lines = [
        f"# Parameters calibrated by `sim calibrate {cal.source}` ({cal.config.method}).",
        '# Include them in a scenario with: include = ["<path to this file>"]',
        "# (docs/calibration.md). Fitted to the targets listed below: `sim validate` refuses",
        "# this file for a suite with a case of the same id.",
        "",
        "[calibration]",
        f"name = {_toml_value(cal.config.name)}",
        f"file = {_toml_value(cal.source)}",
        f"method = {_toml_value(cal.config.method)}",
        f"targets = {_toml_value([t.id for t in cal.config.targets])}",
        f"version = {_toml_value(__version__)}",
        f"written = {_toml_value(dt.datetime.now(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ'))}",
    ]
    lines += [f"{k} = {_toml_value(v)}" for k, v in info.items()]
    lines += ["", "[parameters]"]
    for p in cal.config.parameters:
        for f in p.fields:
            lines.append(f"{json.dumps(f)} = {_toml_value(values[p.name])}  # {p.name}")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_outputs(
    cal: Calibration, folder: Path, study: Any, command: list[str] | None
) -> list[str]:
    """Trials table, fit, parameter file, figures and metadata of a finished calibration."""
    from sim.experiments.measures import write_json
    from sim.results.folder import provenance, versions

    cfg = cal.config
    trials = trials_table(cal, folder, study)
    files = []
    tmp = folder / ".trials.parquet.tmp"
    trials.to_parquet(tmp, index=False)
    tmp.replace(folder / "trials.parquet")
    files.append("trials.parquet")
    ok = trials[trials["state"] == "complete"].sort_values(["objective", "trial"])
    if ok.empty:
        raise ResultsError(f"{folder}: every trial failed (see trials.parquet, column error)")
    names = [p.name for p in cfg.parameters]
    info: dict[str, Any] = {"seeds": cfg.seeds, "trials": len(trials)}
    if cfg.method == "optuna":
        best = ok.iloc[0]
        values = {n: float(best[n]) for n in names}
        vals = trial_values(cal, folder, int(best["trial"]))
        assert vals is not None
        fit = _fit(cal, vals, "replicates")
        info.update({"best_trial": int(best["trial"]), "objective": float(best["objective"])})
    else:
        if cfg.abc.epsilon is not None:
            post = ok[ok["objective"] <= cfg.abc.epsilon]
        else:
            post = ok.head(max(1, math.ceil(cfg.abc.accept * len(ok))))
        if post.empty:
            raise ResultsError(
                f"{folder}: no draw is within epsilon = {cfg.abc.epsilon}; the closest is at "
                f"{ok['objective'].iloc[0]:.4g}. Raise epsilon or the number of draws"
            )
        post = post.sort_values("trial")
        tmp = folder / ".posterior.parquet.tmp"
        post[["trial", "objective", *names]].to_parquet(tmp, index=False)
        tmp.replace(folder / "posterior.parquet")
        files.append("posterior.parquet")
        values = {n: float(post[n].median()) for n in names}
        fit = _fit(cal, {t.id: list(post[f"model_{t.id}"]) for t in cfg.targets}, "posterior")
        info.update(
            {
                "accepted": len(post),
                "epsilon": float(post["objective"].max()),
                "point": "posterior median of each parameter",
            }
        )
    fit.to_csv(folder / "fit.csv", index=False)
    files.append("fit.csv")
    write_parameter_file(folder / "parameters.toml", cal, values, info)
    files.append("parameters.toml")
    files += _figures(cal, folder, trials, fit)
    write_json(
        folder / "metadata.json",
        {
            "calibration": cfg.model_dump(mode="json"),
            "source": cal.source,
            "result": {**info, "parameters": values},
            "scenarios": [g.source for g in cal.groups],
            "versions": versions(),
            "command": command or [],
            **provenance(),
        },
    )
    files.append("metadata.json")
    return files


def _figures(cal: Calibration, folder: Path, trials: pd.DataFrame, fit: pd.DataFrame) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = trials[trials["state"] == "complete"].sort_values("trial")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.scatter(ok["trial"], ok["objective"], s=10, label="trial")
    ax.plot(ok["trial"], ok["objective"].cummin(), color="C1", label="best so far")
    ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel("objective")
    ax.set_title(f"{cal.config.name}: objective by trial")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "objective.png", dpi=120)
    plt.close(fig)

    n = len(fit)
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 3.2), squeeze=False)
    for ax, (_, row) in zip(axes[0], fit.iterrows(), strict=True):
        ax.errorbar([0], [row["value"]], yerr=[[row["uncertainty"]], [row["uncertainty"]]],
                    fmt="s", color="k", capsize=4, label="target ± uncertainty")  # fmt: skip
        lo = (
            max(row["model"] - row["model_low"], 0.0)
            if row["model_low"] == row["model_low"]
            else 0.0
        )
        hi = (
            max(row["model_high"] - row["model"], 0.0)
            if row["model_high"] == row["model_high"]
            else 0.0
        )
        ax.errorbar([1], [row["model"]], yerr=[[lo], [hi]], fmt="o", color="C0", capsize=4,
                    label="model")  # fmt: skip
        ax.set_xticks([0, 1], ["target", "model"])
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(row["target"], fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(folder / "fit.png", dpi=120)
    plt.close(fig)
    return ["objective.png", "fit.png"]


# ---------------------------------------------------------------------------------------------
# documentation


def field_reference() -> str:
    """The field tables of calibration and case files, as docs/calibration.md holds them
    (a test checks they are current)."""
    from sim.experiments.validate import CaseConfig

    measure = tuple(MeasureConfig.model_fields)
    parts = []
    for title, model, skip in (
        ("Calibration file (top level)", CalibrationConfig, ()),
        ("`[[parameters]]`", FreeParameter, ()),
        ("`[abc]`", AbcConfig, ()),
        ("Measure (of a target or a case)", MeasureConfig, ()),
        ("`[[targets]]` (a measure, plus)", TargetConfig, measure),
        ("`[case]` of a case file (a measure, plus)", CaseConfig, measure),
    ):
        lines = [f"#### {title}", "", "| field | default | unit | meaning |", "|---|---|---|---|"]
        for name, info in model.model_fields.items():
            if name in skip:
                continue
            if info.is_required():
                default = "required"
            elif isinstance(info.default, Strict):
                default = "(table)"
            else:
                default = json.dumps(info.default)
            extra = info.json_schema_extra
            unit = extra.get("unit", "") if isinstance(extra, dict) else ""
            lines.append(f"| `{name}` | {default} | {unit} | {info.description} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
