"""The package's own files, found in one place (``importlib.resources``), whether the package
runs from its checkout or from an installed wheel.

- :func:`package_dir`: the ``sim`` package folder (its ``.py`` files, for the code hash);
- :func:`data_file`: a file shipped as package data (templates, the figure style, shipped
  scenarios), by its path inside the package;
- :func:`checkout_root`: the repository the package runs from, or ``None`` when it runs from
  an installed wheel (then there is no ``docs/`` and no git commit to record).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: package data, by what it is (paths inside the ``sim`` package)
TEMPLATES = "publish/templates"
STYLE = "publish/style/payment_sim.mplstyle"
SCENARIOS = "scenarios_data"


def package_dir() -> Path:
    """The folder of the ``sim`` package."""
    return Path(str(resources.files("sim")))


def data_file(relative: str) -> Path:
    """A file or folder shipped in the package, e.g. ``data_file(STYLE)``."""
    return package_dir() / relative


def checkout_root() -> Path | None:
    """The source tree the package runs from (the folder holding ``sim/`` and
    ``pyproject.toml``), or ``None`` for an installed package."""
    root = package_dir().resolve().parent
    return root if (root / "pyproject.toml").is_file() else None
