"""The therapy cap's exceptions as decisions in whole runs: the same bytes from the same seed,
a run split by region agrees with the whole run, and the validation replay's cap arm leaves
the patients the care above the cap that no exception covered."""

from __future__ import annotations

import numpy as np
import pandas as pd
from paths import ROOT

from sim.engine.model import HealthSystemModel
from sim.experiments import shards
from sim.experiments.run import run
from sim.scenario import load_scenario

CASE = ROOT / "validation" / "scenarios" / "therapy_cap.toml"


def _small():
    """The replay small and short: from September 2005, the cap in its fifth month."""
    return load_scenario(
        CASE, ["population.patients=6000", "replications=1", "months=16", "start=2005-09-01"]
    )


def test_the_replay_uses_exceptions_as_decisions():
    sc = _small()
    contract = sc.arms[1].switches[0].contracts[0]
    assert contract.params.exceptions == "decision"
    assert "exceptions" in {f.name for f in HealthSystemModel(sc, "cap").features}


def test_same_seed_same_bytes_and_the_patients_pay_what_no_exception_covered():
    """Two runs of the small replay give identical monthly tables; in the cap arm patients pay
    more out of pocket and Medicare pays less for outpatient therapy than without the cap
    (common random numbers), and nothing of it is denied to no one (no review)."""
    sc = _small()
    a, b = run(sc).monthly, run(sc).monthly
    pd.testing.assert_frame_equal(a, b)
    ot = a[(a["setting"] == "outpatient_therapy") & (a["month"] >= 3)]
    by_arm = ot.groupby("arm")[["oop", "payer_payments", "claims_denied"]].sum()
    assert by_arm.loc["cap", "oop"] > by_arm.loc["no_cap", "oop"]
    assert by_arm.loc["cap", "payer_payments"] < by_arm.loc["no_cap", "payer_payments"]
    assert by_arm["claims_denied"].abs().max() < 1e-6


def test_a_run_split_by_region_agrees_with_the_whole_run():
    """Every decision is about one patient and its own provider: three shards give the whole
    run's monthly rows to rounding."""
    sc = _small()
    pop = sc.population
    base = next(iter(pop.regions.values()))
    regions = {
        k: base.model_copy(update={"share": v}) for k, v in zip("abc", (0.5, 0.3, 0.2), strict=True)
    }
    sc = sc.model_copy(update={"population": pop.model_copy(update={"regions": regions})})
    whole = HealthSystemModel(sc, "cap")
    for _ in range(sc.months):
        whole.step()
    out = shards.run_pair(sc, sc.seed, "cap", 0, 3, backend="thread")
    a, b = pd.DataFrame(whole.rows), pd.DataFrame(out["rows"])
    num = a.select_dtypes("number").columns
    assert np.allclose(b[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-10, atol=1e-6)
