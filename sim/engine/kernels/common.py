"""What the seams' compiled wrappers share: the numba kernels, loaded once per process."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def compiled() -> dict[str, Any]:
    """The numba kernels by name (:data:`sim.engine.compiled.KERNELS`), imported on first use:
    compiled on a process's first use after an install, loaded from numba's cache after that."""
    from sim.engine.compiled import KERNELS

    return KERNELS


class CompiledTwin:
    """The base of each seam's compiled wrappers (``Numba<Seam>``): ``self._k`` is the kernels
    by name."""

    @property
    def _k(self) -> dict[str, Any]:
        # numba is imported and the kernels loaded at the first call, not when a model is
        # built (a model that never steps, such as shards.check's probe, does not load them)
        return compiled()
