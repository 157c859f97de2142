"""The seed's share of the variance and the checks of Sobol indices (sim/sensitivity.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.sensitivity import seed_variance, sobol_warnings


def test_seed_share_closed_form():
    """Two points × two replications: within-point variance 2, variance of the four runs 20/3,
    of the two means 8: the seed makes 30% of the runs' variance and 1/8 of the means'."""
    share, of_means = seed_variance(np.array([[1.0, 3.0], [5.0, 7.0]]))
    assert share == 2 / (20 / 3)
    assert of_means == (2 / 2) / 8


def test_no_seed_noise_and_only_seed_noise():
    """Replications that agree: share 0; points that agree in mean: share about 1 and the
    means' variance is all seed."""
    assert seed_variance(np.array([[1.0, 1.0], [4.0, 4.0], [9.0, 9.0]]))[0] == 0
    rng = np.random.default_rng(1)
    share, of_means = seed_variance(rng.normal(size=(400, 4)))
    assert 0.95 < share < 1.05
    assert 0.8 < of_means < 1.25


def test_one_replication_cannot_tell():
    """With one replication the seed's share is unknown (NaN), not zero."""
    assert all(np.isnan(seed_variance(np.array([[1.0], [2.0]]))))


def _table(s1, s1c, st, stc, seed=0.01):
    return pd.DataFrame(
        {
            "arm": "a",
            "parameter": ["x", "y"],
            "S1": s1,
            "S1_conf": s1c,
            "ST": st,
            "ST_conf": stc,
            "seed_share_of_means": seed,
        }
    )


def test_sound_indices_raise_no_warning():
    """Indices within [0, 1], S1 ≤ ST, small seed share: nothing to say."""
    assert (
        sobol_warnings(_table([0.3, 0.5], [0.05, 0.05], [0.4, 0.6], [0.05, 0.05]), 64, 4, "o") == []
    )


def test_s1_above_st_and_out_of_range_are_flagged_with_a_sample_size():
    """S1 above ST beyond both intervals, or an index outside [0, 1], gives a warning with the
    base sample that brings the widest interval to ±0.05 (a power of 2)."""
    w = sobol_warnings(_table([0.9, -0.6], [0.1, 0.2], [0.3, 0.4], [0.1, 0.3]), 16, 4, "o")
    assert len(w) == 1
    assert "S1 above ST" in w[0] and "outside [0, 1]" in w[0]
    # widest interval 0.3: 16 · (0.3 / 0.05)² = 576 → 1024
    assert "design.samples = 1024" in w[0]


def test_a_large_seed_share_asks_for_replications():
    """When the seed makes 20% of the variance of the means, the warning asks for the
    replications that bring it to 5% (it falls as 1/r)."""
    w = sobol_warnings(_table([0.3, 0.5], [0.05, 0.05], [0.4, 0.6], [0.05, 0.05], 0.2), 64, 2, "o")
    assert len(w) == 1 and "replications = 8" in w[0]


def test_one_replication_is_flagged():
    """A Sobol analysis of one replication per point cannot separate the seed: say so."""
    w = sobol_warnings(
        _table([0.3, 0.5], [0.05, 0.05], [0.4, 0.6], [0.05, 0.05], np.nan), 64, 1, "o"
    )
    assert len(w) == 1 and "replications >= 2" in w[0]
