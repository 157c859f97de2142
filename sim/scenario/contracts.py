"""``[[arms.contracts]]`` (and a switch's contracts): a payment model with its parameters,
validated once against the payment registry, and the checks of a contract against the world it
is in."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from sim.scenario.common import MAX_MAGNITUDE, WILDCARD, F, numbers_in, too_large

if TYPE_CHECKING:
    from sim.engine.payment.base import ContractParams
    from sim.scenario.scenario import Scenario


class ContractConfig(BaseModel):
    """Which payment model a payer uses for a setting in an arm, with that model's parameters.

    ``setting`` and ``payer`` may be ``"*"`` (all). Later entries override earlier ones.
    """

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    model: str = F(
        ..., "name", "Payment model (see sim.engine.payment: ffs, capitation, bundled, ...)."
    )
    setting: str = F(WILDCARD, "name", "Care setting the contract covers, or '*' for all.")
    payer: str = F(WILDCARD, "name", "Payer whose contract this is, or '*' for all.")

    #: the parameters as the payment model's Params validated them, once, with the contract
    _params: ContractParams = PrivateAttr()

    @model_validator(mode="after")
    def _validate_params(self) -> ContractConfig:
        from sim.engine.payment import REGISTRY

        if self.model not in REGISTRY:
            raise ValueError(
                f"unknown payment model {self.model!r}; allowed: {', '.join(sorted(REGISTRY))}"
            )
        # validate the model-specific parameters now, so errors surface at load time
        for where, value in _non_finite(self.model_extra or {}):
            raise ValueError(
                f"{self.model} contract: {where}: must be a finite number (got {value!r})"
            )
        for key, given in (self.model_extra or {}).items():
            for where, value in numbers_in(given, key):
                if abs(value) > MAX_MAGNITUDE:
                    raise ValueError(f"{self.model} contract: {too_large(where, value)}")
        try:
            self._params = REGISTRY[self.model].Params.model_validate(
                self.model_extra or {}, strict=True
            )
        except ValidationError as exc:
            raise ValueError(
                f"{self.model} contract: " + "; ".join(_describe(e) for e in exc.errors())
            ) from None
        return self

    @property
    def params(self) -> ContractParams:
        """The contract's parameters, validated by its payment model's Params when the contract
        was validated."""
        return self._params


def _non_finite(data: Any, where: str = "") -> Iterator[tuple[str, float]]:
    """(dotted path, value) of every infinite or NaN number in plain data."""
    if isinstance(data, float) and not math.isfinite(data):
        yield where, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _non_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _non_finite(v, f"{where}.{i}" if where else str(i))


def _describe(err: Any) -> str:
    """One error of a payment model's Params, as ``field: message (got value)``."""
    loc = ".".join(str(p) for p in err.get("loc", ()))
    msg = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    elif "input" in err and err.get("type") != "missing":
        shown = repr(err["input"])
        if len(shown) <= 60 and not isinstance(err["input"], dict | list):
            msg += f" (got {shown})"
    return f"{loc}: {msg}" if loc else msg


def check_contract(where: str, c: ContractConfig, sc: Scenario) -> None:
    """A contract against the scenario it is in: its parameters against the world (a contract
    may check them against the condition groups), a pathway scope against the pathway, its
    setting and payer against the scenario's."""
    from sim.engine.payment import REGISTRY

    try:  # a contract may check its parameters against the world (conditions)
        REGISTRY[c.model](c.params, tuple(sc.population.conditions))
    except ValueError as exc:
        raise ValueError(f"{where} ({c.model}): {exc}") from None
    if c.params.admission_review > 0 and not sc.behaviour.admission.enabled:
        raise ValueError(
            f"{where}.admission_review: admission review weighs on the providers' decision to "
            "take a case; set behaviour.admission.enabled = true, or admission_review = 0"
        )
    if getattr(c.params, "scope", None) == "pathway":
        acute = sc.pathway.acute_setting if sc.pathway else None
        if c.setting != acute:
            raise ValueError(
                f"{where}.scope: 'pathway' reconciles a care pathway in its acute "
                f"setting; "
                + (f"set setting = {acute!r}" if acute else "the scenario has no [pathway] table")
            )
    for name in getattr(c.params, "accountable_for", []):
        if name not in sc.settings:
            raise ValueError(
                f"{where}.accountable_for: unknown setting {name!r}; allowed: "
                f"{', '.join(map(repr, sc.settings))}"
            )
        if name == c.setting or c.setting == WILDCARD:
            raise ValueError(
                f"{where}.accountable_for: names the settings besides the contract's own "
                f"(its setting, {c.setting!r}, always counts); give the contract one setting "
                f"and list the others"
            )
    if c.setting != WILDCARD and c.setting not in sc.settings:
        raise ValueError(
            f"{where}.setting: unknown setting {c.setting!r}; allowed: "
            f"'*', {', '.join(map(repr, sc.settings))}"
        )
    if c.payer != WILDCARD and c.payer not in sc.payers:
        raise ValueError(
            f"{where}.payer: unknown payer {c.payer!r}; allowed: "
            f"'*', {', '.join(map(repr, sc.payers))}"
        )
