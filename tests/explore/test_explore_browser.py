"""The explorer in a real browser: headless Chromium from the system's packages, driven by
Playwright (no browser download). Starts `sim explore` on a free loopback port and uses every
control of the page, checking what arrives:

- each knob (fee, PMPM, bundle price, cost sharing, altruism, switch month, reset knobs), the
  run's size (patients, months, replications), the seed and the scenario (the list of shipped
  ones and the file box) changes the page's settings as it says: the page's `sim run` command
  becomes the command of the expected settings (:func:`sim.explore.compute.command`), once the
  page has rerun;
- the outcomes table equals `sim.experiments.run.run` with the same overrides;
- play, pause, step and reset of the month-by-month view move its month counter as they say,
  and its figure appears;
- "save settings as scenario" downloads a file that loads to the page's scenario, and "export
  results folder" a zip that is the results folder `sim run` writes with the page's command.

Runs are small (the machine may have two cores) and every wait is for an event on the page,
with a generous limit."""

from __future__ import annotations

import io
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from paths import ROOT

from sim.experiments.run import run
from sim.scenario import load_scenario

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCENARIO = ROOT / "scenarios" / "compare_payment_models.toml"
PATIENTS, MONTHS, REPLICATIONS = 2_000, 6, 2
#: the longest wait for the page (ms): generous, the suite may share the cores
WAIT = 60_000
#: decimals the page shows for each outcome (sim.explore.compute.OUTCOMES)
SHOWN = {"spending_pmpm": 2, "oop_pmpm": 2, "function_change": 2, "provider_margin_pct": 1}

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI: `make setup` installs it", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("solara")

from sim.explore import compute as c  # noqa: E402  (needs the explore extra)

#: the page's settings when it opens (what the server is started with)
START = c.Settings(scenario=str(SCENARIO.resolve()), patients=PATIENTS, months=MONTHS,
                   replications=REPLICATIONS)  # fmt: skip


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


@pytest.fixture
def page(server):
    """A fresh page (a new session: the settings the server started with)."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1500, "height": 1150}, accept_downloads=True)
            pg.set_default_timeout(WAIT)
            pg.goto(server)
            yield pg
        finally:
            browser.close()


def _shown_command(s: c.Settings) -> str:
    """The command the page shows for settings ``s`` (as app.ResultsBody formats it)."""
    return " ".join(shlex.quote(x) for x in c.command(s))


def _arrived(page, s: c.Settings) -> None:
    """Wait until the page shows the finished run of ``s``: its command and status ready."""
    expected = _shown_command(s)
    try:
        page.wait_for_function(
            "cmd => document.querySelector('#command')?.innerText === cmd"
            " && document.querySelector('#status')?.innerText === 'ready'",
            arg=expected,
        )
    except sync_api.TimeoutError:
        shown = page.locator("#command").all_inner_texts()
        status = page.locator("#status").all_inner_texts()
        pytest.fail(f"the page did not arrive at\n{expected}\nit shows {shown}, {status}")


def _slider(page, label: str):
    return page.locator(".v-input.v-slider", has_text=label).get_by_role("slider")


def _press(page, label: str, key: str, times: int = 1) -> None:
    """Move the slider labelled ``label`` with the keyboard (a step per press)."""
    _slider(page, label).focus()
    for _ in range(times):
        page.keyboard.press(key)


def _watch_month(page) -> str:
    return page.inner_text("#watch-month")


def _cell(page, arm: str, outcome: str) -> str:
    return page.inner_text(f'#summary tr[data-row="{arm}"] td[data-col="{outcome}"]')


def _table(page, arms) -> dict[tuple[str, str], str]:
    return {(a, k): _cell(page, a, k) for a in arms for k in SHOWN}


def _expected_table(s: c.Settings) -> dict[tuple[str, str], str]:
    """`sim.experiments.run.run` of the settings' scenario, formatted as the page formats it."""
    result = run(c.scenario_for(s), seed=s.seed)
    t = result.summary[result.summary["setting"] == "all"].set_index("arm")
    return {(arm, k): f"{t.loc[arm, k]:,.{d}f}" for arm in result.arms for k, d in SHOWN.items()}


def test_every_knob_and_the_run_size_arrive_and_the_table_is_sim_runs(page):
    """Each knob, the run's size and the seed change the settings the page runs, as the labels
    say; the table is what `sim.experiments.run.run` gives for them; reset knobs restores the
    scenario's values and keeps the run's size and seed."""
    s = START
    _arrived(page, s)
    arms = c.knobs(c.load_base(s.scenario)).arms
    figure_before = page.locator("img").first.get_attribute("src")
    # this scenario has no policy switch: its knob is there, disabled
    switch = page.locator(".v-input.v-slider", has_text="switch month (none here)")
    assert "v-input--disabled" in switch.get_attribute("class")

    steps = [  # (slider label, key, presses, field, value it should give, label afterwards)
        ("fee level", "ArrowRight", 4, "fee_level", 1.2, "fee level × 1.20"),
        ("PMPM", "ArrowLeft", 2, "pmpm_level", 0.9, "PMPM × 0.90"),
        ("bundle price", "ArrowRight", 1, "bundle_level", 1.05, "bundle price × 1.05"),
        ("cost sharing", "ArrowRight", 5, "cost_sharing", 1.5, "cost sharing × 1.50"),
        ("altruism", "ArrowLeft", 3, "altruism_level", 0.85, "altruism × 0.85"),
        ("patients", "ArrowRight", 1, "patients", 3_000, "patients 3,000"),
        ("months", "ArrowRight", 1, "months", 12, "months 12"),
        ("replications", "ArrowLeft", 1, "replications", 1, "replications 1"),
    ]
    for label, key, times, field, value, shown in steps:
        _press(page, label, key, times)
        page.get_by_text(shown, exact=True).wait_for()
        s = replace(s, **{field: value})
    _arrived(page, s)  # every knob's overrides are in the page's command
    assert _table(page, arms) == _expected_table(s)
    assert page.locator("img").first.get_attribute("src") != figure_before

    seed_box = page.get_by_label("seed (empty: the scenario's")
    seed_box.fill("not a seed")
    seed_box.press("Enter")
    page.get_by_text("seed: a whole number from 0 to 2**63 - 1, not 'not a seed'").wait_for()
    seed_box.fill("123")
    seed_box.press("Enter")
    s = replace(s, seed=123)
    _arrived(page, s)
    assert page.locator("text=seed: a whole number").count() == 0

    page.get_by_role("button", name="reset knobs").click()
    s = replace(START, patients=3_000, months=12, replications=1, seed=123)
    _arrived(page, s)
    for label in ("fee level × 1.00", "PMPM × 1.00", "bundle price × 1.00",
                  "cost sharing × 1.00", "altruism × 1.00", "months 12"):  # fmt: skip
        assert page.get_by_text(label, exact=True).count() == 1, label


def test_scenario_choice_switch_month_and_the_month_by_month_view(page, tmp_path):
    """A scenario file and a shipped scenario load from their controls (a file that does not
    load is refused with its reason); the switch month moves the policy switch; play, pause,
    step and reset drive the arms month by month."""
    _arrived(page, START)
    box = page.get_by_label("or a scenario file (path, Enter to load)")
    bad = tmp_path / "broken.toml"
    bad.write_text("months = 'soon'\n", encoding="utf-8")
    box.fill(str(bad))
    box.press("Enter")
    page.locator(".v-alert", has_text="broken.toml").wait_for()
    assert page.locator("#command").inner_text() == _shown_command(START)

    home = ROOT / "scenarios" / "home_health_reform.toml"
    box.fill(str(home))
    box.press("Enter")
    page.get_by_text(f"file: {home.resolve()}").wait_for()
    page.get_by_label("seed (empty: the scenario's, 2020)").wait_for()
    assert page.get_by_text("switch month 36", exact=True).count() == 1

    page.locator(".v-input.v-select", has_text="shipped scenario").click()
    page.get_by_role("option", name="fee_cut_two_payers").click()
    page.get_by_text("switch month 24", exact=True).wait_for()
    s = c.Settings(scenario="fee_cut_two_payers", patients=PATIENTS, replications=REPLICATIONS)
    _press(page, "switch month", "Home")
    page.get_by_text("switch month 1", exact=True).wait_for()
    _press(page, "months", "Home")
    page.get_by_text("months 6", exact=True).wait_for()
    _press(page, "months", "ArrowRight", 2)
    page.get_by_text("months 18", exact=True).wait_for()
    s = replace(s, switch_month=1, months=18)
    _arrived(page, s)
    assert "arms.1.switches.0.month=1" in page.inner_text("#command")

    # month by month: step, step, reset, play, pause, step, play to the end
    watch = page.locator(".v-card", has_text="Month by month")
    assert _watch_month(page) == "month 0 of 18"
    assert watch.locator("img").count() == 0
    button = {n: page.get_by_role("button", name=n, exact=True)
              for n in ("play", "pause", "step", "reset")}  # fmt: skip
    assert button["pause"].is_disabled()
    button["step"].click()
    page.locator("#watch-month", has_text="month 1 of 18").wait_for()
    watch.locator("img").wait_for()
    first_figure = watch.locator("img").get_attribute("src")
    button["step"].click()
    page.locator("#watch-month", has_text="month 2 of 18").wait_for()
    page.wait_for_function(
        "src => [...document.querySelectorAll('.v-card')].some(e =>"
        " e.innerText.includes('Month by month') && e.querySelector('img')?.src"
        " && e.querySelector('img').src !== src)",
        arg=first_figure,
    )
    button["reset"].click()
    page.locator("#watch-month", has_text="month 0 of 18").wait_for()
    assert watch.locator("img").count() == 0

    button["play"].click()
    page.wait_for_function(
        "() => /^month ([3-9]|1[0-7]) of 18$/.test(document.querySelector('#watch-month')"
        "?.innerText)"
    )
    assert page.get_by_text("(playing)").count() == 1
    button["pause"].click()
    page.locator(":text('(playing)')").wait_for(state="detached")
    paused = int(_watch_month(page).split()[1])
    assert 3 <= paused < 18
    button["step"].click()  # enabled only when not playing
    page.locator("#watch-month", has_text=f"month {paused + 1} of 18").wait_for()
    button["play"].click()
    page.locator("#watch-month", has_text="month 18 of 18").wait_for()
    page.locator(":text('(playing)')").wait_for(state="detached")
    assert button["play"].is_disabled() and button["step"].is_disabled()
    assert _watch_month(page) == "month 18 of 18"


def test_save_and_export_give_the_pages_scenario_and_sim_runs_folder(page, tmp_path):
    """With knobs and seed moved: the saved file loads to the page's scenario, and the exported
    zip is the results folder `sim run` writes with the page's command (same files, same
    summary.csv)."""
    _arrived(page, START)
    _press(page, "fee level", "ArrowLeft", 2)
    page.get_by_text("fee level × 0.90", exact=True).wait_for()
    _press(page, "PMPM", "ArrowRight", 1)
    page.get_by_text("PMPM × 1.05", exact=True).wait_for()
    _arrived(page, replace(START, fee_level=0.9, pmpm_level=1.05))
    seed_box = page.get_by_label("seed (empty: the scenario's")
    seed_box.fill("7")
    seed_box.press("Enter")
    s = replace(START, fee_level=0.9, pmpm_level=1.05, seed=7)
    _arrived(page, s)

    with page.expect_download() as saved:
        page.get_by_role("button", name="save settings as scenario").click()
    path = tmp_path / saved.value.suggested_filename
    saved.value.save_as(path)
    assert path.name == "compare_payment_models_explored.toml"
    # the base file's world written out whole (the file is saved away from it)
    assert load_scenario(path) == c.scenario_for(s).model_copy(update={"seed": 7, "world": None})

    with page.expect_download(timeout=2 * WAIT) as exported:  # the export draws its figures
        page.get_by_role("button", name="export results folder").click()
    assert exported.value.suggested_filename == "compare_payment_models_results.zip"
    zipped = zipfile.ZipFile(io.BytesIO(Path(exported.value.path()).read_bytes()))
    folder = "compare_payment_models/"
    names = {n.removeprefix(folder) for n in zipped.namelist()}
    assert all(n.startswith(folder) for n in zipped.namelist())

    cmd = shlex.split(page.inner_text("#command"))
    assert cmd[:2] == ["sim", "run"]
    out = tmp_path / "sim_run"
    subprocess.run(
        [sys.executable, "-m", "sim", *cmd[1:], "--out", str(out), "--quiet"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
        capture_output=True, timeout=WAIT / 1000 * 4,
    )  # fmt: skip
    assert names == {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert "summary.csv" in names
    for name in sorted(n for n in names if n.endswith(".csv")):  # summary.csv and the others
        assert zipped.read(folder + name) == (out / name).read_bytes(), name
