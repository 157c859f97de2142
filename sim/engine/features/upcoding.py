"""Coded case mix: what payment models see of patients' risk and function, and coding as a
decision.

Payment models and risk adjustment see case mix as coded, not as it is. With
``behaviour.upcoding`` on, providers code their patients' risk scores higher than they are;
health is untouched. Off, the coded case mix is the true one: the same arithmetic with no
provider upcoding (a null object, :class:`Coding`, so the engine never asks whether it is on).

- ``mode = "fixed"``: providers that upcode (all, or for-profit ones only) code risk scores
  ``risk_inflation`` higher and function ``function_shift`` points lower, whatever their
  payers' contracts.
- ``mode = "decision"`` (:class:`CodingDecisions`): each provider chooses the relative coding
  intensity ``k`` of each payer's risk scores (coded = true × (1 + k), 0 ≤ k ≤ k_max) from what
  the payer's contract pays for coding (``PaymentModel.coding``, the pricing interface's answer
  to "what does coding every risk score 1% higher earn", net of the contract's terms:
  :func:`sim.engine.payment.terms.coding_margin`), against a convex cost of coding, ``κ·V·k²/2``
  per patient-month in care (the records it codes from: κ ``coding_cost``, V the fee-schedule
  value of a month of patient-optimal care at the provider, :func:`care_value`). With ``D``
  what coding 1% higher earns ×100 this month, at the current ``k``, and ``n`` the provider's
  patients of the payer in care, profit ``R(k) − n·κ·V·k²/2`` is highest at

      k* = D / ((1 + k)·n·κ·V)         (clipped to [0, k_max])

  — exact for a risk-adjusted per-member payment, whose ``D/(1 + k)`` does not move with ``k``
  (``pmpm·rate·Σ true risk`` of the members), and a fixed point reached by the partial
  adjustment below for a case-mix price whose weights step with risk. Under fee-for-service
  without risk adjustment ``D = 0`` and providers do not code. Coding starts at ``k = 0`` and
  each month moves a share λ (the provider's adaptation speed; 1 in ``optimal`` mode) of the way
  to ``k*`` (a provider with no patient of the payer in care this month keeps its ``k``); the
  cost is booked as a provider cost (``coding_cost``). Function is coded as it is in this mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from sim.engine.columns import Column
from sim.engine.features.base import Feature
from sim.engine.month import incentives
from sim.engine.payment import PaymentModel, terms

if TYPE_CHECKING:
    from sim.engine.month.care import SettingMonth
    from sim.engine.settings import CareSetting
    from sim.engine.world import World
    from sim.scenario import UpcodingConfig


class Coding:
    """Which providers upcode, per setting, and the coded case mix of their patients (with
    ``mode = "decision"``, each provider's coding intensity ``k`` per payer, set by
    :class:`CodingDecisions`)."""

    def __init__(
        self, cfg: UpcodingConfig, for_profit: list[np.ndarray], n_payers: int = 1
    ) -> None:
        self.cfg = cfg
        #: coding intensity is each provider's decision per payer (otherwise fixed)
        self.decision = cfg.enabled and cfg.mode == "decision"
        #: per setting, per provider: codes its patients as sicker than they are (may code,
        #: in decision mode)
        self.upcodes = [
            np.array([cfg.enabled and (bool(fp) or not cfg.for_profit_only) for fp in fps])
            for fps in for_profit
        ]
        #: per setting: some provider upcodes (otherwise coded = true, with no arithmetic)
        self.any = [bool(u.any()) for u in self.upcodes]
        #: decision mode, per setting: coding intensity k (providers × payers)
        self.k = [np.zeros((np.size(fps), n_payers)) for fps in for_profit] if self.decision else []

    def risk_factor(self, s: int, provider: np.ndarray, g: int | np.ndarray = 0) -> np.ndarray:
        """Coded / true risk score for patients of these providers (and payer ``g``: one
        number or one per provider; 1 without upcoding)."""
        if not self.any[s]:
            return np.ones(np.shape(provider))
        if self.decision:
            return 1.0 + self.k[s][provider, g]
        return 1.0 + self.cfg.risk_inflation * self.upcodes[s][provider]

    def panel_factor(self, s: int, n_providers: int) -> np.ndarray:
        """Coded / true risk of every provider's members (rows) of each payer (columns; one
        column, the same for every payer, in fixed mode)."""
        if self.decision and self.any[s]:
            return 1.0 + self.k[s]
        return self.risk_factor(s, np.arange(n_providers))[:, None]

    def coded_risk(
        self, s: int, provider: np.ndarray, risk: np.ndarray, g: int | np.ndarray = 0
    ) -> np.ndarray:
        """Risk scores as coded by these providers for payer ``g`` (float64): ``risk ×
        risk_factor``; without upcoding in the setting, the true scores (× 1.0 exactly) with no
        factor gathered."""
        if not self.any[s]:
            return risk.astype(np.float64)
        return risk * self.risk_factor(s, provider, g)

    def function(self, s: int, provider: np.ndarray, function: np.ndarray) -> np.ndarray:
        """Functional status as coded by these providers (lower than true when upcoding in
        fixed mode; the true values themselves, not a copy, when none of the setting's
        providers upcodes or coding is a decision about risk scores)."""
        if not self.any[s] or self.decision:
            return function
        return np.maximum(function - self.cfg.function_shift * self.upcodes[s][provider], 0.0)


def care_value(setting: CareSetting, region: np.ndarray) -> np.ndarray:
    """The scale against which the cost of coding is set, per provider (of ``region``): the
    fee-schedule value of a month of patient-optimal care at risk score 1, ``optimal_units ×
    the fee per unit`` of its region (payer rate level 1). A yardstick, not a price: it does
    not move with the contracts."""
    return setting.cfg.optimal_units * setting.fee_per_unit[np.asarray(region, np.int64)]


def coding_revenue(world: World, s: int, g: int) -> np.ndarray:
    """What coding every risk score 1% higher earns each provider of setting ``s`` under payer
    ``g``'s contract this month, ×100 (USD per unit of relative coding intensity): the
    contract's answer for its patients in care — their month's units and cases at the
    contract's prices, where they stood at the month's start — and its members
    (:meth:`PaymentModel.coding`), net of the contract's terms (:func:`terms.coding_margin`)."""
    contract = world.contract(s, g)
    panel = world.providers[s].panels[g]
    if type(contract).coding is PaymentModel.coding:
        # the model's own payment does not read risk scores: only the terms may
        return terms.coding_margin(contract.params, None, np.zeros(0, np.int64), panel)
    care = world.month[s]
    b = care.by_payer[g]
    rows = np.arange(b.start, b.stop)[care.sought[b]]
    pos = incentives.month_position(world, s, g, rows, contract)
    revenue = contract.coding(pos, care.service_units[rows].astype(np.int64), panel)
    return terms.coding_margin(contract.params, revenue, pos.provider, panel)


class CodingDecisions(Feature):
    """Each provider's coding intensity per payer, chosen from what the payer's contract pays
    for coding against its cost (module docstring)."""

    name = "coding"
    SHARDABLE = True
    COLUMNS: ClassVar[dict[str, Column]] = {
        "coding_cost": Column("float64", "USD", "What providers spent on coding the payer's risk scores higher this month, κ·V·k²/2 per patient-month in care (behaviour.upcoding.mode = decision; included in provider_cost; 0 otherwise)."),
        "coding_return": Column("float64", "USD", "What coding every risk score of the payer's patients in care and members 1% higher would have earned the providers this month under the payer's contract and its terms (PaymentModel.coding; mode decision): 0 where payment does not follow coded risk."),
    }  # fmt: skip

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """On with ``behaviour.upcoding.enabled`` and ``mode = "decision"``."""
        return [cls(world)] if world.coding.decision else []

    def __init__(self, world: World) -> None:
        cfg = world.behaviour.upcoding
        self.k_max = cfg.max_risk_inflation
        #: per setting, per provider: κ·V, the cost of coding a patient-month at k = 1 (× k²/2)
        self.kappa = [
            cfg.coding_cost * care_value(st, p.region)
            for st, p in zip(world.settings, world.providers, strict=True)
        ]
        #: per setting: this month's patients in care and cost of coding (providers × payers;
        #: computed once the month's care is known), and what coding 1% higher earns (×100)
        self._month = [-1] * len(world.settings)
        self._in_care = [np.zeros_like(k) for k in world.coding.k]
        self._cost = [np.zeros_like(k) for k in world.coding.k]
        self._revenue = [np.zeros_like(k) for k in world.coding.k]

    def _costs(self, world: World, s: int) -> np.ndarray:
        """This month's cost of coding (providers × payers), at the intensities in force."""
        if self._month[s] != world.month_number:
            care = world.month[s]
            k = world.coding.k[s]
            n_prov, n_payers = k.shape
            key = care.provider[care.sought].astype(np.int64) * n_payers + care.payer[care.sought]
            n = np.bincount(key, minlength=n_prov * n_payers).reshape(n_prov, n_payers)
            self._in_care[s] = n.astype(np.float64)
            self._cost[s] = 0.5 * self.kappa[s][:, None] * k * k * n
            self._month[s] = world.month_number
        return self._cost[s]

    def provider_cost(self, world: World, s: int) -> np.ndarray | None:
        """The month's cost of coding per provider."""
        return self._costs(world, s).sum(axis=1)

    def cost_by_payer(self, world: World, s: int) -> np.ndarray | None:
        """The same cost, by the payer whose patients were coded."""
        return self._costs(world, s).sum(axis=0)

    def record(self, world: World, s: int, care: SettingMonth, by_payer) -> dict[str, np.ndarray]:
        """The month's cost of coding and what coding 1% higher earns, by payer."""
        for g in range(world.n_payers):
            self._revenue[s][:, g] = coding_revenue(world, s, g)
        return {
            "coding_cost": self._costs(world, s).sum(axis=0),
            "coding_return": 0.01 * self._revenue[s].sum(axis=0),
        }

    def after_records(self, world: World) -> None:
        """Coding intensities move toward their best (module docstring); the panels' coded
        risk follows."""
        coding = world.coding
        for s, k in enumerate(coding.k):
            providers = world.providers[s]
            cost = self._in_care[s] * self.kappa[s][:, None]
            best = np.divide(self._revenue[s] / (1.0 + k), cost, out=k.copy(), where=cost > 0)
            best = np.clip(best, 0.0, self.k_max) * coding.upcodes[s][:, None]
            before = 1.0 + k
            if world.optimal:
                k[:] = best
            else:
                k += providers.speed[:, None] * (best - k)
            # the members' coded risk follows (what build_panels would count, up to rounding)
            for g, pn in enumerate(providers.panels):
                pn.risk_sum[:] *= (1.0 + k[:, g]) / before[:, g]
