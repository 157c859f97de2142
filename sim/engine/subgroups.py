"""Subgroup tables: the month's outcomes by risk-score quantile, condition group, payer,
region, starting function band, or a combination (``[analysis] subgroups``).

Groups are fixed at month 0 (the risk score does not change; the function band is the band of
the patient's function at month 0), so a group's members neither appear nor vanish and the
groups of a dimension partition the population. Every month the records stage calls
:meth:`Subgroups.record`, which sums per-patient arrays into the finest cells the
dimensions share (one ``np.bincount`` per column) and each dimension's groups as sums of
cells: no per-patient Python loop.

Spending is attributed to patients: claims as paid, adverse-event costs the payer bore, and
payments not tied to a claim (capitation, the fixed part of a blended payment,
reconciliations) spread over the provider's members of that payer in proportion to their risk
score, as a risk-adjusted PMPM is. So the groups' spending adds up to the monthly table's
``spending`` to rounding (a test checks this), whatever the payment model.

A dimension ``all`` (one group) is always recorded: the whole population's utility, from which
:mod:`sim.results.economics` computes QALYs per member.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sim.engine.world import World
    from sim.scenario import AnalysisConfig

#: the subgroup table's columns: (dtype, unit, meaning)
SUBGROUP_COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm."),
    "replicate": ("int32", "index", "Replication number."),
    "seed": ("int64", "integer", "Root seed of the run."),
    "month": ("int32", "month", "Month, from 0."),
    "date": ("string", "YYYY-MM-DD", "Calendar month (its first day) of the month."),
    "subgroup": (
        "string",
        "name",
        "Subgroup dimension: risk_quantile, condition, payer, region, function_band, a combination joined by '*', or 'all' (everyone).",
    ),
    "group": (
        "string",
        "label",
        "The group within the dimension (e.g. 'Q4' for the highest risk quantile, 'F<40' for function below 40 at month 0; combinations joined by ' & ').",
    ),
    "members": ("int64", "persons", "Members of the group (fixed from month 0)."),
    "patients_treated": (
        "int64",
        "persons",
        "Members who received service units in any setting this month.",
    ),
    "service_units": ("int64", "units", "Service units, all settings."),
    "spending": (
        "float64",
        "USD",
        "Payer spending on the group's care, all settings: claims paid, adverse-event costs the payer bore, and payments not tied to a claim (capitation, blended fixed parts, reconciliations) allocated to the provider's members of the payer in proportion to their risk score.",
    ),
    "oop": ("float64", "USD", "The group's out-of-pocket cost sharing, all settings."),
    "adverse_events": ("int64", "events", "Adverse events, all settings."),
    "mean_function": (
        "float64",
        "points (0-100)",
        "Mean functional status of the group's members at month end.",
    ),
    "function_change": ("float64", "points", "Mean change in the group's function since month 0."),
    "mean_utility": (
        "float64",
        "utility (0-1)",
        "Mean utility weight of the group's members at month end (analysis.utility_function/utility_values).",
    ),
    "qalys": (
        "float64",
        "QALYs",
        "Quality-adjusted life-years the group lived this month, undiscounted: sum of utility / 12.",
    ),
}


@dataclass(frozen=True)
class Dimension:
    """One subgroup dimension: every patient's group code and the groups' labels."""

    name: str
    code: np.ndarray  # int64, one per patient
    labels: list[str]


def _base_dimensions(world: World, cfg: AnalysisConfig) -> dict[str, tuple[np.ndarray, list]]:
    pop = world.population
    k = cfg.risk_quantiles
    edges = pop.risk_quantile_edges(k)
    risk = np.searchsorted(edges, pop.risk, side="right")
    bands = np.asarray(cfg.function_bands)
    fband = np.searchsorted(bands, pop.function, side="right")
    fmt = [f"{b:g}" for b in bands]
    band_labels = [f"F<{fmt[0]}", *[f"F{a}-{b}" for a, b in itertools.pairwise(fmt)]]
    band_labels.append(f"F>={fmt[-1]}")
    return {
        "risk_quantile": (risk, [f"Q{i + 1}" for i in range(k)]),
        "condition": (pop.condition.astype(np.int64), list(pop.condition_names)),
        "payer": (pop.payer.astype(np.int64), list(pop.payer_names)),
        "region": (pop.region.astype(np.int64), list(pop.region_names)),
        "function_band": (fband, band_labels),
    }


def dimensions(world: World, cfg: AnalysisConfig) -> list[Dimension]:
    """The dimensions the analysis asks for, plus ``all``, from the population at month 0."""
    base = _base_dimensions(world, cfg)
    n = world.population.n
    out = [Dimension("all", np.zeros(n, np.int64), ["all"])]
    for name in cfg.subgroups:
        code = np.zeros(n, np.int64)
        labels = [""]
        for part in name.split("*"):
            c, lab = base[part]
            code = code * len(lab) + c.astype(np.int64)
            labels = [f"{a} & {b}" if a else b for a in labels for b in lab]
        out.append(Dimension(name, code, labels))
    return out


class Subgroups:
    """Records the subgroup rows of a run, month by month."""

    def __init__(self, world: World, cfg: AnalysisConfig) -> None:
        pop = world.population
        self.dims = dimensions(world, cfg)
        self.f0 = pop.function.astype(np.float64)
        self.u_x = np.asarray(cfg.utility_function, float)
        self.u_y = np.asarray(cfg.utility_values, float)
        self.members = [np.bincount(d.code, minlength=len(d.labels)) for d in self.dims]
        # the finest partition the dimensions share: each month sums the patients into these
        # cells once (one pass over the population per column), and each dimension's groups
        # are sums of cells
        sizes = [len(d.labels) for d in self.dims]
        #: a shard's cells are every combination of groups, the same in every shard, so the
        #: shards' sums per cell add up (:mod:`sim.experiments.shards`)
        self.sharded = pop.shard is not None
        if self.sharded:
            if math.prod(sizes) > 2**24:
                raise ValueError(
                    "[analysis] subgroups: too many combinations of groups to shard "
                    f"({math.prod(sizes):,}; at most {2**24:,})"
                )
            strides = [math.prod(sizes[:i]) for i in range(len(sizes))]
            combined = sum(d.code * st for d, st in zip(self.dims, strides, strict=True))
            every = np.arange(math.prod(sizes))
            self.cell_group = [(every // st) % k for st, k in zip(strides, sizes, strict=True)]
            # np.asarray: an array already (sum() is typed as maybe its start, 0)
            inverse = np.asarray(combined)
        elif math.prod(sizes) < 2**62:  # mixed radix: one integer per combination of groups
            strides = [math.prod(sizes[:i]) for i in range(len(sizes))]
            combined = sum(d.code * st for d, st in zip(self.dims, strides, strict=True))
            cells, inverse = np.unique(combined, return_inverse=True)
            self.cell_group = [(cells // st) % k for st, k in zip(strides, sizes, strict=True)]
        else:  # too many combinations for one integer: unique columns of the codes
            table, inverse = np.unique(
                np.stack([d.code for d in self.dims]), axis=1, return_inverse=True
            )
            self.cell_group = list(table)
        self.cell = inverse.reshape(-1)
        self.n_cells = self.cell_group[0].size
        self.rows: list[dict[str, Any]] = []

    def utility(self, function: np.ndarray) -> np.ndarray:
        """Utility weight of each function value (linear between the mapping's points)."""
        return np.interp(function, self.u_x, self.u_y)

    def _spread_orphan(self, world: World, spend, r: np.ndarray, b: slice, orphan: float) -> None:
        """Spread a lump paid to providers without members of the payer (``orphan``) over the
        payer's members (block ``b``, risk scores ``r``) in proportion to risk. A shard spreads
        the whole run's orphan lump over its members by the whole run's risk sum (one exchange
        for every (setting, payer), whatever this shard paid, so every shard asks alike)."""
        if self.sharded:
            run = world.exchange.sums([{"orphan": np.array([orphan, r.sum()])}])[0]["orphan"]
            orphan, total = float(run[0]), float(run[1])
        elif not orphan:
            return
        else:
            total = r.sum()
        if orphan and total > 0:
            spend[b] += orphan * r / total

    def _per_patient(self, world: World) -> dict[str, np.ndarray]:
        pop = world.population
        n = pop.n
        spend = np.zeros(n)
        oop = np.zeros(n)
        units = np.zeros(n)
        adverse = np.zeros(n)
        risk = pop.risk.astype(np.float64)
        for s, care in enumerate(world.month):
            p, paid = care.patients, care.paid
            # a patient has at most one entry per setting: plain fancy-index additions
            spend[p] += paid.revenue - paid.oop + paid.ae_payer
            oop[p] += paid.oop
            units[p] += care.service_units
            adverse[p] += care.adverse
            for g, lump in enumerate(paid.lump_by_payer):
                b = slice(int(pop.payer_start[g]), int(pop.payer_start[g + 1]))
                orphan = 0.0
                if lump.size and lump.any():
                    prov = pop.provider[s][b].astype(np.int64)
                    r = risk[b]
                    rsum = np.bincount(prov, r, minlength=lump.size)
                    share = np.divide(r, rsum[prov], out=np.zeros_like(r), where=rsum[prov] > 0)
                    spend[b] += lump[prov] * share
                    orphan = float(lump[rsum == 0].sum())  # paid to providers without members
                self._spread_orphan(world, spend, risk[b], b, orphan)
        f = pop.function.astype(np.float64)
        return {
            "spending": spend,
            "oop": oop,
            "service_units": units,
            "adverse_events": adverse,
            "patients_treated": (units > 0).astype(np.float64),
            "function": f,
            "change": f - self.f0,
            "utility": self.utility(f),
        }

    def record(self, world: World, date: str) -> None:
        """Append this month's rows (one per dimension and group)."""
        x = self._per_patient(world)
        cells = {c: np.bincount(self.cell, v, minlength=self.n_cells) for c, v in x.items()}
        members_of: list[np.ndarray] = self.members
        if self.sharded:
            # the run's sums per cell, and its members per group, over every shard
            cells["_members"] = np.bincount(self.cell, minlength=self.n_cells).astype(np.float64)
            cells = world.exchange.sums([cells])[0]
            members_of = [
                np.bincount(group, cells["_members"], minlength=len(d.labels))
                for d, group in zip(self.dims, self.cell_group, strict=True)
            ]
        for d, members, group in zip(self.dims, members_of, self.cell_group, strict=True):
            k = len(d.labels)
            sums = {c: np.bincount(group, v, minlength=k) for c, v in cells.items()}
            for j, label in enumerate(d.labels):
                m = int(members[j])
                if m == 0:
                    continue
                self.rows.append(
                    {
                        "month": world.month_number,
                        "date": date,
                        "subgroup": d.name,
                        "group": label,
                        "members": m,
                        "patients_treated": round(sums["patients_treated"][j]),
                        "service_units": round(sums["service_units"][j]),
                        "spending": float(sums["spending"][j]),
                        "oop": float(sums["oop"][j]),
                        "adverse_events": round(sums["adverse_events"][j]),
                        "mean_function": float(sums["function"][j] / m),
                        "function_change": float(sums["change"][j] / m),
                        "mean_utility": float(sums["utility"][j] / m),
                        "qalys": float(sums["utility"][j] / 12.0),
                    }
                )
