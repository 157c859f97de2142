"""Care that lowers future need: provider investments in prevention, care coordination, home
visits and follow-up after discharge (MODEL.md; issue: care that lowers future need).

A setting with ``[investments]`` offers investment types (:class:`sim.scenario.InvestmentType`).
Each provider ``p`` chooses a spending level ``x_pk`` on each type ``k``: per member-month of
its panel (member basis) or per discharge (discharge basis, the pathway's acute setting).
Spending lowers the probability of the targeted events by ``ρ_kt · (1 − exp(−x / σ_k))``
(``ρ_kt`` the type's largest reduction of target ``t``, ``σ_k`` its scale): diminishing
returns. Member-basis spending acts ``lag_months`` later on the members who were in the panel
when it was spent, whichever provider they belong to by then.

**The choice.** A provider values an investment by what the avoided events are worth to it —
their effect on its profit under its contracts — plus its altruism times what they are worth to
patients, over the months it looks ahead (``horizon_months``), discounted by the chance that a
member is still its own when the effect comes (``(1 − churn)^lag``). With ``A_k`` the value of
removing all the targeted events it can reach (per member-month or per discharge), its
objective ``A_k·(1 − exp(−x/σ_k)) − (1 − fee_share_k)·x`` has the closed-form optimum

    x*_k = σ_k · ln(A_k / (σ_k · (1 − fee_share_k)))   if A_k > σ_k · (1 − fee_share_k), else 0.

``A_k`` comes from the provider's own experience, with exponential forgetting
(``behaviour.memory``): per member-month, the profit it made on its episodes and the episodes
that started (needs), and the adverse events among its patients; per discharge, its 30-day
readmissions, and what an admission paid and earned it. The value of an avoided event is then
minus the profit it would have made on it (a fee-for-service margin is lost; under capitation
the cost is saved), plus the adverse-event liability and penalties it would have borne, plus
the share of pathway spending its contract puts on it (a CJR-like bundle), plus
α × the patient's value. Observed rates already include the investments' effects; the
provider divides them out to value each type given the others. It moves toward ``x*`` at its
adaptation speed (``learning``), at once (``optimal``), or not at all (``fixed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

import numpy as np

from sim.engine.columns import Column
from sim.engine.features.base import Feature
from sim.engine.month.accounts import patient_profit
from sim.engine.payment import terms
from sim.engine.world import Transfer
from sim.scenario import INVESTMENT_TYPES

if TYPE_CHECKING:
    from sim.engine.features.pathway import Pathway
    from sim.engine.month.care import SettingMonth
    from sim.engine.world import World
    from sim.scenario import InvestmentsConfig

#: the events investments act on
TARGETS = ("needs", "adverse_events", "readmissions")
#: what a provider keeps a record of, each month: its members, the episodes that started, the
#: profit and allowed amounts of its episodes, adverse events, discharges and readmissions
RECORD = (
    "members",
    "episodes",
    "episode_profit",
    "episode_allowed",
    "adverse",
    "discharges",
    "readmits",
)


def _ratio(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """x / d, 0 where d is 0."""
    return np.divide(x, d, out=np.zeros(np.shape(x)), where=d > 0)


def optimal_investment(value: np.ndarray, scale: float, own_share: float) -> np.ndarray:
    """x* maximising ``value·(1 − exp(−x/scale)) − own_share·x`` (0 when it does not pay)."""
    v = np.asarray(value, np.float64)
    if own_share <= 0:
        return np.where(v > 0, np.inf, 0.0)
    ratio = v / (scale * own_share)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ratio > 1.0, scale * np.log(np.where(ratio > 1.0, ratio, 1.0)), 0.0)


def effect(spending: np.ndarray, scale: float) -> np.ndarray:
    """Share of the largest effect reached by ``spending``: 1 − exp(−x/σ)."""
    return -np.expm1(-np.asarray(spending, np.float64) / scale)


class Investments(Feature):
    """One setting's investment option: providers' levels, their estimates, the members'
    delayed effects and the month's accounts."""

    name = "investments"
    COLUMNS: ClassVar[dict[str, Column]] = {
    "investment_preventive_visits": Column("float64", "USD", "Providers' spending on preventive and primary-care visits for their panels (a provider cost; see investment_fees)."),
    "investment_care_coordination": Column("float64", "USD", "Providers' spending on care coordination of their panels."),
    "investment_home_visits": Column("float64", "USD", "Providers' spending on home visits after discharges."),
    "investment_discharge_follow_up": Column("float64", "USD", "Providers' spending on follow-up after discharges (calls, visits, medication reconciliation)."),
    "investment_fees": Column("float64", "USD", "Fees the payer paid toward those investments (their fee_share; included in payer_payments and provider_revenue)."),
    "needs_avoided": Column("int64", "episodes", "Episodes of need (in the acute setting: acute events) that preventive investments avoided this month: the same draws would have started them without the investments (first-order effect)."),
    "adverse_events_avoided": Column("int64", "events", "Adverse events that investments avoided this month (same draws; first-order effect)."),
    }  # fmt: skip
    SHARDABLE = True
    #: the pathway asks this feature for the protection of its discharges
    protects_discharges = True

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """One per setting with ``[investments]``, unless the arm switches them off."""
        if not world.arm.investments:
            return []
        return [
            cls(world, st.index, st.cfg.investments)
            for st in world.settings
            if st.cfg.investments is not None
        ]

    def __init__(self, world: World, s: int, cfg: InvestmentsConfig) -> None:
        self.s = s
        self.settings = (s,)
        self.cfg = cfg
        self.types = cfg.types()
        self.names = list(self.types)
        n_prov = world.providers[s].n
        n = world.population.n
        self.level = {k: np.zeros(n_prov) for k in self.names}
        pc = world.settings[s].cfg.providers
        # past 50·σ the effect is complete (e^-50); the cap keeps x* finite when a fee pays it all
        self.max_level = {k: 50.0 * t.scale for k, t in self.types.items()}
        self.retention = {
            k: ((1.0 - pc.churn) ** t.lag_months if t.lag_months <= cfg.horizon_months else 0.0)
            for k, t in self.types.items()
        }
        # members' effects to come: one ring of (lag + 1) months per member-basis type,
        # holding 1 − exp(−x/σ) of the spending made on each member
        self.pending = {
            k: np.zeros((t.lag_months + 1, n), np.float32)
            for k, t in self.types.items()
            if t.basis == "member"
        }
        # each provider's running record of its month (exponential forgetting)
        self.history = {k: np.zeros(n_prov) for k in RECORD}
        self.seen = False
        # the month's accounts
        self.cost = {k: np.zeros((n_prov, world.n_payers)) for k in INVESTMENT_TYPES}
        self.fees = np.zeros((n_prov, world.n_payers))
        self.avoided = {t: np.zeros(world.n_payers, np.int64) for t in TARGETS}
        #: the pathway, when this is its acute setting (discharges and readmissions)
        self.pathway: Pathway | None = None

    def connect(self, features: list[Feature]) -> None:
        """Find the pathway whose acute setting this is, if any."""
        for f in features:
            if getattr(f, "acute", None) == self.s and hasattr(f, "by_hospital"):
                self.pathway = cast("Pathway", f)  # found by what it has

    # -----------------------------------------------------------------------------------------
    def start_month(self, world: World) -> None:
        """Book this month's member spending (at the levels chosen last month) and schedule its
        effects ``lag`` months ahead on the members it was spent on."""
        pop = world.population
        month = world.month_number
        prov = pop.provider[self.s]
        members = np.stack([pn.members for pn in world.providers[self.s].panels], axis=1)
        for k in INVESTMENT_TYPES:
            self.cost[k][:] = 0.0
        self.fees[:] = 0.0
        for target in TARGETS:
            self.avoided[target][:] = 0
        for k, ring in self.pending.items():
            t = self.types[k]
            ring[(month + t.lag_months) % ring.shape[0]] = effect(self.level[k], t.scale)[prov]
            cost = self.level[k][:, None] * members
            self.cost[k] += cost
            self.fees += t.fee_share * cost

    def risk_factor(
        self, world: World, s: int, event: str, patients: np.ndarray | None
    ) -> np.ndarray | None:
        """The factor of the member-basis spending made on these patients (:meth:`factor`)."""
        if event not in ("needs", "adverse_events"):
            return None
        return self.factor(event, patients, world.month_number)

    def events_avoided(
        self, world: World, s: int, event: str, avoided: np.ndarray, sought: np.ndarray | None
    ) -> None:
        """Count the events avoided by payer."""
        self.count_avoided(event, world.population.payer[avoided], world.n_payers)

    def factor(self, target: str, patients: np.ndarray | None, month: int) -> np.ndarray | None:
        """This month's factor on the probability of ``target`` ("needs", "adverse_events")
        for these patients (all when None) from the member-basis spending made on them."""
        out = None
        for k, ring in self.pending.items():
            rho = getattr(self.types[k], target)
            if not rho:
                continue
            reach = ring[month % ring.shape[0]]
            if patients is not None:
                reach = reach[patients]
            f = 1.0 - rho * reach.astype(np.float64)
            out = f if out is None else out * f
        return out

    def discharge_factor(
        self, world: World, hospital: np.ndarray, payer: np.ndarray
    ) -> np.ndarray | None:
        """Factor on the readmission risk of these discharges from the discharge-basis
        spending of their hospitals, whose cost is booked here."""
        out = None
        for k, t in self.types.items():
            if t.basis != "discharge":
                continue
            y = self.level[k][hospital]
            key = hospital * world.n_payers + payer
            n_prov, n_pay = self.cost[k].shape
            cost = np.bincount(key, y, minlength=n_prov * n_pay).reshape(n_prov, n_pay)
            self.cost[k] += cost
            self.fees += t.fee_share * cost
            f = 1.0 - t.readmissions * effect(y, t.scale)
            out = f if out is None else out * f
        return out

    def count_avoided(self, target: str, payer: np.ndarray, n_payers: int) -> None:
        """Add events of ``target`` avoided (one entry per event, its payer)."""
        self.avoided[target] += np.bincount(payer, minlength=n_payers)

    # -----------------------------------------------------------------------------------------
    def after_records(self, world: World) -> None:
        """Learn from the month (with the pathway's discharges and readmissions)."""
        discharges, readmits = (
            self.pathway.by_hospital() if self.pathway is not None else (0.0, 0.0)
        )
        self.learn(world, world.month[self.s], discharges, readmits)

    def learn(self, world: World, mc: SettingMonth, discharges, readmits) -> None:
        """Fold the month into each provider's record and move its levels toward the
        closed-form best given its estimates (see the module docstring)."""
        s = self.s
        n_prov = world.providers[s].n
        members = np.stack([pn.members for pn in world.providers[s].panels], axis=1).sum(axis=1)
        own = mc.sought
        profit = patient_profit(world, s)
        month = {
            "members": members,
            "episodes": np.bincount(mc.provider[mc.new_episode], minlength=n_prov),
            "episode_profit": np.bincount(mc.provider[own], profit[own], n_prov),
            "episode_allowed": np.bincount(mc.provider[own], mc.paid.allowed[own], n_prov),
            "adverse": np.bincount(mc.provider[mc.adverse & own], minlength=n_prov),
            "discharges": discharges,
            "readmits": readmits,
        }
        w = world.behaviour.memory
        for key, value in month.items():
            self.history[key] = value if not self.seen else (1 - w) * self.history[key] + w * value
        self.seen = True
        target = self.best(world)
        for k in self.names:
            if world.optimal:
                self.level[k][:] = target[k]
            elif world.adjusting:
                self.level[k] += world.providers[s].speed * (target[k] - self.level[k])

    def values(self, world: World) -> dict[str, np.ndarray]:
        """What removing each target entirely is worth to each provider (USD per member-month
        for needs and adverse events, per discharge for readmissions), from its estimates."""
        s = self.s
        cfg = world.settings[s].cfg
        r = self.history
        alpha = world.providers[s].altruism
        w_pay = world.providers[s].payer_weight()
        ae = cfg.adverse_events
        liability = np.zeros(alpha.size)
        for g, payer in enumerate(world.payers):
            prm = payer.contracts[s].params
            liability += w_pay[:, g] * (terms.event_charge(prm, ae.cost))
        ae_value = liability + alpha * ae.function_loss * cfg.value_per_function_point
        members, episodes = r["members"], r["episodes"]
        needs = _ratio(alpha * self.cfg.need_value * episodes - r["episode_profit"], members)
        adverse = _ratio(r["adverse"], members) * ae_value
        # a readmission: another admission, whose allowed amount counts against the pathway
        # target where the contract says so, and whose profit is forgone
        share = np.zeros(alpha.size)
        if self.pathway is not None:
            share = (self.pathway.weight * w_pay).sum(axis=1)
        # and whatever else the contracts charge for one (a readmission penalty)
        penalty = np.zeros(alpha.size)
        for g, payer in enumerate(world.payers):
            penalty += w_pay[:, g] * payer.contracts[s].readmission_margin(alpha.size)
        readmission = (
            share * _ratio(r["episode_allowed"], episodes)
            - _ratio(r["episode_profit"], episodes)
            + penalty
            + alpha * self.cfg.readmission_value
        )
        readmissions = _ratio(r["readmits"], r["discharges"]) * readmission
        return {"needs": needs, "adverse_events": adverse, "readmissions": readmissions}

    def best(self, world: World) -> dict[str, np.ndarray]:
        """Each type's closed-form best level given the provider's estimates and the other
        types' current levels."""
        values = self.values(world)
        out = {}
        for k, t in self.types.items():
            a = np.zeros(world.providers[self.s].n)
            for target in TARGETS:
                rho = getattr(t, target)
                if rho:
                    # the observed value already carries this type's current effect
                    a += rho * values[target] / (1.0 - rho * effect(self.level[k], t.scale))
            a *= self.retention[k]
            x = optimal_investment(a, t.scale, 1.0 - t.fee_share)
            out[k] = np.minimum(x, self.max_level[k])
        return out

    # -----------------------------------------------------------------------------------------
    def after_payment(self, world: World) -> list[Transfer]:
        """Fees the payer pays toward the month's investments: lumps to providers."""
        return [
            Transfer("investment_fees", self.s, g, fee, float(fee.sum()))
            for g in range(world.n_payers)
            if (fee := self.fees[:, g]).any()
        ]

    def provider_cost(self, world: World, s: int) -> np.ndarray:
        """This month's investment spending per provider."""
        return self.cost_by_provider()

    def cost_by_payer(self, world: World, s: int) -> np.ndarray:
        """This month's investment spending (all types) by payer."""
        # np.asarray: an array already (sum() is typed as maybe its start, 0)
        return np.asarray(sum(self.cost_of(k) for k in INVESTMENT_TYPES))

    def record(self, world: World, s: int, care: SettingMonth, by_payer) -> dict[str, np.ndarray]:
        """Spending by type, fees and events avoided, by payer."""
        return {
            **{f"investment_{k}": self.cost_of(k) for k in INVESTMENT_TYPES},
            "investment_fees": self.fees.sum(axis=0),
            **{f"{t}_avoided": self.avoided[t] for t in ("needs", "adverse_events")},
        }

    def cost_by_provider(self) -> np.ndarray:
        """This month's investment spending (all types) per provider."""
        # np.asarray: an array already (sum() is typed as maybe its start, 0)
        return np.asarray(sum(c.sum(axis=1) for c in self.cost.values()))

    def cost_of(self, k: str) -> np.ndarray:
        """This month's spending on investment type ``k``, by payer."""
        return self.cost[k].sum(axis=0)
