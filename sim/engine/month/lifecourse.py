"""The life course (``[life]``): ages, deaths and new beneficiaries, month by month.

**Who is a member.** Every patient has an age and a sex (drawn at month 0 from the stream
``life``: :mod:`sim.engine.lifetable` has the starting ages and their sources). The run holds,
beside the starting population, a place for every beneficiary who enters during it
(:func:`sim.engine.lifetable.allocated_patients`), drawn like everyone else inside its payer's
block, so every array keeps its size and each payer's patients stay one block. A patient is
not yet enrolled, a member, or dead. Only members count: on panels (what a PMPM pays for), in
``members`` and every rate per member, in subgroups and QALYs; only members have needs (their
need factor is 0 otherwise: :attr:`World.need_scale`).

**A month.** At its start (:func:`start_month`, in the calendar stage) last month's dead leave
the panels and their payers, this month's entrants join at exactly 65 (their function starts
to decline, their deductible is whole), and members whose birthday takes them into an older
five-year band get that band's need factor. After the month's care in every setting, before
payment (:func:`deaths`), each member dies with probability

    1 − (1 − h) · Π_s (1 − a_s·[admitted in s]) · (1 − e_s·[adverse event in s])

with ``h`` the life table's monthly probability at the member's age and sex
(× ``mortality_multiplier``), times ``risk^ε · (1 + φ·(100 − function)/100)`` normalised to
mean 1 under the starting distributions, and ``a_s``, ``e_s`` the case fatality of an admission
(by condition) and of an adverse event in setting ``s`` (``life.settings``): deaths within the
month of the event. The draw is counter-based (``draws.DEATH``): a member's number for a month
is the same in every arm. Who dies this month was a member all month: the month's care is
delivered and paid, capitation paid for them; their open episodes end now, and a payment
period cut short ends with them (it is paid, as Medicare pays a period that ends in death).

**Outputs.** The life table's rows (:data:`LIFE`, written as ``life.parquet``) are read off
the month's sums by (setting, payer) as the monthly table's are (a sharded run adds them up
first): the flow of members ``members_start + entries − deaths = members_end``, the starting
cohort still alive (survival), and by setting the deaths of patients in care, after an
admission and after an adverse event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sim.engine import draws, lifetable
from sim.engine.columns import Column, Row, Table

if TYPE_CHECKING:
    from sim.engine.world import World
    from sim.scenario import LifeConfig

#: age of entry (months)
ENTRY_AGE = lifetable.AGE_MIN * 12
#: the need factor's bands are five years (60 months) wide, the last from 95
_BAND_MONTHS, _LAST_BAND = 60, 95 * 12

_NONE = np.zeros(0, np.int64)


class Life:
    """Who is a member, their ages and sexes, and this month's deaths (module docstring)."""

    def __init__(self, world: World, cfg: LifeConfig, stream: np.random.SeedSequence) -> None:
        pop = world.population
        sc = world.config
        n, n0 = pop.n, sc.population.patients
        self.cfg = cfg
        self.months = sc.months
        schedule = lifetable.entry_schedule(
            n0,
            sc.months,
            cfg.entries,
            cfg.entry_rate,
            cfg.age_shares,
            cfg.female_share_at_65,
            cfg.mortality_multiplier,
        )
        n_entrants = pop.n_total - n0
        draw = pop.draws_of(np.random.default_rng(stream))
        # who enters during the run: the n_entrants patients of the whole population with the
        # smallest uniforms (float64: a tie at the threshold is all but impossible)
        u = draw(keep_all=True)
        if n_entrants:
            entrant = u <= np.partition(u, n_entrants - 1)[n_entrants - 1]
        else:
            entrant = np.zeros(u.size, np.bool_)
        entrant = entrant[pop.global_index(np.arange(n))]
        del u
        # members at month 0: (sex, age) from the starting cells, the month of age uniform
        cells = lifetable.starting_cells(cfg.age_shares, cfg.female_share_at_65).reshape(-1)
        cdf = np.cumsum(cells)
        cdf[-1] = 1.0
        cell = draw(lambda x: np.searchsorted(cdf, x, side="right").astype(np.int64))
        month_of_age = draw(lambda x: np.floor(x * 12).astype(np.int64))
        # entrants: the month they enter and their sex
        if schedule.sum() > 0:
            when = np.cumsum(schedule) / schedule.sum()
            when[-1] = 1.0
        else:
            when = np.ones(max(sc.months, 1))
        entry = draw(lambda x: np.searchsorted(when, x, side="right").astype(np.int64))
        female_entrant = draw(lambda x: x < cfg.female_share_at_65)
        ages = lifetable.AGES.size
        #: sex (True: female)
        self.female = np.where(entrant, female_entrant, cell >= ages)
        #: age in months at month 0 (an entrant's is 65 years at its entry month), so a
        #: patient's age in month m is ``age0 + m``
        self.age0 = np.where(
            entrant,
            ENTRY_AGE - entry,
            (lifetable.AGE_MIN + cell % ages) * 12 + month_of_age,
        ).astype(np.int16)
        #: the month an entrant enters (−1: a member from the start)
        self.entry_month = np.where(entrant, entry, -1).astype(np.int16)
        #: members of the starting population (the cohort whose survival is reported)
        self.cohort = ~entrant
        #: 0 not yet enrolled, 1 member, 2 dead
        self.status = self.cohort.astype(np.int8)
        #: members this month (the dead of the month stay members until the next starts)
        self.enrolled = self.cohort.copy()
        #: this month's deaths (patient numbers, ascending)
        self.dying = _NONE
        later = np.flatnonzero(entrant)
        order = np.argsort(self.entry_month[later], kind="stable")
        self._entrants = later[order]
        self._entry_bounds = np.searchsorted(
            self.entry_month[self._entrants], np.arange(sc.months + 1)
        )
        # entrants do not age in function before they enter
        self._decline = pop.decline[self._entrants].copy()
        pop.decline[self._entrants] = 0.0
        #: function at month 0 or at entry (function change is measured from it)
        self.f_entry = pop.function.copy()

        # the death hazard: the table's monthly probability by (sex, age), and each member's
        # multiplier from risk and function, normalised to mean 1 under the starting
        # distributions (lognormal risk of mean 1: E[R^ε] = exp(σ²·ε·(ε − 1)/2))
        q = np.stack([lifetable.Q_MALE, lifetable.Q_FEMALE]) * cfg.mortality_multiplier
        self._h = lifetable.monthly_death_probability(np.minimum(q, 1.0))
        eps, slope = cfg.risk_elasticity, cfg.function_slope
        sigma = sc.population.risk_sigma
        norm = np.exp(sigma * sigma * eps * (eps - 1.0) / 2.0) * (
            1.0 + slope * (100.0 - sc.population.function_mean) / 100.0
        )
        #: risk^ε / N per patient (None: no multiplier on the hazard)
        self._risk_term: np.ndarray | None = None
        if eps or slope:
            self._risk_term = pop.risk.astype(np.float64) ** eps / norm
        # excess mortality after care, by setting: per condition for admissions
        names = list(sc.settings)
        conditions = list(sc.population.conditions)
        self._excess: dict[int, tuple[np.ndarray, float]] = {}
        for name, st in cfg.settings.items():
            adm = np.array(
                [st.condition_admission_fatality.get(c, st.admission_fatality) for c in conditions]
            )
            if adm.any() or st.adverse_event_fatality:
                self._excess[names.index(name)] = (adm, st.adverse_event_fatality)

        # need by age and sex: the CMS-HCC demographic factor over its mean at the start
        self._need_norm = 1.0
        if cfg.need_by_age:
            grid_f = np.repeat([False, True], ages)
            grid_age = np.tile(lifetable.AGES, 2)
            self._need_norm = float(cells @ lifetable.need_factor(grid_age, grid_f))
        world.need_scale = self._need_scale(np.arange(n), 0) * self.enrolled
        # patients by the month of each five years their age reaches a multiple of five years
        # (their need band changes), and of each year their birthday: a month looks at its own
        phase = (-self.age0.astype(np.int64)) % _BAND_MONTHS
        self._by_phase = np.argsort(phase, kind="stable")
        self._phase_bounds = np.searchsorted(phase[self._by_phase], np.arange(_BAND_MONTHS + 1))
        birthday = phase % 12
        self._by_birthday = np.argsort(birthday, kind="stable")
        self._birthday_bounds = np.searchsorted(birthday[self._by_birthday], np.arange(13))
        #: age in whole years this month (``(age0 + month) // 12``, kept by birthdays)
        self.age = (self.age0 // 12).astype(np.int16)
        self._function_sums = (np.zeros(world.n_payers), np.zeros(world.n_payers))
        world.payer_members = self._by_payer(pop, self.enrolled)
        self._cohort_alive = self._by_payer(pop, self.cohort)
        self._month: dict[str, np.ndarray] = {}
        self._care: list[dict[str, np.ndarray]] = []

    # -----------------------------------------------------------------------------------------
    @staticmethod
    def _by_payer(pop, mask: np.ndarray) -> np.ndarray:
        """Count of ``mask`` over each payer's block (float64)."""
        b = pop.payer_start
        return np.array([np.count_nonzero(mask[b[g] : b[g + 1]]) for g in range(b.size - 1)], float)

    def _need_scale(self, patients: np.ndarray, month: int) -> np.ndarray:
        """The need factor of ``patients`` in ``month`` (float32; 1 without need by age)."""
        if not self.cfg.need_by_age:
            return np.ones(patients.size, np.float32)
        years = (self.age0[patients].astype(np.int64) + month) // 12
        factor = lifetable.need_factor(years, self.female[patients]) / self._need_norm
        return factor.astype(np.float32)

    def age_years(self, month: int) -> np.ndarray:
        """Every patient's age in whole years in ``month``."""
        return (self.age0.astype(np.int64) + month) // 12

    def age_at_start(self) -> np.ndarray:
        """Age in whole years at month 0, or at entry for an entrant (subgroups)."""
        return np.where(self.cohort, self.age0.astype(np.int64), ENTRY_AGE) // 12

    # -----------------------------------------------------------------------------------------
    def start_month(self, world: World) -> None:
        """Last month's dead leave, this month's entrants join, birthdays move need factors."""
        pop = world.population
        m = world.month_number
        need_scale = world.need_scale
        assert need_scale is not None  # set by the life course when the run began
        changed = []
        leavers = self.dying
        self.dying = _NONE
        if leavers.size:
            self.enrolled[leavers] = False
            world.change_members(leavers, -1)
            need_scale[leavers] = 0.0
            changed.append(leavers)
        if m > 0:
            k = m % 12
            self.age[
                self._by_birthday[self._birthday_bounds[k] : self._birthday_bounds[k + 1]]
            ] += 1
        start = world.payer_members.copy()
        a, b = self._entry_bounds[m], self._entry_bounds[m + 1]
        joiners = self._entrants[a:b]
        if joiners.size:
            self.status[joiners] = 1
            self.enrolled[joiners] = True
            pop.decline[joiners] = self._decline[a:b]
            pop.deductible_remaining[joiners] = pop.deductible[pop.payer[joiners]]
            pop.oop_year_to_date[joiners] = 0.0
            self.f_entry[joiners] = pop.function[joiners]
            world.change_members(joiners, +1)
            need_scale[joiners] = self._need_scale(joiners, m)
            changed.append(joiners)
        if self.cfg.need_by_age and m > 0:
            # birthdays into a band: patients of this month's phase (age ≡ 0 mod 60 months)
            k = m % _BAND_MONTHS
            phase = self._by_phase[self._phase_bounds[k] : self._phase_bounds[k + 1]]
            age = self.age0[phase].astype(np.int64) + m
            crossing = phase[(age > ENTRY_AGE) & (age <= _LAST_BAND) & self.enrolled[phase]]
            if crossing.size:
                need_scale[crossing] = self._need_scale(crossing, m)
                changed.append(crossing)
        if changed:
            # leavers, joiners and birthdays are different patients
            world.rescale_need(np.concatenate(changed))
        entries = np.bincount(pop.payer[joiners], minlength=world.n_payers).astype(float)
        self._month = {"life.members_start": start, "life.entries": entries}

    def deaths(self, world: World) -> None:
        """This month's deaths among the members, after the month's care (module docstring):
        their open episodes end, a payment period cut short ends with them. One pass over the
        patients (``kernels.deaths``) draws them and counts the members left and their sums
        of function."""
        pop = world.population
        # the excess of care: each member admitted or with an adverse event this month, and
        # its probability of surviving them (the settings' factors multiplied in their order)
        events, factors = [], []
        for s, (admission, adverse) in self._excess.items():
            care = world.month[s]
            if admission.any():
                k = care.patients[care.new_episode]
                events.append(k)
                factors.append(1.0 - admission[pop.condition[k]])
            if adverse:
                k = care.patients[care.adverse]
                events.append(k)
                factors.append(np.full(k.size, 1.0 - adverse))
        care_idx, care_survive = _NONE, np.zeros(0)
        if events:
            k, f = np.concatenate(events), np.concatenate(factors)
            order = np.argsort(k, kind="stable")
            k, f = k[order], f[order]
            care_idx, first = np.unique(k, return_index=True)
            care_survive = np.multiply.reduceat(f, first)
            members = self.enrolled[care_idx]
            care_idx, care_survive = care_idx[members], care_survive[members]
        dead, end, f_sum, f0_sum = world.kernels.deaths(
            self.enrolled,
            self.age,
            self.female,
            self._h.reshape(-1),
            self._risk_term,
            pop.function,
            self.cfg.function_slope / 100.0,
            care_idx,
            care_survive,
            None if pop.shard is None else pop.global_index(np.arange(pop.n)),
            pop.uniform_base(0, draws.DEATH),
            pop.payer_start,
            self.status,
            self.f_entry,
        )
        self.dying = dead
        self._function_sums = (f_sum, f0_sum)
        pop.decline[dead] = 0.0
        self._care = []
        for s, care in enumerate(world.month):
            hit = _members_of(care.patients, dead)
            # a payment period cut short by death ends (and is paid) now
            care.period_end |= hit & care.sought
            pop.episode_left[s][dead] = 0
            blocks = care.by_payer
            self._care.append(
                {
                    f"life.{k}": np.array([np.count_nonzero(w[b]) for b in blocks], float)
                    for k, w in (
                        ("in_care", care.sought),
                        ("deaths_in_care", hit & care.sought),
                        ("admissions", care.new_episode),
                        ("deaths_after_admission", hit & care.new_episode),
                        ("adverse_events", care.adverse),
                        ("deaths_after_adverse_event", hit & care.adverse),
                    )
                }
            )
        gone = np.bincount(pop.payer[dead], minlength=world.n_payers).astype(float)
        self._cohort_alive -= np.bincount(
            pop.payer[dead[self.cohort[dead]]], minlength=world.n_payers
        )
        self._month |= {
            "life.deaths": gone,
            "life.members": world.payer_members.copy(),
            # counted afresh from every patient's state: the flow identity is a check
            "life.members_end": end,
            "life.cohort_alive": self._cohort_alive.copy(),
        }

    def sums(self, s: int) -> dict[str, np.ndarray]:
        """The month's sums by payer in setting ``s`` for the life table (keys ``life.*``)."""
        return {**self._month, **self._care[s]}

    def function_sums(self, world: World) -> tuple[np.ndarray, np.ndarray]:
        """Each payer's sum of function over this month's members, and of their function at
        month 0 or at entry (float64, summed in patient order by :meth:`deaths`, after the
        month's care): the monthly table's mean function and its change."""
        return self._function_sums


def _members_of(patients: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Which of ``patients`` (ascending, distinct) are in ``chosen`` (ascending, distinct):
    each of the chosen (the fewer: the month's dead) looked up among the patients."""
    out = np.zeros(patients.size, np.bool_)
    if not chosen.size or not patients.size:
        return out
    pos = np.searchsorted(patients, chosen)
    pos = pos[pos < patients.size]
    out[pos[patients[pos] == chosen[: pos.size]]] = True
    return out


def start_month(world: World) -> None:
    """The calendar stage's part (:meth:`Life.start_month`), with a life course."""
    if world.life is not None:
        world.life.start_month(world)


def deaths(world: World) -> None:
    """After the month's care, before payment (:meth:`Life.deaths`), with a life course."""
    if world.life is not None:
        world.life.deaths(world)


def _per_1000_years(r: Row) -> float:
    members = float(r.sum("life.members"))
    return 12_000.0 * float(r.sum("life.deaths")) / members if members else 0.0


#: the life table (``life.parquet``): one row per (setting, payer) and month, like the monthly
#: table's; the flow of members is the payer's, the same in every setting's row
LIFE_COLUMNS: dict[str, Column] = {
    "arm": Column("string", "name", "Arm (payment design) of the scenario.", run=True),
    "replicate": Column("int32", "index", "Replication number.", run=True),
    "seed": Column("int64", "integer", "Root seed of the run.", run=True),
    "month": Column("int32", "month", "Month of the simulation, from 0.", derive=lambda r: r.world.month_number),
    "date": Column("string", "date", "Calendar month of the row (its first day, ISO 8601).", derive=lambda r: r.world.date.isoformat()),
    "setting": Column("string", "name", "Care setting (the members' flow is the payer's, the same in every setting's row).", derive=lambda r: r.world.settings[r.s].name),
    "payer": Column("string", "name", "Payer of the patients in the row.", derive=lambda r: r.world.payers[r.g].name),
    "members_start": Column("int64", "persons", "Members at the start of the month, before its entrants (last month's members_end).", sum="life.members_start"),
    "entries": Column("int64", "persons", "New beneficiaries who entered this month (at 65).", sum="life.entries"),
    "deaths": Column("int64", "persons", "Members who died this month (after its care).", sum="life.deaths"),
    "members_end": Column("int64", "persons", "Members alive at the end of the month, counted from every patient's state: members_start + entries − deaths.", sum="life.members_end"),
    "members": Column("int64", "persons", "Members this month (members_start + entries; the monthly table's members).", sum="life.members"),
    "cohort_alive": Column("int64", "persons", "Members of the starting population (month 0) alive at the month's end: survival = cohort_alive / the starting members.", sum="life.cohort_alive"),
    "life_years": Column("float64", "years", "Years lived by the members this month (members / 12).", derive=lambda r: float(r.sum("life.members")) / 12.0),
    "death_rate": Column("float64", "deaths/1,000 member-years", "deaths per 1,000 members, annualised (× 12).", derive=_per_1000_years),
    "in_care": Column("int64", "persons", "Members with an episode of care in the setting this month (taken to a provider).", sum="life.in_care"),
    "deaths_in_care": Column("int64", "persons", "Of in_care, those who died this month.", sum="life.deaths_in_care"),
    "admissions": Column("int64", "episodes", "Episodes of the setting that started this month and were taken to a provider (admissions; the monthly table's episodes).", sum="life.admissions"),
    "deaths_after_admission": Column("int64", "persons", "Of admissions, patients who died within the month (about 30 days): admission mortality = deaths_after_admission / admissions.", sum="life.deaths_after_admission"),
    "admission_mortality": Column("float64", "fraction", "deaths_after_admission / admissions (0 without admissions); weight by admissions over months.", ratio=("life.deaths_after_admission", "life.admissions")),
    "adverse_events": Column("int64", "events", "Adverse events in the setting this month (the monthly table's).", sum="life.adverse_events"),
    "deaths_after_adverse_event": Column("int64", "persons", "Patients with an adverse event in the setting this month who died within it.", sum="life.deaths_after_adverse_event"),
}  # fmt: skip

#: the life table
LIFE = Table(LIFE_COLUMNS)


def life_rows(world: World, values: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """Append the month's life rows (``values``: the run's sums by setting, as lists by payer)."""
    for s, v in enumerate(values):
        for g in range(world.n_payers):
            rows.append(LIFE.row(world, s, g, v))
