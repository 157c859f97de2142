"""Stage 2, per setting: needs arise and patients decide whether to seek care.

Patients without an episode start one with probability
``need_probability · risk · condition multiplier · (1 + slope · function shortfall / 100)``
(times any feature's factor: prevention; with a life course, times the factor of the
patient's age and sex, 0 for a patient who is not a member: ``World.need_factor``). Features
may start episodes whatever the draw (the pathway's readmissions and referrals). The episode's
length is geometric; its patient-optimal units per month, the *need* q_B, scale with risk and
condition (and with the trends' intensity growth). An elective need is taken to the patient's
provider with probability ``(1 + expected OOP / reference)^elasticity``, the expected
out-of-pocket cost coming from the payer's contract (payment model and cost-sharing terms),
times any feature's factor (the wait for care under congestion). What the contract is not
expected to cover (``PaymentModel.expected_uncovered``: an annual therapy cap without an
exception) the patient expects to pay in full. Features may turn new
patients away (selection, participation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.engine import clinical, draws, kernels
from sim.engine.payment import PaymentModel, terms

#: the default answer of what a contract leaves uncovered (nothing), not asked
base_uncovered = PaymentModel.expected_uncovered

if TYPE_CHECKING:
    from sim.engine.settings import CareSetting
    from sim.engine.world import World


@dataclass
class NewEpisodes:
    """The episodes of need that started this month in one setting."""

    patients: np.ndarray  # ascending
    referred: np.ndarray  # started by a feature, whatever the need draw
    by_payer: np.ndarray  # counts
    declined_by_payer: np.ndarray  # turned away by their provider
    by_group: np.ndarray  # counts by payer and risk quartile (n_payers × 4)
    declined_by_group: np.ndarray  # turned away, by payer and risk quartile


def need_probability(world: World, setting: CareSetting) -> np.ndarray:
    """Every patient's probability of a new need this month (float32, may exceed 1)."""
    pop = world.population
    cfg = setting.cfg
    return kernels.need_probability(
        pop.function,
        pop.risk,
        world.need_factor(setting.index, cfg.need_probability),
        cfg.need_reference_function,
        cfg.need_function_slope,
    )


def patient_need(world: World, setting: CareSetting, patients: np.ndarray) -> np.ndarray:
    """The patient-optimal units per month of new episodes (q_B, float64)."""
    pop = world.population
    cfg = setting.cfg
    need = (
        cfg.optimal_units
        * pop.risk[patients].astype(np.float64) ** cfg.need_risk_elasticity
        * world.condition_intensity[pop.condition[patients]]
    )
    if world.intensity != 1.0:
        need *= world.intensity  # secular intensity growth ([trends])
    return need


def new_episodes(world: World, setting: CareSetting) -> NewEpisodes:
    """Start this month's episodes of need in ``setting`` (episode state of the population)."""
    hooks = world.hooks
    pop = world.population
    cfg = setting.cfg
    s = setting.index
    n_payers = world.n_payers
    u_need = pop.need_draws(s)
    left = pop.episode_left[s]

    factor = hooks.factor(world, s, "needs", None)
    forced = _forced_needs(world, s)
    if factor is None and forced is None:
        # no feature acts on the needs this month: probability, draws and new episodes in one
        # pass
        idx_new, p_new = world.kernels.new_needs(
            u_need,
            pop.function,
            pop.risk,
            world.need_factor(s, cfg.need_probability),
            left,
            cfg.need_reference_function,
            cfg.need_function_slope,
        )
        referred = np.zeros(idx_new.size, np.bool_)
    else:
        idx_new, p_new, referred = _new_episodes_with_features(world, setting, factor, forced)
    declined_by_payer = np.zeros(n_payers, np.int64)
    declined_by_group = np.zeros((n_payers, 4), np.int64)
    if idx_new.size:
        e = pop.uniforms(idx_new, s, draws.EPISODE)
        # uniform on [0, 1) given that a need arose; referrals use their own draw
        v = np.where(referred, e, u_need[idx_new] / np.where(referred, 1, p_new))
        length = clinical.episode_length(v, cfg.episode_months)
        elective = (e < cfg.elective_share) & ~referred
        w = np.where(elective, e / max(cfg.elective_share, 1e-300), 0.0)
        need = patient_need(world, setting, idx_new)
        p_seek = seek_probability(world, setting, idx_new, need, length)
        for f in hooks("seek_factor", s):
            x = f.seek_factor(world, s, idx_new, elective, w, p_seek)
            if x is not None:
                p_seek = p_seek * x
        seek = ~elective | (w < p_seek)
        screens = hooks("screen", s)
        if screens:
            # providers screen the new patients who take their need to them
            asking = np.flatnonzero(seek)
            turned_away = np.zeros(idx_new.size, np.bool_)
            for f in screens:
                away = f.screen(world, s, idx_new[asking], need[asking])
                if away is not None:
                    turned_away[asking] |= away
            seek &= ~turned_away
            declined_by_payer, declined_by_group = world.kernels.group_counts(
                idx_new[turned_away], pop.payer, world.risk_group, n_payers
            )
        world.kernels.start_episodes(
            idx_new, length, need, seek, left, pop.optimal_units[s], pop.sought[s]
        )
    by_payer, by_group = world.kernels.group_counts(idx_new, pop.payer, world.risk_group, n_payers)
    return NewEpisodes(
        patients=idx_new,
        referred=referred,
        by_payer=by_payer,
        declined_by_payer=declined_by_payer,
        by_group=by_group,
        declined_by_group=declined_by_group,
    )


def _forced_needs(world: World, s: int) -> np.ndarray | None:
    """The patients (a boolean per patient) whose episode in setting ``s`` the features start
    this month whatever their need draw (referrals, readmissions, needs turned away by another
    setting), or None when no feature starts any."""
    forced = None
    for f in world.hooks("forced_needs", s):
        x = f.forced_needs(world, s)
        if x is not None:
            forced = x if forced is None else forced | x
    return forced


def _new_episodes_with_features(
    world: World, setting: CareSetting, factor: np.ndarray | None, forced: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New episodes when features act on the needs: a factor on the probability (prevention,
    told of the episodes it avoided) and episodes started whatever the draw (``forced``:
    referrals, readmissions). Returns the new patients, their probabilities capped at 1 and
    whether a feature started them."""
    hooks = world.hooks
    s = setting.index
    u_need = world.population.need_draws(s)
    left = world.population.episode_left[s]
    p = need_probability(world, setting)
    if factor is not None:
        # prevention: the same draws against a lower probability (patient for patient)
        would = (u_need < p) & (left == 0)
        p *= factor
    new = u_need < p
    new &= left == 0
    if factor is not None:
        avoided = np.flatnonzero(would & ~new)
        for f in hooks("events_avoided", s):
            f.events_avoided(world, s, "needs", avoided, None)
        del would
    if forced is not None:
        forced = forced & (left == 0)
        if world.life is not None:
            forced &= world.life.enrolled  # only members have needs ([life])
        new |= forced
    idx_new = np.flatnonzero(new)
    p_new = np.minimum(p[idx_new], 1.0)
    del p, new
    referred = np.zeros(idx_new.size, np.bool_)
    if forced is not None:
        referred = forced[idx_new]
    return idx_new, p_new, referred


def seek_probability(
    world: World, setting: CareSetting, idx: np.ndarray, need: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """Probability that a patient takes an elective need to a provider, from the expected
    out-of-pocket cost of an episode of patient-optimal care under the payer's contract."""
    pop = world.population
    cfg = setting.cfg
    oop = np.zeros(idx.size)
    units = need * length
    fee = setting.fee_per_unit[pop.region[idx]] * units
    # idx is ascending and payers are contiguous blocks: each payer's patients are a slice
    for g, (pay, b) in enumerate(zip(world.payers, pop.payer_slices(idx), strict=True)):
        if b.start == b.stop:
            continue
        ii = idx[b]
        c = pay.contracts[setting.index]
        if world.payer_design:
            # the payer's benefit design: cost sharing on the fee-schedule value of the care
            allowed = fee[b] * pay.rate_multiplier
            prm = world.benefit_design[g]
        elif type(c).expected_allowed is PaymentModel.expected_allowed:
            # the default price is proportional to the fee: no case mix to gather
            rate = pay.rate_multiplier
            allowed = c.expected_allowed(fee[b] * rate, None, None, None, rate)
            prm = c.params
        else:
            allowed = c.expected_allowed(
                fee[b] * pay.rate_multiplier,
                pop.condition[ii],
                pop.function[ii],
                pop.risk[ii],
                pay.rate_multiplier,
            )
            prm = c.params
        visits = np.ceil(units[b] / setting.units_per_visit)
        uncovered = None
        if not world.payer_design and type(c).expected_uncovered is not base_uncovered:
            uncovered = c.expected_uncovered(fee[b] * pay.rate_multiplier, ii)
        if uncovered is None:
            oop[b] = terms.expected_oop(prm, allowed, pop.deductible_remaining[ii], visits)
        else:
            # what the contract is not expected to cover, the patient pays in full
            covered = allowed - uncovered
            oop[b] = (
                terms.expected_oop(prm, covered, pop.deductible_remaining[ii], visits) + uncovered
            )
    return clinical.seek_probability(oop, cfg.oop_elasticity, cfg.oop_reference)
