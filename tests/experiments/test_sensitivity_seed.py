"""The seed's share of the variance and the checks of Sobol indices
(sim/experiments/sensitivity.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.experiments.sensitivity import seed_variance, sobol_warnings


def test_seed_share_closed_form():
    """Two points × two replications: within-point variance 2, variance of the means 8, so
    the design's variance is 8 − 2/2 = 7: the seed makes 2/9 of a run's variance and 1/8 of
    the means'."""
    share, of_means = seed_variance(np.array([[1.0, 3.0], [5.0, 7.0]]))
    assert share == 2 / 9
    assert of_means == (2 / 2) / 8


def test_no_seed_noise_and_only_seed_noise():
    """Replications that agree: share 0; pure noise (no point effect): share 1 up to sampling
    error, and the means' variation is all seed; shares never leave [0, 1]."""
    assert seed_variance(np.array([[1.0, 1.0], [4.0, 4.0], [9.0, 9.0]]))[0] == 0
    rng = np.random.default_rng(1)
    share, of_means = seed_variance(rng.normal(size=(400, 4)))
    assert share > 0.9 and of_means > 0.8
    assert share <= 1 and of_means <= 1
    # a clear point effect: the seed's share is the noise variance over the total
    x = np.repeat(np.arange(200.0)[:, None], 8, axis=1) * 0.1
    share, _ = seed_variance(x + rng.normal(scale=0.5, size=x.shape))
    expected = 0.25 / (0.25 + np.var(np.arange(200.0) * 0.1, ddof=1))
    assert abs(share - expected) < 0.02


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
    """When the seed makes 20% of the variance of the means with 2 replications, the warning
    asks for the replications that bring it to 5%: the seed's part σ²_w/r falls as 1/r while
    the design's part stays, so r' = 0.2 · 2 · 0.95 / (0.05 · 0.8) = 9.5 → 10."""
    w = sobol_warnings(_table([0.3, 0.5], [0.05, 0.05], [0.4, 0.6], [0.05, 0.05], 0.2), 64, 2, "o")
    assert len(w) == 1 and "replications = 10" in w[0]
    assert "design.samples" not in w[0]


def test_no_advice_beyond_what_anyone_runs():
    """A seed that makes nearly all the variance, or intervals that would need a base sample
    above 2^14, give no design to run but say the outcome hardly moves over the ranges."""
    w = sobol_warnings(
        _table([0.3, 0.5], [0.05, 0.05], [0.4, 0.6], [0.05, 0.05], 0.999), 64, 2, "o"
    )
    assert len(w) == 1 and "barely move this outcome" in w[0] and "replications =" not in w[0]
    w = sobol_warnings(_table([0.9, -8.0], [0.1, 8.0], [0.3, 0.4], [0.1, 8.0]), 16, 4, "o")
    assert len(w) == 1 and "hardly varies" in w[0] and "design.samples =" not in w[0]


def test_one_replication_is_flagged():
    """A Sobol analysis of one replication per point cannot separate the seed: say so."""
    w = sobol_warnings(
        _table([0.3, 0.5], [0.05, 0.05], [0.4, 0.6], [0.05, 0.05], np.nan), 64, 1, "o"
    )
    assert len(w) == 1 and "replications >= 2" in w[0]


def test_sim_sensitivity_reports_the_seed_share_and_warns(tmp_path, capsys):
    """End to end: a small Sobol sweep with 2 replications; the tables carry seed_share, the
    warnings go to stderr and sensitivity/warnings.txt, progress goes to stderr unless
    --quiet."""
    from sim.cli import main

    (tmp_path / "base.toml").write_text(
        'name = "base"\nmonths = 3\nseed = 9\n[population]\npatients = 1000\n[outputs]\n'
        'figure = false\n[[arms]]\nname = "ffs"\ncontracts = [{ model = "ffs" }]\n'
    )
    (tmp_path / "sw.toml").write_text(
        'name = "sw"\nscenario = "base.toml"\nreplications = 2\n[design]\nmethod = "sobol"\n'
        "samples = 2\nsecond_order = false\n[[parameters]]\n"
        'field = "settings.outpatient_therapy.marginal_cost"\nlow = 10.0\nhigh = 26.0\n'
        '[[parameters]]\nfield = "behaviour.initial_offset"\nlow = -1.0\nhigh = 1.0\n'
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "sweep",
                str(tmp_path / "sw.toml"),
                "--out",
                str(out),
                "--executor",
                "serial",
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["sensitivity", str(out), "--outcome", "spending_pmpm"]) == 0
    err = capsys.readouterr().err
    assert "sim sensitivity: 1/1 outcomes × arms" in err
    table = pd.read_csv(out / "sensitivity" / "sobol_spending_pmpm.csv")
    assert table["seed_share"].between(0, 1).all()
    # 8 design points of 1,000 patients over 3 months: the seed makes all the variance, so the
    # indices fail the checks and no design is recommended
    warnings = (out / "sensitivity" / "warnings.txt").read_text()
    assert "spending_pmpm, arm ffs" in warnings and "barely move this outcome" in warnings
    assert "warning: spending_pmpm, arm ffs" in err
    assert main(["sensitivity", str(out), "--outcome", "spending_pmpm", "--quiet"]) == 0
    assert "sim sensitivity:" not in capsys.readouterr().err
