"""Output tables: their columns (the single source of the data dictionary), the run summary,
and writing a results folder atomically.

A results folder holds ``monthly.parquet`` (one row per arm, replicate, month, setting and
payer), ``summary.csv`` (one row per arm and setting, plus ``all`` settings), optionally
``providers.parquet`` (a per-provider monthly panel), ``metadata.json`` (the scenario as
loaded, seeds, versions, git commit, the column dictionary) and ``trends.png``. Nothing is
written in place: the folder is assembled under a temporary name next to its destination and
renamed at the end, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ResultsError

#: monthly table: column -> (dtype, unit, meaning)
MONTHLY_COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm (payment design) of the scenario."),
    "replicate": ("int32", "index", "Replication number; its streams are SeedSequence(seed, spawn_key=(replicate,))."),
    "seed": ("int64", "integer", "Root seed of the run."),
    "month": ("int32", "month", "Month of the simulation, from 0."),
    "setting": ("string", "name", "Care setting."),
    "payer": ("string", "name", "Payer (coverage) of the patients in the row."),
    "payment_model": ("string", "name", "Payment model of the payer's contract for the setting this month."),
    "policy_period": ("int32", "count", "Policy switches that have changed this payer's contract for the setting so far (0 before the first; see the arm's switches)."),
    "members": ("int64", "persons", "Patients covered by the payer (every patient is a member of every setting)."),
    "patients_in_episode": ("int64", "persons", "Members with an episode of need in the setting this month (treated or not)."),
    "new_needs": ("int64", "episodes", "Episodes of need that started this month, whether or not care was sought."),
    "episodes_declined": ("int64", "episodes", "New episodes a provider turned away (selection behaviour; 0 when off)."),
    "episodes": ("int64", "episodes", "Episodes of care that started this month (need taken to a provider)."),
    "patients_treated": ("int64", "persons", "Members who received at least one service unit this month."),
    "visits": ("int64", "visits", "Visits (days of service)."),
    "units": ("int64", "billed units", "Billed units: timed units under the 8-minute rule plus untimed codes (evaluations, visit codes)."),
    "service_units": ("int64", "units", "Service units delivered (the provider's decision variable: 15-minute units, or visits)."),
    "minutes": ("int64", "minutes", "Direct service minutes delivered."),
    "units_per_treated": ("float64", "units/person-month", "service_units / patients_treated (0 if none treated)."),
    "payer_payments": ("float64", "USD", "What payers paid providers (claims net of cost sharing, PMPM, episode prices)."),
    "spending": ("float64", "USD", "Payer spending: payer_payments plus the payer's share of adverse-event costs."),
    "spending_pmpm": ("float64", "USD/member-month", "spending / members."),
    "oop": ("float64", "USD", "Patients' out-of-pocket payments (deductible, coinsurance, copays)."),
    "oop_pmpm": ("float64", "USD/member-month", "oop / members."),
    "provider_revenue": ("float64", "USD", "What providers received: payer_payments + oop."),
    "provider_cost": ("float64", "USD", "Service cost (marginal cost × service units, plus therapist minutes × cost per minute where there is therapy, plus investments) + adverse-event costs borne + fixed cost (allocated by members)."),
    "provider_margin": ("float64", "USD", "provider_revenue − provider_cost."),
    "adverse_events": ("int64", "events", "Adverse events (falls, complications) during episodes."),
    "adverse_event_cost_payer": ("float64", "USD", "Cost of adverse events paid by the payer."),
    "adverse_event_cost_provider": ("float64", "USD", "Cost of adverse events borne by providers."),
    "mean_function": ("float64", "points (0-100)", "Mean functional status of members at month end."),
    "function_change": ("float64", "points", "Mean change in members' functional status since month 0."),
    "function_gain": ("float64", "points", "Function gained from this month's care in the setting (sum over patients)."),
    "patient_benefit": ("float64", "USD", "Money-valued patient benefit B(q) of this month's care (sum)."),
    "low_value_units": ("float64", "units", "Service units whose marginal patient benefit is below the setting's low_value_threshold."),
    "p4p_payments": ("float64", "USD", "Pay-for-performance: outcome payments minus adverse-event penalties (included in provider_revenue and payer_payments)."),
    "reconciliation": ("float64", "USD", "Episode reconciliation paid to providers (negative: repaid), e.g. CJR-like target prices (a pathway's, on the acute setting's rows, in the month its window closes); included in provider_revenue."),
    "units_not_authorized": ("float64", "units", "Planned units the contract's prior authorization did not allow."),
    "plan_revenue": ("float64", "USD", "For a capitated plan payer: what Medicare paid the plan for these members in this setting (0 otherwise)."),
    "plan_margin": ("float64", "USD", "plan_revenue − spending (the plan's margin on the setting; 0 for other payers)."),
    "periods_ended": ("int64", "periods", "Payment periods of the contract (e.g. 30- or 60-day home-health periods; one month by default) that ended this month."),
    "period_units": ("int64", "units", "Service units in the periods that ended this month (visits per period = period_units / periods_ended)."),
    "periods_at_threshold": ("int64", "periods", "Periods that ended at or one unit above a payment threshold of the contract (therapy-visit thresholds, LUPA)."),
    "episodes_ended": ("int64", "episodes", "Episodes of care (stays) that ended this month: their time ran out, their covered units were used, or a readmission cut them short."),
    "episode_units_ended": ("int64", "units", "Service units over the whole of the episodes that ended this month (length of stay = episode_units_ended / episodes_ended where the unit is a day)."),
    "referrals_in": ("int64", "episodes", "Episodes started by a discharge from the pathway's acute setting (post-acute settings; destination share = referrals_in / discharges of the acute setting)."),
    "therapy_minutes_individual": ("float64", "minutes", "Therapy minutes delivered one to one (settings with a therapy decision; minutes per day = therapy minutes / service_units)."),
    "therapy_minutes_concurrent": ("float64", "minutes", "Therapy minutes delivered concurrently (one therapist, two patients)."),
    "therapy_minutes_group": ("float64", "minutes", "Therapy minutes delivered in groups (2-6 patients)."),
    "therapist_fte": ("float64", "FTE", "Therapist staff of the setting's providers, attributed to payers by their share of therapist minutes (minutes a month / minutes_per_fte)."),
    "discharges": ("int64", "stays", "Acute setting of a pathway: stays that ended in a discharge this month (0 on other rows)."),
    "discharges_home": ("int64", "stays", "Acute setting: discharges home without post-acute care."),
    "discharges_institutional": ("int64", "stays", "Acute setting: discharges to institutional post-acute care (destinations marked institutional, e.g. skilled nursing)."),
    "readmissions": ("int64", "stays", "Acute setting: admissions this month that are readmissions (after an adverse event in post-acute care or a readmission draw after a discharge home)."),
    "readmissions_30d": ("int64", "stays", "Acute setting: this month's discharges readmitted within about 30 days (in the month of discharge; admitted the next month). Readmission rate = readmissions_30d / discharges."),
    "pathways_closed": ("int64", "pathways", "Acute setting: pathways (index admission + window_months) whose window closed this month."),
    "pathway_spending": ("float64", "USD", "Acute setting: allowed amounts and reconciliations of every setting over the pathways that closed this month (the CJR episode spending)."),
    "readmissions_avoided": ("int64", "stays", "Acute setting: 30-day readmissions of this month's discharges that investments (home visits, follow-up after discharge) avoided: the same draws would have readmitted these patients without them (first-order effect; compare with an arm without investments for the whole effect)."),
    "investment_preventive_visits": ("float64", "USD", "Providers' spending on preventive and primary-care visits for their panels (a provider cost; see investment_fees)."),
    "investment_care_coordination": ("float64", "USD", "Providers' spending on care coordination of their panels."),
    "investment_home_visits": ("float64", "USD", "Providers' spending on home visits after discharges."),
    "investment_discharge_follow_up": ("float64", "USD", "Providers' spending on follow-up after discharges (calls, visits, medication reconciliation)."),
    "investment_fees": ("float64", "USD", "Fees the payer paid toward those investments (their fee_share; included in payer_payments and provider_revenue)."),
    "needs_avoided": ("int64", "episodes", "Episodes of need (in the acute setting: acute events) that preventive investments avoided this month: the same draws would have started them without the investments (first-order effect)."),
    "adverse_events_avoided": ("int64", "events", "Adverse events that investments avoided this month (same draws; first-order effect)."),
}  # fmt: skip

PROVIDER_COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm."),
    "replicate": ("int32", "index", "Replication number."),
    "seed": ("int64", "integer", "Root seed of the run."),
    "month": ("int32", "month", "Month, from 0."),
    "setting": ("string", "name", "Care setting."),
    "provider": ("int32", "index", "Provider number within the setting."),
    "region": ("string", "name", "Region of the provider."),
    "for_profit": ("bool", "flag", "For-profit ownership."),
    "altruism": ("float64", "weight", "Weight α on patient benefit."),
    "speed": ("float64", "fraction/month", "Adaptation speed."),
    "theta": ("float64", "units/month", "Practice style after this month's adaptation: units above (+) or below (−) each patient's optimum."),
    "theta_optimal": ("float64", "units/month", "Closed-form best style under the month's contracts (REFERENCE.md §1)."),
    "patients_treated": ("int64", "persons", "Patients treated this month."),
    "service_units": ("int64", "units", "Service units delivered."),
    "revenue": ("float64", "USD", "Revenue received (claims, cost sharing, PMPM)."),
    "cost": ("float64", "USD", "Service cost + adverse-event costs borne + fixed cost."),
    "margin": ("float64", "USD", "revenue − cost."),
    "patient_benefit": ("float64", "USD", "Money-valued benefit delivered to its patients."),
}  # fmt: skip

SUMMARY_COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm."),
    "setting": ("string", "name", "Care setting, or 'all' for every setting together."),
    "payment_models": ("string", "names", "Payment models in force (by payer, distinct)."),
    "replicates": ("int64", "runs", "Replications averaged."),
    "member_months": ("int64", "member-months", "Members × months per replicate."),
    "spending_pmpm": ("float64", "USD/member-month", "Payer spending per member per month."),
    "oop_pmpm": ("float64", "USD/member-month", "Out-of-pocket per member per month."),
    "patients_treated_per_1000": ("float64", "persons/1000 member-months", "Treated patients per 1,000 member-months."),
    "units_per_treated": ("float64", "units/person-month", "Service units per treated patient-month (NaN for 'all')."),
    "low_value_share": ("float64", "fraction", "Share of service units that were low-value (NaN if no units)."),
    "function_change": ("float64", "points", "Mean change in function from month 0 to the last month."),
    "adverse_events_per_1000": ("float64", "events/1000 member-months", "Adverse events per 1,000 member-months."),
    "provider_margin_pmpm": ("float64", "USD/member-month", "Provider margin per member per month."),
    "provider_margin_pct": ("float64", "percent", "Provider margin as a percentage of provider revenue."),
    "spending_per_function_point": ("float64", "USD/point", "Payer spending + OOP per point of function gained from care."),
    "investment_pmpm": ("float64", "USD/member-month", "Providers' spending on investments that lower future need (all types), per member-month."),
    "spending_change_from_investment_pmpm": ("float64", "USD/member-month", "spending_pmpm minus that of the arm with the same contracts and investments switched off (the net effect of the investments on payer spending, same patients); NaN without such an arm."),
}  # fmt: skip


def frame(rows: list[dict[str, Any]], columns: dict[str, tuple[str, str, str]]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly ``columns``, in order, with their dtypes."""
    df = pd.DataFrame.from_records(rows, columns=list(columns))
    return df.astype({k: v[0] for k, v in columns.items()})


def summarize(monthly: pd.DataFrame, counterfactuals: dict[str, str] | None = None) -> pd.DataFrame:
    """Per-arm summary, per setting and for all settings, averaged over replicates.

    ``counterfactuals`` maps an arm to the arm with the same contracts and investments
    switched off (``Scenario.investment_counterfactuals``), for the net effect of investing."""
    records = []
    invest_cols = [
        c for c in monthly.columns if c.startswith("investment_") and c != "investment_fees"
    ]
    last = monthly["month"].max()
    for arm, df_arm in monthly.groupby("arm", sort=False):
        reps = df_arm["replicate"].nunique()
        # members are repeated in every setting's rows: count them from one setting
        first_setting = df_arm["setting"].iloc[0]
        mm = df_arm.loc[df_arm["setting"] == first_setting, "members"].sum() / reps
        end = df_arm[(df_arm["month"] == last) & (df_arm["setting"] == first_setting)]
        function_change = float(
            (end["function_change"] * end["members"]).sum() / end["members"].sum()
        )
        for setting, d in [*df_arm.groupby("setting", sort=False), ("all", df_arm)]:
            tot = d.select_dtypes("number").sum() / reps
            revenue = tot["provider_revenue"]
            gain = tot["function_gain"]
            records.append(
                {
                    "arm": arm,
                    "setting": setting,
                    "payment_models": ",".join(dict.fromkeys(d["payment_model"])),
                    "replicates": reps,
                    "member_months": round(mm),
                    "spending_pmpm": tot["spending"] / mm,
                    "oop_pmpm": tot["oop"] / mm,
                    "patients_treated_per_1000": 1000 * tot["patients_treated"] / mm,
                    "units_per_treated": (
                        tot["service_units"] / tot["patients_treated"]
                        if setting != "all" and tot["patients_treated"]
                        else np.nan
                    ),
                    "low_value_share": (
                        tot["low_value_units"] / tot["service_units"]
                        if tot["service_units"]
                        else 0.0
                    ),
                    "function_change": function_change,
                    "adverse_events_per_1000": 1000 * tot["adverse_events"] / mm,
                    "provider_margin_pmpm": tot["provider_margin"] / mm,
                    "provider_margin_pct": 100 * tot["provider_margin"] / revenue
                    if revenue
                    else np.nan,
                    "spending_per_function_point": (
                        (tot["spending"] + tot["oop"]) / gain if gain > 0 else np.nan
                    ),
                    "investment_pmpm": tot[invest_cols].sum() / mm,
                    "spending_change_from_investment_pmpm": np.nan,
                }
            )
    out = frame(records, SUMMARY_COLUMNS)
    key = out.set_index(["arm", "setting"])["spending_pmpm"]
    for arm, base in (counterfactuals or {}).items():
        mine = out["arm"] == arm
        if mine.any() and (base, "all") in key.index:
            out.loc[mine, "spending_change_from_investment_pmpm"] = (
                out.loc[mine, "spending_pmpm"].to_numpy()
                - key.loc[[(base, st) for st in out.loc[mine, "setting"]]].to_numpy()
            )
    return out


# ---------------------------------------------------------------------------------------------
# provenance


def git_commit() -> str | None:
    """The git commit of the source tree the package runs from, with '-dirty' if modified."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("payment-sim", "mesa", "numpy", "scipy", "pandas", "pyarrow", "pydantic",
                 "matplotlib"):  # fmt: skip
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def column_dictionary(columns: dict[str, tuple[str, str, str]]) -> list[dict[str, str]]:
    return [{"name": k, "type": t, "unit": u, "description": d} for k, (t, u, d) in columns.items()]


# ---------------------------------------------------------------------------------------------
# writing


@dataclass
class Written:
    path: Path
    files: list[str]


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``out`` and put it in place only when the
    ``with`` block succeeds (replacing an old ``out``); on any error nothing is left behind.

    Temporary folders left beside ``out`` by an earlier process that was killed
    (``.<out>.tmp-*``) are removed first."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for stale in out.parent.glob(f".{glob_escape(out.name)}.tmp-*"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        from sim.limits import describe_os_error

        raise ResultsError(f"cannot write {describe_os_error(exc, out)}") from None
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def glob_escape(name: str) -> str:
    """``name`` with glob wildcards taken literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    # no pandas index; fixed compression; statistics off keeps the bytes independent of
    # writer heuristics. Same data -> same bytes.
    df.to_parquet(path, engine="pyarrow", index=False, compression="zstd", write_statistics=False)


def write_results(
    out: Path,
    *,
    monthly: pd.DataFrame,
    summary: pd.DataFrame,
    providers: pd.DataFrame | None,
    meta: dict[str, Any],
    figure: bool,
) -> Written:
    """Write a results folder atomically (assembled in a temporary sibling, then renamed)."""
    out = Path(out)
    if out.exists() and not (
        out.is_dir() and (not any(out.iterdir()) or (out / "metadata.json").exists())
    ):
        raise ResultsError(
            f"{out}: exists and is not a results folder (no metadata.json); "
            "choose another --out or remove it"
        )
    with staged_folder(out) as tmp:
        files = ["monthly.parquet", "summary.csv", "metadata.json"]
        _write_parquet(monthly, tmp / "monthly.parquet")
        summary.to_csv(tmp / "summary.csv", index=False, float_format="%.6g")
        if providers is not None:
            _write_parquet(providers, tmp / "providers.parquet")
            files.append("providers.parquet")
        if figure:
            from sim.plots import trends_figure

            trends_figure(monthly, tmp / "trends.png")
            files.append("trends.png")
        meta = {
            **meta,
            "files": files,
            "columns": {
                "monthly.parquet": column_dictionary(MONTHLY_COLUMNS),
                "summary.csv": column_dictionary(SUMMARY_COLUMNS),
                **(
                    {"providers.parquet": column_dictionary(PROVIDER_COLUMNS)}
                    if providers is not None
                    else {}
                ),
            },
        }
        (tmp / "metadata.json").write_text(
            json.dumps(meta, indent=2, sort_keys=False, default=_json_default) + "\n",
            encoding="utf-8",
        )
    return Written(out, files)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def command_line() -> list[str]:
    """The command as a user would type it (``sim ...``)."""
    return ["sim", *sys.argv[1:]]
