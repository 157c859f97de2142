"""Stage 6: the month's records.

One row per (setting, payer) of the monthly table, and with ``outputs.provider_panel`` one row
per provider of the provider panel. Every column is declared once, as a
:class:`~sim.engine.columns.Column`: the core ones here (:data:`COLUMNS`,
:data:`PROVIDER_COLUMNS`), each feature's in its ``Feature.COLUMNS`` (its sums from
``Feature.record``, zero where the feature is absent); :data:`MONTHLY` is the monthly table
they make, which :mod:`sim.results.tables` reads the data dictionary from.

A month's rows are read off its sums by (setting, payer) (:func:`_sums`), which a sharded run
adds up over its shards first (``world.exchange.sums``), so every shard derives the same rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sim.engine.columns import Column, Row, Table
from sim.engine.features import FEATURES
from sim.engine.kernels import RECORD_COUNTS
from sim.engine.month.accounts import provider_cost, provider_revenue
from sim.engine.month.incentives import optimal_theta
from sim.engine.month.lifecourse import life_rows
from sim.engine.payment import terms

if TYPE_CHECKING:
    from sim.engine.subgroups import Subgroups
    from sim.engine.world import World


def _per_member(column: str):
    def per_member(r: Row) -> float:
        nm = float(r.sum("members"))
        return r[column] / nm if nm else 0.0

    return per_member


def _function_change(r: Row) -> float:
    nm = float(r.sum("members"))
    return float((r.sum("f_sum") - r.sum("f0_sum")) / nm) if nm else 0.0


def _plan_revenue(r: Row) -> float:
    # a capitated plan running this contract is paid by Medicare per member
    return terms.plan_revenue(r.world.payers[r.g].contracts[r.s].params, float(r.sum("risk_sum")))


def _public_payer_spending(r: Row) -> float:
    if r["plan_revenue"]:
        return r["plan_revenue"]
    return r["spending"] if r.world.payer_public[r.g] else 0.0


def _risk_in_care(world: World, s: int, care: Any) -> np.ndarray:
    return np.where(care.sought, world.population.risk[care.patients], 0.0)


def _coded_risk_in_care(world: World, s: int, care: Any) -> np.ndarray:
    risk = world.population.risk[care.patients]
    coded = world.coding.coded_risk(s, care.provider, risk, care.payer.astype(np.int64))
    return np.where(care.sought, coded, 0.0)


def _discharges_per_1000(r: Row) -> float:
    nm = float(r.sum("members"))
    return 12_000.0 * float(r.sum("episodes_ended")) / nm if nm else 0.0


#: the monthly table's core columns (sim.engine.columns: a sum by payer, a ratio of two sums,
#: derived, or set by the run); the sums are :func:`_sums`'
COLUMNS: dict[str, Column] = {
    "arm": Column("string", "name", "Arm (payment design) of the scenario.", run=True),
    "replicate": Column("int32", "index", "Replication number; its streams are SeedSequence(seed, spawn_key=(replicate,)).", run=True),
    "seed": Column("int64", "integer", "Root seed of the run.", run=True),
    "month": Column("int32", "month", "Month of the simulation, from 0.", derive=lambda r: r.world.month_number),
    "date": Column("string", "date", "Calendar month of the row (its first day, ISO 8601), from the scenario's start.", derive=lambda r: r.world.date.isoformat()),
    "setting": Column("string", "name", "Care setting.", derive=lambda r: r.world.settings[r.s].name),
    "payer": Column("string", "name", "Payer (coverage) of the patients in the row.", derive=lambda r: r.world.payers[r.g].name),
    "payment_model": Column("string", "name", "Payment model of the payer's contract for the setting this month.", derive=lambda r: r.world.payers[r.g].contracts[r.s].name),
    "policy_period": Column("int32", "count", "Policy switches that have changed this payer's contract for the setting so far (0 before the first; see the arm's switches).", derive=lambda r: int(r.world.policy_period[r.s, r.g])),
    "members": Column("int64", "persons", "Patients covered by the payer (every patient is a member of every setting)."),
    "patients_in_episode": Column("int64", "persons", "Members with an episode of need in the setting this month (treated or not).", sum="in_episode"),
    "new_needs": Column("int64", "episodes", "Episodes of need that started this month, whether or not care was sought."),
    "episodes_declined": Column("int64", "episodes", "New episodes a provider turned away (selection behaviour, or participation when no provider of the region took the patient; 0 when off).", sum="declined"),
    "new_needs_risk_q1": Column("int64", "episodes", "New episodes of need of members in risk-score quartile 1 (1 = lowest risk; quartiles of the whole population at the start)."),
    "new_needs_risk_q2": Column("int64", "episodes", "New episodes of need of members in risk-score quartile 2 (1 = lowest risk; quartiles of the whole population at the start)."),
    "new_needs_risk_q3": Column("int64", "episodes", "New episodes of need of members in risk-score quartile 3 (1 = lowest risk; quartiles of the whole population at the start)."),
    "new_needs_risk_q4": Column("int64", "episodes", "New episodes of need of members in risk-score quartile 4 (1 = lowest risk; quartiles of the whole population at the start)."),
    "episodes_declined_risk_q1": Column("int64", "episodes", "New episodes of members in risk-score quartile 1 that their provider turned away (selection)."),
    "episodes_declined_risk_q2": Column("int64", "episodes", "New episodes of members in risk-score quartile 2 that their provider turned away (selection)."),
    "episodes_declined_risk_q3": Column("int64", "episodes", "New episodes of members in risk-score quartile 3 that their provider turned away (selection)."),
    "episodes_declined_risk_q4": Column("int64", "episodes", "New episodes of members in risk-score quartile 4 that their provider turned away (selection)."),
    "episodes": Column("int64", "episodes", "Episodes of care that started this month (need taken to a provider)."),
    "patients_treated": Column("int64", "persons", "Members who received at least one service unit this month.", sum="treated"),
    "visits": Column("int64", "visits", "Visits (days of service)."),
    "units": Column("int64", "billed units", "Billed units: timed units under the 8-minute rule plus untimed codes (evaluations, visit codes).", sum="billed"),
    "service_units": Column("int64", "units", "Service units delivered (the provider's decision variable: 15-minute units, or visits).", sum="units"),
    "minutes": Column("int64", "minutes", "Direct service minutes delivered."),
    "units_per_treated": Column("float64", "units/person-month", "service_units / patients_treated (0 if none treated).", ratio=("units", "treated")),
    "payer_payments": Column("float64", "USD", "What payers paid providers (claims net of cost sharing, PMPM, episode prices).", derive=lambda r: r["provider_revenue"] - r["oop"]),
    "spending": Column("float64", "USD", "Spending on care by whoever pays providers (the payer, or the capitated plan running its contract): payer_payments plus the payer's share of adverse-event costs. For the public payer's perspective see public_payer_spending.", derive=lambda r: r["payer_payments"] + r["adverse_event_cost_payer"]),
    "spending_pmpm": Column("float64", "USD/member-month", "spending / members.", derive=_per_member("spending")),
    "oop": Column("float64", "USD", "Patients' out-of-pocket payments (deductible, coinsurance, copays)."),
    "oop_pmpm": Column("float64", "USD/member-month", "oop / members.", ratio=("oop", "members")),
    "provider_revenue": Column("float64", "USD", "What providers received: the allowed amounts of their claims (patients' cost sharing included, copays too), lump payments, pay-for-performance and reconciliations = payer_payments + oop.", derive=lambda r: float(r.sum("revenue")) + float(r.sum("lump"))),
    "provider_cost": Column("float64", "USD", "Service cost (marginal cost × service units, plus therapist minutes × cost per minute where there is therapy, plus investments, plus coding: coding_cost) + adverse-event costs borne + fixed cost (allocated by members).", derive=lambda r: float(r.sum("service_cost") + r.sum("liability") + r.sum("fixed_cost"))),
    "provider_margin": Column("float64", "USD", "provider_revenue − provider_cost.", derive=lambda r: r["provider_revenue"] - r["provider_cost"]),
    "adverse_events": Column("int64", "events", "Adverse events (falls, complications) during episodes.", sum="adverse"),
    "adverse_event_cost_payer": Column("float64", "USD", "Cost of adverse events paid by the payer.", sum="ae_payer"),
    "adverse_event_cost_provider": Column("float64", "USD", "Cost of adverse events borne by providers.", sum="liability"),
    "mean_function": Column("float64", "points (0-100)", "Mean functional status of members at month end.", ratio=("f_sum", "members")),
    "function_change": Column("float64", "points", "Mean change in members' functional status since month 0.", derive=_function_change),
    "function_gain": Column("float64", "points", "The change in function patients in the setting had this month (sum over patients with an episode): care's gain, limited by the 0-100 scale, minus the function lost to adverse events. Per stay: function_gain over the stay's months.", sum="gain"),
    "function_gain_from_care": Column("float64", "points", "Function points care would add this month before the 0-100 scale and adverse events (what pay-for-performance pays on; sum over patients).", sum="gain_from_care"),
    "episodes_ended_at_ceiling": Column("int64", "episodes", "Episodes that ended this month with the patient's function at the top of the scale (100): where the ceiling binds, function outcomes say nothing.", sum="at_ceiling"),
    "patient_benefit": Column("float64", "USD", "Money-valued patient benefit B(q) of this month's care (sum).", sum="benefit"),
    "low_value_units": Column("float64", "units", "Service units whose marginal patient benefit is below the setting's low_value_threshold.", sum="low"),
    "p4p_payments": Column("float64", "USD", "Pay-for-performance: outcome payments minus adverse-event penalties (included in provider_revenue and payer_payments).", sum="p4p"),
    "reconciliation": Column("float64", "USD", "Episode reconciliation paid to providers (negative: repaid), e.g. CJR-like target prices (a pathway's, on the acute setting's rows, in the month its window closes); included in provider_revenue.", derive=lambda r: float(r.sum("adjustment") + r.sum("reconciled"))),
    "units_not_authorized": Column("float64", "units", "Planned units the contract's prior authorization did not allow.", sum="not_authorized"),
    "plan_revenue": Column("float64", "USD", "For a capitated plan payer: what Medicare paid the plan for these members in this setting (0 otherwise).", derive=_plan_revenue),
    "plan_margin": Column("float64", "USD", "plan_revenue − spending (the plan's margin on the setting; 0 for other payers).", derive=lambda r: r["plan_revenue"] - r["spending"] if r["plan_revenue"] else 0.0),
    "public_payer_spending": Column("float64", "USD", "Public-payer perspective (Medicare): what the public payer spent on these members in the setting — its payments to providers and its share of adverse-event costs (spending) under traditional coverage, or its capitation payments to the plan (plan_revenue) when a capitated plan runs the contract; 0 for a private payer (payers.<name>.public = false).", derive=_public_payer_spending),
    "plan_spending": Column("float64", "USD", "Plan perspective: what a capitated plan paid providers and bore of adverse-event costs for its members (spending when a plan runs the contract; 0 otherwise).", derive=lambda r: r["spending"] if r["plan_revenue"] else 0.0),
    "periods_ended": Column("int64", "periods", "Payment periods of the contract (e.g. 30- or 60-day home-health periods; one month by default) that ended this month.", sum="periods"),
    "period_units": Column("int64", "units", "Service units in the periods that ended this month (visits per period = period_units / periods_ended)."),
    "periods_at_threshold": Column("int64", "periods", "Periods that ended at or one unit above a payment threshold of the contract (therapy-visit thresholds, LUPA).", sum="at_threshold"),
    "periods_below_threshold": Column("int64", "periods", "Periods that ended one or two units below a payment threshold of the contract (where bunching would have pushed them up had it paid the provider).", sum="below_threshold"),
    "episodes_ended": Column("int64", "episodes", "Episodes of care (stays) that ended this month: their time ran out, their covered units were used, or a readmission cut them short."),
    "episode_units_ended": Column("int64", "units", "Service units over the whole of the episodes that ended this month (length of stay = episode_units_ended / episodes_ended where the unit is a day).", sum="ended_units"),
    "referrals_in": Column("int64", "episodes", "Episodes started by a discharge from the pathway's acute setting (post-acute settings; destination share = referrals_in / discharges of the acute setting).", sum="referrals"),
    "discharges_per_1000": Column("float64", "episodes/1,000 members/year", "episodes_ended per 1,000 members, annualised (× 12): in an inpatient setting, discharges per 1,000 enrollees a year.", derive=_discharges_per_1000),
    "claims_denied": Column("float64", "USD", "Claim amounts the contract refused to pay (medical review above an annual therapy threshold): paid by neither payer nor patient, not in provider_revenue.", sum="denied"),
    "risk_in_care": Column("float64", "risk score", "Sum of the true risk scores of the payer's patients in care this month (an episode taken to a provider).", per_patient=_risk_in_care),
    "coded_risk_in_care": Column("float64", "risk score", "Sum of their risk scores as their providers coded them for the payer (behaviour.upcoding; equal to risk_in_care without it).", per_patient=_coded_risk_in_care),
    "coded_risk_ratio": Column("float64", "ratio", "coded_risk_in_care / risk_in_care: how much higher than the truth providers code the payer's patients' risk (1 without upcoding; the coding margin of a reform's effect).", ratio=("coded_risk_in_care", "risk_in_care")),
}  # fmt: skip


#: the provider panel's columns, derived from a :class:`_Provider`
PROVIDER_COLUMNS: dict[str, Column] = {
    "arm": Column("string", "name", "Arm.", run=True),
    "replicate": Column("int32", "index", "Replication number.", run=True),
    "seed": Column("int64", "integer", "Root seed of the run.", run=True),
    "month": Column("int32", "month", "Month, from 0.", derive=lambda r: r.world.month_number),
    "setting": Column("string", "name", "Care setting.", derive=lambda r: r.world.settings[r.s].name),
    "provider": Column("int32", "index", "Provider number within the setting.", derive=lambda r: r.p.global_index),
    "region": Column("string", "name", "Region of the provider.", derive=lambda r: r.world.population.region_names[r.p.region]),
    "for_profit": Column("bool", "flag", "For-profit ownership.", derive=lambda r: r.p.for_profit),
    "altruism": Column("float64", "weight", "Weight α on patient benefit.", derive=lambda r: r.p.altruism),
    "speed": Column("float64", "fraction/month", "Adaptation speed.", derive=lambda r: r.p.speed),
    "theta": Column("float64", "units/month", "Practice style after this month's adaptation: units above (+) or below (−) each patient's optimum.", derive=lambda r: float(r.theta[r.i])),
    "theta_optimal": Column("float64", "units/month", "Closed-form best style under the month's contracts [@ellis1986].", derive=lambda r: float(r.optimal[r.i])),
    "patients_treated": Column("int64", "persons", "Patients treated this month.", derive=lambda r: int(r.treated[r.i])),
    "service_units": Column("int64", "units", "Service units delivered.", derive=lambda r: int(r.units[r.i])),
    "revenue": Column("float64", "USD", "Revenue received (claims, cost sharing, PMPM).", derive=lambda r: float(r.revenue[r.i])),
    "cost": Column("float64", "USD", "Service cost + adverse-event costs borne + fixed cost.", derive=lambda r: float(r.cost[r.i])),
    "margin": Column("float64", "USD", "revenue − cost.", derive=lambda r: float(r.revenue[r.i] - r.cost[r.i])),
    "patient_benefit": Column("float64", "USD", "Money-valued benefit delivered to its patients.", derive=lambda r: float(r.benefit[r.i])),
}  # fmt: skip

#: the monthly table: the core columns, then every feature's (in ``FEATURES`` order)
MONTHLY = Table(COLUMNS)
for _feature in FEATURES:
    MONTHLY.add(_feature.__name__, _feature.COLUMNS)
#: the core's sums of per-patient arrays (``Column.per_patient``): sum → f(world, s, care)
_PER_PATIENT = MONTHLY.per_patient()


def record(
    world: World,
    f0_sum: np.ndarray,
    rows: list[dict[str, Any]],
    provider_rows: list[dict[str, Any]] | None,
    subgroups: Subgroups | None = None,
    life: list[dict[str, Any]] | None = None,
) -> None:
    """Append this month's rows (``f0_sum``: each payer's sum of function at the start), the
    subgroup rows when the scenario asks for them (``[analysis]``) and the life table's rows
    (``life``) with a life course (``[life]``: then function is summed over this month's
    members, from month 0 or their entry).

    The rows are read off the month's sums by (setting, payer) (:func:`_sums`), which a
    sharded run adds up over its shards first (``world.exchange.sums``)."""
    if world.life is None:
        f_sum = world.population.function_sum_by_payer()
    else:
        f_sum, f0_sum = world.life.function_sums(world)
    revenues = []
    local = []
    for s in range(len(world.settings)):
        # provider-side ledger: what each provider received this month
        revenue = provider_revenue(world, s)
        world.ledgers.provider[s] += revenue
        revenues.append(revenue)
        sums = _sums(world, s, f_sum, f0_sum)
        world.ledgers.oop[s] += sums["oop"]
        if world.life is not None:
            sums.update(world.life.sums(s))
        local.append(sums)
    run_values = []
    for s, sums in enumerate(world.exchange.sums(local)):
        # Python numbers, once per setting: the rows take dozens of them per payer
        values = {k: v.tolist() for k, v in sums.items()}
        run_values.append(values)
        for g in range(world.n_payers):
            rows.append(MONTHLY.row(world, s, g, values))
    if life is not None:
        life_rows(world, run_values, life)
    if provider_rows is not None:
        # a shard's rows are its own providers' (the run merges them at the end)
        for s, revenue in enumerate(revenues):
            _record_providers(world, s, revenue, provider_rows)
    if subgroups is not None:
        subgroups.record(world, world.date.isoformat())


def _sums(world: World, s: int, f_sum: np.ndarray, f0_sum: np.ndarray) -> dict[str, np.ndarray]:
    """The month's sums by payer in setting ``s`` (arrays with the payers first): the core ones
    (the columns' ``per_patient`` arrays among them), and the features' (``Feature.record``:
    keys ``<feature class>.<name>``), all of them sums over this model's patients and
    providers, so that a sharded run adds them up."""
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
    names: tuple[str, ...]
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
        }
    )
    new_q = np.asarray(care.new_needs_by_group, np.int64)
    declined_q = np.asarray(care.declined_by_group, np.int64)
    for q in range(4):
        totals[f"new_needs_risk_q{q + 1}"] = new_q[:, q]
        totals[f"episodes_declined_risk_q{q + 1}"] = declined_q[:, q]
    for key, per_patient in _PER_PATIENT.items():
        totals[key] = by_payer(per_patient(world, s, care))
    for f in world.hooks("record", s):
        prefix = type(f).__name__
        for k, v in f.record(world, s, care, by_payer).items():
            totals[f"{prefix}.{k}"] = v
    return totals


class _Provider:
    """What a provider-panel row is derived from: a setting's month by provider, and the
    provider ``p`` (number ``i`` in the setting) whose row it is."""

    def __init__(self, world: World, s: int, revenue: np.ndarray) -> None:
        care = world.month[s]
        providers = world.providers[s]
        n_prov = providers.n
        self.world, self.s, self.revenue = world, s, revenue
        self.units = np.bincount(care.provider, care.service_units, n_prov)
        self.treated = np.bincount(care.provider[care.service_units > 0], minlength=n_prov)
        self.benefit = np.bincount(care.provider, care.benefit, n_prov)
        self.cost = provider_cost(world, s)
        self.optimal = optimal_theta(world, s)
        self.theta = providers.theta
        self.p: Any = None
        self.i = 0


#: every column but the run's is derived
_PROVIDER_ROW = {k: c.derive for k, c in PROVIDER_COLUMNS.items() if c.derive is not None}


def _record_providers(
    world: World, s: int, revenue: np.ndarray, provider_rows: list[dict[str, Any]]
) -> None:
    r = _Provider(world, s, revenue)
    for p in world.providers[s].agents:
        r.p, r.i = p, p.index
        provider_rows.append({k: derive(r) for k, derive in _PROVIDER_ROW.items()})
