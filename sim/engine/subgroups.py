"""Subgroup tables: the month's outcomes by risk-score quantile, condition group, payer,
region, starting function band, or a combination (``[analysis] subgroups``).

Groups are fixed at month 0 (the risk score does not change; the function band is the band of
the patient's function at month 0), so a group's members neither appear nor vanish and the
groups of a dimension partition the population. Every month the records stage calls
:meth:`Subgroups.record`, which sums the month into the finest cells the dimensions share and
each dimension's groups as sums of cells: no per-patient Python loop. The sums per cell are
those of per-patient arrays over everyone summed with ``np.bincount``, bit for bit, taken from the patients in episode for the month's care and from one pass over everyone
for function and utility (``world.kernels.care_cell_sums`` and ``cell_sums``); only payments
not tied to a claim, spread over a payer's members, build every member's spending.

Spending is attributed to patients: claims as paid, adverse-event costs the payer bore, and
payments not tied to a claim (capitation, the fixed part of a blended payment,
reconciliations) spread over the provider's members of that payer in proportion to their risk
score, as a risk-adjusted PMPM is. So the groups' spending adds up to the monthly table's
``spending`` to rounding (a test checks this), whatever the payment model.

A dimension ``all`` (one group) is always recorded: the whole population's utility, from which
:mod:`sim.results.economics` computes QALYs per member.

With a life course (``[life]``) a group counts its members of the month (``members``: who has
entered and not died before the month), its utility is theirs, payments not tied to a claim
are spread over members only, and the rows add the month's ``entries`` and ``deaths``
(:func:`subgroup_columns`); the dimensions ``age_band`` (age at month 0, or 65 for a new
beneficiary) and ``sex`` are available.
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

#: the subgroup table's columns with a life course ([life]): members of the month, entries
#: and deaths
LIFE_SUBGROUP_COLUMNS: dict[str, tuple[str, str, str]] = {
    "entries": ("int64", "persons", "New beneficiaries of the group who entered this month."),
    "deaths": ("int64", "persons", "Members of the group who died this month (after its care)."),
    "life_years": (
        "float64",
        "years",
        "Years the group's members lived this month (members / 12).",
    ),
}


def subgroup_columns(life: bool) -> dict[str, tuple[str, str, str]]:
    """The subgroup table's columns: with a life course, ``members`` counts the month's members
    and the life columns follow."""
    if not life:
        return SUBGROUP_COLUMNS
    out = dict(SUBGROUP_COLUMNS)
    out["members"] = (
        "int64",
        "persons",
        "Members of the group this month (entered and not dead before it; groups fixed at "
        "month 0 or at entry).",
    )
    return {**out, **LIFE_SUBGROUP_COLUMNS}


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
    out = {
        "risk_quantile": (risk, [f"Q{i + 1}" for i in range(k)]),
        "condition": (pop.condition.astype(np.int64), list(pop.condition_names)),
        "payer": (pop.payer.astype(np.int64), list(pop.payer_names)),
        "region": (pop.region.astype(np.int64), list(pop.region_names)),
        "function_band": (fband, band_labels),
    }
    life = world.life
    if life is not None:
        age_edges = [int(e) if float(e).is_integer() else e for e in cfg.age_bands]
        age = np.searchsorted(np.asarray(cfg.age_bands), life.age_at_start(), side="right")
        # whole-year edges: 65-74, 75-84, 85+ (an edge is the first age of its band)
        labels = [
            f"{a}-{b - 1}" if isinstance(b, int) else f"{a}-{b}"
            for a, b in itertools.pairwise([65, *age_edges])
        ]
        out["age_band"] = (age, [*labels, f"{age_edges[-1]}+"])
        out["sex"] = (life.female.astype(np.int64), ["male", "female"])
    return out


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
        #: the life course (None without one: every patient a member all the run)
        self.life = world.life
        #: the table's columns (:func:`subgroup_columns`)
        self.columns = subgroup_columns(self.life is not None)
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
        # the month's passes read the cells and the function at month 0 in the smallest dtypes
        # that hold them exactly (the float32 function, as stored), half the bytes per patient
        self._cell = self.cell.astype(np.min_scalar_type(max(self.n_cells - 1, 0)))
        self._f0 = pop.function.copy()
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

    def _spending(self, world: World) -> np.ndarray:
        """Every patient's spending this month, with the lumps not tied to a claim (capitation,
        blended fixed parts, reconciliations) spread over the members by risk: what
        :meth:`_cells` cannot sum from the patients in care alone."""
        pop = world.population
        n = pop.n
        spend = np.zeros(n)
        risk = pop.risk.astype(np.float64)
        life = self.life
        if life is not None:
            # lumps are spread over this month's members only
            risk = np.where(life.enrolled, risk, 0.0)
        for s, care in enumerate(world.month):
            p, paid = care.patients, care.paid
            # a patient has at most one entry per setting: plain fancy-index additions
            spend[p] += paid.revenue - paid.oop + paid.ae_payer
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
        return spend

    def _cells(self, world: World) -> dict[str, np.ndarray]:
        """This month's sums per cell: the same bits as per-patient arrays of the month summed
        with ``np.bincount``, from the patients in episode (their care) and one pass over
        everyone (function and utility), without a per-patient array of the month."""
        k = world.kernels
        month = world.month
        care = k.care_cell_sums(
            self._cell,
            tuple(c.patients for c in month),
            tuple(c.paid.revenue - c.paid.oop + c.paid.ae_payer for c in month),
            tuple(c.paid.oop for c in month),
            tuple(c.service_units for c in month),
            tuple(c.adverse for c in month),
            self.n_cells,
        )
        life = self.life
        if life is None:
            everyone = k.cell_sums(
                self._cell, world.population.function, self._f0, self.u_x, self.u_y, self.n_cells
            )
        else:
            # this month's members, their change since they entered
            everyone = k.cell_sums(
                self._cell,
                world.population.function,
                life.f_entry,
                self.u_x,
                self.u_y,
                self.n_cells,
                life.enrolled,
            )
        cells = dict(
            zip(("spending", "oop", "service_units", "adverse_events"), care[:4], strict=True)
        )
        cells["patients_treated"] = care[4]
        cells.update(zip(("function", "change", "utility"), everyone[:3], strict=True))
        if life is not None:
            # the month's members (they weigh function and utility)
            cells["_members"] = everyone[3]
        return cells

    def _lumps(self, world: World) -> bool:
        """Whether this month's spending has payments not tied to a claim to spread over the
        members (capitation, blended fixed parts, reconciliations), or a sharded run's orphan
        lumps to exchange: then every member's spending is built (:meth:`_spending`)."""
        return self.sharded or any(
            lump.size and lump.any() for c in world.month for lump in c.paid.lump_by_payer
        )

    def record(self, world: World, date: str) -> None:
        """Append this month's rows (one per dimension and group)."""
        cells = self._cells(world)
        if self._lumps(world):
            spend = self._spending(world)
            cells["spending"] = np.bincount(self.cell, spend, minlength=self.n_cells)
        if self.life is not None:
            # the month's entries and deaths per cell (its members come from _cells): counts,
            # whole numbers in float64 as a bincount of 0s and 1s gives them
            course = self.life
            n = self.n_cells
            entered = np.flatnonzero(course.entry_month == world.month_number)
            cells["entries"] = np.bincount(self.cell[entered], minlength=n).astype(np.float64)
            cells["deaths"] = np.bincount(self.cell[course.dying], minlength=n).astype(np.float64)
        members_of: list[np.ndarray] = self.members
        if self.life is not None and not self.sharded:
            # the month's members of each group
            members_of = [
                np.bincount(group, cells["_members"], minlength=len(d.labels))
                for d, group in zip(self.dims, self.cell_group, strict=True)
            ]
        if self.sharded:
            # the run's sums per cell, and its members per group, over every shard
            if self.life is None:
                cells["_members"] = np.bincount(self.cell, minlength=self.n_cells).astype(
                    np.float64
                )
            cells = world.exchange.sums([cells])[0]
            members_of = [
                np.bincount(group, cells["_members"], minlength=len(d.labels))
                for d, group in zip(self.dims, self.cell_group, strict=True)
            ]
        for d, members, group in zip(self.dims, members_of, self.cell_group, strict=True):
            k = len(d.labels)
            # as Python numbers, once per dimension (the rows read a dozen per group)
            sums = {c: np.bincount(group, v, minlength=k).tolist() for c, v in cells.items()}
            for j, (label, count) in enumerate(zip(d.labels, members.tolist(), strict=True)):
                m = int(count)
                if m == 0:
                    continue
                life = {}
                if self.life is not None:
                    life = {
                        "entries": round(sums["entries"][j]),
                        "deaths": round(sums["deaths"][j]),
                        "life_years": m / 12.0,
                    }
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
                        **life,
                    }
                )
