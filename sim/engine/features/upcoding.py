"""Coded case mix: what payment models see of patients' risk and function.

Payment models and risk adjustment see case mix as coded, not as it is. With
``behaviour.upcoding`` on, providers that upcode (all, or for-profit ones only) code their
patients' risk scores ``risk_inflation`` higher and their function ``function_shift`` points
lower; health is untouched. Off, the coded case mix is the true one: the same arithmetic with
no provider upcoding (a null object, so the engine never asks whether it is on).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.scenario import UpcodingConfig


class Coding:
    """Which providers upcode, per setting, and the coded case mix of their patients."""

    def __init__(self, cfg: UpcodingConfig, for_profit: list[np.ndarray]) -> None:
        self.cfg = cfg
        #: per setting, per provider: codes its patients as sicker than they are
        self.upcodes = [
            np.array([cfg.enabled and (bool(fp) or not cfg.for_profit_only) for fp in fps])
            for fps in for_profit
        ]
        #: per setting: some provider upcodes (otherwise coded = true, with no arithmetic)
        self.any = [bool(u.any()) for u in self.upcodes]

    def risk_factor(self, s: int, provider: np.ndarray) -> np.ndarray:
        """Coded / true risk score for patients of these providers (1 without upcoding)."""
        if not self.any[s]:
            return np.ones(np.shape(provider))
        return 1.0 + self.cfg.risk_inflation * self.upcodes[s][provider]

    def coded_risk(self, s: int, provider: np.ndarray, risk: np.ndarray) -> np.ndarray:
        """Risk scores as coded by these providers (float64): ``risk × risk_factor``; without
        upcoding in the setting, the true scores (× 1.0 exactly) with no factor gathered."""
        if not self.any[s]:
            return risk.astype(np.float64)
        return risk * self.risk_factor(s, provider)

    def function(self, s: int, provider: np.ndarray, function: np.ndarray) -> np.ndarray:
        """Functional status as coded by these providers (lower than true when upcoding; the
        true values themselves, not a copy, when none of the setting's providers upcodes)."""
        if not self.any[s]:
            return function
        return np.maximum(function - self.cfg.function_shift * self.upcodes[s][provider], 0.0)
