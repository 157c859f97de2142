"""``[supply]``: the supply side beyond intensity: participation per payer, capacity and
congestion, entry and exit."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Literal

from sim.scenario.common import F, Strict


class ParticipationConfig(Strict):
    """Whose patients a provider takes: each month each provider decides, per payer, the share
    of that payer's new patients it accepts. With spare capacity it takes every payer whose
    episodes are worth at least −threshold to it — what its own ended episodes of that payer's
    patients earned it (revenue less variable and adverse-event costs, learnt as
    ``behaviour.selection`` learns it) plus its altruism times the benefit of an episode at its
    style — and none of the others. When its capacity is short (``supply.capacity``), it cuts
    new patients by the excess demand, from the payer worth least to it first. A patient turned
    away tries ``search`` other providers of its region, or goes without."""

    enabled: bool = F(False, "flag", "Switch the mechanism on.")
    threshold: float = F(
        0.0,
        "USD/episode",
        "Expected loss per episode of a payer's patients a provider accepts before it stops "
        "taking that payer's new patients (assumption).",
        ge=0,
    )
    search: int = F(
        1,
        "providers",
        "Other providers of the region a turned-away patient asks before going without care "
        "(assumption).",
        ge=0,
        le=10,
    )


class CapacityConfig(Strict):
    """Capacity and congestion in every setting: each provider can deliver so many service
    units a month (the setting's unit: visits, days). Capacity follows planned demand with a
    lag, as therapist staffing does (``settings.<name>.therapy.staffing``), but expands only
    while the provider makes money and shrinks after a loss. When planned units exceed
    capacity, care is rationed: the provider serves payers' patients in the order it chooses
    (``priority``), a patient served a share r of its planned units waits (1 − r)/r months
    for the rest (what it loses is unmet demand), and new elective patients seek care less as
    the wait at their provider rises."""

    enabled: bool = F(False, "flag", "Switch the mechanism on.")
    initial: float = F(
        1.1,
        "ratio",
        "A provider's capacity when it first has patients: this × its planned units that month "
        "(assumption: 10% slack).",
        gt=0,
        le=100,
    )
    warmup_months: int = F(
        12,
        "months",
        "For the first months of a run capacity is set each month to initial × that month's "
        "planned units: a run starts with no episode under way and providers still learning, "
        "and the market is taken to be in balance before it (assumption).",
        ge=0,
        le=1200,
    )
    adjustment: float = F(
        0.15,
        "fraction/month",
        "Share of the gap between capacity and its target closed each month (hiring and "
        "attrition lags, as therapist staffing; assumption: about six months to adjust).",
        gt=0,
        le=1,
    )
    slack: float = F(
        0.10,
        "fraction",
        "Target capacity = last month's planned units × (1 + slack) (assumption).",
        ge=0,
        le=10,
    )
    margin_response: float = F(
        0.10,
        "fraction",
        "A provider with a negative margin last month does not expand and targets this much "
        "less than its current capacity or its target, whichever is lower (assumption).",
        ge=0,
        le=1,
    )
    priority: Literal["proportional", "payer_value"] = F(
        "payer_value",
        "choice",
        "Whom a provider short of capacity serves first: payer_value — patients of the payer "
        "whose unit of care earns it most at the margin (the payment model's marginal revenue "
        "less marginal cost), the next payer with what is left; proportional — every patient "
        "the same share.",
    )
    wait_elasticity: float = F(
        -0.2,
        "elasticity",
        "Elasticity of elective care seeking to the wait: a new elective patient seeks care "
        "with the usual probability × (1 + wait / wait_reference)^elasticity. Approx.: "
        "demand elasticities to waiting time of about −0.1 to −0.2 for elective surgery "
        "(Martin & Smith 1999, J Public Econ 71:141 [@martin1999]; Gravelle, Smith & Xavier "
        "2003 [@gravelle2003]); an "
        "assumption for other settings.",
        ge=-10,
        le=0,
    )
    wait_reference: float = F(
        1.0, "months", "Reference wait of the care-seeking response.", gt=0, le=120
    )
    max_wait: float = F(
        12.0,
        "months",
        "Longest wait reported (a patient served nothing waits this long).",
        gt=0,
        le=120,
    )
    target: Literal["demand", "price"] = F(
        "demand",
        "choice",
        "What capacity moves toward. demand: planned units × (1 + slack). price: planned units "
        "plus a buffer set by what a unit of capacity earns at the contracts' prices (the "
        "price of a unit to the provider's patients from the pricing interface, less its "
        "marginal cost, by payer, weighed by the provider's members) against its cost "
        "(capacity_cost): the newsvendor's planned units × (1 + demand_cv·z), z the "
        "standard normal quantile of 1 − cost / earnings (at least the median: a provider "
        "keeps capacity for the units it plans), so a higher payer price expands capacity and "
        "a lower one shrinks it (docs/ODD.md). After a loss, both expand no further.",
    )
    capacity_cost: float = F(
        0.1,
        "× marginal_cost",
        "target = price: the cost of holding one unit of capacity for a month, as a share of "
        "the setting's marginal cost of a unit (assumption: with demand_cv = 0.1, a unit "
        "earning its marginal cost × 0.6 gets about the 10% buffer of target = demand).",
        ge=0,
        le=100,
    )
    demand_cv: float = F(
        0.1,
        "fraction",
        "target = price: the month-to-month coefficient of variation of a provider's planned "
        "units that the buffer insures against (assumption; about 1/√(patients in care) for "
        "a provider with a hundred).",
        ge=0,
        le=10,
    )
    ration_admissions: bool = F(
        False,
        "flag",
        "With behaviour.admission: a provider short of capacity weighs the shadow price of "
        "capacity — the value to it of the units a new case would displace (last month's "
        "rationed units: their price less marginal cost plus its altruism × their marginal "
        "benefit to the patients who lost them) × the case's units — against the case's "
        "value, so congested providers take fewer discretionary cases first.",
    )


class MarketConfig(Strict):
    """Entry and exit: a provider whose margin stays below ``exit_margin`` for ``exit_months``
    in a row leaves (at most one per region and setting a month, the last of a region stays);
    its members move to the other providers of its region, their episodes continuing there.
    Where the providers of a region keep a margin above ``entry_margin`` for ``entry_months``
    in a row, an entrant appears: one of a reserve of potential entrants drawn with the
    setting's distribution of characteristics (altruism, speed, ownership) in each region; it
    starts with the region's mean styles and takes a fair share of the region's members who
    are not in an episode. For-profit providers exit and enter ``for_profit_speed`` times
    faster (for-profit skilled nursing facilities responded more strongly to past payment
    changes, a finding whose source is still to be identified; SNF volume responds mostly via
    entry and exit [@white2011])."""

    enabled: bool = F(False, "flag", "Switch the mechanism on.")
    exit_margin: float = F(
        -0.05,
        "fraction of revenue",
        "A month's margin (margin / revenue) below this counts toward exit (assumption).",
        ge=-10,
        le=10,
    )
    exit_months: int = F(
        12, "months", "Months in a row below exit_margin before a non-profit exits.", ge=1, le=600
    )
    entry_margin: float = F(
        0.10,
        "fraction of revenue",
        "A region's margin (its providers' margin / revenue) above this counts toward entry "
        "(assumption).",
        ge=-10,
        le=10,
    )
    entry_months: int = F(
        12,
        "months",
        "Months in a row above entry_margin before a non-profit enters the region.",
        ge=1,
        le=600,
    )
    for_profit_speed: float = F(
        2.0,
        "ratio",
        "For-profit providers exit and enter after exit_months / this and entry_months / this "
        "months (rounded up; assumption, cf. [@godager2013]).",
        ge=1,
        le=100,
    )
    reserve: float = F(
        0.25,
        "fraction",
        "Potential entrants per region, as a share of its providers (at least one).",
        gt=0,
        le=10,
    )


class SupplyConfig(Strict):
    """The supply side beyond intensity: whom providers accept, how much they can do, who
    stays in the market (RAND's PADSIM margins; White et al. 2016 [@white2016]). Each part is off by
    default, and off reproduces the model without it."""

    participation: ParticipationConfig = F(
        ParticipationConfig(), "table", "Whose patients a provider takes, per payer."
    )
    capacity: CapacityConfig = F(CapacityConfig(), "table", "Capacity and congestion.")
    market: MarketConfig = F(MarketConfig(), "table", "Entry and exit of providers.")
    settings: list[str] = F(
        [], "names", "Settings the supply mechanisms act in (empty: every setting)."
    )

    def applies(self, setting: str) -> bool:
        """Whether the mechanisms act in ``setting``."""
        return not self.settings or setting in self.settings

    def reserve(self, setting: str, counts: list[int]) -> list[int]:
        """Potential entrants per region for a setting with ``counts`` providers per region
        (none unless ``market`` is on there)."""
        if not (self.market.enabled and self.applies(setting)):
            return [0] * len(counts)
        return [max(1, math.ceil(self.market.reserve * c)) for c in counts]


def check_supply(supply: SupplyConfig, settings: Collection[str]) -> None:
    """The settings the supply mechanisms act in are the scenario's."""
    for i, name in enumerate(supply.settings):
        if name not in settings:
            raise ValueError(
                f"supply.settings.{i}: unknown setting {name!r}; allowed: "
                f"{', '.join(map(repr, settings))}"
            )
