"""One setting's month of care: who had an episode, what was delivered, what was paid.

The delivery stage (:mod:`sim.engine.month.delivery`) builds a :class:`SettingMonth` per setting,
one entry per patient with an active episode (patients ascending, so each payer's patients are one
contiguous block, ``by_payer[g]``); the payment stage fills its :class:`Payments`. Features
add per-patient columns of their own to ``columns`` (the therapy minutes of a skilled-nursing
stay); a column no feature set reads as zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Payments:
    """What the month's claims paid, per patient (and lumps per provider, by payer)."""

    allowed: np.ndarray  # subject to cost sharing
    revenue: np.ndarray  # what the provider received per patient (after every term)
    oop: np.ndarray  # what the patient paid
    liability: np.ndarray  # adverse-event cost the provider bears
    ae_payer: np.ndarray  # adverse-event cost the payer bears
    p4p: np.ndarray  # pay-for-performance
    adjustment: np.ndarray  # reconciliations outside cost sharing
    lump_by_payer: list[np.ndarray]  # per provider: payments not tied to a claim
    denied: np.ndarray  # claim amounts the contract refused to pay (not paid by anyone)

    @classmethod
    def empty(cls, n: int, n_payers: int) -> Payments:
        """Nothing paid yet, for ``n`` patients."""
        return cls(
            allowed=np.zeros(n),
            revenue=np.zeros(n),
            oop=np.zeros(n),
            liability=np.zeros(n),
            ae_payer=np.zeros(n),
            p4p=np.zeros(n),
            adjustment=np.zeros(n),
            lump_by_payer=[np.zeros(0)] * n_payers,
            denied=np.zeros(n),
        )


@dataclass
class SettingMonth:
    """One setting's patients with an active episode this month (arrays aligned by patient)."""

    patients: np.ndarray  # patient numbers, ascending
    payer: np.ndarray
    provider: np.ndarray
    by_payer: list[slice]  # each payer's block of the arrays
    sought: np.ndarray  # the episode was taken to a provider
    new_episode: np.ndarray  # an episode of care started this month
    referred: np.ndarray  # started by a discharge from the pathway's acute setting
    optimal_units: np.ndarray  # the patient-optimal service units this month, q_B ("need")
    sign: np.ndarray  # the provider's experiment on this patient (−1, 0, +1)
    planned_units: np.ndarray  # service units planned (before rounding; 0 if not sought)
    service_units: np.ndarray  # service units delivered (the provider's decision variable)
    visits: np.ndarray
    billed_units: np.ndarray  # billed units (8-minute rule, untimed codes)
    minutes: np.ndarray
    fee_value: np.ndarray  # fee-schedule value of the services (rate level 1)
    function_at_start: np.ndarray
    benefit: np.ndarray  # money-valued patient benefit B(q)
    gain: np.ndarray  # function points care adds, before the 0-100 limits and adverse events
    function_change: np.ndarray  # what the patient's function did this month (after both)
    low_value: np.ndarray  # units below the low-value threshold
    adverse: np.ndarray  # an adverse event happened
    adverse_probability: np.ndarray  # its probability this month (what care made it)
    adverse_cost: np.ndarray
    not_authorized: np.ndarray  # planned units prior authorization refused
    episode_month: np.ndarray  # month of the episode (0: its first)
    period_units: np.ndarray  # service units so far in the payment period
    period_value: np.ndarray  # their fee-schedule value
    period_end: np.ndarray  # the payment period ends this month
    at_threshold: np.ndarray  # ...at or one unit above a payment threshold
    below_threshold: np.ndarray  # ...one or two units below a payment threshold
    new_needs_by_payer: np.ndarray
    declined_by_payer: np.ndarray
    new_needs_by_group: np.ndarray  # by payer and risk quartile
    declined_by_group: np.ndarray
    #: per patient: the cost of what features delivered with the units (therapy minutes)
    extra_cost: np.ndarray
    #: per-patient columns set by features (read with :meth:`column`)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    #: what was paid (the payment stage)
    paid: Payments = field(default=None)  # type: ignore[assignment]

    @property
    def size(self) -> int:
        """Patients with an active episode."""
        return self.patients.size

    def column(self, name: str) -> np.ndarray:
        """A feature's per-patient column, zeros where no feature set it."""
        col = self.columns.get(name)
        if col is None:
            col = self.columns[name] = np.zeros(self.patients.size)
        return col
