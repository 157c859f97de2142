"""The provider's decisions about a patient, at the prices the contract attaches to them.

For a patient in a given state the provider weighs ``profit + α·benefit`` (Ellis & McGuire
1986; with diminishing marginal utility of income, α is its benefit weight) over the units it
could give in what is left of the patient's payment period, at the contract's prices
(:mod:`sim.engine.payment.prices`, net of the contract's terms):

    value(k) = R(k) − c·k + m·[α·B(k/m) − e·(h·(q_B − k/m)²₊ + h_o·(k/m − q_B)²₊) + o·G(k/m)]

``R`` the revenue schedule of ``k`` more units, ``c`` the marginal cost, ``m`` the months the
plan covers (the units spread evenly over them), ``B`` the patient's money-valued benefit per
month (``B(q) = d·q_B·q − d/2·q²``), ``e`` what one adverse event costs the provider under the
contract, ``h`` how fast under-treatment raises the event risk (``h_o``: over-treatment,
``adverse_events.overtreatment_risk``, 0 by default), ``o`` the outcome payment per
point of function and ``G`` the points gained. The best ``k`` is found on the whole-unit grid
0..K (:func:`plan`): a straight schedule gives the closed forms [@ellis1986] to the
nearest unit; a threshold draws plans to it (bunching follows, with no end-of-period rule); a
per diem that declines with the day of stay makes the provider stop — discharge — at the day
its marginal value turns negative (optimal stopping on a concave objective); a cap lowers the
plans of patients who reach it.

Whether a need becomes a case with the provider (:func:`case_value`) follows from the same
objective: the value of the case is its price plus the best value of its units, over the
episode's expected periods, less what the patient would have had from the alternative
(outpatient care, another setting, care outside the model: ``alternative`` × the benefit at
the patient's optimum, for the share of needs that are discretionary), and the provider takes
it with a logit probability of scale σ (:func:`acceptance`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sim.engine.payment.prices import Prices, grid, per_patient


@dataclass(frozen=True)
class Terms:
    """What the provider weighs besides the schedule, per patient: its benefit weight α, what
    one adverse event costs it (``per_event``), the outcome payment per point of function
    (``per_point``); and the setting's cost per unit, benefit curvature d, event risk slope h
    on under-treatment and the value of a point of function."""

    benefit_weight: np.ndarray
    per_event: np.ndarray
    per_point: np.ndarray
    marginal_cost: float
    curvature: float
    shortfall_risk: float
    value_per_point: float
    #: event risk slope on over-treatment (harm from too much care; 0: none)
    overtreatment_risk: float = 0.0

    @property
    def coefficients(self) -> tuple[float, float, float, float, float]:
        """The setting's numbers, in the order the plan kernels take them: cost per unit,
        curvature, the event risk slopes on under- and over-treatment, value of a point."""
        return (
            self.marginal_cost,
            self.curvature,
            self.shortfall_risk,
            self.overtreatment_risk,
            self.value_per_point,
        )


@dataclass(frozen=True)
class Plan:
    """The best plan for each patient: ``units`` over the months it covers (``months``), the
    units this month (``per_month``), and its value to the provider (``value``, USD)."""

    units: np.ndarray
    months: np.ndarray
    per_month: np.ndarray
    value: np.ndarray


def objective(prices: Prices, need: np.ndarray, months: np.ndarray, terms: Terms) -> np.ndarray:
    """``value(k)`` of the module docstring for every patient (rows) and ``k`` (columns)."""
    m = np.asarray(months, np.float64)[:, None]
    q_b = np.asarray(need, np.float64)[:, None]
    q = grid(prices.units)[None, :] / m
    d = terms.curvature
    benefit = d * q * (q_b - 0.5 * q)
    short = np.maximum(q_b - q, 0.0)
    events = terms.shortfall_risk * short * short
    if terms.overtreatment_risk:
        over = np.maximum(q - q_b, 0.0)
        events = events + terms.overtreatment_risk * over * over
    gain = d * np.minimum(q, q_b) * (q_b - 0.5 * np.minimum(q, q_b)) / terms.value_per_point
    alpha = np.asarray(terms.benefit_weight, np.float64)[:, None]
    per_event = np.asarray(terms.per_event, np.float64)[:, None]
    per_point = np.asarray(terms.per_point, np.float64)[:, None]
    return (
        prices.schedule
        - terms.marginal_cost * grid(prices.units)[None, :]
        + m * (alpha * benefit - per_event * events + per_point * gain)
    )


def plan(
    prices: Prices,
    need: np.ndarray,
    months: np.ndarray,
    terms: Terms,
    limit: np.ndarray | None = None,
    floor: np.ndarray | None = None,
    kernels: Any = None,
) -> Plan:
    """The best whole number of units for each patient (the first best where several tie), at
    most ``limit`` (default: the schedule's last column) and at least ``floor`` (the standard
    of care a provider must meet for a patient it takes on: ``SettingConfig.minimum_care``
    × the patient's optimum; default none). With ``kernels`` (a model's
    :mod:`sim.engine.kernels`), their ``best_units`` finds it: the compiled one walks each
    patient's grid once, with the same bits as the grid below."""
    if kernels is not None:
        n = prices.size
        m = per_patient(months, n)
        args = (
            m,
            per_patient(need, n),
            per_patient(terms.benefit_weight, n),
            per_patient(terms.per_event, n),
            per_patient(terms.per_point, n),
            terms.coefficients,
            None if limit is None else np.asarray(limit),
            None if floor is None else np.asarray(floor, np.float64),
        )
        if prices.per_unit is None:
            units, value = kernels.best_units(prices.schedule, *args)
        else:
            # a straight schedule is walked from its price per unit, never built
            units, value = kernels.best_units_straight(prices.per_unit, prices.units, *args)
        return Plan(units=units, months=m, per_month=units / m, value=value)
    value = objective(prices, need, months, terms)
    k = grid(prices.units)[None, :]
    if limit is not None:
        value = np.where(k <= np.asarray(limit)[:, None], value, -np.inf)
    if floor is not None:
        lo = np.minimum(np.asarray(floor, np.float64), prices.units if limit is None else limit)
        value = np.where(k >= lo[:, None], value, -np.inf)
    best = np.argmax(value, axis=1)
    m = np.asarray(months, np.float64)
    return Plan(
        units=best.astype(np.int64),
        months=m,
        per_month=best / m,
        value=np.take_along_axis(value, best[:, None], axis=1)[:, 0],
    )


def straight_plans(
    per_unit: np.ndarray,
    units: int,
    need: np.ndarray,
    months: np.ndarray,
    terms: Terms,
    limit: np.ndarray | None = None,
    floor: np.ndarray | None = None,
    kernels: Any = None,
) -> np.ndarray:
    """The best units of the same patients at several payers' straight schedules: row ``g``
    of ``per_unit`` (payers × patients) is payer ``g``'s price per unit, with its terms'
    ``per_event`` and ``per_point`` rows ``g`` of theirs (payers × patients, or one number
    per payer as a payers × 1 column); the rest of ``terms``, ``need``, ``months``, ``limit``
    and ``floor`` are the same for every payer. Returns the units (payers × patients): row
    ``g`` is :func:`plan`'s at payer ``g``'s prices, bit for bit. With ``kernels``, their
    ``best_units_payers`` walks each patient's grid once for all the payers."""
    per_unit = np.asarray(per_unit, np.float64)
    npay, n = per_unit.shape
    per_event = np.broadcast_to(np.asarray(terms.per_event, np.float64), (npay, n))
    per_point = np.broadcast_to(np.asarray(terms.per_point, np.float64), (npay, n))
    if kernels is not None:
        best, _ = kernels.best_units_payers(
            per_unit,
            units,
            per_patient(months, n),
            per_patient(need, n),
            per_patient(terms.benefit_weight, n),
            per_event,
            per_point,
            terms.coefficients,
            None if limit is None else np.asarray(limit),
            None if floor is None else np.asarray(floor, np.float64),
        )
        return best
    out = np.zeros((npay, n), np.int64)
    for g in range(npay):
        prices = Prices(None, np.zeros(n), per_unit=per_unit[g], units=int(units))
        mine = replace(terms, per_event=per_event[g], per_point=per_point[g])
        out[g] = plan(prices, need, months, mine, limit, floor).units
    return out


def case_value(
    prices: Prices,
    best: Plan,
    need: np.ndarray,
    periods: np.ndarray,
    alternative: np.ndarray,
    terms: Terms,
) -> np.ndarray:
    """What taking the case is worth to the provider (USD): its price, plus the best value of
    its units in each of the episode's expected ``periods``, less α × the benefit the patient
    would have from the alternative (``alternative``: its share of the benefit at the
    patient's optimum, 0 where there is none) over the plan's months."""
    q_b = np.asarray(need, np.float64)
    at_need = terms.curvature * 0.5 * q_b * q_b  # B(q_B)
    alt = np.asarray(terms.benefit_weight) * alternative * at_need * best.months
    return prices.case + np.asarray(periods, np.float64) * (best.value - alt)


def acceptance(value: np.ndarray, scale: float) -> np.ndarray:
    """The probability a provider takes a case worth ``value`` to it: a logit of scale σ
    (``scale``, USD: the spread of what it does not see — the patient's and the day's
    circumstances); a hard threshold at 0 when σ = 0."""
    v = np.asarray(value, np.float64)
    if scale <= 0:
        return (v >= 0).astype(np.float64)
    z = np.clip(v / scale, -700.0, 700.0)
    return 1.0 / (1.0 + np.exp(-z))
