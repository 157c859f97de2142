"""Participation (``supply.participation``): whose patients a provider takes, per payer.

Each month each provider sets, per payer, the share of that payer's new patients it accepts
(all, a share, or none), from what an episode of that payer's patients is worth to it: what its
own ended episodes of the payer's patients earned it (their revenue and reconciliations less
variable and adverse-event costs — learnt as
``behaviour.selection`` learns it, by risk quartile, and shared with it when both are on:
:class:`~sim.engine.features.selection.EpisodeValues`), averaged over the risk quartiles it has seen,
plus its altruism times the benefit of an episode of patient-optimal need at its current
style. With spare capacity it takes every payer whose episode is worth at least ``−threshold``
(care that pays its marginal cost) and none of the others; until it has seen an ended episode
of a payer's patients it takes them. When its capacity is short (``supply.capacity``: planned
units above capacity last month) it takes only a share of its new patients — last month's
share divided by its utilisation u (planned units / capacity), at most all; 1/u after a month
of full intake — and cuts the rest from the payer worth least to it first (payers worth the
same alike).
A contract that pays the provider to care for its members (``PaymentModel.cares_for_members``:
capitation, the blend) has bought their care: the provider takes all of them (its choice there
is the contract, not the patient).

A new patient seeking care is accepted by its provider with the provider's share for its payer
(a counter-based draw, the same in every arm); one turned away asks up to ``search`` other
providers of its region (each at random, accepting with its own share) and joins the panel of
the first that accepts; one that finds none goes without care this month (counted in
``episodes_declined`` and ``patients_without_provider``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from sim.engine import draws
from sim.engine.columns import Column
from sim.engine.features.base import Feature
from sim.engine.features.capacity import Capacity
from sim.engine.features.selection import GROUPS, EpisodeValues, Selection, expected_benefit

if TYPE_CHECKING:
    from sim.engine.month.care import SettingMonth
    from sim.engine.world import World
    from sim.scenario import ParticipationConfig

_GOLDEN_FRACTION = 0.6180339887498949


def acceptance_shares(
    value: np.ndarray,
    known: np.ndarray,
    threshold: float,
    new_patients: np.ndarray,
    excess: np.ndarray,
) -> np.ndarray:
    """Each provider's share of each payer's new patients it accepts (providers × payers).

    ``value``: what an episode of the payer's patients is worth to the provider (``known``:
    it has seen one); a payer worth less than ``−threshold`` gets none, the others all; then
    a share ``excess`` of the provider's new patients (``new_patients``, by payer) is cut,
    from the payer worth least first (payers worth the same alike; payers not yet known
    last)."""
    keep = ~(known & (value < -threshold))
    share = keep.astype(np.float64)
    if not np.any(excess > 0):
        return share
    v = np.where(known, value, np.inf)
    n = np.where(keep, new_patients, 0.0)
    cut = excess * n.sum(axis=1)  # new patients to cut, per provider
    lower = v[:, None, :] < v[:, :, None]  # [p, g, h]: h is worth less than g
    equal = v[:, None, :] == v[:, :, None]
    below = np.einsum("pgh,ph->pg", lower, n)
    alike = np.einsum("pgh,ph->pg", equal, n)
    cut_share = np.divide(cut[:, None] - below, alike, out=np.zeros(n.shape), where=alike > 0)
    return share * (1.0 - np.clip(cut_share, 0.0, 1.0))


class Participation(Feature):
    """Per-payer acceptance of new patients, in the settings the supply mechanisms act in."""

    name = "participation"
    COLUMNS: ClassVar[dict[str, Column]] = {
        "new_patients_screened": Column("int64", "episodes", "New episodes taken to their provider, which decided whether to accept them (supply.participation; 0 when off)."),
        "acceptance_rate": Column("float64", "fraction", "Share of new_patients_screened their own provider accepted (0 when none were screened).", ratio=("_accepted", "new_patients_screened")),
        "acceptance_rate_risk_q1": Column("float64", "fraction", "acceptance_rate of members in risk-score quartile 1 (1 = lowest risk).", ratio=("_accepted_q1", "_screened_q1")),
        "acceptance_rate_risk_q2": Column("float64", "fraction", "acceptance_rate of members in risk-score quartile 2.", ratio=("_accepted_q2", "_screened_q2")),
        "acceptance_rate_risk_q3": Column("float64", "fraction", "acceptance_rate of members in risk-score quartile 3.", ratio=("_accepted_q3", "_screened_q3")),
        "acceptance_rate_risk_q4": Column("float64", "fraction", "acceptance_rate of members in risk-score quartile 4 (highest risk).", ratio=("_accepted_q4", "_screened_q4")),
        "patients_redirected": Column("int64", "episodes", "New episodes turned away by the patient's provider and accepted by another provider of the region (the patient joins its panel)."),
        "patients_without_provider": Column("int64", "episodes", "New episodes no provider asked accepted: the patient goes without care (also counted in episodes_declined)."),
    }  # fmt: skip
    SHARDABLE = True

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """On with ``supply.participation.enabled``, in the settings the supply mechanisms
        act in."""
        supply = world.config.supply
        if not supply.participation.enabled:
            return []
        mine = tuple(st.index for st in world.settings if supply.applies(st.name))
        return [cls(world, mine, supply.participation)] if mine else []

    def __init__(self, world: World, settings: tuple[int, ...], cfg: ParticipationConfig) -> None:
        self.settings = settings
        self.cfg = cfg
        g = world.n_payers
        #: per setting: each provider's accepted share of each payer's new patients
        self.accept = {s: np.ones((world.providers[s].n, g)) for s in settings}
        #: per setting: the share of its new patients each provider's capacity lets it take
        self.intake = {s: np.ones(world.providers[s].n) for s in settings}
        #: per setting: this month's new patients seeking care, by provider and payer
        self.asked = {s: np.zeros((world.providers[s].n, g)) for s in settings}
        self.values: EpisodeValues | None = None
        self._own_values = False
        self._world = world
        self.capacity: dict[int, Capacity] = {}
        self._stats: dict[int, dict[str, np.ndarray]] = {}

    def connect(self, features: list[Feature]) -> None:
        """Share what selection learnt episodes are worth (or learn it here); find the
        capacity of each setting."""
        for f in features:
            if isinstance(f, Selection):
                self.values = f.values
            if isinstance(f, Capacity) and f.s in self.settings:
                self.capacity[f.s] = f
        if self.values is None:
            self.values = EpisodeValues(self._world)
            self._own_values = True
        del self._world

    # -----------------------------------------------------------------------------------------
    def start_month(self, world: World) -> None:
        """A new month's counts."""
        g = world.n_payers
        for s in self.settings:
            self.asked[s][:] = 0.0
            self._stats[s] = {
                "screened": np.zeros((g, GROUPS)),
                "accepted": np.zeros((g, GROUPS)),
                "redirected": np.zeros(g),
                "without": np.zeros(g),
            }

    def screen(self, world: World, s: int, patients: np.ndarray, need: np.ndarray) -> np.ndarray:
        """Accept a new patient with its provider's share for its payer; a patient turned
        away asks other providers of its region (see the module docstring)."""
        pop = world.population
        g_n = world.n_payers
        payer = pop.payer[patients].astype(np.int64)
        prov = pop.provider[s][patients].astype(np.int64)
        n_prov = world.providers[s].n
        self.asked[s] += np.bincount(prov * g_n + payer, minlength=n_prov * g_n).reshape(
            n_prov, g_n
        )
        accept = self.accept[s]
        u = pop.uniforms(patients, s, draws.ACCEPT)
        away = u >= accept[prov, payer]
        stats = self._stats[s]
        group = world.risk_group[patients]
        cell = payer * GROUPS + group
        size = g_n * GROUPS
        stats["screened"] += np.bincount(cell, minlength=size).reshape(g_n, GROUPS)
        stats["accepted"] += np.bincount(cell[~away], minlength=size).reshape(g_n, GROUPS)
        moved = self._search(world, s, patients, away, payer)
        away &= ~moved
        stats["redirected"] += np.bincount(payer[moved], minlength=g_n)
        stats["without"] += np.bincount(payer[away], minlength=g_n)
        return away

    def _search(
        self,
        world: World,
        s: int,
        patients: np.ndarray,
        away: np.ndarray,
        payer: np.ndarray,
    ) -> np.ndarray:
        """Patients turned away who found another provider of their region (they move)."""
        pop = world.population
        moved = np.zeros(patients.size, np.bool_)
        if not (away.any() and self.cfg.search):
            return moved
        prov = pop.provider[s]
        accept = self.accept[s]
        looking = np.flatnonzero(away)
        u_other = pop.uniforms(patients[looking], s, draws.OTHER)
        u_yes = pop.uniforms(patients[looking], s, draws.OTHER_ACCEPT)
        region = pop.region[patients[looking]]
        for k in range(self.cfg.search):
            # the k-th try: the patient's uniforms rotated by k golden ratios (a new provider
            # and a new acceptance draw for each try, the same in every arm)
            pick = (u_other + k * _GOLDEN_FRACTION) % 1.0
            yes = (u_yes + k * _GOLDEN_FRACTION) % 1.0
            for r, members in enumerate(world.providers[s].by_region):
                mine = (region == r) & ~moved[looking]
                if not mine.any() or len(members) < 2:
                    continue
                who = patients[looking[mine]]
                current = prov[who].astype(np.int64)
                pos = np.searchsorted(members, current)
                step = 1 + np.floor(pick[mine] * (len(members) - 1)).astype(np.int64)
                other = members[(pos + step) % len(members)]
                ok = yes[mine] < accept[other, payer[looking[mine]]]
                world.move_members(s, who[ok], other[ok])
                moved[looking[np.flatnonzero(mine)[ok]]] = True
        return moved

    def record(self, world: World, s: int, care: SettingMonth, by_payer) -> dict[str, np.ndarray]:
        """Screened and accepted new patients by payer and risk quartile; redirected, without."""
        st = self._stats.get(s)
        g = world.n_payers
        if st is None:
            st = {
                "screened": np.zeros((g, GROUPS)),
                "accepted": np.zeros((g, GROUPS)),
                "redirected": np.zeros(g),
                "without": np.zeros(g),
            }
        screened, accepted = st["screened"], st["accepted"]
        out = {
            "new_patients_screened": screened.sum(axis=1),
            "_accepted": accepted.sum(axis=1),
            "patients_redirected": st["redirected"],
            "patients_without_provider": st["without"],
        }
        for k in range(GROUPS):
            out[f"_accepted_q{k + 1}"] = accepted[:, k]
            out[f"_screened_q{k + 1}"] = screened[:, k]
        return out

    def after_records(self, world: World) -> None:
        """Learn what the month's ended episodes were worth (unless selection does), then set
        next month's accepted shares."""
        assert self.values is not None
        if self._own_values:
            self.values.fold(world)
        for s in self.settings:
            value, known = self.payer_value(world, s)
            cap = self.capacity.get(s)
            if cap is not None:
                # the share of new patients the provider can take: last month's share over
                # its utilisation (planned units / capacity), at most all
                u = cap.utilisation
                ratio = np.divide(self.intake[s], u, out=np.ones(u.shape), where=u > 0)
                self.intake[s] = np.minimum(ratio, 1.0)
            excess = 1.0 - self.intake[s]
            accept = acceptance_shares(value, known, self.cfg.threshold, self.asked[s], excess)
            # a contract that pays the provider to care for its members (capitation, the
            # blend: PaymentModel.cares_for_members) has bought their care: it takes them all
            for g in range(world.n_payers):
                if world.contract(s, g).cares_for_members:
                    accept[:, g] = 1.0
            self.accept[s] = accept

    def payer_value(self, world: World, s: int) -> tuple[np.ndarray, np.ndarray]:
        """What an episode of each payer's patients is worth to each provider (providers ×
        payers), and whether it has seen one: the learnt episode values averaged over the risk
        quartiles by ended episodes, plus altruism × the benefit of an episode of
        patient-optimal need at the provider's style."""
        assert self.values is not None
        count = self.values.count[s]
        seen = self.values.seen[s]
        weight = np.where(seen, count, 0.0)
        total = weight.sum(axis=2)
        profit = np.divide(
            (weight * self.values.mean[s]).sum(axis=2),
            total,
            out=np.zeros(total.shape),
            where=total > 0,
        )
        n_prov = world.providers[s].n
        prov = np.arange(n_prov)
        need = np.full(n_prov, world.settings[s].cfg.optimal_units)
        benefit = expected_benefit(world, s, prov, need, prov)
        return profit + benefit[:, None], total > 0
