"""Generate the field reference and the data dictionary from the code, so they cannot drift.

    python -m sim.publish.reference        # rewrites docs/scenario-reference.md and docs/outputs.md

The tests check that the files in docs/ equal what this module generates.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from sim.engine.payment import REGISTRY
from sim.results.tables import MONTHLY_COLUMNS, PROVIDER_COLUMNS, SUMMARY_COLUMNS
from sim.scenario import Scenario
from sim.scenario.sweep import SweepConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"  # the checkout's docs (a developer tool)


def _type_name(t: object) -> str:
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if origin is typing.Annotated:  # a number with bounds: named by its type
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " or ".join(f'"{a}"' for a in args)
    if origin in (list, dict):
        inner = ", ".join(_type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    if t is type(None):
        return "none"
    return getattr(t, "__name__", str(t))


def _default(f) -> str:
    if f.default is PydanticUndefined:
        return "required"
    d = f.default
    if isinstance(d, BaseModel):
        return "(table below)"
    if isinstance(d, dict) and d and all(isinstance(v, BaseModel) for v in d.values()):
        return "`" + "`, `".join(d) + "` (see defaults)"
    if d is None:
        return "derived"
    if hasattr(d, "isoformat"):
        return f"`{d.isoformat()}`"
    return f"`{json.dumps(d, ensure_ascii=False)}`"


def _nested(t: object) -> list[type[BaseModel]]:
    out = []
    for a in (t, *typing.get_args(t)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            out.append(a)
        for b in typing.get_args(a):
            if isinstance(b, type) and issubclass(b, BaseModel):
                out.append(b)
    return out


def _table(model: type[BaseModel], path: str, seen: set, lines: list[str]) -> None:
    lines += [f"### `{path}`", ""]
    if model.__doc__ and model.__doc__.strip() and not model.__doc__.startswith("Base"):
        lines += [model.__doc__.strip().splitlines()[0], ""]
    lines += ["| field | type | default | unit | meaning |", "|---|---|---|---|---|"]
    children = []
    for name, f in model.model_fields.items():
        extra = f.json_schema_extra
        unit = extra.get("unit", "") if isinstance(extra, dict) else ""
        desc = (f.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {_type_name(f.annotation)} | {_default(f)} | {unit} | {desc} |")
        for sub in _nested(f.annotation):
            origin = typing.get_origin(f.annotation)
            sub_path = f"{path}.{name}" + (".<name>" if origin is dict else "")
            sub_path = sub_path + (".<i>" if origin is list else "")
            children.append((sub, sub_path.lstrip(".")))
    lines.append("")
    for sub, sub_path in children:
        if (sub, sub_path) not in seen:
            seen.add((sub, sub_path))
            _table(sub, sub_path, seen, lines)


def _diff(value: BaseModel, base: BaseModel, prefix: str = "") -> list[str]:
    out = []
    for name, field in type(value).model_fields.items():
        a = getattr(value, name)
        b = getattr(base, name, field.default)
        if isinstance(a, BaseModel) and isinstance(b, BaseModel):
            out += _diff(a, b, f"{prefix}{name}.")
        elif a != b:
            out.append(f"`{prefix}{name} = {json.dumps(a, ensure_ascii=False)}`")
    return out


def scenario_reference() -> str:
    """docs/scenario-reference.md: every scenario and sweep field, its default, unit, meaning."""
    lines = [
        "# Scenario field reference",
        "",
        "Generated from the schema in `sim/scenario/schema.py` and `sim/engine/payment/` by "
        "`python -m sim.publish.reference`; do not edit by hand. Every field has a default (or is "
        "marked required), a unit and a meaning; sources are cited in the meaning. Unknown "
        "fields are errors. Any field can be overridden on the command line with "
        "`--set dotted.key=value` (list entries by number: `arms.0.contracts.1.pmpm=12`).",
        "",
        "## Scenario",
        "",
    ]
    _table(Scenario, "", set(), lines)
    lines += [
        "## Built-in defaults of the named tables",
        "",
        "When a scenario omits `payers`, `settings`, `population.conditions` or "
        "`population.regions`, these entries are used. An entry a scenario defines with one "
        "of these names starts from the built-in values (so `[settings.primary_care]` with "
        "`marginal_cost = 50` changes only the cost), and `--set` into a table the scenario "
        "does not define keeps the table's other entries. Values that differ from the field "
        "defaults above:",
        "",
    ]
    defaults = Scenario.model_fields
    pop_defaults = defaults["population"].default
    for path, table in (
        ("payers", defaults["payers"].default),
        ("settings", defaults["settings"].default),
        ("population.conditions", pop_defaults.conditions),
        ("population.regions", pop_defaults.regions),
    ):
        for key, value in table.items():
            diffs = _diff(value, type(value).model_construct())
            lines.append(f"- `{path}.{key}`: " + (", ".join(diffs) or "all field defaults"))
    lines += [
        "",
        "## Payment models (`arms.<i>.contracts.<j>`)",
        "",
        "A contract names its `model` and gives that model's parameters beside `setting` and "
        "`payer`. Every model also takes the common cost-sharing and liability fields.",
        "",
    ]
    for name, cls in REGISTRY.items():
        lines += [f'### `model = "{name}"`', "", cls.summary + ".", ""]
        sub: list[str] = []
        _table(cls.Params, f"contract ({name})", set(), sub)
        lines += sub[2:]
    lines += [
        "",
        "## Sweep files (`sim sweep SWEEP.toml`)",
        "",
        "A sweep file names a base scenario, the fields to vary and a design; see docs/sweeps.md.",
        "",
    ]
    sub = []
    _table(SweepConfig, "", set(), sub)
    lines += [x.replace("### ``", "### (sweep, top level)") for x in sub]
    lines = [line.replace("### ``", "### (top level)") for line in lines]
    return "\n".join(lines).rstrip() + "\n"


def outputs_reference() -> str:
    """docs/outputs.md: every output column with type, unit and meaning."""
    lines = [
        "# Output data dictionary",
        "",
        "Generated from `sim/results/tables.py` by `python -m sim.publish.reference`; "
        "do not edit by hand. The same dictionary is written into every results folder's "
        "`metadata.json` "
        "(`columns`).",
        "",
        "A results folder (`sim run`, default `results/<scenario name>/`) holds:",
        "",
        "- `monthly.parquet`: one row per (arm, replicate, month, setting, payer);",
        "- `summary.csv`: one row per (arm, setting), plus setting `all`;",
        "- `providers.parquet`: one row per (arm, replicate, month, setting, provider), when "
        "`outputs.provider_panel = true`;",
        "- `metadata.json`: the scenario as loaded, the seed, random-stream layout, `shards` "
        "(for a run split into shards: their count and each shard's regions; null otherwise), "
        "package and "
        "dependency versions, the git commit, the command line and this dictionary;",
        "- `trends.png`: monthly cost and outcome trends by arm;",
        "- with an `[analysis]` table in the scenario: `subgroups.parquet` (one row per arm, "
        "replicate, month, subgroup dimension and group; dimension `all` is everyone), "
        "`summary_subgroups.csv` (one row per arm, dimension and group), and the "
        "health-economic tables `economics.csv` (one row per arm), `economics_replicates.csv` "
        "(one row per arm and replication: the probabilistic-sensitivity draws) and `ceac.csv` "
        "(the acceptability curve). These add to the tables above and change none of them.",
        "- with a `[life]` table: `life.parquet` (one row per arm, replicate, month, setting "
        "and payer: the members' flow, survival of the starting members, deaths by setting) "
        "and `summary_life.csv` (one row per arm and setting, plus `all`); `members` and every "
        "rate per member then count the month's members, and the subgroup and economic tables "
        "add the columns listed under them (per person who was a member at some time).",
        "- with two arms or more (and the baseline arm among them): `decomposition.csv` (one "
        "row per arm and setting, plus `all`) and `decomposition_replicates.csv` (the same "
        "per replication): each arm's change in provider revenue per member-month against "
        "the baseline arm, split exactly into cases, length of stay, intensity per visit, "
        "coding and price per unit (natural-log points; the identity and the all-settings "
        "weights are in `sim/results/margins.py`);",
        "- when providers decided on cases (`behaviour.admission`): `admission_rates.csv`, "
        "one row per arm, setting, payer (and `all`) and risk-score quartile (and `all`).",
        "",
    ]
    from sim.engine.subgroups import LIFE_SUBGROUP_COLUMNS, SUBGROUP_COLUMNS
    from sim.results import economics, margins
    from sim.results.tables import (
        LIFE_SUBGROUP_SUMMARY_COLUMNS,
        LIFE_SUMMARY_COLUMNS,
        LIFE_TABLE_COLUMNS,
        SUBGROUP_SUMMARY_COLUMNS,
    )

    nmb = economics.wtp_columns([50_000.0])
    nmb_doc = {
        k.replace("50000", "<wtp>"): (t, u, d.replace("$50,000", "<wtp> USD"))
        for k, (t, u, d) in nmb.items()
    }
    for title, cols in (
        ("monthly.parquet", MONTHLY_COLUMNS),
        ("summary.csv", SUMMARY_COLUMNS),
        ("providers.parquet", PROVIDER_COLUMNS),
        ("subgroups.parquet", SUBGROUP_COLUMNS),
        ("subgroups.parquet, with [life], also", LIFE_SUBGROUP_COLUMNS),
        ("summary_subgroups.csv", SUBGROUP_SUMMARY_COLUMNS),
        ("summary_subgroups.csv, with [life], also", LIFE_SUBGROUP_SUMMARY_COLUMNS),
        ("economics.csv", {**economics.ECONOMICS_COLUMNS, **nmb_doc}),
        ("economics.csv, with [life], also", economics.LIFE_ECONOMICS_COLUMNS),
        ("economics_replicates.csv", economics.INCREMENT_COLUMNS),
        ("ceac.csv", economics.CEAC_COLUMNS),
        ("life.parquet", LIFE_TABLE_COLUMNS),
        ("summary_life.csv", LIFE_SUMMARY_COLUMNS),
        ("decomposition.csv", margins.DECOMPOSITION_COLUMNS),
        ("decomposition_replicates.csv", margins.REPLICATE_COLUMNS),
        ("admission_rates.csv", margins.ADMISSION_COLUMNS),
    ):
        name, _, extra = title.partition(", ")
        head = f"## `{name}`" + (f" ({extra})" if extra else "")
        lines += [head, "", "| column | type | unit | meaning |", "|---|---|---|---|"]
        for name, (dtype, unit, desc) in cols.items():
            lines.append(f"| `{name}` | {dtype} | {unit} | {desc} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


GENERATED = {
    "scenario-reference.md": scenario_reference,
    "outputs.md": outputs_reference,
}


def main() -> int:
    """Regenerate the generated docs (python -m sim.publish.reference)."""
    DOCS.mkdir(exist_ok=True)
    for name, make in GENERATED.items():
        (DOCS / name).write_text(make(), encoding="utf-8")
        print(f"wrote docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
