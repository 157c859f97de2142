"""The monthly step of :class:`sim.engine.model.HealthSystemModel`, written the idiomatic per-agent
way.

This is the *baseline* of ``benchmarks/bench_step.py``: one ``Patient(mesa.Agent)`` object per
patient holding its own scalar state, stepped with ``shuffle_do("step")``, drawing its own random
numbers one at a time, doing its arithmetic in plain Python (``math``, ``bisect``), and paying
its claims into the model's ledgers from inside its own ``step``. It does the same work per
patient as the vectorized step (docstring of ``HealthSystemModel``, steps 1-6):

1. calendar and health drift: deductible and OOP reset each January, care outside the
   modelled settings draws the deductible down, chronic decline;
2. needs and care seeking, per setting: the same need probability, geometric episode length,
   elective share and expected-out-of-pocket seeking rule (``_seek_probability``);
3. delivery: planned units ``clip(q_B + θ, 0, max_units)``, stochastic rounding, visits, billed
   units, minutes and fee value from the setting's own :class:`sim.engine.settings.CareSetting`
   tables, benefit, function gain, low-value units, adverse events (same formulas as
   :mod:`sim.engine.clinical`, written for scalars);
4. payment under the arm's contracts (FFS, capitation, bundled, blended) with deductible,
   coinsurance and copays, PMPM paid per member inside the member's own step, adverse-event
   cost split between payer and provider;
5. providers (``Provider(mesa.Agent)``) keep a *fixed* style θ: they tally their treated
   patients' profit and benefit (what the vectorized ``_learn`` computes per provider in
   ``fixed`` mode) but do not adapt — compare with the vectorized model in
   ``behaviour.mode = "fixed"``;
6. the monthly rows (one per setting × payer, the same columns as ``HealthSystemModel.rows``).

Deliberate choices that make this baseline *faster*, so that the vectorized/per-agent ratio
is conservative:

* random numbers come from Mesa's seeded stdlib generator (``Agent.random``, the one
  ``shuffle_do`` itself uses) and are drawn lazily (only the draws a patient needs this
  month); ``rng="numpy"`` draws scalars from ``model.rng`` instead (several times slower per
  draw);
* the monthly aggregates are accumulated by each patient into small per-(setting, payer)
  tallies during its own step, instead of a second pass over the agents (or one pass per
  reporter, as ``mesa.DataCollector`` would do);
* the patients, providers, fee tables, panels and contracts are copied from a
  ``HealthSystemModel`` built from the same scenario and seed, so both formulations start from
  the same world (construction is not part of the benchmark).

The random streams differ from the vectorized model's, so the numbers agree statistically,
not bit for bit (``bench_step.py`` prints a sanity check).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

import mesa

from sim.engine.model import HealthSystemModel
from sim.engine.payment import PaymentModel
from sim.engine.settings import CareSetting
from sim.scenario import Scenario

# -------------------------------------------------------------------------------------------
# plain-Python views of the run's parameters


class SettingParams:
    """One care setting's parameters and fee tables as Python scalars and lists."""

    def __init__(self, setting: CareSetting, cond_need: list[float], cond_int: list[float]):
        cfg = setting.cfg
        ae = cfg.adverse_events
        self.index = setting.index
        self.name = setting.name
        self.upv = setting.units_per_visit
        self.need_ref = cfg.need_reference_function
        self.need_slope = cfg.need_function_slope / 100.0
        #: need probability at risk 1 and reference function, per condition
        self.need_p = [cfg.need_probability * c for c in cond_need]
        self.episode_months = cfg.episode_months
        self.log_keep = math.log1p(-1.0 / cfg.episode_months) if cfg.episode_months > 1 else 0.0
        self.elective_share = cfg.elective_share
        self.elective_div = max(cfg.elective_share, 1e-300)
        #: patient-optimal units at risk 1, per condition
        self.need_units = [cfg.optimal_units * c for c in cond_int]
        self.need_elasticity = cfg.need_risk_elasticity
        self.max_units = float(cfg.max_units)
        self.d = cfg.benefit_curvature
        self.value_per_point = cfg.value_per_function_point
        self.low_cut = cfg.low_value_threshold / cfg.benefit_curvature
        self.oop_elasticity = cfg.oop_elasticity
        self.oop_reference = cfg.oop_reference
        self.marginal_cost = cfg.marginal_cost
        self.ae_base = ae.base_rate
        self.ae_slope = ae.function_slope / 100.0
        self.ae_short = ae.shortfall_risk
        self.ae_cost = ae.cost
        self.ae_loss = ae.function_loss
        self.fee_per_unit = setting.fee_per_unit.tolist()
        self.visit_fee = setting.visit_fee.tolist()
        self.first_extra = setting.first_visit_extra.tolist()
        self.billed_units = setting.billed_units.tolist()
        self.minutes = setting.minutes.tolist()
        self.episode_units = setting.episode_units


class Contract:
    """One payer's contract in one setting, for scalar use (the four payment models)."""

    def __init__(self, contract: PaymentModel, rate: float) -> None:
        p = contract.params
        self.name = contract.name
        self.rate = rate
        self.coinsurance = p.coinsurance
        self.deductible_applies = p.deductible_applies
        self.copay = p.copay_per_visit
        self.liability = p.adverse_event_liability
        #: share of the fee-schedule value paid as a claim (ffs multiplier, blended fraction)
        self.fee_share = contract.marginal_revenue(1.0)
        self.pmpm = 0.0
        self.risk_adjusted = False
        self.bundled = False
        if self.name in ("capitation", "blended"):
            self.pmpm = p.pmpm * rate
            self.risk_adjusted = p.risk_adjusted
        elif self.name == "bundled":
            self.bundled = True
            self.base_rate = p.base_rate * rate
            self.cond_w = list(contract._cond_w)
            self.f_cuts, self.f_w = list(p.function_cutoffs), list(p.function_weights)
            self.c_cuts, self.c_w = list(p.comorbidity_cutoffs), list(p.comorbidity_weights)
        elif self.name != "ffs":
            raise ValueError(f"per-agent model: unsupported payment model {self.name!r}")

    def price(self, condition: int, function: float, risk: float) -> float:
        """Episode price (payer's rate included)."""
        return (
            self.base_rate
            * self.cond_w[condition]
            * self.f_w[bisect_right(self.f_cuts, function)]
            * self.c_w[bisect_right(self.c_cuts, risk)]
        )


class Tally:
    """One (setting, payer) cell of the month's table, accumulated by the patients."""

    __slots__ = (
        "adverse",
        "ae_payer",
        "benefit",
        "billed",
        "episodes",
        "gain",
        "in_episode",
        "liability",
        "low",
        "lump",
        "minutes",
        "new_needs",
        "oop",
        "revenue",
        "treated",
        "units",
        "visits",
    )

    def __init__(self) -> None:
        for k in self.__slots__:
            setattr(self, k, 0)


# -------------------------------------------------------------------------------------------
# agents


class Provider(mesa.Agent):
    """A provider with a fixed practice style θ; tallies its patients' results each month."""

    def __init__(
        self, model: PerAgentModel, setting: int, index: int, altruism: float, theta: float
    ) -> None:
        super().__init__(model)
        self.setting = setting
        self.index = index
        self.altruism = altruism
        self.theta = theta
        self.revenue = 0.0  # this month, claims + lump sums
        self.treated = 0
        self.profit = 0.0
        self.benefit = 0.0
        self.profit_pp = math.nan
        self.benefit_pp = math.nan
        self.revenue_to_date = 0.0

    def step(self) -> None:
        """Close the month: per-patient results (the provider's view of its performance)."""
        if self.treated:
            self.profit_pp = self.profit / self.treated
            self.benefit_pp = self.benefit / self.treated
        else:
            self.profit_pp = self.benefit_pp = math.nan
        self.revenue_to_date += self.revenue
        self.revenue = 0.0
        self.treated = 0
        self.profit = 0.0
        self.benefit = 0.0


class Payer(mesa.Agent):
    """A payer: its contracts (one per setting) and what it paid."""

    def __init__(
        self,
        model: PerAgentModel,
        name: str,
        index: int,
        rate: float,
        deductible: float,
        other_care: float,
        contracts: list[Contract],
    ) -> None:
        super().__init__(model)
        self.name = name
        self.index = index
        self.rate = rate
        self.deductible = deductible
        self.other_care = other_care  # allowed amounts of other care, per member-month
        self.contracts = contracts
        self.paid_total = 0.0

    def step(self) -> None:
        m = self.model
        g = self.index
        for s in range(len(self.contracts)):
            t = m.tally[s][g]
            self.paid_total += t.revenue + t.lump - t.oop + t.ae_payer


class Patient(mesa.Agent):
    """One patient with its own scalar state, stepping through its month."""

    def __init__(
        self,
        model: PerAgentModel,
        payer: Payer,
        region: int,
        condition: int,
        risk: float,
        function: float,
        decline: float,
        providers: list[Provider],
    ) -> None:
        super().__init__(model)
        self.payer = payer
        self.region = region
        self.condition = condition
        self.risk = risk
        self.function = function
        self.decline = decline
        self.deductible_remaining = payer.deductible
        self.oop = 0.0
        n = len(providers)
        self.provider = providers  # per setting
        self.episode_left = [0] * n
        self.sought = [False] * n
        self.need = [0.0] * n

    def step(self) -> None:
        m = self.model
        draw = m.draw
        payer = self.payer
        g = payer.index
        if m.month % 12 == 0:
            self.deductible_remaining = payer.deductible
            self.oop = 0.0
        # (the per-patient-per-month clamps use conditionals: builtins max/min cost ~0.1 µs)
        if payer.other_care:  # care outside the modelled settings draws the deductible down
            left_ded = self.deductible_remaining - payer.other_care
            self.deductible_remaining = left_ded if left_ded > 0.0 else 0.0
        f = self.function - self.decline
        self.function = f if f > 0.0 else 0.0
        risk = self.risk
        care = []
        # -- needs, care seeking, delivery, outcomes: each setting in scenario order
        for sp in m.setting_params:
            s = sp.index
            left = self.episode_left[s]
            new = False
            if left == 0:
                gap = sp.need_ref - self.function
                p = (1.0 + gap * sp.need_slope) * risk if gap > 0.0 else risk
                p *= sp.need_p[self.condition]
                u = draw()
                if u < p:
                    new = True
                    m.tally[s][g].new_needs += 1
                    v = u / min(p, 1.0)
                    if sp.episode_months <= 1.0:
                        left = 1
                    else:
                        left = min(1 + math.floor(math.log(max(v, 1e-12)) / sp.log_keep), 240)
                    need = sp.need_units[self.condition] * risk**sp.need_elasticity
                    e = draw()
                    seek = True
                    if e < sp.elective_share:
                        seek = e / sp.elective_div < self.seek_probability(sp, need, left)
                    self.need[s] = need
                    self.sought[s] = seek
            if left == 0:
                continue
            # an active episode: the provider's decision and the delivery
            prov = self.provider[s]
            need = self.need[s]
            sought = self.sought[s]
            units = 0
            if sought:
                q = min(max(need + prov.theta, 0.0), sp.max_units)
                units = math.floor(q + draw())  # unbiased stochastic rounding
            new_ep = new and sought
            visits = billed = minutes = 0
            value = 0.0
            if units > 0:
                upv = sp.upv
                visits = -(-units // upv)
                base = units // visits
                extra = units - base * visits
                hi = min(base + 1, upv)
                fee = sp.visit_fee[self.region]
                value = (visits - extra) * fee[base] + extra * fee[hi]
                billed = (visits - extra) * sp.billed_units[base] + extra * sp.billed_units[hi]
                minutes = (visits - extra) * sp.minutes[base] + extra * sp.minutes[hi]
                if new_ep:
                    value += sp.first_extra[self.region][hi if extra > 0 else base]
                    billed += sp.episode_units
            f_start = self.function
            d = sp.d
            benefit = d * units * (need - 0.5 * units)
            qg = min(units, need)
            gain = d * qg * (need - 0.5 * qg) / sp.value_per_point
            low = max(units - max(math.floor(need - sp.low_cut + 0.5), 0.0), 0.0)
            short = max(need - units, 0.0)
            p_ae = sp.ae_base * risk * (1.0 + sp.ae_slope * (100.0 - f_start))
            p_ae = min(p_ae + sp.ae_short * short * short, 1.0)
            adverse = draw() < p_ae
            f = f_start + gain - (sp.ae_loss if adverse else 0.0)
            self.function = min(max(f, 0.0), 100.0)
            self.episode_left[s] = left - 1
            care.append((s, prov, sought, new_ep, units, visits, value, f_start, benefit, adverse))
            tally = m.tally[s][g]
            tally.in_episode += 1
            tally.treated += units > 0
            tally.episodes += new_ep
            tally.units += units
            tally.billed += billed
            tally.visits += visits
            tally.minutes += minutes
            tally.gain += gain
            tally.benefit += benefit
            tally.low += low
            tally.adverse += adverse
        # -- payment: the payer's contract in each setting, with cost sharing
        rate = payer.rate
        for s, prov, sought, new_ep, units, visits, value, f_start, benefit, adverse in care:
            c = payer.contracts[s]
            tally = m.tally[s][g]
            allowed = 0.0
            if sought:
                if c.bundled:
                    if new_ep:
                        allowed = c.price(self.condition, f_start, risk)
                else:
                    allowed = value * rate * c.fee_share
            copays = c.copay * visits
            if c.deductible_applies:
                ded_part = min(allowed, self.deductible_remaining)
                self.deductible_remaining -= ded_part
            else:
                ded_part = 0.0
            oop = ded_part + c.coinsurance * (allowed - ded_part) + copays
            self.oop += oop
            revenue = allowed + copays
            ae_cost = m.setting_params[s].ae_cost if adverse else 0.0
            liability = c.liability * ae_cost
            prov.revenue += revenue
            tally.revenue += revenue
            tally.oop += oop
            tally.liability += liability
            tally.ae_payer += ae_cost - liability
            if sought:
                profit = revenue - m.setting_params[s].marginal_cost * units - liability
                prov.treated += 1
                prov.profit += profit
                prov.benefit += benefit
        # per-member payments (capitation, blended): every member, every month
        for s, c in enumerate(payer.contracts):
            if c.pmpm:
                lump = c.pmpm * risk if c.risk_adjusted else c.pmpm
                self.provider[s].revenue += lump
                m.tally[s][g].lump += lump
        m.function_sum[g] += self.function

    def seek_probability(self, sp: SettingParams, need: float, length: int) -> float:
        """``HealthSystemModel._seek_probability`` for one patient."""
        payer = self.payer
        c = payer.contracts[sp.index]
        units = need * length
        fee = sp.fee_per_unit[self.region] * units * payer.rate
        if c.bundled:
            allowed = c.price(self.condition, self.function, self.risk)
        else:
            allowed = c.fee_share * fee
        ded = self.deductible_remaining if c.deductible_applies else 0.0
        ded_part = min(allowed, ded)
        oop = ded_part + c.coinsurance * (allowed - ded_part)
        oop += c.copay * math.ceil(units / sp.upv)
        return (1.0 + oop / sp.oop_reference) ** sp.oop_elasticity


# -------------------------------------------------------------------------------------------
# the model


class PerAgentModel(mesa.Model):
    """Patients, providers and payers as Mesa agents; the month as ``shuffle_do("step")``.

    Parameters
    ----------
    scenario, arm:
        As for :class:`~sim.engine.model.HealthSystemModel` (the initial world is taken from a
        ``HealthSystemModel`` built with the same scenario, arm and seed).
    rng:
        ``"python"`` (default): draws from Mesa's stdlib generator ``self.random``;
        ``"numpy"``: scalar draws from ``self.rng`` (a ``numpy.random.Generator``).
    """

    def __init__(
        self,
        scenario: Scenario,
        arm: str | None = None,
        *,
        seed: int | None = None,
        rng: str = "python",
    ) -> None:
        seed = scenario.seed if seed is None else int(seed)
        super().__init__(rng=seed + 1)  # a different stream from the vectorized model's
        if rng == "python":
            self.draw = self.random.random
        elif rng == "numpy":
            self.draw = self.rng.random
        else:
            raise ValueError("rng must be 'python' or 'numpy'")
        template = HealthSystemModel(scenario, arm, rng=seed)
        world = template.world
        self.config = scenario
        self.settings = template.settings
        conds = scenario.population.conditions.values()
        cond_need = [c.need_multiplier for c in conds]
        cond_int = [c.intensity_multiplier for c in conds]
        self.setting_params = [SettingParams(s, cond_need, cond_int) for s in self.settings]

        self.providers: list[list[Provider]] = [
            [
                Provider(self, s, p.index, p.altruism, float(world.providers[s].theta[p.index]))
                for p in provs
            ]
            for s, provs in enumerate(prov.agents for prov in world.providers)
        ]
        self.payers = [
            Payer(
                self,
                p.name,
                g,
                p.rate_multiplier,
                float(scenario.payers[p.name].deductible),
                float(scenario.payers[p.name].other_care_per_month),
                [Contract(c, p.rate_multiplier) for c in p.contracts],
            )
            for g, p in enumerate(template.payers)
        ]
        pop = template.population
        self.n = pop.n
        columns = zip(
            pop.payer.tolist(),
            pop.region.tolist(),
            pop.condition.tolist(),
            pop.risk.tolist(),
            pop.function.tolist(),
            pop.decline.tolist(),
            *(p.tolist() for p in pop.provider),
            strict=True,
        )
        n_set = len(self.settings)
        for g, r, c, risk, f, dec, *provs in columns:
            Patient(
                self,
                self.payers[g],
                r,
                c,
                risk,
                f,
                dec,
                [self.providers[s][provs[s]] for s in range(n_set)],
            )
        n_payers = len(self.payers)
        self.payer_members = world.payer_members.tolist()
        self._fixed_cost_share = [prov.fixed_cost_by_payer.tolist() for prov in world.providers]
        self._f0_sum = template._f0_sum.tolist()
        self.ledger_payer = [[0.0] * n_payers for _ in range(n_set)]
        self.ledger_payer_ae = [[0.0] * n_payers for _ in range(n_set)]
        self.ledger_oop = [[0.0] * n_payers for _ in range(n_set)]
        self.rows: list[dict[str, Any]] = []
        self.month = -1
        del template

    def step(self) -> None:
        self.month = month = self.steps - 1
        n_payers = len(self.payers)
        self.tally = [[Tally() for _ in range(n_payers)] for _ in self.settings]
        self.function_sum = [0.0] * n_payers
        self.agents_by_type[Patient].shuffle_do("step")
        self.agents_by_type[Payer].do("step")
        self.agents_by_type[Provider].do("step")
        self._record(month)

    def _record(self, month: int) -> None:
        for s, setting in enumerate(self.settings):
            cfg = setting.cfg
            for g, payer in enumerate(self.payers):
                t = self.tally[s][g]
                rev = t.revenue + t.lump
                payer_payments = rev - t.oop
                spending = payer_payments + t.ae_payer
                cost = cfg.marginal_cost * t.units + t.liability + self._fixed_cost_share[s][g]
                self.ledger_payer[s][g] += payer_payments
                self.ledger_payer_ae[s][g] += t.ae_payer
                self.ledger_oop[s][g] += t.oop
                nm = self.payer_members[g]
                tr = t.treated
                f_sum = self.function_sum[g]
                self.rows.append(
                    {
                        "month": month,
                        "setting": setting.name,
                        "payer": payer.name,
                        "payment_model": payer.contracts[s].name,
                        "members": int(nm),
                        "patients_in_episode": t.in_episode,
                        "new_needs": t.new_needs,
                        "episodes": t.episodes,
                        "patients_treated": tr,
                        "visits": t.visits,
                        "units": t.billed,
                        "service_units": t.units,
                        "minutes": t.minutes,
                        "units_per_treated": t.units / tr if tr else 0.0,
                        "payer_payments": payer_payments,
                        "spending": spending,
                        "spending_pmpm": spending / nm if nm else 0.0,
                        "oop": t.oop,
                        "oop_pmpm": t.oop / nm if nm else 0.0,
                        "provider_revenue": rev,
                        "provider_cost": cost,
                        "provider_margin": rev - cost,
                        "adverse_events": t.adverse,
                        "adverse_event_cost_payer": t.ae_payer,
                        "adverse_event_cost_provider": t.liability,
                        "mean_function": f_sum / nm if nm else 0.0,
                        "function_change": (f_sum - self._f0_sum[g]) / nm if nm else 0.0,
                        "function_gain": t.gain,
                        "patient_benefit": t.benefit,
                        "low_value_units": t.low,
                    }
                )
