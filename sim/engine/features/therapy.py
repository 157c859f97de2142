"""Therapy minutes of a stay: the second decision of a day-of-stay setting (``[therapy]``).

In a setting whose service unit is a day of stay (skilled nursing), providers decide two
things: the days (θ, the setting's style) and the therapy minutes per day (φ, a second style,
minutes around the patient-optimal intensity ``optimal_minutes``). Minutes are delivered with
a lognormal spread around the plan, split into individual, concurrent and group minutes (the
share of shared minutes follows what the contracts count and their cap,
``PaymentModel.therapy_minute_weights`` and ``group_concurrent_cap``) and scaled down when the
provider's therapist staff cannot cover them. Staff move toward planned demand with a lag
(less after a loss). φ learns like θ from the same patients (``therapy_variation_sign``,
orthogonal to the days experiments), or plays its closed form (``optimal_therapy``). With
payer specificity φ, like θ, is a norm plus a payer-specific part (:class:`sim.engine.world.Style`):
its separate best for a payer is the optimum under that payer's per diem alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from scipy.special import ndtri

from sim.engine import draws
from sim.engine.behaviour import (
    Experience,
    capped_share,
    optimal_therapy,
    therapy_mix,
    therapy_variation_sign,
)
from sim.engine.columns import Column
from sim.engine.features.base import Feature
from sim.engine.month.accounts import provider_margin
from sim.engine.month.delivery import Delivered, Delivery
from sim.engine.world import Style

if TYPE_CHECKING:
    from sim.engine.month.care import SettingMonth
    from sim.engine.world import World
    from sim.scenario import TherapyConfig


class Therapy(Feature):
    """The therapy decision of one setting."""

    name = "therapy"
    COLUMNS: ClassVar[dict[str, Column]] = {
        "therapy_minutes_individual": Column("float64", "minutes", "Therapy minutes delivered one to one (settings with a therapy decision; minutes per day = therapy minutes / service_units)."),
        "therapy_minutes_concurrent": Column("float64", "minutes", "Therapy minutes delivered concurrently (one therapist, two patients)."),
        "therapy_minutes_group": Column("float64", "minutes", "Therapy minutes delivered in groups (2-6 patients)."),
        "therapist_fte": Column("float64", "FTE", "Therapist staff of the setting's providers, attributed to payers by their share of therapist minutes (minutes a month / minutes_per_fte)."),
    }  # fmt: skip
    SHARDABLE = True

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """One per setting with a ``therapy`` table."""
        return [
            cls(world, st.index, st.cfg.therapy)
            for st in world.settings
            if st.cfg.therapy is not None
        ]

    def __init__(self, world: World, s: int, cfg: TherapyConfig) -> None:
        self.s = s
        self.settings = (s,)
        self.cfg = cfg
        providers = world.providers[s]
        n_prov = providers.n
        self.phi = Style(
            name="phi",
            value=np.full(n_prov, cfg.initial_offset),
            scale=cfg.optimal_minutes,
            bound=float(cfg.max_minutes),
            experience=Experience(n_prov, cfg.optimal_minutes, world.behaviour.memory),
            offset=self._offset,
        )
        self.phi.closed_form = lambda: self.optimum - cfg.optimal_minutes
        beh = world.behaviour
        self.phi.split_by_payer(world.n_payers, beh.payer_specificity, beh.memory)
        providers.styles.append(self.phi)
        #: share of minutes delivered concurrently or in groups, and its target
        self.shared_share = np.full(n_prov, cfg.baseline_shared_share)
        self.shared_target = self.shared_share.copy()
        #: therapist staff, minutes a month (NaN until the first month sets it)
        self.staff = np.full(n_prov, np.nan)
        #: best planned minutes per day under the current contracts
        self.optimum: np.ndarray = np.zeros(n_prov)

    def _offset(self, care: SettingMonth) -> np.ndarray:
        return care.column("planned_minutes") - self.cfg.optimal_minutes

    # -----------------------------------------------------------------------------------------
    def deliver(self, world: World, s: int, delivery: Delivery) -> Delivered:
        """Minutes per day planned from φ, delivered with a spread around the plan, split into
        individual, concurrent and group minutes (within the contract's cap), limited by the
        therapist staff; their cost, and the benefit of therapy relative to the
        patient-optimal intensity."""
        pop = world.population
        t = self.cfg
        idx, prov, days = delivery.patients, delivery.provider, delivery.service_units
        m_opt = t.optimal_minutes
        month = world.month_number
        learning = world.learning
        sign = (
            therapy_variation_sign(pop.global_index(idx), month)
            if learning
            else np.zeros(idx.size, np.int8)
        )
        delta = world.behaviour.experiment_step * m_opt
        active = delivery.sought & (days > 0)
        phi = self.phi.for_patients(prov, delivery.by_payer)
        planned = np.clip(m_opt + phi + delta * sign, 0.0, t.max_minutes)
        planned = np.where(active, planned, 0.0)
        per_day = planned
        if t.minutes_sd > 0 and idx.size:
            u = np.clip(pop.uniforms(idx, s, draws.THERAPY), 1e-12, 1.0 - 1e-12)
            sd = t.minutes_sd
            per_day = planned * np.exp(sd * ndtri(u) - 0.5 * sd * sd)
        share = self.shared_share[prov]
        fc = t.concurrent_fraction
        ind, conc, grp = np.zeros(idx.size), np.zeros(idx.size), np.zeros(idx.size)
        for g, b in enumerate(delivery.by_payer):
            sh = capped_share(share[b], world.contract(s, g).group_concurrent_cap)
            ind[b] = (1.0 - sh) * per_day[b]
            conc[b] = sh * fc * per_day[b]
            grp[b] = sh * (1.0 - fc) * per_day[b]
        # therapist minutes: a concurrent minute takes half a therapist minute, group a quarter
        staff_per_day = ind + conc / 2.0 + grp / 4.0
        wanted = staff_per_day * days
        n_prov = self.staff.size
        demand = np.bincount(prov, wanted, minlength=n_prov)
        staff = self.staff
        unset = np.isnan(staff)
        staff[unset] = demand[unset] * (1.0 + t.staffing.slack)
        scale = np.divide(staff, demand, out=np.ones(n_prov), where=demand > staff)[prov]
        ind, conc, grp, staff_per_day = (
            ind * scale,
            conc * scale,
            grp * scale,
            staff_per_day * scale,
        )
        effective = ind + t.shared_benefit * (conc + grp)
        d_t = t.benefit_curvature
        benefit = days * d_t * (m_opt * effective - 0.5 * effective**2 - 0.5 * m_opt**2)
        # function: diminishing returns up to the patient-optimal intensity, no gain past it
        # (as the days' function gain stops at q_B); the money value keeps the quadratic form
        capped = np.minimum(effective, m_opt)
        gain = days * d_t * (m_opt * capped - 0.5 * capped**2 - 0.5 * m_opt**2)
        gain /= world.settings[s].cfg.value_per_function_point
        # each day short of the optimal intensity adds adverse-event (and so readmission) risk
        shortfall = np.maximum(1.0 - effective / m_opt, 0.0)
        risk = t.shortfall_risk * days * shortfall * shortfall
        therapist = staff_per_day * days
        columns = {
            "therapy_individual": ind * days,
            "therapy_concurrent": conc * days,
            "therapy_group": grp * days,
            "therapist_minutes": therapist,
            "therapist_demand": wanted,
            "planned_minutes": planned,
        }
        return Delivered(
            columns=columns,
            benefit=np.where(active, benefit, 0.0),
            cost=t.cost_per_minute * therapist,
            gain=np.where(active, gain, 0.0),
            adverse_risk=np.where(active, risk, 0.0) if t.shortfall_risk else None,
        )

    def record(self, world: World, s: int, care: SettingMonth, by_payer) -> dict[str, np.ndarray]:
        """Therapy minutes by mode, and therapist staff attributed to payers."""
        # each provider's staff, attributed to payers by their share of its minutes
        n_prov = self.staff.size
        therapist = care.column("therapist_minutes")
        mins = np.bincount(care.provider, therapist, minlength=n_prov)
        per_min = np.divide(self.staff, mins, out=np.zeros(n_prov), where=mins > 0)
        fte = by_payer(therapist * per_min[care.provider])
        fte /= self.cfg.staffing.minutes_per_fte
        return {
            "therapy_minutes_individual": by_payer(care.column("therapy_individual")),
            "therapy_minutes_concurrent": by_payer(care.column("therapy_concurrent")),
            "therapy_minutes_group": by_payer(care.column("therapy_group")),
            "therapist_fte": fte,
        }

    def after_records(self, world: World) -> None:
        """Therapist staff move part of the way toward this month's demand (less after a
        loss), and the share of shared minutes toward its target at each provider's speed."""
        t = self.cfg
        s = self.s
        care = world.month[s]
        n_prov = self.staff.size
        # staff follow the minutes providers planned, not the minutes staff could deliver
        demand = np.bincount(care.provider, care.column("therapist_demand"), minlength=n_prov)
        margin = provider_margin(world, s)
        target = (
            demand
            * (1.0 + t.staffing.slack)
            * np.where(margin < 0, 1.0 - t.staffing.margin_response, 1.0)
        )
        self.staff += t.staffing.adjustment * (target - self.staff)
        if world.adjusting:
            gap = self.shared_target - self.shared_share
            self.shared_share += world.providers[s].speed * gap

    # -----------------------------------------------------------------------------------------
    def incentives(self, world: World, s: int, payer_weight: np.ndarray) -> np.ndarray:
        """Each provider's target share of shared minutes and best planned minutes per day;
        returns what a day at them is worth (for the closed-form length of stay)."""
        t = self.cfg
        contracts = world.contracts(s)
        # shared minutes save therapist time; where payment counts them at less than full
        # weight, providers keep to the baseline share, otherwise they move toward the
        # unpaid share within the contract's cap
        by_payer = np.array(
            [
                t.baseline_shared_share
                if min(c.therapy_minute_weights) < 1.0
                else capped_share(t.unpaid_shared_share, c.group_concurrent_cap)
                for c in contracts
            ]
        )
        target = payer_weight @ by_payer
        self.shared_target = target
        share = target if world.optimal else self.shared_share
        effective, staff, _ = therapy_mix(share, t.concurrent_fraction, t.shared_benefit, (1, 1, 1))

        def revenue(minutes: np.ndarray) -> np.ndarray:
            out = np.zeros(minutes.shape)
            for g, (c, payer) in enumerate(zip(contracts, world.payers, strict=True)):
                if not payer_weight[:, g].any():
                    continue
                _, _, counted = therapy_mix(
                    capped_share(share, c.group_concurrent_cap),
                    t.concurrent_fraction,
                    t.shared_benefit,
                    c.therapy_minute_weights,
                )
                r = c.therapy_revenue_per_day(minutes * counted[:, None])
                out += payer_weight[:, g][:, None] * payer.rate_multiplier * r
            return out

        m_star, g_star = optimal_therapy(
            revenue,
            cost_per_minute=t.cost_per_minute,
            staff=staff,
            effective=effective,
            altruism=world.providers[s].benefit_weight,
            curvature=t.benefit_curvature,
            optimal_minutes=t.optimal_minutes,
            sd=t.minutes_sd,
            max_minutes=t.max_minutes,
            shortfall_cost=world.providers[s].event_margin * t.shortfall_risk,
        )
        self.optimum = m_star
        return g_star

    def play_optimum(self, world: World, s: int) -> None:
        """φ at the best planned minutes, the shared-minute share at its target."""
        self.phi.value[:] = self.optimum - self.cfg.optimal_minutes
        self.shared_share[:] = self.shared_target
