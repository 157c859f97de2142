"""What the explorer computes, without any user interface: page settings → scenario overrides
(the same ``--set`` strings ``sim run`` takes) → a cached run → tidy tables for the figures.

Everything here is plain Python and pandas, so it is tested without a browser, and a page's
numbers can be reproduced with ``sim run SCENARIO --set ...`` (see :func:`command`).

The knobs are scenario-wide levels, applied to every place of the scenario they concern:

=================  ===========================================================================
knob               scenario fields it multiplies (× the scenario's own value)
=================  ===========================================================================
``fee_level``      each setting's fee schedule: ``conversion_factor`` (PFS), or
                   ``per_visit_rate`` where the setting has one
``pmpm_level``     ``pmpm`` of every contract paid per member (arms and switches)
``bundle_level``   ``base_rate`` of every episode (bundled, home-health) contract
``altruism_level`` the range (``low``, ``high``) of providers' altruism in every setting
``cost_sharing``   every payer's ``deductible``, every contract's ``coinsurance`` (at most 1)
                   and ``copay_per_visit``
``switch_month``   the month of each arm's first policy switch (later switches keep their
                   distance from it); ``None`` keeps the scenario's months
=================  ===========================================================================
"""

from __future__ import annotations

import io
import tempfile
import threading
import tomllib
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import ScenarioError

#: the population the page runs by default: big enough for a few providers per setting and
#: stable means, small enough that seven arms × 3 replications × 5 years take seconds
INTERACTIVE_PATIENTS = 10_000
#: replications by default: enough for a band, few enough to stay interactive
INTERACTIVE_REPLICATIONS = 3
#: runs kept in memory (one per distinct setting)
CACHE_SIZE = 32

#: the outcomes shown per arm: summary column -> (label, unit, decimals)
OUTCOMES: dict[str, tuple[str, str, int]] = {
    "spending_pmpm": ("payer spending", "$ pmpm", 2),
    "oop_pmpm": ("out-of-pocket", "$ pmpm", 2),
    "patients_treated_per_1000": ("patients treated", "/1,000 member-months", 1),
    "function_change": ("Δ function", "points", 2),
    "adverse_events_per_1000": ("adverse events", "/1,000 member-months", 2),
    "provider_margin_pct": ("provider margin", "% revenue", 1),
}

#: the monthly trends drawn: name -> (label, unit)
TRENDS: dict[str, tuple[str, str]] = {
    "spending_pmpm": ("payer spending", "$ per member-month"),
    "oop_pmpm": ("out-of-pocket", "$ per member-month"),
    "service_units_per_1000": ("service units", "per 1,000 members"),
    "function_change": ("Δ function since month 0", "points"),
}

#: the month-by-month view (:class:`Stepper`): DataCollector model reporter -> (label, unit)
WATCH: dict[str, tuple[str, str]] = {
    "spending_pmpm": ("payer spending", "$ per member-month"),
    "oop_pmpm": ("out-of-pocket", "$ per member-month"),
    "units_per_treated": ("units per patient treated", "units"),
    "function_change": ("Δ function since month 0", "points"),
}


@dataclass(frozen=True)
class Settings:
    """Everything the page lets a user choose; hashable, so it keys the run cache."""

    scenario: str = "compare_payment_models"
    patients: int = INTERACTIVE_PATIENTS
    months: int | None = None
    replications: int = INTERACTIVE_REPLICATIONS
    seed: int | None = None
    fee_level: float = 1.0
    pmpm_level: float = 1.0
    bundle_level: float = 1.0
    altruism_level: float = 1.0
    cost_sharing: float = 1.0
    switch_month: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for display and the saved file's comment)."""
        return asdict(self)


def resolve(scenario: str) -> Path:
    """A shipped scenario's name, or a path to a scenario file, as a path."""
    path = Path(scenario).expanduser()
    if path.suffix == ".toml" and path.exists():
        return path.resolve()
    from sim.scenario.catalog import find_scenario

    try:
        return find_scenario(scenario).path
    except ScenarioError:
        if path.suffix == ".toml":
            raise ScenarioError(str(path), None, "file not found") from None
        raise


def shipped_scenarios() -> list[str]:
    """Names of the shipped scenarios the page offers (sweep files left out)."""
    from sim.scenario.catalog import list_scenarios

    return [s.name for s in list_scenarios() if s.kind == "scenario"]


def load_base(scenario: str):
    """The scenario as its file defines it (validated), without the page's overrides."""
    from sim.scenario import load_scenario

    return load_scenario(resolve(scenario))


@dataclass(frozen=True)
class Knobs:
    """Which knobs a scenario has something to act on, and the ranges the page offers."""

    fees: bool
    pmpm: bool
    bundles: bool
    cost_sharing: bool
    switch_month: int | None
    months: int
    arms: list[str]


def knobs(base) -> Knobs:
    """What the page can change in ``base``: a knob with nothing to act on is disabled."""
    contracts = [c for _, _, _, c in _contracts(base)]
    first = [a.switches[0].month for a in base.arms if a.switches]
    return Knobs(
        fees=True,
        pmpm=any(_has(c, "pmpm") for c in contracts),
        bundles=any(_has(c, "base_rate") for c in contracts),
        cost_sharing=True,
        switch_month=min(first) if first else None,
        months=base.months,
        arms=[a.name for a in base.arms],
    )


def _has(contract, name: str) -> bool:
    """Whether the contract's payment model has parameter ``name`` (a knob acts on a
    capability — any model paid per member has a ``pmpm`` — not on a model's name)."""
    return name in type(contract.params).model_fields


def _contracts(base):
    """(dotted prefix, arm index, switch index or None, contract) of every contract."""
    for i, arm in enumerate(base.arms):
        for j, c in enumerate(arm.contracts):
            yield f"arms.{i}.contracts.{j}", i, None, c
        for k, sw in enumerate(arm.switches):
            for j, c in enumerate(sw.contracts):
                yield f"arms.{i}.switches.{k}.contracts.{j}", i, k, c


def _num(x: float) -> str:
    """A float as TOML that reads back to the same number (rounded to 6 decimals)."""
    v = round(float(x), 6)
    return repr(v) if v != int(v) else f"{int(v)}.0"


def overrides(base, settings: Settings) -> list[str]:
    """The ``--set KEY=VALUE`` overrides that turn ``base`` into the page's scenario."""
    out: list[str] = [
        f"population.patients={int(settings.patients)}",
        f"replications={int(settings.replications)}",
        "outputs.provider_panel=true",
        "outputs.figure=false",
    ]
    if settings.months is not None and settings.months != base.months:
        out.append(f"months={int(settings.months)}")
    if settings.fee_level != 1.0:
        for name, st in base.settings.items():
            if st.per_visit_rate is not None:
                out.append(f"settings.{name}.per_visit_rate="
                           f"{_num(st.per_visit_rate * settings.fee_level)}")  # fmt: skip
            else:
                out.append(f"settings.{name}.conversion_factor="
                           f"{_num(st.conversion_factor * settings.fee_level)}")  # fmt: skip
    if settings.altruism_level != 1.0:
        for name, st in base.settings.items():
            alt = st.providers.altruism
            for end in ("low", "high"):
                value = getattr(alt, end) * settings.altruism_level
                out.append(f"settings.{name}.providers.altruism.{end}={_num(value)}")
    if settings.cost_sharing != 1.0:
        for name, payer in base.payers.items():
            if payer.deductible > 0:
                value = payer.deductible * settings.cost_sharing
                out.append(f"payers.{name}.deductible={_num(value)}")
    for prefix, _, _, c in _contracts(base):
        p = c.params
        fields = type(p).model_fields
        if settings.pmpm_level != 1.0 and "pmpm" in fields:
            out.append(f"{prefix}.pmpm={_num(p.pmpm * settings.pmpm_level)}")
        if settings.bundle_level != 1.0 and "base_rate" in fields:
            out.append(f"{prefix}.base_rate={_num(p.base_rate * settings.bundle_level)}")
        if settings.cost_sharing != 1.0:
            if p.coinsurance > 0:
                value = min(1.0, p.coinsurance * settings.cost_sharing)
                out.append(f"{prefix}.coinsurance={_num(value)}")
            if p.copay_per_visit > 0:
                value = p.copay_per_visit * settings.cost_sharing
                out.append(f"{prefix}.copay_per_visit={_num(value)}")
    if settings.switch_month is not None:
        for i, arm in enumerate(base.arms):
            if not arm.switches or arm.switches[0].month == settings.switch_month:
                continue
            shift = settings.switch_month - arm.switches[0].month
            for k, sw in enumerate(arm.switches):
                out.append(f"arms.{i}.switches.{k}.month={sw.month + shift}")
    return out


def command(settings: Settings) -> list[str]:
    """The ``sim run`` command that reproduces the page's run (same tables)."""
    base = load_base(settings.scenario)
    cmd = ["sim", "run", str(resolve(settings.scenario))]
    for o in overrides(base, settings):
        # the page's runs skip the figure; its export (what the command reproduces) draws it
        cmd += ["--set", "outputs.figure=true" if o == "outputs.figure=false" else o]
    if settings.seed is not None:
        cmd += ["--seed", str(settings.seed)]
    return cmd


def scenario_for(settings: Settings):
    """The validated scenario of the page's settings."""
    from sim.scenario import load_scenario

    path = resolve(settings.scenario)
    return load_scenario(path, overrides(load_base(settings.scenario), settings))


class Superseded(Exception):
    """Raised from a run's progress callback to abandon a run nobody waits for any more."""


_cache: OrderedDict[tuple, Any] = OrderedDict()
_lock = threading.Lock()


def _key(settings: Settings) -> tuple:
    path = resolve(settings.scenario)
    return (str(path), path.stat().st_mtime_ns, replace(settings, scenario=str(path)))


def cached(settings: Settings):
    """The cached run of these settings, or None."""
    with _lock:
        return _cache.get(_key(settings))


def run_settings(settings: Settings, progress: Callable[[float], None] | None = None):
    """Run the page's scenario (every arm, every replication), or take it from the cache.

    ``progress`` gets the fraction done; it may raise :class:`Superseded` to abandon the run
    (nothing is cached then)."""
    key = _key(settings)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    from sim.experiments.run import run

    scenario = scenario_for(settings)

    def report(done: int, total: int, _pm: int) -> None:
        if progress is not None:
            progress(done / total)

    result = run(scenario, seed=settings.seed, progress=report)
    with _lock:
        _cache[key] = result
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def clear_cache() -> None:
    """Forget every cached run."""
    with _lock:
        _cache.clear()


# ---------------------------------------------------------------------------------------------
# tidy tables for the page


def summary_table(result) -> pd.DataFrame:
    """One row per arm (all settings together), the outcomes of :data:`OUTCOMES`, averaged over
    replications: exactly the ``setting == "all"`` rows of the run's summary."""
    s = result.summary
    s = s[s["setting"] == "all"].set_index("arm")
    return s.loc[result.arms, list(OUTCOMES)]


def trends(result) -> pd.DataFrame:
    """Monthly trends per arm and replication (all settings together): columns arm,
    replicate, month, metric (a key of :data:`TRENDS`), value."""
    m = result.monthly
    first = m["setting"].iloc[0]
    keys = ["arm", "replicate", "month"]
    members = m[m["setting"] == first].groupby(keys)["members"].sum()
    g = m.groupby(keys)
    one = m[m["setting"] == first].assign(w=lambda d: d["function_change"] * d["members"])
    values = {
        "spending_pmpm": g["spending"].sum() / members,
        "oop_pmpm": g["oop"].sum() / members,
        "service_units_per_1000": 1000 * g["service_units"].sum() / members,
        "function_change": one.groupby(keys)["w"].sum() / members,
    }
    frames = [v.rename("value").reset_index().assign(metric=k) for k, v in values.items()]
    return pd.concat(frames, ignore_index=True)[["arm", "replicate", "month", "metric", "value"]]


def bands(tidy: pd.DataFrame) -> pd.DataFrame:
    """Mean and range (min, max) over replications of each arm, month and metric."""
    g = tidy.groupby(["metric", "arm", "month"], sort=False)["value"]
    return g.agg(mean="mean", low="min", high="max").reset_index()


def provider_styles(result) -> pd.DataFrame:
    """Each provider's practice style θ against its optimum θ* in the last month, per arm,
    replication and setting (columns arm, replicate, setting, provider, theta,
    theta_optimal, gap = θ − θ*)."""
    p = result.providers
    last = p[p["month"] == p["month"].max()]
    cols = ["arm", "replicate", "setting", "provider", "theta", "theta_optimal"]
    out = last[cols].reset_index(drop=True)
    return out.assign(gap=out["theta"] - out["theta_optimal"])


class Stepper:
    """The page's arms as Mesa models, stepped together one month at a time (Mesa's own
    play / step / reset): one :class:`~sim.engine.model.HealthSystemModel` per arm, built as the
    batch run builds replicate 0 under the page's seed (so its months are the run's first
    replication's), each collecting :data:`WATCH` in its DataCollector."""

    def __init__(self, settings: Settings) -> None:
        from sim.engine.model import HealthSystemModel

        self.settings = settings
        self.scenario = scenario_for(settings)
        seed = self.scenario.seed if settings.seed is None else settings.seed
        self.models = {
            a.name: HealthSystemModel(self.scenario, a.name, rng=seed, replicate=0)
            for a in self.scenario.arms
        }
        self.month = 0

    @property
    def done(self) -> bool:
        """Every month of the scenario simulated."""
        return self.month >= self.scenario.months

    def step(self) -> int:
        """One more month for every arm (nothing once done); the months simulated."""
        if not self.done:
            for model in self.models.values():
                model.step()
            self.month += 1
        return self.month

    def data(self) -> pd.DataFrame:
        """The DataCollectors' series so far: columns arm, month (1, 2, ...), date (the first
        day of the calendar month, from the scenario's start), measure (a key of
        :data:`WATCH`), value."""
        from sim.publish.figures import as_dates
        from sim.publish.trends import scenario_start

        frames = []
        for arm, model in self.models.items():
            df = model.datacollector.get_model_vars_dataframe()[list(WATCH)]
            df = df.reset_index(drop=True).assign(arm=arm, month=lambda d: d.index + 1)
            frames.append(df.melt(["arm", "month"], var_name="measure", value_name="value"))
        out = pd.concat(frames, ignore_index=True)
        start = scenario_start(self.scenario.model_dump(mode="json"))
        out["date"] = as_dates(out["month"] - 1, start)
        return out[["arm", "month", "date", "measure", "value"]]


# ---------------------------------------------------------------------------------------------
# saving and exporting


def scenario_toml(settings: Settings) -> str:
    """The page's settings as a scenario file: the base file's table with the overrides applied,
    headed by a comment saying where it came from. Loads to the page's scenario. A base file on
    a world is written out whole, its world and the world's parameters applied (the file is
    saved on its own, away from the world it names), the world's name in the heading."""
    import tomli_w

    from sim.scenario import apply_override, parse_override
    from sim.scenario.loading import read_scenario_data

    path = resolve(settings.scenario)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data.setdefault("name", path.stem)
    world = data.get("world")
    if isinstance(world, str):
        data = read_scenario_data(path, str(path))
        data.pop("world", None)
    for item in overrides(load_base(settings.scenario), settings):
        keys, value = parse_override(item)
        apply_override(data, keys, value, "explorer")
    if settings.seed is not None:
        data["seed"] = settings.seed
    head = [
        f"# Saved from the payment-sim explorer (sim explore), based on {path.name}.",
        "# Explorer settings: "
        + ", ".join(f"{k}={v}" for k, v in settings.to_dict().items() if k != "scenario"),
    ]
    if isinstance(world, str):
        head.append(
            f"# Written out whole: the base file's world ({world}) and its parameters applied."
        )
    head.append("")
    return "\n".join(head) + tomli_w.dumps(_without_none(data))


def _without_none(obj: Any) -> Any:
    """TOML has no null: a field left at None takes its default, so it is left out."""
    if isinstance(obj, dict):
        return {k: _without_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_without_none(v) for v in obj]
    return obj


def export_zip(settings: Settings) -> bytes:
    """The results folder of the page's run (as ``sim run`` writes it, with the figure) as a
    zip archive; metadata records the explorer's settings and the equivalent command."""
    from sim.publish.plots import trends_png
    from sim.results.folder import write_results

    result = run_settings(settings)
    meta = result.metadata()
    meta["command"] = command(settings)
    meta["explorer_settings"] = settings.to_dict()
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        written = write_results(
            Path(tmp) / result.scenario.name,
            monthly=result.monthly,
            summary=result.summary,
            providers=result.providers,
            meta=meta,
            figures=trends_png(result.monthly, result.scenario),
            life=result.life,
            subgroups=result.subgroups,
            scenario=result.scenario,
        )
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in written.files:
                zf.write(written.path / name, f"{result.scenario.name}/{name}")
    return buf.getvalue()
