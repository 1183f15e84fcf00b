"""Oscillators of one series ``[s, e)``: RSI, MFI, OBV, ROC, Williams %R and CCI.

The first bar of a series has no change or money flow, so the RSI and MFI are first defined on
bar n (0-based). Degenerate cases: RSI 50 when the average gain and loss are both 0; MFI 50 when
both money flows are 0; Williams %R -50 when the highest high equals the lowest low; CCI 0 when
the mean absolute deviation is 0 or the window is flat; ROC NaN when the earlier close is 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from swiftbolt_assets.features.kernels.series import FloatArray
from swiftbolt_assets.features.kernels.smoothing import (
    ewm_factor,
    rolling_mean_segment,
    rolling_sum_segment,
    seed_mean,
)


@njit(cache=True)  # type: ignore[misc]
def rsi_segment(close: FloatArray, s: int, e: int, length: int, out: FloatArray) -> None:
    """Wilder RSI of ``close[s:e]`` (first on bar ``length``); 50 when gain and loss are 0."""
    if e - s <= length:
        return
    k = ewm_factor(1.0 / length)
    gains = np.empty(length)
    losses = np.empty(length)
    for j in range(s + 1, s + length + 1):
        delta = close[j] - close[j - 1]
        gains[j - s - 1] = max(delta, 0.0)
        losses[j - s - 1] = max(-delta, 0.0)
    gain = seed_mean(gains, 0, length)
    loss = seed_mean(losses, 0, length)
    for j in range(s + length, e):
        if j > s + length:
            delta = close[j] - close[j - 1]
            gain += (max(delta, 0.0) - gain) * k
            loss += (max(-delta, 0.0) - loss) * k
        total = gain + loss
        out[j] = 50.0 if total == 0.0 else 100.0 * gain / total


@njit(cache=True)  # type: ignore[misc]
def mfi_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    tp: FloatArray, volume: FloatArray, s: int, e: int, length: int, out: FloatArray
) -> None:
    """Money Flow Index of ``[s, e)`` (first on bar ``length``): a bar's flow tp x volume is
    positive when tp rose, negative when it fell (exact comparison); 50 when both sums are 0."""
    if e - s <= length:
        return
    positive = np.zeros(e - s)
    negative = np.zeros(e - s)
    for j in range(s + 1, e):
        if tp[j] > tp[j - 1]:
            positive[j - s] = tp[j] * volume[j]
        elif tp[j] < tp[j - 1]:
            negative[j - s] = tp[j] * volume[j]
    up = np.empty(e - s)
    down = np.empty(e - s)
    rolling_sum_segment(positive, 1, e - s, length, up)
    rolling_sum_segment(negative, 1, e - s, length, down)
    for j in range(length, e - s):
        total = up[j] + down[j]
        out[s + j] = 50.0 if total == 0.0 else 100.0 * up[j] / total


@njit(cache=True)  # type: ignore[misc]
def obv_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    close: FloatArray, volume: FloatArray, s: int, e: int, length: int, out: FloatArray
) -> None:
    """On-balance volume summed over the last ``length`` bars of ``[s, e)`` (the first bar
    counts 0), into ``out`` from bar ``length - 1``."""
    signed = np.zeros(e - s)
    for j in range(s + 1, e):
        delta = close[j] - close[j - 1]
        if delta > 0.0:
            signed[j - s] = volume[j]
        elif delta < 0.0:
            signed[j - s] = -volume[j]
        elif np.isnan(delta):
            signed[j - s] = np.nan
    rolling_sum_segment(signed, 0, e - s, length, out[s:e])


@njit(cache=True)  # type: ignore[misc]
def roc_segment(close: FloatArray, s: int, e: int, length: int, out: FloatArray) -> None:
    """Percent change over ``length`` bars of ``close[s:e]``; NaN when the earlier close is 0."""
    for j in range(s + length, e):
        earlier = close[j - length]
        out[j] = np.nan if earlier == 0.0 else 100.0 * ((close[j] - earlier) / earlier)


@njit(cache=True)  # type: ignore[misc]
def williams_r_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    s: int,
    e: int,
    length: int,
    out: FloatArray,
) -> None:
    """Williams %R of ``[s, e)`` (first on bar ``length - 1``); -50 when the highest high
    equals the lowest low. The extremes are tracked, rescanning the window only when one leaves
    it (as TA-Lib)."""
    hi = -1
    lo = -1
    for j in range(s, e):
        begin = max(s, j - length + 1)
        if hi < begin:
            hi = begin
            for k in range(begin + 1, j + 1):
                if high[k] >= high[hi]:
                    hi = k
        elif high[j] >= high[hi]:
            hi = j
        if lo < begin:
            lo = begin
            for k in range(begin + 1, j + 1):
                if low[k] <= low[lo]:
                    lo = k
        elif low[j] <= low[lo]:
            lo = j
        if j - s >= length - 1:
            top = high[hi]
            bottom = low[lo]
            out[j] = -50.0 if top == bottom else -100.0 * (top - close[j]) / (top - bottom)


@njit(cache=True)  # type: ignore[misc]
def cci_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    tp: FloatArray,
    s: int,
    e: int,
    length: int,
    constant: float,
    mean: FloatArray,
    out: FloatArray,
) -> None:
    """Commodity Channel Index of the typical prices ``tp[s:e]`` (first on bar ``length - 1``);
    0 when the window is flat or its mean absolute deviation is 0; ``constant`` is Lambert's
    (0.015). ``mean`` is scratch."""
    rolling_mean_segment(tp, s, e, length, mean)
    scale = 1.0 / length
    run = 0
    for j in range(s, e):
        run = run + 1 if j > s and tp[j] == tp[j - 1] else 1
        if j - s < length - 1:
            continue
        m = mean[j]
        total = 0.0
        for k in range(length):
            total += abs(tp[j - k] - m)
        deviation = total * scale
        if run >= length or deviation == 0.0:
            out[j] = 0.0
        else:
            out[j] = (tp[j] - m) / (constant * deviation)
