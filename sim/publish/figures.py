"""Figures of ``sim report``, ``sim run``, ``sim sensitivity`` and ``sim calibrate``
(matplotlib; imported by :mod:`sim.publish` and by the experiments' writers).

Every function takes tidy statistics already computed (columns ``arm``, ``measure``, ``n``,
``mean``, ``ci_low``, ``ci_high`` and an x column) and returns a figure; :func:`save` writes it
as PNG (300 dpi), PDF and SVG. Figures are drawn at the size they are printed: a journal's page
width (:data:`PAGE`, 7.2 inches) or column width (:data:`COLUMN`, 3.5 inches), with text of at
least :data:`MIN_FONT` points, so nothing shrinks when the figure is placed in a paper.

One style for all (``sim/publish/style/payment_sim.mplstyle``), and one look per arm, keyed by
its name (:func:`arm_styles`: colour, line style, marker and hatching by the arm's place in the
scenario), so an arm looks the same in every figure, with or without the baseline, in the report
and in the explorer; arms stay distinguishable in greyscale by line style, marker and hatching.
Labels are words (:mod:`sim.publish.labels`). Time series show calendar dates and mark the
policy switches; a figure says what its intervals are, and a figure of one replication says it
has none. :func:`text_overlaps` finds labels drawn over each other (the figure tests use it).

Figures are :class:`matplotlib.figure.Figure` objects with their own canvas, not pyplot's: no
global figure list, so figures can be drawn from several threads (the explorer's server).
"""

from __future__ import annotations

import datetime as dt
import functools
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.guards.paths import STYLE, data_file
from sim.publish.labels import label_of

__all__ = ["label_of"]

#: the package's matplotlib style file
STYLE_FILE = data_file(STYLE)
#: a journal's text width and column width, inches (two-column layouts: 7.2 and 3.5)
PAGE, COLUMN = 7.2, 3.5
#: the smallest text a figure may hold, points (at the size it is drawn and printed)
MIN_FONT = 6.0
#: arm colours, most distinct first: Okabe & Ito (2008) [@okabe2008] without yellow (too light),
#: ordered so that the two close pairs (orange / vermillion, sky blue / blue) fall on arms
#: whose line styles and markers differ most; then grey and wine
COLOURS = [
    "#000000",
    "#E69F00",
    "#0072B2",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#999999",
    "#882255",
    "#F0E442",
]
#: line style and marker of each place: solid, dashed, dash-dot and dotted lines first, filled
#: and hollow markers alternating
LINES = [
    ("-", "o"),
    ("--", "s"),
    ("-.", "^"),
    (":", "D"),
    ((0, (6, 2)), "v"),
    ((0, (1, 1.2)), "X"),
    ((0, (3, 1, 1, 1, 1, 1)), "P"),
    ((0, (8, 2, 2, 2)), "*"),
    ((0, (2, 2)), "<"),
    ((0, (4, 1, 1, 1)), ">"),
]
#: bar hatching per arm (greyscale-safe)
HATCHES = ["", "//", "..", "xx", "\\\\", "--", "++", "oo", "||", "**"]
DPI = 300
#: arms above which a time series leaves its bands out, so that the lines stay readable
MANY_ARMS = 4

#: (measure key, panel title, y-axis label with unit)
Panel = tuple[str, str, str]
#: a policy switch to mark: (x position, label)
Event = tuple[object, str]


@functools.cache
def _style() -> dict:
    """The style file's settings, each checked by matplotlib's own validator (an RcParams made
    under a server that scopes rcParams per user, as Solara's does, skips validation)."""
    raw = matplotlib.rc_params_from_file(str(STYLE_FILE), use_default_template=False)
    return {k: matplotlib.RcParams.validate[k](v) for k, v in dict(raw).items()}


@contextmanager
def styled() -> Iterator[None]:
    """Draw inside the package's style."""
    with matplotlib.rc_context(_style()):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` × ``height`` inches with its own (Agg) canvas and constrained
    layout; create it inside :func:`styled`."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


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
            "markersize": 4.0,
            "linewidth": 1.3,
            "hatch": HATCHES[i % len(HATCHES)],
        }
    return out


def _line(style: dict) -> dict:
    return {k: v for k, v in style.items() if k != "hatch"}


def _styles_for(arms: Sequence[str], styles: dict[str, dict] | None) -> dict[str, dict]:
    return styles if styles is not None else arm_styles(arms)


def save(fig: Figure, folder: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` (300 dpi), ``stem.pdf`` and ``stem.svg`` (no time stamps: same data,
    same bytes)."""
    png, pdf, svg = (folder / f"{stem}.{ext}" for ext in ("png", "pdf", "svg"))
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.set_layout_engine("none")  # keep the layout just computed: it is costly to redo
    fig.savefig(pdf, metadata={"Creator": None, "Producer": None, "CreationDate": None})
    fig.savefig(svg, metadata={"Creator": None, "Date": None})
    return [png, pdf, svg]


def _axes(
    n: int,
    ncols: int = 2,
    height: float = 2.1,
    width: float = PAGE,
    *,
    sharex: bool = False,
    sharey: bool = False,
    extra: float = 0.7,
) -> tuple[Figure, list]:
    """A figure ``width`` inches wide with ``n`` panels in rows of ``ncols``, each ``height``
    inches high, plus ``extra`` inches for the title and legend; unused cells hidden."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = new_figure(width, height * nrows + extra)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _chars(ax, fontsize: float = 8.0) -> int:
    """About how many characters of text fit across an axes (for wrapping its title)."""
    # the layout takes some of the cell for tick and axis labels: count on 85% of it
    width = 0.85 * ax.get_position().width * ax.figure.get_figwidth()
    return max(12, int(width * 72 / (0.6 * fontsize)))


def wrap(text: str, width: int) -> str:
    """``text`` wrapped to lines of at most ``width`` characters, keeping its own line breaks."""
    return "\n".join(textwrap.fill(line, width) for line in str(text).split("\n"))


def _finish(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(wrap(title.replace("_", " "), _chars(ax)), loc="left")
    ax.set_xlabel(wrap(xlabel, _chars(ax, 7.5)) if xlabel else "")
    ax.set_ylabel(wrap(ylabel, 30))


def _honest(ax) -> None:
    """Axes that do not exaggerate differences: a y range that includes zero when the data are
    all of one sign (a level is read from zero; a difference against zero)."""
    lo, hi = ax.get_ylim()
    if lo > 0:
        ax.set_ylim(0, hi)
    elif hi < 0:
        ax.set_ylim(lo, 0)


def _handles(arms: Sequence[str], styles: dict[str, dict], kind: str) -> list:
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
            line["markersize"] = 6
            handles.append(Line2D([], [], label=label_of(a), **line))
        else:
            handles.append(Line2D([], [], label=label_of(a), **_line(st)))
    return handles


def _legend(
    fig: Figure,
    arms: Sequence[str],
    styles: dict[str, dict],
    *,
    kind: str = "line",
    extra: Sequence = (),
    note: str | None = None,
) -> None:
    """One legend for the figure, below the panels, in the arms' order; as many columns as the
    figure's width holds for the longest entry. ``note`` (what the intervals are) is the
    legend's title, so the layout makes room for it."""
    handles = _handles(arms, styles, kind) + list(extra)
    if not handles:
        return
    longest = max(len(h.get_label()) for h in handles)
    per = 0.35 + longest * 7 * 0.55 / 72  # inches: the key, then the text at 7 pt
    ncol = max(1, min(len(handles), int(fig.get_figwidth() // per)))
    legend = fig.legend(handles=handles, loc="outside lower center", ncol=ncol, title=note)
    if note:
        legend.get_title().set(fontsize=7, style="italic", color="0.3")


def _err(d: pd.DataFrame) -> np.ndarray | None:
    """Asymmetric error bars from ci_low/ci_high; None when no interval exists."""
    lo = (d["mean"] - d["ci_low"]).to_numpy(float)
    hi = (d["ci_high"] - d["mean"]).to_numpy(float)
    if not np.isfinite(lo).any():
        return None
    return np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)])


def interval_text(replications: int | None, what: str = "95% CI") -> str | None:
    """What a figure's intervals are: "95% CI over N replications", or that one replication
    gives none; None when the figure has no intervals to describe."""
    if replications is None:
        return None
    if replications == 1:
        return "1 replication: no confidence interval"
    return f"{what} over {replications} replications"


def _note_in_title(fig: Figure, suptitle: str, replications: int | None) -> None:
    """A figure without a legend says what its intervals are in its title."""
    text = interval_text(replications)
    fig.suptitle(f"{suptitle} ({text})" if suptitle and text else suptitle or text or "")


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
                fontsize=6.5,
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
    ncols: int = 2,
) -> Figure:
    """One panel per measure: the mean by arm against ``x`` with a shaded 95% band in the
    arm's colour, its edges in the arm's line style. With more than :data:`MANY_ARMS` arms the
    bands are left out (seven overlapping bands hide the lines; the figure says so, and the
    intervals stay in the data files). ``x = "date"``: a calendar axis. ``events``: policy
    switches, marked in every panel."""
    styles = _styles_for(arms, styles)
    bands = with_bands(len(arms))
    with styled():
        fig, axes = _axes(len(panels), ncols=ncols, sharex=True)
        for j, (ax, (key, title, unit)) in enumerate(zip(axes, panels, strict=True)):
            for arm in arms:
                d = stats[(stats["arm"] == arm) & (stats["measure"] == key)].sort_values(x)
                if d.empty:
                    continue
                st = _line(styles[arm])
                xs = d[x].to_numpy()
                every = max(len(d) // 6, 1)
                ax.plot(xs, d["mean"].to_numpy(float), label=label_of(arm), markevery=every, **st)
                lo, hi = d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float)
                if bands and np.isfinite(lo).any():
                    ax.fill_between(xs, lo, hi, color=st["color"], alpha=0.15, linewidth=0)
                    for edge in (lo, hi):
                        ax.plot(xs, edge, color=st["color"], linestyle=st["linestyle"],
                                linewidth=0.5, alpha=0.7)  # fmt: skip
            if zero_line:
                ax.axhline(0.0, color="0.3", linewidth=0.8)
            _events(ax, events, j == 0)
            # the x label once, under the bottom row (the panels share their x axis)
            bottom = j >= len(panels) - min(ncols, len(panels))
            _finish(ax, title, xlabel if bottom else "", unit)
            _honest(ax)
            if x == "date":
                _date_axis(ax)
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if not bottom:
                ax.tick_params(labelbottom=False)
        if suptitle:
            fig.suptitle(suptitle)
        note = interval_text(replications, "shaded: 95% CI")
        if not bands and replications is not None and replications > 1:
            note = (
                f"lines: means over {replications} replications (95% bands left out with "
                f"{len(arms)} arms)"
            )
        _legend(fig, arms, styles, note=note)
    return fig


def with_bands(arms: int) -> bool:
    """Whether a time series of this many arms draws its 95% bands (:data:`MANY_ARMS`)."""
    return arms <= MANY_ARMS


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
                    capsize=2.0,
                    elinewidth=0.7,
                    label=label_of(arm),
                    **st,
                )
            if zero_line:
                ax.axhline(0.0, color="0.3", linewidth=0.8)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            _finish(ax, title, xlabel, unit)
            _honest(ax)
        if suptitle:
            fig.suptitle(suptitle)
        _legend(fig, arms, styles, note=interval_text(replications))
    return fig


def group_label(group: object, width: int = 0) -> str:
    """A subgroup's name for an axis: in words, one line per dimension of a crossed group
    ("medicare_ffs & Q1" → "Medicare fee-for-service" over "Q1"), each wrapped to ``width``
    characters when given."""
    parts = [label_of(p.strip()) for p in str(group).split("&")]
    return "\n".join(wrap(p, width) if width else p for p in parts)


def _bars(
    ax, stats: pd.DataFrame, arms: Sequence[str], groups: Sequence[str], styles: dict[str, dict]
) -> None:
    """Grouped bars: one group per entry of ``groups`` (the ``group`` column), one bar per arm."""
    width = 0.8 / max(len(arms), 1)
    xs = np.arange(len(groups))
    for i, arm in enumerate(arms):
        d = stats[stats["arm"] == arm].set_index("group").reindex(list(groups))
        st = styles[arm]
        at = xs + (i - (len(arms) - 1) / 2) * width
        means = d["mean"].to_numpy(float)
        ax.bar(
            at,
            means,
            width,
            yerr=_err(d),
            capsize=1.5,
            color=st["color"],
            alpha=0.85,
            edgecolor="0.1",
            hatch=st["hatch"],
            linewidth=0.5,
            label=label_of(arm),
            error_kw={"elinewidth": 0.7, "ecolor": "0.1"},
        )
        # a bar of exactly zero is invisible: a marker on the axis says it is there
        zero = means == 0
        if zero.any():
            ax.plot(at[zero], means[zero], linestyle="none", marker="_", markersize=5,
                    markeredgewidth=1.5, color=st["color"], clip_on=False)  # fmt: skip
    # a group's label wraps to the width of its group of bars (7-point text)
    room = ax.get_position().width * ax.figure.get_figwidth() / max(len(groups), 1)
    chars = max(6, int(room * 72 / (0.58 * 7)))
    ax.set_xticks(xs, [group_label(g, chars) for g in groups])
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
        fig = new_figure(PAGE, 3.4)
        a, b = fig.subplots(1, 2, width_ratios=[1, max(1.5, 0.7 * len(groups))])
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
    arm) with 95% error bars; panels side by side when their groups fit, else one per row.
    ``stats``: columns ``measure``, ``group``, ``arm``, ``mean``, ``ci_low``, ``ci_high``."""
    styles = _styles_for(arms, styles)
    bars = len(groups) * len(arms)
    ncols = 2 if bars <= 24 and len(groups) <= 4 else 1
    with styled():
        fig, axes = _axes(len(panels), ncols=ncols, height=2.4, extra=0.9)
        for ax, (key, title, unit) in zip(axes, panels, strict=True):
            _bars(ax, stats[stats["measure"] == key], arms, groups, styles)
            _finish(ax, title, xlabel, unit)
        if suptitle:
            fig.suptitle(suptitle)
        _legend(fig, arms, styles, kind="bar", note=interval_text(replications))
    return fig


def forest(
    stats: pd.DataFrame,
    arms: Sequence[str],
    panels: Sequence[Panel],
    *,
    suptitle: str = "",
    styles: dict[str, dict] | None = None,
    replications: int | None = None,
    zero: Sequence[str] = (),
) -> Figure:
    """One panel per measure, two a row: each arm's mean (a marker in its look) with its 95%
    interval (a horizontal bar), arms listed top to bottom in their order and named once per
    row; a line at zero in the panels of ``zero`` (differences). ``stats``: columns ``arm``,
    ``measure``, ``mean``, ``ci_low``, ``ci_high``."""
    styles = _styles_for(arms, styles)
    n = len(panels)
    height = 0.2 * len(arms) + 0.9
    with styled():
        fig, axes = _axes(n, ncols=2 if n > 1 else 1, height=height, sharey=True, extra=0.5)
        ys = np.arange(len(arms))[::-1]
        for j, (ax, (key, title, unit)) in enumerate(zip(axes, panels, strict=True)):
            for y, arm in zip(ys, arms, strict=True):
                d = stats[(stats["arm"] == arm) & (stats["measure"] == key)]
                if d.empty:
                    continue
                st = _line(styles[arm])
                st["linestyle"] = "none"
                err = _err(d)
                ax.errorbar(
                    d["mean"].to_numpy(float),
                    [y],
                    xerr=None if err is None else err,
                    capsize=2.0,
                    elinewidth=1.0,
                    ecolor=st["color"],
                    **st,
                )
            if key in zero:
                ax.axvline(0.0, color="0.3", linewidth=0.8)
            ax.set_yticks(ys, [label_of(a) for a in arms])
            ax.set_ylim(-0.6, len(arms) - 0.4)
            ax.grid(False, axis="y")
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            _finish(ax, title, unit, "")
            if j % 2:
                ax.tick_params(labelleft=False)
        _note_in_title(fig, suptitle, replications)
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
    baseline, one point per replication (small, faint) and the mean (large) per arm, each in
    the arm's own marker and colour, and lines of equal net monetary benefit (cost = λ·QALYs)
    at each threshold."""
    from matplotlib.lines import Line2D

    styles = _styles_for(arms, styles)
    with styled():
        fig = new_figure(5.2, 4.6)
        ax = fig.subplots()
        ax.axhline(0, color="0.3", linewidth=0.8)
        ax.axvline(0, color="0.3", linewidth=0.8)
        for arm in arms:
            d = inc[inc["arm"] == arm]
            st = _line(styles[arm])
            st["linestyle"] = "none"
            small = {**st, "markersize": 3.0, "alpha": 0.4}
            ax.plot(d["d_qalys"], d["d_cost"], **small)
            big = {**st, "markersize": 8.0, "markeredgewidth": 1.4}
            ax.plot(d["d_qalys"].mean(), d["d_cost"].mean(), **big)
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
            extra.append(
                Line2D([], [], color="0.45", linestyle=ls, label=f"λ = ${lam:,.0f} per QALY")
            )
        ax.set_xlim(-qmax, qmax)
        ax.set_ylim(-cmax, cmax)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
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
                fontsize=6.5,
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
    probability (share of the ``draws`` replications) that each arm has the highest net
    monetary benefit. Arms that are never the best at any λ shown are named under the axes
    rather than drawn on top of each other at zero; the scenario's thresholds are labelled."""
    styles = _styles_for(arms, styles)
    with styled():
        fig = new_figure(5.2, 3.4)
        ax = fig.subplots()
        best = {a: float(curve.loc[curve["arm"] == a, "probability"].max()) for a in arms}
        shown = [a for a in arms if best[a] > 0]
        never = [a for a in arms if not best[a] > 0]
        for arm in shown:
            d = curve[curve["arm"] == arm].sort_values("wtp")
            ax.plot(
                d["wtp"] / 1000,
                d["probability"],
                markevery=max(len(d) // 6, 1),
                **_line(styles[arm]),
            )
        for lam in wtp:
            ax.axvline(lam / 1000, color="0.6", linewidth=0.7, linestyle=(0, (1, 2)))
            ax.annotate(
                f"${lam / 1000:,.0f}k",
                xy=(lam / 1000, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=6.5,
                color="0.35",
            )
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, float(curve["wtp"].max()) / 1000)
        _finish(
            ax,
            "Cost-effectiveness acceptability curve",
            "willingness to pay λ (thousand USD per QALY; dotted: the scenario's thresholds)",
            f"share of {draws} draws in which the arm has the highest net benefit",
        )
        ax.set_title(ax.get_title(loc="left"), loc="left", pad=12)
        note = None
        if never:
            note = wrap(
                "never the highest net benefit at any λ shown: "
                + ", ".join(label_of(a) for a in never),
                90,
            )
        _legend(fig, shown, styles, note=note)
    return fig


#: a quality-against-quantity panel: (x panel, y panel)
PanelPair = tuple[Panel, Panel]


def quality_quantity(
    stats: pd.DataFrame,
    arms: Sequence[str],
    pairs: Sequence[PanelPair],
    *,
    errorbars: bool = True,
    styles: dict[str, dict] | None = None,
) -> Figure:
    """Outcome against volume: one panel per (x panel, y panel) pair, x a volume and y an
    outcome; one marker per arm (and design point), with 95% CIs on both axes.

    ``stats`` is wide: one row per (point, arm) with ``<key>``, ``<key>_lo`` and ``<key>_hi``
    columns; a pair whose columns are missing is left out."""
    styles = _styles_for(arms, styles)
    pairs = [p for p in pairs if p[0][0] in stats and p[1][0] in stats]
    with styled():
        fig, axes = _axes(len(pairs), ncols=2, height=2.5)
        for ax, ((xkey, _, xunit), (ykey, ytitle, yunit)) in zip(axes, pairs, strict=True):
            for arm in arms:
                d = stats[stats["arm"] == arm]
                if d.empty:
                    continue
                st = _line(styles[arm])
                st["linestyle"] = "none"
                st["markersize"] = 5
                xerr = yerr = None
                if errorbars:
                    xerr = _err(_as_stats(d, xkey))
                    yerr = _err(_as_stats(d, ykey))
                ax.errorbar(
                    d[xkey].to_numpy(float),
                    d[ykey].to_numpy(float),
                    xerr=xerr,
                    yerr=yerr,
                    capsize=2.0,
                    elinewidth=0.7,
                    label=label_of(arm),
                    **st,
                )
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            _finish(ax, ytitle, xunit, yunit)
        _legend(fig, arms, styles)
    return fig


def _as_stats(d: pd.DataFrame, key: str) -> pd.DataFrame:
    return d.rename(columns={key: "mean", f"{key}_lo": "ci_low", f"{key}_hi": "ci_high"})


def providers(
    last: pd.DataFrame,
    arms: Sequence[str],
    settings: Sequence[str],
    units: dict[str, str],
    styles: dict[str, dict] | None = None,
) -> Figure:
    """Per setting (rows): box plots by arm (arms top to bottom, named once per row) of units
    per treated patient and of margin per treated patient across providers, and learned style
    θ against its closed-form optimum θ*."""
    styles = _styles_for(arms, styles)
    with styled():
        fig = new_figure(PAGE, (0.25 * len(arms) + 1.3) * len(settings) + 0.7)
        axes = fig.subplots(len(settings), 3, squeeze=False, width_ratios=[1.15, 1, 1])
        ys = np.arange(len(arms))[::-1] + 1
        for r, s in enumerate(settings):
            d = last[last["setting"] == s]
            for c, (col, title, unit) in enumerate(
                [
                    ("units_per_patient", "Units per treated patient",
                     f"{units[s]} per treated patient"),
                    ("margin_per_patient", "Margin per treated patient",
                     "USD per treated patient"),
                ]
            ):  # fmt: skip
                ax = axes[r][c]
                data = [d.loc[d["arm"] == a, col].dropna().to_numpy(float) for a in arms]
                keep = [i for i, x in enumerate(data) if x.size]
                if keep:
                    bp = ax.boxplot(
                        [data[i] for i in keep],
                        positions=[ys[i] for i in keep],
                        orientation="horizontal",
                        patch_artist=True,
                        widths=0.6,
                        medianprops={"color": "0.0", "linewidth": 1.2},
                        flierprops={"marker": "o", "markersize": 2.5, "markerfacecolor": "none",
                                    "markeredgecolor": "0.3"},
                    )  # fmt: skip
                    for box, i in zip(bp["boxes"], keep, strict=True):
                        st = styles[arms[i]]
                        box.set(
                            facecolor=st["color"], alpha=0.8, hatch=st["hatch"], edgecolor="0.1"
                        )
                ax.set_yticks(ys, [label_of(a) for a in arms] if c == 0 else [])
                ax.set_ylim(0.4, len(arms) + 0.6)
                ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
                _finish(ax, f"{title}: {label_of(s)}", unit, "")
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
                    markerfacecolor=st["markerfacecolor"],
                    markersize=3.5,
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
                    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4",
                            linestyle="--", linewidth=0.8)  # fmt: skip
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            _finish(
                ax,
                f"Learned against optimal style: {label_of(s)}",
                "optimal style θ* (units per month)",
                "learned style θ (units per month)",
            )
        _legend(fig, arms, styles)
    return fig


def sensitivity(
    df: pd.DataFrame, method: str, outcome: str, labels: dict[str, str], title: str = ""
) -> Figure:
    """Sensitivity indices per parameter, one panel per arm (two panels a row, the parameters
    named once per row, one index axis for all): Sobol first-order and total indices, or
    Morris μ*, with 95% CIs. Sobol indices are shares of variance, so the axis spans 0 to 1
    (an interval reaching beyond it is cut at the edge and marked with an arrow); the seed's
    share of the variance of single runs is written under each panel."""
    arms = list(dict.fromkeys(df["arm"]))
    params = list(dict.fromkeys(df["parameter"]))
    ys = np.arange(len(params))[::-1]
    height = 0.32 * len(params) + 1.0
    ncols = 2 if len(arms) > 1 else 1
    sobol = method == "sobol"
    with styled():
        fig, axes = _axes(len(arms), ncols=ncols, height=height, sharex=True, sharey=True,
                          extra=0.8)  # fmt: skip
        for j, (ax, arm) in enumerate(zip(axes, arms, strict=True)):
            d = df[df["arm"] == arm].set_index("parameter").reindex(params)
            if sobol:
                bars = [("S1", "first-order index S1", COLOURS[2], "", -0.18),
                        ("ST", "total index ST", COLOURS[1], "//", 0.18)]  # fmt: skip
            else:
                bars = [("mu_star", "μ*", COLOURS[2], "", 0.0)]
            for key, label, colour, hatch, off in bars:
                mean = d[key].to_numpy(float)
                conf = d[f"{key}_conf"].to_numpy(float)
                shown = np.clip(mean, -0.05, 1.05) if sobol else mean
                ax.barh(ys + off, shown, 0.34 if sobol else 0.6, color=colour, hatch=hatch,
                        edgecolor="0.1", linewidth=0.4, label=label)  # fmt: skip
                lo, hi = mean - conf, mean + conf
                if sobol:
                    cut_lo, cut_hi = lo < -0.05, hi > 1.05
                    lo, hi = np.clip(lo, -0.05, 1.05), np.clip(hi, -0.05, 1.05)
                    for y, c_lo, c_hi in zip(ys + off, cut_lo, cut_hi, strict=True):
                        if c_lo:
                            ax.plot(-0.05, y, marker="<", color="0.1", markersize=3,
                                    clip_on=False)  # fmt: skip
                        if c_hi:
                            ax.plot(1.05, y, marker=">", color="0.1", markersize=3,
                                    clip_on=False)  # fmt: skip
                ok = np.isfinite(lo) & np.isfinite(hi)
                ax.hlines((ys + off)[ok], lo[ok], hi[ok], color="0.1", linewidth=0.8)
            if sobol:
                ax.set_xlim(-0.05, 1.05)
                ax.axvline(0, color="0.3", linewidth=0.6)
            index = d["S1" if sobol else "mu_star"].to_numpy(float)
            if not np.isfinite(index).any():
                ax.text(0.5, 0.5, "indices undefined:\nthe outcome does not vary\nacross "
                        "design points", transform=ax.transAxes, ha="center", va="center",
                        fontsize=7, color="0.3")  # fmt: skip
            ax.set_yticks(ys, [labels.get(p, p) for p in params])
            if j % ncols:
                ax.tick_params(labelleft=False)
            seed = d["seed_share"].iloc[0] if "seed_share" in d else np.nan
            xlabel = ("Sobol index (share of the variance)" if sobol
                      else f"Morris μ* ({title or label_of(outcome)})")  # fmt: skip
            if np.isfinite(seed):
                xlabel += f"\nseed: {100 * seed:.0f}% of the variance of single runs"
            _finish(ax, label_of(arm), xlabel, "")
            ax.grid(True, axis="x")
            ax.grid(False, axis="y")
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncol=len(names),
                   title="bars: 95% confidence intervals (SALib)")  # fmt: skip
        fig.suptitle(f"Sensitivity of {title or label_of(outcome)}")
    return fig


def objective_by_trial(trials: pd.DataFrame, name: str) -> Figure:
    """A calibration's objective by trial (log scale) and the best so far; ``trials``: the
    finished trials, columns ``trial`` and ``objective``."""
    with styled():
        fig = new_figure(COLUMN * 1.5, 2.8)
        ax = fig.subplots()
        ax.plot(trials["trial"], trials["objective"], linestyle="none", marker="o",
                markersize=2.5, color=COLOURS[2], alpha=0.7, label="trial")  # fmt: skip
        ax.plot(trials["trial"], trials["objective"].cummin(), color=COLOURS[1],
                label="best so far")  # fmt: skip
        if (trials["objective"] > 0).all() and len(trials):
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        _finish(ax, f"Calibration {label_of(name)}: objective by trial", "trial",
                "objective (weighted squared z-scores)")  # fmt: skip
        ax.legend(loc="upper right")
    return fig


def targets_fit(fit: pd.DataFrame) -> Figure:
    """Each calibration target (its value ± its stated uncertainty) beside the model's figure
    at the best trial (its 95% interval over seeds), one panel per target, three a row;
    ``fit``: columns ``target``, ``value``, ``uncertainty``, ``model``, ``model_low``,
    ``model_high``."""
    n = len(fit)
    with styled():
        fig, axes = _axes(n, ncols=3, height=1.9, extra=0.5)
        for ax, (_, row) in zip(axes, fit.iterrows(), strict=True):
            u = float(row["uncertainty"])
            ax.errorbar([0], [row["value"]], yerr=[[u], [u]], fmt="s", color="0.1", capsize=3,
                        label="target ± its uncertainty")  # fmt: skip
            lo, hi = float(row["model_low"]), float(row["model_high"])
            m = float(row["model"])
            err = [[max(m - lo, 0.0)], [max(hi - m, 0.0)]] if np.isfinite(lo) else None
            ax.errorbar([1], [m], yerr=err, fmt="o", color=COLOURS[2], capsize=3,
                        label="model, 95% interval over seeds")  # fmt: skip
            ax.set_xticks([0, 1], ["target", "model"])
            ax.set_xlim(-0.6, 1.6)
            ax.grid(False, axis="x")
            _finish(ax, label_of(row["target"]), "", "")
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncol=2)
    return fig


def as_dates(months: pd.Series, start: dt.date) -> pd.Series:
    """Simulation months as the first day of their calendar month (datetime64)."""
    k = start.year * 12 + start.month - 1 + months.astype(int)
    return pd.to_datetime({"year": k // 12, "month": k % 12 + 1, "day": 1})


# ---------------------------------------------------------------------------------------------
# checks of a drawn figure (the figure tests)


def _texts(fig: Figure) -> list:
    """The figure's visible, non-empty texts that are drawn: tick labels of ticks inside the
    view, titles, axis labels, legend entries, annotations and the figure's own texts."""
    from matplotlib.text import Text

    out = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            eps = 1e-9 * max(abs(lo), abs(hi), 1.0)
            for loc, label in zip(axis.get_majorticklocs(), axis.get_majorticklabels(),
                                  strict=False):  # fmt: skip
                if lo - eps <= loc <= hi + eps:
                    out.append(label)
            out.append(axis.label)
        texts = list(ax.texts)
        # the centre, left and right titles: the Axes' texts that are not among ax.texts
        out += [c for c in ax.get_children() if isinstance(c, Text) and c not in texts]
        out += texts
        ax_legend = ax.get_legend()
        if ax_legend is not None:
            out += list(ax_legend.get_texts())
    for legend in fig.legends:
        out += list(legend.get_texts())
    out += list(fig.texts)
    for maybe in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        if maybe is not None:
            out.append(maybe.get_title())
    seen: set[int] = set()
    unique = []
    for t in out:
        if id(t) not in seen:
            seen.add(id(t))
            unique.append(t)
    return [t for t in unique if isinstance(t, Text) and t.get_visible() and t.get_text().strip()]


def text_overlaps(fig: Figure) -> list[str]:
    """What is wrong with the texts of a drawn figure, as sentences (empty when nothing is):
    two texts drawn over each other (tick labels of one axis included), a text reaching
    outside the figure, a text smaller than :data:`MIN_FONT` points, a figure wider than a
    journal's page (:data:`PAGE` plus a tenth of an inch). Uses the bounding boxes matplotlib
    computes when it draws the figure."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)  # new_figure's, which draws and measures
    canvas.draw()
    renderer = canvas.get_renderer()
    problems = []
    if fig.get_figwidth() > PAGE + 0.1:
        problems.append(f"figure {fig.get_figwidth():.2f} in wide (a page is {PAGE} in)")
    texts = _texts(fig)
    frame = fig.bbox
    boxes = []
    for t in texts:
        box = t.get_window_extent(renderer)
        name = repr(t.get_text().replace("\n", " ")[:40])
        if t.get_fontsize() < MIN_FONT - 1e-9:
            problems.append(f"text {name} is {t.get_fontsize():.1f} pt (at least {MIN_FONT})")
        if (box.x0 < frame.x0 - 1 or box.y0 < frame.y0 - 1 or box.x1 > frame.x1 + 1
                or box.y1 > frame.y1 + 1):  # fmt: skip
            problems.append(f"text {name} reaches outside the figure")
        boxes.append((name, box.expanded(1.0, 1.0).padded(-0.5)))
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            (a, ba), (b, bb) = boxes[i], boxes[j]
            if ba.width > 0 and bb.width > 0 and ba.overlaps(bb):
                problems.append(f"texts {a} and {b} overlap")
    return problems
