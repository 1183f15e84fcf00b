"""The layout every kernel shares: many series back to back, split by ``starts``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@njit(cache=True)  # type: ignore[misc]
def series_end(starts: IntArray, i: int, n: int) -> int:
    """End offset (exclusive) of series ``i``."""
    if i + 1 < starts.shape[0]:
        return int(starts[i + 1])
    return n
