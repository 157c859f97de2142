"""The explorer in a real browser: headless Chromium from the system's packages, driven by
Playwright (no browser download). Starts `sim explore` on a free loopback port, moves the fee
slider, waits for the page to rerun, and checks the numbers it shows against
`sim.experiments.run.run` with the same settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sim.experiments.run import run
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCENARIO = ROOT / "scenarios" / "compare_payment_models.toml"
PATIENTS, MONTHS, REPLICATIONS = 2_000, 6, 2
#: decimals the page shows for each outcome (sim.explore.compute.OUTCOMES)
SHOWN = {"spending_pmpm": 2, "oop_pmpm": 2, "function_change": 2, "provider_margin_pct": 1}

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI: `make setup` installs it", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("solara")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """`sim explore` serving the main scenario, small, on a free loopback port."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "explore", str(SCENARIO), "--port", str(port),
         "--patients", str(PATIENTS), "--months", str(MONTHS),
         "--replications", str(REPLICATIONS)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"sim explore did not start: {proc.communicate()[0]}")
            time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


def _shown(page, arm: str, outcome: str) -> str:
    return page.inner_text(f'#summary tr[data-row="{arm}"] td[data-col="{outcome}"]')


def _expected(fee_level: float) -> dict[tuple[str, str], str]:
    """The same settings as `sim run --set ...`, formatted as the page formats them."""
    base = load_scenario(SCENARIO)
    sets = [f"population.patients={PATIENTS}", f"months={MONTHS}",
            f"replications={REPLICATIONS}"]  # fmt: skip
    for name, st in base.settings.items():
        cf = round(st.conversion_factor * fee_level, 6)
        sets.append(f"settings.{name}.conversion_factor={cf}")
    result = run(load_scenario(SCENARIO, sets))
    s = result.summary[result.summary["setting"] == "all"].set_index("arm")
    return {(arm, k): f"{s.loc[arm, k]:,.{d}f}" for arm in result.arms for k, d in SHOWN.items()}


def test_moving_the_fee_slider_reruns_and_shows_what_sim_run_gives(server, tmp_path):
    """Fee level 1.00 → 1.20: the page reruns, its figure changes, its table equals a
    `sim.experiments.run.run` of the scenario with the same overrides, and the saved scenario has
    the fee."""
    shots = Path(os.environ.get("PAYMENT_SIM_SCREENSHOTS", tmp_path))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1150})
            page.goto(server)
            page.wait_for_selector("#status:text-is('ready')", timeout=60_000)
            before = {(a, k): _shown(page, a, k) for a, k in _expected(1.0)}
            assert before == _expected(1.0)
            figure_before = page.locator("img").first.get_attribute("src")
            page.screenshot(path=str(shots / "explorer.png"), full_page=True)

            slider = page.locator(".v-input", has_text="fee level").get_by_role("slider")
            slider.focus()
            for _ in range(4):  # step 0.05
                page.keyboard.press("ArrowRight")
            # (as long as the other waits: the suite runs on every core, the machine may be busy)
            page.wait_for_selector("text=fee level × 1.20", timeout=60_000)
            page.wait_for_function(
                "document.querySelector('#command')?.innerText.includes('conversion_factor=')"
                " && document.querySelector('#status')?.innerText === 'ready'",
                timeout=60_000,
            )
            assert page.locator("img").first.get_attribute("src") != figure_before
            after = {key: _shown(page, *key) for key in before}
            expected = _expected(1.2)
            assert after == expected
            assert after[("ffs", "spending_pmpm")] != before[("ffs", "spending_pmpm")]
            page.screenshot(path=str(shots / "explorer-fee-1.2.png"), full_page=True)

            with page.expect_download(timeout=30_000) as saved:
                page.get_by_role("button", name="save settings as scenario").click()
            path = tmp_path / "saved.toml"
            saved.value.save_as(path)
            assert load_scenario(path).settings["outpatient_therapy"].conversion_factor == (
                pytest.approx(load_scenario(SCENARIO).settings["outpatient_therapy"]
                              .conversion_factor * 1.2)
            )  # fmt: skip
        finally:
            browser.close()
