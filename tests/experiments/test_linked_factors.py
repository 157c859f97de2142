"""Sweeps with linked factors and derived fields (sim/experiments/sweep.py): one factor sets several
fields, '*' expands over a table, expressions are arithmetic of factors and nothing else."""

from __future__ import annotations

import pytest

from sim.errors import ScenarioError
from sim.experiments.sweep import load_sweep, run_sweep
from sim.scenario import validate_scenario
from sim.scenario.sweep import evaluate_expression, expression_names

BASE = """
name = "base"
months = 3
seed = 9
[population]
patients = 1200
[outputs]
figure = false
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
[[arms]]
name = "capitation"
contracts = [{ model = "capitation", pmpm = 12.0 }]
"""

LINKED = """
replications = 2
seed = 3
[[parameters]]
name = "altruism"
fields = ["settings.*.providers.altruism.high"]
levels = [0.4, 0.8]
[derived]
"settings.*.providers.altruism.low" = "altruism / 4"
"settings.primary_care.marginal_cost" = "30 + 10 * altruism"
"""


def write(tmp, body, name="sw"):
    (tmp / "base.toml").write_text(BASE)
    path = tmp / f"{name}.toml"
    path.write_text(f'name = "{name}"\nscenario = "base.toml"\n' + body)
    return path


def test_a_linked_factor_moves_every_setting_and_derived_fields_follow(tmp_path):
    """The factor sets the altruism of both default settings; derived fields take their
    expressions' values; the design's column is the factor's name."""
    sweep = load_sweep(write(tmp_path, LINKED))
    assert list(sweep.design.columns) == ["point", "altruism"]
    for point, level in enumerate([0.4, 0.8]):
        sc = validate_scenario(sweep.scenario_data(point))
        for st in sc.settings.values():
            assert st.providers.altruism.high == level
            assert st.providers.altruism.low == pytest.approx(level / 4)
        assert sc.settings["primary_care"].marginal_cost == pytest.approx(30 + 10 * level)
    assert sorted(sweep.targets["altruism"]) == [
        "settings.outpatient_therapy.providers.altruism.high",
        "settings.primary_care.providers.altruism.high",
    ]


def test_a_linked_sweep_runs_and_names_the_factor_in_its_tables(tmp_path):
    """The runs' summaries carry the factor as a column, one value per design point."""
    sweep = load_sweep(write(tmp_path, LINKED))
    out = run_sweep(sweep, tmp_path / "out", executor="serial")
    assert out.done == out.total == 4
    import pandas as pd

    summary = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    assert set(summary["altruism"]) == {0.4, 0.8}


def test_expressions_are_arithmetic():
    """Numbers, factors, operators and a few functions evaluate; floats, not unbounded ints."""
    assert evaluate_expression("max(a, 2) ** 2 - -1", {"a": 3.0}) == 10.0
    assert evaluate_expression("sqrt(a) + log(exp(1)) + abs(-a) % 2", {"a": 4.0}) == 3.0
    assert expression_names("a * b + 1", {"a", "b", "c"}) == {"a", "b"}


@pytest.mark.parametrize(
    "text",
    [
        '__import__("os").system("true")',
        "a.real",
        "(lambda: 1)()",
        "a if a else 2",
        "[a]",
        "open('x')",
        "a == 1",
        "max(a, key=abs)",
        "__builtins__",
    ],
)
def test_anything_but_arithmetic_is_refused(text):
    """Attribute access, calls of anything but the listed functions, lambdas, comparisons and
    unknown names are refused: no Python code runs."""
    with pytest.raises(ValueError, match=r"not allowed|unknown factor"):
        evaluate_expression(text, {"a": 1.0})


def test_huge_numbers_are_refused():
    """A power above 100 or an overflowing result is an error, not a hang or an inf."""
    with pytest.raises(ValueError, match="exponent above 100"):
        evaluate_expression("2 ** 1000", {})
    with pytest.raises(ValueError, match=r"not a finite number|overflow|range"):
        evaluate_expression("(10.0 ** 100) ** 100 * 1e300", {})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[parameters]]\nfields = ["months"]\nlevels = [3]\n', "needs a name"),
        ('[[parameters]]\nname = "x"\nlevels = [3]\n', "give field"),
        (
            '[[parameters]]\nname = "m"\nfields = ["months"]\nlevels = [3]\n'
            '[derived]\n"population.patients" = "m * k"\n',
            "derived.population.patients: unknown factor 'k'",
        ),
        (
            '[[parameters]]\nname = "m"\nfields = ["months"]\nlevels = [3]\n'
            '[derived]\n"population.patients" = "m.__class__"\n',
            "not allowed",
        ),
        (
            '[[parameters]]\nname = "m"\nfields = ["arms.*.nothing.*"]\nlevels = [3]\n',
            "needs a table",
        ),
    ],
)
def test_bad_linked_factors_are_named(tmp_path, body, message):
    """Each mistake in a linked factor or a derived field names the field and what is wrong."""
    with pytest.raises(ScenarioError, match=message.replace(".", r"\.").replace("*", r"\*")):
        load_sweep(write(tmp_path, body))
