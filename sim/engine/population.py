"""Patients: columnar state and vectorized monthly randomness.

Patient state is held as numpy arrays, one entry per patient (a million patients take tens of
megabytes), and every monthly behaviour is a vectorized operation on them. ``Population.view(i)``
returns one patient as an ordinary object for tests, inspection and docs.

Randomness: the population owns two streams, both spawned from the run's seed. ``init`` draws
the patients' characteristics. ``monthly`` gives (a) one uniform per patient per setting per
month for the start of a need, drawn for everyone whatever happens, and (b) counter-based
uniforms for the rest (episode length and care seeking, adverse events, rounding, the
features' draws): a hash of (stream key, month, setting, purpose, patient), computed only for
the patients who need one; every such draw is registered in :mod:`sim.engine.draws`.
Either way a patient's random number for a given month and purpose does not depend on what
happened to anyone else, so every arm of a scenario sees the same patients and the same random
numbers (common random numbers), even though the care they receive differs.

Patients are stored grouped by payer (payer 0 first), so a payer's patients are one contiguous
block of every array, and of every sorted subset of patients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.engine.draws import Draw
from sim.engine.kernels import NUMPY as NUMPY_KERNELS
from sim.engine.kernels import Kernels
from sim.engine.lifetable import allocated_patients
from sim.scenario import Scenario


def _smallest_int(n: int) -> type[np.signedinteger]:
    for dt in (np.int8, np.int16, np.int32):
        if n <= np.iinfo(dt).max:
            return dt
    return np.int64


#: patients per piece when a shard draws the whole population's random numbers
_CHUNK = 1 << 22


class _Draws:
    """Per-patient draws of the initial characteristics: for the whole population at once, or
    (a shard) in pieces of :data:`_CHUNK` from the same stream, keeping the shard's patients
    (``keep``: their numbers, ascending), so a shard's patients are drawn exactly as in the
    whole population while the full-size float64 arrays never exist. Uniforms, normals and
    lognormals are the same drawn in pieces."""

    def __init__(self, rng: np.random.Generator, n: int, pieces: bool) -> None:
        self.rng, self.n, self.pieces = rng, n, pieces
        self.keep: np.ndarray | None = None

    def __call__(
        self,
        convert: Callable[[np.ndarray], np.ndarray] | None = None,
        *,
        sampler: Callable[[int], np.ndarray] | None = None,
        keep_all: bool = False,
    ) -> np.ndarray:
        sampler = sampler or self.rng.random
        convert = convert or (lambda x: x)
        if not self.pieces:
            return convert(sampler(self.n))
        parts = []
        for a in range(0, self.n, _CHUNK):
            b = min(a + _CHUNK, self.n)
            y = convert(sampler(b - a))
            if self.keep is not None and not keep_all:
                lo, hi = np.searchsorted(self.keep, (a, b))
                y = y[self.keep[lo:hi] - a]
            parts.append(y)
        return np.concatenate(parts)


@dataclass(frozen=True)
class Shard:
    """One shard of a sharded run (:mod:`sim.experiments.shards`): shard ``index`` of ``count``,
    holding the patients of ``regions`` (region numbers) and those regions' providers.
    ``providers[setting]`` gives, for each of the setting's providers (in the numbering of the
    whole run), its number in the shard, or −1 when another shard holds it."""

    index: int
    count: int
    regions: frozenset[int]
    providers: dict[str, np.ndarray]


@dataclass(frozen=True)
class PatientView:
    """One patient, read from the columnar state (a copy: changing it changes nothing)."""

    index: int
    payer: str
    region: str
    condition: str
    risk_score: float
    function: float
    deductible_remaining: float
    oop_year_to_date: float
    episodes: dict[str, dict[str, float | int | bool]]


class Population:
    """All patients of one run.

    Attributes (arrays of length ``n``): ``payer``, ``region``, ``condition`` (small ints
    indexing the scenario's tables), ``risk`` (risk score, mean 1), ``decline`` (function lost
    per month), ``function`` (0-100), ``deductible_remaining`` and ``oop_year_to_date`` (USD,
    within the calendar year), and per care setting ``s``: ``provider[s]``,
    ``episode_left[s]`` (months left in the current episode, 0 = none), ``sought[s]`` (the
    patient sought care for it), ``optimal_units[s]`` (the episode's patient-optimal units per
    month, q_B), ``episode_month[s]`` (months of the episode so far), ``period_units[s]`` and
    ``period_value[s]`` (service units, and their fee-schedule value at rate level 1, so far in
    the current payment period), ``episode_units[s]`` (service units so far in the episode: a
    stay's length of stay when the unit is a day).
    """

    def __init__(
        self,
        scenario: Scenario,
        init_rng: np.random.Generator,
        monthly: np.random.SeedSequence,
        providers_by_region: dict[str, list[np.ndarray]],
        shard: Shard | None = None,
    ) -> None:
        pop = scenario.population
        # with a life course, the places of every beneficiary entering during the run too
        n = allocated_patients(scenario)
        self.scenario = scenario
        self.payer_names = tuple(scenario.payers)
        self.region_names = tuple(pop.regions)
        self.condition_names = tuple(pop.conditions)
        self.setting_names = tuple(scenario.settings)
        rng = init_rng
        #: the shard of the population this object holds (None: all of it)
        self.shard = shard
        draw = _Draws(rng, n, shard is not None)

        def categorical(shares: list[float]) -> np.ndarray:
            cdf = np.cumsum(shares)
            cdf[-1] = 1.0
            return draw(lambda u: np.searchsorted(cdf, u, side="right").astype(np.int8))

        # payers in contiguous blocks: a multinomial count per payer
        counts = rng.multinomial(n, [p.share for p in scenario.payers.values()])
        #: members of each payer in the whole population (all shards)
        self.payer_counts = counts
        payer = np.repeat(np.arange(len(counts), dtype=np.int8), counts)
        region = categorical([r.share for r in pop.regions.values()])
        if shard is None:
            keep = None
            self.payer, self.region = payer, region
            self._gid: np.ndarray | None = None
        else:
            # the shard's patients: those of its regions, in the order of the whole population
            # (so each payer's patients are still one block); everything is drawn as for the
            # whole population, and the shard keeps its own patients' draws
            keep = np.isin(region, np.asarray(sorted(shard.regions), np.int8))
            self._gid = np.flatnonzero(keep)
            draw.keep = self._gid
            self.payer, self.region = payer[keep], region[keep]
            del payer
        n_local = self.region.size
        self.n = n_local
        #: patients in the whole population (all shards)
        self.n_total = n
        self.payer_start = np.searchsorted(
            self.payer, np.arange(len(counts) + 1, dtype=np.int8)
        ).astype(np.int64)
        self.condition = categorical([c.share for c in pop.conditions.values()])
        # lognormal with E = 1: mu = -sigma^2/2 (CMS-HCC scores are normalised to mean 1.0)
        sigma = pop.risk_sigma
        risk_all = draw(
            keep_all=True,
            sampler=lambda m: rng.lognormal(-0.5 * sigma * sigma, sigma, m).astype(np.float32),
        )
        #: risk-score quantile edges of the whole population at the start (float32 scores):
        #: quartiles (outputs by risk group), and the subgroup tables' quantiles
        ks = {4} | ({scenario.analysis.risk_quantiles} if scenario.analysis else set())
        self._quantile_edges = {k: np.quantile(risk_all, np.arange(1, k) / k) for k in ks}
        self.risk = risk_all if keep is None else risk_all[keep]
        del risk_all
        self.function = draw(
            lambda f0: np.clip(f0, 0.0, 100.0).astype(np.float32),
            sampler=lambda m: rng.normal(pop.function_mean, pop.function_sd, m),
        )
        self.decline = (pop.function_decline * self.risk**pop.risk_decline_elasticity).astype(
            np.float32
        )
        self.deductible = np.array([p.deductible for p in scenario.payers.values()], np.float32)
        self.deductible_remaining = self.deductible[self.payer]
        self.other_care = np.array(
            [p.other_care_per_month for p in scenario.payers.values()], np.float32
        )
        self.oop_year_to_date = np.zeros(n_local, np.float32)

        self.provider: list[np.ndarray] = []
        self.episode_left: list[np.ndarray] = []
        self.sought: list[np.ndarray] = []
        self.optimal_units: list[np.ndarray] = []
        self.episode_month: list[np.ndarray] = []
        self.period_units: list[np.ndarray] = []
        self.period_value: list[np.ndarray] = []
        self.episode_units: list[np.ndarray] = []
        for name in self.setting_names:
            by_region = providers_by_region[name]
            n_prov = sum(len(r) for r in by_region)
            prov = np.empty(n_local, _smallest_int(n_prov))
            for r, members in enumerate(by_region):
                # drawn for every region, in one call per region (bounded integers are not
                # the same drawn in pieces); a shard keeps its regions' draws
                idx = np.flatnonzero(region == r)
                chosen = rng.integers(0, len(members), idx.size)
                if shard is None:
                    prov[idx] = members[chosen]
                elif r in shard.regions:
                    assert self._gid is not None  # set above for a shard
                    prov[np.searchsorted(self._gid, idx)] = shard.providers[name][members[chosen]]
            self.provider.append(prov)
            self.episode_left.append(np.zeros(n_local, np.int16))
            self.sought.append(np.zeros(n_local, np.bool_))
            self.optimal_units.append(np.zeros(n_local, np.float32))
            self.episode_month.append(np.zeros(n_local, np.int16))
            self.period_units.append(np.zeros(n_local, np.int16))
            self.period_value.append(np.zeros(n_local, np.float32))
            self.episode_units.append(np.zeros(n_local, np.int16))
        del region

        need_seq, key_seq = monthly.spawn(2)
        self._monthly = np.random.default_rng(need_seq)
        self._key = int(key_seq.generate_state(1, np.uint64)[0])
        self._draws = np.empty((len(self.setting_names), n_local), np.float32)
        if shard is not None:
            self._chunk = np.empty(min(_CHUNK, n), np.float32)
        self.month = -1
        #: the fused passes (the world sets its own; the numpy twins until then)
        self.kernels: Kernels = NUMPY_KERNELS
        #: calendar month (0 = January) of simulation month 0
        self.calendar_offset = scenario.start.month - 1

    # -----------------------------------------------------------------------------------------
    def start_month(self, month: int) -> None:
        """Advance the calendar: reset deductibles and year-to-date out-of-pocket each calendar
        January (and at the start), apply chronic decline and draw this month's uniforms (the
        same number every month, whatever happens)."""
        self.month = month
        if month == 0 or (self.calendar_offset + month) % 12 == 0:
            np.take(self.deductible, self.payer, out=self.deductible_remaining)
            self.oop_year_to_date.fill(0.0)
        # care outside the modelled settings draws the deductible down first; chronic decline
        self.kernels.calendar(
            self.function, self.decline, self.deductible_remaining, self.payer_start,
            self.other_care,
        )  # fmt: skip
        if self.shard is None:
            self._monthly.random(out=self._draws.reshape(-1), dtype=np.float32)
        else:
            self._draw_shard()

    def _draw_shard(self) -> None:
        """A shard's need uniforms: the whole population's, drawn in pieces from the same stream
        (float32 uniforms are the same drawn in pieces), keeping the shard's patients'."""
        gid, chunk, n = self._gid, self._chunk, self.n_total
        assert gid is not None  # a shard's
        for s in range(len(self.setting_names)):
            out = self._draws[s]
            for a in range(0, n, chunk.size):
                b = min(a + chunk.size, n)
                piece = chunk[: b - a]
                self._monthly.random(out=piece, dtype=np.float32)
                lo, hi = np.searchsorted(gid, (a, b))
                np.take(piece, gid[lo:hi] - a, out=out[lo:hi])

    def draws_of(self, rng: np.random.Generator) -> _Draws:
        """Per-patient draws from another stream, as the characteristics are drawn: for the
        whole population, or in a shard in pieces keeping the shard's patients (the life
        course draws ages and entries this way)."""
        draw = _Draws(rng, self.n_total, self.shard is not None)
        draw.keep = self._gid
        return draw

    def risk_quantile_edges(self, k: int) -> np.ndarray:
        """Edges of ``k`` risk-score quantiles of the whole population (all shards): the
        quartiles, and the subgroup tables' quantiles, drawn at the start."""
        return self._quantile_edges[k]

    def global_index(self, patients: np.ndarray) -> np.ndarray:
        """Patients' numbers in the whole population (counter-based draws and the providers'
        experiments are keyed by them, so they do not depend on the sharding)."""
        return patients if self._gid is None else self._gid[patients]

    def need_draws(self, setting: int) -> np.ndarray:
        """This month's need uniforms for one setting, one per patient (float32)."""
        return self._draws[setting]

    def uniforms(self, patients: np.ndarray, setting: int, draw: Draw) -> np.ndarray:
        """Counter-based uniforms on [0, 1) for (this month, setting, draw, patient), the draw
        one of :mod:`sim.engine.draws`.

        The same patient, month, setting and draw always get the same number, whoever else
        is drawn; float64 with 53 random bits."""
        base = self.uniform_base(setting, draw)
        return self.kernels.uniforms(self.global_index(patients), base)

    def uniform_base(self, setting: int, draw: Draw) -> np.uint64:
        """The counter of this month's uniforms for (setting, draw): what :meth:`uniforms`
        mixes with each patient's number."""
        return np.uint64(draw.base(self._key, self.month, setting))

    def payer_slices(self, sorted_patients: np.ndarray) -> list[slice]:
        """For an ascending array of patient numbers, the slice holding each payer's patients."""
        bounds = np.searchsorted(sorted_patients, self.payer_start)
        return [slice(int(bounds[g]), int(bounds[g + 1])) for g in range(len(bounds) - 1)]

    def function_sum_by_payer(self) -> np.ndarray:
        """Sum of functional status over each payer's members (float64)."""
        f, b = self.function, self.payer_start
        return np.array([f[b[g] : b[g + 1]].sum(dtype=np.float64) for g in range(len(b) - 1)])

    def members_by(self, key: np.ndarray, size: int) -> np.ndarray:
        """Members per key (a bincount as float64), for panels."""
        return np.bincount(key, minlength=size).astype(np.float64)

    @property
    def nbytes(self) -> int:
        """Bytes held per run by the patient arrays (state and monthly draws)."""
        arrays = [
            self.payer,
            self.region,
            self.condition,
            self.risk,
            self.function,
            self.decline,
            self.deductible_remaining,
            self.oop_year_to_date,
            self._draws,
            *self.provider,
            *self.episode_left,
            *self.sought,
            *self.optimal_units,
            *self.episode_month,
            *self.period_units,
            *self.period_value,
            *self.episode_units,
        ]
        return sum(a.nbytes for a in arrays)

    def view(self, i: int) -> PatientView:
        """One patient as an object."""
        if not 0 <= i < self.n:
            raise IndexError(f"patient {i} out of range 0..{self.n - 1}")
        return PatientView(
            index=i,
            payer=self.payer_names[self.payer[i]],
            region=self.region_names[self.region[i]],
            condition=self.condition_names[self.condition[i]],
            risk_score=float(self.risk[i]),
            function=float(self.function[i]),
            deductible_remaining=float(self.deductible_remaining[i]),
            oop_year_to_date=float(self.oop_year_to_date[i]),
            episodes={
                name: {
                    "provider": int(self.provider[s][i]),
                    "months_left": int(self.episode_left[s][i]),
                    "sought_care": bool(self.sought[s][i]),
                    "optimal_units": float(self.optimal_units[s][i]),
                }
                for s, name in enumerate(self.setting_names)
            },
        )
