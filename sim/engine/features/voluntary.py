"""Voluntary contracts: which providers chose to take part, as the monthly table reports it.

A contract may let each provider choose, when it comes into force, whether to take part
(:meth:`sim.engine.payment.base.PaymentModel.participation`; the episode bundle's
``participation = "expected_gain"``: a hospital joins if the reconciliation of its recent
pathways against its new target would have paid it, as hospitals chose when CJR became
voluntary in 2018). The choice itself is the contract's; this feature reports it, on the rows
of the contract's setting and payer, every month the contract is in force: the providers that
decided and those that stayed out, by quartile of their base-period spending per case
relative to every provider's (the gradient the evaluations report: hospitals that spent more
left more). Off unless an arm of the scenario has such a contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from sim.engine.columns import Column
from sim.engine.features.base import Feature

if TYPE_CHECKING:
    from sim.engine.month.care import SettingMonth
    from sim.engine.world import World

#: quartiles of base-period spending relative to every provider's
QUARTILES = 4


def _columns() -> dict[str, Column]:
    out: dict[str, Column] = {}
    for q in range(1, QUARTILES + 1):
        which = {1: " (1 = lowest spending)", QUARTILES: " (highest spending)"}.get(q, "")
        out[f"voluntary_decided_q{q}"] = Column(
            "int64",
            "providers",
            "Providers that chose whether to take part in their voluntary contract (episode "
            "bundle with participation = 'expected_gain'), in quartile "
            f"{q}{which} of base-period spending per case relative to every provider's; 0 "
            "without such a contract in force.",
        )
        out[f"voluntary_declined_q{q}"] = Column(
            "int64",
            "providers",
            f"Of voluntary_decided_q{q}: providers that stayed out (exit share = declined / "
            "decided, summed over the quartiles for the whole).",
        )
    return out


def voluntary(scenario) -> bool:  # scenario: sim.scenario.Scenario
    """Whether any contract of any arm (or switch) of the scenario lets providers choose."""
    for arm in scenario.arms:
        contracts = list(arm.contracts) + [c for sw in arm.switches for c in sw.contracts]
        for c in contracts:
            if getattr(c.params, "participation", "mandatory") != "mandatory":
                return True
    return False


class Voluntary(Feature):
    """Reports providers' choices of voluntary contracts (module docstring)."""

    name = "voluntary"
    COLUMNS: ClassVar[dict[str, Column]] = _columns()
    #: quartiles rank every provider of the run: not split by region
    SHARDABLE = False

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """On when the scenario has a contract providers may choose."""
        return [cls()] if voluntary(world.config) else []

    def record(self, world: World, s: int, care: SettingMonth, by_payer) -> dict[str, np.ndarray]:
        """Each payer's contract in setting ``s``: its providers' choice, by quartile."""
        n_payers = len(world.payers)
        out = {k: np.zeros(n_payers, np.int64) for k in self.COLUMNS}
        for g, payer in enumerate(world.payers):
            chosen = payer.contracts[s].participation()
            if chosen is None:
                continue
            q = chosen.quartile.astype(np.int64)
            counted = q >= 0
            decided = np.bincount(q[counted], minlength=QUARTILES)
            declined = np.bincount(q[counted & ~chosen.joined], minlength=QUARTILES)
            for k in range(QUARTILES):
                out[f"voluntary_decided_q{k + 1}"][g] = decided[k]
                out[f"voluntary_declined_q{k + 1}"][g] = declined[k]
        return out
