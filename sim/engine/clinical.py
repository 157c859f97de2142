"""Clinical relationships: patient benefit, function gain, adverse-event risk, need.

All functions are vectorized over patients and free of state. Benefit follows the quadratic
form of Ellis & McGuire (1986) [@ellis1986]: with the patient-optimal quantity
q_B = b/d, the money-valued benefit of q units is ``B(q) = b·q − (d/2)·q²``. Beyond q_B extra
units add burden, not function: function gain stops at the satiation point q_B (diminishing
returns up to satiation), while the money value ``B`` used in the provider's objective keeps the
quadratic form so that over-treatment is a cost to the patient.
"""

from __future__ import annotations

import numpy as np


def benefit_value(units: np.ndarray, need: np.ndarray, curvature: float) -> np.ndarray:
    """Money-valued patient benefit B(q) = d·q_B·q − (d/2)·q² (USD)."""
    q = units.astype(np.float64)
    return curvature * q * (need - 0.5 * q)


def function_gain(
    units: np.ndarray, need: np.ndarray, curvature: float, value_per_point: float
) -> np.ndarray:
    """Function points gained: B(min(q, q_B)) / value_per_point (no gain past satiation)."""
    q = np.minimum(units.astype(np.float64), need)
    return curvature * q * (need - 0.5 * q) / value_per_point


def low_value_units(
    units: np.ndarray, need: np.ndarray, curvature: float, threshold: float
) -> np.ndarray:
    """Units whose marginal benefit B(k) − B(k−1) = d·(q_B − k + 1/2) is below ``threshold``.

    Unit k is low-value when k > q_B − threshold/d + 1/2, so the first
    floor(q_B − threshold/d + 1/2) units are not.
    """
    valuable = np.floor(need - threshold / curvature + 0.5)
    valuable = np.maximum(valuable, 0.0)
    return np.maximum(units - valuable, 0.0)


def adverse_event_probability(
    risk: np.ndarray,
    function: np.ndarray,
    units: np.ndarray,
    need: np.ndarray,
    *,
    base_rate: float,
    function_slope: float,
    shortfall_risk: float,
) -> np.ndarray:
    """Monthly adverse-event risk during an episode.

    ``base_rate·risk·(1 + slope·(100 − function)/100) + shortfall_risk·max(0, q_B − q)²``,
    capped at 1: it rises with comorbidity, with low function and with under-treatment.
    """
    base = base_rate * risk * (1.0 + function_slope * (100.0 - function) / 100.0)
    short = np.maximum(need - units, 0.0)
    return np.minimum(base + shortfall_risk * short * short, 1.0)


def episode_length(uniform: np.ndarray, mean_months: float) -> np.ndarray:
    """Geometric episode length (months ≥ 1) with the given mean, by inversion of a uniform."""
    if mean_months <= 1.0:
        return np.ones(uniform.shape, np.int16)
    p_end = 1.0 / mean_months
    u = np.clip(uniform, 1e-12, 1.0)
    months = 1 + np.floor(np.log(u) / np.log1p(-p_end))
    return np.minimum(months, 240).astype(np.int16)


def seek_probability(expected_oop: np.ndarray, elasticity: float, reference: float) -> np.ndarray:
    """Probability an elective need is taken to a provider: (1 + oop/reference)^elasticity.

    The elasticity of care seeking to the out-of-pocket price approaches ``elasticity`` as the
    price grows past ``reference`` (RAND HIE: about −0.2 [@manning1987]).
    """
    return np.power(1.0 + expected_oop / reference, elasticity)
