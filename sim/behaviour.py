"""How providers choose service intensity and how they adapt it.

A provider values ``profit + α·patient benefit`` (Ellis & McGuire 1986; REFERENCE.md §1). Its
*practice style* is an offset θ, in service units per month, from each patient's optimum:
patient i gets ``q_i = clip(q_B,i + θ, 0, max_units)``. With quadratic benefit, marginal revenue
m per unit, marginal cost c and an expected adverse-event liability that grows with the square
of under-treatment (curvature κ), the per-patient objective is concave in q and its maximiser
has the same offset for every patient:

    θ* = (m − c) / (α·d + κ·[m < c])

(κ = 2 · liability share · event cost · shortfall risk). With κ = 0 this is the table of
REFERENCE.md §1: FFS θ = (p − c)/(α·d), capitation θ = −c/(α·d), blended θ = (p' − c)/(α·d).

Providers are not told θ*. In ``learning`` mode each provider varies its style slightly across
its patients (−δ, 0, +δ, assigned by patient number and month), regresses the realised per-patient
value of each patient — revenue − cost − adverse-event liability + α·benefit — on that variation
(controlling for the patient's need and whether the episode is new), and so estimates the
slope and the curvature of its objective at its current style. It then moves part of the way
(its adaptation speed) toward the style its estimate says is best, never more than a maximum
step a month (inertia), and now and then copies part of a better-performing peer's style
(imitation). With conditions fixed this converges to θ*.
"""

from __future__ import annotations

import numpy as np

#: regressors of the per-provider learning regression
REGRESSORS = ("const", "need", "need_sq", "variation", "variation_sq", "new_episode")


def optimal_offset(
    marginal_revenue: np.ndarray,
    marginal_cost: float | np.ndarray,
    altruism: np.ndarray,
    curvature: float,
    liability_curvature: np.ndarray,
    bound: float,
) -> np.ndarray:
    """Closed-form best style θ* (units above the patient optimum), bounded to ±bound."""
    gap = np.asarray(marginal_revenue, np.float64) - marginal_cost
    denom = altruism * curvature + np.where(gap < 0, liability_curvature, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(denom > 0, gap / np.where(denom > 0, denom, 1.0), np.sign(gap) * bound)
    return np.clip(theta, -bound, bound)


def planned_units(need: np.ndarray, offset: np.ndarray, max_units: int) -> np.ndarray:
    """Planned (continuous) units for each patient: clip(q_B + offset, 0, max_units)."""
    return np.clip(need + offset, 0.0, float(max_units))


def variation_sign(patient_index: np.ndarray, month: int) -> np.ndarray:
    """−1, 0 or +1: which variation of its style a provider tries on this patient this month.

    Deterministic and balanced (by patient number and month), so it uses no random numbers
    and leaves the common random numbers of the arms untouched.
    """
    return ((patient_index + month) % 3).astype(np.int8) - 1


def learning_estimates(
    provider: np.ndarray,
    n_providers: int,
    value: np.ndarray,
    need_z: np.ndarray,
    sign: np.ndarray,
    new_episode: np.ndarray,
    delta: float,
    min_patients: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-provider estimates of the slope and curvature of its objective at its current style.

    Least squares, one regression per provider, of the realised value of each treated patient
    on :data:`REGRESSORS`; slope = β_variation/δ and curvature = 2·β_variation_sq/δ². Returns
    (slope, curvature, patients); providers with fewer than ``min_patients`` get NaN.
    """
    s = sign.astype(np.float64)
    cols = [
        np.ones_like(s),
        need_z,
        need_z * need_z,
        s,
        s * s,
        new_episode.astype(np.float64),
    ]
    k = len(cols)
    xtx = np.empty((n_providers, k, k))
    xty = np.empty((n_providers, k))
    for i in range(k):
        xty[:, i] = np.bincount(provider, cols[i] * value, minlength=n_providers)
        for j in range(i, k):
            v = np.bincount(provider, cols[i] * cols[j], minlength=n_providers)
            xtx[:, i, j] = v
            xtx[:, j, i] = v
    count = xtx[:, 0, 0]
    ok = count >= min_patients
    slope = np.full(n_providers, np.nan)
    curv = np.full(n_providers, np.nan)
    if ok.any():
        a = xtx[ok]
        # a tiny ridge keeps a regressor with no variation (e.g. no new episodes) solvable
        ridge = 1e-9 * np.maximum(np.einsum("pii->p", a), 1.0)
        a = a + ridge[:, None, None] * np.eye(k)
        beta = np.linalg.solve(a, xty[ok][..., None])[..., 0]
        slope[ok] = beta[:, 3] / delta
        curv[ok] = 2.0 * beta[:, 4] / (delta * delta)
    return slope, curv, count


def adapt(
    theta: float,
    slope: float,
    curvature_estimate: float,
    speed: float,
    max_step: float,
) -> float:
    """One month of adaptation: a damped Newton step toward the perceived best style.

    If the smoothed curvature says the objective is concave, the perceived best style is
    θ − slope/curvature; otherwise the provider just moves uphill. The move is capped at
    ``max_step`` and scaled by ``speed`` (inertia).
    """
    target = -slope / curvature_estimate if curvature_estimate < 0 else np.sign(slope) * max_step
    return theta + speed * float(np.clip(target, -max_step, max_step))
