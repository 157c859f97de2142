#!/usr/bin/env python
"""The full monthly step as a ratio to a bare numpy month with the same core arithmetic.

The *reference* month (:func:`reference_month`) is what a minimal, correct, vectorized
implementation of the model's core needs: the calendar (deductible reset, other care, function
decline, one need uniform per patient and setting), needs (probability, episode length and the
elective care-seeking rule with the expected out-of-pocket cost of a fee-for-service episode),
units (planned ``clip(q_B + θ_provider ± δ)``, stochastic rounding), delivery (visits, billed
units, minutes and fee value from the setting's tables), benefit, function gain, low-value
units, adverse events, payment (fee value × rate level, deductible and coinsurance) and the
monthly sums per (setting, payer). It uses the same arrays, dtypes, tables and counter-based
uniforms as the model (copied from a freshly built ``HealthSystemModel``), and no Mesa, no
pathway, no payment periods, caps, features or options. Provider learning is not in it; the
*reference + learning* variant adds the per-provider sums a least-squares learner needs (one
``bincount`` per statistic) so its cost can be read off too.

The full model is ``benchmarks/bench_step.py``'s ``build("vectorized", n, "ffs",
"learning")``: both default settings, all monthly rows, learning providers. Beside it, *shipped*
is the shipped main job's first arm (``scenarios/compare_payment_models.toml``, fee-for-service,
at ``n`` patients): participation and capacity on and the ``[analysis]`` tables recorded every
month. All are timed in the same process, alternating month blocks (best of N rounds and the
mean), so they see the same machine conditions; the ratios are ``reference seconds / model
seconds`` and ``reference seconds / shipped seconds`` (1.0: at bare-array speed).

    PYTHONPATH=. python benchmarks/bench_reference.py                      # 100k and 1M
    PYTHONPATH=. python benchmarks/bench_reference.py --sizes 100000 --rounds 3 --months 6
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
from bench_step import build  # noqa: E402

from sim.engine.draws import ADVERSE_EVENT, EPISODE, ROUNDING, Draw  # noqa: E402

TARGET = 0.85
#: the shipped main job's targets: reference ÷ its step at 100k and 1M (issue 27)
SHIPPED_TARGET = {100_000: 0.85, 1_000_000: 1.0}
SHIPPED = ROOT / "scenarios" / "compare_payment_models.toml"
_GOLDEN = 0x9E3779B97F4A7C15


def _uniforms(key: int, month: int, s: int, draw: Draw, patients: np.ndarray) -> np.ndarray:
    """Counter-based uniforms: splitmix64 of (key, month, setting, purpose, patient), the
    draw's counter from the model's registry (sim.engine.draws)."""
    x = patients.astype(np.uint64) * np.uint64(_GOLDEN)
    x += np.uint64(draw.base(key, month, s))
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    x >>= np.uint64(11)
    return x * (1.0 / (1 << 53))


@dataclass
class Setting:
    """One setting's parameters and tables, copied from the model's ``CareSetting``."""

    need_probability_by_condition: np.ndarray  # float32: need_probability × condition mult.
    intensity: np.ndarray  # by condition
    ref_function: float
    function_slope: float
    episode_months: float
    elective_share: float
    optimal_units: float
    risk_elasticity: float
    oop_elasticity: float
    oop_reference: float
    curvature: float
    value_per_point: float
    low_value_threshold: float
    max_units: int
    upv: int
    visit_fee: np.ndarray
    first_visit_extra: np.ndarray
    billed_units: np.ndarray
    minutes: np.ndarray
    episode_units: int
    fee_per_unit: np.ndarray
    ae_base: float
    ae_slope: float
    ae_shortfall: float
    ae_cost: float
    ae_loss: float
    theta: np.ndarray
    delta: float
    marginal_cost: float
    xtx: np.ndarray
    xty: np.ndarray
    # patient state of the setting
    provider: np.ndarray
    left: np.ndarray
    sought: np.ndarray
    need: np.ndarray


class Reference:
    """The state a bare month acts on, copied from a freshly built model (same arrays)."""

    def __init__(self, model: Any) -> None:
        w = model.world
        pop = w.population
        self.n = pop.n
        self.key = pop._key
        self.rng = copy.deepcopy(pop._monthly)  # the model's need stream, same state
        self.payer = pop.payer.copy()
        self.payer_start = pop.payer_start.copy()
        self.region = pop.region.copy()
        self.condition = pop.condition.copy()
        self.risk = pop.risk.copy()
        self.function = pop.function.copy()
        self.decline = pop.decline.copy()
        self.deductible = pop.deductible.copy()
        self.deductible_remaining = pop.deductible_remaining.copy()
        self.other_care = pop.other_care.copy()
        self.oop_year_to_date = pop.oop_year_to_date.copy()
        self.draws = np.empty_like(pop._draws)
        self.rate = np.array([p.rate_multiplier for p in w.payers])
        prm = [p.contracts[0].params for p in w.payers]
        self.coinsurance = np.array([x.coinsurance for x in prm])
        self.n_providers = [p.n for p in w.providers]
        self.alpha = [p.altruism for p in w.providers]
        self.memory = w.behaviour.memory
        self.settings: list[Setting] = []
        for s, st in enumerate(w.settings):
            cfg = st.cfg
            ae = cfg.adverse_events
            self.settings.append(
                Setting(
                    need_probability_by_condition=(cfg.need_probability * w.condition_need),
                    intensity=w.condition_intensity.copy(),
                    ref_function=cfg.need_reference_function,
                    function_slope=cfg.need_function_slope,
                    episode_months=cfg.episode_months,
                    elective_share=cfg.elective_share,
                    optimal_units=cfg.optimal_units,
                    risk_elasticity=cfg.need_risk_elasticity,
                    oop_elasticity=cfg.oop_elasticity,
                    oop_reference=cfg.oop_reference,
                    curvature=cfg.benefit_curvature,
                    value_per_point=cfg.value_per_function_point,
                    low_value_threshold=cfg.low_value_threshold,
                    max_units=cfg.max_units,
                    upv=st.units_per_visit,
                    visit_fee=st.visit_fee,
                    first_visit_extra=st.first_visit_extra,
                    billed_units=st.billed_units,
                    minutes=st.minutes,
                    episode_units=st.episode_units,
                    fee_per_unit=st.fee_per_unit,
                    ae_base=ae.base_rate,
                    ae_slope=ae.function_slope,
                    ae_shortfall=ae.shortfall_risk,
                    ae_cost=ae.cost,
                    ae_loss=ae.function_loss,
                    theta=w.providers[s].theta.copy(),
                    delta=w.behaviour.experiment_step * cfg.optimal_units,
                    marginal_cost=cfg.marginal_cost,
                    xtx=np.zeros((w.providers[s].n, 6, 6)),
                    xty=np.zeros((w.providers[s].n, 6)),
                    provider=pop.provider[s].copy(),
                    left=pop.episode_left[s].copy(),
                    sought=pop.sought[s].copy(),
                    need=pop.optimal_units[s].copy(),
                )
            )
        self.month = 0
        self.rows: list[dict[str, float]] = []

    def step(self, learning: bool = False) -> None:
        """One month (see the module docstring); ``learning`` adds per-provider sums."""
        reference_month(self, self.month, learning)
        self.month += 1


def reference_month(st: Reference, month: int, learning: bool = False) -> None:
    """The bare month: calendar, then per setting needs, units, delivery, outcomes, payment
    and sums per payer; the rows go to ``st.rows``."""
    n_payers = st.rate.size
    # calendar
    if month % 12 == 0:
        np.take(st.deductible, st.payer, out=st.deductible_remaining)
        st.oop_year_to_date.fill(0.0)
    st.deductible_remaining -= st.other_care[st.payer]
    np.maximum(st.deductible_remaining, 0.0, out=st.deductible_remaining)
    np.subtract(st.function, st.decline, out=st.function)
    np.maximum(st.function, 0.0, out=st.function)
    st.rng.random(out=st.draws.reshape(-1), dtype=np.float32)

    care = []
    for s, c in enumerate(st.settings):
        # needs: one probability per patient, the new episodes, their length and care seeking
        u_need = st.draws[s]
        p = c.ref_function - st.function
        np.maximum(p, 0.0, out=p)
        p *= c.function_slope / 100.0
        p += 1.0
        p *= st.risk
        p *= c.need_probability_by_condition[st.condition]
        new = u_need < p
        new &= c.left == 0
        idx_new = np.flatnonzero(new)
        if idx_new.size:
            p_new = np.minimum(p[idx_new], 1.0)
            e = _uniforms(st.key, month, s, EPISODE, idx_new)
            if c.episode_months <= 1.0:
                length = np.ones(idx_new.size, np.int16)
            else:
                v = np.clip(u_need[idx_new] / p_new, 1e-12, 1.0)
                length = 1 + np.floor(np.log(v) / np.log1p(-1.0 / c.episode_months))
                length = np.minimum(length, 240).astype(np.int16)
            elective = e < c.elective_share
            risk_new = st.risk[idx_new]
            need = (
                c.optimal_units
                * risk_new.astype(np.float64) ** c.risk_elasticity
                * c.intensity[st.condition[idx_new]]
            )
            # expected out-of-pocket cost of an episode of patient-optimal care
            payer_new = st.payer[idx_new]
            allowed = c.fee_per_unit[st.region[idx_new]] * (need * length) * st.rate[payer_new]
            ded = np.minimum(allowed, st.deductible_remaining[idx_new])
            oop = ded + st.coinsurance[payer_new] * (allowed - ded)
            seek_p = np.power(1.0 + oop / c.oop_reference, c.oop_elasticity)
            seek = ~elective | (e / c.elective_share < seek_p)
            c.left[idx_new] = length
            c.need[idx_new] = need
            c.sought[idx_new] = seek
        del p, new

        # units: everyone with an active episode
        idx = np.flatnonzero(c.left > 0)
        bounds = np.searchsorted(idx, st.payer_start)
        new_ep = np.zeros(idx.size, np.bool_)
        new_ep[np.searchsorted(idx, idx_new)] = True
        prov = c.provider[idx].astype(np.int64)
        sought = c.sought[idx]
        need = c.need[idx].astype(np.float64)
        sign = ((idx + month) % 3).astype(np.int8) - 1
        planned = np.clip(need + c.theta[prov] + c.delta * sign, 0.0, float(c.max_units))
        units = np.floor(planned + _uniforms(st.key, month, s, ROUNDING, idx)).astype(np.int64)
        units[~sought] = 0

        # delivery: visits, billed units, minutes, fee value
        region = st.region[idx]
        visits = -(-units // c.upv)
        safe = np.maximum(visits, 1)
        base = units // safe
        extra = units - base * safe
        hi = np.minimum(base + 1, c.upv)
        lo_n = visits - extra
        value = lo_n * c.visit_fee[region, base] + extra * c.visit_fee[region, hi]
        starting = new_ep & sought
        first = starting & (visits > 0)
        first_k = np.where(extra > 0, hi, base)
        value += np.where(first, c.first_visit_extra[region, first_k], 0.0)
        billed = lo_n * c.billed_units[base] + extra * c.billed_units[hi]
        billed += np.where(first, c.episode_units, 0)
        minutes = lo_n * c.minutes[base] + extra * c.minutes[hi]

        # outcomes: benefit, function gain, low-value units, adverse events
        q = units.astype(np.float64)
        benefit = c.curvature * q * (need - 0.5 * q)
        qs = np.minimum(q, need)
        gain = c.curvature * qs * (need - 0.5 * qs) / c.value_per_point
        valuable = np.maximum(np.floor(need - c.low_value_threshold / c.curvature + 0.5), 0.0)
        low = np.maximum(q - valuable, 0.0)
        f0 = st.function[idx].astype(np.float64)
        short = np.maximum(need - q, 0.0)
        p_ae = c.ae_base * st.risk[idx] * (1.0 + c.ae_slope * (100.0 - f0) / 100.0)
        p_ae += c.ae_shortfall * short * short
        adverse = _uniforms(st.key, month, s, ADVERSE_EVENT, idx) < p_ae
        st.function[idx] = np.clip(f0 + gain - c.ae_loss * adverse, 0.0, 100.0)
        # function_gain is the change patients had (after the 0-100 scale and adverse events)
        gain = st.function[idx] - f0
        c.left[idx] -= 1

        # the claims: fee value at the payer's rate level (paid after every setting's care)
        allowed = np.where(sought, value, 0.0)
        for g in range(n_payers):
            allowed[int(bounds[g]) : int(bounds[g + 1])] *= st.rate[g]
        care.append(
            (
                s,
                c,
                idx,
                bounds,
                prov,
                sought,
                need,
                planned,
                q,
                new_ep,
                starting,
                units,
                visits,
                billed,
                minutes,
                allowed,
                adverse,
                gain,
                benefit,
                low,
            )
        )

    # payment: deductible then coinsurance, setting after setting
    for (
        s,
        c,
        idx,
        bounds,
        prov,
        sought,
        need,
        planned,
        q,
        new_ep,
        starting,
        units,
        visits,
        billed,
        minutes,
        allowed,
        adverse,
        gain,
        benefit,
        low,
    ) in care:
        oop = np.empty(idx.size)
        for g in range(n_payers):
            b = slice(int(bounds[g]), int(bounds[g + 1]))
            ded_left = st.deductible_remaining[idx[b]].astype(np.float64)
            ded = np.minimum(allowed[b], ded_left)
            oop[b] = ded + st.coinsurance[g] * (allowed[b] - ded)
            st.deductible_remaining[idx[b]] = ded_left - ded
        st.oop_year_to_date[idx] += oop

        if learning:
            # the model's least-squares learner: per provider, X'X and X'y of
            # (1, need_z, need_z², x, x², new episode) for the treated, with forgetting
            own = sought
            pr = prov[own]
            y = allowed[own] - c.marginal_cost * q[own] + st.alpha[s][pr] * benefit[own]
            z = (need[own] - c.optimal_units) / c.optimal_units
            x = (planned[own] - need[own]) / c.optimal_units  # ≈ the offset the style set
            cols = [np.ones_like(x), z, z * z, x, x * x, new_ep[own].astype(np.float64)]
            k = st.n_providers[s]
            xtx, xty = c.xtx, c.xty
            m = st.memory
            for i in range(6):
                xty[:, i] = (1 - m) * xty[:, i] + m * np.bincount(pr, cols[i] * y, minlength=k)
                for j in range(i, 6):
                    v = np.bincount(pr, cols[i] * cols[j], minlength=k)
                    xtx[:, i, j] = xtx[:, j, i] = (1 - m) * xtx[:, i, j] + m * v
            a = xtx + 1e-9 * np.eye(6)
            np.linalg.solve(a, xty[..., None])

        # the month's sums per payer (the monthly table's core columns)
        for g in range(n_payers):
            b = slice(int(bounds[g]), int(bounds[g + 1]))
            st.rows.append(
                {
                    "month": month,
                    "setting": s,
                    "payer": g,
                    "in_episode": b.stop - b.start,
                    "episodes": int(starting[b].sum()),
                    "treated": int((units[b] > 0).sum()),
                    "service_units": int(units[b].sum()),
                    "visits": int(visits[b].sum()),
                    "billed": int(billed[b].sum()),
                    "minutes": int(minutes[b].sum()),
                    "allowed": float(allowed[b].sum()),
                    "oop": float(oop[b].sum()),
                    "adverse": int(adverse[b].sum()),
                    "gain": float(gain[b].sum()),
                    "benefit": float(benefit[b].sum()),
                    "low_value": float(low[b].sum()),
                }
            )
    # mean function per payer
    f = st.function
    for g in range(n_payers):
        f[st.payer_start[g] : st.payer_start[g + 1]].sum(dtype=np.float64)


# -------------------------------------------------------------------------------------------


#: the clock of the timings: wall (time.perf_counter) or this process's CPU time
#: (time.process_time: the month is one thread, and a shared machine's other load, which
#: stretches wall time, is mostly left out; --clock cpu)
CLOCK = time.perf_counter


def time_block(step: Any, months: int) -> float:
    """Seconds for ``months`` calls of ``step``."""
    t0 = CLOCK()
    for _ in range(months):
        step()
    return CLOCK() - t0


def check(n: int) -> list[str]:
    """The reference's first month against the model's (same draws, same initial styles):
    the core columns of every (setting, payer) row agree (counts exactly, money to 1e-9)."""
    model = build("vectorized", n, "ffs", "learning")
    ref = Reference(model)
    model.step()
    ref.step()
    pairs = {
        "in_episode": "patients_in_episode",
        "episodes": "episodes",
        "treated": "patients_treated",
        "service_units": "service_units",
        "visits": "visits",
        "billed": "units",
        "minutes": "minutes",
        "oop": "oop",
        "adverse": "adverse_events",
        "gain": "function_gain",
        "benefit": "patient_benefit",
        "low_value": "low_value_units",
    }
    bad = []
    for r, m in zip(ref.rows, model.rows, strict=True):
        for a, b in pairs.items():
            x, y = float(r[a]), float(m[b])
            if abs(x - y) > 1e-9 * max(1.0, abs(y)):
                bad.append(f"setting {r['setting']} payer {r['payer']} {b}: ref {x} model {y}")
        x, y = r["allowed"] - r["oop"], m["payer_payments"]
        if abs(x - y) > 1e-9 * max(1.0, abs(y)):
            bad.append(f"setting {r['setting']} payer {r['payer']} payer_payments: {x} vs {y}")
    return bad


def shipped(n: int) -> Any:
    """The shipped main comparison's first arm (fee-for-service) at ``n`` patients, as shipped:
    participation and capacity on, the [analysis] tables (risk quartiles, payer × quartile,
    the economics' utility) recorded every month."""
    from sim.engine.model import HealthSystemModel
    from sim.scenario.loading import load_scenario

    sc = load_scenario(os.environ.get("BENCH_SHIPPED", SHIPPED), [f"population.patients={n}"])
    return HealthSystemModel(sc, sc.arms[0].name)


def compare(n: int, rounds: int, months: int) -> dict[str, Any]:
    """Model, the shipped main job's arm, reference and reference + learning, alternating
    month blocks on fresh state each round; best and mean seconds per month of each."""
    times: dict[str, list[float]] = {
        "model": [],
        "shipped": [],
        "reference": [],
        "reference+learning": [],
    }
    order = list(times)
    for r in range(rounds):
        # a fresh model and fresh reference state each round: the same calendar window
        model = build("vectorized", n, "ffs", "learning")
        main = shipped(n)
        ref = Reference(model)
        ref_l = Reference(model)
        model.step()  # warm-up month for all four
        main.step()
        ref.step()
        ref_l.step(learning=True)
        gc.collect()
        steps = {
            "model": model.step,
            "shipped": main.step,
            "reference": ref.step,
            "reference+learning": lambda ref_l=ref_l: ref_l.step(learning=True),
        }
        rot = order[r % len(order) :] + order[: r % len(order)]
        acc = dict.fromkeys(order, 0.0)
        for _ in range(months):  # alternate one month of each, rotating who goes first
            for k in rot:
                acc[k] += time_block(steps[k], 1)
        for k in order:
            times[k].append(acc[k] / months)
        del model, main, ref, ref_l
        gc.collect()
    best = {k: min(v) for k, v in times.items()}
    mean = {k: statistics.fmean(v) for k, v in times.items()}
    return {"n": n, "best": best, "mean": mean, "all": times}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="population sizes")
    ap.add_argument("--rounds", type=int, default=5, help="fresh (model, reference) rounds")
    ap.add_argument("--months", type=int, default=12, help="months timed per round")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall", help="what is timed")
    ap.add_argument(
        "--shipped",
        default=str(SHIPPED),
        help="the scenario whose first arm is timed as 'shipped' (default: the main comparison; "
        "e.g. tests/reference/scenarios/compare_payment_models.toml, the version before the "
        "base world, to read off what its mechanisms cost)",
    )
    a = ap.parse_args(argv)
    os.environ["BENCH_SHIPPED"] = a.shipped
    global CLOCK
    CLOCK = time.process_time if a.clock == "cpu" else time.perf_counter
    print("command: PYTHONPATH=. python benchmarks/bench_reference.py " + " ".join(sys.argv[1:]))
    print(
        f"one thread; ffs, both default settings, learning providers, all monthly rows; "
        f"{a.rounds} rounds × {a.months} months, the four alternating month by month; "
        f"{a.clock} clock"
    )
    print("check: the reference's first month equals the model's (core columns, every row)")
    print()
    print(
        "| patients | model ms/month | reference ms/month | ref+learning ms/month "
        "| ratio ref/model (best) | (mean) | ref+learning/model (best) "
        "| shipped ms/month | ratio ref/shipped (best) | (mean) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in (int(x) for x in a.sizes.split(",")):
        bad = check(n)
        if bad:
            print(f"reference disagrees with the model at N = {n:,}:", *bad[:10], sep="\n  ")
            return 1
        res = compare(n, a.rounds, a.months)
        b, m = res["best"], res["mean"]
        ratio = b["reference"] / b["model"]
        ship = b["reference"] / b["shipped"]
        target = SHIPPED_TARGET.get(n)
        verdict = "" if target is None else f" {'PASS' if ship >= target else 'MISS'} (≥ {target})"
        print(
            f"| {n:,} | {b['model'] * 1e3:.1f} | {b['reference'] * 1e3:.1f} "
            f"| {b['reference+learning'] * 1e3:.1f} | {ratio:.2f}× "
            f"{'PASS' if ratio >= TARGET else 'MISS'} (target ≥ {TARGET}) "
            f"| {m['reference'] / m['model']:.2f}× "
            f"| {b['reference+learning'] / b['model']:.2f}× "
            f"| {b['shipped'] * 1e3:.1f} | {ship:.2f}×{verdict} "
            f"| {m['reference'] / m['shipped']:.2f}× |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
