"""What a contract pays for each of the provider's decisions, for a patient where it stands.

A provider decides on every margin payment can move (MODEL.md's "heart of the model"):
whether a need becomes a case with it, how many units (visits, days, 15-minute units) the case
gets this payment period, and from that how long a stay lasts. Every payment model prices
those decisions through one method, :meth:`~sim.engine.payment.base.PaymentModel.prices`,
given where each patient stands on the contract's schedule (:class:`Position`): the units
already in its payment period or stay, its year-to-date amounts, its case mix, whether the
case is a readmission. It answers with a :class:`Prices`:

- ``schedule[i, k]``: the revenue of giving patient ``i`` ``k`` more units in its current
  payment period, from where it stands (``schedule[i, 0] = 0``); the price of one more unit
  at ``k`` is ``schedule[i, k + 1] − schedule[i, k]``. A per-unit fee makes it a straight
  line; a cap or an annual threshold bends it where the patient reaches it; a threshold of a
  period payment makes it jump; a per diem that declines with the day of stay makes it
  concave; a per-beneficiary limit that binds makes it flat (the shadow price of the limit);
- ``case[i]``: the revenue of taking the case at all (an admission, an accepted patient, a
  started episode), apart from its units: a DRG price, a bundle's expected reconciliation, a
  readmission penalty's price of one more readmission (negative), the per-beneficiary limit a
  new beneficiary brings in.

A third question prices coding (``behaviour.upcoding.mode = "decision"``): what coding every
risk score 1% higher earns (:meth:`~sim.engine.payment.base.PaymentModel.coding`, answered
×100, per unit of relative coding intensity, as a :class:`CodingRevenue`): the month's units and
case of each patient in care at its risk score coded 1% higher, less at its score as coded
(:func:`by_difference`: a case-mix weight that steps with risk, a per diem or period price by
case-mix group), and what the members bring (a risk-adjusted per-member payment, a
risk-adjusted benchmark). A contract whose payment does not read risk scores answers 0.

Both are allowed amounts (what the payer and the patient pay together), before the contract's
generic terms — shared savings, liability for adverse events, pay-for-performance — which
:func:`sim.engine.payment.terms.net_prices` applies around any model's prices, as
:func:`~sim.engine.payment.terms.margins` does for the closed form. The closed-form optima of
the intensity choice [@ellis1986] are the special case of a straight schedule
(``tests/engine/payment/test_prices.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Position:
    """Where one payer's patients stand on a contract's schedule this month (one entry per
    patient, patients in the payer's block order).

    ``fee_per_unit`` is the fee-schedule value of one more unit for the patient (the payer's
    rate level included); ``period_units`` the units already in the patient's current payment
    period and ``episode_units`` those already in its episode (a stay's days so far);
    ``months_left`` the months left in the payment period, this one included (1 for a
    contract that pays by the month). Case mix is as coded.

    A position made by :meth:`deferred` gathers some fields from the population only when
    they are first read (a price per unit reads none of the case mix)."""

    provider: np.ndarray
    patient: np.ndarray
    fee_per_unit: np.ndarray
    condition: np.ndarray
    function: np.ndarray
    risk: np.ndarray
    rate_multiplier: float
    #: the provider's cost of a unit (cost-based reimbursement pays a share of it)
    marginal_cost: float
    #: service units per visit of the setting (per-visit limits)
    units_per_visit: float
    period_units: np.ndarray
    episode_units: np.ndarray
    months_left: np.ndarray
    #: month of the episode (0 = its first) and the fee-schedule value of the period's
    #: services so far (payer rate level included), for reconciliations
    episode_month: np.ndarray
    period_value: np.ndarray
    new_episode: np.ndarray
    readmission: np.ndarray
    month: int = 0
    year: int = 0
    month_of_year: int = 1
    #: the fields not made yet, each with what makes it (see :meth:`deferred`)
    _later: dict[str, Callable[[], Any]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def deferred(cls, later: dict[str, Callable[[], Any]], **fields: Any) -> Position:
        """A position with ``fields`` now and the fields of ``later`` made by their function
        when first read (once). What they gather is read then, not now: a caller uses the
        position before the population changes (:func:`sim.engine.month.incentives.position`
        prices the patients where they stand, at once)."""
        names = {n for n in cls.__slots__ if n != "_later"}
        if set(fields) | set(later) != names or set(fields) & set(later):
            raise TypeError(f"Position.deferred: every field once, of {sorted(names)}")
        pos = object.__new__(cls)
        for name, value in fields.items():
            object.__setattr__(pos, name, value)
        object.__setattr__(pos, "_later", dict(later))
        return pos

    def __getattr__(self, name: str) -> Any:
        # called only for a field not set: one that deferred() left to make when read
        later = object.__getattribute__(self, "_later")
        if not later or name not in later:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = later.pop(name)()
        object.__setattr__(self, name, value)
        return value

    @property
    def size(self) -> int:
        """Number of patients."""
        return int(np.asarray(self.provider).size)

    def take(self, rows: np.ndarray) -> Position:
        """The position of some of the patients (``rows``: indices or a mask)."""
        out = {}
        for name in self.__slots__:
            if name == "_later":
                continue
            value = getattr(self, name)
            out[name] = value[rows] if isinstance(value, np.ndarray) else value
        return Position(**out)


class Prices:
    """What the contract pays for the provider's decisions about each patient (USD; see the
    module docstring): ``schedule`` (patients × (units + 1)) and ``case`` (per patient).

    A straight schedule (:func:`straight`: a price per unit) is held as that price,
    ``per_unit``, with ``units``, and built when ``schedule`` is first read: the best plans
    (:func:`sim.engine.decisions.plan`) read the price per unit alone, which spares a patients ×
    units array a month (``per_unit`` is None for any other schedule)."""

    __slots__ = ("_schedule", "_units", "case", "per_unit")

    def __init__(
        self,
        schedule: np.ndarray | None,
        case: np.ndarray,
        *,
        per_unit: np.ndarray | None = None,
        units: int | None = None,
    ) -> None:
        if schedule is None and (per_unit is None or units is None):
            raise ValueError("Prices: a schedule, or a straight one's per_unit and units")
        self._schedule = schedule
        self._units = units
        self.case = case
        self.per_unit = per_unit

    @property
    def schedule(self) -> np.ndarray:
        """The revenue of 0..``units`` more units, per patient (patients × (units + 1))."""
        if self._schedule is None:
            assert self.per_unit is not None and self._units is not None  # __init__
            self._schedule = self.per_unit[:, None] * grid(self._units)[None, :]
        return self._schedule

    @property
    def size(self) -> int:
        """Number of patients."""
        if self._schedule is None:
            assert self.per_unit is not None  # __init__
            return int(self.per_unit.shape[0])
        return int(self._schedule.shape[0])

    @property
    def units(self) -> int:
        """The most units the schedule prices (its last column)."""
        if self._schedule is None:
            assert self._units is not None  # __init__
            return self._units
        return self._schedule.shape[1] - 1

    def unit_price(self) -> np.ndarray:
        """The price of each further unit: column ``k`` is what unit ``k + 1`` earns."""
        return np.diff(self.schedule, axis=1)

    def at(self, units: np.ndarray) -> np.ndarray:
        """The revenue of giving each patient ``units`` more units (whole numbers, within the
        schedule)."""
        k = np.clip(np.asarray(units, np.int64), 0, self.units)
        return np.take_along_axis(self.schedule, k[:, None], axis=1)[:, 0]

    def scaled(self, factor: np.ndarray | float) -> Prices:
        """Both prices times ``factor`` (per patient or one number)."""
        f = np.asarray(factor, np.float64)
        return Prices(self.schedule * (f[:, None] if f.ndim else f), self.case * f)


def grid(units: int) -> np.ndarray:
    """The unit counts a schedule prices: 0, 1, …, ``units``."""
    return np.arange(units + 1, dtype=np.float64)


def per_patient(x: np.ndarray | float, n: int) -> np.ndarray:
    """``x`` (one number or one per patient) as ``n`` float64s: itself when it is that
    already, else broadcast (a view; ``np.broadcast_to`` costs microseconds a call)."""
    a = np.asarray(x, np.float64)
    return a if a.shape == (n,) else np.broadcast_to(a, (n,))


def straight(per_unit: np.ndarray | float, n: int, units: int, case=0.0) -> Prices:
    """A schedule that pays ``per_unit`` for every unit (a fee), and ``case`` per case."""
    # its own copy: the schedule is built from it when read, after the caller has moved on
    per = np.array(per_patient(per_unit, n))
    return Prices(
        None,
        np.array(per_patient(case, n)),
        per_unit=per,
        units=int(units),
    )


def from_total(total, before: np.ndarray, units: int, *, case: np.ndarray | float = 0.0) -> Prices:
    """The schedule of a rule that pays ``total(u)`` for ``u`` units in a period (vectorized
    over patients × unit counts), for patients with ``before`` units already in it:
    ``schedule[i, k] = total(before_i + k) − total(before_i)``."""
    b = np.asarray(before, np.float64)[:, None]
    at = total(b + grid(units)[None, :])
    return Prices(at - at[:, :1], np.broadcast_to(np.asarray(case, np.float64), b.shape[:1]).copy())


#: the step of :func:`by_difference`: risk scores coded 1% higher
CODING_STEP = 0.01


@dataclass(frozen=True, slots=True)
class CodingRevenue:
    """What coding every risk score 1% higher earns under a contract this month, ×100 (USD per
    unit of relative coding intensity): ``claims`` per patient in care (its units and case: claim
    amounts, which the contract's terms treat like any claim), ``members`` per provider
    (payments per member, outside the claims)."""

    claims: np.ndarray
    members: np.ndarray


def by_difference(model, position: Position, units: np.ndarray) -> np.ndarray:
    """Per patient: what this month's ``units`` and case earn at ``model``'s prices with the
    risk score coded 1% higher, less at the score as coded, / 1% (a finite difference of
    :meth:`~sim.engine.payment.base.PaymentModel.prices`: exact for prices proportional to
    risk, the step's expected share for weights that step with it)."""
    u = np.asarray(units, np.int64)
    k = int(u.max(initial=0))
    at = model.prices(position, k)
    up = model.prices(replace(position, risk=position.risk * (1.0 + CODING_STEP)), k)
    return ((up.at(u) + up.case) - (at.at(u) + at.case)) / CODING_STEP
