"""Checks that protect the machine and the user's files, made before any work starts.

- Input files (scenarios, sweeps) are read only if they are regular files of a sensible size
  and valid UTF-8 TOML of a sensible depth (a FIFO would block forever, ``/dev/zero`` would
  fill memory).
- Output folders must lie somewhere a folder can be made: not under ``/proc``, ``/sys`` or
  ``/dev``, not through a regular file, with names the file system accepts.
- Seeds fit the 64-bit integers the outputs store.
- A run's memory is estimated from its size and compared with the memory available; a
  sweep's runs are counted, with an estimate of their time, before any design is built.
- A Dask scheduler address is parsed and its port tried with a short timeout.

Every refusal is a :class:`~sim.errors.SimError` naming the file or option, the field and what
is allowed, so the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import socket
import stat
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import ResultsError, ScenarioError

if TYPE_CHECKING:
    from sim.scenario import Scenario

#: largest scenario or sweep file read (shipped files are a few kB)
MAX_INPUT_BYTES = 2 * 2**20
#: largest seed: seeds are stored in int64 columns
MAX_SEED = 2**63 - 1
#: runs a sweep may have without ``--yes``, and at all
RUNS_WITHOUT_YES = 5_000
MAX_RUNS = 1_000_000
#: memory model of one run (measured on the shipped scenarios: 100-260 bytes per patient
#: with two to four settings, plus the interpreter and libraries)
BYTES_PER_PATIENT = 70
BYTES_PER_PATIENT_SETTING = 50
BYTES_PER_OUTPUT_ROW = 2_000
FIXED_BYTES = 300 * 2**20
#: patient-months simulated per second by one worker (about a third of what the README's
#: benchmark measures, to be safe on slower machines), and the fixed cost of a sweep's run
PATIENT_MONTHS_PER_SECOND = 5e6
SECONDS_PER_RUN = 0.1
#: seconds to wait for a Dask scheduler to accept a connection
SCHEDULER_TIMEOUT = 5.0
_SYSTEM_TREES = ("/proc", "/sys", "/dev")


# ---------------------------------------------------------------------------------------------
# input files


def read_input(path: str | Path, source: str | None = None, field: str | None = None) -> str:
    """The text of a scenario or sweep file, refusing anything that is not a readable regular
    UTF-8 file of at most :data:`MAX_INPUT_BYTES` (checked before reading a byte)."""
    path = Path(path)
    source = source or str(path)

    def refuse(msg: str) -> ScenarioError:
        return ScenarioError(source, field, msg if field is None else f"{path}: {msg}")

    try:
        st = path.stat()
    except FileNotFoundError:
        raise refuse("file not found") from None
    except NotADirectoryError:
        raise refuse("not found: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise refuse(f"cannot read: {_os_reason(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise refuse("is a folder, not a file (expected a TOML file)")
    if not stat.S_ISREG(st.st_mode):
        raise refuse("is not a regular file (a pipe, device or socket); expected a TOML file")
    if st.st_size > MAX_INPUT_BYTES:
        raise refuse(
            f"is {st.st_size:,} bytes; a scenario or sweep file may have at most "
            f"{MAX_INPUT_BYTES:,} bytes"
        )
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise refuse(f"cannot read: {_os_reason(exc)}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise refuse(f"has more than {MAX_INPUT_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"is not UTF-8 text (byte {exc.start}); TOML files must be UTF-8") from None


#: deepest nesting of a TOML input read: tables, arrays and inline tables inside each other,
#: and parts of one dotted key or table name (shipped files nest 5 deep; the parser's time
#: grows with the square of a dotted key's length)
MAX_TOML_DEPTH = 64
#: what the depth scan looks at: strings and comments (skipped whole), and the characters
#: that open, close and separate
_TOML_TOKENS = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*(?:"""|$)|\'\'\'(?:[^\']|\'(?!\'\'))*(?:\'\'\'|$)'
    r'|"(?:[^"\\\n]|\\.)*"?|\'[^\'\n]*\'?|#[^\n]*|[\[\]{}.,=\n]',
    re.S,
)


def toml_depth(text: str) -> int:
    """How deep a TOML text nests, found without parsing it (linear in its length): open
    brackets and braces, plus the dots of a dotted key or table name at that point."""
    depth = deepest = dots = 0
    for m in _TOML_TOKENS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            dots = 0
        elif c in "]}":
            depth = max(0, depth - 1)
            dots = 0
        elif c == ".":
            dots += 1
        elif c in ",=\n":
            dots = 0
        else:
            continue
        deepest = max(deepest, depth + dots)
    return deepest


def parse_toml(text: str, source: str, field: str | None = None) -> dict[str, Any]:
    """``tomllib.loads`` with its errors (including nesting too deep to parse) reported; a
    text nested more than :data:`MAX_TOML_DEPTH` deep is refused before the parser runs."""
    depth = toml_depth(text)
    if depth > MAX_TOML_DEPTH:
        raise ScenarioError(
            source,
            field,
            f"nested too deeply: {depth} levels (tables, arrays, or the parts of a dotted "
            f"key); at most {MAX_TOML_DEPTH} are read",
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, field, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(
            source, field, "not valid TOML: arrays or tables nested too deeply"
        ) from None


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


# ---------------------------------------------------------------------------------------------
# output folders


def check_out(out: Path, option: str = "--out", *, replaced: bool = False) -> None:
    """Refuse an output folder that cannot be made where the user asked: under a system tree,
    through a regular file, with a name the file system refuses, or not writable; and, for a
    folder that is ``replaced`` as a whole when the command finishes (``sim run``, ``sim
    report``), the current folder or one that holds it."""
    out = Path(out)
    absolute = Path(os.path.abspath(out))
    if replaced:
        here = Path(os.path.abspath(os.getcwd()))
        if absolute == here or absolute in here.parents:
            raise ScenarioError(
                option,
                None,
                f"{out}: is the current folder{'' if absolute == here else ' or holds it'}; "
                "the results folder is replaced as a whole when the command finishes, so "
                "choose a folder below it (e.g. results/NAME)",
            )
    for tree in _SYSTEM_TREES:
        if absolute == Path(tree) or Path(tree) in absolute.parents:
            raise ScenarioError(option, None, f"{out}: is under {tree}; choose a folder of yours")
    if str(absolute) == absolute.anchor:
        raise ScenarioError(option, None, f"{out}: the root folder cannot be a results folder")
    for part in absolute.parts[1:]:
        if len(os.fsencode(part)) > 255 - 20:  # room for the temporary sibling's suffix
            raise ScenarioError(
                option, None, f"{out}: the name {part[:40]!r}... is too long (at most 235 bytes)"
            )
    if out.exists() and not out.is_dir():
        raise ScenarioError(option, None, f"{out}: exists and is not a folder")
    node = absolute.parent
    while not node.exists():
        node = node.parent
    if not node.is_dir():
        raise ScenarioError(
            option, None, f"{out}: {node} is a file, so no folder can be made inside it"
        )
    probe = absolute.parent
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ScenarioError(option, None, f"{out}: cannot write in {probe} (permission denied)")


def describe_os_error(exc: OSError, what: Path) -> str:
    """A short reason for an OSError met while writing ``what``."""
    if exc.errno == errno.ENAMETOOLONG:
        return f"{what}: a name in the path is too long"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{what}: a part of the path is a file, not a folder"
    return f"{what}: {_os_reason(exc)}"


# ---------------------------------------------------------------------------------------------
# seeds, memory, time


def check_seed(seed: int, source: str, field: str = "seed") -> None:
    """Refuse a seed numpy's SeedSequence-based streams cannot hold (0 to 2**63 − 1)."""
    if not 0 <= seed <= MAX_SEED:
        raise ScenarioError(source, field, f"must be between 0 and 2**63 - 1 (got {seed})")


def available_memory() -> int | None:
    """Bytes of memory available to a new process without swapping (psutil's
    ``virtual_memory().available``: MemAvailable on Linux, its equivalent elsewhere), or None
    if unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # a platform psutil cannot read: no memory check rather than no run
        return None


def patient_bytes(patients: int, settings: int) -> int:
    """Memory of the patient and per-setting state of one run (one arm at a time)."""
    return patients * (BYTES_PER_PATIENT + BYTES_PER_PATIENT_SETTING * settings)


def run_bytes(scenario: Scenario, arms: int | None = None, replications: int | None = None) -> int:
    """Estimated peak memory of ``sim run``: the population (arms run one after another) plus
    the rows of the output tables, plus the interpreter and libraries."""
    arms = len(scenario.arms) if arms is None else arms
    reps = scenario.replications if replications is None else replications
    rows = scenario.months * len(scenario.settings) * len(scenario.payers) * arms * reps
    if scenario.outputs.provider_panel:
        providers = sum(
            st.providers.resolved_count(scenario.population.patients)
            for st in scenario.settings.values()
        )
        rows += scenario.months * providers * arms * reps
    return (
        FIXED_BYTES
        + patient_bytes(held_patients(scenario), len(scenario.settings))
        + rows * BYTES_PER_OUTPUT_ROW
    )


def held_patients(scenario: Scenario) -> int:
    """Patients a run holds: with a life course (``[life]``) also a place for every entrant
    (at most 6% of the starting population a year to replace the dead, a bound on the life
    table's death rate of a Medicare-like population; or the stated entry rate)."""
    n = scenario.population.patients
    life = scenario.life
    if life is None or life.entries == "none":
        return n
    rate = life.entry_rate if life.entries == "rate" else 0.06 * life.mortality_multiplier
    return n + math.ceil(n * rate * scenario.months / 12)


def gb(n: float) -> str:
    """Bytes as gigabytes for messages."""
    return f"{n / 2**30:,.1f} GB"


def check_memory(need: int, source: str, what: str, hint: str) -> None:
    """Refuse when ``need`` bytes exceed the memory available now."""
    have = available_memory()
    if have is not None and need > have:
        raise ScenarioError(
            source,
            "population.patients",
            f"{what} needs about {gb(need)} of memory; {gb(have)} is available. {hint}",
        )


def check_run_memory(scenario: Scenario, source: str, arms: int | None = None) -> None:
    """Refuse a run whose estimated memory exceeds what the machine has available."""
    need = run_bytes(scenario, arms)
    per = BYTES_PER_PATIENT + BYTES_PER_PATIENT_SETTING * len(scenario.settings)
    have = available_memory() or 0
    fit = max(0, (have - FIXED_BYTES) // per)
    check_memory(
        need,
        source,
        f"a run of {scenario.population.patients:,} patients × {scenario.months} months",
        f"Use fewer patients (about {fit:,} fit) or fewer months or replications.",
    )


def run_seconds(patient_months: float, runs: int, workers: int) -> float:
    """Rough wall time of ``runs`` runs of ``patient_months`` each on ``workers`` workers."""
    per_run = SECONDS_PER_RUN + patient_months / PATIENT_MONTHS_PER_SECOND
    return per_run * math.ceil(runs / max(1, workers))


def duration(seconds: float) -> str:
    """Seconds as a readable duration for messages."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# ---------------------------------------------------------------------------------------------
# Dask scheduler


def check_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Refuse a scheduler address that is malformed or does not accept a TCP connection
    within ``timeout`` seconds."""
    allowed = "expected tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)"
    text = address.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme != "tcp":
        raise ScenarioError(
            "--scheduler",
            None,
            f"{address!r}: the {scheme}:// protocol is not supported; {allowed}",
        )
    host, colon, port_text = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ScenarioError("--scheduler", None, f"{address!r}: not an address; {allowed}")
    if any(c in host for c in "[]/ ") or (":" in host and not rest.startswith("[")):
        raise ScenarioError("--scheduler", None, f"{address!r}: not an address; {allowed}")
    port = int(port_text)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except TimeoutError:
        raise ScenarioError(
            "--scheduler",
            None,
            f"{address}: no answer within {timeout:.0f} s (is the scheduler running, and is "
            "the port open from here?)",
        ) from None
    except OSError as exc:
        raise ScenarioError(
            "--scheduler", None, f"{address}: cannot connect ({_os_reason(exc)})"
        ) from None
    # the port answers: does Dask? (its handshake, with the same short timeout)
    import asyncio

    from distributed.comm import connect

    async def handshake() -> None:
        comm = await connect(f"tcp://{rest}", timeout=timeout)
        await comm.close()

    try:
        asyncio.run(asyncio.wait_for(handshake(), timeout + 1))
    except Exception as exc:  # distributed raises OSError, TimeoutError, and worse for a stranger
        raise ScenarioError(
            "--scheduler",
            None,
            f"{address}: the port answers but no Dask scheduler does within {timeout:.0f} s "
            f"({type(exc).__name__})",
        ) from None


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file of a results folder that must hold an object: a regular file, not reached
    through a link (:mod:`sim.guards.files`)."""
    from sim.guards import files

    path = Path(path)
    try:
        data = json.loads(files.read_bytes(path.parent, path.name))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ResultsError(f"{path}: corrupt, not readable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: corrupt, expected a JSON object, found {json_kind(data)}")
    return data


def json_kind(v: Any) -> str:
    """What a JSON value is, for messages."""
    kinds: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return kinds.get(type(v), type(v).__name__)
