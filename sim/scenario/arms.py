"""``[[arms]]``: the payment designs compared, their policy switches (switch months from dates),
and the checks of arms against the scenario."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from pydantic import field_validator, model_validator

from sim.scenario.common import WILDCARD, F, Strict, check_label, iso_date
from sim.scenario.contracts import ContractConfig, check_contract

if TYPE_CHECKING:
    from sim.scenario.scenario import Scenario


def _matching(contracts: list[ContractConfig], payer: str, setting: str) -> ContractConfig | None:
    """The last of ``contracts`` that covers (payer, setting), or None."""
    found = None
    for c in contracts:
        if c.payer in (WILDCARD, payer) and c.setting in (WILDCARD, setting):
            found = c
    return found


class SwitchConfig(Strict):
    """A policy switch: from ``month`` on, these contracts replace the ones they match."""

    month: int = F(
        ...,
        "month",
        "First month (from 0) under the new contracts; derived from `date` when that is given.",
        ge=1,
    )
    date: dt.date | None = F(
        None,
        "date",
        "Calendar date the new contracts take effect (e.g. 2019-10-01), instead of `month`: "
        "the switch comes at the start of that calendar month, counted from the scenario's "
        "`start`.",
    )
    announced: int | None = F(
        None,
        "month",
        "Month (from 0) the switch is announced, as a final rule is published months before "
        "it takes effect; from then on providers with behaviour.foresight > 0 move toward their "
        "best under the announced rules. Default: the switch month.",
        ge=0,
    )
    description: str = F("", "text", "What the switch represents (e.g. 'PDPM replaces RUG-IV').")
    contracts: list[ContractConfig] = F(
        ...,
        "table",
        "New contracts; each replaces the contract of the (payer, setting) it matches.",
    )

    _date = field_validator("date", mode="before")(iso_date)

    @model_validator(mode="after")
    def _announced_before(self) -> SwitchConfig:
        if self.announced is not None and self.announced > self.month:
            raise ValueError(
                f"announced: month {self.announced} comes after the switch (month {self.month})"
            )
        return self

    @property
    def announcement(self) -> int:
        """The month the switch is announced (its own month unless said earlier)."""
        return self.month if self.announced is None else self.announced


class ArmConfig(Strict):
    """An arm: a payment design (contracts by payer and setting), its policy switches and
    options."""

    name: str = F(..., "name", "Arm name (a column of every output).")
    description: str = F("", "text", "What the arm represents.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_label(v, "arm name")

    contracts: list[ContractConfig] = F(
        ..., "table", "Payment contracts of the arm; later entries override earlier ones."
    )
    switches: list[SwitchConfig] = F(
        [], "table", "Policy switches of the arm, applied at their months (Mesa events)."
    )
    benefit_design: Literal["contract", "payer"] = F(
        "contract",
        "choice",
        "Whose cost sharing patients face: each contract's own (its coinsurance, deductible "
        "and copays on what the contract allows: the payment model's usual benefit design), or "
        "the payer's benefit design (payers.<name>.benefit_design) on the fee-schedule value "
        "of the services, the same in every arm — so arms compare payment models alone.",
    )
    investments: bool = F(
        True,
        "flag",
        "Providers may make the investments their settings offer ([settings.<name>."
        "investments]); false switches the option off (the arm is then identical to a world "
        "without it, patient for patient).",
    )

    @model_validator(mode="after")
    def _switch_order(self) -> ArmConfig:
        months = [w.month for w in self.switches]
        if months != sorted(set(months)):
            raise ValueError("switches: months must be distinct and increasing")
        return self

    @model_validator(mode="after")
    def _cap_liability_is_the_contracts(self) -> ArmConfig:
        contracts = list(self.contracts) + [c for w in self.switches for c in w.contracts]
        deciding = any(getattr(c.params, "exceptions", None) == "decision" for c in contracts)
        if deciding and self.benefit_design == "payer":
            raise ValueError(
                "benefit_design = 'payer' cannot go with a therapy_threshold contract's "
                "exceptions = 'decision': what the patient pays above the cap without an "
                "exception is the contract's benefit design; use benefit_design = 'contract'"
            )
        return self

    def contract_for(self, payer: str, setting: str) -> ContractConfig | None:
        """The contract in force at month 0 for (payer, setting): the last entry that matches."""
        return _matching(self.contracts, payer, setting)

    def switch_for(self, switch: SwitchConfig, payer: str, setting: str) -> ContractConfig | None:
        """The contract a switch puts in force for (payer, setting), or None if unchanged."""
        return _matching(switch.contracts, payer, setting)


def check_arms(sc: Scenario) -> None:
    """At least one arm, names unique; in each arm, switches before the end, every contract
    valid in the scenario (:func:`~sim.scenario.contracts.check_contract`) and every payer
    covered in every setting."""
    names = [a.name for a in sc.arms]
    if not names:
        raise ValueError("arms: at least one arm is needed")
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"arms: names must be unique (repeated: {', '.join(sorted(dup))})")
    for i, arm in enumerate(sc.arms):
        listed = [(f"arms.{i}.contracts.{j}", c) for j, c in enumerate(arm.contracts)]
        for where, c in listed:
            if getattr(c.params, "base_months", None) is not None:
                raise ValueError(
                    f"{where}.base_months: a contract that sets its numbers from the run's "
                    "history can only come in by a switch (arms.<i>.switches), after its "
                    "base months"
                )
        for k, w in enumerate(arm.switches):
            if w.month >= sc.months:
                raise ValueError(
                    f"arms.{i}.switches.{k}.month: {w.month} is not before the end "
                    f"(months = {sc.months})"
                )
            for j, c in enumerate(w.contracts):
                # every window of the run's past the contract reads (its base months, a
                # voluntary contract's decision months) ends by the switch
                for field in ("base_months", "decision_months"):
                    base = getattr(c.params, field, None)
                    if base is not None and base[1] > w.month:
                        raise ValueError(
                            f"arms.{i}.switches.{k}.contracts.{j}.{field}: {list(base)} must "
                            f"end by the switch's month ({w.month})"
                        )
            listed += [
                (f"arms.{i}.switches.{k}.contracts.{j}", c) for j, c in enumerate(w.contracts)
            ]
        for where, c in listed:
            check_contract(where, c, sc)
        for payer in sc.payers:
            for setting in sc.settings:
                if arm.contract_for(payer, setting) is None:
                    raise ValueError(
                        f"arms.{i} ({arm.name}): no contract covers payer {payer!r} in "
                        f"setting {setting!r}"
                    )


# ---------------------------------------------------------------------------------------------
# Switches given as calendar dates


def _month_of(start: Any, date: Any) -> int | None:
    """Months from ``start`` to ``date`` (calendar months), or None when either is unreadable
    (validation then reports the field)."""
    try:
        s = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
        d = date if isinstance(date, dt.date) else dt.date.fromisoformat(str(date))
    except ValueError:
        return None
    return (d.year - s.year) * 12 + (d.month - s.month)


def add_months(start: Any, months: int) -> dt.date:
    """The first day of the calendar month ``months`` after ``start``'s."""
    s = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
    k = s.year * 12 + s.month - 1 + months
    return dt.date(k // 12, k % 12 + 1, 1)


def switch_months(data: Any) -> Any:
    """Switches given as dates get their month, counted from the scenario's start. Where a
    month is given too (``--set arms.0.switches.0.month=30``, a sweep over switch months), the
    month wins and the date moves with it."""
    if not isinstance(data, dict) or not isinstance(data.get("arms"), list):
        return data
    start = data.get("start", dt.date(2025, 1, 1))
    arms = []
    for arm in data["arms"]:
        if isinstance(arm, dict) and isinstance(arm.get("switches"), list):
            switches = []
            for sw in arm["switches"]:
                if isinstance(sw, dict) and sw.get("date") is not None:
                    month = _month_of(start, sw["date"])
                    given = sw.get("month")
                    if isinstance(given, int) and not isinstance(given, bool) and given != month:
                        if month is not None:  # start and date readable: move the date
                            sw = {**sw, "date": add_months(start, given)}
                    elif month is not None:
                        sw = {**sw, "month": month}
                switches.append(sw)
            arm = {**arm, "switches": switches}
        arms.append(arm)
    return {**data, "arms": arms}
