"""Support and resistance levels over many series: pivots and a quadratic regression.

- :func:`pivot_levels`: the last known ``ta.pivothigh(p, p)`` / ``ta.pivotlow(p, p)`` value,
  carried forward; a pivot at bar ``i`` is only known from bar ``i + p`` (no look-ahead).
- :func:`poly_regression_levels`: least-squares quadratic over a trailing window of lows
  (support) and highs (resistance), evaluated at the current bar.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from swiftbolt_assets.features.kernels.series import FloatArray, IntArray, series_end


@njit(cache=True)  # type: ignore[misc]
def _pivot_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    values: FloatArray,
    s: int,
    e: int,
    period: int,
    sign: float,
    out: FloatArray,
    deque: IntArray,
) -> None:
    """Last known pivot of ``sign * values`` (max) on ``[s, e)``, as ``values`` into ``out``.

    At bar ``j`` the window is ``[j - 2p, j]`` and its centre ``c = j - p`` is a pivot when its
    value is the window's maximum (ties included); the pivot is first reported at bar ``j``.
    A sliding-window maximum over a monotone deque of indices keeps this O(length).
    """
    width = 2 * period + 1
    head = 0
    tail = 0  # deque[head:tail], values decreasing
    last_nan = s - 1 - width  # most recent NaN index
    current = np.nan
    for j in range(s, e):
        v = sign * values[j]
        if np.isnan(v):
            last_nan = j
        else:
            while tail > head and sign * values[deque[tail - 1]] <= v:
                tail -= 1
            deque[tail] = j
            tail += 1
        while tail > head and deque[head] <= j - width:
            head += 1
        c = j - period
        if c - period >= s and last_nan <= j - width and tail > head:
            vc = sign * values[c]
            if vc >= sign * values[deque[head]]:
                current = values[c]
        out[j] = current


@njit(cache=True)  # type: ignore[misc]
def pivot_levels(
    high: FloatArray, low: FloatArray, starts: IntArray, periods: IntArray
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Last known pivot high / low for every period: two ``(len(periods), n)`` arrays.

    Row ``r`` holds, at each bar, the high (low) of the most recent ``ta.pivothigh(p, p)``
    (``ta.pivotlow(p, p)``) with ``p = periods[r]`` that is known at that bar: bar ``i`` is a
    pivot high when its high is the maximum over ``[i - p, i + p]`` (ties count), which is known
    from bar ``i + p``. NaN until the first pivot is known.
    """
    n = high.shape[0]
    n_periods = periods.shape[0]
    out_high = np.full((n_periods, n), np.nan)
    out_low = np.full((n_periods, n), np.nan)
    deque = np.empty(n, dtype=np.int64)
    for r in range(n_periods):
        p = periods[r]
        for i in range(starts.shape[0]):
            s = starts[i]
            e = series_end(starts, i, n)
            _pivot_segment(high, s, e, p, 1.0, out_high[r], deque)
            _pivot_segment(low, s, e, p, -1.0, out_low[r], deque)
    return out_high, out_low


@njit(cache=True)  # type: ignore[misc]
def _poly2_endpoint_weights(window: int) -> FloatArray:
    """Weights ``w`` with ``sum(w * y)`` = the least-squares quadratic's value at the last point.

    x is the bar position centred and scaled to [-1, 1]; the fit is expanded on the orthogonal
    basis 1, x, x² − mean(x²) (x is symmetric, so the three are orthogonal on the grid), which
    needs no matrix solve and stays well conditioned.
    """
    w = np.empty(window)
    half = 0.5 * (window - 1)
    scale = half if half > 0.0 else 1.0
    mean_x2 = 0.0
    for k in range(window):
        x = (k - half) / scale
        mean_x2 += x * x
    mean_x2 /= window
    norm1 = 0.0
    norm2 = 0.0
    for k in range(window):
        x = (k - half) / scale
        norm1 += x * x
        q = x * x - mean_x2
        norm2 += q * q
    x_last = (window - 1 - half) / scale
    q_last = x_last * x_last - mean_x2
    for k in range(window):
        x = (k - half) / scale
        q = x * x - mean_x2
        wk = 1.0 / window
        if norm1 > 0.0:
            wk += x * x_last / norm1
        if norm2 > 0.0:
            wk += q * q_last / norm2
        w[k] = wk
    return w


@njit(cache=True)  # type: ignore[misc]
def poly_regression_levels(
    low: FloatArray, high: FloatArray, starts: IntArray, window: int
) -> tuple[FloatArray, FloatArray]:
    """Quadratic least-squares fit over the trailing ``window`` bars, evaluated at the bar.

    Returns (support from the lows, resistance from the highs). Uses bars ``[i - window + 1, i]``
    only; NaN until a full window is available (and where the window holds a NaN).
    """
    n = low.shape[0]
    support = np.full(n, np.nan)
    resistance = np.full(n, np.nan)
    w = _poly2_endpoint_weights(window)
    for i in range(starts.shape[0]):
        s = starts[i]
        e = series_end(starts, i, n)
        for j in range(s + window - 1, e):
            base = j - window + 1
            acc_low = 0.0
            acc_high = 0.0
            for k in range(window):
                acc_low += w[k] * low[base + k]
                acc_high += w[k] * high[base + k]
            support[j] = acc_low
            resistance[j] = acc_high
    return support, resistance
