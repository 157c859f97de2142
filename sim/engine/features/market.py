"""Entry and exit (``supply.market``): providers that keep losing money leave, entrants come
where margins stay high.

Each month a provider's margin rate is its margin / revenue (−1 with no revenue and a cost). A
provider whose margin rate stays below ``exit_margin`` for ``exit_months`` months in a row
(for-profit: ``exit_months / for_profit_speed``, rounded up) leaves at the start of the next
month — at most one per region and setting a month (the worst), and never the last of its
region. Its members move to the other providers of the region at random (counter-based draws,
the same in every arm), their episodes continuing there; it stops bearing its fixed cost (an
entrant starts bearing its own; in the monthly rows an entrant's is charged to the largest
payer, as the model charges a provider without members).

Each setting holds, per region, a reserve of potential entrants (``reserve`` × the region's
providers, at least one), drawn from their own random stream with the setting's distributions
of altruism, adaptation speed and ownership, so the providers in the market are the same with
or without it. Where the margin rate of a region's providers (their margin / their revenue)
stays above ``entry_margin`` for ``entry_months`` months in a row (for-profit:
``entry_months / for_profit_speed``), one potential entrant of that ownership enters: it
starts with the region's mean styles and takes, at random, a fair share (1 / providers of the
region) of the region's members who are not in an episode of the setting; the count starts
again. Money and patients are conserved: patients only change provider, and every payment
still goes through the engine. The provider panel (``outputs.provider_panel``) lists every
provider, potential entrants and those that left too (without patients or cost).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from sim.engine import draws
from sim.engine.columns import Column
from sim.engine.features.base import Feature
from sim.engine.month.accounts import provider_cost, provider_revenue

if TYPE_CHECKING:
    from sim.engine.month.care import SettingMonth
    from sim.engine.world import World
    from sim.scenario import MarketConfig


class Market(Feature):
    """Entry and exit in one setting."""

    name = "market"
    COLUMNS: ClassVar[dict[str, Column]] = {
        "providers_active_for_profit": Column("int64", "providers", "For-profit providers in the market this month (supply.market; a setting total, on the row of the scenario's first payer, 0 on the others and when off)."),
        "providers_active_nonprofit": Column("int64", "providers", "Non-profit providers in the market this month (a setting total, on the first payer's row)."),
        "provider_entries_for_profit": Column("int64", "providers", "For-profit providers that entered at the start of this month (on the first payer's row)."),
        "provider_entries_nonprofit": Column("int64", "providers", "Non-profit providers that entered at the start of this month (on the first payer's row)."),
        "provider_exits_for_profit": Column("int64", "providers", "For-profit providers that left at the start of this month (on the first payer's row)."),
        "provider_exits_nonprofit": Column("int64", "providers", "Non-profit providers that left at the start of this month (on the first payer's row)."),
        "members_moved_by_exit": Column("int64", "persons", "The payer's members whose provider left this month and who moved to another provider of their region."),
    }  # fmt: skip
    SHARDABLE = True  # entry, exit and moves stay within a region

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """One per setting the supply mechanisms act in, with ``supply.market.enabled``."""
        supply = world.config.supply
        if not supply.market.enabled:
            return []
        return [
            cls(world, st.index, supply.market) for st in world.settings if supply.applies(st.name)
        ]

    def __init__(self, world: World, s: int, cfg: MarketConfig) -> None:
        self.s = s
        self.settings = (s,)
        self.cfg = cfg
        providers = world.providers[s]
        n_prov = providers.n
        fixed = world.settings[s].cfg.providers.fixed_cost
        self.fixed_cost = fixed
        #: each provider's fixed cost as charged to payers in the monthly rows: by its members
        #: at the start, providers without members to the largest payer, potential entrants
        #: nothing (as the model charges it; an entrant's goes to the largest payer)
        members = np.stack([pn.members for pn in providers.panels], axis=1)
        total = members.sum(axis=1, keepdims=True)
        alloc = np.divide(members, total, out=np.zeros(members.shape), where=total > 0)
        self.largest = int(np.argmax(world.payer_members))
        alloc[total[:, 0] == 0, self.largest] = 1.0
        alloc[~providers.active] = 0.0
        self.charged = fixed * alloc
        self.charged_at_start = self.charged[providers.active].sum(axis=0)
        self.ever_active = providers.active.copy()
        #: months in a row below the exit margin (per provider) and above the entry margin
        #: (per region, for-profit and non-profit)
        self.below = np.zeros(n_prov, np.int64)
        self.above = np.zeros((len(providers.by_region), 2), np.int64)
        fps = cfg.for_profit_speed
        self.exit_after = np.where(
            providers.for_profit, math.ceil(cfg.exit_months / fps), cfg.exit_months
        )
        #: months of high margins before an entrant of each ownership (non-profit, for-profit)
        self.entry_after = np.array([cfg.entry_months, math.ceil(cfg.entry_months / fps)])
        self._counts = np.zeros((2, 2), np.int64)  # [entries, exits] × [non-profit, for-profit]
        self._moved = np.zeros(world.n_payers, np.int64)

    # -----------------------------------------------------------------------------------------
    def start_month(self, world: World) -> None:
        """Exits and entries decided on the months so far."""
        self._counts[:] = 0
        self._moved = np.zeros(world.n_payers, np.int64)
        self._exits(world)
        self._entries(world)

    def _exits(self, world: World) -> bool:
        s = self.s
        pop = world.population
        providers = world.providers[s]
        due = providers.active & (self.below >= self.exit_after)
        if not due.any():
            return False
        changed = False
        for r in range(len(providers.by_region)):
            members = providers.by_region[r]
            candidates = members[due[members]]
            if not candidates.size or members.size < 2:
                continue
            p = int(candidates[np.argmax(self.below[candidates])])
            providers.active[p] = False
            rest = members[members != p]
            providers.by_region[r] = rest
            self.below[p] = 0
            self._counts[1, int(providers.for_profit[p])] += 1
            movers = np.flatnonzero(pop.provider[s] == p)
            if movers.size:
                u = pop.uniforms(movers, s, draws.EXIT_MOVE)
                world.move_members(s, movers, rest[np.floor(u * rest.size).astype(np.int64)])
                self._moved += np.bincount(pop.payer[movers], minlength=world.n_payers)
            changed = True
        return changed

    def _entries(self, world: World) -> bool:
        s = self.s
        pop = world.population
        providers = world.providers[s]
        changed = False
        for r in range(len(providers.by_region)):
            for owner in (0, 1):
                if self.above[r, owner] < self.entry_after[owner]:
                    continue
                waiting = np.flatnonzero(
                    ~self.ever_active
                    & (providers.region == r)
                    & (providers.for_profit == bool(owner))
                )
                if not waiting.size:
                    continue
                p = int(waiting[0])
                incumbents = providers.by_region[r]
                for style in providers.styles:
                    style.value[p] = style.value[incumbents].mean()
                    style.before[p] = style.value[p]
                providers.active[p] = True
                self.ever_active[p] = True
                self.charged[p, self.largest] = self.fixed_cost
                providers.by_region[r] = np.sort(np.append(incumbents, p))
                self.above[r, owner] = 0
                self._counts[0, owner] += 1
                free = np.flatnonzero((pop.region == r) & (pop.episode_left[s] == 0))
                u = pop.uniforms(free, s, draws.ENTRY_MOVE)
                joining = free[u < 1.0 / providers.by_region[r].size]
                world.move_members(s, joining, np.full(joining.size, p))
                changed = True
        return changed

    def provider_cost(self, world: World, s: int) -> np.ndarray:
        """Providers not in the market bear no fixed cost (the engine charges it to all)."""
        return np.where(world.providers[s].active, 0.0, -self.fixed_cost)

    def cost_by_payer(self, world: World, s: int) -> np.ndarray:
        """The fixed cost of the providers in the market now, less what the model charges
        payers for those in it at the start (exits take theirs back, entrants add theirs)."""
        return self.charged[world.providers[s].active].sum(axis=0) - self.charged_at_start

    def record(self, world: World, s: int, care: SettingMonth, by_payer) -> dict[str, np.ndarray]:
        """Providers in the market, entries and exits (on the first payer's row); members
        moved by exits, by payer."""
        providers = world.providers[s]
        g = world.n_payers

        def first(x: float) -> np.ndarray:
            out = np.zeros(g)
            out[0] = x
            return out

        fp = providers.for_profit
        act = providers.active
        return {
            "providers_active_for_profit": first(float((act & fp).sum())),
            "providers_active_nonprofit": first(float((act & ~fp).sum())),
            "provider_entries_for_profit": first(float(self._counts[0, 1])),
            "provider_entries_nonprofit": first(float(self._counts[0, 0])),
            "provider_exits_for_profit": first(float(self._counts[1, 1])),
            "provider_exits_nonprofit": first(float(self._counts[1, 0])),
            "members_moved_by_exit": self._moved.astype(np.float64),
        }

    def after_records(self, world: World) -> None:
        """Count the months of low margins per provider and of high margins per region."""
        s = self.s
        providers = world.providers[s]
        revenue = provider_revenue(world, s)
        margin = revenue - provider_cost(world, s)
        rate = np.divide(margin, revenue, out=np.where(margin < 0, -1.0, 0.0), where=revenue > 0)
        low = providers.active & (rate < self.cfg.exit_margin)
        self.below = np.where(low, self.below + 1, 0)
        for r, members in enumerate(providers.by_region):
            rev = revenue[members].sum()
            region_rate = margin[members].sum() / rev if rev > 0 else -1.0
            high = region_rate > self.cfg.entry_margin
            self.above[r] = np.where(high, self.above[r] + 1, 0)
