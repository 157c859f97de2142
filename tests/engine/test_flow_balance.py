"""Patient flows between the settings of a care pathway balance exactly, every month."""

from __future__ import annotations

import pytest
from paths import ROOT

from sim.experiments.run import run
from sim.scenario import load_scenario

PATHWAY_SCENARIOS = [
    p
    for p in sorted((ROOT / "scenarios").glob("*.toml"))
    if "[pathway]" in p.read_text(encoding="utf-8")
]


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.name) for p in PATHWAY_SCENARIOS],
)
def test_every_discharge_goes_home_or_is_a_referral(path):
    """Acute discharges = discharges home + referrals into the destinations, per month and
    payer; a referral a destination turns away (its admission decision) is a declined episode
    there, so it is counted with the referrals (the destinations take patients only by
    referral, so every one of their declined episodes is a referral)."""
    full = load_scenario(path)  # dated switches have their month once loaded
    last = max((w.month for a in full.arms for w in a.switches), default=0)
    sc = load_scenario(path, ["population.patients=20000", f"months={last + 3}"])
    m = run(sc).monthly
    keys = ["arm", "replicate", "month", "payer"]
    acute = m[m["setting"] == sc.pathway.acute_setting].set_index(keys)
    destinations = list(sc.pathway.destinations)
    assert all(sc.settings[d].need_probability == 0 for d in destinations)
    dest = m[m["setting"].isin(destinations)]
    into = (dest["referrals_in"] + dest["episodes_declined"]).groupby([dest[k] for k in keys]).sum()
    gap = acute["discharges"] - acute["discharges_home"] - into.reindex(acute.index, fill_value=0)
    assert (gap == 0).all(), gap[gap != 0].head(10).to_dict()
