"""Reference outputs: hashes of every shipped scenario's tables at reduced size, plus variants.

The month-pipeline redesign (issue 10) must keep every output byte for byte. Each case below
runs a scenario small (few patients, few months, switches moved early) and hashes the
monthly table, the provider panel, the summary and the money ledgers, **column by column**
(table → column → hash of the column's name, dtype and values), so that a new column is
reported as new, not yet recorded, without touching the others' hashes, and a changed column
names itself. ``tests/project/test_reference_outputs.py`` recomputes them.

    python tests/reference_outputs.py           # compare: columns that differ, are new, went
    python tests/reference_outputs.py --add     # record new columns only (every recorded hash kept)
    python tests/reference_outputs.py --write   # re-record everything

A new output column is recorded with ``--add`` (it refuses to change a recorded hash). A
deliberate change of behaviour (a fix of issue 11, say) re-records with ``--write`` in the same
commit, and the commit message says why. The per-column format was recorded once (issue 23)
from the engine of commit e6c4cf6, whose whole-table hashes it replaced.

Two families of cases. ``shipped/<name>`` is each file of ``scenarios/`` as shipped now (on the
base world, ``scenarios/worlds/medicare.toml``: best-responding providers who decide admissions,
the calibrated parameters). The cases named by a scenario alone (``compare_payment_models``,
``compare_payment_models:optimal``, ...) are the scenarios as they were shipped before they were
put on the base world (issues 24 and 26): learning providers who take every patient, frozen in
``tests/reference/scenarios/`` so that their recorded bytes stay checked ("with the new mechanisms
off, today's reference outputs are unchanged").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
#: the scenarios as shipped before the base world (module docstring)
FROZEN = Path(__file__).resolve().parent / "reference" / "scenarios"
STORE = Path(__file__).resolve().parent / "reference" / "outputs.json"
#: the prefix of the cases that run the shipped files as they are now
SHIPPED = "shipped/"

PATIENTS = 1_500
MONTHS = 10
SWITCH_MONTH = 5


def _shipped(folder: Path = FROZEN) -> list[str]:
    out = []
    for p in sorted(folder.glob("*.toml")):
        data = tomllib.loads(p.read_text())
        if "arms" in data or "settings" in data or "payers" in data or "population" in data:
            out.append(p.stem)
    return out


#: what a mechanisms-off variant drops (issue 25: the life course, trends, over-treatment harm)
_LIFE_DIMENSIONS = ("age_band", "sex")


def _mechanisms_off(data: dict[str, Any]) -> dict[str, Any]:
    """The scenario without the life course, trends and over-treatment harm (and subgroups
    that need a life course): what it was before issue 25, whose hashes stay checked."""
    data.pop("life", None)
    data.pop("trends", None)
    settings = data.get("settings", {})
    for name, st in list(settings.items()):
        st.get("adverse_events", {}).pop("overtreatment_risk", None)
        if st.get("adverse_events") == {}:
            del st["adverse_events"]
        if not st:
            del settings[name]
    if "settings" in data and not settings:
        del data["settings"]
    analysis = data.get("analysis")
    if analysis and "subgroups" in analysis:
        analysis["subgroups"] = [
            g for g in analysis["subgroups"] if not set(g.split("*")) & set(_LIFE_DIMENSIONS)
        ]
    return data


def _changed_by_issue_25(name: str) -> bool:
    data = tomllib.loads((FROZEN / f"{name}.toml").read_text())
    return _mechanisms_off(tomllib.loads((FROZEN / f"{name}.toml").read_text())) != data


def _small(
    name: str, *, off: bool = False, shipped: bool = False, **changes: Any
) -> dict[str, Any]:
    """Scenario ``name`` at the reference size: the frozen pre-world file, or with ``shipped``
    the file of ``scenarios/`` with its world and parameter files applied."""
    if shipped:
        from sim.scenario.loading import read_scenario_data

        path = SCENARIOS / f"{name}.toml"
        data = read_scenario_data(path, str(path))
    else:
        data = tomllib.loads((FROZEN / f"{name}.toml").read_text())
    if off:
        data = _mechanisms_off(data)
    data["population"] = {**data.get("population", {}), "patients": PATIENTS}
    data["months"] = MONTHS
    data["replications"] = 1
    data["outputs"] = {**data.get("outputs", {}), "provider_panel": True, "figure": False}
    for arm in data.get("arms", []):
        for sw in arm.get("switches", []):
            sw.pop("date", None)
            sw["month"] = SWITCH_MONTH
    for key, value in changes.items():
        node = data
        *path, last = key.split(".")
        for k in path:
            node = node.setdefault(k, {})
        node[last] = value
    return data


def _voluntary_cjr() -> dict[str, Any]:
    """The validation scenario of CJR made voluntary (two switches: the bundle at month 3 on
    months 0-2, its third year at month 7 on months 1-4, the voluntary arm's hospitals choosing
    by months 5-6), at the reference size with hospitals of 300 members (five of them)."""
    from sim.scenario.loading import read_scenario_data

    path = ROOT / "validation" / "scenarios" / "cjr_2018.toml"
    data = read_scenario_data(path, str(path))
    data["population"] = {**data.get("population", {}), "patients": PATIENTS}
    data["settings"]["hospital"]["providers"]["members_per_provider"] = 300
    data["months"] = MONTHS
    data["replications"] = 1
    data["outputs"] = {**data.get("outputs", {}), "provider_panel": True, "figure": False}
    for arm in data["arms"]:
        first, third = arm["switches"]
        for sw, month in ((first, 3), (third, 7)):
            sw.pop("date", None)
            sw["month"] = month
        first["contracts"][0]["base_months"] = [0, 3]
        third["contracts"][0]["base_months"] = [1, 5]
        if "decision_months" in third["contracts"][0]:
            third["contracts"][0]["decision_months"] = [5, 7]
    return data


def _accountable_aco() -> dict[str, Any]:
    """The MSSP validation scenario (ACOs of practices accountable for their members'
    spending in every setting, and the pathway's physicians weighing it) at the reference
    size: the benchmark year 2012 in months 0-4, the performance year 2013 from month 5, with
    interim accrual (its lumps and adjustments month by month) and ACOs of 500 members."""
    from sim.scenario.loading import read_scenario_data

    path = ROOT / "validation" / "scenarios" / "mssp_aco.toml"
    data = read_scenario_data(path, str(path))
    data["population"] = {**data.get("population", {}), "patients": PATIENTS}
    data["start"] = dt.date(2012, 8, 1)
    data["months"] = MONTHS
    data["replications"] = 1
    data["outputs"] = {**data.get("outputs", {}), "provider_panel": True, "figure": False}
    for arm in data["arms"]:
        for c in arm["contracts"]:
            if c["model"] == "aco":
                c.update(benchmark_years=1, interim_accrual=True, members_per_aco=500)
    return data


def cases() -> dict[str, dict[str, Any]]:
    """Every shipped scenario as shipped now (``shipped/``); every scenario as shipped before the
    base world, its mechanisms-off variant where issue 25 switched
    mechanisms on (``:life_off``: the hashes recorded before it), plus behaviour variants of
    the main and reform scenarios (of the mechanisms-off scenario, so their recorded hashes
    stay checked too)."""
    out = {f"{SHIPPED}{name}": _small(name, shipped=True) for name in _shipped(SCENARIOS)}
    out |= {name: _small(name) for name in _shipped()}
    changed = {name for name in _shipped() if _changed_by_issue_25(name)}
    for name in sorted(changed):
        out[f"{name}:life_off"] = _small(name, off=True)

    def variant(name: str, **changes: Any) -> dict[str, Any]:
        return _small(name, off=name in changed, **changes)

    main = "compare_payment_models"
    out[f"{main}:optimal"] = variant(main, **{"behaviour.mode": "optimal"})
    out[f"{main}:fixed"] = variant(main, **{"behaviour.mode": "fixed"})
    out[f"{main}:selection"] = variant(main, **{"behaviour.selection.enabled": True})
    out[f"{main}:upcoding"] = variant(main, **{"behaviour.upcoding.enabled": True})
    # the shipped main comparison (its life course on) against trending prices and intensity
    out[f"{main}:trends"] = _small(
        main, **{"trends.price_update": 0.03, "trends.intensity_growth": 0.02}
    )
    out["home_health_reform:bunching_off"] = variant(
        "home_health_reform", **{"behaviour.bunching.enabled": False}
    )
    out["home_health_reform:bunching_prob"] = variant(
        "home_health_reform",
        **{"behaviour.bunching.enabled": True, "behaviour.bunching.probability": 0.5},
    )
    out["snf_payment_reform:optimal"] = variant(
        "snf_payment_reform", **{"behaviour.mode": "optimal"}
    )
    out["joint_replacement_bundle:optimal"] = variant(
        "joint_replacement_bundle", **{"behaviour.mode": "optimal"}
    )
    # providers on every margin: best responses to the contracts' prices, the extensive margin
    out[f"{main}:best_response_admission"] = variant(
        main,
        **{
            "behaviour.mode": "best_response",
            "behaviour.admission.enabled": True,
            "supply.participation.enabled": False,
            # each patient planned at its own payer's prices, as recorded before best response
            # honoured payer specificity (its default, 0, is one practice per panel)
            "behaviour.payer_specificity": 1.0,
        },
    )
    for name in ("home_health_reform", "snf_payment_reform", "joint_replacement_bundle"):
        out[f"{name}:best_response"] = variant(name, **{"behaviour.mode": "best_response"})
    # coding as a decision (per-member and case-mix prices of coding; a plan's PMPM), and
    # capacity at the contracts' prices rationing admissions
    coding = {"behaviour.upcoding.enabled": True, "behaviour.upcoding.mode": "decision"}
    out[f"{main}:coding_decision"] = variant(main, **coding)
    out["snf_payment_reform:coding_decision"] = variant("snf_payment_reform", **coding)
    out[f"{main}:capacity_price_admissions"] = variant(
        main,
        **{
            "behaviour.mode": "best_response",
            "behaviour.admission.enabled": True,
            "supply.participation.enabled": False,
            # each patient planned at its own payer's prices, as recorded before best response
            # honoured payer specificity (its default, 0, is one practice per panel)
            "behaviour.payer_specificity": 1.0,
            "supply.capacity.target": "price",
            "supply.capacity.ration_admissions": True,
            "supply.capacity.warmup_months": 2,
            "supply.capacity.initial": 0.9,
        },
    )
    out["validation/cjr_2018"] = _voluntary_cjr()
    out["validation/mssp_aco"] = _accountable_aco()
    out["prevention_investment:optimal"] = variant(
        "prevention_investment", **{"behaviour.mode": "optimal"}
    )
    out["prevention_investment:selection_upcoding"] = variant(
        "prevention_investment",
        **{"behaviour.selection.enabled": True, "behaviour.upcoding.enabled": True},
    )
    out["fee_cut_two_payers:supply"] = variant(
        "fee_cut_two_payers",
        **{
            "supply.capacity.warmup_months": 2,
            "supply.market.enabled": True,
            "supply.market.exit_months": 3,
            "supply.market.entry_months": 3,
            "settings.outpatient_therapy.providers.count": 4,
            "settings.outpatient_therapy.providers.fixed_cost": 4_000.0,
            "settings.primary_care.providers.count": 4,
            "settings.primary_care.providers.fixed_cost": 0.0,
        },
    )
    return out


def _hash(column: pd.Series) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([str(column.name), str(column.dtype)]).encode())
    h.update(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())
    return h.hexdigest()[:32]


def _hashes(df: pd.DataFrame | None) -> dict[str, str] | str:
    """Each column's hash (``"none"`` for a table the case does not write)."""
    if df is None:
        return "none"
    return {str(c): _hash(df[c]) for c in df.columns}


def fingerprint(data: dict[str, Any]) -> dict[str, dict[str, str] | str]:
    """The case's tables, column by column."""
    from sim.experiments.run import run
    from sim.scenario import validate_scenario

    scenario = validate_scenario(data, "reference case")
    result = run(scenario)
    ledgers = pd.DataFrame(result.ledgers)
    out = {
        "monthly": _hashes(result.monthly),
        "providers": _hashes(result.providers),
        "summary": _hashes(result.summary),
        "ledgers": _hashes(ledgers),
    }
    if result.life is not None:
        out["life"] = _hashes(result.life)
    return out


def differences(stored: dict[str, Any], now: dict[str, Any]) -> dict[str, list[str]]:
    """Where a case's fingerprint ``now`` departs from the ``stored`` one: ``changed`` (a
    recorded column hashes differently, or a table appeared or went), ``gone`` (a recorded
    column no longer written) and ``new`` (a column not yet recorded), as ``table.column``."""
    out: dict[str, list[str]] = {"changed": [], "gone": [], "new": []}
    for table in sorted(set(stored) | set(now)):
        was, got = stored.get(table), now.get(table)
        if not isinstance(was, dict) or not isinstance(got, dict):
            if was != got:
                out["changed"].append(table)
            continue
        for column in sorted(set(was) | set(got)):
            if column not in got:
                out["gone"].append(f"{table}.{column}")
            elif column not in was:
                out["new"].append(f"{table}.{column}")
            elif was[column] != got[column]:
                out["changed"].append(f"{table}.{column}")
    return out


def _added(stored: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with the columns of ``now`` it does not have (recorded hashes kept)."""
    out = {}
    for table, got in now.items():
        was = stored.get(table)
        out[table] = {**got, **was} if isinstance(was, dict) and isinstance(got, dict) else was
    return out


def compute() -> dict[str, dict[str, Any]]:
    return {name: fingerprint(data) for name, data in cases().items()}


def _write(store: dict[str, Any]) -> None:
    STORE.parent.mkdir(parents=True, exist_ok=True)
    STORE.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
    print(f"wrote {STORE}")


def main(argv: list[str]) -> int:
    if "--write" in argv:
        _write(compute())
        return 0
    stored = json.loads(STORE.read_text())
    now = compute()
    new_cases = sorted(set(now) - set(stored))
    gone_cases = sorted(set(stored) - set(now))
    found = {k: differences(stored[k], now[k]) for k in sorted(set(stored) & set(now))}
    if "--add" in argv:
        refused = [f"case {k} (recorded, no longer run)" for k in gone_cases]
        refused += [f"{k}: {c}" for k, d in found.items() for c in d["changed"] + d["gone"]]
        if refused:
            print("nothing added: recorded hashes differ (re-record with --write if intended):")
            print("\n".join(f"  {x}" for x in refused))
            return 1
        _write({k: _added(stored[k], now[k]) if k in stored else now[k] for k in now})
        return 0
    lines = [f"NEW, not yet recorded: case {k}" for k in new_cases]
    lines += [f"GONE: case {k} (recorded, no longer run)" for k in gone_cases]
    labels = {"changed": "DIFFERS", "gone": "GONE", "new": "NEW, not yet recorded"}
    for k, d in found.items():
        lines += [f"{labels[kind]}: {k}: {c}" for kind in labels for c in d[kind]]
    print("\n".join(lines) if lines else "all equal")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
