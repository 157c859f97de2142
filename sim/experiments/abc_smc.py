"""Joint Bayesian calibration by ABC-SMC (``method = "abc_smc"``), with pyabc.

Sequential Monte Carlo approximate Bayesian computation (Toni et al. 2009; Beaumont et al.
2009; pyabc: Klinger, Rickert & Hasenauer 2018, Bioinformatics 34:3591; Schälte et al. 2022,
JOSS 7:4304) turns the calibration file's priors into a posterior sample: generation 0 draws
``population`` particles from the prior; each later generation perturbs particles of the last
(a kernel fitted to them, below) and keeps those whose distance to the targets is below an
epsilon that shrinks generation by generation (the median of the last distances), with
importance weights prior / proposal; every parameter is sampled on the logit of its place in
its own prior (:func:`prior`), so the kernel never meets a bound. The distance is the targets'
standardized one, ``sqrt(Σ_k w_k ((m_k − v_k)/u_k)²)``, each model figure ``m_k`` the mean
over ``seeds`` replicates run with the same random numbers for every particle (common random
numbers).

The proposal (``smc.kernel``, :func:`transition`). Any proposal density that is positive
wherever the prior is gives a valid importance sample, so the kernel decides only how much the
weighted particles are worth. The default, ``"product"``, perturbs each parameter on its own: a
parameter's proposal is a particle drawn by weight, independently of the other parameters',
plus a Student-t step of :data:`KERNEL_DF` degrees of freedom scaled as pyabc scales its normal
kernel (the particles' weighted variance times Silverman's bandwidth factor squared); its
density is the product over parameters of these one-dimensional kernel density estimates
(pyabc's ``AggregatedTransition`` of :func:`student_t_transition`). pyabc's default
(``"multivariate"``), one multivariate normal estimate over all the parameters, left the
world's final generation of 200 particles in 14 dimensions worth 6 (Kish's effective sample
size 200, 18, 8, 6 by generation), for two reasons:

- a few hundred particles in 14 dimensions are isolated points for the kernel: for most
  proposals a single parent carries the whole proposal density, so its log is that of the
  kernel the proposal was drawn from, which varies as −χ²₁₄/2 (variance 7), and so does the log
  weight; in the world's history the gap between the joint estimate and the product of its
  own marginals made 7.3–8.4 of the 11–14 variance of the log weights, the prior's shape
  against the marginals 1.0–3.4. A one-dimensional estimate from the same particles has no
  such gaps;
- a normal kernel's tails are lighter than the logistic prior's, so prior / proposal grows
  without bound beyond the particles and the weights have infinite variance; a t kernel's
  polynomial tails bound it (with normal kernels, one proposal far out in a parameter no
  target sees took a third of a toy generation's weight).

The product kernel does not follow correlations between parameters when it proposes (the
acceptance and the weights still give the posterior its correlations), so along a ridge more
proposals are rejected. docs/calibration.md gives the measurements;
tests/experiments/test_abc_proposal.py checks the kernel against a toy posterior known in
closed form.

pyabc decides; the simulations run on the sweep executors (process pool, Dask, serial), as the
other calibration methods' do (:func:`sim.experiments.measures.execute`, one part file per
(particle, target scenario, replicate)). The sampler (:class:`ExecutorSampler`) makes this
deterministic and resumable:

- each generation ``t`` seeds numpy's global generator (pyabc's) from
  ``SeedSequence(sampler_seed, spawn_key=(t + 1,))``;
- a batch of proposals is made by replaying pyabc's simulate function against a model that
  only records the parameters it is asked for (pass 1), the batch's simulations run in
  parallel, and the same proposals are made again from the same generator state against a
  model that reads their results (pass 2), accepted in proposal order until the population is
  full — so neither the number of workers nor the order in which runs finish changes anything;
- generations are stored in pyabc's history (``abc.db``, SQLite), part files by particle: a
  calibration killed at any moment (``kill -9``) resumes at its last complete generation with
  the same draws, and runs already done are not run again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.errors import ResultsError

if TYPE_CHECKING:
    from sim.experiments.calibrate import Calibration, SmcConfig
    from sim.experiments.priors import FreeParameter

DB = "abc.db"
#: the spawn key of the prior-only parameters' draws in posterior.parquet (with the generation)
PRIOR_KEY = 2**32 + 3
#: part files of ABC-SMC simulations: generation, particle (proposal number), group, replicate
PART = "s{t:03d}-p{i:06d}-g{g:03d}-r{r:04d}.json"


def prior(p: FreeParameter) -> Any:
    """A free parameter's prior as pyabc samples it: the standard logistic distribution of
    ``z = logit(u)``, ``u`` the parameter's place in its own prior (its probability integral),
    whatever that prior is. The parameter is ``p.value(expit(z))`` (:func:`natural`), which has
    exactly the prior the file declares; pyabc's perturbation kernel then works on an unbounded
    scale, so proposals near a bound of the range are neither cut off nor, through the
    importance weights, given a weight many times their share (the degeneracy of a bounded prior
    in many dimensions: a particle near k bounds of a uniform box has about 2^k times the
    weight of one inside)."""
    import pyabc

    del p  # every parameter is sampled on the same scale
    return pyabc.RV("logistic", 0.0, 1.0)


def transition(smc: SmcConfig, names: list[str]) -> Any:
    """The kernel that perturbs a generation's particles into the next one's proposals, on
    pyabc's scale (:func:`prior`), fitted by pyabc to the last generation's weighted particles
    (why this one: the module docstring). ``smc.kernel = "product"``: every parameter perturbed
    on its own, pyabc's ``AggregatedTransition`` of one :func:`student_t_transition` per
    parameter, so the proposal density is the product of one-dimensional kernel density
    estimates with Student-t kernels of :data:`KERNEL_DF` degrees of freedom;
    ``"multivariate"``: one ``MultivariateNormalTransition`` over all of ``names`` (pyabc's
    default, which every calibration used before this option)."""
    import pyabc

    if smc.kernel == "multivariate":
        return pyabc.MultivariateNormalTransition()
    kind = student_t_transition()
    return pyabc.AggregatedTransition({n: kind() for n in names})


#: degrees of freedom of the product kernel's Student-t kernels (:func:`transition`)
KERNEL_DF = 5


@cache
def student_t_transition() -> type:
    """pyabc's ``MultivariateNormalTransition`` with Student-t kernels (the class, made once:
    pyabc is imported only when a calibration uses it). It is fitted as pyabc fits its own
    (the particles' weighted covariance times Silverman's bandwidth factor squared, from their
    effective sample size), and that matrix is the scale of a t kernel of ``df`` degrees of
    freedom around each particle: a proposal is a particle drawn by weight plus a t step
    (a normal step over sqrt(chi2(df)/df), drawn in that order from numpy's global generator),
    its density the weighted sum of the kernels. The kernel's polynomial tails are heavier
    than the logistic prior's exponential ones, so the importance weight prior / proposal is
    bounded in the tails; under a Gaussian kernel it is not, and its variance is infinite."""
    import pyabc
    from pyabc.transition import silverman_rule_of_thumb as silverman
    from scipy import stats

    class StudentTTransition(pyabc.MultivariateNormalTransition):
        """A kernel density estimate with multivariate Student-t kernels (see the factory)."""

        def __init__(self, df: int = KERNEL_DF, scaling: float = 1.0,
                     bandwidth_selector: Any = silverman):  # fmt: skip
            super().__init__(scaling=scaling, bandwidth_selector=bandwidth_selector)
            self.df = df
            self.kernel: Any = None

        def fit(self, X: pd.DataFrame, w: np.ndarray) -> None:
            super().fit(X, w)
            self.kernel = stats.multivariate_t(shape=self.cov, df=self.df, allow_singular=True)

        def _steps(self, size: int) -> np.ndarray:
            normal = np.random.multivariate_normal(  # noqa: NPY002
                np.zeros(self.cov.shape[0]), self.cov, size=size
            )
            chi2 = np.random.chisquare(self.df, size=size)  # noqa: NPY002
            return normal / np.sqrt(chi2 / self.df)[:, None]

        def rvs(self, size: int | None = None) -> Any:
            if size is None:
                return self.rvs_single()
            rows = np.random.choice(  # noqa: NPY002
                self._range, size=size, p=self.w, replace=True
            )
            return self.X.iloc[rows] + self._steps(size)

        def rvs_single(self) -> Any:
            row = np.random.choice(self._range, p=self.w, replace=True)  # noqa: NPY002
            return pyabc.Parameter(self.X.iloc[row] + self._steps(1)[0])

        def _pdf_single(self, x: np.ndarray) -> float:
            return float((np.atleast_1d(self.kernel.pdf(x - self._X_arr)) * self.w).sum())

    return StudentTTransition


def simulated(cal: Calibration) -> list[FreeParameter]:
    """The parameters pyabc samples: all but the prior-only ones (whose posterior is their
    prior: :func:`posterior_table` draws them)."""
    return [p for p in cal.config.parameters if not p.prior_only]


def natural(p: FreeParameter, z: float) -> float:
    """The value of parameter ``p`` at ``z`` on pyabc's scale (:func:`prior`)."""
    from scipy.special import expit

    return p.value(float(expit(z)))


def natural_prior(p: FreeParameter) -> Any:
    """A free parameter's prior on its natural scale, as a pyabc random variable (its spread
    is what the identification table compares the posterior's with)."""
    import pyabc

    lo, hi = p.low, p.high
    if p.prior == "uniform":
        return pyabc.RV("uniform", lo, hi - lo)
    if p.prior == "loguniform":
        return pyabc.RV("loguniform", lo, hi)
    if p.prior == "normal":
        sd = float(p.sd or 1.0)
        mu = float(p.mean or 0.0)
        return pyabc.RV("truncnorm", (lo - mu) / sd, (hi - mu) / sd, loc=mu, scale=sd)
    return pyabc.RV("beta", p.a, p.b, loc=lo, scale=hi - lo)


def distance(cal: Calibration) -> Callable[[dict, dict], float]:
    """The standardized distance between a particle's figures and the targets."""
    targets = [(t.id, t.value, t.uncertainty, t.weight) for t in cal.config.targets]

    def d(x: dict[str, float], x0: dict[str, float]) -> float:
        total = 0.0
        for tid, _value, u, w in targets:
            m = float(x.get(tid, math.nan))
            if not math.isfinite(m):
                return math.inf
            z = (m - float(x0[tid])) / u
            total += w * z * z
        return math.sqrt(total)

    return d


@dataclass
class Simulations:
    """The runs of the particles proposed so far: what pass 2 reads, by parameter values."""

    cal: Calibration
    folder: Path
    pool: Any
    progress: Callable[[int], None] | None = None
    #: figures by the particle's parameter values (a tuple in the parameters' order)
    figures: dict[tuple[float, ...], dict[str, float]] = field(default_factory=dict)
    runs: int = 0

    def key(self, pars: dict[str, float]) -> tuple[float, ...]:
        """A particle's simulated parameters in the calibration's order (the runs' index)."""
        return tuple(float(pars[p.name]) for p in simulated(self.cal))

    def values(self, pars: dict[str, float]) -> dict[str, float]:
        """Parameter values as the scenario takes them, from pyabc's scale (:func:`natural`;
        integers rounded); a prior-only parameter, which no target depends on, at its prior's
        median."""
        return {
            p.name: p.value(0.5) if p.prior_only else natural(p, float(pars[p.name]))
            for p in self.cal.config.parameters
        }

    def run(self, t: int, proposals: list[dict[str, float]], first: int) -> None:
        """Run the proposals of generation ``t`` (numbered from ``first``) not run yet."""
        from sim.experiments.measures import MeasureTask, execute, interval, read_part
        from sim.experiments.sweep import code_hash

        cal = self.cal
        cfg = cal.config
        tasks = []
        todo: list[tuple[int, dict[str, float]]] = []
        for j, pars in enumerate(proposals):
            i = first + j
            if self.key(pars) in self.figures:
                continue
            todo.append((i, pars))
            values = self.values(pars)
            for g, grp in enumerate(cal.groups):
                measures = tuple(
                    (cfg.targets[k].id, cfg.targets[k].measure_data()) for k in grp.targets
                )
                data = cal.scenario(g, values)
                for r in range(cfg.seeds):
                    part = self.folder / "parts" / PART.format(t=t + 1, i=i, g=g, r=r)
                    if read_part(part, self.folder) is not None:
                        continue
                    tasks.append(
                        MeasureTask(
                            point=i,
                            replicate=r,
                            seed=grp.seed,
                            scenario=data,
                            arms=grp.arms,
                            measures=measures,
                            part=str(part),
                            code=code_hash(),
                            folder=str(self.folder),
                        )
                    )
        for _ in self.pool.results(tasks, execute):
            self.runs += 1
            if self.progress:
                self.progress(self.runs)
        for i, pars in todo:
            by_target: dict[str, list[float]] = {tg.id: [] for tg in cfg.targets}
            for g in range(len(cal.groups)):
                for r in range(cfg.seeds):
                    got = read_part(
                        self.folder / "parts" / PART.format(t=t + 1, i=i, g=g, r=r), self.folder
                    )
                    for k, v in (got or {}).items():
                        by_target[k].append(v)
            self.figures[self.key(pars)] = {
                k: (interval(v)[0] if v else math.nan) for k, v in by_target.items()
            }


class _Recorder:
    """Pass 1's model: records the parameters pyabc asks for, returns figures no target
    accepts."""

    def __init__(self, ids: list[str]) -> None:
        self.asked: list[dict[str, float]] = []
        self.ids = ids

    def __call__(self, pars: Any) -> dict[str, float]:
        self.asked.append({k: float(v) for k, v in dict(pars).items()})
        return {k: math.inf for k in self.ids}


class _Reader:
    """Pass 2's model: the figures of runs already made."""

    def __init__(self, sims: Simulations) -> None:
        self.sims = sims

    def __call__(self, pars: Any) -> dict[str, float]:
        return self.sims.figures[self.sims.key({k: float(v) for k, v in dict(pars).items()})]


def make_sampler(sims: Simulations, seed: int, batch: int, swap: Callable[[Any], None]):
    """A pyabc sampler that runs each batch of proposals on the executors (module docstring).
    ``swap(model)`` sets the function the pyabc model calls."""
    from pyabc.sampler import Sampler

    ids = [t.id for t in sims.cal.config.targets]

    class ExecutorSampler(Sampler):
        """Deterministic batches of pyabc's proposals, run on the sweep executors."""

        def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf,
                                    all_accepted=False, ana_vars=None):  # fmt: skip
            # pyabc draws from numpy's global generator: seed it per generation
            np.random.seed(  # noqa: NPY002
                int(np.random.SeedSequence(seed, spawn_key=(t + 1,)).generate_state(1)[0])
            )
            sample = self._create_empty_sample()
            done = 0
            evaluations = 0
            while sample.n_accepted < n and evaluations < max_eval:
                size = int(min(batch, max_eval - evaluations))
                state = np.random.get_state()  # noqa: NPY002
                recorder = _Recorder(ids)
                swap(recorder)
                for _ in range(size):
                    simulate_one()
                sims.run(t, recorder.asked, done)
                np.random.set_state(state)  # noqa: NPY002
                swap(_Reader(sims))
                for _ in range(size):
                    particle = simulate_one()
                    sample.append(particle)
                    evaluations += 1
                    done += 1
                    if sample.n_accepted >= n:
                        break
            self.nr_evaluations_ = evaluations
            if sample.n_accepted < n:
                sample.ok = False
            return sample

    return ExecutorSampler()


@dataclass
class SmcOutcome:
    """A finished ABC-SMC run: the history, its generations and simulations."""

    history: Any
    generations: int
    simulations: int
    epsilon: float


def run_smc(
    cal: Calibration,
    folder: Path,
    pool: Any,
    *,
    workers: int,
    progress: Callable[[int], None] | None = None,
    simulations: Simulations | None = None,
) -> SmcOutcome:
    """Run (or resume) the ABC-SMC of ``cal`` in ``folder`` on ``pool`` (module docstring).
    ``simulations`` runs the particles (default: :class:`Simulations` on ``pool``; a test
    gives one that computes a toy model's figures instead)."""
    from sim.guards.extras import require

    pyabc = require("pyabc", "calibration", "method = abc_smc")
    import logging

    for name in ("ABC", "Sampler", "Epsilon", "Distance", "Acceptor", "History", "Data"):
        logging.getLogger(f"ABC.{name}").setLevel(logging.WARNING)
    logging.getLogger("ABC").setLevel(logging.WARNING)
    cfg = cal.config
    smc = cfg.smc
    sims = simulations or Simulations(cal, folder, pool, progress)
    current: dict[str, Any] = {}

    def model(pars: Any) -> dict[str, float]:
        return current["f"](pars)

    def swap(f: Any) -> None:
        current["f"] = f

    batch = smc.batch or max(workers * 4, min(smc.population, 64))
    sampler = make_sampler(sims, cfg.sampler_seed, batch, swap)
    priors = pyabc.Distribution(**{p.name: prior(p) for p in simulated(cal)})
    abc = pyabc.ABCSMC(
        model,
        priors,
        distance(cal),
        population_size=smc.population,
        sampler=sampler,
        eps=pyabc.QuantileEpsilon(alpha=smc.quantile),
        transitions=transition(smc, [p.name for p in simulated(cal)]),
    )
    db = f"sqlite:///{(folder / DB).resolve()}"
    observed = {t.id: t.value for t in cfg.targets}
    history = abc.load(db, 1) if (folder / DB).exists() else abc.new(db, observed)
    done = history.max_t + 1
    if done < smc.generations:
        history = abc.run(
            max_nr_populations=smc.generations - done,
            minimum_epsilon=smc.minimum_epsilon,
            max_total_nr_simulations=smc.max_simulations or np.inf,
        )
    if history.max_t < 0:
        raise ResultsError(f"{folder}: ABC-SMC accepted no generation")
    pops = history.get_all_populations()
    eps = float(pops[pops["t"] == history.max_t]["epsilon"].iloc[0])
    return SmcOutcome(history, history.max_t + 1, int(history.total_nr_simulations), eps)


def posterior_table(cal: Calibration, history: Any) -> pd.DataFrame:
    """Every generation's accepted particles: generation, particle, weight, parameters,
    distance, and each target's model figure. A prior-only parameter gets an independent draw
    from its prior for every particle (stream ``SeedSequence(sampler_seed, spawn_key=(PRIOR_KEY,
    t))``): its posterior is its prior."""
    params = cal.config.parameters
    alone = [p for p in params if p.prior_only]
    frames = []
    for t in range(history.max_t + 1):
        pop = history.get_population(t=t)
        seq = np.random.SeedSequence(cal.config.sampler_seed, spawn_key=(PRIOR_KEY, t))
        u = np.random.default_rng(seq).random((len(pop.particles), len(alone)))
        rows = []
        for k, particle in enumerate(pop.particles):
            row: dict[str, Any] = {"generation": t, "particle": k, "weight": particle.weight}
            drawn = {p.name: p.value(float(u[k, j])) for j, p in enumerate(alone)}
            row.update({
                p.name: drawn[p.name] if p.prior_only else natural(p, particle.parameter[p.name])
                for p in params
            })  # fmt: skip
            row["distance"] = float(particle.distance)
            row.update({f"model_{tid}": float(v) for tid, v in particle.sum_stat.items()})
            rows.append(row)
        df = pd.DataFrame(rows)
        df["weight"] = df["weight"] / df["weight"].sum()
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``x`` with weights ``w`` (the inverse of the weighted CDF at its
    midpoints)."""
    order = np.argsort(x, kind="stable")
    x, w = np.asarray(x, float)[order], np.asarray(w, float)[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cdf, x))


def effective_sample_size(w: np.ndarray) -> float:
    """Kish's effective sample size of importance weights, (Σw)² / Σw²: how many equally
    weighted particles the weighted sample is worth."""
    w = np.asarray(w, float)
    return float(w.sum() ** 2 / (w**2).sum()) if w.size and (w**2).sum() > 0 else 0.0


def identification(cal: Calibration, final: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Per parameter: prior and posterior mean, sd and 95% interval, and how much the data
    narrowed it (posterior sd ÷ prior sd); per pair, the weighted correlation. Warnings name
    a degenerate sample first (an effective sample size below a quarter of the particles or
    twice the parameters: a few particles carry the weight, and every spread and correlation
    below is an artefact of that), then parameters the targets do not inform (sd ratio above
    0.8: they keep their prior) and pairs they do not separate (|correlation| above 0.7)."""
    w = final["weight"].to_numpy()
    rows = []
    warnings: list[str] = []
    names = [p.name for p in cal.config.parameters]
    ess = effective_sample_size(w)
    if ess < max(0.25 * w.size, 2 * len(names)):
        warnings.append(
            f"the final generation's {w.size} particles are worth {ess:.1f} equally weighted "
            "ones (effective sample size): the posterior rests on a few particles, so its "
            "spreads and correlations are not to be trusted; run with a larger population"
        )
    for p in cal.config.parameters:
        x = final[p.name].to_numpy()
        mean = float(np.average(x, weights=w))
        sd = float(np.sqrt(np.average((x - mean) ** 2, weights=w)))
        prior_sd = float(natural_prior(p).std())
        ratio = sd / prior_sd if prior_sd > 0 else math.nan
        rows.append({
            "parameter": p.name, "prior": p.prior, "low": p.low, "high": p.high,
            "prior_sd": prior_sd, "mean": mean, "sd": sd,
            "median": weighted_quantile(x, w, 0.5),
            "q025": weighted_quantile(x, w, 0.025), "q975": weighted_quantile(x, w, 0.975),
            "sd_ratio": ratio,
        })  # fmt: skip
        if ratio > 0.8 and not p.prior_only:  # a prior-only parameter is its prior by design
            warnings.append(
                f"{p.name}: the targets barely inform it (posterior sd {ratio:.0%} of the "
                "prior's): it keeps its prior, and its uncertainty flows into the predictions"
            )
    names = [p.name for p in cal.config.parameters if not p.prior_only]  # drawn independently
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            xa, xb = final[a].to_numpy(), final[b].to_numpy()
            ma, mb = np.average(xa, weights=w), np.average(xb, weights=w)
            cov = np.average((xa - ma) * (xb - mb), weights=w)
            va, vb = np.average((xa - ma) ** 2, weights=w), np.average((xb - mb) ** 2, weights=w)
            r = cov / math.sqrt(va * vb) if va > 0 and vb > 0 else 0.0
            if abs(r) > 0.7:
                warnings.append(
                    f"{a} and {b}: posterior correlation {r:+.2f}; the targets do not separate "
                    "them (a ridge of equally good values)"
                )
    return pd.DataFrame(rows), warnings
