"""The calendar: a scenario starts at a date, months carry dates, deductibles reset in
calendar Januaries, and switches can be dated."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from conftest import default_world

from sim.engine.model import HealthSystemModel
from sim.experiments.run import run
from sim.scenario import load_scenario, validate_scenario


def test_months_carry_calendar_dates():
    """Month k of a run starting in October 2017 is the k-th calendar month from it."""
    sc = default_world(months=5, start="2017-10-01")
    monthly = run(sc).monthly
    dates = monthly.groupby("month")["date"].first()
    assert list(dates) == ["2017-10-01", "2017-11-01", "2017-12-01", "2018-01-01", "2018-02-01"]
    assert sc.date_of(24) == dt.date(2019, 10, 1)


@pytest.mark.parametrize(("start", "reset_month"), [("2017-10-01", 3), ("2017-01-01", 12)])
def test_deductibles_reset_in_calendar_januaries(start, reset_month):
    """Deductibles and year-to-date out-of-pocket reset in January, whatever month the run
    starts in, and not in between."""
    sc = default_world(months=14, start=start)
    m = HealthSystemModel(sc, "ffs")
    pop = m.population
    full = pop.deductible[pop.payer]
    for month in range(14):
        m.step()
        pop.deductible_remaining[:] = 0.0
        pop.oop_year_to_date[:] = 1.0
        pop.start_month(month + 1)
        reset = (month + 1) == reset_month or (month + 1) == reset_month + 12
        other = pop.other_care[pop.payer]
        if reset:
            np.testing.assert_allclose(pop.deductible_remaining, np.maximum(full - other, 0))
            assert (pop.oop_year_to_date == 0).all()
        else:
            assert (pop.deductible_remaining == 0).all() and (pop.oop_year_to_date == 1).all()


def test_switches_can_be_dated():
    """A switch given as a date takes effect at that calendar month; a month given beside it
    (an override, a sweep over switch months) wins and moves the date."""
    sc = load_scenario("scenarios/snf_payment_reform.toml")
    switch = sc.arm("reform").switches[0]
    assert switch.date == dt.date(2019, 10, 1) and switch.month == 24
    assert sc.date_of(switch.month) == switch.date
    data = {
        "start": "2017-10-01",
        "months": 40,
        "arms": [
            {
                "name": "a",
                "contracts": [{"model": "ffs"}],
                "switches": [{"date": "2019-10-01", "month": 12, "contracts": [{"model": "ffs"}]}],
            }
        ],
    }
    moved = validate_scenario(data, "dated.toml").arms[0].switches[0]
    assert moved.month == 12 and moved.date == dt.date(2018, 10, 1)
    moved = (
        load_scenario("scenarios/snf_payment_reform.toml", ["arms.0.switches.0.month=30"])
        .arms[0]
        .switches[0]
    )
    assert moved.month == 30 and moved.date == dt.date(2020, 4, 1)
