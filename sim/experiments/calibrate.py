"""Calibration to stated targets: ``sim calibrate CALIBRATION.toml``.

A calibration file names free parameters (dotted scenario fields, ``*`` for every entry of a
table, several fields moving together; a range and a prior), targets (a measure of a
scenario's outputs, :mod:`sim.experiments.measures`, with the published value, its uncertainty and
source) and how to search:

- ``method = "optuna"``: Optuna's TPE (or random) sampler minimises the objective, by default
  the weighted squared standardized distance ``Σ_k w_k ((m_k − v_k) / u_k)²``, where ``m_k`` is
  target k's model figure averaged over ``seeds`` replicates;
- ``method = "abc"``: ABC rejection (Pritchard et al. 1999) [@pritchard1999]: ``trials`` draws
  from the prior, each simulated, the distance is the same objective, and the ``accept``
  fraction of draws closest to the targets (or those within ``epsilon``) is the posterior
  sample.

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
from sim.experiments.priors import FreeParameter
from sim.guards.limits import parse_toml, read_input
from sim.scenario import F, Strict, apply_override, check_label, read_scenario_data
from sim.scenario.parameters import apply_parameters, matches

STUDY = "study.db"
SPEC = "calibration.json"
PARTS = "parts"
ERRORS = "errors.jsonl"


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


class SmcConfig(Strict):
    """ABC-SMC (``method = "abc_smc"``, :mod:`sim.experiments.abc_smc`): the population, the
    generations, when to stop and the perturbation kernel."""

    population: int = F(200, "particles", "Particles accepted in each generation.", ge=10,
                        le=100_000)  # fmt: skip
    generations: int = F(8, "generations", "Most generations (0 is the prior).", ge=1, le=100)
    quantile: float = F(
        0.5, "fraction", "Each generation's epsilon: this quantile of the last distances.",
        gt=0, lt=1,
    )  # fmt: skip
    minimum_epsilon: float = F(
        0.0, "as distance", "Stop once epsilon is at most this (0: run every generation).", ge=0
    )
    max_simulations: int | None = F(
        None, "particles", "Stop after this many particles were simulated in all.", ge=1
    )
    batch: int | None = F(
        None, "particles", "Proposals simulated at once (default: 4 × the workers, at least "
        "the population up to 64).", ge=1, le=100_000,
    )  # fmt: skip
    kernel: Literal["product", "multivariate"] = F(
        "product",
        "choice",
        "How a generation's particles are perturbed into the next one's proposals. product: "
        "each parameter on its own, the proposal the product of one-dimensional kernel "
        "density estimates with Student-t kernels (pyabc's AggregatedTransition), whose "
        "importance weights stay even in many dimensions; multivariate: pyabc's default, one "
        "multivariate normal kernel density estimate, whose weights collapse onto a few "
        "particles beyond a few parameters (the calibrations before this option; "
        "sim.experiments.abc_smc).",
    )


class CalibrationConfig(Strict):
    """A calibration file: free parameters, targets, objective and search."""

    name: str = F("calibration", "name", "Name; default output folder results/<name>/.")
    description: str = F("", "text", "What is calibrated and why.")
    method: Literal["optuna", "abc", "abc_smc"] = F(
        "optuna",
        "choice",
        "optuna: minimise the objective (a point estimate); abc: ABC rejection from the prior "
        "(a posterior sample); abc_smc: sequential Monte Carlo ABC with pyabc (a posterior "
        "sample, generation by generation: sim.experiments.abc_smc).",
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
    smc: SmcConfig = F(SmcConfig(), "table", "ABC-SMC settings (method = abc_smc).")
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
        given = self.model_fields_set
        if self.method == "abc" and "sampler" in given:
            raise ValueError("sampler: used by method = optuna only (abc draws from the prior)")
        if self.method == "optuna" and "abc" in given:
            raise ValueError("abc: the [abc] table is used by method = abc only")
        alone = [p.name for p in self.parameters if p.prior_only]
        if alone and self.method != "abc_smc":
            raise ValueError(
                f"prior_only ({', '.join(alone)}): used by method = abc_smc only, whose "
                "posterior carries such a parameter's prior"
            )
        if alone and len(alone) == len(self.parameters):
            raise ValueError("every parameter is prior_only: at least one must be simulated")
        if {"accept", "epsilon"} <= self.abc.model_fields_set:
            raise ValueError("abc: give accept (a share of the draws) or epsilon, not both")
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


def _sampler(cfg: CalibrationConfig, number: int = 0):
    """The sampler that draws trial ``number``'s parameters: seeded by the sampler seed and
    the trial's number (``SeedSequence(sampler_seed, spawn_key=(number,))``), so a trial's
    draw depends only on its number and the trials finished before it, never on how often the
    calibration was stopped and resumed."""
    import optuna

    seed = int(np.random.SeedSequence(cfg.sampler_seed, spawn_key=(number,)).generate_state(1)[0])
    if cfg.method == "abc" or cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, cfg.trials // 5)))


#: what ``sim calibrate`` writes into its folder
CALIBRATION_ENTRIES = {
    **dict.fromkeys(
        (SPEC, STUDY, f"{STUDY}-journal", f"{STUDY}-wal", f"{STUDY}-shm", ERRORS,
         "trials.parquet", "posterior.parquet", "fit.csv", "parameters.toml", "metadata.json",
         "identification.csv", "abc.db", "abc.db-journal", "abc.db-wal", "abc.db-shm",
         *(f"{name}.{ext}" for name in ("objective", "fit", "predictive", "pairs", "epsilon")
           for ext in ("png", "pdf", "svg"))),
        "file",
    ),
    PARTS: "folder",
}  # fmt: skip


def _own_calibration(folder: Path) -> str | None:
    from sim.guards import files

    if files.kind(folder, SPEC) != "file":
        return f"no {SPEC}"
    if files.kind(folder, PARTS) == "folder":
        for name, kind in files.entries(folder, PARTS).items():
            if kind != "file":
                return f"{PARTS}/{name} is not a file"
    return None


def open_study(cal: Calibration, folder: Path, batch: int = 1):
    """Create or reopen the study in ``folder/study.db``; refuse another calibration's.
    Return the study and the batch size (trials asked at once): ``batch`` for a new
    calibration, the one it started with for a resumed one (so the trials do not depend on
    the number of workers of the resumed run)."""
    from sim.guards.extras import require

    optuna = require("optuna", "calibration", "sim calibrate")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    batch = open_folder(cal, folder, batch)
    storage = f"sqlite:///{(folder / STUDY).resolve()}"
    study = optuna.create_study(
        study_name=cal.config.name,
        storage=storage,
        sampler=_sampler(cal.config),
        direction="minimize",
        load_if_exists=True,
    )
    return study, batch


def open_folder(cal: Calibration, folder: Path, batch: int = 1) -> int:
    """Create or reopen a calibration's folder (any method); refuse another calibration's, or
    a folder of other files. Returns the batch size (``batch``, or a resumed run's own)."""
    from sim.experiments.measures import write_json
    from sim.experiments.sweep import code_hash
    from sim.guards import files
    from sim.results.folder import check_folder

    if check_folder(
        folder, command="sim calibrate", entries=CALIBRATION_ENTRIES, own=_own_calibration
    ):
        from sim.guards.limits import read_json_object

        old = read_json_object(folder / SPEC)
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
        stored = old.get("batch")
        if isinstance(stored, int) and not isinstance(stored, bool) and 1 <= stored <= 4096:
            batch = stored
    else:
        write_json(
            folder / SPEC,
            {
                "name": cal.config.name,
                "fingerprint": cal.fingerprint(),
                "code": code_hash(),
                "calibration": cal.config.model_dump(mode="json"),
                "source": cal.source,
                "batch": batch,
            },
            root=folder,
        )
    with files.folder(folder, PARTS, create=True):
        pass
    return batch


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
            if read_part(part, folder) is not None:
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
                    folder=str(folder),
                )
            )
    return tasks


def trial_values(cal: Calibration, folder: Path, trial: int) -> dict[str, list[float]] | None:
    """Each target's values over the replicates of a trial, or None if a part is missing."""
    out: dict[str, list[float]] = {t.id: [] for t in cal.config.targets}
    for g in range(len(cal.groups)):
        for r in range(cal.config.seeds):
            part = read_part(part_path(folder, trial, g, r), folder)
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
    notice: Callable[[str], None] | None = None,
) -> CalibrationOutcome:
    """Run (or resume) the calibration until ``trials`` trials are finished, then write the
    outputs. ``progress(finished, trials, best objective)`` after each trial; ``notice(text)``
    when a worker process is lost (its runs fail, the others go on on a fresh worker).

    Trials are asked in batches of ``batch`` (default: the number of workers, kept from the
    first start): trials ``k·batch`` to ``(k+1)·batch − 1`` make batch ``k``, each drawn whole
    by a sampler seeded by its number (:func:`_sampler`, :func:`_draw`) from the trials of the
    batches before, then stored. So a calibration killed at any moment (even ``kill -9``) and
    resumed gives the trials, and the outputs, of one that was never stopped."""
    import os

    from optuna.trial import TrialState

    from sim.experiments.measures import executors
    from sim.experiments.sweep import check_scheduler

    started = time.perf_counter()
    folder = Path(folder)
    if executor == "dask":
        if not scheduler:
            raise ScenarioError("--scheduler", None, "--executor dask needs --scheduler")
        check_scheduler(scheduler)
    cfg = cal.config
    if cfg.method == "abc_smc":
        return _run_smc(cal, folder, executor, workers, scheduler, progress, command, started)
    workers = workers or os.cpu_count() or 1
    study, batch = open_study(cal, folder, cfg.batch or workers)

    def finished() -> list[Any]:
        return [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]

    resumed = sum(t.state == TrialState.RUNNING for t in study.get_trials(deepcopy=False))

    def best() -> float:
        done = [t.value for t in finished() if t.state == TrialState.COMPLETE]
        return min(done) if done else math.nan

    if progress:
        progress(len(finished()), cfg.trials, best())
    with executors(executor, workers, scheduler, notice) as pool:
        while len(finished()) < cfg.trials:
            _batch(cal, folder, study, pool, batch, progress, best)
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


def _run_smc(cal, folder, executor, workers, scheduler, progress, command, started):
    """``method = "abc_smc"``: the generations of :mod:`sim.experiments.abc_smc`, then the
    posterior's outputs."""
    import os

    from sim.experiments.abc_smc import run_smc
    from sim.experiments.measures import executors

    open_folder(cal, folder)
    workers = workers or os.cpu_count() or 1

    def tick(runs: int) -> None:
        if progress:  # how many simulations the generations take is not known in advance
            progress(runs, 0, math.nan)

    with executors(executor, workers, scheduler) as pool:
        outcome = run_smc(cal, folder, pool, workers=workers, progress=tick)
    files = write_smc_outputs(cal, folder, outcome, command)
    return CalibrationOutcome(
        folder=folder,
        trials=outcome.simulations,
        finished=outcome.simulations,
        failed=0,
        resumed=0,
        seconds=time.perf_counter() - started,
        best=outcome.epsilon,
        files=files,
    )


def _finished(study: Any) -> int:
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))


def _draw(study: Any, cfg: CalibrationConfig, number: int, dist: dict[str, Any]) -> dict:
    """Trial ``number``'s parameters (on the unit cube): drawn by its own sampler
    (:func:`_sampler`) in a study in memory holding the finished trials, so that the draw is
    made before anything of it is stored."""
    import optuna

    mem = optuna.create_study(direction="minimize", sampler=_sampler(cfg, number))
    mem.add_trials([t for t in study.get_trials(deepcopy=False) if t.state.is_finished()])
    return dict(mem.ask(dist).params)


def _batch(cal, folder, study, pool, batch, progress, best) -> None:
    """Run the first batch with an unfinished trial: ask its trials not yet asked (each with
    its own sampler), run those not yet told, tell them in order."""
    import optuna
    from optuna.trial import TrialState

    from sim.experiments.measures import execute
    from sim.guards import files

    cfg = cal.config
    names = [p.name for p in cfg.parameters]
    dist = {n: optuna.distributions.FloatDistribution(0.0, 1.0) for n in names}
    asked = study.get_trials(deepcopy=False)
    first = next((t.number for t in asked if not t.state.is_finished()), len(asked))
    start = first // batch * batch
    trials: list[tuple[int, dict[str, float]]] = []
    for num in range(start, min(start + batch, cfg.trials)):
        if num >= len(asked):  # drawn whole, then stored: enqueued with its values, and asked
            study.enqueue_trial(_draw(study, cfg, num, dist))
            t = study.ask(dist)
        else:
            t = asked[num]
            if t.state.is_finished():
                continue
            if t.state == TrialState.WAITING:  # stopped after it was enqueued
                t = study.ask(dist)
            elif any(n not in t.params for n in names):  # stopped while its values were stored
                trial = optuna.trial.Trial(study, t._trial_id)
                for n in names:
                    trial.suggest_float(n, 0.0, 1.0)  # the enqueued value
                t = study.get_trials(deepcopy=False)[num]
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
            why = errors.get(num, "a measure is undefined (NaN) in every replicate")
            with files.open_append(folder, ERRORS) as fh:
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
    from sim.guards import files

    if files.kind(folder, ERRORS) != "missing":
        for line in files.read_text(folder, ERRORS).splitlines():
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


def write_parameter_file(
    path: Path, cal: Calibration, values: dict[str, float], info: dict[str, Any]
) -> None:
    """A parameter file scenarios can include: [calibration] provenance (with the fields each
    calibrated parameter set, ``[calibration.fields]``), [parameters]. Written by tomli-w."""
    import tomli_w

    from sim import __version__

    head = [
        f"# Parameters calibrated by `sim calibrate {cal.source}` ({cal.config.method}).",
        '# Include them in a scenario with: include = ["<path to this file>"]',
        "# (docs/calibration.md). Fitted to the targets listed below: `sim validate` refuses",
        "# this file for a suite with a case of the same id.",
        "",
    ]
    calibration: dict[str, Any] = {
        "name": cal.config.name,
        "file": cal.source,
        "method": cal.config.method,
        "targets": [t.id for t in cal.config.targets],
        "version": __version__,
        "written": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **{k: _plain(v) for k, v in info.items()},
        "fields": {p.name: list(p.fields) for p in cal.config.parameters},
    }
    parameters = {
        f: round(values[p.name]) if p.integer else float(values[p.name])  # a whole number: int
        for p in cal.config.parameters
        for f in p.fields
    }
    text = tomli_w.dumps({"calibration": calibration, "parameters": parameters})
    from sim.guards import files

    files.write_text(path.parent, path.name, "\n".join(head) + text)


def _plain(v: Any) -> Any:
    """A value as TOML takes it (numpy numbers as Python's)."""
    return v.item() if hasattr(v, "item") else v


def write_outputs(
    cal: Calibration, folder: Path, study: Any, command: list[str] | None
) -> list[str]:
    """Trials table, fit, parameter file, figures and metadata of a finished calibration."""
    from sim.experiments.measures import write_json
    from sim.guards import files
    from sim.results.folder import provenance, versions

    cfg = cal.config
    trials = trials_table(cal, folder, study)
    written: list[str] = []
    with files.writer(folder, "trials.parquet") as fh:
        trials.to_parquet(fh, index=False)
    written.append("trials.parquet")
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
        with files.writer(folder, "posterior.parquet") as fh:
            post[["trial", "objective", *names]].to_parquet(fh, index=False)
        written.append("posterior.parquet")
        values = {n: float(post[n].median()) for n in names}
        fit = _fit(cal, {t.id: list(post[f"model_{t.id}"]) for t in cfg.targets}, "posterior")
        info.update(
            {
                "accepted": len(post),
                "epsilon": float(post["objective"].max()),
                "point": "posterior median of each parameter",
            }
        )
    files.write_text(folder, "fit.csv", fit.to_csv(index=False))
    written.append("fit.csv")
    write_parameter_file(folder / "parameters.toml", cal, values, info)
    written.append("parameters.toml")
    written += _figures(cal, folder, trials, fit)
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
        root=folder,
    )
    written.append("metadata.json")
    return written


def write_smc_outputs(
    cal: Calibration, folder: Path, outcome: Any, command: list[str] | None
) -> list[str]:
    """An ABC-SMC run's posterior sample (every generation, ``posterior.parquet``), the
    identification table (``identification.csv``), the posterior predictive fit of every
    target (``fit.csv``), the parameter file of posterior medians, figures and metadata."""
    from sim.experiments.abc_smc import (
        effective_sample_size,
        identification,
        posterior_table,
        weighted_quantile,
    )
    from sim.experiments.measures import write_json
    from sim.results.folder import provenance, versions

    cfg = cal.config
    post = posterior_table(cal, outcome.history)
    tmp = folder / ".posterior.parquet.tmp"
    post.to_parquet(tmp, index=False)
    tmp.replace(folder / "posterior.parquet")
    files = ["posterior.parquet"]
    final = post[post["generation"] == post["generation"].max()]
    ident, warnings = identification(cal, final)
    ident.to_csv(folder / "identification.csv", index=False)
    files.append("identification.csv")
    w = final["weight"].to_numpy()
    # the posterior median; a prior-only parameter's is its prior's, exactly
    values = {p.name: p.value(0.5) if p.prior_only
              else weighted_quantile(final[p.name].to_numpy(), w, 0.5)
              for p in cfg.parameters}  # fmt: skip
    # the posterior predictive of each target: the accepted particles' figures, weighted
    rows = []
    for tg in cfg.targets:
        x = final[f"model_{tg.id}"].to_numpy()
        mean = float(np.average(x, weights=w))
        z = (mean - tg.value) / tg.uncertainty
        rows.append({
            "target": tg.id, "value": tg.value, "uncertainty": tg.uncertainty, "model": mean,
            "model_low": weighted_quantile(x, w, 0.025),
            "model_high": weighted_quantile(x, w, 0.975), "z": z, "weight": tg.weight,
            "contribution": tg.weight * z * z, "within_1_uncertainty": bool(abs(z) <= 1),
            "source": tg.source,
        })  # fmt: skip
    fit = pd.DataFrame(rows)
    fit.to_csv(folder / "fit.csv", index=False)
    files.append("fit.csv")
    info: dict[str, Any] = {
        "seeds": cfg.seeds,
        "population": cfg.smc.population,
        "generations": outcome.generations,
        "simulations": outcome.simulations,
        "epsilon": outcome.epsilon,
        "effective_sample_size": round(effective_sample_size(w), 2),
        "point": "posterior median of each parameter (the final generation, weighted)",
    }
    write_parameter_file(folder / "parameters.toml", cal, values, info)
    files.append("parameters.toml")
    files += _smc_figures(cal, folder, post, fit)
    write_json(
        folder / "metadata.json",
        {
            "calibration": cfg.model_dump(mode="json"),
            "source": cal.source,
            "result": {**info, "parameters": values, "warnings": warnings},
            "scenarios": [g.source for g in cal.groups],
            "versions": versions(),
            "command": command or [],
            **provenance(),
        },
    )
    files.append("metadata.json")
    return files


def _smc_figures(cal: Calibration, folder: Path, post: pd.DataFrame, fit: pd.DataFrame):
    """The posterior predictive check of every target, the pairwise posterior and the
    epsilon schedule (PNG, PDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    final = post[post["generation"] == post["generation"].max()]
    prior_gen = post[post["generation"] == 0]
    n = len(fit)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.6 * rows), squeeze=False)
    for ax, (_, row) in zip(axes.flat, fit.iterrows(), strict=False):
        col = f"model_{row['target']}"
        ax.hist(prior_gen[col], bins=20, weights=prior_gen["weight"], color="0.8",
                label="generation 0", density=True)  # fmt: skip
        ax.hist(final[col], bins=20, weights=final["weight"], color="C0", alpha=0.7,
                label="posterior", density=True)  # fmt: skip
        ax.axvline(row["value"], color="k", lw=1.5, label="target")
        ax.axvspan(row["value"] - row["uncertainty"], row["value"] + row["uncertainty"],
                   color="k", alpha=0.12, label="± uncertainty")  # fmt: skip
        ax.set_title(str(row["target"]).replace("_", " "), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle("Posterior predictive check (model figure of each target)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    for ext in ("png", "pdf"):
        fig.savefig(folder / f"predictive.{ext}", dpi=300)
        out.append(f"predictive.{ext}")
    plt.close(fig)

    names = [p.name for p in cal.config.parameters]
    k = len(names)
    fig, axes = plt.subplots(k, k, figsize=(1.6 * k + 1, 1.6 * k + 1), squeeze=False)
    w = final["weight"].to_numpy()
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ax = axes[i][j]
            if i == j:
                ax.hist(final[a], bins=15, weights=w, color="C0")
            elif i > j:
                ax.scatter(final[b], final[a], s=4, alpha=0.5, c=w, cmap="Blues")
            else:
                ax.set_visible(False)
            ax.tick_params(labelsize=5)
            if i == k - 1:
                ax.set_xlabel(b.replace("_", " "), fontsize=6)
            if j == 0:
                ax.set_ylabel(a.replace("_", " "), fontsize=6)
    fig.suptitle("Posterior sample, pairwise (final generation)", fontsize=9)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(folder / f"pairs.{ext}", dpi=300)
        out.append(f"pairs.{ext}")
    plt.close(fig)

    eps = post.groupby("generation")["distance"].max()
    fig, ax = plt.subplots(figsize=(4, 2.6))
    ax.plot(eps.index, eps.to_numpy(), marker="o")
    ax.set_yscale("log")
    ax.set_xlabel("generation")
    ax.set_ylabel("largest accepted distance")
    ax.set_title("ABC-SMC: epsilon by generation", fontsize=9)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(folder / f"epsilon.{ext}", dpi=300)
        out.append(f"epsilon.{ext}")
    plt.close(fig)
    return out


def _figures(cal: Calibration, folder: Path, trials: pd.DataFrame, fit: pd.DataFrame) -> list[str]:
    """The objective by trial and each target against the model's figure
    (:func:`sim.publish.figures.objective_by_trial`, :func:`~sim.publish.figures.targets_fit`),
    each as PNG (300 dpi), PDF and SVG."""
    from sim.publish import figures as rf

    ok = trials[trials["state"] == "complete"].sort_values("trial")
    files = rf.save(rf.objective_by_trial(ok, cal.config.name), folder, "objective")
    files += rf.save(rf.targets_fit(fit), folder, "fit")
    return [f.name for f in files]


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
        ("`[smc]`", SmcConfig, ()),
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
