"""The ABC-SMC proposal (sim/experiments/abc_smc.py, ``smc.kernel``) against closed-form
answers: a toy model whose ABC posterior is known, run through the project's sampler (its
priors on the logit scale, its kernel, its epsilon, its deterministic batches and pyabc's
history), with a Python function in place of the simulations.

The toy: twelve parameters, each uniform on [0, 1] (so a parameter is its own place ``u`` in
its prior); the first four are targets themselves (the model's figure ``y_j = u_j``, no
noise), the other eight move no target. The ABC posterior at the final epsilon ``ε`` is then
the prior restricted to ``Σ_j ((u_j − v_j)/s)² ≤ ε²``: the four informed parameters uniform
in the ball of radius ``R = s·ε`` around the targets' values ``v``, the eight others uniform
on [0, 1] and independent of them. One coordinate of a point uniform in a ball of dimension
k, divided by R, has the density ∝ (1 − t²)^((k−1)/2) on [−1, 1], i.e. (t + 1)/2 ~
Beta((k+1)/2, (k+1)/2), mean 0, variance 1/(k + 2).

As in the world's calibration (14 simulated parameters, about half of them barely informed,
200 particles, four generations, quantile 0.5: an effective sample size of 200, 18, 8, 6 by
generation), pyabc's multivariate normal kernel leaves the toy's final generation (100
particles, five generations) worth a handful of particles; the product of Student-t kernels
keeps it worth about half of them (seeds 11 to 16: 45 to 65 against 1.4 to 6).
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from sim.experiments.abc_smc import Simulations, effective_sample_size, posterior_table, run_smc
from sim.experiments.calibrate import FreeParameter, SmcConfig

pytest.importorskip("pyabc")

#: the targets' values of the four informed parameters (the ball stays inside the unit cube)
TRUTH = (0.4, 0.6, 0.45, 0.55)
UNCERTAINTY = 0.05
INFORMED = len(TRUTH)
UNINFORMED = 8
POPULATION = 100
GENERATIONS = 5


class ToySimulations(Simulations):
    """The runs of the toy: each target's figure is its parameter's value."""

    def run(self, t: int, proposals: list[dict[str, float]], first: int) -> None:
        for pars in proposals:
            values = self.values(pars)
            self.figures[self.key(pars)] = {f"y{j}": values[f"x{j}"] for j in range(INFORMED)}


def toy(kernel: str) -> SimpleNamespace:
    """The toy calibration (only what the sampler reads)."""
    params = [
        FreeParameter(name=f"x{j}", fields=[f"toy.x{j}"], low=0.0, high=1.0)
        for j in range(INFORMED + UNINFORMED)
    ]
    targets = [
        SimpleNamespace(id=f"y{j}", value=v, uncertainty=UNCERTAINTY, weight=1.0)
        for j, v in enumerate(TRUTH)
    ]
    smc = SmcConfig(population=POPULATION, generations=GENERATIONS, quantile=0.5, kernel=kernel)
    config = SimpleNamespace(parameters=params, targets=targets, smc=smc, sampler_seed=11)
    return SimpleNamespace(config=config)


def final_generation(kernel: str, folder: Path):
    """Run the toy with ``kernel``: the final generation's particles and its epsilon."""
    cal = toy(kernel)
    outcome = run_smc(cal, folder, None, workers=1, simulations=ToySimulations(cal, folder, None))
    post = posterior_table(cal, outcome.history)
    return post[post.generation == post.generation.max()], outcome.epsilon


def weighted_ks(x: np.ndarray, w: np.ndarray, cdf) -> float:
    """The Kolmogorov-Smirnov distance between the weighted sample and a distribution."""
    order = np.argsort(x)
    x, w = x[order], w[order] / w.sum()
    upper = np.cumsum(w)
    f = cdf(x)
    return float(max(np.abs(upper - f).max(), np.abs(upper - w - f).max()))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The toy under the product kernel (the default) and pyabc's multivariate one."""
    return {
        kernel: final_generation(kernel, tmp_path_factory.mktemp(kernel))
        for kernel in ("product", "multivariate")
    }


def test_the_default_kernel_is_the_product():
    assert SmcConfig().kernel == "product"


def test_the_product_kernel_keeps_the_weights_even_where_the_multivariate_one_collapses(runs):
    """The final generation's effective sample size: at least 30% of the particles with the
    product kernel; under 10% with pyabc's multivariate kernel (so the toy is hard enough to
    tell them apart: it fails on the kernel every calibration used before)."""
    product, _ = runs["product"]
    multivariate, _ = runs["multivariate"]
    assert effective_sample_size(product.weight.to_numpy()) >= 0.3 * POPULATION
    assert effective_sample_size(multivariate.weight.to_numpy()) < 0.1 * POPULATION


def test_an_uninformed_parameter_keeps_its_prior(runs):
    """Each of the eight parameters no target sees: its weighted sample is Uniform(0, 1), by the
    Kolmogorov-Smirnov distance (within 1.8/√ESS: Kolmogorov's 0.3% point, the effective sample
    size standing for n), its mean within 3 standard errors of 1/2 and its sd within 20% of
    1/√12."""
    final, _ = runs["product"]
    w = final.weight.to_numpy()
    ess = effective_sample_size(w)
    sd = 1 / math.sqrt(12)
    for j in range(INFORMED, INFORMED + UNINFORMED):
        x = final[f"x{j}"].to_numpy()
        assert weighted_ks(x, w, stats.uniform().cdf) < 1.8 / math.sqrt(ess), f"x{j}"
        mean = np.average(x, weights=w)
        assert abs(mean - 0.5) < 3 * sd / math.sqrt(ess), f"x{j}"
        assert abs(math.sqrt(np.average((x - mean) ** 2, weights=w)) / sd - 1) < 0.2, f"x{j}"


def test_an_informed_parameter_concentrates_on_its_value(runs):
    """Each of the four targeted parameters: every particle within R = s·ε of its value, and
    the weighted sample is the closed-form marginal of the ball (KS distance within 1.8/√ESS),
    its mean within 3 standard errors of the value, its sd within 20% of R/√(k + 2), well
    below the prior's. Jointly, a point uniform in a ball of dimension k has (r/R)^k uniform
    on [0, 1], r its distance to the centre (KS distance within 1.8/√ESS)."""
    final, eps = runs["product"]
    w = final.weight.to_numpy()
    ess = effective_sample_size(w)
    radius = UNCERTAINTY * eps
    assert all(radius < v < 1 - radius for v in TRUTH), "the ball leaves the cube"
    r = np.sqrt(sum(((final[f"x{j}"].to_numpy() - v) / radius) ** 2 for j, v in enumerate(TRUTH)))
    assert weighted_ks(r**INFORMED, w, stats.uniform().cdf) < 1.8 / math.sqrt(ess)
    k = INFORMED
    beta = stats.beta((k + 1) / 2, (k + 1) / 2)
    sd = radius / math.sqrt(k + 2)
    assert sd < 0.5 / math.sqrt(12)
    for j, v in enumerate(TRUTH):
        x = final[f"x{j}"].to_numpy()
        assert np.all(np.abs(x - v) <= radius * (1 + 1e-9)), f"x{j}"
        ks = weighted_ks(x, w, lambda y, v=v: beta.cdf(((y - v) / radius + 1) / 2))
        assert ks < 1.8 / math.sqrt(ess), f"x{j}"
        mean = np.average(x, weights=w)
        assert abs(mean - v) < 3 * sd / math.sqrt(ess), f"x{j}"
        assert abs(math.sqrt(np.average((x - mean) ** 2, weights=w)) / sd - 1) < 0.2, f"x{j}"


def test_the_student_t_kernel_density_is_what_it_draws():
    """One parameter, three weighted particles: the kernel's density is the weighted sum of t
    densities of 5 degrees of freedom around them, scaled by the square root of pyabc's fitted
    variance (the particles' weighted variance times Silverman's factor squared, from their
    effective sample size); it integrates to 1; 4,000 draws from numpy's global generator
    follow it (KS distance under 1.63/√4000, Kolmogorov's 1% point) and are the same for the
    same seed."""
    import pandas as pd
    from scipy import integrate

    from sim.experiments.abc_smc import KERNEL_DF, student_t_transition

    x = np.array([-1.0, 0.5, 2.0])
    w = np.array([0.2, 0.5, 0.3])
    kernel = student_t_transition()()
    kernel.fit(pd.DataFrame({"a": x}), w)
    mean = w @ x
    ess = 1 / (w**2).sum()
    silverman = (4 / (3 * ess)) ** (1 / 5)
    var = (w @ (x - mean) ** 2) / (1 - (w**2).sum()) * silverman**2
    assert kernel.cov[0, 0] == pytest.approx(var)

    def density(y):
        return sum(wi * stats.t(KERNEL_DF, loc=xi, scale=math.sqrt(var)).pdf(y)
                   for xi, wi in zip(x, w, strict=True))  # fmt: skip

    grid = np.linspace(-6.0, 8.0, 29)
    got = kernel.pdf(pd.DataFrame({"a": grid}))
    np.testing.assert_allclose(got, density(grid), rtol=1e-10)
    total, _ = integrate.quad(lambda y: float(kernel.pdf(pd.Series({"a": y}))), -np.inf, np.inf)
    assert total == pytest.approx(1.0, abs=1e-6)
    np.random.seed(3)  # noqa: NPY002
    draws = np.array([kernel.rvs()["a"] for _ in range(4000)])
    np.random.seed(3)  # noqa: NPY002
    again = np.array([kernel.rvs()["a"] for _ in range(4000)])
    np.testing.assert_array_equal(draws, again)

    def cdf(y):
        return sum(wi * stats.t(KERNEL_DF, loc=xi, scale=math.sqrt(var)).cdf(y)
                   for xi, wi in zip(x, w, strict=True))  # fmt: skip

    assert weighted_ks(draws, np.ones(draws.size), cdf) < 1.63 / math.sqrt(draws.size)
