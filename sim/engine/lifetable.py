"""The life table and the age structure of the life course (``[life]``), with their sources.

**Death probabilities.** :data:`Q_MALE` and :data:`Q_FEMALE` are ``q_x``, the probability that
a person of exact age ``x`` dies before ``x + 1``, for x = 65, …, 119, from the Social Security
Administration's period life table for 2022, as used in the 2025 Trustees Report (SSA Office
of the Chief Actuary, *Actuarial Life Table*, Table 4C6, https://www.ssa.gov/oact/STATS/
table4c6.html; the Social Security area population). The values were transcribed from two
secondary copies of that table, which agree at every age from 65 to 100 (and at 105, 110, 115
and 119), and checked against the published values at 65 (men 0.017897, women 0.011018);
q₁₁₉ = 1 ends the table. A month's death probability at age x is ``1 − (1 − q_x)^(1/12)``
(a constant hazard within the year of age).

**Starting ages.** The starting population's shares aged 65-74, 75-84 and 85+ are the
scenario's (``life.age_shares``; the default is the 65+ population of 2019: 31.5, 16.0 and 6.6
million, Administration for Community Living, *2020 Profile of Older Americans*, 2021, from
Census Bureau estimates; nearly everyone 65 and over is a Medicare beneficiary). Within a band,
single years of age and the two sexes are in proportion to the table's survivors ``l_x`` of
a cohort entering at 65 with the scenario's share of women (``life.female_share_at_65``): the
stationary population of the table within each band (a construction, stated as such). The
month within the year of age is uniform.

**Need by age and sex.** :data:`NEED_FEMALE` and :data:`NEED_MALE` are the demographic factors
of the CMS-HCC risk adjustment model, version 24, by five-year age band (65-69, …, 90-94, 95+),
of its community, full-benefit dual, aged segment (CMS model software C2419P1M, 2024 midyear
release): the relative expected cost of a beneficiary by age and sex before diagnoses. With
``life.need_by_age`` their ratio to their mean over the starting population multiplies each
patient's probability of a new need, so need rises with age as expected cost does (the only
segment read from the source here; its age gradient is what is used).
"""

from __future__ import annotations

import numpy as np

#: first and last age of the table (years)
AGE_MIN, AGE_MAX = 65, 119
#: ages 65-119 (55 values)
AGES = np.arange(AGE_MIN, AGE_MAX + 1)

#: q_x, men, ages 65-119 (SSA period life table 2022, 2025 Trustees Report)
Q_MALE = np.array([
    0.017897, 0.019017, 0.020213, 0.021569, 0.023088,  # 65-69
    0.024828, 0.026705, 0.028761, 0.031116, 0.033861,  # 70-74
    0.037088, 0.041126, 0.045241, 0.049793, 0.054768,  # 75-79
    0.060660, 0.067027, 0.073999, 0.081737, 0.090458,  # 80-84
    0.100525, 0.111793, 0.124494, 0.138398, 0.153207,  # 85-89
    0.169704, 0.187963, 0.208395, 0.230808, 0.253914,  # 90-94
    0.277402, 0.300882, 0.324326, 0.347332, 0.369430,  # 95-99
    0.391927, 0.414726, 0.437722, 0.460800, 0.483840,  # 100-104
    0.508032, 0.533434, 0.560105, 0.588111, 0.617516,  # 105-109
    0.648392, 0.680812, 0.714852, 0.750595, 0.788125,  # 110-114
    0.827531, 0.868907, 0.912353, 0.957970, 1.000000,  # 115-119
])  # fmt: skip
#: q_x, women, ages 65-119 (SSA period life table 2022, 2025 Trustees Report)
Q_FEMALE = np.array([
    0.011018, 0.011743, 0.012532, 0.013512, 0.014684,  # 65-69
    0.016025, 0.017468, 0.019195, 0.021195, 0.023452,  # 70-74
    0.025980, 0.029153, 0.032394, 0.035888, 0.039676,  # 75-79
    0.044156, 0.049087, 0.054635, 0.061066, 0.068431,  # 80-84
    0.076841, 0.086205, 0.096851, 0.109019, 0.121867,  # 85-89
    0.135805, 0.151108, 0.168020, 0.186340, 0.206432,  # 90-94
    0.228086, 0.250406, 0.273699, 0.296984, 0.319502,  # 95-99
    0.342716, 0.366532, 0.390844, 0.415531, 0.440463,  # 100-104
    0.466891, 0.494904, 0.524599, 0.556075, 0.589439,  # 105-109
    0.624805, 0.662294, 0.702031, 0.744153, 0.788125,  # 110-114
    0.827531, 0.868907, 0.912353, 0.957970, 1.000000,  # 115-119
])  # fmt: skip

#: CMS-HCC V24 demographic factors by age band 65-69, 70-74, …, 90-94, 95+ (community,
#: full-benefit dual, aged segment; CMS model software C2419P1M)
NEED_FEMALE = np.array([0.441, 0.519, 0.593, 0.716, 0.865, 0.987, 1.041])
NEED_MALE = np.array([0.494, 0.600, 0.710, 0.803, 1.000, 1.142, 1.267])

#: the starting population's age bands (years): 65-74, 75-84, 85+
BAND_EDGES = (75, 85)


def monthly_death_probability(q: np.ndarray) -> np.ndarray:
    """A month's death probability from a year's, at a constant hazard within the year:
    ``1 − (1 − q)^(1/12)`` (1 where q = 1)."""
    q = np.asarray(q, np.float64)
    return 1.0 - np.power(1.0 - q, 1.0 / 12.0)


def table(female: bool) -> np.ndarray:
    """q_x of one sex, ages 65-119."""
    return Q_FEMALE if female else Q_MALE


def survivors(female: bool) -> np.ndarray:
    """l_x / l_65 for x = 65, …, 119 (the share of a cohort at 65 alive at exact age x)."""
    q = table(female)
    return np.concatenate([[1.0], np.cumprod(1.0 - q[:-1])])


def life_expectancy(age: int, female: bool) -> float:
    """Remaining life expectancy at exact age ``age`` (65-119), deaths at mid-year (the
    table's convention for e_x, apart from the first year of life)."""
    q = table(female)[age - AGE_MIN :]
    alive = np.concatenate([[1.0], np.cumprod(1.0 - q)])
    return float(np.sum(0.5 * (alive[:-1] + alive[1:])))


def starting_cells(age_shares: list[float], female_share_at_65: float) -> np.ndarray:
    """The starting population's distribution over (sex, age): a (2, 55) array of shares
    summing to 1, row 0 men and row 1 women, columns ages 65-119 (module docstring)."""
    weight = np.stack(
        [(1.0 - female_share_at_65) * survivors(False), female_share_at_65 * survivors(True)]
    )
    band = np.searchsorted(np.asarray(BAND_EDGES), AGES, side="right")
    out = np.zeros_like(weight)
    for b, share in enumerate(age_shares):
        cols = band == b
        out[:, cols] = share * weight[:, cols] / weight[:, cols].sum()
    return out


def need_factor(age_years: np.ndarray, female: np.ndarray) -> np.ndarray:
    """The CMS-HCC demographic factor of each patient's age (years) and sex."""
    band = np.clip((np.asarray(age_years) - AGE_MIN) // 5, 0, NEED_FEMALE.size - 1)
    return np.where(female, NEED_FEMALE[band], NEED_MALE[band])


def entry_schedule(
    patients: int,
    months: int,
    entries: str,
    entry_rate: float,
    age_shares: list[float],
    female_share_at_65: float,
    mortality_multiplier: float = 1.0,
) -> np.ndarray:
    """Expected new beneficiaries in each month of a run (float64, one per month), for a
    starting population of ``patients``: none; ``entry_rate`` × patients a year, evenly
    (``rate``); or as many as die in expectation by the life table (``replacement``: the
    starting ages followed month by month, entrants included, without the excess mortality
    of care)."""
    out = np.zeros(months)
    if entries == "none" or months == 0:
        return out
    if entries == "rate":
        out[:] = patients * entry_rate / 12.0
        return out
    # replacement: people by (sex, age in months 65y0m-119y11m), aged month by month
    q = np.minimum(np.stack([Q_MALE, Q_FEMALE]) * mortality_multiplier, 1.0)
    h = np.repeat(monthly_death_probability(q), 12, axis=1)  # (2, 660) by month of age
    people = np.repeat(starting_cells(age_shares, female_share_at_65), 12, axis=1) / 12.0
    people *= patients
    entrant = np.array([1.0 - female_share_at_65, female_share_at_65])
    for m in range(months):
        deaths = people * h
        out[m] = deaths.sum()
        people -= deaths
        people[:, 1:] = people[:, :-1].copy()
        people[:, 0] = entrant * out[m]
    return out


def allocated_patients(scenario) -> int:
    """Patients a run holds: the starting population and, with a life course, every
    beneficiary who enters during the run (their places are kept from month 0, inside their
    payer's block, so arrays keep their size)."""
    n = scenario.population.patients
    life = scenario.life
    if life is None:
        return n
    schedule = entry_schedule(
        n,
        scenario.months,
        life.entries,
        life.entry_rate,
        life.age_shares,
        life.female_share_at_65,
        life.mortality_multiplier,
    )
    return n + round(float(schedule.sum()))
