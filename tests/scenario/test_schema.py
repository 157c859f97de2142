"""The JSON Schema of scenario files (sim/scenario/scenario.schema.json): generated from the
pydantic schema and current, shipped in the package, and every shipped scenario validates
against it while a bad file does not."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from paths import ROOT

from sim.cli import main
from sim.scenario import jsonschema as js

jsonschema = pytest.importorskip("jsonschema")

#: every shipped scenario file (sweep files, which name a scenario and a design, aside)
SCENARIOS = [
    p
    for p in sorted(
        [
            *(ROOT / "scenarios").glob("*.toml"),
            *(ROOT / "validation" / "scenarios").glob("*.toml"),
            *(ROOT / "calibration" / "scenarios").glob("*.toml"),
        ]
    )
    if not {"scenario", "design"} <= set(tomllib.loads(p.read_text(encoding="utf-8")))
]


def _as_json(path: Path) -> dict:
    """A TOML file as an editor hands it to a JSON Schema validator (dates as ISO strings); a
    file on a world (``world = ...``) with its world's tables under it, as the loader reads it
    (the world supplies what the file leaves out, e.g. a pathway's destinations)."""
    from sim.scenario.world import apply_world

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data = apply_world(data, path, str(path))
    data.pop("world", None)  # the world's name, recorded by the loader
    return json.loads(json.dumps(data, default=str))


def _validator():
    schema = json.loads(js.path().read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_the_shipped_schema_is_current():
    """The file in the package is what the pydantic schema generates today
    (regenerate with `python -m sim.scenario.jsonschema`)."""
    assert js.path().read_text(encoding="utf-8") == js.text()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_scenarios_validate(path):
    """Every shipped scenario file is valid under the schema."""
    data = _as_json(path)
    errors = [f"{list(e.path)}: {e.message}" for e in _validator().iter_errors(data)]
    assert not errors, "\n".join(errors)


def test_the_schema_refuses_what_the_loader_refuses():
    """An unknown field, a wrong type, a value out of bounds and a switch without a month or a
    date are errors; a switch with a date alone is not."""
    v = _validator()
    base = _as_json(ROOT / "scenarios" / "compare_payment_models.toml")
    assert v.is_valid(base)
    for change, where in (
        ({"montsh": 12}, "unknown field"),
        ({"months": "sixty"}, "wrong type"),
        ({"months": -1}, "out of bounds"),
        ({"start": "2025-13-01"}, "not a date"),
    ):
        assert not v.is_valid({**base, **change}), where
    arm = {"name": "x", "contracts": [{"model": "ffs"}], "switches": [{"contracts": []}]}
    assert not v.is_valid({**base, "arms": [arm]})
    arm["switches"] = [{"date": "2026-01-01", "contracts": []}]
    assert v.is_valid({**base, "arms": [arm]})


def test_sim_scenarios_schema_prints_its_path_and_text(capsys):
    """`sim scenarios schema` prints the shipped file's path; --json prints the schema."""
    assert main(["scenarios", "schema"]) == 0
    assert Path(capsys.readouterr().out.strip()) == js.path()
    assert main(["scenarios", "schema", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["$schema"] == js.DIALECT
