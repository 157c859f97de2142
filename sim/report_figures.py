"""Figures of ``sim report`` (matplotlib; imported only by :mod:`sim.report`).

Every function takes tidy statistics already computed by :mod:`sim.report` (columns ``arm``,
``measure``, ``n``, ``mean``, ``ci_low``, ``ci_high`` and an x column) and returns a figure;
:func:`save` writes it as PNG and PDF. Arms are told apart in greyscale by line style, marker
and hatching (the styles of :mod:`sim.plots`), never by colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.plots import _STYLES

#: bar hatching per arm (greyscale-safe), and face greys
HATCHES = ["", "//", "..", "xx", "\\\\", "--", "++", "oo"]
FACES = ["0.88", "0.6", "1.0", "0.75", "0.95", "0.5", "0.82", "0.68"]

#: (measure key, panel title, y-axis label with unit)
Panel = tuple[str, str, str]


def save(fig: Figure, folder: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` (no time stamps: same data, same bytes) and close."""
    png, pdf = folder / f"{stem}.png", folder / f"{stem}.pdf"
    fig.savefig(png, dpi=130, metadata={"Software": None})
    fig.set_layout_engine("none")  # keep the layout just computed: it is costly to redo
    fig.savefig(pdf, metadata={"Creator": None, "Producer": None, "CreationDate": None})
    plt.close(fig)
    return [png, pdf]


def _style(i: int) -> dict:
    ls, marker = _STYLES[i % len(_STYLES)]
    face = "0.15" if i % 2 == 0 else "white"
    return {
        "color": "0.15",
        "linestyle": ls,
        "marker": marker,
        "markerfacecolor": face,
        "markeredgecolor": "0.15",
        "markersize": 4.5,
        "linewidth": 1.3,
    }


def _axes(n: int, ncols: int = 3, height: float = 3.0, width: float = 3.7):
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, height * nrows + 0.7),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _finish(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)


def _legend(fig: Figure, ax, ncol: int) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=max(1, min(ncol, 6)),
            fontsize=8,
            frameon=False,
        )


def _err(d: pd.DataFrame) -> np.ndarray | None:
    """Asymmetric error bars from ci_low/ci_high; None when no interval exists."""
    lo = (d["mean"] - d["ci_low"]).to_numpy(float)
    hi = (d["ci_high"] - d["mean"]).to_numpy(float)
    if not np.isfinite(lo).any():
        return None
    return np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)])


def band_lines(
    stats: pd.DataFrame,
    arms: Sequence[str],
    panels: Sequence[Panel],
    *,
    x: str = "month",
    xlabel: str = "month of simulation",
    zero_line: bool = False,
    suptitle: str = "",
) -> Figure:
    """One panel per measure: the mean by arm against ``x`` with a shaded 95% band (its edges
    drawn in the arm's line style so each band stays identifiable in greyscale)."""
    fig, axes = _axes(len(panels))
    for ax, (key, title, unit) in zip(axes, panels, strict=True):
        for i, arm in enumerate(arms):
            d = stats[(stats["arm"] == arm) & (stats["measure"] == key)].sort_values(x)
            if d.empty:
                continue
            st = _style(i)
            xs = d[x].to_numpy(float)
            every = max(len(d) // 8, 1)
            ax.plot(xs, d["mean"], label=arm, markevery=every, **st)
            lo, hi = d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float)
            if np.isfinite(lo).any():
                ax.fill_between(xs, lo, hi, color="0.5", alpha=0.15, linewidth=0)
                for edge in (lo, hi):
                    ax.plot(xs, edge, color="0.45", linestyle=st["linestyle"], linewidth=0.6)
        if zero_line:
            ax.axhline(0.0, color="0.3", linewidth=0.8)
        _finish(ax, title, xlabel, unit)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    _legend(fig, axes[0], len(arms))
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
) -> Figure:
    """One panel per measure: the mean by arm against a varied parameter with 95% error bars;
    joined by lines for grid levels, separate markers for sampled designs. Arms are dodged
    sideways by 1.5% of the range so their error bars do not hide each other."""
    fig, axes = _axes(len(panels))
    values = stats[x].to_numpy(float)
    span = float(np.ptp(values)) if values.size else 0.0
    dodge = 0.015 * (span or 1.0)
    for ax, (key, title, unit) in zip(axes, panels, strict=True):
        for i, arm in enumerate(arms):
            d = stats[(stats["arm"] == arm) & (stats["measure"] == key)].sort_values(x)
            if d.empty:
                continue
            st = _style(i)
            if not lines:
                st["linestyle"] = "none"
            ax.errorbar(
                d[x].to_numpy(float) + (i - (len(arms) - 1) / 2) * dodge,
                d["mean"].to_numpy(float),
                yerr=_err(d),
                capsize=2.5,
                elinewidth=0.8,
                label=arm,
                **st,
            )
        if zero_line:
            ax.axhline(0.0, color="0.3", linewidth=0.8)
        _finish(ax, title, xlabel, unit)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    _legend(fig, axes[0], len(arms))
    return fig


def _bars(ax, stats: pd.DataFrame, arms: Sequence[str], groups: Sequence[str]) -> None:
    """Grouped bars: one group per entry of ``groups`` (the ``group`` column), one bar per arm."""
    width = 0.8 / max(len(arms), 1)
    xs = np.arange(len(groups))
    for i, arm in enumerate(arms):
        d = stats[stats["arm"] == arm].set_index("group").reindex(list(groups))
        err = _err(d)
        ax.bar(
            xs + (i - (len(arms) - 1) / 2) * width,
            d["mean"].to_numpy(float),
            width,
            yerr=err,
            capsize=2.5,
            color=FACES[i % len(FACES)],
            edgecolor="0.1",
            hatch=HATCHES[i % len(HATCHES)],
            linewidth=0.8,
            label=arm,
            error_kw={"elinewidth": 0.8, "ecolor": "0.1"},
        )
    ax.set_xticks(xs, list(groups), fontsize=7)
    ax.axhline(0.0, color="0.3", linewidth=0.6)


def value(
    spending_per_point: pd.DataFrame,
    low_value: pd.DataFrame,
    arms: Sequence[str],
    groups: Sequence[str],
) -> Figure:
    """Left: payer spending + OOP per point of function gained, by arm. Right: low-value share
    of service units by arm, per setting and for all settings."""
    fig, (a, b) = plt.subplots(
        1, 2, figsize=(11, 3.8), layout="constrained", width_ratios=[1, max(1.5, 0.6 * len(groups))]
    )
    _bars(a, spending_per_point.assign(group="all settings"), arms, ["all settings"])
    _finish(a, "Spending per point of function gained", "", "USD per point of function")
    a.grid(False, axis="x")
    _bars(b, low_value, arms, groups)
    _finish(b, "Low-value share of volume", "care setting", "fraction of service units")
    b.grid(False, axis="x")
    _legend(fig, a, len(arms))
    return fig


def quality_quantity(
    stats: pd.DataFrame,
    arms: Sequence[str],
    grid: Sequence[Sequence[tuple[Panel, Panel]]],
    *,
    errorbars: bool = True,
) -> Figure:
    """Outcome against volume: ``grid[row][col]`` is an (x panel, y panel) pair, x a volume
    (units per treated patient in a setting) and y an outcome; one marker per arm (and design
    point), with 95% CIs on both axes.

    ``stats`` is wide: one row per (point, arm) with ``<key>``, ``<key>_lo`` and ``<key>_hi``
    columns."""
    nrows, ncols = len(grid), max(len(r) for r in grid)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows + 0.6), squeeze=False, layout="constrained"
    )
    for r, row in enumerate(grid):
        for c, ((xkey, xtitle, xunit), (ykey, ytitle, yunit)) in enumerate(row):
            ax = axes[r][c]
            for i, arm in enumerate(arms):
                d = stats[stats["arm"] == arm]
                if d.empty or ykey not in d or xkey not in d:
                    continue
                st = _style(i)
                st["linestyle"] = "none"
                st["markersize"] = 6
                xerr = yerr = None
                if errorbars:
                    xerr = _err(
                        d.rename(
                            columns={xkey: "mean", f"{xkey}_lo": "ci_low", f"{xkey}_hi": "ci_high"}
                        )
                    )
                    yerr = _err(
                        d.rename(
                            columns={ykey: "mean", f"{ykey}_lo": "ci_low", f"{ykey}_hi": "ci_high"}
                        )
                    )
                ax.errorbar(
                    d[xkey].to_numpy(float),
                    d[ykey].to_numpy(float),
                    xerr=xerr,
                    yerr=yerr,
                    capsize=2.5,
                    elinewidth=0.8,
                    label=arm,
                    **st,
                )
            _finish(ax, f"{ytitle}: {xtitle}", xunit, yunit)
        for ax in axes[r][len(row) :]:
            ax.set_visible(False)
    _legend(fig, axes[0][0], len(arms))
    return fig


def providers(
    last: pd.DataFrame, arms: Sequence[str], settings: Sequence[str], units: dict[str, str]
) -> Figure:
    """Per setting (rows): box plots by arm of units per treated patient and margin per treated
    patient across providers, and learned style θ against its closed-form optimum θ*."""
    fig, axes = plt.subplots(
        len(settings),
        3,
        figsize=(12, 3.4 * len(settings) + 0.6),
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
                    tick_labels=[arms[i] for i in keep],
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
                    box.set(
                        facecolor=FACES[i % len(FACES)],
                        hatch=HATCHES[i % len(HATCHES)],
                        edgecolor="0.1",
                    )
            _finish(ax, f"{title}: {s}", "arm", unit)
            ax.tick_params(axis="x", labelsize=7)
        ax = axes[r][2]
        for i, arm in enumerate(arms):
            e = d[d["arm"] == arm]
            st = _style(i)
            ax.plot(
                e["theta_optimal"],
                e["theta"],
                linestyle="none",
                marker=st["marker"],
                markerfacecolor=st["markerfacecolor"],
                markeredgecolor="0.15",
                markersize=4.5,
                alpha=0.8,
                label=arm,
            )
        if not d.empty:
            both = np.concatenate([d["theta"].to_numpy(float), d["theta_optimal"].to_numpy(float)])
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
            f"Learned vs optimal style: {s}",
            "θ* optimal style (units/month)",
            "θ learned style (units/month)",
        )
        if r == 0:
            ax.legend(fontsize=7, frameon=False)
    return fig
