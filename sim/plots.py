"""Figures. Kept outside the simulation core; matplotlib is imported only here."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

#: line styles and markers so arms stay distinguishable in greyscale
_STYLES = [
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


def _per_member(monthly: pd.DataFrame, column: str, setting: str | None = None) -> pd.DataFrame:
    d = monthly if setting is None else monthly[monthly["setting"] == setting]
    g = d.groupby(["arm", "replicate", "month"], sort=False)
    num = g[column].sum()
    if setting is None:
        first = monthly["setting"].iloc[0]
        den = (
            monthly[monthly["setting"] == first]
            .groupby(["arm", "replicate", "month"])["members"]
            .sum()
        )
    else:
        den = g["members"].sum()
    return (num / den).rename("value").reset_index()


def _per_treated(monthly: pd.DataFrame, setting: str) -> pd.DataFrame:
    d = monthly[monthly["setting"] == setting]
    g = d.groupby(["arm", "replicate", "month"], sort=False)
    v = g["service_units"].sum() / g["patients_treated"].sum()
    return v.rename("value").reset_index()


def _weighted_function(monthly: pd.DataFrame) -> pd.DataFrame:
    first = monthly["setting"].iloc[0]
    d = monthly[monthly["setting"] == first].assign(w=lambda x: x["function_change"] * x["members"])
    g = d.groupby(["arm", "replicate", "month"], sort=False)
    return (g["w"].sum() / g["members"].sum()).rename("value").reset_index()


def _panel(ax, data: pd.DataFrame, arms: list[str], title: str, unit: str) -> None:
    for i, arm in enumerate(arms):
        d = data[data["arm"] == arm].groupby("month")["value"]
        mean, lo, hi = d.mean(), d.quantile(0.025), d.quantile(0.975)
        ls, marker = _STYLES[i % len(_STYLES)]
        every = max(len(mean) // 8, 1)
        ax.plot(mean.index, mean.values, color="0.15", linestyle=ls, marker=marker,
                markevery=every, markersize=4, linewidth=1.3, label=arm)  # fmt: skip
        if data["replicate"].nunique() > 1:
            ax.fill_between(mean.index, lo.values, hi.values, color="0.5", alpha=0.2, linewidth=0)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(unit, fontsize=8)
    ax.set_xlabel("month", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, color="0.9", linewidth=0.6)


def trends_figure(monthly: pd.DataFrame, path: Path, scenario=None) -> None:
    """Cost and outcome trends by arm: a grid of monthly panels, mean over replicates with a
    band from the 2.5th to the 97.5th percentile across replicates when there are several
    (a spread of replicates, not a confidence interval: see ``sim report`` for CIs)."""
    arms = list(dict.fromkeys(monthly["arm"]))
    settings = list(dict.fromkeys(monthly["setting"]))
    panels = [
        (_per_member(monthly, "spending"), "Payer spending", "USD per member-month"),
        (_per_member(monthly, "oop"), "Out-of-pocket", "USD per member-month"),
        *[
            (_per_treated(monthly, s), f"Units per treated patient: {s}", "units per patient-month")
            for s in settings
        ],
        (_weighted_function(monthly), "Change in function since month 0", "points (0-100 scale)"),
        (_per_member(monthly, "adverse_events"), "Adverse events", "events per member-month"),
        (_per_member(monthly, "provider_margin"), "Provider margin", "USD per member-month"),
    ]
    ncols = 3
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 3.1 * nrows), squeeze=False)
    for ax, (data, title, unit) in zip(axes.flat, panels, strict=False):
        _panel(ax, data, arms, title, unit)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(arms), 6), fontsize=8,
               frameon=False)  # fmt: skip
    if monthly["replicate"].nunique() > 1:
        fig.text(0.01, 0.01, "bands: 2.5-97.5 percentiles across replicates", fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def sensitivity_figure(df: pd.DataFrame, method: str, outcome: str, path: Path) -> None:
    """Bar chart of sensitivity indices per parameter, one panel per arm, with 95% CIs."""
    import numpy as np

    arms = list(dict.fromkeys(df["arm"]))
    fig, axes = plt.subplots(1, len(arms), figsize=(4 * len(arms), 3.2), squeeze=False)
    for ax, arm in zip(axes[0], arms, strict=True):
        d = df[df["arm"] == arm]
        y = np.arange(len(d))
        if method == "sobol":
            ax.barh(y - 0.2, d["S1"], 0.4, xerr=d["S1_conf"], color="0.35", label="first order")
            ax.barh(y + 0.2, d["ST"], 0.4, xerr=d["ST_conf"], color="0.75", hatch="//",
                    label="total")  # fmt: skip
            ax.set_xlabel("Sobol index (share of variance)", fontsize=8)
        else:
            ax.barh(y, d["mu_star"], 0.6, xerr=d["mu_star_conf"], color="0.45", label="μ*")
            ax.set_xlabel(f"Morris μ* ({outcome} units)", fontsize=8)
        ax.set_yticks(y, [p.split(".")[-1] for p in d["parameter"]], fontsize=7)
        ax.set_title(arm, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, axis="x", color="0.9")
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.suptitle(f"Sensitivity of {outcome}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
