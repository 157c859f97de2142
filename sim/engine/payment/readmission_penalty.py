"""A hospital readmission penalty (the Hospital Readmissions Reduction Program, HRRP).

The hospital is paid a case-mix price per stay (as :mod:`sim.engine.payment.bundled`, a DRG),
reduced by its penalty rate for the year. Each calendar year the rate is set from the stays and
readmissions of the preceding ``performance_years`` years (HRRP: three), hospital by hospital:

    excess readmission ratio  ERR_h = O_h / E_h,      E_h = ρ · R_h,   ρ = Σ O / Σ R
    penalty rate              min(cap, share · max(ERR_h − 1, 0))

``O_h`` are the hospital's readmissions (admissions that are readmissions, in a care pathway's
acute setting), ``R_h`` the sum of the risk scores of its stays (the risk-adjusted expectation:
a hospital with sicker patients is expected to readmit more), ``ρ`` the readmissions per unit
of risk of all hospitals under the contract, and ``share`` the share of the hospital's base
payments from the targeted conditions (HRRP: the penalty is the excess over the targeted
conditions weighted by their payments, capped at 3% of all base payments; CMS, 42 CFR 412.154
[@cfr_412_154]).
In the first year there is no performance period and no penalty (nor before
``first_penalty_year``: HRRP's performance periods began before its first penalties).

At the margin a stay earns nothing more with its length (as a DRG); the penalty works on the
hospital's revenue a year later, not on a unit, so the closed form of the length of stay does
not see it. What it sees is a price on readmissions (:meth:`ReadmissionPenalty.readmission_margin`):
for a penalised hospital below the cap, one more readmission raises its rate by
``share / E_h`` in each of the ``performance_years`` penalty years it is counted in, each
applied to a year's base payments ``B_h``: ``share · B_h / E_h`` per readmission with ``E_h``
and ``B_h`` per year (from the last performance period; 0 for a hospital not penalised or at
the cap; the hospital's own effect on the national rate ρ, of the order of one over the number
of hospitals, is left out). Features with a lever on readmissions (investments in follow-up
after discharge) weigh it.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sim.engine.payment.base import Claims, Panel, Settlement
from sim.engine.payment.bundled import Bundled, BundledParams
from sim.engine.payment.prices import Position, Prices


def penalty_rates(
    readmissions: np.ndarray,
    risk_of_stays: np.ndarray,
    cap: float,
    share: float,
    totals: tuple[float, float] | None = None,
) -> np.ndarray:
    """Each hospital's penalty rate from its readmissions ``O_h`` and the risk of its stays
    ``R_h`` over the performance period (module docstring); 0 where it had no stays.
    ``totals``: the national ``(ΣO, ΣR)`` when the hospitals given are not all of them (a
    shard of a run); default: their own sums."""
    if totals is None:
        totals = (float(readmissions.sum()), float(risk_of_stays.sum()))
    total_readmissions, total_risk = totals
    if total_risk <= 0:
        return np.zeros(risk_of_stays.size)
    rho = total_readmissions / total_risk
    expected = rho * risk_of_stays
    err = np.divide(readmissions, expected, out=np.ones(expected.size), where=expected > 0)
    return np.minimum(cap, share * np.maximum(err - 1.0, 0.0))


class ReadmissionPenaltyParams(BundledParams):
    """Parameters of a per-stay price with a readmission penalty (HRRP)."""

    penalty_cap: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Largest payment reduction, as a share of base payments (HRRP: 3% from "
        "fiscal year 2015).",
        json_schema_extra={"unit": "fraction"},
    )
    targeted_share: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of the hospital's base payments from the targeted conditions (the "
        "weight of the excess readmission ratio in the penalty).",
        json_schema_extra={"unit": "fraction"},
    )
    performance_years: int = Field(
        3,
        ge=1,
        le=10,
        description="Calendar years of stays and readmissions the penalty rate is set from "
        "(HRRP: three); fewer in the contract's first years.",
        json_schema_extra={"unit": "years"},
    )
    first_penalty_year: int | None = Field(
        None,
        ge=1900,
        le=2200,
        description="Calendar year of the first penalties (HRRP: fiscal year 2013, from "
        "October 2012); earlier years only record stays and readmissions. None: from the "
        "contract's second year.",
        json_schema_extra={"unit": "year"},
    )
    coinsurance: float = Field(
        0.0,
        ge=0,
        le=1,
        json_schema_extra={"unit": "fraction"},
        description="Patient share of the stay price (the Part A deductible is not modelled).",
    )
    deductible_applies: bool = Field(
        False,
        json_schema_extra={"unit": "flag"},
        description="No deductible applies.",
    )


class ReadmissionPenalty(Bundled):
    """A case-mix price per stay less the hospital's readmission penalty (module docstring)."""

    name = "readmission_penalty"
    Params = ReadmissionPenaltyParams
    params: ReadmissionPenaltyParams
    summary = (
        "pays a case-mix price per stay, reduced by up to 3% for excess readmissions against a "
        "risk-adjusted expectation (HRRP)"
    )

    def __init__(
        self, params: ReadmissionPenaltyParams, condition_names: tuple[str, ...] = ()
    ) -> None:
        super().__init__(params, condition_names)
        self._year: int | None = None
        #: per completed year: (readmissions, risk of stays, base payments) per hospital
        self._history: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._readmissions = np.zeros(0)
        self._risk = np.zeros(0)
        self._base = np.zeros(0)
        #: this year's penalty rate per hospital
        self.rates = np.zeros(0)
        #: what one more readmission costs each hospital in penalties (readmission_margin)
        self.margin = np.zeros(0)

    def _start_year(self, year: int, n_prov: int) -> None:
        if self._year == year:
            return
        if self._year is not None:
            self._history.append((self._readmissions, self._risk, self._base))
            self._history = self._history[-self.params.performance_years :]
        self._year = year
        self._readmissions = np.zeros(n_prov)
        self._risk = np.zeros(n_prov)
        self._base = np.zeros(n_prov)
        self.margin = np.zeros(n_prov)
        first = self.params.first_penalty_year
        if self._history and (first is None or year >= first):
            # np.asarray: arrays already (sum() is typed as maybe its start, 0)
            o = np.asarray(sum(h[0] for h in self._history))
            r = np.asarray(sum(h[1] for h in self._history))
            b = np.asarray(sum(h[2] for h in self._history))
            p = self.params
            # the national sums: over every hospital of the run (all shards)
            o_sum, total = (float(x) for x in self.run_totals(np.array([o.sum(), r.sum()])))
            self.rates = penalty_rates(o, r, p.penalty_cap, p.targeted_share, (o_sum, total))
            if total > 0:
                # per year: expected readmissions E_h and base payments B_h (module docstring)
                expected = o_sum / total * r
                zone = (self.rates > 0) & (self.rates < p.penalty_cap)
                per = np.divide(b, expected, out=np.zeros(n_prov), where=expected > 0)
                self.margin = np.where(zone, p.targeted_share * per, 0.0)
        else:
            self.rates = np.zeros(n_prov)

    def prices(self, position: Position, units: int) -> Prices:
        """A stay earns its case-mix price less the hospital's penalty rate this year; a stay
        that is a readmission also costs the hospital what one more readmission adds to its
        penalties (:meth:`readmission_margin`)."""
        out = super().prices(position, units)
        prov = np.asarray(position.provider, np.int64)
        rate = self.rates[prov] if self.rates.size > int(prov.max(initial=-1)) else 0.0
        margin = self.margin[prov] if self.margin.size > int(prov.max(initial=-1)) else 0.0
        readmitted = np.asarray(position.readmission, bool) & np.asarray(position.new_episode)
        case = out.case * (1.0 - rate) - np.where(readmitted, margin, 0.0)
        return Prices(out.schedule, case)

    def readmission_margin(self, n_providers: int) -> np.ndarray:
        """The penalties one more readmission costs each hospital (module docstring)."""
        if self.margin.size != n_providers:
            return np.zeros(n_providers)
        return self.margin

    def settle(self, claims: Claims, panel: Panel) -> Settlement:
        """The case-mix price of each stay that starts this month, less the hospital's penalty
        rate; the month's stays and readmissions go to the performance record."""
        n_prov = panel.members.size
        self._start_year(claims.year, n_prov)
        prov = claims.provider.astype(np.int64)
        stay = np.asarray(claims.new_episode, bool) & (np.asarray(claims.visits) > 0)
        self._risk += np.bincount(prov, np.where(stay, claims.risk, 0.0), minlength=n_prov)
        if claims.readmission is not None:
            readmitted = stay & claims.readmission
            self._readmissions += np.bincount(prov[readmitted], minlength=n_prov)
        price = self.price(claims.condition, claims.function_at_start, claims.risk)
        base = np.where(stay, price * claims.rate_multiplier, 0.0)
        self._base += np.bincount(prov, base, minlength=n_prov)
        allowed = base * (1.0 - self.rates[prov])
        return Settlement(allowed=allowed, lump=np.zeros_like(panel.members))
