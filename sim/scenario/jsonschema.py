"""The JSON Schema of scenario files, generated from the pydantic schema, so that editors
validate and complete scenario files as they are typed.

The schema ships in the package (``sim/scenario/scenario.schema.json``; :func:`path`) and is
regenerated with ``python -m sim.scenario.jsonschema`` after a change of the schema (a test
checks it is current). It describes a scenario file as written, which differs from the
validated model in two places: a policy switch gives its ``month`` or its calendar ``date``
(the month is derived from the date), and a file may ``include`` parameter files. TOML dates are
strings of format ``date`` to a JSON Schema validator, as editors read them.

Editors: with the Even Better TOML extension (taplo), put ``#:schema PATH`` on the first line
of a scenario file, or associate ``scenarios/*.toml`` with the schema in its settings;
``sim scenarios schema`` prints the schema's path. See docs/scenario-schema.md.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

#: the shipped schema, beside this module
FILE = "scenario.schema.json"
#: the dialect of the generated schema
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def path() -> Path:
    """Where the shipped schema is (inside the installed package)."""
    return Path(str(files("sim.scenario").joinpath(FILE)))


def schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (see the module's docstring)."""
    from sim.scenario import Scenario
    from sim.scenario.parameters import INCLUDE

    out = Scenario.model_json_schema(mode="validation")
    switch = out["$defs"].get("SwitchConfig")
    if switch is not None and "month" in switch.get("required", []):
        # a switch gives its month, or a date the month is derived from
        switch["required"] = [r for r in switch["required"] if r != "month"]
        switch["anyOf"] = [{"required": ["month"]}, {"required": ["date"]}]
    out["properties"][INCLUDE] = {
        "description": "Parameter files (from sim calibrate) applied to this scenario, paths "
        "relative to it.",
        "items": {"type": "string"},
        "title": "Include",
        "type": "array",
    }
    return {"$schema": DIALECT, **out}


def text() -> str:
    """The schema as the shipped file holds it (sorted keys, two-space indent)."""
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """Write the schema into the package (``python -m sim.scenario.jsonschema``)."""
    target = Path(__file__).with_name(FILE)
    target.write_text(text(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
