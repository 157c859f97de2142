"""The explorer page (Solara): ``sim explore [SCENARIO]`` serves it.

Left: the scenario (a shipped one or a file), the population the page runs (small by default,
so a change reruns in seconds), replications, and the payment and behaviour knobs of
:mod:`sim.explore.compute`. Right: the arms side by side (outcomes table), monthly trends with
the range over replications, each provider's style θ against its optimum θ*, the equivalent
``sim run`` command, and buttons to save the settings as a scenario file and to export the
results folder. Each change starts a run in a background thread (an older run still going is
abandoned); runs are cached per setting, so going back to a setting is instant.
"""

from __future__ import annotations

import html
import os
import shlex
from dataclasses import replace

import solara
import solara.lab
from matplotlib.figure import Figure

from sim.explore import ENV_MONTHS, ENV_PATIENTS, ENV_REPLICATIONS, ENV_SCENARIO
from sim.explore import compute as c

#: arm colours (colour-blind safe, Okabe-Ito) and line styles for greyscale print
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
LINES = ["-", "--", ":", "-."]


def _initial() -> c.Settings:
    def env_int(name: str) -> int | None:
        value = os.environ.get(name)
        return int(value) if value else None

    return c.Settings(
        scenario=os.environ.get(ENV_SCENARIO) or "compare_payment_models",
        patients=env_int(ENV_PATIENTS) or c.INTERACTIVE_PATIENTS,
        months=env_int(ENV_MONTHS),
        replications=env_int(ENV_REPLICATIONS) or c.INTERACTIVE_REPLICATIONS,
    )


settings = solara.reactive(_initial())
file_text = solara.reactive("")
error = solara.reactive("")


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
    )


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
    """The left column: scenario, population and the knobs."""
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
        solara.Button("reset knobs", on_click=lambda: _choose_scenario(s.scenario), text=True)
    solara.Style(".v-slider .v-label, .v-input__slider .v-label { min-width: 9.5em; }")


def _summary_html(result, s: c.Settings) -> str:
    table = c.summary_table(result)
    head = "".join(
        f"<th>{html.escape(label)}<br><small>{html.escape(unit)}</small></th>"
        for label, unit, _ in c.OUTCOMES.values()
    )
    rows = []
    for arm, row in table.iterrows():
        cells = "".join(
            f'<td data-outcome="{k}">{row[k]:,.{d}f}</td>' for k, (_, _, d) in c.OUTCOMES.items()
        )
        rows.append(f'<tr data-arm="{html.escape(str(arm))}"><th>{html.escape(str(arm))}</th>'
                    f"{cells}</tr>")  # fmt: skip
    sc = result.scenario
    caption = (
        f"{sc.population.patients:,} patients × {sc.months} months × {sc.replications} "
        f"replication(s), seed {result.seed}; means over replications, all settings"
    )
    return (
        '<table id="summary" style="border-collapse:collapse;font-size:14px" border="1" '
        f'cellpadding="6"><caption style="text-align:left">{html.escape(caption)}</caption>'
        f"<tr><th>arm</th>{head}</tr>{''.join(rows)}</table>"
    )


def trends_figure(result) -> Figure:
    """Monthly trends per arm: mean over replications, band from the lowest to the highest."""
    b = c.bands(c.trends(result))
    fig = Figure(figsize=(11, 5.6), layout="constrained")
    axes = fig.subplots(2, 2)
    for ax, (metric, (label, unit)) in zip(axes.flat, c.TRENDS.items(), strict=True):
        d = b[b["metric"] == metric]
        for i, arm in enumerate(result.arms):
            a = d[d["arm"] == arm]
            colour = COLOURS[i % len(COLOURS)]
            ax.plot(a["month"], a["mean"], color=colour, linestyle=LINES[i % len(LINES)],
                    linewidth=1.6, label=arm)  # fmt: skip
            ax.fill_between(a["month"], a["low"], a["high"], color=colour, alpha=0.18,
                            linewidth=0)  # fmt: skip
        ax.set_title(label, fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.set_xlabel("month", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8, frameon=False)
    n = result.scenario.replications
    fig.suptitle(f"Monthly trends: mean and range over {n} replication(s)", fontsize=11)
    return fig


def providers_figure(result) -> Figure:
    """Each provider's style θ against its optimum θ* in the last month, one panel per arm."""
    p = c.provider_styles(result)
    settings_ = list(dict.fromkeys(p["setting"]))
    fig = Figure(figsize=(11, 3.2), layout="constrained")
    axes = fig.subplots(1, len(result.arms), sharex=True, sharey=True, squeeze=False)[0]
    lo = float(min(p["theta"].min(), p["theta_optimal"].min()))
    hi = float(max(p["theta"].max(), p["theta_optimal"].max()))
    markers = ["o", "s", "^", "D", "v", "x"]
    for i, (ax, arm) in enumerate(zip(axes, result.arms, strict=True)):
        ax.plot([lo, hi], [lo, hi], color="0.5", linewidth=0.8, linestyle="--")
        for j, st in enumerate(settings_):
            d = p[(p["arm"] == arm) & (p["setting"] == st)]
            ax.scatter(d["theta_optimal"], d["theta"], s=16, alpha=0.75,
                       color=COLOURS[i % len(COLOURS)], marker=markers[j % len(markers)],
                       label=st)  # fmt: skip
        ax.set_title(arm, fontsize=10)
        ax.set_xlabel("optimum θ* (units/month)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("style θ (units/month)", fontsize=8)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle("Providers in the last month: style against its optimum (dashed: θ = θ*)",
                 fontsize=11)  # fmt: skip
    return fig


@solara.component
def Results(s: c.Settings) -> None:
    """The right column: status, the arms side by side, trends, providers, save and export."""
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


@solara.component
def ResultsBody(s_done: c.Settings, result) -> None:
    """Outcomes table, figures, save and export of one finished run (built once per run)."""
    cmd = solara.use_memo(lambda: " ".join(shlex.quote(x) for x in c.command(s_done)), [s_done])
    table = solara.use_memo(lambda: _summary_html(result, s_done), [s_done])
    trends = solara.use_memo(lambda: trends_figure(result), [s_done])
    providers = solara.use_memo(lambda: providers_figure(result), [s_done])
    solara.HTML(tag="div", unsafe_innerHTML=table)
    solara.FigureMatplotlib(trends, format="png", dpi=80, dependencies=[s_done])
    solara.FigureMatplotlib(providers, format="png", dpi=80, dependencies=[s_done])
    with solara.Row():
        name = result.scenario.name
        solara.FileDownload(
            lambda: c.scenario_toml(s_done).encode(), filename=f"{name}_explored.toml",
            label="save settings as scenario", mime_type="application/toml",
        )  # fmt: skip
        solara.FileDownload(
            lambda: c.export_zip(s_done), filename=f"{name}_results.zip",
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
            Results(s)
