"""Capitation: a fixed, risk-adjusted amount per enrolled member per month (PMPM).

Paid whether or not care is used, so a unit of care earns nothing at the margin and the
provider bears the cost of adverse events [@ellis1986; @medpac2024]. Risk adjustment multiplies
the PMPM by the member's risk score (normalised to mean 1.0, like CMS-HCC scores).

Three optional terms share the provider's risk (MODEL.md), each off by default:

- **stop-loss** (reinsurance): the payer pays ``stop_loss_share`` of each member's cost of
  care (the provider's cost of the services: marginal cost × units plus what features add)
  above ``stop_loss_attachment`` in a calendar year, month by month as the cost accrues (as a
  reconciliation of the member's claim);
- **risk corridors**: each December, with the provider's cost of care over the year ``A`` (net
  of stop-loss recoveries) and its expected cost ``T`` = ``corridor_target`` × the year's
  PMPM revenue, the payer pays ``corridor_share`` of ``A − T·(1 + band)`` when positive and
  the provider repays ``corridor_share`` of ``T·(1 − band) − A`` when positive (ACA and Part D
  corridors share losses and gains beyond bands the same way);
- **quality bonus**: each December, ``quality_bonus`` × the year's PMPM revenue to providers
  whose adverse events per treated patient-month over the year are at most
  ``quality_max_adverse_rate`` (every provider when no gate is set).

At the margin the PMPM earns nothing; stop-loss pays back ``stop_loss_share`` of a unit's cost
for members above the attachment point and corridors share cost beyond the bands: the closed
form ignores both (they bind for few members and providers), learning sees the realised
recoveries of its patients.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sim.engine.payment.base import Claims, ContractParams, Panel, PaymentModel, Settlement
from sim.engine.payment.prices import CodingRevenue, Position


class CapitationParams(ContractParams):
    """Parameters of a capitation contract: the PMPM at risk score 1."""

    pmpm: float = Field(
        ...,
        ge=0,
        description="Payment per member per month at risk score 1.",
        json_schema_extra={"unit": "USD/member-month"},
    )
    risk_adjusted: bool = Field(
        True,
        description="Multiply the PMPM by each member's risk score.",
        json_schema_extra={"unit": "flag"},
    )
    coinsurance: float = Field(
        0.0,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Patient share of claims (none under capitation).",
    )
    deductible_applies: bool = Field(
        False,
        json_schema_extra={"unit": "flag"},
        description="No deductible applies to capitated care.",
    )
    adverse_event_liability: float = Field(
        1.0,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Share of adverse-event cost borne by the provider (capitated: all).",
    )
    stop_loss_attachment: float | None = Field(
        None,
        ge=0,
        description="Stop-loss: a member's cost of care in a calendar year above which the "
        "payer reinsures the provider; none: no stop-loss.",
        json_schema_extra={"unit": "USD/member-year"},
    )
    stop_loss_share: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Stop-loss: share of the cost above the attachment point the payer pays.",
        json_schema_extra={"unit": "fraction"},
    )
    corridor_band: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Risk corridors: half-width of the band around the expected cost within "
        "which the provider keeps all gains and losses (0.03: ±3%); none: no corridors.",
        json_schema_extra={"unit": "fraction"},
    )
    corridor_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Risk corridors: share of gains and losses beyond the band the payer takes "
        "on (pays for losses, recovers from gains).",
        json_schema_extra={"unit": "fraction"},
    )
    corridor_target: float = Field(
        1.0,
        gt=0,
        le=2,
        description="Risk corridors: expected cost of care as a share of PMPM revenue.",
        json_schema_extra={"unit": "fraction"},
    )
    quality_bonus: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Quality bonus: share of the year's PMPM revenue paid each December to "
        "providers that meet the quality gate.",
        json_schema_extra={"unit": "fraction"},
    )
    quality_max_adverse_rate: float | None = Field(
        None,
        ge=0,
        description="Quality gate of the bonus: adverse events per treated patient-month over "
        "the year at most this; none: every provider qualifies.",
        json_schema_extra={"unit": "events/patient-month"},
    )


def stop_loss(before: np.ndarray, cost: np.ndarray, attachment: float, share: float) -> np.ndarray:
    """Reinsurance of the month's ``cost`` of members whose cost so far this year is
    ``before``: ``share`` of the part above ``attachment``."""
    above = np.maximum(before + cost - attachment, 0.0) - np.maximum(before - attachment, 0.0)
    return share * above


def corridor(actual: np.ndarray, target: np.ndarray, band: float, share: float) -> np.ndarray:
    """What the payer pays (negative: recovers) under risk corridors, given the providers'
    actual and expected cost of care."""
    loss = np.maximum(actual - target * (1.0 + band), 0.0)
    gain = np.maximum(target * (1.0 - band) - actual, 0.0)
    return share * (loss - gain)


class Capitation(PaymentModel):
    """A risk-adjusted payment per member per month, whatever is used."""

    name = "capitation"
    cares_for_members = True
    Params = CapitationParams
    summary = "pays a risk-adjusted amount per member per month, whatever is used"

    def marginal_revenue(
        self, fee_per_unit: np.ndarray | float, rate_multiplier: float = 1.0
    ) -> float:
        """Zero: the PMPM does not move with units."""
        return 0.0

    params: CapitationParams

    def __init__(self, params: CapitationParams, condition_names: tuple[str, ...] = ()) -> None:
        super().__init__(params, condition_names)
        prm = params
        self._shares_risk = (
            prm.stop_loss_attachment is not None
            or prm.corridor_band is not None
            or prm.quality_bonus > 0
        )
        self._year: int | None = None
        self._member_cost = np.zeros(0)  # per patient number: cost of care so far this year
        self._revenue = np.zeros(0)  # per provider, this year: PMPM revenue
        self._cost = np.zeros(0)  # ... cost of care net of stop-loss recoveries
        self._events = np.zeros(0)
        self._treated = np.zeros(0)

    def coding(self, position: Position, units: np.ndarray, panel: Panel) -> CodingRevenue:
        """The PMPM follows the members' coded risk: ``pmpm·rate·Σ coded risk`` per unit of
        relative coding (risk-adjusted); nothing when not risk-adjusted."""
        per = panel.risk_sum * (self.params.pmpm * panel.rate_multiplier)
        if not self.params.risk_adjusted:
            per = per * 0.0
        return CodingRevenue(np.zeros(position.size), per)

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """No claim amounts; PMPM × members' risk (coded) × rate level per provider as a lump;
        with stop-loss, corridors or a quality bonus, their payments (module docstring)."""
        base = panel.risk_sum if self.params.risk_adjusted else panel.members
        pmpm = base * (self.params.pmpm * panel.rate_multiplier)
        if not self._shares_risk:
            return Settlement(allowed=claims.fee_value * 0.0, lump=pmpm)
        return self._settle_shared(claims, panel, pmpm)

    def _settle_shared(self, claims: Claims, panel: Panel, pmpm: np.ndarray) -> Settlement:
        prm = self.params
        n_prov = panel.members.size
        assert claims.cost is not None and claims.patient is not None
        if self._year != claims.year or self._revenue.size != n_prov:
            self._year = claims.year
            self._member_cost[:] = 0.0
            self._revenue = np.zeros(n_prov)
            self._cost = np.zeros(n_prov)
            self._events = np.zeros(n_prov)
            self._treated = np.zeros(n_prov)
        prov = claims.provider.astype(np.int64)
        patient = np.asarray(claims.patient, np.int64)
        cost = np.asarray(claims.cost, np.float64)
        recovered = np.zeros(cost.size)
        if prm.stop_loss_attachment is not None:
            if patient.size and patient.max() >= self._member_cost.size:
                grown = np.zeros(int(patient.max()) + 1)
                grown[: self._member_cost.size] = self._member_cost
                self._member_cost = grown
            before = self._member_cost[patient]
            recovered = stop_loss(before, cost, prm.stop_loss_attachment, prm.stop_loss_share)
            self._member_cost[patient] = before + cost
        self._revenue += pmpm
        self._cost += np.bincount(prov, cost - recovered, minlength=n_prov)
        treated = np.asarray(claims.visits) > 0
        self._treated += np.bincount(prov[treated], minlength=n_prov)
        if claims.adverse is not None:
            events = np.asarray(claims.adverse, bool) & treated
            self._events += np.bincount(prov[events], minlength=n_prov)
        lump = pmpm
        if claims.month_of_year == 12:
            lump = pmpm + self.settle_year()
        return Settlement(allowed=claims.fee_value * 0.0, lump=lump, adjustment=recovered)

    def settle_year(self) -> np.ndarray:
        """December: risk-corridor payments and quality bonuses per provider for the year."""
        prm = self.params
        pay = np.zeros(self._revenue.size)
        if prm.corridor_band is not None:
            target = prm.corridor_target * self._revenue
            pay += corridor(self._cost, target, prm.corridor_band, prm.corridor_share)
        if prm.quality_bonus > 0:
            met = np.ones(pay.size, bool)
            if prm.quality_max_adverse_rate is not None:
                rate = np.divide(
                    self._events, self._treated, out=np.zeros(pay.size), where=self._treated > 0
                )
                met = rate <= prm.quality_max_adverse_rate
            pay += np.where(met, prm.quality_bonus * self._revenue, 0.0)
        return pay
