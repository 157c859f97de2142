"""The explorer page (Solara): ``sim explore [SCENARIO]`` serves it, and a notebook shows it
(:func:`sim.explore.notebook`).

Left: the scenario (a shipped one or a file), the population the page runs (small by default,
so a change reruns in seconds), replications and the seed, and the payment and behaviour knobs
of :mod:`sim.explore.compute` — the model's parameters as controls. Right, as Mesa's SolaraViz
pages have it: **month by month**, the arms as Mesa models stepped together (play, pause, step,
reset) with their DataCollectors' series drawn as they come; then **over replications**, the arms
side by side (outcomes table), the report's monthly trends figure with its 95% intervals, each
provider's style θ against its optimum θ*, the equivalent ``sim run`` command, and buttons to
save the settings as a scenario file and to export the results folder. Each change starts a run
in a background thread (an older run still going is abandoned); runs are cached per setting, so
going back to a setting is instant. Figures use the report's arm colours and calendar dates.
"""

from __future__ import annotations

import html
import os
import shlex
import threading
import time
from dataclasses import replace

import solara
import solara.lab
from matplotlib.figure import Figure

from sim.explore import compute as c
from sim.explore.env import ENV_MONTHS, ENV_PATIENTS, ENV_REPLICATIONS, ENV_SCENARIO, ENV_SEED

#: pause between two months while playing (seconds): the page redraws each month
PLAY_PAUSE = 0.05
#: resolution the page shows figures at (they are drawn at print size, 7.2 inches wide)
SCREEN_DPI = 120
#: the report's table style (sim/publish/report/page.py), for the arms side by side
TABLE_CSS = """
#summary{border-collapse:collapse;font-size:13px;margin:.4em 0}
#summary th,#summary td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}
#summary th{background:#eee}#summary caption{text-align:left;font-size:12px;color:#333}
#summary td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
"""


def _initial() -> c.Settings:
    def env_int(name: str) -> int | None:
        value = os.environ.get(name)
        return int(value) if value else None

    return c.Settings(
        scenario=os.environ.get(ENV_SCENARIO) or "compare_payment_models",
        patients=env_int(ENV_PATIENTS) or c.INTERACTIVE_PATIENTS,
        months=env_int(ENV_MONTHS),
        replications=env_int(ENV_REPLICATIONS) or c.INTERACTIVE_REPLICATIONS,
        seed=env_int(ENV_SEED),
    )


settings = solara.reactive(_initial())
file_text = solara.reactive("")
error = solara.reactive("")
seed_error = solara.reactive("")
#: month by month: the stepped models (None until play or step), playing or not, months shown
stepper: solara.Reactive[c.Stepper | None] = solara.reactive(None)
playing = solara.reactive(False)
watched = solara.reactive(0)


@solara.lab.task(prefer_threaded=True)
def compute_run(s: c.Settings):
    """Run (or fetch from the cache) the settings' scenario, reporting progress."""

    shown = [-1]

    def progress(fraction: float) -> None:
        if not compute_run.is_current():
            raise c.Superseded
        pct = int(100 * fraction)
        if pct != shown[0]:  # a page update per percent, not per simulated month
            shown[0] = pct
            compute_run.progress = float(pct)

    compute_run.progress = 0.0
    try:
        return s, c.run_settings(s, progress)
    except c.Superseded:
        return None


def _set(**changes) -> None:
    settings.value = replace(settings.value, **changes)


def _choose_scenario(name: str | None) -> None:
    if name is None:  # nothing chosen
        return
    try:
        c.load_base(name)
    except Exception as exc:  # a file that does not load: say why, keep the old scenario
        error.value = str(exc)
        return
    error.value = ""
    settings.value = replace(
        c.Settings(),
        scenario=name,
        patients=settings.value.patients,
        replications=settings.value.replications,
        seed=settings.value.seed,
    )


def _reset_knobs() -> None:
    """The scenario's own payment and behaviour values again; the run's size (patients, months,
    replications) and the seed stay as they are."""
    s = settings.value
    settings.value = c.Settings(scenario=s.scenario, patients=s.patients, months=s.months,
                                replications=s.replications, seed=s.seed)  # fmt: skip


def _set_seed(text: str) -> None:
    """The seed box: empty for the scenario's own seed, else a whole number 0 to 2**63 − 1."""
    text = text.strip()
    if not text:
        seed_error.value = ""
        _set(seed=None)
        return
    try:
        seed = int(text)
        if not 0 <= seed < 2**63:
            raise ValueError
    except ValueError:
        seed_error.value = f"seed: a whole number from 0 to 2**63 - 1, not {text!r}"
        return
    seed_error.value = ""
    _set(seed=seed)


def _slider(label, field, value, lo, hi, step, *, disabled=False, to=None) -> None:
    """A slider bound to one field of the settings (ints stay ints, floats are rounded)."""
    integer = all(isinstance(x, int) for x in (value, lo, hi, step))

    def on_value(v):
        v = int(v) if integer else round(float(v), 2)
        _set(**{field: to(v) if to else v})

    widget = solara.SliderInt if integer else solara.SliderFloat
    shown = "" if disabled else f"{value:,}" if integer else f"{value:.2f}"
    widget(f"{label} {shown}", value=value, min=lo, max=hi, step=step, on_value=on_value,
           thumb_label=False, disabled=disabled)  # fmt: skip


@solara.component
def Controls(base, knobs: c.Knobs) -> None:
    """The left column: scenario, population and seed, and the knobs."""
    s = settings.value
    shipped = c.shipped_scenarios()
    current = s.scenario if s.scenario in shipped else None
    with solara.Card("Scenario"):
        solara.Select("shipped scenario", values=shipped, value=current, on_value=_choose_scenario)
        solara.InputText(
            "or a scenario file (path, Enter to load)",
            value=file_text,
            on_value=lambda v: _choose_scenario(v) if v else None,
        )
        if current is None:
            solara.Text(f"file: {c.resolve(s.scenario)}")
        if error.value:
            solara.Error(error.value)
    months = s.months or knobs.months
    with solara.Card("Run"):
        _slider("patients", "patients", s.patients, 1_000, 50_000, 1_000)
        _slider("months", "months", months, 6, max(120, knobs.months), 6,
                to=lambda v: None if v == base.months else v)  # fmt: skip
        _slider("replications", "replications", s.replications, 1, 10, 1)
        solara.InputText(
            f"seed (empty: the scenario's, {base.seed})",
            value="" if s.seed is None else str(s.seed),
            on_value=_set_seed,
            continuous_update=False,
        )
        if seed_error.value:
            solara.Error(seed_error.value)
        solara.HTML(tag="small", unsafe_innerHTML=(
            "The page runs a small population (10,000 patients by default) so that a change "
            "reruns in seconds; results are cached per setting."))  # fmt: skip
    with solara.Card("Payment"):
        _slider("fee level ×", "fee_level", s.fee_level, 0.5, 2.0, 0.05)
        _slider("PMPM ×", "pmpm_level", s.pmpm_level, 0.5, 2.0, 0.05, disabled=not knobs.pmpm)
        _slider("bundle price ×", "bundle_level", s.bundle_level, 0.5, 2.0, 0.05,
                disabled=not knobs.bundles)  # fmt: skip
        _slider("cost sharing ×", "cost_sharing", s.cost_sharing, 0.0, 3.0, 0.1)
        first = knobs.switch_month
        _slider("switch month" if first else "switch month (none here)", "switch_month",
                s.switch_month if s.switch_month is not None else (first or 1),
                1, max(2, months - 1), 1, disabled=first is None,
                to=lambda v: None if v == first else v)  # fmt: skip
        solara.HTML(tag="small", unsafe_innerHTML=(
            "Levels multiply the scenario's own values: fees (PFS conversion factor or "
            "per-visit rate), PMPMs, episode base rates, deductibles, coinsurance and copays; "
            "the switch month moves each arm's first policy switch."))  # fmt: skip
    with solara.Card("Behaviour"):
        _slider("altruism ×", "altruism_level", s.altruism_level, 0.0, 2.0, 0.05)
        solara.Button("reset knobs", on_click=_reset_knobs, text=True)
    solara.Style(".v-slider .v-label, .v-input__slider .v-label { min-width: 9.5em; }")


def summary_html(result, s: c.Settings) -> str:
    """The arms side by side (all settings together, means over replications), as the report's
    tables are made (its template: ``sim.publish.report.page.table_html``); each row carries
    its arm and each cell its outcome (``data-row``, ``data-col``)."""
    import pandas as pd

    from sim.publish.labels import label_of
    from sim.publish.report.page import table_html

    table = c.summary_table(result)
    heads = [f"{label} ({unit})" for label, unit, _ in c.OUTCOMES.values()]
    shown = pd.DataFrame(
        [
            [label_of(arm), *(f"{row[k]:,.{d}f}" for k, (_, _, d) in c.OUTCOMES.items())]
            for arm, row in table.iterrows()
        ],
        columns=["arm", *heads],
    )
    sc = result.scenario
    caption = (
        f"{sc.population.patients:,} patients × {sc.months} months × {sc.replications} "
        f"replication(s), seed {result.seed}; means over replications, all settings"
    )
    return table_html(
        shown,
        set(heads),
        table_id="summary",
        caption=caption,
        row_ids=[str(a) for a in table.index],
        col_ids=["arm", *c.OUTCOMES],
    )


def trends_figure(result) -> Figure:
    """Monthly trends by arm: the report's figure (``sim run``'s trends figure: calendar months,
    95% intervals over replications, the policy switches marked, the report's arm colours)."""
    from sim.publish.trends import trends_figure as report_trends

    return report_trends(result.monthly, result.scenario.model_dump(mode="json"))


def providers_figure(result) -> Figure:
    """Each provider's style θ against its optimum θ* in the last month, one panel per arm,
    in the arm's colour and marker (one shade per care setting)."""
    from sim.publish import figures as rf
    from sim.publish.labels import label_of

    p = c.provider_styles(result)
    settings_ = list(dict.fromkeys(p["setting"]))
    styles = rf.arm_styles(result.arms)
    lo = float(min(p["theta"].min(), p["theta_optimal"].min()))
    hi = float(max(p["theta"].max(), p["theta_optimal"].max()))
    ncols = min(4, len(result.arms))
    with rf.styled():
        fig, axes = rf._axes(len(result.arms), ncols=ncols, height=1.9, extra=0.6,
                             sharex=True, sharey=True)  # fmt: skip
        for ax, arm in zip(axes, result.arms, strict=True):
            st = styles[arm]
            ax.plot([lo, hi], [lo, hi], color="0.5", linewidth=0.8, linestyle="--")
            for j, setting in enumerate(settings_):
                d = p[(p["arm"] == arm) & (p["setting"] == setting)]
                ax.plot(d["theta_optimal"], d["theta"], linestyle="none", marker=st["marker"],
                        color=st["color"], alpha=1.0 - 0.45 * j, markersize=3,
                        label=label_of(setting))  # fmt: skip
            ax.set_title(label_of(arm), loc="left")
        for ax in axes[-ncols:]:
            ax.set_xlabel("optimum θ* (units/month)")
        for ax in axes[::ncols]:
            ax.set_ylabel("style θ (units/month)")
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncol=len(names),
                   title="care setting (dashed: θ = θ*)")  # fmt: skip
        fig.suptitle("Providers in the last month: style against its optimum")
    return fig


def watch_figure(data, scenario) -> Figure:
    """The month-by-month view: each arm's DataCollector series so far by calendar month, in
    the report's arm colours, over the scenario's whole calendar (so the lines grow)."""
    import matplotlib.dates as mdates
    import numpy as np
    import pandas as pd

    from sim.publish import figures as rf
    from sim.publish.trends import scenario_start, switch_events

    sc = scenario.model_dump(mode="json")
    arms = [a.name for a in scenario.arms]
    stats = data.assign(mean=data["value"], ci_low=float("nan"), ci_high=float("nan"), n=1)
    panels = [(k, t, u) for k, (t, u) in c.WATCH.items()]
    fig = rf.band_lines(stats, arms, panels, x="date", xlabel="calendar month",
                        styles=rf.arm_styles(arms), events=switch_events(sc, arms))  # fmt: skip
    start = scenario_start(sc)
    end = rf.as_dates(pd.Series([scenario.months]), start).iloc[0]
    for ax in fig.axes:
        if ax.get_visible():
            # the calendar limits as the date axis's numbers (what its converter makes of them)
            ax.set_xlim(mdates.date2num(np.datetime64(start, "D")), mdates.date2num(end))
    return fig


def _ensure_stepper(s: c.Settings) -> c.Stepper:
    """The month-by-month models of these settings (built on first use)."""
    current = stepper.value
    if current is None or current.settings != s:
        current = c.Stepper(s)
        stepper.value = current
    return current


def _reset() -> None:
    playing.value = False
    stepper.value = None
    watched.value = 0


def _step(s: c.Settings) -> None:
    watched.value = _ensure_stepper(s).step()


@solara.component
def Watch(s: c.Settings) -> None:
    """Month by month, as Mesa's pages: play, pause, step and reset the arms' models (one
    replication, the page's seed), and their DataCollectors' series drawn as they come."""
    solara.use_effect(_reset, [s])  # new settings: the models start again

    def play(cancel: threading.Event) -> None:
        while playing.value and not cancel.is_set():
            st = _ensure_stepper(s)
            if st.done:
                playing.value = False
                return
            watched.value = st.step()
            time.sleep(PLAY_PAUSE)

    solara.use_thread(play, dependencies=[playing.value, s])
    st = stepper.value
    months = st.scenario.months if st is not None else (s.months or c.load_base(s.scenario).months)
    with solara.Card("Month by month: the arms as Mesa models (one replication)"):
        with solara.Row():
            solara.Button("play", icon_name="mdi-play", on_click=lambda: playing.set(True),
                          disabled=playing.value or (st is not None and st.done))  # fmt: skip
            solara.Button("pause", icon_name="mdi-pause", on_click=lambda: playing.set(False),
                          disabled=not playing.value)  # fmt: skip
            solara.Button("step", icon_name="mdi-step-forward", on_click=lambda: _step(s),
                          disabled=playing.value or (st is not None and st.done))  # fmt: skip
            solara.Button("reset", icon_name="mdi-restore", on_click=_reset)
        solara.HTML(tag="div", unsafe_innerHTML=(
            f'<span id="watch-month">month {watched.value} of {months}</span>'
            + (" (playing)" if playing.value else "")))  # fmt: skip
        if st is not None and watched.value > 0:
            fig = watch_figure(st.data(), st.scenario)
            solara.FigureMatplotlib(fig, format="png", dpi=SCREEN_DPI,
                                    dependencies=[watched.value, id(st)])  # fmt: skip
        else:
            solara.HTML(tag="small", unsafe_innerHTML=(
                "Play or step: each arm is a HealthSystemModel (Mesa) under the page's settings "
                "and seed, stepped one month at a time; the lines are its DataCollector's "
                "series."))  # fmt: skip


@solara.component
def Results(s: c.Settings) -> None:
    """Over replications: status, the arms side by side, trends, providers, save and export."""
    done = compute_run.value if compute_run.finished else None
    shown = done if done is not None and done[0] == s else None
    latest = shown or (compute_run.latest if compute_run.latest else None)
    if compute_run.pending or shown is None:
        pct = compute_run.progress or 0.0
        solara.ProgressLinear(pct if compute_run.pending else True)
        note = " (showing the previous settings' results)" if latest else ""
        solara.HTML(tag="div", unsafe_innerHTML=f'<span id="status">running {pct:.0f}%</span>'
                    f"<small>{note}</small>")  # fmt: skip
    if compute_run.error:
        solara.Error(f"the run failed: {compute_run.exception}")
    if latest is None:
        return
    s_done, result = latest
    if shown is not None:
        solara.HTML(tag="div", unsafe_innerHTML='<span id="status">ready</span>')
    with solara.Column(style={"opacity": "1" if shown is not None else "0.45"}):
        ResultsBody(s_done, result)


def _export(s_done: c.Settings) -> bytes:
    """The results folder as a zip; an error becomes a message on the page, not a traceback."""
    try:
        data = c.export_zip(s_done)
    except Exception as exc:
        error.value = f"export failed: {exc}"
        raise
    return data


@solara.component
def ResultsBody(s_done: c.Settings, result) -> None:
    """Outcomes table, figures, save and export of one finished run (built once per run)."""
    cmd = solara.use_memo(lambda: " ".join(shlex.quote(x) for x in c.command(s_done)), [s_done])
    table = solara.use_memo(lambda: summary_html(result, s_done), [s_done])
    trends = solara.use_memo(lambda: trends_figure(result), [s_done])
    providers = solara.use_memo(lambda: providers_figure(result), [s_done])
    solara.Style(TABLE_CSS)
    solara.HTML(tag="div", unsafe_innerHTML=table)
    solara.FigureMatplotlib(trends, format="png", dpi=SCREEN_DPI, dependencies=[s_done])
    solara.FigureMatplotlib(providers, format="png", dpi=SCREEN_DPI, dependencies=[s_done])
    with solara.Row():
        name = result.scenario.name
        solara.FileDownload(
            lambda: c.scenario_toml(s_done).encode(), filename=f"{name}_explored.toml",
            label="save settings as scenario", mime_type="application/toml",
        )  # fmt: skip
        solara.FileDownload(
            lambda: _export(s_done), filename=f"{name}_results.zip",
            label="export results folder", mime_type="application/zip",
        )  # fmt: skip
    solara.HTML(tag="p", unsafe_innerHTML="The same run from the command line:")
    solara.HTML(tag="pre", unsafe_innerHTML=f'<code id="command">{html.escape(cmd)}</code>',
                style="white-space: pre-wrap; font-size: 12px")  # fmt: skip


@solara.component
def Page() -> None:
    """The explorer page."""
    s = settings.value
    base = solara.use_memo(lambda: c.load_base(s.scenario), [s.scenario])
    knobs = solara.use_memo(lambda: c.knobs(base), [s.scenario])
    solara.use_effect(lambda: compute_run(s), [s])
    solara.Title("payment-sim explorer")
    with solara.Columns([1, 2.6]):
        with solara.Column():
            solara.HTML(tag="h2", unsafe_innerHTML="payment-sim explorer")
            solara.HTML(tag="p", unsafe_innerHTML=html.escape(base.description))
            Controls(base, knobs)
        with solara.Column():
            Watch(s)
            with solara.Card("Over replications: the arms side by side"):
                Results(s)
