"""Names in words for figures and tables: an arm, a care setting, a payer or a scenario field as
a reader sees it (``capitation_common_cost_sharing`` → "capitation, common cost sharing",
``snf`` → "skilled nursing facility", ``ffs`` → "fee-for-service"). Plain Python, no plotting
library, so the tables, the figures and the explorer share one set of labels.
"""

from __future__ import annotations

import re

#: abbreviations spelled out, and acronyms written as a reader expects them
WORDS: dict[str, str] = {
    "ffs": "fee-for-service",
    "medicare": "Medicare",
    "medicaid": "Medicaid",
    "snf": "skilled nursing facility",
    "oop": "out-of-pocket",
    "pmpm": "PMPM",
    "aco": "ACO",
    "drg": "DRG",
    "ips": "IPS",
    "hrrp": "HRRP",
    "cjr": "CJR",
    "pdpm": "PDPM",
    "pdgm": "PDGM",
    "lupa": "LUPA",
    "rug": "RUG",
    "pps": "PPS",
    "ma": "MA",
    "cf": "conversion factor",
}

#: a name ending in one of these is a variant of the arm it starts with: a comma sets it off
_VARIANTS = ("common_cost_sharing", "no_invest")


def label_of(name: object) -> str:
    """A name in words: underscores become spaces, abbreviations are spelled out (:data:`WORDS`)
    and a variant suffix is set off by a comma (``bundled_common_cost_sharing`` → "bundled,
    common cost sharing"; ``medicare_ffs`` → "medicare fee-for-service")."""
    text = str(name)
    for suffix in _VARIANTS:
        if text.endswith("_" + suffix) and len(text) > len(suffix) + 1:
            head = text[: -len(suffix) - 1]
            return f"{label_of(head)}, {label_of(suffix)}"
    words = [w for w in re.split(r"[_\s]+", text) if w]
    return " ".join(WORDS.get(w.lower(), w) for w in words) if words else text


def capitalised(text: str) -> str:
    """The text with its first letter in upper case (a title or a table heading)."""
    return text[:1].upper() + text[1:]


def field_label(path: str, others: list[str] | None = None) -> str:
    """A dotted scenario field in words, shortest first: the last part, then the parts before it
    in brackets when ``others`` (the other fields shown beside it) end in the same word
    (``settings.outpatient_therapy.providers.altruism.high`` → "altruism high (outpatient
    therapy)"; ``settings.outpatient_therapy.conversion_factor`` → "conversion factor")."""
    parts = path.split(".")
    skip = {"settings", "payers", "providers", "arms", "contracts", "switches"}
    last = parts[-1]
    # a bound of a range (low/high/mean) reads with the quantity it bounds
    if last in {"low", "high", "mean", "sd"} and len(parts) >= 2:
        head = f"{label_of(parts[-2])} {last}"
        rest = parts[:-2]
    else:
        head = label_of(last)
        rest = parts[:-1]
    clash = [o for o in (others or []) if o != path and o.split(".")[-1] == last]
    where = [label_of(p) for p in rest if p not in skip and not p.isdigit()]
    if where and (clash or last in {"low", "high", "mean", "sd"}):
        return f"{head} ({', '.join(where)})"
    return head
