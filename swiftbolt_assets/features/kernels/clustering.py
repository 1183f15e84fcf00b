"""LuxAlgo's k-means (k = 3) over the SuperTrend AI performances, with Pine's own float rules.

Matching TradingView bar for bar took Pine details its source does not show:
``array.percentile_linear_interpolation`` interpolates with the ``C = 1/2`` rank convention (not
numpy's), float ``==`` (behind ``array.indexof``) is a tolerance test, so performances within
1e-10 of two centroids go to the first one, and ``array.min`` skips na.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from swiftbolt_assets.features.kernels.series import FloatArray, IntArray

PINE_FLOAT_EQ_TOL = 1e-10  # see pine_eq


@njit(cache=True)  # type: ignore[misc]
def pine_eq(a: float, b: float) -> bool:
    """Pine's float ``==`` (also behind ``array.indexof``): equal within ``PINE_FLOAT_EQ_TOL``.

    TradingView documents ``==`` as rounding floats to nine fractional digits. Exact equality,
    and rounding to nine digits, each miss clustering decisions in the reference exports
    (``../shared/fixtures/tradingview``); an absolute tolerance anywhere from about 7.5e-11 to
    1.1e-10 reproduces all of them, so we use 1e-10. na is equal to nothing.
    """
    if np.isnan(a) or np.isnan(b):
        return False
    return bool(abs(a - b) < PINE_FLOAT_EQ_TOL)


@njit(cache=True)  # type: ignore[misc]
def _percentile_linear(sorted_values: FloatArray, percentage: float) -> float:
    """Pine ``array.percentile_linear_interpolation`` of an ascending array without NaN.

    Linear interpolation between the closest ranks with the ``C = 1/2`` convention (0-based
    rank ``p/100 * m - 1/2``, clamped to the array), which reproduces TradingView's
    SuperTrend AI; numpy's default (rank ``p/100 * (m - 1)``) does not.
    """
    m = sorted_values.shape[0]
    rank = percentage / 100.0 * m - 0.5
    if rank <= 0.0:
        return float(sorted_values[0])
    lo = int(np.floor(rank))
    if lo >= m - 1:
        return float(sorted_values[m - 1])
    frac = rank - lo
    return float(sorted_values[lo] + frac * (sorted_values[lo + 1] - sorted_values[lo]))


@njit(cache=True)  # type: ignore[misc]
def kmeans3(  # noqa: PLR0917 - numba kernels take positional arguments
    data: FloatArray,
    factors: FloatArray,
    max_iter: int,
    scratch: FloatArray,
    assignment: IntArray,
    centroids: FloatArray,
    sums: FloatArray,
    counts: IntArray,
    factor_sums: FloatArray,
) -> None:
    """LuxAlgo's k-means over ``data`` with three centroids at its 25/50/75th percentiles.

    ``scratch``, ``assignment`` (length of ``data``) and ``centroids`` (3) are work space.
    Leaves the final clusters in ``sums`` / ``counts`` / ``factor_sums`` (per cluster: sum of
    the values, their count, sum of their factors, accumulated in data order as Pine's
    ``array.avg`` does). Pine details that decide near-ties:

    - a value goes to ``dist.indexof(dist.min())``: the FIRST centroid whose distance equals
      the smallest one under Pine's float ``==`` (see :func:`pine_eq`), so distances within
      1e-10 count as a tie; ``array.min`` skips na (the centroid of an empty cluster), so an
      emptied cluster never gets values again;
    - the loop stops when all three centroids are ``==`` to the previous ones, after
      at most ``max_iter + 1`` passes. Pine never finds na ``==`` na and so keeps iterating once
      a cluster is empty; the assignment is then stable and repeats itself, so stopping as soon
      as it repeats gives the same clusters.
    """
    m = data.shape[0]
    for q in range(m):  # insertion sort: the array is tiny
        v = data[q]
        r = q
        while r > 0 and scratch[r - 1] > v:
            scratch[r] = scratch[r - 1]
            r -= 1
        scratch[r] = v
    centroids[0] = _percentile_linear(scratch, 25.0)
    centroids[1] = _percentile_linear(scratch, 50.0)
    centroids[2] = _percentile_linear(scratch, 75.0)
    for q in range(m):
        assignment[q] = -1
    for _ in range(max_iter + 1):
        for g in range(3):
            sums[g] = 0.0
            counts[g] = 0
            factor_sums[g] = 0.0
        changed = False
        for q in range(m):
            g = _nearest_centroid(data[q], centroids[0], centroids[1], centroids[2])
            changed = changed or assignment[q] != g
            assignment[q] = g
            sums[g] += data[q]
            counts[g] += 1
            factor_sums[g] += factors[q]
        same = True
        for g in range(3):
            new = sums[g] / counts[g] if counts[g] > 0 else np.nan
            same = same and pine_eq(new, centroids[g])
            centroids[g] = new
        if same or not changed:
            break


@njit(cache=True)  # type: ignore[misc]
def _nearest_centroid(value: float, c0: float, c1: float, c2: float) -> int:
    """``dist.indexof(dist.min())``: the first centroid at the smallest distance (Pine ``==``)."""
    d0 = abs(value - c0)
    d1 = abs(value - c1)
    d2 = abs(value - c2)
    smallest = np.inf  # array.min skips na: a NaN distance never becomes the minimum
    smallest = d0 if d0 < smallest else smallest
    smallest = d1 if d1 < smallest else smallest
    smallest = d2 if d2 < smallest else smallest
    if pine_eq(d0, smallest):
        return 0
    return 1 if pine_eq(d1, smallest) else 2
