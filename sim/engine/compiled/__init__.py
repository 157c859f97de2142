"""The compiled twins of :mod:`sim.engine.kernels`' numpy kernels (numba), at module level.

Imported by :func:`sim.engine.kernels.common.compiled` at a model's first compiled kernel call,
never at ``import sim``. One module per seam of :mod:`sim.engine.kernels`, with the same name
(``needs``, ``draws``, ``billing``, ``sums``, ``learning``); :data:`KERNELS` names them all.

Every kernel is a module-level function with ``cache=True``, so numba saves its machine code
next to its module (or in ``NUMBA_CACHE_DIR``) on the first use after an install and later
processes load it: a kernel defined inside a function (a closure) that calls another compiled
function was saved again by every process and never loaded (``NUMBA_DEBUG_CACHE=1`` shows it).
``tests/engine/test_kernels.py`` checks that a second process compiles nothing and adds nothing to
the cache.

The cache is keyed on each module file's time stamp and size: editing a module recompiles its
kernels, and only its own. A kernel that calls another compiled function carries a copy of it
in its machine code, so every compiled function a kernel calls is defined in the kernel's own
module (``compact`` in ``needs``, ``uniform`` in ``draws``, ``pairwise`` in ``sums``): a kernel
never keeps a stale copy of a function edited in another file (``tests/engine/test_kernels.py``
checks that no module calls another's).

What each computes, and the bits it must give, is its numpy twin's docstring in
:class:`sim.engine.kernels.Numpy`.
"""

from __future__ import annotations

from sim.engine.compiled import billing, draws, learning, needs, sums

#: the kernels by name (the methods of :class:`sim.engine.kernels.Numba` call these)
KERNELS = {
    "new_needs": needs.new_needs,
    "active": needs.active,
    "start_episodes": needs.start_episodes,
    "group_counts": needs.group_counts,
    "calendar": needs.calendar,
    "uniforms": draws.uniforms,
    "plan_units": draws.plan_units,
    "best_units": draws.best_units,
    "best_units_straight": draws.best_units_straight,
    "best_units_payers": draws.best_units_payers,
    "outcomes": draws.outcomes,
    "deaths": draws.deaths,
    "deliver": billing.deliver,
    "care_value": billing.care_value,
    "share_costs": billing.share_costs,
    "record_counts": sums.record_counts,
    "block_sums": sums.block_sums,
    "care_cell_sums": sums.care_cell_sums,
    "cell_sums": sums.cell_sums,
    "provider_sums": learning.provider_sums,
    "learn": learning.learn,
    "episode_values": learning.episode_values,
}
