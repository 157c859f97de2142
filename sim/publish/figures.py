"""Figures of ``sim report`` and of ``sim run`` (matplotlib; imported only by
:mod:`sim.publish.report` and :mod:`sim.publish.plots`).

Every function takes tidy statistics already computed (columns ``arm``, ``measure``, ``n``,
``mean``, ``ci_low``, ``ci_high`` and an x column) and returns a figure; :func:`save` writes it
as PNG (300 dpi), PDF and SVG. One style for all (``sim/publish/style/payment_sim.mplstyle``), and
one look per arm, keyed by its name (:func:`arm_styles`: colour, line style, marker and hatching by
the arm's place in the scenario), so an arm looks the same in every figure, with or without the
baseline; arms stay distinguishable in greyscale by line style, marker and hatching. Time
series show calendar dates and mark the policy switches; a figure of one replication says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.guards.paths import STYLE, data_file

#: the package's matplotlib style file
STYLE_FILE = data_file(STYLE)
#: Okabe & Ito (2008) colours, in the style file's order
COLOURS = [
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#D55E00",
    "#0072B2",
    "#CC79A7",
    "#F0E442",
    "#999999",
    "#882255",
]
#: line styles and markers so arms stay distinguishable in greyscale
LINES = [
    ("-", "o"),
    ("--", "s"),
    (":", "^"),
    ("-.", "D"),
    ((0, (5, 1)), "v"),
    ((0, (1, 1)), "x"),
    ((0, (3, 1, 1, 1, 1, 1)), "P"),
    ((0, (8, 2)), "*"),
    ((0, (2, 2)), "<"),
    ((0, (4, 1, 1, 1)), ">"),
]
#: bar hatching per arm (greyscale-safe)
HATCHES = ["", "//", "..", "xx", "\\\\", "--", "++", "oo", "||", "**"]
DPI = 300

#: (measure key, panel title, y-axis label with unit)
Panel = tuple[str, str, str]
#: a policy switch to mark: (x position, label)
Event = tuple[object, str]


@contextmanager
def styled() -> Iterator[None]:
    """Draw inside the package's style."""
    with plt.style.context(str(STYLE_FILE)):
        yield


def arm_styles(arms: Sequence[str]) -> dict[str, dict]:
    """The look of each arm, by its place in ``arms`` (all the scenario's arms, in order)."""
    out = {}
    for i, arm in enumerate(arms):
        ls, marker = LINES[i % len(LINES)]
        colour = COLOURS[i % len(COLOURS)]
        out[arm] = {
            "color": colour,
            "linestyle": ls,
            "marker": marker,
            "markerfacecolor": colour if i % 2 == 0 else "white",
            "markeredgecolor": colour,
            "markersize": 4.5,
            "linewidth": 1.5,
            "hatch": HATCHES[i % len(HATCHES)],
        }
    return out


def _line(style: dict) -> dict:
    return {k: v for k, v in style.items() if k != "hatch"}


def _styles_for(arms: Sequence[str], styles: dict[str, dict] | None) -> dict[str, dict]:
    return styles if styles is not None else arm_styles(arms)


def label_of(name: str) -> str:
    """A readable label from a snake_case name (``capitation_common_cost_sharing`` →
    ``capitation, common cost sharing`` is too clever: underscores become spaces)."""
    return str(name).replace("_", " ")


def save(fig: Figure, folder: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` (300 dpi), ``stem.pdf`` and ``stem.svg`` (no time stamps: same data,
    same bytes) and close the figure."""
    png, pdf, svg = (folder / f"{stem}.{ext}" for ext in ("png", "pdf", "svg"))
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.set_layout_engine("none")  # keep the layout just computed: it is costly to redo
    fig.savefig(pdf, metadata={"Creator": None, "Producer": None, "CreationDate": None})
    fig.savefig(svg, metadata={"Creator": None, "Date": None})
    plt.close(fig)
    return [png, pdf, svg]


def _axes(n: int, ncols: int = 3, height: float = 2.9, width: float = 3.6):
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, height * nrows + 0.9),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _finish(ax, title: str, xlabel: str, ylabel: str) -> None:
    import textwrap

    ax.set_title(textwrap.fill(title.replace("_", " "), 44), fontsize=9, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(textwrap.fill(ylabel, 36))


def _honest(ax) -> None:
    """Axes that do not exaggerate differences: a y range that includes zero when the data are
    all of one sign (a level is read from zero; a difference against zero)."""
    lo, hi = ax.get_ylim()
    if lo > 0:
        ax.set_ylim(0, hi)
    elif hi < 0:
        ax.set_ylim(lo, 0)


def _legend(
    fig: Figure,
    arms: Sequence[str],
    styles: dict[str, dict],
    *,
    kind: str = "line",
    extra: Sequence = (),
) -> None:
    """One legend for the figure, below the panels, in the arms' order; as many columns as
    the figure's width holds (about 2.7 inches each)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Artist] = []
    for a in arms:
        st = styles[a]
        if kind == "bar":
            handles.append(
                Patch(
                    facecolor=st["color"],
                    edgecolor="0.1",
                    hatch=st["hatch"],
                    label=label_of(a),
                    alpha=0.85,
                )
            )
        elif kind == "marker":
            line = _line(st)
            line["linestyle"] = "none"
            line["markersize"] = 7
            handles.append(Line2D([], [], label=label_of(a), **line))
        else:
            handles.append(Line2D([], [], label=label_of(a), **_line(st)))
    handles += list(extra)
    if handles:
        width = fig.get_size_inches()[0]
        ncol = max(1, min(len(handles), int(width // 2.7)))
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol)


def _err(d: pd.DataFrame) -> np.ndarray | None:
    """Asymmetric error bars from ci_low/ci_high; None when no interval exists."""
    lo = (d["mean"] - d["ci_low"]).to_numpy(float)
    hi = (d["ci_high"] - d["mean"]).to_numpy(float)
    if not np.isfinite(lo).any():
        return None
    return np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)])


def _one_replication(fig: Figure, replications: int | None) -> None:
    """Say on the figure how many replications its intervals come from (none with one)."""
    if replications is None:
        return
    text = (
        "1 replication: no confidence band"
        if replications == 1
        else f"95% CI over {replications} replications"
    )
    fig.text(0.995, 0.995, text, ha="right", va="top", fontsize=8, style="italic", color="0.3")


def _events(ax, events: Sequence[Event], first: bool) -> None:
    """Vertical lines at the policy switches (labelled in the first panel)."""
    for x, text in events:
        ax.axvline(x, color="0.35", linestyle=(0, (4, 2)), linewidth=0.9, zorder=1)
        if first:
            ax.annotate(
                text,
                xy=(x, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -3),
                textcoords="offset points",
                ha="left",
                va="top",
                fontsize=7,
                color="0.25",
            )


def _date_axis(ax) -> None:
    loc = mdates.AutoDateLocator(minticks=3, maxticks=6)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def band_lines(
    stats: pd.DataFrame,
    arms: Sequence[str],
    panels: Sequence[Panel],
    *,
    x: str = "month",
    xlabel: str = "month of simulation",
    zero_line: bool = False,
    suptitle: str = "",
    styles: dict[str, dict] | None = None,
    events: Sequence[Event] = (),
    replications: int | None = None,
    ncols: int = 3,
) -> Figure:
    """One panel per measure: the mean by arm against ``x`` with a shaded 95% band in the
    arm's colour, edges in its line style. ``x = "date"``: a calendar axis. ``events``: policy
    switches, marked in every panel."""
    styles = _styles_for(arms, styles)
    with styled():
        fig, axes = _axes(len(panels), ncols=ncols)
        for j, (ax, (key, title, unit)) in enumerate(zip(axes, panels, strict=True)):
            for arm in arms:
                d = stats[(stats["arm"] == arm) & (stats["measure"] == key)].sort_values(x)
                if d.empty:
                    continue
                st = _line(styles[arm])
                xs = d[x].to_numpy()
                every = max(len(d) // 8, 1)
                ax.plot(xs, d["mean"].to_numpy(float), label=label_of(arm), markevery=every, **st)
                lo, hi = d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float)
                if np.isfinite(lo).any():
                    # many arms: lighter bands, so that overlaps stay readable
                    alpha = 0.15 if len(arms) <= 4 else 0.07
                    ax.fill_between(xs, lo, hi, color=st["color"], alpha=alpha, linewidth=0)
                    for edge in (lo, hi) if len(arms) <= 4 else ():
                        ax.plot(
                            xs,
                            edge,
                            color=st["color"],
                            linestyle=st["linestyle"],
                            linewidth=0.5,
                            alpha=0.7,
                        )
            if zero_line:
                ax.axhline(0.0, color="0.3", linewidth=0.8)
            _events(ax, events, j == 0)
            _finish(ax, title, xlabel, unit)
            _honest(ax)
            if x == "date":
                _date_axis(ax)
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if suptitle:
            fig.suptitle(suptitle)
        _one_replication(fig, replications)
        _legend(fig, arms, styles)
    return fig


def parameter_effects(
    stats: pd.DataFrame,
    arms: Sequence[str],
    panels: Sequence[Panel],
    *,
    x: str,
    xlabel: str,
    lines: bool,
    zero_line: bool = False,
    suptitle: str = "",
    styles: dict[str, dict] | None = None,
    replications: int | None = None,
) -> Figure:
    """One panel per measure: the mean by arm against a varied parameter with 95% error bars;
    joined by lines for grid levels, separate markers for sampled designs. Arms are dodged
    sideways by 1.5% of the range so their error bars do not hide each other."""
    styles = _styles_for(arms, styles)
    with styled():
        fig, axes = _axes(len(panels))
        values = stats[x].to_numpy(float)
        span = float(np.ptp(values)) if values.size else 0.0
        dodge = 0.015 * (span or 1.0)
        for ax, (key, title, unit) in zip(axes, panels, strict=True):
            for i, arm in enumerate(arms):
                d = stats[(stats["arm"] == arm) & (stats["measure"] == key)].sort_values(x)
                if d.empty:
                    continue
                st = _line(styles[arm])
                if not lines:
                    st["linestyle"] = "none"
                ax.errorbar(
                    d[x].to_numpy(float) + (i - (len(arms) - 1) / 2) * dodge,
                    d["mean"].to_numpy(float),
                    yerr=_err(d),
                    capsize=2.5,
                    elinewidth=0.8,
                    label=label_of(arm),
                    **st,
                )
            if zero_line:
                ax.axhline(0.0, color="0.3", linewidth=0.8)
            _finish(ax, title, xlabel, unit)
            _honest(ax)
        if suptitle:
            fig.suptitle(suptitle)
        _one_replication(fig, replications)
        _legend(fig, arms, styles)
    return fig


def _bars(
    ax, stats: pd.DataFrame, arms: Sequence[str], groups: Sequence[str], styles: dict[str, dict]
) -> None:
    """Grouped bars: one group per entry of ``groups`` (the ``group`` column), one bar per arm."""
    width = 0.8 / max(len(arms), 1)
    xs = np.arange(len(groups))
    for i, arm in enumerate(arms):
        d = stats[stats["arm"] == arm].set_index("group").reindex(list(groups))
        st = styles[arm]
        ax.bar(
            xs + (i - (len(arms) - 1) / 2) * width,
            d["mean"].to_numpy(float),
            width,
            yerr=_err(d),
            capsize=2.0,
            color=st["color"],
            alpha=0.85,
            edgecolor="0.1",
            hatch=st["hatch"],
            linewidth=0.6,
            label=label_of(arm),
            error_kw={"elinewidth": 0.8, "ecolor": "0.1"},
        )
        # a bar of exactly zero is invisible: say it is there
        for x, v in zip(
            xs + (i - (len(arms) - 1) / 2) * width, d["mean"].to_numpy(float), strict=True
        ):
            if v == 0:
                ax.text(x, 0, "0", ha="center", va="bottom", fontsize=6, color=st["color"])
    ax.set_xticks(xs, [label_of(g) for g in groups], fontsize=7)
    ax.axhline(0.0, color="0.3", linewidth=0.6)
    ax.grid(False, axis="x")


def value(
    spending_per_point: pd.DataFrame,
    low_value: pd.DataFrame,
    arms: Sequence[str],
    groups: Sequence[str],
    styles: dict[str, dict] | None = None,
) -> Figure:
    """Left: payer spending + OOP per point of function gained, by arm. Right: low-value share
    of service units by arm, per setting and for all settings."""
    styles = _styles_for(arms, styles)
    with styled():
        fig, (a, b) = plt.subplots(
            1,
            2,
            figsize=(11, 4.0),
            layout="constrained",
            width_ratios=[1, max(1.5, 0.6 * len(groups))],
        )
        _bars(a, spending_per_point.assign(group="all settings"), arms, ["all settings"], styles)
        _finish(a, "Spending per point of function gained", "", "USD per point of function")
        _bars(b, low_value, arms, groups, styles)
        _finish(b, "Low-value share of volume", "care setting", "fraction of service units")
        _legend(fig, arms, styles, kind="bar")
    return fig


def group_bars(
    stats: pd.DataFrame,
    arms: Sequence[str],
    groups: Sequence[str],
    panels: Sequence[Panel],
    *,
    xlabel: str,
    suptitle: str = "",
    styles: dict[str, dict] | None = None,
    replications: int | None = None,
) -> Figure:
    """Subgroups: one panel per measure, grouped bars (one group per subgroup, one bar per
    arm) with 95% error bars. ``stats``: columns ``measure``, ``group``, ``arm``, ``mean``,
    ``ci_low``, ``ci_high``."""
    styles = _styles_for(arms, styles)
    with styled():
        fig, axes = _axes(
            len(panels), ncols=min(len(panels), 2), width=max(4.2, 0.9 * len(groups)), height=3.2
        )
        for ax, (key, title, unit) in zip(axes, panels, strict=True):
            _bars(ax, stats[stats["measure"] == key], arms, groups, styles)
            _finish(ax, title, xlabel, unit)
        if suptitle:
            fig.suptitle(suptitle)
        _one_replication(fig, replications)
        _legend(fig, arms, styles, kind="bar")
    return fig


def ce_plane(
    inc: pd.DataFrame,
    arms: Sequence[str],
    wtp: Sequence[float],
    *,
    styles: dict[str, dict] | None = None,
    baseline: str,
    cost_label: str,
) -> Figure:
    """The cost-effectiveness plane: incremental QALYs (x) and cost (y) per member against the
    baseline, one point per replication (small) and the mean (large) per arm, and lines of
    equal net monetary benefit (cost = λ·QALYs) at each threshold."""
    from matplotlib.lines import Line2D

    styles = _styles_for(arms, styles)
    with styled():
        fig, ax = plt.subplots(figsize=(6.4, 5.0), layout="constrained")
        ax.axhline(0, color="0.3", linewidth=0.8)
        ax.axvline(0, color="0.3", linewidth=0.8)
        for arm in arms:
            d = inc[inc["arm"] == arm]
            st = styles[arm]
            ax.plot(
                d["d_qalys"],
                d["d_cost"],
                linestyle="none",
                marker=st["marker"],
                color=st["color"],
                alpha=0.35,
                markersize=3.5,
            )
            ax.plot(
                d["d_qalys"].mean(),
                d["d_cost"].mean(),
                linestyle="none",
                marker=st["marker"],
                color=st["color"],
                markeredgecolor="0.1",
                markersize=8,
            )
        qmax = float(np.nanmax(np.abs(inc["d_qalys"].to_numpy(float)))) if len(inc) else 0.0
        qmax = qmax * 1.15 or 1e-3
        cmax = float(np.nanmax(np.abs(inc["d_cost"].to_numpy(float)))) if len(inc) else 0.0
        cmax = cmax * 1.15 or 1.0
        qs = np.array([-qmax, qmax])
        dashes = [(0, (1, 1)), (0, (4, 2)), (0, (6, 2, 1, 2)), (0, (8, 3))]
        extra = []
        for k, lam in enumerate(wtp):
            ls = dashes[k % len(dashes)]
            ax.plot(qs, lam * qs, color="0.45", linestyle=ls, linewidth=0.9)
            extra.append(Line2D([], [], color="0.45", linestyle=ls, label=f"${lam:,.0f} per QALY"))
        ax.set_xlim(-qmax, qmax)
        ax.set_ylim(-cmax, cmax)
        _finish(
            ax,
            f"Cost-effectiveness plane against {label_of(baseline)}",
            "incremental QALYs per member (discounted)",
            cost_label,
        )
        for text, xy in (
            ("dearer, better", (0.98, 0.98)),
            ("cheaper, better", (0.98, 0.02)),
            ("dearer, worse", (0.02, 0.98)),
            ("cheaper, worse", (0.02, 0.02)),
        ):
            ax.text(
                *xy,
                text,
                transform=ax.transAxes,
                fontsize=7,
                color="0.4",
                ha="right" if xy[0] > 0.5 else "left",
                va="top" if xy[1] > 0.5 else "bottom",
            )
        _legend(fig, arms, styles, kind="marker", extra=extra)
    return fig


def ceac_curve(
    curve: pd.DataFrame,
    arms: Sequence[str],
    wtp: Sequence[float],
    *,
    styles: dict[str, dict] | None = None,
    draws: int,
) -> Figure:
    """The cost-effectiveness acceptability curve: for each willingness to pay λ, the
    probability (share of replications) that each arm has the highest net monetary benefit."""
    styles = _styles_for(arms, styles)
    with styled():
        fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
        for arm in arms:
            d = curve[curve["arm"] == arm].sort_values("wtp")
            ax.plot(
                d["wtp"] / 1000,
                d["probability"],
                markevery=max(len(d) // 8, 1),
                **_line(styles[arm]),
            )
        for lam in wtp:
            ax.axvline(lam / 1000, color="0.6", linewidth=0.7, linestyle=(0, (1, 2)))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, float(curve["wtp"].max()) / 1000)
        _finish(
            ax,
            "Cost-effectiveness acceptability curve",
            "willingness to pay (thousand USD per QALY)",
            f"probability the arm is cost-effective ({draws} draws)",
        )
        _one_replication(fig, draws)
        _legend(fig, arms, styles)
    return fig


def quality_quantity(
    stats: pd.DataFrame,
    arms: Sequence[str],
    grid: Sequence[Sequence[tuple[Panel, Panel]]],
    *,
    errorbars: bool = True,
    styles: dict[str, dict] | None = None,
) -> Figure:
    """Outcome against volume: ``grid[row][col]`` is an (x panel, y panel) pair, x a volume
    (units per treated patient in a setting) and y an outcome; one marker per arm (and design
    point), with 95% CIs on both axes.

    ``stats`` is wide: one row per (point, arm) with ``<key>``, ``<key>_lo`` and ``<key>_hi``
    columns."""
    styles = _styles_for(arms, styles)
    nrows, ncols = len(grid), max(len(r) for r in grid)
    with styled():
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(4.2 * ncols, 3.4 * nrows + 0.8),
            squeeze=False,
            layout="constrained",
        )
        for r, row in enumerate(grid):
            for c, ((xkey, xtitle, xunit), (ykey, ytitle, yunit)) in enumerate(row):
                ax = axes[r][c]
                for arm in arms:
                    d = stats[stats["arm"] == arm]
                    if d.empty or ykey not in d or xkey not in d:
                        continue
                    st = _line(styles[arm])
                    st["linestyle"] = "none"
                    st["markersize"] = 6
                    xerr = yerr = None
                    if errorbars:
                        xerr = _err(
                            d.rename(
                                columns={
                                    xkey: "mean",
                                    f"{xkey}_lo": "ci_low",
                                    f"{xkey}_hi": "ci_high",
                                }
                            )
                        )
                        yerr = _err(
                            d.rename(
                                columns={
                                    ykey: "mean",
                                    f"{ykey}_lo": "ci_low",
                                    f"{ykey}_hi": "ci_high",
                                }
                            )
                        )
                    ax.errorbar(
                        d[xkey].to_numpy(float),
                        d[ykey].to_numpy(float),
                        xerr=xerr,
                        yerr=yerr,
                        capsize=2.5,
                        elinewidth=0.8,
                        label=label_of(arm),
                        **st,
                    )
                _finish(ax, f"{ytitle}: {label_of(xtitle)}", xunit, yunit)
            for ax in axes[r][len(row) :]:
                ax.set_visible(False)
        _legend(fig, arms, styles)
    return fig


def providers(
    last: pd.DataFrame,
    arms: Sequence[str],
    settings: Sequence[str],
    units: dict[str, str],
    styles: dict[str, dict] | None = None,
) -> Figure:
    """Per setting (rows): box plots by arm of units per treated patient and margin per treated
    patient across providers, and learned style θ against its closed-form optimum θ*."""
    styles = _styles_for(arms, styles)
    with styled():
        fig, axes = plt.subplots(
            len(settings),
            3,
            figsize=(12, 3.6 * len(settings) + 0.8),
            squeeze=False,
            layout="constrained",
        )
        for r, s in enumerate(settings):
            d = last[last["setting"] == s]
            for c, (col, title, unit) in enumerate(
                [
                    (
                        "units_per_patient",
                        "Units per treated patient",
                        f"{units[s]} per treated patient",
                    ),
                    ("margin_per_patient", "Margin per treated patient", "USD per treated patient"),
                ]
            ):
                ax = axes[r][c]
                data = [d.loc[d["arm"] == a, col].dropna().to_numpy(float) for a in arms]
                keep = [i for i, x in enumerate(data) if x.size]
                if keep:
                    bp = ax.boxplot(
                        [data[i] for i in keep],
                        positions=[i + 1 for i in keep],
                        tick_labels=[label_of(arms[i]) for i in keep],
                        patch_artist=True,
                        widths=0.6,
                        medianprops={"color": "0.0", "linewidth": 1.4},
                        flierprops={
                            "marker": "o",
                            "markersize": 3,
                            "markerfacecolor": "none",
                            "markeredgecolor": "0.3",
                        },
                    )
                    for box, i in zip(bp["boxes"], keep, strict=True):
                        st = styles[arms[i]]
                        box.set(
                            facecolor=st["color"], alpha=0.8, hatch=st["hatch"], edgecolor="0.1"
                        )
                _finish(ax, f"{title}: {label_of(s)}", "arm", unit)
                ax.tick_params(axis="x", labelsize=7, labelrotation=30)
            ax = axes[r][2]
            for arm in arms:
                e = d[d["arm"] == arm]
                st = styles[arm]
                ax.plot(
                    e["theta_optimal"],
                    e["theta"],
                    linestyle="none",
                    marker=st["marker"],
                    color=st["color"],
                    markersize=4.5,
                    alpha=0.8,
                    label=label_of(arm),
                )
            if not d.empty:
                both = np.concatenate(
                    [d["theta"].to_numpy(float), d["theta_optimal"].to_numpy(float)]
                )
                both = both[np.isfinite(both)]
                if both.size:
                    lo, hi = both.min(), both.max()
                    pad = 0.05 * (hi - lo or 1.0)
                    ax.plot(
                        [lo - pad, hi + pad],
                        [lo - pad, hi + pad],
                        color="0.4",
                        linestyle="--",
                        linewidth=0.8,
                        label="θ = θ*",
                    )
            _finish(
                ax,
                f"Learned vs optimal style: {label_of(s)}",
                "θ* optimal style (units/month)",
                "θ learned style (units/month)",
            )
        _legend(fig, arms, styles)
    return fig


def as_dates(months: pd.Series, start: dt.date) -> pd.Series:
    """Simulation months as the first day of their calendar month (datetime64)."""
    k = start.year * 12 + start.month - 1 + months.astype(int)
    return pd.to_datetime({"year": k // 12, "month": k % 12 + 1, "day": 1})
