"""Capacity and congestion (``supply.capacity``): how much each provider can deliver a month.

Every provider of a setting has a capacity in the setting's unit (visits, days of stay): the
service units it can deliver in a month. This generalises the skilled-nursing therapist
staffing (:mod:`sim.engine.features.therapy`) to every setting: capacity is ``initial`` × the month's
planned units in the first ``warmup_months`` (a run starts with no episode under way; the
market is taken to be in balance before it) and when a provider first has patients, and then
moves each month a share ``adjustment`` of the way toward
``planned units × (1 + slack)`` — expanding only while the provider makes money; after a loss
it targets ``margin_response`` less than the lower of its capacity and that target.

When the units its patients' episodes call for (its *demand*: what its style planned, rounded)
exceed its capacity, care is rationed: with ``priority = "payer_value"`` the provider serves
first the patients of the payer whose unit of care earns it most at the margin (the payment
model's marginal revenue less marginal cost: under a cut fee, that payer's patients wait
first), then the next payer with what is left (payers worth the same share alike); with
``"proportional"`` every patient gets the same share. A patient served a share r of its
planned units waits ``(1 − r)/r`` months for the rest (up to ``max_wait``); what is not
delivered is unmet demand. A new elective patient facing last month's wait of its payer's
patients at its provider seeks care with the usual probability × ``(1 + wait /
wait_reference)^wait_elasticity`` (the same draws: the episodes forgone are counted). Quantity
is where the patients' demand and the providers' preferred supply meet (PADSIM's blended
equilibrium). Capacity itself costs nothing beyond the setting's fixed cost (assumption).

With ``target = "price"`` capacity follows what a unit of it earns at the contracts' prices
instead of planned demand alone: the price of a unit to the provider's patients of each payer
(:func:`unit_earnings`: the month's units and cases at the contract's prices,
``PaymentModel.prices``, per unit delivered) less its marginal cost, weighed by the provider's
members by payer, against the cost of holding a unit of capacity ``c_K`` (``capacity_cost`` ×
marginal cost). A unit of capacity above planned demand ``D`` is used only when demand turns
out higher (a coefficient of variation ``demand_cv``), so the provider holds the newsvendor's
quantity (:func:`price_target`)

    K* = D · (1 + cv · Φ⁻¹(1 − c_K / m))       (the quantile at least ½: K* ≥ D)

— a higher payer price (``m``) expands capacity, a lower one shrinks it, and a contract that
pays nothing per unit (capitation) leaves it at planned demand. After a loss it expands no
further, as before.

With ``ration_admissions`` (and ``behaviour.admission``) a congested provider also rations
cases: the *shadow price of capacity* — the value to it of a unit of what rationing took last
month (:func:`shadow_price`: the rationed units' price less marginal cost, plus its altruism ×
their marginal benefit to the patients who lost them, ``α·d·(q_B − q)``) — times a new case's
units is what taking the case displaces, and the admission decision subtracts it from the
case's value (the ``displaced_value`` hook). Urgent cases, worth far more than that, are still
taken; discretionary ones, worth little more than their alternative, are turned away first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from scipy.special import ndtri

from sim.engine import draws
from sim.engine.columns import Column
from sim.engine.features.base import Feature
from sim.engine.month import incentives
from sim.engine.month.accounts import provider_margin
from sim.engine.payment import terms

if TYPE_CHECKING:
    from sim.engine.month.care import SettingMonth
    from sim.engine.world import World
    from sim.scenario import CapacityConfig


def served_share(demand: np.ndarray, capacity: np.ndarray, value: np.ndarray | None) -> np.ndarray:
    """Share of each payer's demand a provider serves (providers × payers): everyone the same
    share when ``value`` is None, otherwise payers in order of ``value`` (highest first), those
    of equal value sharing alike what is left."""
    total = demand.sum(axis=1)
    if value is None:
        share = np.divide(capacity, total, out=np.ones(total.shape), where=total > capacity)
        return np.broadcast_to(np.minimum(share, 1.0)[:, None], demand.shape).copy()
    higher = value[:, None, :] > value[:, :, None]  # [p, g, h]: h is worth more than g
    equal = value[:, None, :] == value[:, :, None]
    before = np.einsum("pgh,ph->pg", higher, demand)
    alike = np.einsum("pgh,ph->pg", equal, demand)
    left = capacity[:, None] - before
    share = np.divide(left, alike, out=np.ones(demand.shape), where=alike > 0)
    return np.clip(share, 0.0, 1.0)


def wait_months(share: np.ndarray, max_wait: float) -> np.ndarray:
    """The wait of a patient served ``share`` of its planned units: ``(1 − r)/r`` months for
    the rest, at most ``max_wait``."""
    wait = np.divide(1.0 - share, share, out=np.full(share.shape, max_wait), where=share > 0)
    return np.minimum(wait, max_wait)


def price_target(demand: np.ndarray, earnings: np.ndarray, cost: float, cv: float) -> np.ndarray:
    """The newsvendor's capacity ``D·(1 + cv·z)``, ``z = Φ⁻¹(1 − cost / earnings)`` for a unit
    earning ``earnings`` and costing ``cost`` to hold, the quantile between ½ (``z = 0``: the
    planned units ``demand``, also where a unit earns nothing) and 0.999."""
    m = np.asarray(earnings, np.float64)
    fractile = np.divide(cost, m, out=np.ones(m.shape), where=m > 0)
    z = ndtri(np.clip(1.0 - fractile, 0.5, 0.999))
    return demand * (1.0 + cv * z)


def shadow_price(
    cut: np.ndarray, value: np.ndarray, provider: np.ndarray, n_providers: int
) -> np.ndarray:
    """The value to each provider of a unit of what rationing took (``cut`` units of patients
    whose units are each worth ``value`` to it): ``Σ cut·value / Σ cut``, at least 0; 0 where
    nothing was cut."""
    units = np.bincount(provider, cut, minlength=n_providers)
    worth = np.bincount(provider, cut * value, minlength=n_providers)
    return np.maximum(np.divide(worth, units, out=np.zeros(n_providers), where=units > 0), 0.0)


def unit_earnings(world: World, s: int, fallback: np.ndarray) -> np.ndarray:
    """What a unit of care earns each provider of setting ``s`` (rows) from each payer's
    patients (columns) at the contract's prices, less its marginal cost: the month's units and
    cases of its patients in care at the contract's prices where they stood
    (:func:`incentives.month_position`, net of the contract's terms) per unit delivered;
    ``fallback`` (the marginal revenue less marginal cost) where it delivered none."""
    care = world.month[s]
    cost = world.settings[s].cfg.marginal_cost
    out = np.array(fallback, np.float64, copy=True)
    n = out.shape[0]
    for g, b in enumerate(care.by_payer):
        rows = np.arange(b.start, b.stop)[care.sought[b]]
        units = care.service_units[rows].astype(np.int64)
        if not units.any():
            continue
        contract = world.contract(s, g)
        pos = incentives.month_position(world, s, g, rows, contract)
        prices = terms.net_prices(contract.params, contract.prices(pos, int(units.max())))
        revenue = np.bincount(pos.provider, prices.at(units) + prices.case, minlength=n)
        delivered = np.bincount(pos.provider, units, minlength=n)
        per_unit = np.divide(revenue, delivered, out=np.zeros(n), where=delivered > 0)
        out[:, g] = np.where(delivered > 0, per_unit - cost, out[:, g])
    return out


class Capacity(Feature):
    """Capacity and congestion in one setting."""

    name = "capacity"
    COLUMNS: ClassVar[dict[str, Column]] = {
        "capacity_units": Column("float64", "units", "Capacity of the setting's providers (service units a month), attributed to payers by their share of each provider's members (supply.capacity; 0 when off)."),
        "demand_units": Column("int64", "units", "Service units providers planned for the payer's patients this month, before rationing by capacity (0 when supply.capacity is off)."),
        "unmet_units": Column("int64", "units", "Planned service units not delivered because the provider's capacity was short (unmet demand; service_units = demand_units − unmet_units, before an episode's covered-units limit and bunching)."),
        "wait_months": Column("float64", "months", "Mean wait of the payer's patients in care this month: a patient served a share r of its planned units waits (1 − r)/r months for the rest (up to supply.capacity.max_wait).", ratio=("_wait", "_treated")),
        "episodes_forgone_wait": Column("int64", "episodes", "New elective episodes not taken to a provider because of the wait there (the same draws would have sought care without it)."),
        "unit_earnings": Column("float64", "USD/unit", "What a unit of care of the payer's patients earned the providers at the contract's prices (the month's units and cases at PaymentModel.prices, per unit delivered) less marginal cost, mean over providers weighed by their members of the payer (supply.capacity.target = price; 0 otherwise).", ratio=("_earnings", "_members")),
        "shadow_price": Column("float64", "USD/unit", "The shadow price of capacity: what a unit of the care rationing took last month was worth to the provider, mean over providers weighed by their members of the payer (supply.capacity.ration_admissions; 0 otherwise).", ratio=("_shadow", "_members")),
    }  # fmt: skip
    SHARDABLE = True

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """One per setting the supply mechanisms act in, with ``supply.capacity.enabled``."""
        supply = world.config.supply
        if not supply.capacity.enabled:
            return []
        return [
            cls(world, st.index, supply.capacity)
            for st in world.settings
            if supply.applies(st.name)
        ]

    def __init__(self, world: World, s: int, cfg: CapacityConfig) -> None:
        self.s = s
        self.settings = (s,)
        self.cfg = cfg
        n_prov = world.providers[s].n
        g = world.n_payers
        #: service units a month each provider can deliver (NaN until it first has patients)
        self.capacity = np.full(n_prov, np.nan)
        #: this month's planned units per provider, and planned / capacity
        self.demand = np.zeros(n_prov)
        self.utilisation = np.zeros(n_prov)
        #: last month's wait of each payer's patients at each provider (months)
        self.wait = np.zeros((n_prov, g))
        #: what a unit of care of each payer's patients earns each provider at the margin
        self.unit_value = np.zeros((n_prov, g))
        # this month's per-patient planned units and waits (aligned with the setting's care)
        self._planned = np.zeros(0, np.int64)
        self._unmet = np.zeros(0, np.int64)
        self._wait = np.zeros(0)
        self._forgone = np.zeros(g, np.int64)
        #: target = price: what a unit earns each provider from each payer's patients, less
        #: marginal cost (this month's)
        self.earnings = np.zeros((n_prov, g))
        #: ration_admissions: the value to each provider of a unit of what rationing took
        #: last month (USD per unit)
        self.shadow = np.zeros(n_prov)

    # -----------------------------------------------------------------------------------------
    def start_month(self, world: World) -> None:
        """A new month's count of forgone episodes."""
        self._forgone = np.zeros(world.n_payers, np.int64)

    def seek_factor(
        self,
        world: World,
        s: int,
        patients: np.ndarray,
        elective: np.ndarray,
        draw: np.ndarray,
        probability: np.ndarray,
    ) -> np.ndarray | None:
        """Elective care seeking falls with last month's wait at the patient's provider."""
        if not self.wait.any():
            return None
        pop = world.population
        prov = pop.provider[s][patients].astype(np.int64)
        wait = self.wait[prov, pop.payer[patients].astype(np.int64)]
        factor = (1.0 + wait / self.cfg.wait_reference) ** self.cfg.wait_elasticity
        forgone = elective & (draw < probability) & ~(draw < probability * factor)
        self._forgone += np.bincount(pop.payer[patients[forgone]], minlength=world.n_payers)
        return factor

    def ration_units(
        self,
        world: World,
        s: int,
        units: np.ndarray,
        patients: np.ndarray,
        provider: np.ndarray,
        by_payer: list[slice],
    ) -> np.ndarray:
        """Units within each provider's capacity (see the module docstring)."""
        cfg = self.cfg
        pop = world.population
        n_prov = self.capacity.size
        g_n = world.n_payers
        payer = pop.payer[patients].astype(np.int64)
        key = provider * g_n + payer
        demand_pg = np.bincount(key, units, minlength=n_prov * g_n).reshape(n_prov, g_n)
        demand = demand_pg.sum(axis=1)
        unset = np.isnan(self.capacity) & (demand > 0)
        if world.month_number < cfg.warmup_months:
            unset = demand > 0
        self.capacity[unset] = cfg.initial * demand[unset]
        capacity = np.nan_to_num(self.capacity)
        self.demand = demand
        self.utilisation = np.divide(demand, capacity, out=np.zeros(n_prov), where=capacity > 0)
        value = self.unit_value if cfg.priority == "payer_value" else None
        share = served_share(demand_pg, capacity, value)
        self.wait = np.where(demand_pg > 0, wait_months(share, cfg.max_wait), 0.0)
        self._planned = units
        self._unmet = np.zeros(units.size, np.int64)
        r = share[provider, payer]
        self._wait = np.where(units > 0, self.wait[provider, payer], 0.0)
        short = r < 1.0
        if cfg.ration_admissions:
            self.shadow = np.zeros(n_prov)
        if not short.any():
            return units
        out = units.copy()
        u = pop.uniforms(patients[short], s, draws.RATION_ROUNDING)
        out[short] = np.minimum(np.floor(units[short] * r[short] + u), units[short])
        self._unmet = units - out
        if cfg.ration_admissions:
            # the units rationing took: their price less cost, plus the provider's altruism
            # × their marginal benefit where the patient was left, α·d·(q_B − q)
            setting = world.settings[s].cfg
            alpha = world.providers[s].benefit_weight[provider]
            lost = np.maximum(pop.optimal_units[s][patients] - out, 0.0)
            value = self.unit_value[provider, payer] + alpha * setting.benefit_curvature * lost
            self.shadow = shadow_price(self._unmet.astype(np.float64), value, provider, n_prov)
        return out

    def displaced_value(
        self, world: World, s: int, provider: np.ndarray, units: np.ndarray
    ) -> np.ndarray | None:
        """With ``ration_admissions``: what new cases of ``units`` units would displace at
        their providers, the shadow price of capacity × the units (module docstring)."""
        if not self.cfg.ration_admissions:
            return None
        return self.shadow[provider] * units

    def record(self, world: World, s: int, care: SettingMonth, by_payer) -> dict[str, np.ndarray]:
        """Capacity, demand, unmet demand and waits by payer; episodes forgone for the wait."""
        w = world.providers[s].payer_weight()
        active = world.providers[s].active
        capacity = np.nan_to_num(self.capacity) * active
        out = {
            "capacity_units": capacity @ w,
            "demand_units": by_payer(self._planned),
            "unmet_units": by_payer(self._unmet),
            "_wait": by_payer(self._wait * care.sought),
            "_treated": by_payer(care.sought),
            "episodes_forgone_wait": self._forgone.astype(np.float64),
        }
        cfg = self.cfg
        if cfg.target == "price" or cfg.ration_admissions:
            members = (
                np.stack([pn.members for pn in world.providers[s].panels], 1) * active[:, None]
            )
            out["_members"] = members.sum(axis=0)
            if cfg.target == "price":
                self.earnings = unit_earnings(world, s, self.unit_value)
                out["_earnings"] = (self.earnings * members).sum(axis=0)
            if cfg.ration_admissions:
                out["_shadow"] = self.shadow @ members
        return out

    def after_records(self, world: World) -> None:
        """Capacity moves part of the way toward planned demand (and, with ``target =
        "price"``, the buffer what a unit earns pays for), expanding only with a non-negative
        margin (see the module docstring)."""
        cfg = self.cfg
        margin = provider_margin(world, self.s)
        if cfg.target == "price":
            # the newsvendor's buffer on what a unit earns, weighed by the members by payer
            earned = (self.earnings * world.providers[self.s].payer_weight()).sum(axis=1)
            cost = cfg.capacity_cost * world.settings[self.s].cfg.marginal_cost
            target = price_target(self.demand, earned, cost, cfg.demand_cv)
        else:
            target = self.demand * (1.0 + cfg.slack)
        loss = margin < 0
        target = np.where(
            loss, np.minimum(target, self.capacity) * (1.0 - cfg.margin_response), target
        )
        known = ~np.isnan(self.capacity)
        self.capacity[known] += cfg.adjustment * (target[known] - self.capacity[known])

    # -----------------------------------------------------------------------------------------
    def incentives(self, world: World, s: int, payer_weight: np.ndarray) -> None:
        """What a unit of each payer's patients earns each provider at the margin (the payment
        model's marginal revenue less marginal cost), for whom it serves first."""
        setting = world.settings[s]
        providers = world.providers[s]
        fee_unit = setting.fee_per_unit[providers.region]
        for g, payer in enumerate(world.payers):
            mr = payer.contracts[s].marginal_revenue(
                fee_unit * payer.rate_multiplier, payer.rate_multiplier
            )
            self.unit_value[:, g] = np.broadcast_to(np.asarray(mr, float), providers.n)
        self.unit_value -= setting.cfg.marginal_cost
        return None
