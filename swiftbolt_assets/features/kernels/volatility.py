"""True range based indicators and bands of one series ``[s, e)``: ATR, DMI/ADX, Bollinger.

`atr_segment` is Pine's ``ta.atr`` (an RMA of ``ta.tr(true)`` whose first bar is high - low),
used by the SuperTrends; `dmi_segment` follows TA-Lib (no true range on a series' first bar, so
ATR and DI are first defined on bar n, the ADX on bar 2n - 1). DI 0 when the ATR is 0 and DX 0
when +DI + -DI is 0. Bollinger bands use the population standard deviation, from sums of the
deviations from a reference value refreshed (with the sums) every ``length`` bars; exactly 0
when the whole window is one repeated value (within ~1e-12 relative of polars' ``rolling_var``
on the bands, the one set of columns not bit-identical to the polars definition). %B 0.5 when
the band has zero width, width NaN when the basis is 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from swiftbolt_assets.features.kernels.series import FloatArray
from swiftbolt_assets.features.kernels.smoothing import ewm_factor, rolling_mean_segment, seed_mean


@njit(cache=True)  # type: ignore[misc]
def atr_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    s: int,
    e: int,
    length: int,
    out: FloatArray,
) -> None:
    """Pine ``ta.atr(length)`` on ``[s, e)`` into ``out``: RMA of ``ta.tr(true)``, SMA-seeded."""
    alpha = 1.0 / length
    acc = 0.0
    count = 0
    prev = np.nan
    for j in range(s, e):
        hl = high[j] - low[j]
        if j == s:
            tr = hl
        else:
            c1 = close[j - 1]
            tr = max(hl, abs(high[j] - c1), abs(low[j] - c1))
        if count < length:
            acc += tr
            count += 1
            if count == length:
                prev = acc / length
            out[j] = prev
        else:
            prev = alpha * tr + (1.0 - alpha) * prev
            out[j] = prev


@njit(cache=True)  # type: ignore[misc]
def _dm_step(
    high: FloatArray, low: FloatArray, close: FloatArray, j: int
) -> tuple[float, float, float]:
    """(true range, +DM, -DM) of bar ``j`` (which has a previous bar)."""
    h = high[j]
    lo = low[j]
    prev_close = close[j - 1]
    tr = max(h - lo, abs(h - prev_close), abs(lo - prev_close))
    up = h - high[j - 1]
    down = low[j - 1] - lo
    plus = up if (up > down and up > 0.0) else 0.0
    minus = down if (down > up and down > 0.0) else 0.0
    return tr, plus, minus


@njit(cache=True)  # type: ignore[misc]
def dmi_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    s: int,
    e: int,
    length: int,
    atr: FloatArray,
    adx: FloatArray,
    plus_di: FloatArray,
    minus_di: FloatArray,
) -> None:
    """ATR, ADX, +DI, -DI of ``[s, e)``: Wilder RMAs of the true range and directional
    movements (first on bar ``length``), the ADX an RMA of DX (first on bar ``2*length - 1``).
    DI 0 when the ATR is 0, DX 0 when +DI + -DI is 0."""
    if e - s <= length:
        return
    k = ewm_factor(1.0 / length)
    seeds = np.empty((3, length))
    for j in range(s + 1, s + length + 1):
        seeds[0, j - s - 1], seeds[1, j - s - 1], seeds[2, j - s - 1] = _dm_step(
            high, low, close, j
        )
    tr_avg = seed_mean(seeds[0], 0, length)
    plus_avg = seed_mean(seeds[1], 0, length)
    minus_avg = seed_mean(seeds[2], 0, length)
    dxs = np.empty(length)
    dx_avg = 0.0
    for j in range(s + length, e):
        if j > s + length:
            tr, plus, minus = _dm_step(high, low, close, j)
            tr_avg += (tr - tr_avg) * k
            plus_avg += (plus - plus_avg) * k
            minus_avg += (minus - minus_avg) * k
        atr[j] = tr_avg
        p = 0.0 if tr_avg == 0.0 else 100.0 * plus_avg / tr_avg
        m = 0.0 if tr_avg == 0.0 else 100.0 * minus_avg / tr_avg
        plus_di[j] = p
        minus_di[j] = m
        dx = 0.0 if p + m == 0.0 else 100.0 * abs(p - m) / (p + m)
        count = j - s - length  # DX values before this one
        if count < length:
            dxs[count] = dx
            if count < length - 1:
                continue
            dx_avg = seed_mean(dxs, 0, length)
        else:
            dx_avg += (dx - dx_avg) * k
        adx[j] = dx_avg


@njit(cache=True)  # type: ignore[misc]
def bollinger_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    close: FloatArray,
    s: int,
    e: int,
    length: int,
    width: float,
    basis: FloatArray,
    upper: FloatArray,
    lower: FloatArray,
    pct_b: FloatArray,
    band_width: FloatArray,
) -> None:
    """Bollinger bands of ``close[s:e]`` (first on bar ``length - 1``): basis the SMA, bands at
    ``width`` population standard deviations (0 when the window is one repeated value);
    %B 0.5 when upper == lower, width NaN when the basis is 0.

    The variance comes from the sums of the deviations from a reference (the basis of the bar
    where the sums were last summed afresh from the window, every ``length`` bars).
    """
    rolling_mean_segment(close, s, e, length, basis)
    first = s + length - 1
    run = 0  # bars up to j holding close[j] in a row
    for j in range(s, min(first, e)):
        run = run + 1 if j > s and close[j] == close[j - 1] else 1
    ref = 0.0
    s1 = 0.0
    s2 = 0.0
    age = length
    for j in range(first, e):
        run = run + 1 if j > s and close[j] == close[j - 1] else 1
        if age == length:
            ref = basis[j]
            s1 = 0.0
            s2 = 0.0
            for k in range(j - length + 1, j + 1):
                d = close[k] - ref
                s1 += d
                s2 += d * d
            age = 0
        else:
            d_in = close[j] - ref
            d_out = close[j - length] - ref
            s1 += d_in - d_out
            s2 += d_in * d_in - d_out * d_out
        age += 1
        if run >= length:
            sd = 0.0
        else:
            mean_d = s1 / length
            var = s2 / length - mean_d * mean_d
            sd = np.sqrt(var) if var > 0.0 else 0.0
        mid = basis[j]
        top = mid + width * sd
        bottom = mid - width * sd
        upper[j] = top
        lower[j] = bottom
        pct_b[j] = 0.5 if top == bottom else (close[j] - bottom) / (top - bottom)
        band_width[j] = np.nan if mid == 0.0 else (top - bottom) / mid
