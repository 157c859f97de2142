"""The acute care pathway: admission, discharge, post-acute care, readmission (MODEL.md).

Community patients have acute events (the acute setting's needs) and are admitted; the acute
setting's contract pays the stay (a DRG-like case-mix price, per diem, ...). At discharge the
hospital and its physicians choose where the patient goes — home or one of the post-acute
settings — and the post-acute episode starts in the same month. An adverse event during
post-acute care (a fall, an infection, a decompensation) sends the patient back to hospital
the next month; so may a discharge home, with the probability ``home_readmission_rate``.
Readmissions of a month's discharges in that month (post-acute episodes start in the month of
discharge, so this is within about 30 days) are the 30-day readmissions.

**Who bears post-acute cost, and the discharge decision.** Hospital ``h`` discharging patient
``i`` picks the destination ``d`` (home = 0) that maximises

    α_h · V_d(i) − w_h,g · Ĉ_h,d + σ · z_h,d + σ · ε_d

``V_d(i)`` is the clinical value of the destination to the patient (``value · (1 + slope ·
shortfall of function / 10) · risk^e``, home 0), ``α_h`` the hospital's weight on patient
benefit, ``Ĉ_h,d`` the hospital's running estimate of the spending of a pathway that went to
``d`` (learnt from its own patients' closed pathways), ``w_h,g`` the share of a pathway's
spending the hospital perceives it bears under payer ``g``'s contract, ``z_h,d`` the
hospital's own leaning toward ``d`` (normal, mean 0, standard deviation the destination's
``hospital_sd``, drawn once per hospital: hospitals differ in post-acute use at the same
prices and patients; 0 without it), and ``ε_d`` Gumbel
noise of scale ``σ = choice_scale`` (what the model does not see): a multinomial logit. A
patient already in an episode of a post-acute setting (home health continuing through a
readmission) goes home to it: that setting is not among its choices. Under
fee-for-service and DRGs the contract puts none of the post-acute spending on the hospital
(``PaymentModel.pathway_cost_share`` = 0); under a CJR-like episode bundle it puts all of it
there. The perceived share moves toward the contract's at the hospital's adaptation speed, so
discharge patterns change over months after a reform.

**Physicians accountable across settings.** When the hospital decides with its physicians
(``hospital_weight`` < 1), their weight ``w_phys`` applies to the value and to the part of the
spending they bear: the gainsharing part of the hospital's, and, for a patient whose provider
in another setting is held accountable for the pathway's settings by its contract (an ACO
across settings, :meth:`PaymentModel.accountable_share`: its physicians are the patient's
doctors), that provider's perceived share of ``Ĉ_h,d``, moving toward the contract's at the
setting's adaptation speed.

**Spending of a pathway.** From an index admission, every allowed amount and reconciliation of
every setting for the patient, over ``window_months`` months, is the pathway's spending
(readmissions inside the window belong to it). When the window closes, the acute contract of
the patient's payer may reconcile it (``PaymentModel.reconcile_pathway``: CJR-like target
price); the payment goes to the admitting hospital as a lump.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

import numpy as np

from sim.engine import draws
from sim.engine.columns import Column
from sim.engine.features.base import Feature
from sim.engine.month.accounts import patient_profit
from sim.engine.payment.base import ClosedPathways
from sim.engine.world import Transfer

if TYPE_CHECKING:
    from sim.engine.features.investments import Investments
    from sim.engine.month.care import SettingMonth
    from sim.engine.world import World
    from sim.scenario import PathwayConfig


#: counts of the month kept by the pathway (and their dtypes), recorded on the acute setting's
#: rows of the monthly table (zero on other rows)
COUNTS = {
    "discharges": np.int64,
    "discharges_home": np.int64,
    "discharges_institutional": np.int64,
    "readmissions": np.int64,
    "readmissions_30d": np.int64,
    "pathways_closed": np.int64,
    "readmissions_avoided": np.int64,
    "pathway_spending": np.float64,
}


def zero_counts(n_payers: int) -> dict[str, np.ndarray]:
    """The month's counts before anything happened, one entry per payer."""
    return {k: np.zeros(n_payers, dtype) for k, dtype in COUNTS.items()}


class Pathway(Feature):
    """Pathway state of every patient and the hospitals' discharge policies."""

    name = "pathway"
    COLUMNS: ClassVar[dict[str, Column]] = {
    "discharges": Column("int64", "stays", "Acute setting of a pathway: stays that ended in a discharge this month (0 on other rows)."),
    "discharges_home": Column("int64", "stays", "Acute setting: discharges home without post-acute care."),
    "discharges_institutional": Column("int64", "stays", "Acute setting: discharges to institutional post-acute care (destinations marked institutional, e.g. skilled nursing)."),
    "readmissions": Column("int64", "stays", "Acute setting: admissions this month that are readmissions (after an adverse event in post-acute care or a readmission draw after a discharge home)."),
    "readmissions_30d": Column("int64", "stays", "Acute setting: this month's discharges readmitted within about 30 days (in the month of discharge; admitted the next month). Readmission rate = readmissions_30d / discharges."),
    "pathways_closed": Column("int64", "pathways", "Acute setting: pathways (index admission + window_months) whose window closed this month."),
    "pathway_spending": Column("float64", "USD", "Acute setting: allowed amounts and reconciliations of every setting over the pathways that closed this month (the CJR episode spending)."),
    "readmissions_avoided": Column("int64", "stays", "Acute setting: 30-day readmissions of this month's discharges that investments (home visits, follow-up after discharge) avoided: the same draws would have readmitted these patients without them (first-order effect; compare with an arm without investments for the whole effect)."),
    "readmission_rate": Column("float64", "fraction", "Acute setting: readmissions_30d / discharges of the month (0 without discharges); average over months weighted by discharges for a period's rate.", ratio=("readmissions_30d", "discharges")),
    }  # fmt: skip
    SHARDABLE = True

    @classmethod
    def from_world(cls, world: World) -> list[Feature]:
        """On when the scenario has a ``[pathway]``."""
        cfg = world.config.pathway
        return [] if cfg is None else [cls(world, cfg)]

    def __init__(self, world: World, cfg: PathwayConfig) -> None:
        pop = world.population
        n = pop.n
        self._payer = pop.payer
        names = [st.name for st in world.settings]
        self.cfg = cfg
        self.acute = names.index(cfg.acute_setting)
        #: destination 0 is home; destination k ≥ 1 is setting ``dest_setting[k]``
        self.dest_setting = [self.acute] + [names.index(d) for d in cfg.destinations]
        dests = list(cfg.destinations.values())
        self.value = np.array([0.0] + [d.value for d in dests])
        self.slope = np.array([0.0] + [d.function_slope for d in dests])
        self.elasticity = np.array([0.0] + [d.risk_elasticity for d in dests])
        self.institutional = np.array([False] + [d.institutional for d in dests])
        n_dest = len(self.dest_setting)
        self.n_dest = n_dest
        #: each hospital's own leaning toward each destination, in the utility's dollars (None:
        #: every hospital alike); drawn for every hospital of the run, so a shard's hospitals
        #: lean as they do in the whole run
        self.leaning: np.ndarray | None = None
        sd = np.array([0.0] + [d.hospital_sd for d in dests])
        if sd.any():
            hosp = world.providers[self.acute]
            z = np.random.default_rng(world.streams["pathway"]).standard_normal(
                (hosp.n_total or hosp.n, n_dest)
            )
            # centred on the run's hospitals: the leanings spread practice around the mean
            # hospital's without moving it (a run with one hospital has none)
            z -= z.mean(axis=0)
            if hosp.global_id is not None:
                z = z[hosp.global_id]
            self.leaning = cfg.choice_scale * sd[None, :] * z
        self.is_destination = np.zeros(len(names), np.bool_)
        self.is_destination[self.dest_setting[1:]] = True

        # per patient
        self.referred = np.zeros((len(names), n), np.bool_)  # referral into a setting, now
        self.readmit_next = np.zeros(n, np.bool_)  # admitted next month as a readmission
        self.readmit_now = np.zeros(n, np.bool_)
        self.window_left = np.zeros(n, np.int16)
        self.window_spend = np.zeros(n, np.float64)
        self.window_hospital = np.zeros(n, np.int64)
        self.window_dest = np.zeros(n, np.int8)
        self.window_function = np.zeros(n, np.float32)  # coded function at the index admission
        self.discharged = np.zeros(n, np.bool_)  # discharged this month
        # factor on this month's readmission risk of those discharged (investments)
        self.protect = np.ones(n, np.float32)
        self.protected = False
        hospitals = world.providers[self.acute]
        n_h = hospitals.n
        self.discharges_h = np.zeros(n_h)
        self.readmits_h = np.zeros(n_h)

        # per hospital
        n_payers = world.n_payers
        self.altruism = hospitals.altruism
        self.speed = hospitals.speed
        self.weight = np.zeros((n_h, n_payers))  # perceived share of pathway spending borne
        self.cost = np.zeros((n_h, n_dest))  # estimated pathway spending by destination
        self.cost_seen = np.zeros((n_h, n_dest), np.bool_)
        if world.optimal:
            self.weight[:] = self._target_weight(world)
        # who decides: the hospital alone (as before the option), or jointly with its
        # physicians and the patient
        self.joint = cfg.hospital_weight < 1.0
        self.preference = np.array([0.0] + [d.patient_preference for d in dests])
        #: patients' out-of-pocket payments over open pathways, and each hospital's estimate
        #: of them by destination (what its patients expect to pay)
        self.track_oop = self.joint and cfg.patient_weight > 0
        self.window_oop = np.zeros(n if self.track_oop else 0)
        self.oop = np.zeros((n_h, n_dest))
        self.oop_seen = np.zeros((n_h, n_dest), np.bool_)
        self.hospitals = hospitals
        # a preferred post-acute network: each post-acute provider's running spending, margin,
        # days and stays (sums smoothed at network.memory)
        self.network = cfg.network
        self.stays: dict[int, np.ndarray] = {}
        if self.network is not None:
            for s_dest in self.dest_setting[1:]:
                self.stays[s_dest] = np.zeros((4, world.providers[s_dest].n))
                world.providers[s_dest].unit_value = np.zeros(world.providers[s_dest].n)
        #: investments of the acute setting that protect discharges (follow-up, home visits)
        self.follow_up: Investments | None = None

        #: the settings of the pathway (a contract accountable for all of them makes the
        #: physicians of its setting weigh a pathway's spending) and, per setting whose
        #: contracts do, its providers' perceived share of that spending, providers × payers
        #: (none until such a contract is in force)
        self.pathway_settings = {names[i] for i in self.dest_setting}
        self.physicians: dict[int, np.ndarray] = {}

        # this month's counts, by payer (recorded on the acute setting's rows)
        self.n_payers = n_payers
        self.counts: dict[str, np.ndarray] = {}

    def connect(self, features: list[Feature]) -> None:
        """Find the acute setting's investments that protect discharges, if any."""
        for f in features:
            if getattr(f, "protects_discharges", False) and self.acute in f.settings:
                self.follow_up = cast("Investments", f)  # found by what it has

    # -----------------------------------------------------------------------------------------
    def start_month(self, world: World) -> None:
        """This month's readmissions are last month's; referrals and counts start afresh."""
        self.readmit_now, self.readmit_next = self.readmit_next, self.readmit_now
        self.readmit_next[:] = False
        self.referred[:] = False
        self.discharged[:] = False
        if self.protected:
            self.protect[:] = 1.0
            self.protected = False
        self.discharges_h[:] = 0.0
        self.readmits_h[:] = 0.0
        self.counts = zero_counts(self.n_payers)
        self._accountable_physicians(world)

    def _accountable_physicians(self, world: World) -> None:
        """The physicians' perceived share of a pathway's spending moves toward what their
        setting's contracts put on them (:meth:`PaymentModel.accountable_share`, for a
        contract accountable for every setting of the pathway: an ACO across settings), at
        their setting's adaptation speed (at once in optimal mode)."""
        year = world.date.year
        for a, setting in enumerate(world.settings):
            target = np.zeros(self.n_payers)
            for g, payer in enumerate(world.payers):
                contract = payer.contracts[a]
                scope = set(contract.accountable_settings()) | {setting.name}
                if self.pathway_settings <= scope:
                    target[g] = contract.accountable_share(year)
            share = self.physicians.get(a)
            if share is None:
                if not target.any():
                    continue
                share = self.physicians[a] = np.zeros((world.providers[a].n, self.n_payers))
            if world.optimal:
                share[:] = target
            elif world.adjusting:
                share += world.providers[a].speed[:, None] * (target - share)

    def forced_needs(self, world: World, s: int) -> np.ndarray | None:
        """Patients whose episode in setting ``s`` starts this month whatever their need draw:
        readmissions (acute setting) and referrals (post-acute settings)."""
        if s == self.acute:
            return self.readmit_now
        if self.is_destination[s]:
            return self.referred[s]
        return None

    # -----------------------------------------------------------------------------------------
    def after_care(self, world: World, s: int, mc: SettingMonth) -> None:
        """Right after setting ``s`` delivered this month's care: admissions open pathways and
        discharges are routed (acute setting); adverse events in post-acute care send patients
        back to hospital (destination settings)."""
        if s == self.acute:
            self._admit_and_discharge(world, mc)
        elif self.is_destination[s]:
            pop = world.population
            back = mc.patients[mc.adverse & mc.sought]
            self.readmit_next[back] = True
            pop.episode_left[s][back] = 0  # the stay ends with the transfer to hospital
            early = back[self.discharged[back]]
            self.counts["readmissions_30d"] += np.bincount(
                pop.payer[early], minlength=self.n_payers
            )
            self.readmits_h += np.bincount(
                pop.provider[self.acute][early], minlength=self.readmits_h.size
            )

    def _admit_and_discharge(self, world: World, mc: SettingMonth) -> None:
        pop = world.population
        s = self.acute
        n_payers = self.n_payers
        idx = mc.patients
        admitted = idx[mc.new_episode]
        # which admissions are readmissions, for contracts that count them (HRRP)
        mc.columns["readmission"] = (mc.new_episode & self.readmit_now[idx]).astype(np.float64)
        self.counts["readmissions"] += np.bincount(
            pop.payer[admitted[self.readmit_now[admitted]]], minlength=n_payers
        )
        # an admission outside an open pathway is an index admission: it opens one
        index = admitted[self.window_left[admitted] == 0]
        self.window_left[index] = self.cfg.window_months
        self.window_spend[index] = 0.0
        prov = pop.provider[s][index].astype(np.int64)
        self.window_hospital[index] = prov
        f_adm = mc.function_at_start[np.searchsorted(idx, index)]
        self.window_function[index] = world.coding.function(s, prov, f_adm)
        self.window_dest[index] = 0
        if self.track_oop:
            self.window_oop[index] = 0.0

        # discharges: stays that ended this month
        out = idx[mc.sought & (pop.episode_left[s][idx] == 0)]
        if not out.size:
            return
        self.discharged[out] = True
        dest, borne = self.choose(world, out)
        first = self.window_left[out] == self.cfg.window_months  # the index stay's discharge
        self.window_dest[out[first]] = dest[first]
        for k in range(1, self.n_dest):
            to_k = dest == k
            self.referred[self.dest_setting[k], out[to_k]] = True
            if self.network is not None:
                self._steer(world, self.dest_setting[k], out[to_k], borne[to_k])
        payer = pop.payer[out]
        hosp = pop.provider[s][out].astype(np.int64)
        self.discharges_h += np.bincount(hosp, minlength=self.discharges_h.size)
        inv = self.follow_up
        factor = inv.discharge_factor(world, hosp, payer.astype(np.int64)) if inv else None
        if factor is not None:
            self.protect[out] = factor
            self.protected = True
        self.counts["discharges"] += np.bincount(payer, minlength=n_payers)
        self.counts["discharges_home"] += np.bincount(payer[dest == 0], minlength=n_payers)
        self.counts["discharges_institutional"] += np.bincount(
            payer[self.institutional[dest]], minlength=n_payers
        )
        # readmission of those discharged home
        home = out[dest == 0]
        cfg = self.cfg
        p = (
            cfg.home_readmission_rate
            * pop.risk[home]
            * (1.0 + cfg.readmission_function_slope * (100.0 - pop.function[home]) / 100.0)
        )
        u = pop.uniforms(home, s, draws.READMISSION)
        p = np.minimum(p, 1.0)
        if factor is not None:
            f = factor[dest == 0]
            self.count_avoided_readmissions(None, home[(u < p) & ~(u < p * f)])
            p = p * f
        back = home[u < p]
        self.readmit_next[back] = True
        self.counts["readmissions_30d"] += np.bincount(pop.payer[back], minlength=n_payers)
        self.readmits_h += np.bincount(pop.provider[s][back], minlength=self.readmits_h.size)

    def risk_factor(
        self, world: World, s: int, event: str, patients: np.ndarray | None
    ) -> np.ndarray | None:
        """The factor on adverse-event (readmission) risk in post-acute setting ``s`` of those
        discharged this month (follow-up after discharge)."""
        if event != "adverse_events" or not (self.protected and self.is_destination[s]):
            return None
        return np.where(self.discharged[patients], self.protect[patients], 1.0)

    def events_avoided(
        self, world: World, s: int, event: str, avoided: np.ndarray, sought: np.ndarray | None
    ) -> None:
        """Adverse events avoided in post-acute care among this month's discharges are
        readmissions avoided."""
        if event == "adverse_events":
            self.count_avoided_readmissions(s, avoided[sought])

    def count_avoided_readmissions(self, s: int | None, patients: np.ndarray) -> None:
        """Readmissions within 30 days that investments avoided (``s``: the post-acute
        setting where the avoided adverse event was; None: after a discharge home)."""
        if s is not None:
            if not self.is_destination[s]:
                return
            patients = patients[self.discharged[patients]]
        pop_payer = self._payer
        self.counts["readmissions_avoided"] += np.bincount(
            pop_payer[patients], minlength=self.n_payers
        )

    def by_hospital(self) -> tuple[np.ndarray, np.ndarray]:
        """This month's discharges and 30-day readmissions per hospital."""
        return self.discharges_h.copy(), self.readmits_h.copy()

    def clinical_value(self, risk: np.ndarray, function: np.ndarray) -> np.ndarray:
        """V_d(i): clinical value of each destination (columns) for each patient (rows)."""
        shortfall = np.maximum(self.cfg.reference_function - function, 0.0)[:, None] / 10.0
        factor = np.maximum(1.0 + self.slope[None, :] * shortfall, 0.0)
        return self.value[None, :] * factor * risk[:, None] ** self.elasticity[None, :]

    def borne(self, world: World, h: np.ndarray, g: np.ndarray) -> np.ndarray:
        """The share of a pathway's spending hospital ``h`` perceives it bears for a patient
        of payer ``g``: its perceived share under that payer's contract (payer specificity
        1), the patient-share-weighted mean over its payers (0: one norm), or in between."""
        lam = self.cfg.payer_specificity
        own = self.weight[h, g]
        if lam == 1.0:
            return own
        w = self.hospitals.payer_weight()
        norm = (w * self.weight).sum(axis=1)[h]
        return norm + lam * (own - norm)

    def choose(self, world: World, patients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Destination of each discharged patient (0 = home), by the logit rule of the
        hospital (alone, or jointly with its physicians and the patient); and the share of
        pathway spending the hospital perceives it bears for each."""
        pop = world.population
        cfg = self.cfg
        h = pop.provider[self.acute][patients].astype(np.int64)
        g = pop.payer[patients].astype(np.int64)
        v = self.clinical_value(
            pop.risk[patients].astype(np.float64), pop.function[patients].astype(np.float64)
        )
        borne = self.borne(world, h, g)
        if not self.joint:
            utility = self.altruism[h][:, None] * v - borne[:, None] * self.cost[h]
        else:
            # the hospital weighs value by its altruism against the spending it bears; its
            # physicians the same value against the gainsharing part of it; the patient the
            # value itself, its expected out-of-pocket cost and its preference
            care = self.altruism[h][:, None] * v
            spend = borne[:, None] * self.cost[h]
            patient = v - self.oop[h] + self.preference[None, :]
            w_pat = cfg.patient_weight
            w_phys = 1.0 - cfg.hospital_weight - w_pat
            # hospital_weight·(care − spend) + w_phys·(care − gainsharing·spend)
            # + w_pat·patient, gathered so that with no spending borne and no patient weight
            # it is the hospital's own utility to the bit (the weights decide nothing then)
            utility = (
                (1.0 - w_pat) * care
                - (cfg.hospital_weight + w_phys * cfg.gainsharing) * spend
                + w_pat * patient
            )
            if self.physicians:
                # physicians whose own organisation bears part of the pathway's spending (an
                # ACO accountable across settings): the patient's, in each such setting
                accountable = np.zeros(patients.size)
                for a, share in self.physicians.items():
                    accountable += share[pop.provider[a][patients], g]
                utility -= (w_phys * accountable)[:, None] * self.cost[h]
        if self.leaning is not None:
            # the hospital's own discharge practice (habits, referral relationships, local
            # supply), whoever decides with it
            utility += self.leaning[h]
        for k, s_dest in enumerate(self.dest_setting):
            u = pop.uniforms(patients, s_dest, draws.DISCHARGE)
            gumbel = -np.log(-np.log(np.clip(u, 1e-300, 1.0 - 1e-16)))
            utility[:, k] += self.cfg.choice_scale * gumbel
            if k:
                # a patient already in an episode of the destination continues it at home:
                # the hospital cannot start another there
                utility[pop.episode_left[s_dest][patients] > 0, k] = -np.inf
        return np.argmax(utility, axis=1).astype(np.int8), borne

    def _steer(self, world: World, s: int, patients: np.ndarray, borne: np.ndarray) -> None:
        """A preferred network: the hospitals' network in setting ``s`` is, in each region,
        the share ``network.size`` of providers with the lowest estimated spending per stay.
        A referral of a patient whose own provider is outside it goes to a network provider
        (spread over them by patient number) when the hospital's perceived saving exceeds
        the cost of steering; the patient then stays with that provider."""
        assert self.network is not None  # called with a network only
        if not patients.size:
            return
        spend = self.spend_per_stay(s)
        known = np.isfinite(spend)
        if not known.any():
            return
        pop = world.population
        prov = pop.provider[s]
        own = prov[patients].astype(np.int64)
        target = own.copy()
        in_network = np.zeros(spend.size, np.bool_)
        region = pop.region[patients]
        for r, ids in enumerate(world.providers[s].by_region):
            ids = ids[known[ids]]
            if not ids.size:
                continue
            k = max(1, round(self.network.size * ids.size))
            members = ids[np.argsort(spend[ids], kind="stable")[:k]]
            in_network[members] = True
            mine = region == r
            target[mine] = members[patients[mine] % k]
        # an unknown own provider's stays count as dearer than any known one (steer if the
        # hospital bears any of it); no inf − inf or 0 × inf
        mine_known = known[own]
        diff = np.where(mine_known, spend[own], 0.0) - np.where(known[target], spend[target], 0.0)
        saving = np.where(mine_known, borne * diff, np.where(borne > 0, np.inf, 0.0))
        steer = ~in_network[own] & (target != own) & (saving > self.network.switch_cost)
        if steer.any():
            prov[patients[steer]] = target[steer]
            world.rebuild_panels(s)

    def spend_per_stay(self, s: int) -> np.ndarray:
        """Each post-acute provider's running spending per stay (NaN before its first)."""
        spend, stays = self.stays[s][0], self.stays[s][3]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(stays > 0, spend / stays, np.nan)

    def _network_month(self, world: World) -> None:
        """Fold the month into each post-acute provider's spending, margin, days and stays,
        and set what a day of stay costs it in referrals lost (its unit value): elasticity ×
        the steering hospitals' mean share borne × margin per stay / days per stay."""
        net = self.network
        assert net is not None  # called with a network only
        m = net.memory
        hospitals = world.providers[self.acute]
        norm = (hospitals.payer_weight() * self.weight).sum(axis=1)
        for s in self.dest_setting[1:]:
            care = world.month[s]
            providers = world.providers[s]
            n = providers.n
            started = care.sought & care.new_episode
            month = np.stack(
                [
                    np.bincount(care.provider, care.paid.allowed, minlength=n),
                    np.bincount(care.provider, patient_profit(world, s), minlength=n),
                    np.bincount(care.provider, care.service_units, minlength=n),
                    np.bincount(care.provider[started], minlength=n),
                ]
            )
            acc = self.stays[s]
            if world.month_number == 0:
                acc[:] = month
            else:
                acc += m * (month - acc)
            stays = acc[3]
            with np.errstate(invalid="ignore", divide="ignore"):
                margin = np.where(stays > 0, acc[1] / stays, 0.0)
                days = np.where(stays > 0, acc[2] / stays, 0.0)
                per_day = np.where(days > 0, np.maximum(margin, 0.0) / days, 0.0)
            # the hospitals of each provider's region that could steer to it
            steering = np.array(
                [norm[ids].mean() if ids.size else 0.0 for ids in hospitals.by_region]
            )[providers.region]
            providers.unit_value = -net.referral_elasticity * steering * per_day
            if world.optimal:
                theta = providers.styles[0].closed_form
                assert theta is not None  # θ's closed form is set with it
                providers.theta[:] = theta()

    # -----------------------------------------------------------------------------------------
    def after_payment(self, world: World) -> list[Transfer]:
        """After payers settled the month: add the month's spending to open pathways, close
        the pathways whose window ends, reconcile them under the acute contract (payments to
        the admitting hospitals), and let hospitals learn from them."""
        pop = world.population
        transfers = []
        for mc in world.month:
            open_ = self.window_left[mc.patients] > 0
            if open_.any():
                i = mc.patients[open_]
                self.window_spend[i] += (mc.paid.allowed + mc.paid.adjustment)[open_]
                if self.track_oop:
                    self.window_oop[i] += mc.paid.oop[open_]
        idx = np.flatnonzero(self.window_left > 0)
        self.window_left[idx] -= 1
        closing = idx[self.window_left[idx] == 0]
        n_h = self.cost.shape[0]
        acute = self.acute
        by_reconciliation = self.cfg.perceived_cost == "reconciliation"
        # what the reconciliation took of a further dollar, summed per hospital and payer
        marginal = np.zeros((n_h, self.n_payers))
        closed = np.zeros((n_h, self.n_payers))
        for g, b in enumerate(pop.payer_slices(closing)):
            ii = closing[b]
            if not ii.size:
                continue
            payer = world.payers[g]
            spend = self.window_spend[ii]
            self.counts["pathways_closed"][g] += ii.size
            self.counts["pathway_spending"][g] += float(spend.sum())
            hosp = self.window_hospital[ii]
            coded = pop.risk[ii] * world.coding.risk_factor(acute, hosp, g)
            if world.history.asks(acute, g, world.month_number):
                # a contract coming in later sets its targets from these pathways
                world.history.record_pathways(acute, g, world.month_number, ClosedPathways(
                    hosp.astype(np.int64), spend / payer.rate_multiplier,
                    pop.condition[ii].astype(np.int64),
                    self.window_function[ii].astype(np.float64), coded.astype(np.float64),
                    np.full(ii.size, world.month_number, np.int64),
                ))  # fmt: skip
            contract = payer.contracts[acute]
            case = (pop.condition[ii], self.window_function[ii], coded, payer.rate_multiplier)
            # what a further dollar on each pathway would change, priced before the month's
            # pathways join the contract's running reconciliation
            more = (
                contract.reconcile_pathway(
                    spend + 1.0, *case, world.month_number, hosp, commit=False
                )
                if by_reconciliation
                else None
            )
            adj = contract.reconcile_pathway(spend, *case, world.month_number, hosp)
            if adj is not None:
                lump = np.bincount(hosp, adj, minlength=n_h)
                transfers.append(Transfer("reconciliation", acute, g, lump, float(adj.sum())))
            if by_reconciliation:
                closed[:, g] = np.bincount(hosp, minlength=n_h)
                if adj is not None and more is not None:
                    marginal[:, g] = np.bincount(hosp, adj - more, minlength=n_h)
            self._learn(self.cost, self.cost_seen, hosp, self.window_dest[ii], spend)
            if self.track_oop:
                oop = self.window_oop[ii]
                self._learn(self.oop, self.oop_seen, hosp, self.window_dest[ii], oop)
        # hospitals' perceived share of pathway spending moves toward their contracts' (at
        # once in optimal mode), or toward what reconciliation took of a further dollar of
        # their pathways that closed this month (where some did)
        if by_reconciliation:
            seen = closed > 0
            target = np.where(
                seen,
                np.divide(marginal, closed, out=np.zeros_like(marginal), where=seen),
                self.weight,
            )
        else:
            target = self._target_weight(world)
        if world.optimal:
            self.weight[:] = target
        elif world.adjusting:
            self.weight += self.speed[:, None] * (target - self.weight)
        if self.network is not None:
            self._network_month(world)
        return transfers

    def record(self, world: World, s: int, care: SettingMonth, by_payer) -> dict[str, np.ndarray]:
        """The month's counts, on the acute setting's rows (the readmission rate is a ratio
        of two of them: its :data:`COLUMNS` entry)."""
        if s != self.acute:
            return {}
        return dict(self.counts)

    def _target_weight(self, world: World) -> np.ndarray:
        """Each payer's contract's share of pathway spending on its hospitals: hospitals ×
        payers, or one row for all hospitals when every contract gives one number."""
        shares = [
            p.contracts[self.acute].pathway_cost_share(max(world.month_number, 0))
            for p in world.payers
        ]
        if all(np.ndim(x) == 0 for x in shares):
            return np.asarray(shares, np.float64)[None, :]
        n_h = self.weight.shape[0]
        return np.column_stack([np.broadcast_to(np.asarray(x, np.float64), n_h) for x in shares])

    def _learn(
        self,
        estimate: np.ndarray,
        estimate_seen: np.ndarray,
        hosp: np.ndarray,
        dest: np.ndarray,
        spend: np.ndarray,
    ) -> None:
        """Fold closed pathways into a hospital × destination running mean (at cost_memory)."""
        n_h, n_d = estimate.shape
        key = hosp * n_d + dest.astype(np.int64)
        count = np.bincount(key, minlength=n_h * n_d).reshape(n_h, n_d)
        total = np.bincount(key, spend, minlength=n_h * n_d).reshape(n_h, n_d)
        has = count > 0
        mean = np.divide(total, count, out=np.zeros_like(total), where=has)
        w = self.cfg.cost_memory
        first = has & ~estimate_seen
        again = has & estimate_seen
        estimate[first] = mean[first]
        estimate[again] = (1 - w) * estimate[again] + w * mean[again]
        estimate_seen |= has
