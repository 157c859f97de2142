"""What the current contracts make worth to each provider at the margin, and its best style.

Recomputed when contracts change (at the start of a run and at each policy switch). For each
setting and provider, averaged over its members' payers: the revenue of one more service unit
(the payment model's ``marginal_revenue``, plus the share of a unit's cost a cost-based
contract pays back, around which every contract term adds its margin,
:func:`sim.engine.payment.terms.margins`), and the extra cost of under-treatment (adverse-event
costs borne, penalties, outcome payments lost, shared savings). Features with a second decision add
what a day is worth at its best level (therapy). The closed-form best style θ*
(:func:`sim.engine.behaviour.optimal_offset` [@ellis1986]) follows; in ``optimal`` mode
providers play it at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engine.behaviour import optimal_offset
from sim.engine.decisions import Plan, Terms, plan
from sim.engine.payment import terms
from sim.engine.payment.prices import Position, Prices

if TYPE_CHECKING:
    from sim.engine.payment import PaymentModel
    from sim.engine.world import World


def refresh(world: World) -> None:
    """Recompute every setting's margins under the current contracts (and play the optimum in
    ``optimal`` mode). With payer specificity, each style's separate best per payer is the
    closed form under that payer's contract alone; the norm's is under the members' mix."""
    for s in range(len(world.settings)):
        providers = world.providers[s]
        w = providers.payer_weight()
        split = [st for st in providers.styles if st.separate is not None]
        if split:
            for g in range(world.n_payers):
                alone = np.zeros_like(w)
                alone[:, g] = 1.0
                _margins(world, s, alone)
                for style in split:
                    if style.closed_form is not None:
                        assert style.separate_best is not None  # set with the separate part
                        style.separate_best[:, g] = style.closed_form()
        # last, the members' mix: what the norm and every feature's state follow
        _margins(world, s, w)
    if world.optimal:
        for s in range(len(world.settings)):
            providers = world.providers[s]
            providers.theta[:] = optimal_theta(world, s)
            for f in world.hooks("play_optimum", s):
                f.play_optimum(world, s)
            for style in providers.styles:
                if style.separate is not None:
                    style.separate[:] = style.separate_best


def _margins(world: World, s: int, w: np.ndarray) -> None:
    """Setting ``s``'s margins for providers whose members are split over payers as ``w``
    (providers × payers)."""
    setting = world.settings[s]
    providers = world.providers[s]
    fee_unit = setting.fee_per_unit[providers.region]
    ae = setting.cfg.adverse_events
    contracts = [
        (
            payer.contracts[s].params,
            np.asarray(
                payer.contracts[s].marginal_revenue(
                    fee_unit * payer.rate_multiplier, payer.rate_multiplier
                ),
                float,
            )
            # cost-based reimbursement pays back a share of each unit's cost
            + payer.contracts[s].cost_margin() * setting.cfg.marginal_cost,
        )
        for payer in world.payers
    ]
    shares = None
    if world.payer_design:
        shares = [
            design.coinsurance * fee_unit * payer.rate_multiplier
            for design, payer in zip(world.benefit_design, world.payers, strict=True)
        ]
    mg = terms.margins(contracts, w, ae.cost, shares)
    providers.marginal_revenue = mg.per_unit
    providers.event_margin = mg.per_event
    # below the optimum the objective bends more: expected adverse-event costs borne
    # (2·event·h) and the outcome payments lost (k·d/v)
    cfg = setting.cfg
    providers.shortfall_curvature = (
        2.0 * mg.per_event * ae.shortfall_risk
        + mg.per_point * cfg.benefit_curvature / cfg.value_per_function_point
    )
    # above it, the expected adverse-event costs borne of harm from too much care
    providers.overtreatment_curvature = 2.0 * mg.per_event * ae.overtreatment_risk
    day_extra = np.zeros(providers.n)
    for f in world.hooks("incentives", s):
        extra = f.incentives(world, s, w)
        if extra is not None:
            day_extra = extra
    providers.day_extra = day_extra


def optimal_theta(world: World, s: int) -> np.ndarray:
    """Closed-form best style of each provider of setting ``s`` [@ellis1986]."""
    cfg = world.settings[s].cfg
    providers = world.providers[s]
    revenue = providers.marginal_revenue + providers.day_extra
    if providers.unit_value is not None:
        revenue = revenue + providers.unit_value
    return optimal_offset(
        revenue,
        cfg.marginal_cost,
        providers.benefit_weight,
        cfg.benefit_curvature,
        providers.shortfall_curvature,
        float(cfg.max_units),
        providers.overtreatment_curvature,
    )


# ---------------------------------------------------------------------------------------------
# the prices of the provider's decisions, patient by patient (best-response practice and the
# extensive margin)


def position(
    world: World,
    s: int,
    g: int,
    patients: np.ndarray,
    provider: np.ndarray,
    new_episode: np.ndarray,
    contract: PaymentModel,
    months: np.ndarray | None = None,
    readmission: np.ndarray | None = None,
) -> Position:
    """Where payer ``g``'s ``patients`` (ascending, in care in setting ``s``) stand on
    ``contract``'s schedule at the start of this month's care: the units and fee value already
    in their payment period (none for an episode that starts), the days of their stay so far,
    the months left in the period (at most the episode's months left, or ``months`` for
    episodes being decided on), with case mix as coded. Case mix and the episode's units and
    month are gathered when the contract's prices first read them (:meth:`Position.deferred`):
    price the patients at once."""
    pop = world.population
    setting = world.settings[s]
    payer = world.payers[g]
    new = np.asarray(new_episode, bool)
    period = max(int(contract.period_months), 1)
    n = new.size
    coding = world.coding

    def episode_month() -> np.ndarray:
        return np.where(new, 0, pop.episode_month[s][patients]).astype(np.int64)

    def episode_units() -> np.ndarray:
        return np.where(new, 0, pop.episode_units[s][patients]).astype(np.int64)

    # what the contract's prices may read, gathered when they read it (a price per unit reads
    # none of it); the prices are asked for at once, before the month changes the population
    later = {
        "condition": lambda: pop.condition[patients],
        "function": lambda: coding.function(s, provider, pop.function[patients]),
        "risk": lambda: coding.coded_risk(s, provider, pop.risk[patients], g),
        "episode_units": episode_units,
    }
    if period == 1 and (months is None or np.asarray(months).dtype.kind in "iub"):
        # a contract that pays by the month: every month starts a period, with one month
        # left (the general lines below give these same arrays, gathering three columns)
        later["episode_month"] = episode_month
        now = {
            "period_units": np.zeros(n, np.int64),
            "period_value": np.zeros(n, np.result_type(pop.period_value[s].dtype, 0.0)),
            "months_left": np.ones(n, np.int64),
        }
    else:
        ep_month = episode_month()
        in_period = ep_month % period
        fresh = new | (in_period == 0)
        left = pop.episode_left[s][patients].astype(np.int64) if months is None else months
        months_left = np.maximum(np.minimum(period - in_period, np.maximum(left, 1)), 1)
        now = {
            "episode_month": ep_month,
            "period_units": np.where(fresh, 0, pop.period_units[s][patients]).astype(np.int64),
            "period_value": np.where(fresh, 0.0, pop.period_value[s][patients]),
            "months_left": months_left.astype(np.int64),
        }
    return Position.deferred(
        later,
        provider=provider.astype(np.int64),
        patient=patients.astype(np.int64),
        fee_per_unit=setting.fee_per_unit[pop.region[patients]] * payer.rate_multiplier,
        rate_multiplier=payer.rate_multiplier,
        marginal_cost=setting.cfg.marginal_cost,
        units_per_visit=float(setting.units_per_visit),
        new_episode=new,
        readmission=np.zeros(n, bool) if readmission is None else readmission,
        month=world.month_number,
        year=world.date.year,
        month_of_year=world.date.month,
        **now,
    )


def month_position(
    world: World, s: int, g: int, rows: np.ndarray, contract: PaymentModel
) -> Position:
    """Where the patients of setting ``s``'s month at ``rows`` (payer ``g``'s, in care) stood
    on ``contract``'s schedule at the start of this month's care, read back from the month's
    care once it is delivered (what :func:`position` saw then, before the month added its
    units, their value and a month of the episode), with case mix as coded: what their
    month's units and case earned at the contract's prices."""
    pop = world.population
    care = world.month[s]
    setting = world.settings[s]
    payer = world.payers[g]
    patients = care.patients[rows]
    provider = care.provider[rows].astype(np.int64)
    new = care.new_episode[rows]
    units = care.service_units[rows].astype(np.int64)
    ep_month = care.episode_month[rows].astype(np.int64)
    period = max(int(contract.period_months), 1)
    in_period = ep_month % period
    fresh = new | (in_period == 0)
    left = pop.episode_left[s][patients].astype(np.int64) + 1
    months_left = np.maximum(np.minimum(period - in_period, np.maximum(left, 1)), 1)
    episode_units = pop.episode_units[s][patients].astype(np.int64) - units
    readmission = care.columns.get("readmission")
    coding = world.coding
    return Position(
        provider=provider,
        patient=patients.astype(np.int64),
        fee_per_unit=setting.fee_per_unit[pop.region[patients]] * payer.rate_multiplier,
        condition=pop.condition[patients],
        function=coding.function(s, provider, care.function_at_start[rows]),
        risk=coding.coded_risk(s, provider, pop.risk[patients], g),
        rate_multiplier=payer.rate_multiplier,
        marginal_cost=setting.cfg.marginal_cost,
        units_per_visit=float(setting.units_per_visit),
        period_units=np.where(fresh, 0, care.period_units[rows] - units).astype(np.int64),
        episode_units=np.where(new, 0, np.maximum(episode_units, 0)),
        months_left=months_left.astype(np.int64),
        episode_month=ep_month,
        period_value=np.where(fresh, 0.0, care.period_value[rows] - care.fee_value[rows]),
        new_episode=new,
        readmission=np.zeros(rows.size, bool) if readmission is None else readmission[rows] > 0,
        month=world.month_number,
        year=world.date.year,
        month_of_year=world.date.month,
    )


def decision_terms(world: World, s: int, g: int, provider: np.ndarray, contract) -> Terms:
    """What provider weighs besides the contract's prices for payer ``g``'s patients."""
    cfg = world.settings[s].cfg
    prm = contract.params
    n = provider.size
    return Terms(
        benefit_weight=world.providers[s].benefit_weight[provider],
        per_event=np.full(n, terms.event_margin(prm, cfg.adverse_events.cost)),
        per_point=np.full(n, terms.point_margin(prm)),
        marginal_cost=cfg.marginal_cost,
        curvature=cfg.benefit_curvature,
        shortfall_risk=cfg.adverse_events.shortfall_risk,
        overtreatment_risk=cfg.adverse_events.overtreatment_risk,
        value_per_point=cfg.value_per_function_point,
    )


def priced(
    world: World,
    s: int,
    g: int,
    pos: Position,
    contract: PaymentModel,
) -> tuple[Prices, np.ndarray]:
    """The contract's prices of ``pos``'s patients net of its terms, and each patient's most
    units over the months the plan covers (the setting's monthly maximum × the months)."""
    cfg = world.settings[s].cfg
    limit = cfg.max_units * pos.months_left
    units = int(limit.max(initial=0))
    return terms.net_prices(contract.params, contract.prices(pos, units)), limit


def plans_as(
    world: World,
    s: int,
    g: int,
    patients: np.ndarray,
    provider: np.ndarray,
    need: np.ndarray,
    new_episode: np.ndarray,
    contract: PaymentModel,
) -> Plan:
    """The best plans of ``patients`` (ascending) priced as payer ``g``'s under ``contract``:
    their own plans for payer ``g``'s patients, and for another payer's what the provider's
    best response would be were they payer ``g``'s (the payer-blended norm of best-response
    practice, :mod:`sim.engine.practice`)."""
    return plan(*plan_inputs(world, s, g, patients, provider, need, new_episode, contract),
                world.kernels)  # fmt: skip


def plan_inputs(
    world: World,
    s: int,
    g: int,
    patients: np.ndarray,
    provider: np.ndarray,
    need: np.ndarray,
    new_episode: np.ndarray,
    contract: PaymentModel,
) -> tuple[Prices, np.ndarray, np.ndarray, Terms, np.ndarray, np.ndarray]:
    """What :func:`plans_as` plans from: (prices, need, months, terms, limit, floor), the
    arguments of :func:`sim.engine.decisions.plan` in its order."""
    pos = position(world, s, g, patients, provider, new_episode, contract)
    prices, limit = priced(world, s, g, pos, contract)
    floor = np.ceil(world.settings[s].cfg.minimum_care * need * pos.months_left)
    terms_g = decision_terms(world, s, g, provider, contract)
    return prices, need, pos.months_left, terms_g, limit, floor


def best_plans(
    world: World,
    s: int,
    patients: np.ndarray,
    provider: np.ndarray,
    need: np.ndarray,
    by_payer: list[slice],
    new_episode: np.ndarray,
    contracts: list[PaymentModel] | None = None,
) -> Plan:
    """Each patient's best plan at its contract's prices (payer by payer; ``contracts``:
    one per payer, default those in force)."""
    n = patients.size
    units = np.zeros(n, np.int64)
    months = np.ones(n)
    per_month = np.zeros(n)
    value = np.zeros(n)
    for g, b in enumerate(by_payer):
        if b.start == b.stop:
            continue
        c = world.contract(s, g) if contracts is None else contracts[g]
        best = plans_as(world, s, g, patients[b], provider[b], need[b], new_episode[b], c)
        units[b], months[b], per_month[b], value[b] = (
            best.units,
            best.months,
            best.per_month,
            best.value,
        )
    return Plan(units=units, months=months, per_month=per_month, value=value)
