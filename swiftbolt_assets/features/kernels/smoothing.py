"""Rolling sums and means and seeded exponential smoothing, on one series ``[s, e)`` at a time.

EMA (alpha = 2/(n+1)) and Wilder RMA (alpha = 1/n) are seeded with the mean of the first n valid
values, NaN before, then ``y += k * (x - y)`` with polars' ``ewm_mean(adjust=False)`` weight k.
Rolling sums are running sums with Kahan compensation, one error term for the values entering
the window and one for those leaving it, as polars' rolling sum: accurate to about an ulp of the
window's sum however long the series, and a value depends only on its series' bars up to the
current one (a prefix of a series gives bit-identical values).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from swiftbolt_assets.features.kernels.series import FloatArray


@njit(cache=True)  # type: ignore[misc]
def seed_mean(x: FloatArray, f: int, length: int) -> float:
    """Mean of ``x[f:f+length]``, summed as `rolling_sum_segment` sums its first window."""
    total = 0.0
    err = 0.0
    for j in range(f, f + length):
        y = x[j] - err
        new = total + y
        err = (new - total) - y
        total = new
    return total / length


@njit(cache=True)  # type: ignore[misc]
def ewm_factor(alpha: float) -> float:
    """The weight of a new value in polars' ``ewm_mean(adjust=False)``: alpha / (1-alpha+alpha)
    as rounded in float64 (alpha itself, or within an ulp of it)."""
    return alpha / ((1.0 - alpha) + alpha)


@njit(cache=True)  # type: ignore[misc]
def rolling_sum_segment(x: FloatArray, s: int, e: int, length: int, out: FloatArray) -> None:
    """Sum of the last ``length`` values of ``x[s:e]`` into ``out`` (from bar ``length - 1``).

    A running sum with Kahan compensation, one error term for the values entering the window
    and one for those leaving it (polars' rolling sum, operation for operation): accurate to
    about an ulp of the window's sum over any length of series.
    """
    total = 0.0
    err_add = 0.0
    err_sub = 0.0
    for j in range(s, e):
        if j - s >= length:
            y = -x[j - length] - err_sub
            new = total + y
            err_sub = (new - total) - y
            total = new
        y = x[j] - err_add
        new = total + y
        err_add = (new - total) - y
        total = new
        if j - s >= length - 1:
            out[j] = total


@njit(cache=True)  # type: ignore[misc]
def rolling_mean_segment(x: FloatArray, s: int, e: int, length: int, out: FloatArray) -> None:
    """Mean of the last ``length`` values of ``x[s:e]`` into ``out`` (from bar ``length - 1``)."""
    rolling_sum_segment(x, s, e, length, out)
    for j in range(s + length - 1, e):
        out[j] = out[j] / length


@njit(cache=True)  # type: ignore[misc]
def seeded_ewm_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    x: FloatArray, s: int, e: int, length: int, alpha: float, out: FloatArray
) -> None:
    """``y += alpha * (x - y)`` on ``x[s:e]`` into ``out``, seeded with the mean of the first
    ``length`` values after the leading NaNs (an input's own warm-up)."""
    f = s
    while f < e and np.isnan(x[f]):
        f += 1
    if e - f < length:
        return
    k = ewm_factor(alpha)
    y = seed_mean(x, f, length)
    out[f + length - 1] = y
    for j in range(f + length, e):
        y += (x[j] - y) * k
        out[j] = y
