"""Stage 3, per setting: providers decide, care is delivered, outcomes happen.

For everyone with an active episode: planned units ``clip(q_B + θ_provider ± δ, 0, max)``
(``δ``: the provider's experiment on this patient, in ``learning`` mode), limited by the
contract's prior authorization, rounded stochastically to whole units, limited by features when
capacity is short (congestion); an episode ends early
when its covered units run out. Units accumulate over the contract's payment period; features
may change the units at a period's end (bunching). ``CareSetting.deliver`` turns units into
visits, billed units, minutes and fee-schedule value. Patients gain function with diminishing
returns; features may deliver a second decision with the units (a stay's therapy minutes).
Adverse events strike with a risk that rises with under-treatment and, with
``adverse_events.overtreatment_risk``, with over-treatment (times any feature's factor:
investments, follow-up after discharge).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.engine import clinical, draws
from sim.engine.month.care import SettingMonth
from sim.engine.payment import terms

if TYPE_CHECKING:
    from sim.engine.month.needs import NewEpisodes
    from sim.engine.settings import CareSetting
    from sim.engine.world import World

_INT16_MAX = np.iinfo(np.int16).max


@dataclass(frozen=True)
class Delivery:
    """What a feature's ``deliver`` hook sees: the month's service units of each patient with
    an active episode in one setting."""

    patients: np.ndarray
    provider: np.ndarray
    service_units: np.ndarray
    sought: np.ndarray
    by_payer: list[slice]


@dataclass(frozen=True)
class Delivered:
    """What a feature delivered with the units, per patient: its columns, its money-valued
    patient benefit (added to the units' benefit), the function points it adds (``gain``;
    default: the benefit per point), its cost to the provider, and the adverse-event
    probability it adds this month (``adverse_risk``; default none)."""

    columns: dict[str, np.ndarray]
    benefit: np.ndarray
    cost: np.ndarray
    gain: np.ndarray | None = None
    adverse_risk: np.ndarray | None = None


@dataclass
class _Period:
    """Where each patient is in the contract's payment period."""

    episode_month: np.ndarray
    in_period: np.ndarray
    units_before: np.ndarray
    end: np.ndarray
    thresholds: np.ndarray
    width: int
    #: every contract pays by the month, without thresholds: each month is a whole period
    #: (``in_period``, ``units_before`` and ``end`` are then None: 0, 0 and True)
    one_month: bool = False


def _payment_period(
    world: World, s: int, idx: np.ndarray, new_ep: np.ndarray, blocks: list[slice]
) -> _Period:
    """Each contract sets its period length and its payment thresholds per patient."""
    pop = world.population
    contracts = world.contracts(s)
    ep_month = np.where(new_ep, 0, pop.episode_month[s][idx]).astype(np.int64)
    if all(c.period_months == 1 and not c.has_thresholds for c in contracts):
        return _Period(ep_month, None, None, None, np.empty((idx.size, 0)), 0, one_month=True)  # type: ignore[arg-type]
    period = np.ones(idx.size, np.int64)
    thresholds = np.full((idx.size, 0), np.inf)
    t_blocks = []
    for g, b in enumerate(blocks):
        period[b] = contracts[g].period_months
        t_blocks.append(
            contracts[g].thresholds(pop.condition[idx[b]], pop.function[idx[b]], pop.risk[idx[b]])
        )
    width = max((t.shape[1] for t in t_blocks), default=0)
    if width:
        thresholds = np.full((idx.size, width), np.inf)
        for b, t in zip(blocks, t_blocks, strict=True):
            thresholds[b, : t.shape[1]] = t
    in_period = ep_month % period
    before = np.where(in_period == 0, 0, pop.period_units[s][idx]).astype(np.int64)
    end = (in_period == period - 1) | (pop.episode_left[s][idx] == 1)
    return _Period(ep_month, in_period, before, end, thresholds, width)


@dataclass
class _Active:
    """The patients with an active episode in a setting this month."""

    patients: np.ndarray
    provider: np.ndarray
    sought: np.ndarray
    need: np.ndarray  # q_B: the patient-optimal service units this month
    new_episode: np.ndarray
    referred: np.ndarray
    by_payer: list[slice]


def _active(world: World, s: int, new: NewEpisodes) -> _Active:
    pop = world.population
    idx, provider, sought, need, new_ep, referred = world.kernels.active(
        pop.episode_left[s],
        pop.provider[s],
        pop.sought[s],
        pop.optimal_units[s],
        new.patients,
        new.referred,
    )
    return _Active(
        patients=idx,
        provider=provider,
        sought=sought,
        need=need,
        new_episode=new_ep,
        referred=referred,
        by_payer=pop.payer_slices(idx),
    )


def _plain_month(world: World, setting: CareSetting) -> bool:
    """Whether this month's units in ``setting`` are just the providers' plans rounded: no
    contract authorizes units or pays by a period beyond the month (or by thresholds), no
    feature rations units and episodes have no cap on their units."""
    s = setting.index
    return (
        world.practice.fused
        and setting.cfg.max_units_per_episode is None
        and not world.hooks("ration_units", s)
        and all(
            c.params.prior_authorization is None and c.period_months == 1 and not c.has_thresholds
            for c in world.contracts(s)
        )
    )


def _plan_plain(
    world: World, setting: CareSetting, act: _Active
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_decide_units` and the one-month period's bookkeeping of a plain month
    (:func:`_plain_month`), in one pass: returns (sign, planned, service units, episode
    month) and stores the units used in the episode, the period's units and the next episode
    month."""
    pop = world.population
    cfg = setting.cfg
    s = setting.index
    idx = act.patients
    theta = world.providers[s].styles[0].for_patients(act.provider, act.by_payer)
    return world.kernels.plan_units(
        pop.global_index(idx),
        idx,
        world.month_number,
        world.learning,
        world.behaviour.experiment_step * cfg.optimal_units,
        theta,
        act.need,
        cfg.max_units,
        pop.uniform_base(s, draws.ROUNDING),
        act.sought,
        act.new_episode,
        pop.episode_units[s],
        pop.episode_month[s],
        pop.period_units[s],
    )


def _decide_units(
    world: World, setting: CareSetting, act: _Active
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Planned units from the run's practice (the provider's style and its experiment on the
    patient, or its best response to the contract's prices: :mod:`sim.engine.practice`),
    limited by the contract's prior authorization, rounded to whole service units; an episode
    ends when its covered units run out. Returns (sign, planned, service units, units not
    authorized)."""
    pop = world.population
    cfg = setting.cfg
    s = setting.index
    idx, sought, need = act.patients, act.sought, act.need
    left = pop.episode_left[s]
    sign, planned = world.practice.planned(
        world, setting, idx, act.provider, need, act.by_payer, act.new_episode
    )
    not_authorized = np.zeros(idx.size)
    for g, b in enumerate(act.by_payer):
        prm = world.contract(s, g).params
        if prm.prior_authorization is not None and b.start != b.stop:
            planned[b], not_authorized[b] = terms.authorize(prm, planned[b], need[b], sought[b])
    # unbiased stochastic rounding
    units = np.floor(planned + pop.uniforms(idx, s, draws.ROUNDING)).astype(np.int64)
    units[~sought] = 0
    # features may deliver fewer units than planned (capacity short: congestion)
    for f in world.hooks("ration_units", s):
        units = f.ration_units(world, s, units, idx, act.provider, act.by_payer)
    # units used so far in the episode; an episode ends when its covered units run out
    used = np.where(act.new_episode, 0, pop.episode_units[s][idx]).astype(np.int64)
    cap = cfg.max_units_per_episode
    if cap is not None:
        units = np.minimum(units, cap - used)
        left[idx[sought & (used + units >= cap)]] = 1
    pop.episode_units[s][idx] = np.minimum(used + units, _INT16_MAX)
    return sign, planned, units, not_authorized


def deliver(world: World, setting: CareSetting, new: NewEpisodes) -> SettingMonth:
    """This month's care in ``setting`` for everyone with an active episode."""
    hooks = world.hooks
    pop = world.population
    cfg = setting.cfg
    s = setting.index
    act = _active(world, s, new)
    idx, sought, need = act.patients, act.sought, act.need
    plain = _plain_month(world, setting)
    if plain:
        # no authorization, rationing, unit cap or period beyond the month: units and the
        # period's bookkeeping in one pass
        sign, planned, units, episode_month = _plan_plain(world, setting, act)
        not_authorized = np.zeros(idx.size)
        per = _Period(episode_month, None, None, None, np.empty((idx.size, 0)), 0, one_month=True)  # type: ignore[arg-type]
    else:
        sign, planned, units, not_authorized = _decide_units(world, setting, act)
        # payment periods: units accumulate per period; features may act at a period's end
        per = _payment_period(world, s, idx, act.new_episode, act.by_payer)
        if per.width:
            for f in hooks("adjust_units", s):
                units = f.adjust_units(
                    world,
                    s,
                    units,
                    per.units_before,
                    per.thresholds,
                    per.end & sought,
                    idx,
                    per.episode_month,
                )
    if per.one_month:
        period_units = units + np.int64(0)
        period_end = sought.copy()
        at_threshold = below_threshold = np.zeros(idx.size, np.bool_)
    else:
        period_units = per.units_before + units
        period_end = per.end & sought
        at_threshold = np.any(
            (period_units[:, None] >= per.thresholds)
            & (period_units[:, None] <= per.thresholds + 1),
            axis=1,
        )
        below_threshold = np.any(
            (period_units[:, None] >= per.thresholds - 2)
            & (period_units[:, None] < per.thresholds),
            axis=1,
        )
        at_threshold &= period_end
        below_threshold &= period_end
    if not plain:
        pop.period_units[s][idx] = np.minimum(period_units, _INT16_MAX)
        pop.episode_month[s][idx] = np.minimum(per.episode_month + 1, _INT16_MAX)

    # delivery: visits, billed units, minutes, fee-schedule value; benefit and function gain
    starting = act.new_episode & sought
    visits, billed, minutes, value = setting.deliver(
        units, pop.region[idx], starting, world.kernels
    )
    # the fee-schedule value of the period's services so far (for reconciliations)
    if per.one_month:
        period_value = np.add(0.0, value, dtype=np.float64)
    else:
        period_value = np.where(per.in_period == 0, 0.0, pop.period_value[s][idx]) + value
    pop.period_value[s][idx] = period_value
    benefit, gain, low_value = world.kernels.care_value(
        units, need, cfg.benefit_curvature, cfg.value_per_function_point, cfg.low_value_threshold
    )
    columns, extra_cost, extra_risk = _deliver_features(world, setting, act, units, benefit, gain)
    ae = cfg.adverse_events
    if ae.overtreatment_risk:
        # harm from too much care: risk per squared unit above the patient optimum
        over = np.maximum(units - need, 0.0)
        harm = ae.overtreatment_risk * over * over
        extra_risk = harm if extra_risk is None else extra_risk + harm

    # outcomes: adverse events, function, the episode's months left
    factor = hooks.factor(world, s, "adverse_events", idx)
    if factor is None:
        function_at_start, p_adverse, adverse, function_change = world.kernels.outcomes(
            idx,
            pop.global_index(idx),
            pop.uniform_base(s, draws.ADVERSE_EVENT),
            units,
            need,
            gain,
            extra_risk,
            pop.function,
            pop.risk,
            pop.episode_left[s],
            ae.base_rate,
            ae.function_slope,
            ae.shortfall_risk,
            ae.function_loss,
        )
    else:
        function_at_start = pop.function[idx].astype(np.float64)
        adverse, p_adverse = _adverse_events(
            world, setting, idx, function_at_start, units, need, sought, extra_risk, factor
        )
        after = np.clip(function_at_start + gain - ae.function_loss * adverse, 0.0, 100.0)
        pop.function[idx] = after
        pop.episode_left[s][idx] -= 1
        function_change = pop.function[idx] - function_at_start
    return SettingMonth(
        patients=idx,
        payer=pop.payer[idx],
        provider=act.provider,
        by_payer=act.by_payer,
        sought=sought,
        new_episode=starting,
        referred=act.referred & sought,
        optimal_units=need,
        sign=sign,
        planned_units=np.where(sought, planned, 0.0),
        service_units=units,
        visits=visits,
        billed_units=billed,
        minutes=minutes,
        fee_value=value,
        function_at_start=function_at_start,
        function_change=function_change,
        benefit=benefit,
        gain=gain,
        low_value=low_value,
        adverse=adverse,
        adverse_probability=p_adverse,
        adverse_cost=adverse * ae.cost,
        not_authorized=not_authorized,
        episode_month=per.episode_month,
        period_units=period_units,
        period_value=period_value,
        period_end=period_end,
        at_threshold=at_threshold,
        below_threshold=below_threshold,
        new_needs_by_payer=new.by_payer,
        declined_by_payer=new.declined_by_payer,
        new_needs_by_group=new.by_group,
        declined_by_group=new.declined_by_group,
        extra_cost=np.zeros(idx.size) if extra_cost is None else extra_cost,
        columns=columns,
    )


def _deliver_features(
    world: World,
    setting: CareSetting,
    act: _Active,
    units: np.ndarray,
    benefit: np.ndarray,
    gain: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray | None]:
    """The features' decisions delivered with the units: their columns, cost and added
    adverse-event risk; their benefit is added to ``benefit`` and their function points to
    ``gain`` (in place)."""
    s = setting.index
    columns: dict[str, np.ndarray] = {}
    extra_cost = None
    extra_risk = None
    delivered = Delivery(
        patients=act.patients,
        provider=act.provider,
        service_units=units,
        sought=act.sought,
        by_payer=act.by_payer,
    )
    for f in world.hooks("deliver", s):
        extra = f.deliver(world, s, delivered)
        columns.update(extra.columns)
        benefit += extra.benefit
        gain += (
            extra.benefit / setting.cfg.value_per_function_point
            if extra.gain is None
            else extra.gain
        )
        extra_cost = extra.cost if extra_cost is None else extra_cost + extra.cost
        if extra.adverse_risk is not None:
            r = extra.adverse_risk
            extra_risk = r if extra_risk is None else extra_risk + r
    return columns, extra_cost, extra_risk


def _adverse_events(
    world: World,
    setting: CareSetting,
    idx: np.ndarray,
    f_start: np.ndarray,
    units: np.ndarray,
    need: np.ndarray,
    sought: np.ndarray,
    extra_risk: np.ndarray | None,
    factor: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Adverse events this month and their probability when features change the risk: a
    risk that rises with comorbidity, low function and under-treatment (plus what the
    features' second decisions add, ``extra_risk``), times the features' ``factor``; the
    avoided events are reported to them. (Without a factor the kernels' ``outcomes`` draws
    them, from the same formula and uniforms.)"""
    hooks = world.hooks
    pop = world.population
    s = setting.index
    ae = setting.cfg.adverse_events
    p_ae = clinical.adverse_event_probability(
        pop.risk[idx],
        f_start,
        units,
        need,
        base_rate=ae.base_rate,
        function_slope=ae.function_slope,
        shortfall_risk=ae.shortfall_risk,
    )
    if extra_risk is not None:
        p_ae = np.minimum(p_ae + extra_risk, 1.0)
    u_ae = pop.uniforms(idx, s, draws.ADVERSE_EVENT)
    would = u_ae < p_ae
    p_ae = p_ae * factor
    adverse = u_ae < p_ae
    avoided = would & ~adverse
    for f in hooks("events_avoided", s):
        f.events_avoided(world, s, "adverse_events", idx[avoided], sought[avoided])
    return adverse, p_ae
