"""User-facing errors: each names the file, the field and what is allowed."""

from __future__ import annotations

from typing import Any

#: problems listed in one refusal; the others are counted (a file of 100,000 bad values is
#: refused in a few lines)
MAX_PROBLEMS_SHOWN = 20


class SimError(Exception):
    """An error caused by the user's input; the CLI prints it and exits with status 2."""


class ScenarioError(SimError):
    """A scenario, sweep or override that does not validate.

    ``problems`` is a list of (field, message) pairs; ``field`` may be None for file-level
    problems (missing file, bad TOML).
    """

    def __init__(self, source: str, field: str | None, message: str) -> None:
        self.source = source
        self.problems: list[tuple[str | None, str]] = [(field, message)]
        super().__init__(self._text())

    def __reduce__(self) -> tuple[Any, ...]:
        """Errors cross process boundaries (a sweep's or a run's worker processes): rebuild
        from the source and every problem, not from the formatted message."""
        return (_rebuild_scenario_error, (self.source, list(self.problems)))

    def _text(self) -> str:
        what = "invalid option" if self.source.startswith("--") else "invalid scenario"
        lines = [f"{self.source}: {what}"]
        for field, message in self.problems[:MAX_PROBLEMS_SHOWN]:
            lines.append(f"  {field}: {message}" if field else f"  {message}")
        more = len(self.problems) - MAX_PROBLEMS_SHOWN
        if more > 0:
            lines.append(f"  ... and {more:,} more (fix these first)")
        return "\n".join(lines)

    @classmethod
    def from_validation(cls, source: str, exc: Any) -> ScenarioError:
        """One error listing every problem of a pydantic ValidationError, in the user's terms."""
        err = cls(source, None, "")
        err.problems = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"])
            msg = e["msg"]
            if e["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling; see docs/scenario-reference.md)"
            elif e["type"] == "missing":
                msg = "required field is missing"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            if "input" in e and e["type"] not in ("missing", "extra_forbidden"):
                shown = repr(e["input"])
                if len(shown) <= 60 and not isinstance(e["input"], dict | list):
                    msg += f" (got {shown})"
            err.problems.append((loc or None, msg))
        err.args = (err._text(),)
        return err


def _rebuild_scenario_error(source: str, problems: list[tuple[str | None, str]]) -> ScenarioError:
    err = ScenarioError(source, None, "")
    err.problems = list(problems)
    err.args = (err._text(),)
    return err


class ResultsError(SimError):
    """A results folder that is missing, incomplete or corrupt."""
