"""A calibration's free parameter and its prior (``[[parameters]]`` of a calibration file).

Apart from :mod:`sim.experiments.calibrate` so that what reads a posterior
(:mod:`sim.experiments.posterior`) can draw a prior-only parameter without importing the
calibration machinery (which imports validation, which imports posterior draws).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import field_validator, model_validator

from sim.scenario import F, Strict, check_label


class FreeParameter(Strict):
    """One free parameter: the fields it sets (all to the same value), its range and prior."""

    name: str = F(..., "name", "Short name (a column of the trials table).")
    fields: list[str] = F(
        ...,
        "dotted paths",
        "Scenario fields set to the parameter's value; '*' matches every entry of a table "
        "(settings.*.oop_elasticity: every setting). A field applies to every target scenario "
        "that has its table.",
    )
    low: float = F(..., "as field", "Lower end of the range.")
    high: float = F(..., "as field", "Upper end of the range.")
    prior: Literal["uniform", "loguniform", "normal", "beta"] = F(
        "uniform",
        "choice",
        "uniform or loguniform on [low, high]; normal(mean, sd) truncated to [low, high]; "
        "beta(a, b) scaled to [low, high].",
    )
    mean: float | None = F(None, "as field", "normal prior: mean.")
    sd: float | None = F(None, "as field", "normal prior: standard deviation.", gt=0)
    a: float | None = F(None, "shape", "beta prior: shape a.", gt=0)
    b: float | None = F(None, "shape", "beta prior: shape b.", gt=0)
    integer: bool = F(False, "flag", "Round the value to a whole number.")
    prior_only: bool = F(
        False,
        "flag",
        "method = abc_smc: no target depends on the parameter (an adjustment speed, when every "
        "target is measured under rules that do not change; a coding cost, when no target "
        "scenario codes): it is not simulated, since its posterior is exactly its prior. Each "
        "particle carries an independent draw from the prior, every posterior draw "
        "(--posterior) takes a fresh one, and its point is the prior's median. A test should "
        "show the targets do not move with it.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_label(v, "parameter name")

    @model_validator(mode="after")
    def _prior(self) -> FreeParameter:
        if not self.high > self.low:
            raise ValueError(f"high ({self.high}) must be greater than low ({self.low})")
        if not self.fields or not all(f and all(f.split(".")) for f in self.fields):
            raise ValueError("fields: at least one dotted field, without empty parts")
        if self.prior == "loguniform" and self.low <= 0:
            raise ValueError("a loguniform prior needs low > 0")
        normal = [n for n in ("mean", "sd") if getattr(self, n) is not None]
        beta = [n for n in ("a", "b") if getattr(self, n) is not None]
        if self.prior == "normal" and len(normal) < 2:
            raise ValueError("a normal prior needs mean and sd")
        if self.prior == "beta" and len(beta) < 2:
            raise ValueError("a beta prior needs a and b")
        stray = [n for n in (*normal, *beta) if (n in normal) != (self.prior == "normal")
                 or (n in beta) != (self.prior == "beta")]  # fmt: skip
        if stray:
            raise ValueError(
                f"{' and '.join(stray)}: not used by a {self.prior} prior (mean and sd are a "
                "normal prior's, a and b a beta prior's); remove or change the prior"
            )
        if self.integer and math.ceil(self.low) > math.floor(self.high):
            raise ValueError(
                f"integer = true, but no whole number lies between low ({self.low}) and high "
                f"({self.high})"
            )
        return self

    def value(self, u: float) -> float:
        """The parameter's value at ``u`` in [0, 1]: the prior's quantile function."""
        lo, hi = self.low, self.high
        if self.prior == "uniform":
            x = lo + (hi - lo) * u
        elif self.prior == "loguniform":
            x = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)
        elif self.prior == "normal":
            from scipy.stats import truncnorm

            sd = float(self.sd or 1.0)
            mu = float(self.mean or 0.0)
            x = float(truncnorm.ppf(u, (lo - mu) / sd, (hi - mu) / sd, loc=mu, scale=sd))
        else:
            from scipy.stats import beta

            assert self.a is not None and self.b is not None  # a beta prior has them (validated)
            x = lo + (hi - lo) * float(beta.ppf(u, self.a, self.b))
        x = min(max(x, lo), hi)
        if self.integer:  # the nearest whole number within [low, high], an int (not 6.0)
            return min(max(round(x), math.ceil(lo)), math.floor(hi))
        return float(x)
