"""How providers set each patient's units: a learnt style, or a best response to the rules.

The delivery stage asks the run's practice (``world.practice``, chosen once when the model is
built from ``behaviour.mode``) for each patient's planned units; it never asks which practice
it has.

- :class:`LearnedStyle` (``learning``, ``optimal``, ``fixed``): every patient gets the
  patient-optimal units plus the provider's style θ, one number per provider (and payer, with
  payer specificity), which the adaptation stage learns by trial and error, plays at its
  closed form, or keeps.
- :class:`BestResponse` (``best_response``): organisations compute the rules they are told
  about. Each patient's plan is the provider's best response to the contract's prices for that
  patient where it stands (:mod:`sim.engine.payment.prices`, :func:`sim.engine.decisions.plan`):
  a policy over the patient's state, not one number. When a contract changes, practice moves
  from the best response under the old rules toward the one under the new at the provider's
  adjustment speed λ per month (its ``speed``, faster for for-profit providers: partial
  adjustment, the behaviour of convex adjustment costs); providers learn nothing by trial and
  error (they know the rules; their own event costs are the setting's expected ones). With
  several payers, a provider's practice is a norm over its panel's payer mix plus a
  payer-specific part of size ``behaviour.payer_specificity`` (:meth:`BestResponse.practised`);
  whom it takes (the extensive margin) is decided at the case's own payer's prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.engine import decisions
from sim.engine.behaviour import planned_units, variation_sign
from sim.engine.month import incentives
from sim.engine.payment.prices import per_patient

if TYPE_CHECKING:
    from sim.engine.payment import PaymentModel
    from sim.engine.payment.prices import Prices
    from sim.engine.settings import CareSetting
    from sim.engine.world import World

#: a transition whose every provider has moved this close to the new rules is over
_DONE = 1.0 - 1e-9


class LearnedStyle:
    """Units = the patient's optimum + the provider's style θ (± its experiment δ while it
    learns): today's practice (module docstring)."""

    #: the delivery stage may plan a plain month in one fused pass (``kernels.plan_units``)
    fused = True

    def planned(
        self, world: World, setting: CareSetting, patients: np.ndarray, provider: np.ndarray,
        need: np.ndarray, by_payer: list[slice], new_episode: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """(experiment sign, planned units this month) of each patient in care."""
        pop = world.population
        cfg = setting.cfg
        s = setting.index
        if world.learning:
            sign = variation_sign(pop.global_index(patients), world.month_number)
        else:
            sign = np.zeros(patients.size, np.int8)
        delta = world.behaviour.experiment_step * cfg.optimal_units
        theta = world.providers[s].styles[0].for_patients(provider, by_payer)
        return sign, planned_units(need, theta + delta * sign, cfg.max_units)

    def case_plan(
        self, world: World, s: int, provider: np.ndarray, g: int, prices, need: np.ndarray,
        months: np.ndarray, terms: decisions.Terms, limit: np.ndarray,
    ) -> decisions.Plan:  # fmt: skip
        """The plan a new case of payer ``g`` would get (for its value to the provider): the
        units of the provider's style for that payer, over the months the prices cover."""
        cfg = world.settings[s].cfg
        style = world.providers[s].styles[0].by_payer()
        theta = style[provider, min(g, style.shape[1] - 1)]
        m = np.asarray(months, np.float64)
        units = np.rint(m * planned_units(need, theta, cfg.max_units)).astype(np.int64)
        units = np.minimum(units, limit)
        value = decisions.objective(prices, need, m, terms)
        at = np.take_along_axis(value, units[:, None], axis=1)[:, 0]
        return decisions.Plan(units=units, months=m, per_month=units / m, value=at)

    def contract_changed(self, world: World, s: int, g: int, old: PaymentModel) -> None:
        """Nothing: a learnt style follows the new rules through learning or the closed form."""

    def end_month(self, world: World) -> None:
        """Nothing: the adaptation stage moves learnt styles."""


#: a month's arguments of :meth:`BestResponse.practised` before the contracts
_Args = tuple["World", int, np.ndarray, np.ndarray, np.ndarray, list[slice], np.ndarray]


@dataclass(frozen=True)
class _Stood:
    """Where practice stood when the rules changed again before it had finished moving: from
    ``start`` (each payer's contract, or an earlier such point, ``earlier``) ``weight`` (per
    provider) of the way to ``target`` (each payer's contract before the new change)."""

    start: list[PaymentModel]
    earlier: _Stood | None
    target: list[PaymentModel]
    weight: np.ndarray


class BestResponse:
    """Each patient's best response to the contract's prices where it stands, with partial
    adjustment after a change of rules (module docstring)."""

    fused = False

    def __init__(self, world: World) -> None:
        #: per setting, per provider: how far practice has moved to the current rules (1: all)
        self.weight = [np.ones(p.n) for p in world.providers]
        #: per setting, per payer: the contract practice is moving away from (None: none)
        self.previous: list[list[PaymentModel | None]] = [
            [None] * world.n_payers for _ in world.settings
        ]
        #: per setting: where practice stood when a change of rules cut a move short (it moves
        #: from there instead of from ``previous``)
        self.stood: list[_Stood | None] = [None] * len(world.settings)
        #: (setting, the contracts' ids) whose prices were not all straight when last asked:
        #: planned part by part from then on (:meth:`practised`; only which way is tried first)
        self._apart: set[tuple[int, tuple[int, ...]]] = set()

    def plans(
        self, world: World, s: int, patients: np.ndarray, provider: np.ndarray,
        need: np.ndarray, by_payer: list[slice], new_episode: np.ndarray,
        contracts: list[PaymentModel] | None = None,
    ) -> decisions.Plan:  # fmt: skip
        """The best plans of the patients under ``contracts`` (default: those in force)."""
        return incentives.best_plans(
            world, s, patients, provider, need, by_payer, new_episode, contracts
        )

    def planned(
        self, world: World, setting: CareSetting, patients: np.ndarray, provider: np.ndarray,
        need: np.ndarray, by_payer: list[slice], new_episode: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """(no experiment, planned units this month): the best response, moved only part of
        the way from the old rules' while a change of rules is under way."""
        s = setting.index
        args: _Args = (world, s, patients, provider, need, by_payer, new_episode)
        planned = self.practised(*args)
        old = self.previous[s]
        stood = self.stood[s]
        if stood is not None:
            before = self._where(args, stood)
            w = self.weight[s][provider]
            planned = before + w * (planned - before)
        elif any(c is not None for c in old):
            was = [c if c is not None else world.contract(s, g) for g, c in enumerate(old)]
            before = self.practised(*args, was)
            w = self.weight[s][provider]
            planned = before + w * (planned - before)
        return np.zeros(patients.size, np.int8), planned

    def _where(self, args: _Args, stood: _Stood) -> np.ndarray:
        """The units of practice where it stood (:class:`_Stood`), for this month's patients."""
        provider = args[3]
        start = (
            self._where(args, stood.earlier)
            if stood.earlier is not None
            else self.practised(*args, stood.start)
        )
        target = self.practised(*args, stood.target)
        return start + stood.weight[provider] * (target - start)

    def practised(
        self, world: World, s: int, patients: np.ndarray, provider: np.ndarray,
        need: np.ndarray, by_payer: list[slice], new_episode: np.ndarray,
        contracts: list[PaymentModel] | None = None,
    ) -> np.ndarray:  # fmt: skip
        """Planned units this month under ``contracts`` (default: those in force), with payer
        specificity λ (``behaviour.payer_specificity``): the provider's norm, the mean of its
        best responses to every payer's prices for the patient weighted by the payers' shares
        of its members, plus λ × the way from it to the patient's own payer's best response.
        λ = 1 (or one payer): each patient's own best response; λ = 0: one practice for the
        provider's whole panel (Glied & Zivin 2002). The norm is the closed form of the
        learning mode's shared style (``Σ_g w_g·θ*_g``, :mod:`sim.engine.behaviour`)."""
        lam = world.behaviour.payer_specificity
        if lam >= 1.0 or len(by_payer) < 2 or patients.size == 0:
            own = self.plans(world, s, patients, provider, need, by_payer, new_episode, contracts)
            return own.per_month
        # np.take: a gather of whole rows, ~10x numpy's fancy indexing of a 2-D array
        share = np.take(world.providers[s].payer_weight(), provider, axis=0)
        n = patients.size
        rows = np.arange(n)
        # whom payer h's prices plan besides its own patients (block b): the others, as if
        # payer h's, where their provider has members of h
        others: list[slice | np.ndarray] = []
        for h, b in enumerate(by_payer):
            other: slice | np.ndarray
            if b.start == 0 or b.stop == n:
                # the others' patients are one block: a slice while every one of them counts
                other = slice(b.stop, n) if b.start == 0 else slice(0, b.start)
                if not np.all(share[other, h] > 0):
                    other = rows[other][share[other, h] > 0]
            else:
                other = np.concatenate([rows[: b.start], rows[b.stop :]])
                other = other[share[other, h] > 0]
            others.append(other)
        args = (world, s, patients, provider, need, new_episode)
        used = world.contracts(s) if contracts is None else contracts
        mix = (s, tuple(id(c) for c in used))
        walked = None
        if mix not in self._apart:
            # each payer's prices of all its rows at once (its own patients and the others)
            priced = []
            for h, (b, other) in enumerate(zip(by_payer, others, strict=True)):
                at = _rows(b, other, n)
                if _count(at):
                    priced.append((h, at, self._inputs(*args, h, at, contracts)))
            walked = _one_walk(world, n, by_payer, priced, need)
            if walked is None:
                self._apart.add(mix)
        if walked is not None:
            # every plan a straight schedule over the same grid: one walk for every payer
            units, m = walked
            own_pm = np.zeros(n)
            for g, b in enumerate(by_payer):
                own_pm[b] = units[g, b] / m[b]
            norm = np.zeros(n)
            for h in range(len(by_payer)):
                # the patients the provider has no member of h for weigh 0 (their row of
                # units is finite: 0 × it adds +0, as 0 × their own plan did)
                norm += share[:, h] * (units[h] / m)
            return norm + lam * (own_pm - norm)
        # a plan per payer and part, in the order the plans were always priced: each payer's
        # own patients, then per payer h the others' patients, as if payer h's
        own_pm = np.zeros(n)
        for g, b in enumerate(by_payer):
            if b.start != b.stop:
                inputs = self._inputs(*args, g, b, contracts)
                own_pm[b] = decisions.plan(*inputs, world.kernels).per_month
        as_payer = [own_pm.copy() for _ in by_payer]
        for h, other in enumerate(others):
            if _count(other):
                inputs = self._inputs(*args, h, other, contracts)
                as_payer[h][other] = decisions.plan(*inputs, world.kernels).per_month
        norm = np.zeros(n)
        for h in range(len(by_payer)):
            norm += share[:, h] * as_payer[h]
        return norm + lam * (own_pm - norm)

    @staticmethod
    def _inputs(
        world: World, s: int, patients: np.ndarray, provider: np.ndarray, need: np.ndarray,
        new_episode: np.ndarray, g: int, rows: slice | np.ndarray,
        contracts: list[PaymentModel] | None,
    ) -> _Inputs:  # fmt: skip
        """What the plans of the patients at ``rows`` priced as payer ``g``'s are made from."""
        c = world.contract(s, g) if contracts is None else contracts[g]
        return incentives.plan_inputs(
            world, s, g, patients[rows], provider[rows], need[rows], new_episode[rows], c
        )

    def case_plan(
        self, world: World, s: int, provider: np.ndarray, g: int, prices, need: np.ndarray,
        months: np.ndarray, terms: decisions.Terms, limit: np.ndarray,
    ) -> decisions.Plan:  # fmt: skip
        """The best plan of a new case of payer ``g`` (for its value to the provider), with
        the setting's standard of care as its floor."""
        floor = np.ceil(world.settings[s].cfg.minimum_care * need * np.asarray(months))
        return decisions.plan(prices, need, months, terms, limit, floor, world.kernels)

    def contract_changed(self, world: World, s: int, g: int, old: PaymentModel) -> None:
        """Practice starts moving from the old contract's best response, or, if an earlier
        move was under way, from where it stands: the point that move had reached (kept as a
        :class:`_Stood`), toward the new rules; its weight restarts from 0."""
        previous = self.previous[s]
        w = self.weight[s]
        under_way = self.stood[s] is not None or any(c is not None for c in previous)
        if under_way and w.size and w.max() > 0.0:
            # the rules in force before this change, and where the move toward them started
            target = [old if h == g else world.contract(s, h) for h in range(len(previous))]
            start = [c if c is not None else target[h] for h, c in enumerate(previous)]
            self.stood[s] = _Stood(start, self.stood[s], target, w.copy())
            self.previous[s] = [None] * len(previous)
            # (this payer's old contract is the target's: its move restarts from there)
        elif previous[g] is None and self.stood[s] is None:
            previous[g] = old
        w[:] = 0.0

    def end_month(self, world: World) -> None:
        """Each provider moves a share λ (its speed) of the rest of the way to the current
        rules; a transition every provider has completed is over."""
        for s, providers in enumerate(world.providers):
            if self.stood[s] is None and all(c is None for c in self.previous[s]):
                continue
            w = self.weight[s]
            w += providers.speed * (1.0 - w)
            if w.size == 0 or w.min() >= _DONE:
                w[:] = 1.0
                self.previous[s] = [None] * world.n_payers
                self.stood[s] = None


#: what a plan is made from: :func:`sim.engine.month.incentives.plan_inputs`
_Inputs = tuple["Prices", np.ndarray, np.ndarray, decisions.Terms, np.ndarray, np.ndarray]


def _count(rows: slice | np.ndarray) -> int:
    """How many rows a slice or an index array holds."""
    return rows.stop - rows.start if isinstance(rows, slice) else rows.size


def _rows(own: slice, other: slice | np.ndarray, n: int) -> slice | np.ndarray:
    """A payer's own rows and the others' it prices, ascending: a slice when they are one
    run (the others are then the rest of the ``n`` rows, or none)."""
    if isinstance(other, slice):
        if other.start == other.stop or own.start == own.stop:
            return other if own.start == own.stop else own
        if other.start == own.stop or other.stop == own.start:
            return slice(min(own.start, other.start), max(own.stop, other.stop))
    at = np.concatenate([np.arange(own.start, own.stop), np.arange(n)[other]])
    at.sort()
    return at


def _split(at: slice | np.ndarray, own: slice) -> tuple[slice | np.ndarray, slice | np.ndarray]:
    """Where the own block ``own`` and the others sit among the rows ``at`` (which hold it)."""
    if isinstance(at, slice):
        k = at.stop - at.start
        mine = slice(own.start - at.start, own.stop - at.start)
        if own.start == own.stop:
            return slice(0, 0), slice(0, k)
        if mine.start == 0:
            return mine, slice(mine.stop, k)
        if mine.stop == k:
            return mine, slice(0, mine.start)
        at = np.arange(at.start, at.stop)
    inside = (at >= own.start) & (at < own.stop)
    return np.flatnonzero(inside), np.flatnonzero(~inside)


def _one_walk(
    world: World, n: int, by_payer: list[slice], priced: list, need: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Every payer's best units of all ``n`` patients in one walk of each patient's grid
    (:func:`sim.engine.decisions.straight_plans`), when each payer's prices of ``priced``
    (payer, rows, inputs: its own patients, block ``by_payer[h]``, and the others it prices;
    every patient is its own payer's) are by the unit and the payers' plans of a patient
    cover the same months with the same limit, floor and benefit weight. Returns (units,
    payers × patients; months), or None: plan each part apart. A payer's row is its plan
    where it prices the patient; elsewhere a plan at price 0 (finite, weighed 0 by
    :meth:`BestResponse.practised`)."""
    if not priced:
        return None
    coefficients = priced[0][2][3].coefficients
    for _, _, (prices, _, _, terms, _, _) in priced:
        if prices.per_unit is None or terms.coefficients != coefficients:
            return None
    npay = len(by_payer)
    months = np.empty(n)
    limit = np.empty(n)
    floor = np.empty(n)
    alpha = np.empty(n)
    per_unit = np.zeros((npay, n))
    per_event = np.zeros((npay, n))
    per_point = np.zeros((npay, n))
    units = 0
    checks = []
    for h, at, (prices, _, m, terms, lim, flo) in priced:
        size = prices.size
        mine, theirs = _split(at, by_payer[h])
        values = (
            per_patient(m, size),
            np.asarray(lim, np.float64),
            np.asarray(flo, np.float64),
            per_patient(terms.benefit_weight, size),
        )
        # the patient's own payer's months, limit, floor and weight; the others' must agree
        b = by_payer[h]
        for whole, v in zip((months, limit, floor, alpha), values, strict=True):
            whole[b] = v[mine]
        checks.append((at, theirs, values))
        per_unit[h, at] = prices.per_unit
        per_event[h, at] = terms.per_event
        per_point[h, at] = terms.per_point
        units = max(units, prices.units)
    for at, theirs, values in checks:
        for whole, v in zip((months, limit, floor, alpha), values, strict=True):
            if not np.array_equal(whole[at][theirs], v[theirs]):
                return None
    mc, d, h_u, h_o, vpp = coefficients
    terms = decisions.Terms(
        benefit_weight=alpha, per_event=per_event, per_point=per_point, marginal_cost=mc,
        curvature=d, shortfall_risk=h_u, value_per_point=vpp, overtreatment_risk=h_o,
    )  # fmt: skip
    best = decisions.straight_plans(
        per_unit, units, need, months, terms, limit, floor, world.kernels
    )
    return best, months


def choose(world: World) -> LearnedStyle | BestResponse:
    """The practice of the run's ``behaviour.mode``."""
    if world.behaviour.mode == "best_response":
        return BestResponse(world)
    return LearnedStyle()
