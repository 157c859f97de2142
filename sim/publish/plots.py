"""Figures of a run and of a sensitivity analysis. Kept outside the simulation core; matplotlib
is imported only here and in :mod:`sim.publish.figures`, whose style, arm looks and save rules
every figure shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def trends_figure(monthly: pd.DataFrame, path: Path, scenario=None) -> None:
    """Cost and outcome trends by arm (``sim run``'s trends.png): the monthly figure of
    ``sim report`` — the same code (:func:`sim.publish.trends.trends_figure`) and style — with 95%
    CIs of the mean over replications, calendar dates and the policy switches marked.
    ``scenario``: the run's Scenario (for dates, switches, units and arm order)."""
    from sim.publish.trends import trends_figure as figure

    data = scenario.model_dump(mode="json") if scenario is not None else None
    figure(monthly, data, path)


def trends_png(monthly: pd.DataFrame, scenario=None):
    """A ``figures`` callback for :func:`sim.results.folder.write_results`: draws
    ``trends.png`` (:func:`trends_figure`) into the folder being written."""

    def draw(folder: Path) -> list[str]:
        trends_figure(monthly, folder / "trends.png", scenario=scenario)
        return ["trends.png"]

    return draw


def sensitivity_figure(df: pd.DataFrame, method: str, outcome: str, path: Path) -> None:
    """Bar chart of sensitivity indices per parameter, one panel per arm, with 95% CIs; the
    seed's share of the variance is written under each panel."""
    import matplotlib.pyplot as plt

    from sim.publish import figures as rf

    arms = list(dict.fromkeys(df["arm"]))
    with rf.styled():
        fig, axes = plt.subplots(
            1, len(arms), figsize=(3.6 * len(arms), 3.4), squeeze=False, layout="constrained"
        )
        for ax, arm in zip(axes[0], arms, strict=True):
            d = df[df["arm"] == arm]
            y = np.arange(len(d))
            if method == "sobol":
                ax.barh(
                    y - 0.2,
                    d["S1"],
                    0.4,
                    xerr=d["S1_conf"],
                    color="#0072B2",
                    label="first order S1",
                )
                ax.barh(
                    y + 0.2,
                    d["ST"],
                    0.4,
                    xerr=d["ST_conf"],
                    color="#E69F00",
                    hatch="//",
                    label="total ST",
                )
                ax.axvline(0, color="0.3", linewidth=0.6)
                ax.set_xlabel("Sobol index (share of variance)")
            else:
                ax.barh(y, d["mu_star"], 0.6, xerr=d["mu_star_conf"], color="#0072B2", label="μ*")
                ax.set_xlabel(f"Morris μ* ({outcome.replace('_', ' ')})")
            ax.set_yticks(y, [p.split(".")[-1].replace("_", " ") for p in d["parameter"]])
            index = d["S1"] if method == "sobol" else d["mu_star"]
            if not np.isfinite(index.to_numpy(float)).any():
                ax.text(
                    0.5,
                    0.5,
                    "indices undefined:\nthe outcome does not vary\nacross design points",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="0.3",
                )
            ax.set_title(rf.label_of(arm), loc="left")
            if "seed_share" in d and np.isfinite(d["seed_share"].iloc[0]):
                ax.text(
                    0.0,
                    -0.28,
                    f"seed: {100 * d['seed_share'].iloc[0]:.0f}% of the variance of single runs",
                    transform=ax.transAxes,
                    fontsize=7,
                    color="0.3",
                )
            ax.grid(True, axis="x")
        axes[0][0].legend(loc="best")
        fig.suptitle(f"Sensitivity of {outcome.replace('_', ' ')}")
        fig.savefig(path, dpi=rf.DPI, metadata={"Software": None})
        plt.close(fig)
