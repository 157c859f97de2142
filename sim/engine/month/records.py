"""Stage 6: the month's records.

One row per (setting, payer) of the monthly table, and with ``outputs.provider_panel`` one row
per provider of the provider panel. The core columns are declared here (:data:`COLUMNS`,
:data:`PROVIDER_COLUMNS`); features declare and compute their own (``Feature.COLUMNS`` and
``Feature.record``), zero where a feature is absent. :mod:`sim.results.tables` assembles the data
dictionary from these declarations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sim.engine.kernels import RECORD_COUNTS
from sim.engine.month.accounts import provider_cost, provider_revenue
from sim.engine.month.incentives import optimal_theta
from sim.engine.payment import terms

if TYPE_CHECKING:
    from sim.engine.subgroups import Subgroups
    from sim.engine.world import World

#: the monthly table's core columns: column -> (dtype, unit, meaning)
COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm (payment design) of the scenario."),
    "replicate": ("int32", "index", "Replication number; its streams are SeedSequence(seed, spawn_key=(replicate,))."),
    "seed": ("int64", "integer", "Root seed of the run."),
    "month": ("int32", "month", "Month of the simulation, from 0."),
    "date": ("string", "date", "Calendar month of the row (its first day, ISO 8601), from the scenario's start."),
    "setting": ("string", "name", "Care setting."),
    "payer": ("string", "name", "Payer (coverage) of the patients in the row."),
    "payment_model": ("string", "name", "Payment model of the payer's contract for the setting this month."),
    "policy_period": ("int32", "count", "Policy switches that have changed this payer's contract for the setting so far (0 before the first; see the arm's switches)."),
    "members": ("int64", "persons", "Patients covered by the payer (every patient is a member of every setting)."),
    "patients_in_episode": ("int64", "persons", "Members with an episode of need in the setting this month (treated or not)."),
    "new_needs": ("int64", "episodes", "Episodes of need that started this month, whether or not care was sought."),
    "episodes_declined": ("int64", "episodes", "New episodes a provider turned away (selection behaviour, or participation when no provider of the region took the patient; 0 when off)."),
    "new_needs_risk_q1": ("int64", "episodes", "New episodes of need of members in risk-score quartile 1 (1 = lowest risk; quartiles of the whole population at the start)."),
    "new_needs_risk_q2": ("int64", "episodes", "New episodes of need of members in risk-score quartile 2 (1 = lowest risk; quartiles of the whole population at the start)."),
    "new_needs_risk_q3": ("int64", "episodes", "New episodes of need of members in risk-score quartile 3 (1 = lowest risk; quartiles of the whole population at the start)."),
    "new_needs_risk_q4": ("int64", "episodes", "New episodes of need of members in risk-score quartile 4 (1 = lowest risk; quartiles of the whole population at the start)."),
    "episodes_declined_risk_q1": ("int64", "episodes", "New episodes of members in risk-score quartile 1 that their provider turned away (selection)."),
    "episodes_declined_risk_q2": ("int64", "episodes", "New episodes of members in risk-score quartile 2 that their provider turned away (selection)."),
    "episodes_declined_risk_q3": ("int64", "episodes", "New episodes of members in risk-score quartile 3 that their provider turned away (selection)."),
    "episodes_declined_risk_q4": ("int64", "episodes", "New episodes of members in risk-score quartile 4 that their provider turned away (selection)."),
    "episodes": ("int64", "episodes", "Episodes of care that started this month (need taken to a provider)."),
    "patients_treated": ("int64", "persons", "Members who received at least one service unit this month."),
    "visits": ("int64", "visits", "Visits (days of service)."),
    "units": ("int64", "billed units", "Billed units: timed units under the 8-minute rule plus untimed codes (evaluations, visit codes)."),
    "service_units": ("int64", "units", "Service units delivered (the provider's decision variable: 15-minute units, or visits)."),
    "minutes": ("int64", "minutes", "Direct service minutes delivered."),
    "units_per_treated": ("float64", "units/person-month", "service_units / patients_treated (0 if none treated)."),
    "payer_payments": ("float64", "USD", "What payers paid providers (claims net of cost sharing, PMPM, episode prices)."),
    "spending": ("float64", "USD", "Spending on care by whoever pays providers (the payer, or the capitated plan running its contract): payer_payments plus the payer's share of adverse-event costs. For the public payer's perspective see public_payer_spending."),
    "spending_pmpm": ("float64", "USD/member-month", "spending / members."),
    "oop": ("float64", "USD", "Patients' out-of-pocket payments (deductible, coinsurance, copays)."),
    "oop_pmpm": ("float64", "USD/member-month", "oop / members."),
    "provider_revenue": ("float64", "USD", "What providers received: the allowed amounts of their claims (patients' cost sharing included, copays too), lump payments, pay-for-performance and reconciliations = payer_payments + oop."),
    "provider_cost": ("float64", "USD", "Service cost (marginal cost × service units, plus therapist minutes × cost per minute where there is therapy, plus investments) + adverse-event costs borne + fixed cost (allocated by members)."),
    "provider_margin": ("float64", "USD", "provider_revenue − provider_cost."),
    "adverse_events": ("int64", "events", "Adverse events (falls, complications) during episodes."),
    "adverse_event_cost_payer": ("float64", "USD", "Cost of adverse events paid by the payer."),
    "adverse_event_cost_provider": ("float64", "USD", "Cost of adverse events borne by providers."),
    "mean_function": ("float64", "points (0-100)", "Mean functional status of members at month end."),
    "function_change": ("float64", "points", "Mean change in members' functional status since month 0."),
    "function_gain": ("float64", "points", "The change in function patients in the setting had this month (sum over patients with an episode): care's gain, limited by the 0-100 scale, minus the function lost to adverse events. Per stay: function_gain over the stay's months."),
    "function_gain_from_care": ("float64", "points", "Function points care would add this month before the 0-100 scale and adverse events (what pay-for-performance pays on; sum over patients)."),
    "episodes_ended_at_ceiling": ("int64", "episodes", "Episodes that ended this month with the patient's function at the top of the scale (100): where the ceiling binds, function outcomes say nothing."),
    "patient_benefit": ("float64", "USD", "Money-valued patient benefit B(q) of this month's care (sum)."),
    "low_value_units": ("float64", "units", "Service units whose marginal patient benefit is below the setting's low_value_threshold."),
    "p4p_payments": ("float64", "USD", "Pay-for-performance: outcome payments minus adverse-event penalties (included in provider_revenue and payer_payments)."),
    "reconciliation": ("float64", "USD", "Episode reconciliation paid to providers (negative: repaid), e.g. CJR-like target prices (a pathway's, on the acute setting's rows, in the month its window closes); included in provider_revenue."),
    "units_not_authorized": ("float64", "units", "Planned units the contract's prior authorization did not allow."),
    "plan_revenue": ("float64", "USD", "For a capitated plan payer: what Medicare paid the plan for these members in this setting (0 otherwise)."),
    "plan_margin": ("float64", "USD", "plan_revenue − spending (the plan's margin on the setting; 0 for other payers)."),
    "public_payer_spending": ("float64", "USD", "Public-payer perspective (Medicare): what the public payer spent on these members in the setting — its payments to providers and its share of adverse-event costs (spending) under traditional coverage, or its capitation payments to the plan (plan_revenue) when a capitated plan runs the contract; 0 for a private payer (payers.<name>.public = false)."),
    "plan_spending": ("float64", "USD", "Plan perspective: what a capitated plan paid providers and bore of adverse-event costs for its members (spending when a plan runs the contract; 0 otherwise)."),
    "periods_ended": ("int64", "periods", "Payment periods of the contract (e.g. 30- or 60-day home-health periods; one month by default) that ended this month."),
    "period_units": ("int64", "units", "Service units in the periods that ended this month (visits per period = period_units / periods_ended)."),
    "periods_at_threshold": ("int64", "periods", "Periods that ended at or one unit above a payment threshold of the contract (therapy-visit thresholds, LUPA)."),
    "periods_below_threshold": ("int64", "periods", "Periods that ended one or two units below a payment threshold of the contract (where bunching would have pushed them up had it paid the provider)."),
    "episodes_ended": ("int64", "episodes", "Episodes of care (stays) that ended this month: their time ran out, their covered units were used, or a readmission cut them short."),
    "episode_units_ended": ("int64", "units", "Service units over the whole of the episodes that ended this month (length of stay = episode_units_ended / episodes_ended where the unit is a day)."),
    "referrals_in": ("int64", "episodes", "Episodes started by a discharge from the pathway's acute setting (post-acute settings; destination share = referrals_in / discharges of the acute setting)."),
    "discharges_per_1000": ("float64", "episodes/1,000 members/year", "episodes_ended per 1,000 members, annualised (× 12): in an inpatient setting, discharges per 1,000 enrollees a year."),
    "claims_denied": ("float64", "USD", "Claim amounts the contract refused to pay (medical review above an annual therapy threshold): paid by neither payer nor patient, not in provider_revenue."),
}  # fmt: skip

#: the provider panel's columns
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


def zero_columns(feature_columns: dict[str, tuple[str, str, str]]) -> dict[str, int | float]:
    """Every feature's monthly column at zero (0 or 0.0 by its dtype): what a row holds for
    the features a run does not have."""
    return {k: 0 if v[0].startswith("int") else 0.0 for k, v in feature_columns.items()}


def record(
    world: World,
    zeros: dict[str, int | float],
    f0_sum: np.ndarray,
    rows: list[dict[str, Any]],
    provider_rows: list[dict[str, Any]] | None,
    subgroups: Subgroups | None = None,
) -> None:
    """Append this month's rows (``zeros``: every feature column at zero, from
    :func:`zero_columns`; ``f0_sum``: each payer's sum of function at the start), and the
    subgroup rows when the scenario asks for them (``[analysis]``).

    The rows are derived from the month's sums by (setting, payer) (:func:`_sums`), which a
    sharded run adds up over its shards first (``world.exchange.sums``)."""
    date = world.date.isoformat()
    f_sum = world.population.function_sum_by_payer()
    revenues = []
    local = []
    for s in range(len(world.settings)):
        # provider-side ledger: what each provider received this month
        revenue = provider_revenue(world, s)
        world.ledgers.provider[s] += revenue
        revenues.append(revenue)
        sums = _sums(world, s, f_sum, f0_sum)
        world.ledgers.oop[s] += sums["oop"]
        local.append(sums)
    for s, sums in enumerate(world.exchange.sums(local)):
        extra = _feature_columns(world, s, sums)
        # Python numbers, once per setting: the rows take dozens of them per payer
        values = {k: v.tolist() for k, v in sums.items()}
        for g in range(world.n_payers):
            row = _row(world, s, g, values)
            row["date"] = date
            row.update(zeros)
            for k, v in extra.items():
                row[k] = v[g].item()
            rows.append(row)
    if provider_rows is not None:
        # a shard's rows are its own providers' (the run merges them at the end)
        for s, revenue in enumerate(revenues):
            _record_providers(world, s, revenue, provider_rows)
    if subgroups is not None:
        subgroups.record(world, date)


def _feature_columns(world: World, s: int, sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The features' monthly columns from the month's sums: their sums as they are, and their
    ratios (``Feature.RATIOS``: column → (numerator, denominator), 0 where nothing to divide)."""
    out: dict[str, np.ndarray] = {}
    for f in world.hooks("record", s):
        prefix = type(f).__name__
        for column in f.COLUMNS:
            ratio = [f"{prefix}.{k}" for k in f.RATIOS.get(column, ())]
            if ratio and ratio[0] in sums:
                num, den = sums[ratio[0]], sums[ratio[1]]
                out[column] = np.divide(num, den, out=np.zeros(den.shape), where=den > 0)
            elif f"{prefix}.{column}" in sums:
                out[column] = sums[f"{prefix}.{column}"]
    return out


def _sums(world: World, s: int, f_sum: np.ndarray, f0_sum: np.ndarray) -> dict[str, np.ndarray]:
    """The month's sums by payer in setting ``s`` (arrays with the payers first): the core ones,
    and the features' (``Feature.record``: keys ``<feature class>.<name>``), all of them sums
    over this model's patients and providers, so that a sharded run adds them up."""
    pop = world.population
    care = world.month[s]
    paid = care.paid
    blocks = care.by_payer

    def by_payer(w: np.ndarray) -> np.ndarray:
        """Sum of ``w`` over each payer's block (counts when ``w`` is boolean), float64."""
        if w.dtype == np.bool_:
            return np.array([np.count_nonzero(w[b]) for b in blocks], np.float64)
        return np.array([w[b].sum(dtype=np.float64) for b in blocks])

    bounds = np.array([blocks[0].start, *(b.stop for b in blocks)])
    counts = world.kernels.record_counts(
        bounds,
        care.patients,
        care.sought,
        care.service_units,
        care.new_episode,
        care.billed_units,
        care.visits,
        care.minutes,
        care.adverse,
        care.period_end,
        care.period_units,
        care.at_threshold,
        care.below_threshold,
        care.referred,
        pop.episode_left[s],
        pop.function,
        pop.episode_units[s],
    )
    totals = {"in_episode": np.array([b.stop - b.start for b in blocks])}
    totals.update({name: counts[:, j] for j, name in enumerate(RECORD_COUNTS)})
    # the money and function sums: numpy's pairwise sums of each payer's block
    sums = world.kernels.block_sums(
        bounds,
        (
            care.extra_cost,
            paid.revenue,
            paid.oop,
            paid.liability,
            paid.ae_payer,
            care.function_change,
            care.gain,
            care.benefit,
            care.low_value,
            paid.p4p,
            paid.adjustment,
            care.not_authorized,
            paid.denied,
        ),
    )
    extra_cost, *money = sums.T
    names = ("revenue", "oop", "liability", "ae_payer", "gain", "gain_from_care", "benefit")
    names += ("low", "p4p", "adjustment", "not_authorized", "denied")
    totals.update(zip(names, money, strict=True))
    service_cost = world.settings[s].cfg.marginal_cost * totals["units"] + extra_cost
    for f in world.hooks("cost_by_payer", s):
        extra = f.cost_by_payer(world, s)
        if extra is not None:
            service_cost = service_cost + extra
    totals["service_cost"] = service_cost
    payers = range(world.n_payers)
    panels = world.providers[s].panels
    totals.update(
        {
            "members": np.asarray(world.payer_members, np.float64),
            "f_sum": f_sum,
            "f0_sum": f0_sum,
            "lump": np.array([float(paid.lump_by_payer[g].sum()) for g in payers]),
            "risk_sum": np.array([float(panels[g].risk_sum.sum()) for g in payers]),
            "fixed_cost": np.asarray(world.providers[s].fixed_cost_by_payer, np.float64),
            "reconciled": world.transferred["reconciliation"][s].copy(),
            "new_needs": np.asarray(care.new_needs_by_payer, np.int64),
            "declined": np.asarray(care.declined_by_payer, np.int64),
            "new_needs_q": np.asarray(care.new_needs_by_group, np.int64),
            "declined_q": np.asarray(care.declined_by_group, np.int64),
        }
    )
    for f in world.hooks("record", s):
        prefix = type(f).__name__
        for k, v in f.record(world, s, care, by_payer).items():
            totals[f"{prefix}.{k}"] = v
    return totals


def _row(world: World, s: int, g: int, t: dict[str, list]) -> dict[str, Any]:
    """One (setting, payer) row of the monthly table from the month's sums ``t`` (as Python
    numbers, by payer)."""
    payer = world.payers[g]
    contract = payer.contracts[s]
    f_sum, f0_sum = t["f_sum"], t["f0_sum"]
    lump = float(t["lump"][g])
    rev = float(t["revenue"][g]) + lump
    oop = float(t["oop"][g])
    payer_payments = rev - oop
    spending = payer_payments + float(t["ae_payer"][g])
    # a capitated plan running this contract is paid by Medicare per member
    plan_revenue = terms.plan_revenue(contract.params, float(t["risk_sum"][g]))
    fixed_cost = t["fixed_cost"][g]
    cost = float(t["service_cost"][g] + t["liability"][g] + fixed_cost)
    nm = float(t["members"][g])
    tr = int(t["treated"][g])
    reconciled = t["reconciled"][g]
    return {
        "month": world.month_number,
        "setting": world.settings[s].name,
        "payer": payer.name,
        "payment_model": contract.name,
        "policy_period": int(world.policy_period[s, g]),
        "members": int(nm),
        "patients_in_episode": int(t["in_episode"][g]),
        "new_needs": int(t["new_needs"][g]),
        "episodes_declined": int(t["declined"][g]),
        **{f"new_needs_risk_q{k + 1}": int(t["new_needs_q"][g][k]) for k in range(4)},
        **{f"episodes_declined_risk_q{k + 1}": int(t["declined_q"][g][k]) for k in range(4)},
        "episodes": int(t["episodes"][g]),
        "patients_treated": tr,
        "visits": int(t["visits"][g]),
        "units": int(t["billed"][g]),
        "service_units": int(t["units"][g]),
        "minutes": int(t["minutes"][g]),
        "units_per_treated": float(t["units"][g] / tr) if tr else 0.0,
        "payer_payments": payer_payments,
        "spending": spending,
        "spending_pmpm": spending / nm if nm else 0.0,
        "oop": oop,
        "oop_pmpm": oop / nm if nm else 0.0,
        "provider_revenue": rev,
        "provider_cost": cost,
        "provider_margin": rev - cost,
        "adverse_events": int(t["adverse"][g]),
        "adverse_event_cost_payer": float(t["ae_payer"][g]),
        "adverse_event_cost_provider": float(t["liability"][g]),
        "mean_function": float(f_sum[g] / nm) if nm else 0.0,
        "function_change": float((f_sum[g] - f0_sum[g]) / nm) if nm else 0.0,
        "function_gain": float(t["gain"][g]),
        "function_gain_from_care": float(t["gain_from_care"][g]),
        "episodes_ended_at_ceiling": int(t["at_ceiling"][g]),
        "patient_benefit": float(t["benefit"][g]),
        "low_value_units": float(t["low"][g]),
        "p4p_payments": float(t["p4p"][g]),
        "reconciliation": float(t["adjustment"][g] + reconciled),
        "units_not_authorized": float(t["not_authorized"][g]),
        "plan_revenue": plan_revenue,
        "plan_margin": plan_revenue - spending if plan_revenue else 0.0,
        "public_payer_spending": (
            plan_revenue if plan_revenue else (spending if world.payer_public[g] else 0.0)
        ),
        "plan_spending": spending if plan_revenue else 0.0,
        "periods_ended": int(t["periods"][g]),
        "period_units": int(t["period_units"][g]),
        "periods_at_threshold": int(t["at_threshold"][g]),
        "periods_below_threshold": int(t["below_threshold"][g]),
        "episodes_ended": int(t["episodes_ended"][g]),
        "episode_units_ended": int(t["ended_units"][g]),
        "referrals_in": int(t["referrals"][g]),
        "discharges_per_1000": 12_000.0 * float(t["episodes_ended"][g]) / nm if nm else 0.0,
        "claims_denied": float(t["denied"][g]),
    }


def _record_providers(
    world: World, s: int, revenue: np.ndarray, provider_rows: list[dict[str, Any]]
) -> None:
    care = world.month[s]
    providers = world.providers[s]
    n_prov = providers.n
    units = np.bincount(care.provider, care.service_units, n_prov)
    treated = np.bincount(care.provider[care.service_units > 0], minlength=n_prov)
    benefit = np.bincount(care.provider, care.benefit, n_prov)
    cost = provider_cost(world, s)
    optimal = optimal_theta(world, s)
    theta = providers.theta
    region_names = world.population.region_names
    for p in providers.agents:
        i = p.index
        provider_rows.append(
            {
                "month": world.month_number,
                "setting": world.settings[s].name,
                "provider": p.global_index,
                "region": region_names[p.region],
                "for_profit": p.for_profit,
                "altruism": p.altruism,
                "speed": p.speed,
                "theta": float(theta[i]),
                "theta_optimal": float(optimal[i]),
                "patients_treated": int(treated[i]),
                "service_units": int(units[i]),
                "revenue": float(revenue[i]),
                "cost": float(cost[i]),
                "margin": float(revenue[i] - cost[i]),
                "patient_benefit": float(benefit[i]),
            }
        )
