"""Fused passes over the patients: numba kernels, each with a pure-numpy twin of the same bits.

The monthly step is array code; most of it is one numpy call per quantity, which is as fast as
numpy goes. Some passes are a chain of numpy calls over the same patients (a temporary per
step): the need probability and the new episodes over every patient, the patients with an
active episode, a plain month's units and period bookkeeping, units → visits, billed units,
minutes and fee value, benefit and outcomes, cost sharing, the providers' sums and learning
record, the records' sums (the table in docs/architecture.md, "Compiled kernels"). Each of
those is written twice, with one signature:

* :class:`Numpy` - the reference: plain numpy, the code the model has always run;
* :class:`Numba` - the same arithmetic in one compiled loop (``numba.njit``, no fastmath:
  every operation is the IEEE one numpy does, in the same dtype and order).

Both classes are joined here from one module per seam of the month, each holding the numpy
twins (``Numpy<Seam>``) and the compiled wrappers (``Numba<Seam>``) of its kernels:

============  =================================================================================
module        kernels
============  =================================================================================
``needs``     new needs, the patients in episode, new episodes stored, counts by payer and risk
``draws``     counter-based uniforms; a plain month's units, the outcomes, the deaths (they draw)
``billing``   units → visits, billed units, minutes and fees; benefit of care; cost sharing
``sums``      the records' sums by payer block, the care and function of subgroup cells
``learning``  the providers' sums and least-squares record, episode values
============  =================================================================================

and :mod:`~sim.engine.kernels.common` loads the compiled kernels for every seam.

Both give the same bits for every input the model makes (``tests/engine/test_kernels.py`` checks
each kernel on random and edge-case inputs, and the reference outputs under both). Which one a run
uses cannot change its outputs, so it is chosen for speed alone, once per model by
:func:`select`:

* ``SIM_KERNELS=numpy`` or ``numba`` forces one (``numba`` fails if numba is not installed);
* ``auto`` (the default) takes numba when it is installed and the population has at least
  :data:`MIN_PATIENTS` patients, or when this process has loaded the kernels already (a large
  model ran, or :func:`preload`: a process running many small simulations). A process that
  has run :data:`PRELOAD_AFTER` patient-months of small models (:func:`ran`: a calibration's,
  a sweep's or a posterior-draw run's worker) preloads them then, so its later models use
  them. Other small runs keep numpy and never import numba, whose import and kernel loading
  would dominate one small run; numba is imported at a kernel's first call.

numba is in the ``fast`` extra (and in ``all``); without it every run uses :class:`Numpy`.
The compiled kernels live in :mod:`sim.engine.compiled`, one module per seam with the same
name (module-level functions, cached on disk by numba): only a process's first use after an
install compiles them (about 6 s); later processes load them.

No kernel uses a transcendental function: numpy's SIMD ``log``, ``exp`` and ``power`` differ
from libm's by an ulp on some CPUs, so a compiled twin could not promise the same bits.

Where another kernel would pay, write both twins in its seam's module (the numpy twin in
``Numpy<Seam>``, the wrapper in ``Numba<Seam>``), the compiled kernel in the seam's module of
:mod:`sim.engine.compiled` (and in its ``KERNELS``), and its test in
``tests/engine/test_kernels.py``; the call site calls ``world.kernels.<name>(…)`` and never
branches.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache

import numpy as np

from sim.engine.kernels.billing import NumbaBilling, NumpyBilling
from sim.engine.kernels.common import compiled as _compiled
from sim.engine.kernels.draws import NumbaDraws, NumpyDraws, planned_units, variation_sign
from sim.engine.kernels.learning import NumbaLearning, NumpyLearning
from sim.engine.kernels.needs import NumbaNeeds, NumpyNeeds, need_probability
from sim.engine.kernels.sums import RECORD_COUNTS, NumbaSums, NumpySums
from sim.errors import SimError
from sim.guards.extras import require

__all__ = [
    "MIN_PATIENTS",
    "NUMPY",
    "RECORD_COUNTS",
    "Kernels",
    "Numba",
    "Numpy",
    "loaded",
    "mode",
    "need_probability",
    "numba_available",
    "planned_units",
    "preload",
    "ran",
    "select",
    "variation_sign",
]

#: populations from this size on use the compiled kernels under ``SIM_KERNELS=auto``
MIN_PATIENTS = 50_000

#: patient-months of small models (numpy kernels) after which a process loads the compiled
#: kernels for the rest of its models (:func:`ran`). The load costs about 0.4 s of CPU once
#: (numba's start-up and the kernels read from the cache); the compiled kernels save about a
#: third of a small model's month (a 6,000-patient month of the base world: ≈ 8 → ≈ 5 ms), so
#: the load is repaid within about this many more patient-months
PRELOAD_AFTER = 1_000_000

#: patient-months this process has run on the numpy kernels under ``auto``
_small_work = 0

_MODES = ("auto", "numpy", "numba")


class Numpy(NumpyNeeds, NumpyDraws, NumpyBilling, NumpySums, NumpyLearning):
    """The numpy twins (the reference semantics): every seam's."""

    name = "numpy"


class Numba(NumbaNeeds, NumbaDraws, NumbaBilling, NumbaSums, NumbaLearning):
    """The compiled twins: the same signatures and bits as :class:`Numpy`."""

    name = "numba"


def mode() -> str:
    """``SIM_KERNELS`` (auto, numpy or numba), checked: numba must be installed for
    ``numba``."""
    m = os.environ.get("SIM_KERNELS", "auto").strip().lower() or "auto"
    if m not in _MODES:
        raise SimError(
            f"environment variable SIM_KERNELS={m!r}: allowed values are {', '.join(_MODES)}"
        )
    if m == "numba" and not numba_available():
        require("numba", "fast", "SIM_KERNELS=numba")
    return m


@cache
def numba_available() -> bool:
    """Whether numba is installed (the ``fast`` extra); it is not imported here."""
    return importlib.util.find_spec("numba") is not None


def select(n_patients: int) -> Kernels:
    """The kernels for a model of ``n_patients`` patients (see the module docstring)."""
    m = mode()
    if m == "numpy":
        return NUMPY
    if m == "numba" or (numba_available() and (n_patients >= MIN_PATIENTS or loaded())):
        return _numba()
    return NUMPY


def loaded() -> bool:
    """Whether this process has loaded the compiled kernels already (a large model ran, or
    :func:`preload`): then ``auto`` gives them to models of any size, at no further cost."""
    return _compiled.cache_info().currsize > 0


def preload() -> bool:
    """Load the compiled kernels now when numba is installed and ``SIM_KERNELS`` allows them
    (``auto`` or ``numba``), so that every later model of this process uses them, small ones
    included: for a process that runs many small simulations (a calibration's or a sweep's
    worker), where the load (about 0.5-1 s, once) is soon repaid. Returns whether they are
    loaded. The outputs are the same either way."""
    if mode() == "numpy" or not numba_available():
        return False
    k = _compiled()
    x = np.zeros(1, np.int64)
    k["uniforms"](x, np.uint64(0))  # numba's own start-up, and one kernel, at once
    return True


def ran(kernels: Kernels, patient_months: int) -> None:
    """Tell the selection that a model of this process ran ``patient_months`` on ``kernels``:
    once the numpy kernels have run :data:`PRELOAD_AFTER` of them under ``auto``, the compiled
    kernels are loaded (:func:`preload`) and every later model of the process uses them. A
    process that runs one small simulation never pays the load; one that runs thousands of
    them (a calibration's worker) pays it once. Outputs are the same either way."""
    global _small_work
    if kernels is not NUMPY or loaded():
        return
    _small_work += int(patient_months)
    if _small_work >= PRELOAD_AFTER and mode() == "auto":
        preload()


#: the numpy twins (what a model of fewer than MIN_PATIENTS patients, or without numba, uses)
NUMPY = Numpy()

#: either set of kernels (the same methods and bits)
Kernels = Numpy | Numba


@cache
def _numba() -> Numba:
    return Numba()
