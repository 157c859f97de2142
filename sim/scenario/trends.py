"""``[trends]``: what moves over time whatever the arm — annual price updates and secular growth
of the intensity of care — so that a reform is measured against a counterfactual that moves,
as published evaluations measure it. Every arm of the scenario has the same trends. Without
the table (or with its rates at 0) prices and practice stay where they start. Demographic
ageing is the life course's (``[life]``: its entries)."""

from __future__ import annotations

from sim.scenario.common import F, Strict


class TrendsConfig(Strict):
    """Annual price updates and intensity growth (applied from the scenario's start)."""

    price_update: float = F(
        0.0,
        "fraction/year",
        "Update of every payment rate each calendar January after the start (fee schedules, "
        "per diems, prices per stay and episode, PMPMs: the payer's rate level), compounding. "
        "Providers' costs are not updated: the update is the rates' change relative to input "
        "costs (e.g. an update set to the Medicare Economic Index less input-price growth), "
        "or a stated nominal rate whose margin effect is then part of the trend. A global "
        "budget's target follows its own annual_update instead.",
        ge=-0.5,
        le=0.5,
    )
    intensity_growth: float = F(
        0.0,
        "fraction/year",
        "Secular growth of the patient-optimal units of new episodes (q_B), compounding "
        "monthly: more care per episode over time, whatever the payment (technology, "
        "practice norms).",
        ge=-0.5,
        le=0.5,
    )

    @property
    def active(self) -> bool:
        """Whether any trend moves."""
        return self.price_update != 0.0 or self.intensity_growth != 0.0
