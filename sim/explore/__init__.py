"""``sim explore``: the model in the browser, or in a notebook (a Solara app; needs the
``explore`` extra).

- :mod:`sim.explore.compute`: settings → scenario overrides → cached run → tidy tables, and the
  arms as Mesa models stepped month by month; plain Python, no user interface, tested on its
  own.
- :mod:`sim.explore.app`: the Solara page (controls, play / step / pause / reset, figures, save
  and export).
- :func:`serve`: start the page's server (what ``sim explore`` calls).
- :func:`notebook`: the same page in a Jupyter notebook cell.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sim.explore.env import (
    ENV_MONTHS,
    ENV_PATIENTS,
    ENV_REPLICATIONS,
    ENV_SCENARIO,
    ENV_SEED,
)
from sim.guards.extras import require

#: what the server must not do on a machine without a network: Solara's telemetry
QUIET_ENV = {"SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}


def serve(
    scenario: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    patients: int | None = None,
    months: int | None = None,
    replications: int | None = None,
    seed: int | None = None,
) -> int:
    """Replace this process with the explorer's Solara server on ``host:port``.

    ``scenario`` is a shipped scenario's name or a scenario file (checked here, so a typo is
    an error before the server starts); the others set the page's starting population, months
    and replications (defaults: :data:`sim.explore.compute.INTERACTIVE_PATIENTS`, the
    scenario's months, :data:`~sim.explore.compute.INTERACTIVE_REPLICATIONS`, the scenario's
    seed)."""
    require("solara", "explore", "sim explore")
    from sim.explore.compute import resolve

    env = dict(os.environ)
    env.update(QUIET_ENV)
    if scenario:
        env[ENV_SCENARIO] = str(resolve(scenario))
    for name, value in ((ENV_PATIENTS, patients), (ENV_MONTHS, months),
                        (ENV_REPLICATIONS, replications), (ENV_SEED, seed)):  # fmt: skip
        if value is not None:
            env[name] = str(value)
    app = Path(__file__).with_name("app.py")
    args = [sys.executable, "-m", "solara", "run", str(app), "--host", host, "--port", str(port),
            "--production", "--no-open", "--log-level", "warning"]  # fmt: skip
    print(f"sim explore: serving on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    os.execve(sys.executable, args, env)
    return 0  # not reached


def notebook(
    scenario: str | None = None,
    *,
    patients: int | None = None,
    months: int | None = None,
    replications: int | None = None,
    seed: int | None = None,
):
    """The explorer page for a Jupyter notebook: make it the cell's last expression (or pass it
    to ``display``). The arguments are ``sim explore``'s; the page is the same, with its
    controls, month-by-month view, figures, save and export::

        from sim.explore import notebook
        notebook("snf_payment_reform", patients=5_000)
    """
    require("solara", "explore", "sim.explore.notebook")
    from dataclasses import replace

    from sim.explore import app
    from sim.explore import compute as c

    start = c.Settings(
        scenario=str(c.resolve(scenario)) if scenario else "compare_payment_models",
        patients=patients or c.INTERACTIVE_PATIENTS,
        months=months,
        replications=replications or c.INTERACTIVE_REPLICATIONS,
        seed=seed,
    )
    app.settings.value = replace(start)
    return app.Page()
