"""How providers choose service intensity and how they adapt it.

A provider values ``profit + α·patient benefit`` (Ellis & McGuire 1986 [@ellis1986]). Its
*practice style* is an offset θ, in service units per month, from each patient's optimum:
patient i gets ``q_i = clip(q_B,i + θ, 0, max_units)``. With quadratic benefit, marginal revenue
m per unit, marginal cost c and an expected adverse-event liability that grows with the square
of under-treatment (curvature κ), the per-patient objective is concave in q and its maximiser
has the same offset for every patient:

    θ* = (m − c) / (α·d + κ·[m < c] + κ_o·[m > c])

(κ = 2·(liability share·event cost + penalty per event)·shortfall risk + k·d/v, with k the
pay-for-performance payment per point of function gained and v the value of a point: every
term that makes under-treatment costlier to the provider; κ_o = 2·(liability share·event cost
+ penalty per event)·overtreatment risk, with harm from too much care). With κ = κ_o = 0 this
is the table of [@ellis1986]: FFS θ = (p − c)/(α·d), capitation θ = −c/(α·d), blended
θ = (p' − c)/(α·d).

Providers are not told θ*. In ``learning`` mode each provider varies its style slightly across
its patients (−δ, 0, +δ, assigned by patient number and month) and keeps a running record
(:class:`Experience`, with exponential forgetting) of how the realised value of each patient —
revenue − cost − adverse-event liability + α·benefit — varied with the intensity it chose,
controlling for the patient's need and whether the episode is new. The quadratic it fits is its
perceived objective. Each month it moves part of the way (its adaptation speed) toward the best
style of that perceived objective, never more than a maximum step a month (inertia), and now
and then copies part of a better-performing peer's style (imitation). With conditions fixed
this converges to θ*; after a change in the rules, volume moves over months.

**One practice across payers.** A style is a *norm* shared by all of a provider's patients:
it learns from all of them, so its best is the optimum of the patient-share-weighted objective
(``Σ_g w_g·U_g``, the margins averaged over payers by the provider's members). With payer
specificity λ > 0 (``behaviour.payer_specificity``) the provider also keeps a separate style
θ_g per payer, learnt from that payer's patients alone (best: the optimum of U_g), and plays
``θ̄ + λ·(θ_g − θ̄)`` for payer g's patients; the norm then moves on the payers' perceived
slopes at the norm weighted by their member shares. With quadratic objectives of equal curvature
the closed form is ``θ̄* = Σ_g w_g·θ*_g``, so a contract change for one payer g moves every
payer's style by ``(1 − λ)·w_g·Δθ*_g`` and payer g's own by a further ``λ·(1 − w_g)·Δθ*_g``.

**Income effects.** With ``behaviour.income_effect`` η > 0 the provider's utility of income
is concave (CRRA): its marginal utility of income relative to its reference income is
``u' = (Y_ref / Y)^η`` (:func:`income_weight`; Y its smoothed monthly revenue, Y_ref its mean
over the first ``income_reference_months``). It maximises ``u'·profit + α·B``, i.e. profit plus
``α/u'`` times benefit: a provider whose income fell (u' > 1) weighs profit more and moves its
style toward what pays (more volume where a unit earns its cost, as after a fee cut under
fee-for-service: the income effect), and one whose income rose does the opposite.
"""

from __future__ import annotations

import math

import numpy as np

# the planned units and the experiment's sign (provider behaviour) are written once, in
# sim.engine.kernels, whose numpy twins use them; they are re-exported here
from sim.engine.kernels import NUMPY as NUMPY_KERNELS
from sim.engine.kernels import Kernels, planned_units, variation_sign  # noqa: F401

#: regressors of the per-provider learning regression
REGRESSORS = ("const", "need", "need_sq", "offset", "offset_sq", "new_episode")


def optimal_offset(
    marginal_revenue: np.ndarray,
    marginal_cost: float | np.ndarray,
    altruism: np.ndarray,
    curvature: float,
    shortfall_curvature: np.ndarray,
    bound: float,
    overtreatment_curvature: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Closed-form best style θ* (units above the patient optimum), bounded to ±bound.
    ``shortfall_curvature`` (κ) bends the objective only below the patient optimum,
    ``overtreatment_curvature`` (the expected adverse-event costs borne of harm from too much
    care, ``adverse_events.overtreatment_risk``) only above it."""
    gap = np.asarray(marginal_revenue, np.float64) - marginal_cost
    denom = altruism * curvature + np.where(gap < 0, shortfall_curvature, overtreatment_curvature)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(denom > 0, gap / np.where(denom > 0, denom, 1.0), np.sign(gap) * bound)
    return np.clip(theta, -bound, bound)


def income_weight(
    income: np.ndarray, reference: np.ndarray, elasticity: float, floor: float = 0.05
) -> np.ndarray:
    """Marginal utility of income relative to the reference income, ``(Y_ref / Y)^η`` (CRRA
    utility with elasticity η), with income floored at ``floor`` × the reference; 1 where the
    reference is not known yet or not positive."""
    ref = np.asarray(reference, np.float64)
    known = np.isfinite(ref) & (ref > 0)
    safe_ref = np.where(known, ref, 1.0)
    y = np.maximum(np.asarray(income, np.float64), floor * safe_ref)
    return np.where(known, (safe_ref / y) ** elasticity, 1.0)


class Experience:
    """Each provider's running record of how the value of a patient varied with the intensity
    it chose: the sufficient statistics of a least-squares fit, with exponential forgetting.

    The fit is ``value ≈ β·x`` with x = :data:`REGRESSORS`, where *offset* is the units given
    minus the patient's optimum (scaled by the setting's mean optimum) and the need terms
    control for how much the patient's value depends on its need. The fitted quadratic in the
    offset is the provider's perceived objective; it forgets old months at rate ``memory`` so
    that it can follow a change in the rules.
    """

    def __init__(self, n_providers: int, scale: float, memory: float) -> None:
        k = len(REGRESSORS)
        self.xtx = np.zeros((n_providers, k, k))
        self.xty = np.zeros((n_providers, k))
        self.scale = scale
        self.memory = memory

    def add_month(
        self,
        provider: np.ndarray,
        value: np.ndarray,
        need_z: np.ndarray,
        offset: np.ndarray,
        new_episode: np.ndarray,
        kernels: Kernels = NUMPY_KERNELS,
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Fold one month of treated patients (those where ``mask`` is true, if given) into
        the record; returns patients per provider."""
        return kernels.learn(
            provider,
            value,
            need_z,
            offset / self.scale,
            new_episode,
            self.xtx,
            self.xty,
            self.memory,
            mask,
        )

    def slope_curvature(
        self, theta: np.ndarray, enough: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Perceived slope and curvature of the objective at style ``theta`` (per unit and per
        unit²); NaN where a provider has too little experience."""
        n_prov, k = self.xty.shape
        slope = np.full(n_prov, np.nan)
        curv = np.full(n_prov, np.nan)
        if enough.any():
            a = self.xtx[enough]
            # a tiny ridge keeps a regressor with no variation (e.g. no new episodes) solvable
            ridge = 1e-9 * np.maximum(np.einsum("pii->p", a), 1.0)
            a = a + ridge[:, None, None] * np.eye(k)
            beta = np.linalg.solve(a, self.xty[enough][..., None])[..., 0]
            b1, b2 = beta[:, 3] / self.scale, beta[:, 4] / self.scale**2
            slope[enough] = b1 + 2.0 * b2 * theta[enough]
            curv[enough] = 2.0 * b2
        return slope, curv


def newton_steps(
    value: np.ndarray, slope: np.ndarray, curvature: np.ndarray, speed: np.ndarray, max_step: float
) -> np.ndarray:
    """One month of adaptation for every provider: a damped Newton step toward the perceived
    best style.

    If the perceived objective is concave (``curvature`` < 0), its best style is
    ``value − slope/curvature``; otherwise the provider just moves uphill. The move is capped at
    ``max_step`` and scaled by ``speed`` (inertia). A provider whose slope is not known yet
    (NaN: too few patients) keeps ``value``."""
    slope = np.asarray(slope, np.float64)
    curvature = np.asarray(curvature, np.float64)
    known = np.isfinite(slope)
    with np.errstate(invalid="ignore", divide="ignore"):
        newton = -slope / curvature
    uphill = np.where(slope != 0, np.copysign(max_step, slope), 0.0)
    target = np.where(curvature < 0, newton, uphill)
    stepped = value + speed * np.minimum(np.maximum(target, -max_step), max_step)
    return np.where(known, stepped, value)


# ---------------------------------------------------------------------------------------------
# Therapy minutes per day: the second decision of settings whose unit is a day of stay


def therapy_mix(
    shared_share: np.ndarray | float,
    concurrent_fraction: float,
    shared_benefit: float,
    minute_weights: tuple[float, float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per planned minute of a mix with ``shared_share`` concurrent or group minutes: its
    effective (benefit) weight, its therapist time (a concurrent minute takes half a therapist
    minute, a group minute a quarter) and its counted weight under the contract's counting
    rule (``minute_weights`` for individual, concurrent, group)."""
    s = np.asarray(shared_share, np.float64)
    fc = concurrent_fraction
    w_i, w_c, w_g = minute_weights
    effective = (1.0 - s) + s * shared_benefit
    staff = (1.0 - s) + s * (fc * 0.5 + (1.0 - fc) * 0.25)
    counted = (1.0 - s) * w_i + s * (fc * w_c + (1.0 - fc) * w_g)
    return effective, staff, counted


def capped_share(shared_share: np.ndarray | float, cap: float | None) -> np.ndarray:
    """The share of minutes delivered concurrently or in groups under a contract's cap on
    group plus concurrent minutes (PDPM: 25%; None: no cap). Applied to a patient's planned
    split this is :func:`sim.engine.rules.cap_group_concurrent` (excess shared minutes become
    individual ones)."""
    s = np.asarray(shared_share, np.float64)
    return s if cap is None else np.minimum(s, cap)


#: Gauss-Hermite nodes for expectations over the lognormal spread of minutes delivered
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(24)
_GH_W = _GH_W / _GH_W.sum()


def therapy_day_value(
    minutes: np.ndarray,
    expected_revenue: np.ndarray,
    *,
    cost_per_minute: float,
    staff: np.ndarray,
    effective: np.ndarray,
    altruism: np.ndarray,
    curvature: float,
    optimal_minutes: float,
    sd: float,
    shortfall_cost: np.ndarray | float = 0.0,
) -> np.ndarray:
    """g(m): what one day of stay at ``minutes`` planned therapy minutes adds to a provider's
    objective, relative to a day at the patient-optimal intensity:
    ``E[R] − cost·staff·m + α·d·(m_B·e·m − e²·m²·E[X²]/2 − m_B²/2) − c·E[short(e·m·X)²]``
    with X the spread of minutes delivered around minutes planned (mean 1,
    ``E[X²] = exp(sd²)``), ``short(x) = max(0, m_B − x)/m_B`` the therapy shortfall and ``c``
    what the provider bears of a day's added adverse-event risk per unit of squared shortfall
    (``shortfall_cost``: the event cost it bears × the therapy's ``shortfall_risk``).
    Broadcasts over providers (rows) and minutes (columns)."""
    m = np.asarray(minutes, np.float64)
    ex2 = math.exp(sd * sd)
    benefit = curvature * (
        optimal_minutes * effective * m
        - 0.5 * effective**2 * m * m * ex2
        - 0.5 * optimal_minutes**2
    )
    g = expected_revenue - cost_per_minute * staff * m + altruism * benefit
    if np.any(shortfall_cost):
        short = expected_lognormal(
            lambda x: np.maximum(1.0 - effective * x / optimal_minutes, 0.0) ** 2,
            m * np.ones(np.shape(effective)),
            sd,
        )
        g = g - shortfall_cost * short
    return g


def expected_lognormal(fn, x: np.ndarray, sd: float) -> np.ndarray:
    """E[fn(x·X)] for X lognormal with mean 1 and log-sd ``sd`` (Gauss-Hermite)."""
    if sd == 0:
        return fn(x)
    out = np.zeros(np.shape(x))
    for z, w in zip(_GH_X, _GH_W, strict=True):
        out = out + w * fn(x * math.exp(sd * z - 0.5 * sd * sd))
    return out


def optimal_therapy(
    revenue_per_day,
    *,
    cost_per_minute: float,
    staff: np.ndarray,
    effective: np.ndarray,
    altruism: np.ndarray,
    curvature: float,
    optimal_minutes: float,
    sd: float,
    max_minutes: float,
    step: float = 0.25,
    shortfall_cost: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Each provider's best planned minutes per day m* and the value g(m*) of a day there.

    ``revenue_per_day(minutes)`` is the minutes-dependent part of each provider's per diem
    (payer mix, counting rules and rate levels included) at the minutes delivered, for every
    provider (rows) and minutes (columns); its expectation over the spread of delivery is
    taken here. Payment that steps at minutes thresholds (legacy skilled nursing) makes g
    non-concave, so the maximum is found on a grid of ``step`` minutes; without
    minutes-dependent payment and without adverse-event costs borne (``shortfall_cost``,
    per provider) it is the closed form ``m* = (α·d·m_B·e − cost·staff) / (α·d·e²·exp(sd²))``."""
    grid = np.arange(0.0, max_minutes + step / 2, step)[None, :]
    n = np.asarray(altruism).shape[0]
    col = np.ones((n, 1))
    rev = expected_lognormal(revenue_per_day, col * grid, sd)
    g = therapy_day_value(
        grid,
        rev,
        cost_per_minute=cost_per_minute,
        staff=np.asarray(staff, np.float64).reshape(-1, 1) * col,
        effective=np.asarray(effective, np.float64).reshape(-1, 1) * col,
        altruism=np.asarray(altruism, np.float64).reshape(-1, 1),
        curvature=curvature,
        optimal_minutes=optimal_minutes,
        sd=sd,
        shortfall_cost=np.asarray(shortfall_cost, np.float64).reshape(-1, 1) * col,
    )
    best = np.argmax(g, axis=1)
    rows = np.arange(n)
    return grid[0, best], g[rows, best]


def therapy_variation_sign(patient_index: np.ndarray, month: int) -> np.ndarray:
    """−1, 0 or +1: the variation of its therapy intensity a provider tries on this patient.
    Balanced, and independent of :func:`variation_sign` across patients (all nine pairs are
    equally common), so the two experiments do not confound each other."""
    return ((patient_index // 3 + month) % 3).astype(np.int8) - 1
