"""Optional dependencies: a feature that needs an extra names the extra to install."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from sim.errors import SimError


class MissingExtraError(SimError):
    """A feature needs a package of an optional extra that is not installed."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``; if it is missing, a MissingExtraError telling which extra to install."""
    try:
        return import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs {module.split('.')[0]}, which is not installed; "
            f"install it with: pip install 'payment-sim[{extra}]'"
        ) from exc


def check(module: str, extra: str, feature: str) -> None:
    """Like :func:`require`, without importing ``module`` (a check before any work starts:
    importing a large library only to learn it is there costs seconds)."""
    from importlib.util import find_spec

    try:
        found = find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError(
            f"{feature} needs {module.split('.')[0]}, which is not installed; "
            f"install it with: pip install 'payment-sim[{extra}]'"
        )
