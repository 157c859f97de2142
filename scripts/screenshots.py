"""The documentation's screenshots of the explorer and of a report page, from a small run.

Uses the system's Chromium (``/usr/bin/chromium``) through Playwright, as the browser test
does; nothing downloads a browser. Writes

- ``docs/img/explorer.png``: ``sim explore`` on the main comparison (5,000 patients, 24 months,
  3 replications), after twelve months of the month-by-month view;
- ``docs/img/report.png``: the top of ``report.html`` that ``sim report`` writes for a
  ``sim run`` of the same size;
- ``docs/img/screenshots.json``: the SHA-256 of each file the pictures depend on
  (:data:`INPUTS`). ``tests/project/test_screenshots.py`` compares it with the files as they
  are now: a change to the page, its computations, the report's template, the figures' style
  or the scenario they show makes the test fail until the screenshots are taken again::

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
RECORD = OUT / "screenshots.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip
#: the files the screenshots show the work of (paths from the repository's root)
INPUTS = [
    "scripts/screenshots.py",
    "sim/explore/app.py",
    "sim/explore/compute.py",
    "sim/publish/templates/report.html.j2",
    "sim/publish/templates/table.html.j2",
    "sim/publish/style/payment_sim.mplstyle",
    # what the pictures show the results of: the main comparison and its world
    "scenarios/compare_payment_models.toml",
    "scenarios/worlds/medicare.toml",
    "scenarios/worlds/medicare_parameters.toml",
]
SCENARIO = ROOT / "scenarios" / "compare_payment_models.toml"
PATIENTS, MONTHS, REPLICATIONS = 5_000, 24, 3
#: months of the month-by-month view stepped before the explorer's picture
WATCHED = 12
WAIT = 180_000  # ms


def digests() -> dict[str, str]:
    """SHA-256 of each input file, by its path from the repository's root."""
    return {p: hashlib.sha256((ROOT / p).read_bytes()).hexdigest() for p in INPUTS}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def explorer(browser, path: Path) -> None:
    """The explorer after a run and twelve months watched."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "explore", SCENARIO.stem, "--port", str(port),
         "--patients", str(PATIENTS), "--months", str(MONTHS),
         "--replications", str(REPLICATIONS)],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("screenshots: sim explore did not start") from None
                time.sleep(0.3)
        page = browser.new_page(viewport={"width": 1500, "height": 1150})
        page.set_default_timeout(WAIT)
        page.goto(url)
        page.wait_for_selector("#status:text-is('ready')")
        step = page.get_by_role("button", name="step", exact=True)
        for month in range(1, WATCHED + 1):
            step.click()
            page.locator("#watch-month", has_text=f"month {month} of {MONTHS}").wait_for()
        page.locator(".v-card", has_text="Month by month").locator("img").wait_for()
        page.wait_for_selector("#status:text-is('ready')")
        page.screenshot(path=str(path), full_page=True)
        page.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def report(browser, path: Path) -> None:
    """The top of the report page of a small run of the main comparison."""
    with tempfile.TemporaryDirectory() as tmp:
        # run from a scratch folder with relative paths, so the page shows no machine's paths
        shutil.copy(SCENARIO, Path(tmp) / SCENARIO.name)
        shutil.copytree(SCENARIO.parent / "worlds", Path(tmp) / "worlds")  # the world it names
        results = Path(tmp) / "results" / SCENARIO.stem
        sets = [f"population.patients={PATIENTS}", f"months={MONTHS}",
                f"replications={REPLICATIONS}"]  # fmt: skip
        quiet = {"cwd": tmp, "env": _env(), "check": True, "stdout": subprocess.DEVNULL}
        subprocess.run([sys.executable, "-m", "sim", "run", SCENARIO.name, "--quiet",
                        "--out", str(results.relative_to(tmp)),
                        *(x for s in sets for x in ("--set", s))], **quiet)  # fmt: skip
        subprocess.run([sys.executable, "-m", "sim", "report", str(results.relative_to(tmp)),
                        "--quiet"], **quiet)  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.goto((results / "report" / "report.html").as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(path))
        page.close()


def main() -> int:
    if not CHROMIUM.exists():
        raise SystemExit(f"screenshots: {CHROMIUM} is missing (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            explorer(browser, OUT / "explorer.png")
            report(browser, OUT / "report.png")
        finally:
            browser.close()
    record = {
        "made_by": "scripts/screenshots.py",
        "images": ["explorer.png", "report.png"],
        "inputs": digests(),
    }
    RECORD.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"screenshots: wrote {', '.join(record['images'])} and {RECORD.name} in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
