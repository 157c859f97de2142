"""Reference outputs: hashes of every shipped scenario's tables at reduced size, plus variants.

The month-pipeline redesign (issue 10) must keep every output byte for byte. Each case below
runs a shipped scenario small (few patients, few months, switches moved early) and hashes the
monthly table, the provider panel, the summary and the money ledgers. The hashes were recorded
from the engine before the redesign (``python tests/reference_outputs.py --write``); the test
``tests/test_reference_outputs.py`` recomputes them.

A deliberate change of behaviour (a fix of issue 11, say) re-records them with ``--write`` in
the same commit, and the commit message says why.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
STORE = Path(__file__).resolve().parent / "reference" / "outputs.json"

PATIENTS = 1_500
MONTHS = 10
SWITCH_MONTH = 5


def _shipped() -> list[str]:
    out = []
    for p in sorted(SCENARIOS.glob("*.toml")):
        data = tomllib.loads(p.read_text())
        if "arms" in data or "settings" in data or "payers" in data or "population" in data:
            out.append(p.stem)
    return out


def _small(name: str, **changes: Any) -> dict[str, Any]:
    data = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
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


def cases() -> dict[str, dict[str, Any]]:
    """Every shipped scenario, plus behaviour variants of the main and reform scenarios."""
    out = {name: _small(name) for name in _shipped()}
    main = "compare_payment_models"
    out[f"{main}:optimal"] = _small(main, **{"behaviour.mode": "optimal"})
    out[f"{main}:fixed"] = _small(main, **{"behaviour.mode": "fixed"})
    out[f"{main}:selection"] = _small(main, **{"behaviour.selection.enabled": True})
    out[f"{main}:upcoding"] = _small(main, **{"behaviour.upcoding.enabled": True})
    out["home_health_reform:bunching_off"] = _small(
        "home_health_reform", **{"behaviour.bunching.enabled": False}
    )
    out["home_health_reform:bunching_prob"] = _small(
        "home_health_reform",
        **{"behaviour.bunching.enabled": True, "behaviour.bunching.probability": 0.5},
    )
    out["snf_payment_reform:optimal"] = _small(
        "snf_payment_reform", **{"behaviour.mode": "optimal"}
    )
    out["joint_replacement_bundle:optimal"] = _small(
        "joint_replacement_bundle", **{"behaviour.mode": "optimal"}
    )
    out["prevention_investment:optimal"] = _small(
        "prevention_investment", **{"behaviour.mode": "optimal"}
    )
    out["prevention_investment:selection_upcoding"] = _small(
        "prevention_investment",
        **{"behaviour.selection.enabled": True, "behaviour.upcoding.enabled": True},
    )
    out["fee_cut_two_payers:supply"] = _small(
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


def _hash(df: pd.DataFrame | None) -> str:
    if df is None:
        return "none"
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in df.columns]).encode())
    h.update(json.dumps([str(t) for t in df.dtypes]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:32]


def fingerprint(data: dict[str, Any]) -> dict[str, str]:
    from sim.experiments.run import run
    from sim.scenario import validate_scenario

    scenario = validate_scenario(data, "reference case")
    result = run(scenario)
    ledgers = pd.DataFrame(result.ledgers)
    return {
        "monthly": _hash(result.monthly),
        "providers": _hash(result.providers),
        "summary": _hash(result.summary),
        "ledgers": _hash(ledgers),
    }


def compute() -> dict[str, dict[str, str]]:
    return {name: fingerprint(data) for name, data in cases().items()}


if __name__ == "__main__":
    if "--write" in sys.argv:
        STORE.parent.mkdir(parents=True, exist_ok=True)
        STORE.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n")
        print(f"wrote {STORE}")
    else:
        stored = json.loads(STORE.read_text())
        now = compute()
        bad = [k for k in sorted(set(stored) | set(now)) if stored.get(k) != now.get(k)]
        for k in bad:
            print(f"DIFFERS {k}: {stored.get(k)} != {now.get(k)}")
        print("all equal" if not bad else f"{len(bad)} differ")
