"""Where the therapy cap's savings come from in the model: denials, deterrence, the patient's bill.

Runs the validation case ``therapy_cap`` (validation/scenarios/therapy_cap.toml, the world's
posterior medians) arm by arm under common random numbers, and splits the fall in Medicare
spending on outpatient therapy (``spending``: payer payments and the payer's adverse-event costs)
in each calendar year after the cap by what happened to each patient that year in the ``cap``
arm: its provider requested an exception and it was denied (the *denial* channel of Gandhi &
Shi); it was taken over the cap and its provider asked for none (*deterrence*: stopped at the cap
without trying); an exception was approved; it never reached the cap (care not sought because
of the cap, among others: *deterrence* at care seeking). Savings are per patient, the no-cap
arm's spending less the cap arm's, summed by group; the groups add up to the whole.

    PYTHONPATH=. python scripts/therapy_cap_channels.py [replicates] [years after 2005]

A diagnostic of the mechanism, not a validation figure: ``sim validate`` gives that.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from sim.engine.features.exceptions import CapExceptions
from sim.engine.model import HealthSystemModel
from sim.engine.payment.therapy_threshold import COVERED, UNDECIDED
from sim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("denied", "not_requested", "approved", "below_cap")


def _spending(world, s: int, adverse: bool = True) -> np.ndarray:
    """Per patient: what the payer spent on it in setting ``s`` this month (its payments for
    claims, and with ``adverse`` its share of adverse-event costs, as ``spending`` counts)."""
    care = world.month[s]
    paid = care.paid
    out = np.zeros(world.population.n)
    claims = paid.revenue - paid.oop
    np.add.at(out, care.patients, claims + paid.ae_payer if adverse else claims)
    return out


def _watch(model, s: int, flags: dict[str, np.ndarray]) -> None:
    """Record, per patient, this year's exception decisions in the cap arm."""
    feature = next(f for f in model.world.hooks.features if isinstance(f, CapExceptions))
    decide = feature.after_care

    def watched(world, setting, care):
        if setting != s:
            decide(world, setting, care)
            return
        contracts = [p.contracts[s] for p in world.payers]
        n = world.population.n
        before = [
            c.status(np.arange(n)).copy() if hasattr(c, "status") else None for c in contracts
        ]
        cost = care.extra_cost.copy()
        decide(world, setting, care)
        asked = np.zeros(n, bool)
        asked[care.patients[care.extra_cost > cost]] = True
        for c, b in zip(contracts, before, strict=True):
            if b is None:
                continue
            after = c.status(np.arange(n))
            new = (b == UNDECIDED) & (after != UNDECIDED)
            flags["approved"] |= new & (after == COVERED)
            flags["denied"] |= new & (after != COVERED) & asked
            flags["not_requested"] |= new & (after != COVERED) & ~asked

    feature.after_care = watched


def main(replicates: int = 5, years: int = 3) -> None:
    sc = load_scenario(
        ROOT / "validation" / "scenarios" / "therapy_cap.toml", [f"months={36 + 12 * years}"]
    )
    s = next(i for i, name in enumerate(sc.settings) if name == "outpatient_therapy")
    # by year: the groups, the no-cap arm's spending; its claims alone, the fall in them; the
    # fall in claims by group
    totals = np.zeros((years, 2 * len(GROUPS) + 3))
    for r in range(replicates):
        base = HealthSystemModel(sc, "no_cap", replicate=r)
        cap = HealthSystemModel(sc, "cap", replicate=r)
        n = base.world.population.n
        flags = {k: np.zeros(n, bool) for k in GROUPS[:3]}
        _watch(cap, s, flags)
        saved = np.zeros(n)
        spent = np.zeros(n)
        claims = np.zeros(2)
        claims_saved = np.zeros(n)
        for month in range(sc.months):
            base.step()
            cap.step()
            if month < 36:
                continue
            a, b = _spending(base.world, s), _spending(cap.world, s)
            saved += a - b
            spent += a
            ca, cb = _spending(base.world, s, False), _spending(cap.world, s, False)
            claims += [ca.sum(), cb.sum()]
            claims_saved += ca - cb
            if (month - 35) % 12 == 0:
                y = (month - 36) // 12
                reached = flags["approved"] | flags["denied"] | flags["not_requested"]
                groups = [flags["denied"], flags["not_requested"], flags["approved"], ~reached]
                totals[y, :4] += [saved[g].sum() for g in groups]
                totals[y, 4] += spent.sum()
                totals[y, 5:7] += [claims[0], claims[0] - claims[1]]
                totals[y, 7:] += [claims_saved[g].sum() for g in groups]
                claims[:] = 0.0
                claims_saved[:] = 0.0
                saved[:] = 0.0
                spent[:] = 0.0
                for f in flags.values():
                    f[:] = False
    for y in range(years):
        total = totals[y, :4].sum()
        share = ", ".join(
            f"{k} {v / total:+.0%}" for k, v in zip(GROUPS, totals[y, :4], strict=True)
        )
        print(
            f"{2006 + y}: spending {-total / totals[y, 4]:+.2%} against no cap "
            f"(saved ${total:,.0f} of ${totals[y, 4]:,.0f}); shares of the savings: {share}; "
            f"claims paid alone (no adverse-event costs) {-totals[y, 6] / totals[y, 5]:+.2%}, "
            "by group: "
            + ", ".join(
                f"{k} {v / totals[y, 6]:+.0%}" for k, v in zip(GROUPS, totals[y, 7:], strict=True)
            )
        )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
