"""Every random draw of a run, registered once: the seed's streams and the counter-based draws.

**Streams.** ``SeedSequence(seed, spawn_key=(replicate,)).spawn(6)`` gives the streams of
:data:`STREAMS`, in that order (:class:`sim.engine.model.HealthSystemModel`); a stream added
at the end leaves the others as they were (a child's seed is its spawn key). Arms of a
replicate use identical streams: common random numbers.

**Counter-based draws.** A patient's uniform for a month and a :class:`Draw` is splitmix64 of
(key, month, slot, purpose, patient) (``Population.uniforms``, ``kernels.uniforms``): the
stream ``patients_monthly`` gives the 64-bit key, and the draw's *counter*

    ((month · 64 + slot) · 8 + purpose mod 8 + 1) + (purpose div 8) · 2³²

times the golden-ratio constant (mod 2⁶⁴, a one-to-one map) is XOR-ed into it. A draw's
slot is its setting's index ``s`` (at most 32 settings) plus the draw's :attr:`Draw.slot`, 0
(:data:`SETTING`) or 32 (:data:`SECOND`, the setting's second slot): 64 slots of 8 purposes
a month, taken on the first page by 16 of the draws below (:data:`DRAWS`), each in its
family's slot of every setting.

**Room for new draws.** A new draw takes the next free purpose from 8 on (:func:`next_free`),
in either slot family. Purposes 8–15 lie on a second *page*: the same counters as purposes 0–7
plus 2³² (16–23 on a third, plus 2·2³², …). A page-0 counter is below 2³² for any month below
8 million (a run has at most 1,200), so no two draws, old or new, share a counter, and every
existing draw keeps its number and its bytes. Register the draw here (name, slot family,
purpose, owner module, what it draws), import it in the owner and call
``population.uniforms(patients, s, draws.NAME)``; ``tests/engine/test_draws.py`` checks that pairs
and counters are unique and that each draw is used by its owner and nobody else.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the run's SeedSequence streams, in spawn order: name → what draws from it
STREAMS: dict[str, str] = {
    "population": "patient characteristics at month 0 (sim.engine.population)",
    "patients_monthly": (
        "spawns two: the need uniforms (one per patient, setting and month, for everyone) and "
        "the key of the counter-based draws below (sim.engine.population)"
    ),
    "providers": (
        "provider characteristics (altruism, speed, ownership); one child stream per setting "
        "with potential entrants, spawned after the market's providers (sim.engine.model)"
    ),
    "providers_monthly": "imitation chances and peers (sim.engine.month.adaptation)",
    "mesa": "the Mesa model's rng (sim.engine.model)",
    "life": (
        "the life course's characteristics at month 0: age, sex, who enters later and when "
        "(sim.engine.month.lifecourse; drawn only with [life])"
    ),
    "pathway": (
        "each hospital's leaning toward each post-acute destination, one normal per hospital "
        "of the run (market entrants included) and destination (sim.engine.features.pathway; "
        "drawn only with a destination's hospital_sd > 0)"
    ),
}

#: slot families: a draw's slot is the setting's index plus one of these
SETTING, SECOND = 0, 32
#: purposes of a page (the counter's purpose digit is 0-7)
PAGE = 8
_GOLDEN = 0x9E3779B97F4A7C15
_M64 = (1 << 64) - 1


@dataclass(frozen=True)
class Draw:
    """One counter-based draw: per patient, month and setting, a uniform on [0, 1)."""

    name: str
    #: slot family: :data:`SETTING` (slot = the setting's index) or :data:`SECOND` (32 + it)
    slot: int
    #: 0-7 on the first page; 8 and above on further pages (see the module docstring)
    purpose: int
    #: the module that draws it (the only one that may)
    owner: str
    #: what it draws
    what: str

    def counter(self, month: int, s: int) -> int:
        """The draw's counter for ``month`` and setting ``s`` (before the golden-ratio mix)."""
        page, digit = divmod(self.purpose, PAGE)
        return ((month * 64 + self.slot + s) * PAGE + digit + 1) + (page << 32)

    def base(self, key: int, month: int, s: int) -> int:
        """What ``kernels.uniforms`` mixes with each patient's number: the stream's ``key``
        XOR the counter times the golden-ratio constant (mod 2⁶⁴)."""
        return (key ^ (self.counter(month, s) * _GOLDEN)) & _M64


_ENGINE = "sim.engine"
_NEEDS, _DELIVERY = f"{_ENGINE}.month.needs", f"{_ENGINE}.month.delivery"
_F = f"{_ENGINE}.features"

# the setting's own slot (slot = s)
READMISSION = Draw(
    "READMISSION",
    SETTING,
    0,
    f"{_F}.pathway",
    "a readmission of a stay discharged home (acute setting)",
)
EPISODE = Draw(
    "EPISODE",
    SETTING,
    1,
    _NEEDS,
    "a new episode's length (referrals), whether its need is elective and whether it is taken "
    "to a provider",
)
ADVERSE_EVENT = Draw(
    "ADVERSE_EVENT", SETTING, 2, _DELIVERY, "an adverse event during the month's care"
)
ROUNDING = Draw(
    "ROUNDING", SETTING, 3, _DELIVERY, "stochastic rounding of planned units to whole units"
)
BUNCHING = Draw(
    "BUNCHING",
    SETTING,
    4,
    f"{_F}.bunching",
    "whether a provider tops a period up to a payment threshold (probability < 1)",
)
SELECTION = Draw(
    "SELECTION",
    SETTING,
    5,
    f"{_F}.selection",
    "whether a provider turns away a new patient worth too little (probability < 1)",
)
DISCHARGE = Draw(
    "DISCHARGE",
    SETTING,
    6,
    f"{_F}.pathway",
    "a discharge destination's Gumbel noise, in the destination's slot (home: the acute's)",
)
THERAPY = Draw(
    "THERAPY", SETTING, 7, f"{_F}.therapy", "the lognormal spread of therapy minutes per day"
)

# the setting's second slot (slot = 32 + s)
OTHER_ACCEPT = Draw(
    "OTHER_ACCEPT",
    SECOND,
    0,
    f"{_F}.participation",
    "acceptance by the other provider a turned-away patient asks",
)
CHURN_LEAVE = Draw(
    "CHURN_LEAVE", SECOND, 1, f"{_F}.churn", "whether a member leaves their provider"
)
CHURN_PICK = Draw(
    "CHURN_PICK", SECOND, 2, f"{_F}.churn", "the provider of the region a leaver moves to"
)
ACCEPT = Draw(
    "ACCEPT",
    SECOND,
    3,
    f"{_F}.participation",
    "acceptance of a new patient by its own provider (its share for the payer)",
)
OTHER = Draw(
    "OTHER", SECOND, 4, f"{_F}.participation", "which other provider a turned-away patient asks"
)
EXIT_MOVE = Draw(
    "EXIT_MOVE", SECOND, 5, f"{_F}.market", "the provider an exiting provider's member moves to"
)
ENTRY_MOVE = Draw(
    "ENTRY_MOVE", SECOND, 6, f"{_F}.market", "whether a member of the region moves to an entrant"
)
RATION_ROUNDING = Draw(
    "RATION_ROUNDING",
    SECOND,
    7,
    f"{_F}.capacity",
    "stochastic rounding of units rationed by capacity",
)
DISCRETION = Draw(
    "DISCRETION",
    SETTING,
    8,
    f"{_F}.admission",
    "whether a new case is in the gray area, and the share of its benefit the alternative gives",
)
ADMIT = Draw(
    "ADMIT", SETTING, 9, f"{_F}.admission", "whether the provider takes a new case (its logit)"
)
REVIEW = Draw(
    "REVIEW",
    SETTING,
    11,
    f"{_F}.admission",
    "whether the payer's admission review reviews a new case taken, and denies it (one "
    "uniform: reviewed below the review share, denied below it × the chance of denial)",
)
CAP_EXCEPTION = Draw(
    "CAP_EXCEPTION",
    SETTING,
    12,
    f"{_F}.exceptions",
    "whether a provider's request for an exception to an annual therapy cap is approved",
)
CAP_GO_ON = Draw(
    "CAP_GO_ON",
    SETTING,
    13,
    f"{_F}.exceptions",
    "whether a patient left without cover above an annual therapy cap goes on with its care",
)

# the life course's: a draw per member, not per setting (setting 0)
DEATH = Draw(
    "DEATH",
    SETTING,
    10,
    "sim.engine.month.lifecourse",
    "whether an enrolled patient dies this month (a population draw: slot 0, setting 0)",
)

#: every counter-based draw, by name, in the order above
DRAWS: dict[str, Draw] = {d.name: d for d in list(globals().values()) if isinstance(d, Draw)}


def next_free(slot: int) -> int:
    """The purpose a new draw in slot family ``slot`` takes: the lowest one no draw has."""
    taken = {d.purpose for d in DRAWS.values() if d.slot == slot}
    return next(p for p in range(len(taken) + 1) if p not in taken)
