"""The TA-Lib-shared indicators of `indicators.add_indicators` as compiled numba kernels.

Same conventions as :mod:`swiftbolt_assets.features.kernels`: the kernel works on the
concatenation of MANY series at once, float64 arrays holding all series back to back plus
``starts``, the int64 offset where each series begins (series ``i`` spans
``starts[i]:starts[i + 1]``, the last one runs to the end of the arrays). The loop over series
runs inside numba (shared out among threads: the series are independent) and no state leaks
from one series into the next. `shared_indicators` returns one row per name of
`spec.KERNEL_COLUMNS`,
aligned with the inputs, NaN where the indicator is undefined (warm-up, or the degenerate cases
documented in `indicators` as null); the caller turns NaN into null.

The values follow the conventions documented in `indicators` (TA-Lib / Pine), reproducing
the earlier polars expressions operation for operation where it matters for the last bits:

- EMA (alpha = 2/(n+1)) and Wilder RMA (alpha = 1/n) are seeded with the mean of the first n
  valid values, NaN before, then ``y += k * (x - y)`` with polars' ``ewm_mean(adjust=False)``
  weight k. The first bar of a series has no change, true range, directional movement or money
  flow, so the RSI, ATR, DI and MFI are first defined on bar n (0-based), the ADX on bar 2n - 1,
  the MACD signal on bar 26 + 9 - 2.
- Rolling sums and means are running sums with Kahan compensation, one error term for the values
  entering the window and one for those leaving it, as polars' rolling sum: accurate to about an
  ulp of the window's sum however long the series, and a value depends only on its series' bars
  up to the current one (a prefix of a series gives bit-identical values).
- Bollinger bands use the population standard deviation, from sums of the deviations from a
  reference value refreshed (with the sums) every ``length`` bars; exactly 0 when the whole
  window is one repeated value. (The one set of columns not bit-identical to the polars
  ``rolling_var`` definition: within ~1e-12 relative of it on the bands.)
- Degenerate cases: RSI 50 when the average gain and loss are both 0; %B 0.5 when the band has
  zero width, width NaN when the basis is 0; Williams %R -50 when the highest high equals the
  lowest low; CCI 0 when the mean absolute deviation is 0 or the window is flat; MFI 50 when
  both money flows are 0; DI 0 when the ATR is 0 and DX 0 when +DI + -DI is 0; ROC NaN when the
  earlier close is 0.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from swiftbolt_assets.features.kernels import series_end
from swiftbolt_assets.features.spec import (
    ATR_COLUMN,
    BOLLINGER_LENGTHS,
    BOLLINGER_WIDTH,
    CCI_CONSTANT,
    CCI_LENGTH,
    DMI_LENGTH,
    EMA_LENGTHS,
    KERNEL_COLUMNS,
    MACD_FAST,
    MACD_SIGNAL,
    MACD_SLOW,
    MFI_LENGTH,
    OBV_LENGTH,
    ROC_LENGTHS,
    RSI_LENGTHS,
    SMA_LENGTHS,
    WILLIAMS_R_LENGTH,
)

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Layout(NamedTuple):
    """The lengths of `spec` and the rows of `spec.KERNEL_COLUMNS` in ``out``, handed to the
    kernel as an argument: numba freezes a global at compile time and its on-disk cache is
    invalidated only by changes to the kernel's own file, so a length read as a global from
    `spec` could outlive an edit of `spec` in a stale cache. Lists of lengths are int64 arrays:
    the parallel loop cannot take a tuple inside a tuple."""

    sma_lengths: IntArray
    ema_lengths: IntArray
    rsi_lengths: IntArray
    macd_signal: int
    dmi_length: int
    bollinger_lengths: IntArray
    bollinger_width: float
    mfi_length: int
    obv_length: int
    roc_lengths: IntArray
    williams_r_length: int
    cci_length: int
    cci_constant: float
    sma_row: int
    ema_row: int
    rsi_row: int
    macd_row: int
    macd_fast_row: int
    macd_slow_row: int
    atr_row: int
    bb_row: int
    mfi_row: int
    obv_row: int
    roc_row: int
    williams_r_row: int
    cci_row: int


def _layout() -> Layout:
    row = {name: r for r, name in enumerate(KERNEL_COLUMNS)}
    ema_row = row[f"ema_{EMA_LENGTHS[0]}"]
    return Layout(
        sma_lengths=np.asarray(SMA_LENGTHS, dtype=np.int64),
        ema_lengths=np.asarray(EMA_LENGTHS, dtype=np.int64),
        rsi_lengths=np.asarray(RSI_LENGTHS, dtype=np.int64),
        macd_signal=MACD_SIGNAL,
        dmi_length=DMI_LENGTH,
        bollinger_lengths=np.asarray(BOLLINGER_LENGTHS, dtype=np.int64),
        bollinger_width=BOLLINGER_WIDTH,
        mfi_length=MFI_LENGTH,
        obv_length=OBV_LENGTH,
        roc_lengths=np.asarray(ROC_LENGTHS, dtype=np.int64),
        williams_r_length=WILLIAMS_R_LENGTH,
        cci_length=CCI_LENGTH,
        cci_constant=CCI_CONSTANT,
        sma_row=row[f"sma_{SMA_LENGTHS[0]}"],
        ema_row=ema_row,
        rsi_row=row[f"rsi_{RSI_LENGTHS[0]}"],
        macd_row=row[f"macd_{MACD_FAST}_{MACD_SLOW}"],
        macd_fast_row=ema_row + EMA_LENGTHS.index(MACD_FAST),
        macd_slow_row=ema_row + EMA_LENGTHS.index(MACD_SLOW),
        atr_row=row[ATR_COLUMN],
        bb_row=row[f"bb_basis_{BOLLINGER_LENGTHS[0]}"],
        mfi_row=row[f"mfi_{MFI_LENGTH}"],
        obv_row=row[f"obv_{OBV_LENGTH}"],
        roc_row=row[f"roc_{ROC_LENGTHS[0]}"],
        williams_r_row=row[f"williams_r_{WILLIAMS_R_LENGTH}"],
        cci_row=row[f"cci_{CCI_LENGTH}"],
    )


LAYOUT = _layout()


@njit(cache=True)  # type: ignore[misc]
def _seed_mean(x: FloatArray, f: int, length: int) -> float:
    """Mean of ``x[f:f+length]``, summed as `_rolling_sum_segment` sums its first window."""
    total = 0.0
    err = 0.0
    for j in range(f, f + length):
        y = x[j] - err
        new = total + y
        err = (new - total) - y
        total = new
    return total / length


@njit(cache=True)  # type: ignore[misc]
def _ewm_factor(alpha: float) -> float:
    """The weight of a new value in polars' ``ewm_mean(adjust=False)``: alpha / (1-alpha+alpha)
    as rounded in float64 (alpha itself, or within an ulp of it)."""
    return alpha / ((1.0 - alpha) + alpha)


@njit(cache=True)  # type: ignore[misc]
def _rolling_sum_segment(x: FloatArray, s: int, e: int, length: int, out: FloatArray) -> None:
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
def _rolling_mean_segment(x: FloatArray, s: int, e: int, length: int, out: FloatArray) -> None:
    """Mean of the last ``length`` values of ``x[s:e]`` into ``out`` (from bar ``length - 1``)."""
    _rolling_sum_segment(x, s, e, length, out)
    for j in range(s + length - 1, e):
        out[j] = out[j] / length


@njit(cache=True)  # type: ignore[misc]
def _seeded_ewm_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    x: FloatArray, s: int, e: int, length: int, alpha: float, out: FloatArray
) -> None:
    """``y += alpha * (x - y)`` on ``x[s:e]`` into ``out``, seeded with the mean of the first
    ``length`` values after the leading NaNs (an input's own warm-up)."""
    f = s
    while f < e and np.isnan(x[f]):
        f += 1
    if e - f < length:
        return
    k = _ewm_factor(alpha)
    y = _seed_mean(x, f, length)
    out[f + length - 1] = y
    for j in range(f + length, e):
        y += (x[j] - y) * k
        out[j] = y


@njit(cache=True)  # type: ignore[misc]
def _rsi_segment(close: FloatArray, s: int, e: int, length: int, out: FloatArray) -> None:
    """Wilder RSI of ``close[s:e]`` (first on bar ``length``); 50 when gain and loss are 0."""
    if e - s <= length:
        return
    k = _ewm_factor(1.0 / length)
    gains = np.empty(length)
    losses = np.empty(length)
    for j in range(s + 1, s + length + 1):
        delta = close[j] - close[j - 1]
        gains[j - s - 1] = max(delta, 0.0)
        losses[j - s - 1] = max(-delta, 0.0)
    gain = _seed_mean(gains, 0, length)
    loss = _seed_mean(losses, 0, length)
    for j in range(s + length, e):
        if j > s + length:
            delta = close[j] - close[j - 1]
            gain += (max(delta, 0.0) - gain) * k
            loss += (max(-delta, 0.0) - loss) * k
        total = gain + loss
        out[j] = 50.0 if total == 0.0 else 100.0 * gain / total


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
def _dmi_segment(  # noqa: PLR0917 - numba kernels take positional arguments
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
    k = _ewm_factor(1.0 / length)
    seeds = np.empty((3, length))
    for j in range(s + 1, s + length + 1):
        seeds[0, j - s - 1], seeds[1, j - s - 1], seeds[2, j - s - 1] = _dm_step(
            high, low, close, j
        )
    tr_avg = _seed_mean(seeds[0], 0, length)
    plus_avg = _seed_mean(seeds[1], 0, length)
    minus_avg = _seed_mean(seeds[2], 0, length)
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
            dx_avg = _seed_mean(dxs, 0, length)
        else:
            dx_avg += (dx - dx_avg) * k
        adx[j] = dx_avg


@njit(cache=True)  # type: ignore[misc]
def _bollinger_segment(  # noqa: PLR0917 - numba kernels take positional arguments
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
    _rolling_mean_segment(close, s, e, length, basis)
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


@njit(cache=True)  # type: ignore[misc]
def _mfi_segment(  # noqa: PLR0917 - numba kernels take positional arguments
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
    _rolling_sum_segment(positive, 1, e - s, length, up)
    _rolling_sum_segment(negative, 1, e - s, length, down)
    for j in range(length, e - s):
        total = up[j] + down[j]
        out[s + j] = 50.0 if total == 0.0 else 100.0 * up[j] / total


@njit(cache=True)  # type: ignore[misc]
def _obv_segment(  # noqa: PLR0917 - numba kernels take positional arguments
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
    _rolling_sum_segment(signed, 0, e - s, length, out[s:e])


@njit(cache=True)  # type: ignore[misc]
def _roc_segment(close: FloatArray, s: int, e: int, length: int, out: FloatArray) -> None:
    """Percent change over ``length`` bars of ``close[s:e]``; NaN when the earlier close is 0."""
    for j in range(s + length, e):
        earlier = close[j - length]
        out[j] = np.nan if earlier == 0.0 else 100.0 * ((close[j] - earlier) / earlier)


@njit(cache=True)  # type: ignore[misc]
def _williams_r_segment(  # noqa: PLR0917 - numba kernels take positional arguments
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
def _cci_segment(  # noqa: PLR0917 - numba kernels take positional arguments
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
    _rolling_mean_segment(tp, s, e, length, mean)
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


@njit(cache=True)  # type: ignore[misc]
def _shared_series(  # noqa: PLR0917 - numba kernels take positional arguments
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    s: int,
    e: int,
    layout: Layout,
    out: FloatArray,
    tp: FloatArray,
) -> None:
    """Every row of `KERNEL_COLUMNS` for the series ``[s, e)`` into ``out[:, s:e]``."""
    out[:, s:e] = np.nan
    for r in range(len(layout.sma_lengths)):
        _rolling_mean_segment(close, s, e, layout.sma_lengths[r], out[layout.sma_row + r])
    for r in range(len(layout.ema_lengths)):
        n = layout.ema_lengths[r]
        _seeded_ewm_segment(close, s, e, n, 2.0 / (n + 1), out[layout.ema_row + r])
    for r in range(len(layout.rsi_lengths)):
        _rsi_segment(close, s, e, layout.rsi_lengths[r], out[layout.rsi_row + r])
    fast = out[layout.macd_fast_row]
    slow = out[layout.macd_slow_row]
    macd_row = layout.macd_row
    macd, signal, hist = out[macd_row], out[macd_row + 1], out[macd_row + 2]
    for j in range(s, e):
        macd[j] = fast[j] - slow[j]
    n_signal = layout.macd_signal
    _seeded_ewm_segment(macd, s, e, n_signal, 2.0 / (n_signal + 1), signal)
    for j in range(s, e):
        hist[j] = macd[j] - signal[j]
    atr_row = layout.atr_row
    _dmi_segment(
        high,
        low,
        close,
        s,
        e,
        layout.dmi_length,
        out[atr_row],
        out[atr_row + 1],
        out[atr_row + 2],
        out[atr_row + 3],
    )
    for r in range(len(layout.bollinger_lengths)):
        row = layout.bb_row + 5 * r
        _bollinger_segment(
            close,
            s,
            e,
            layout.bollinger_lengths[r],
            layout.bollinger_width,
            out[row],
            out[row + 1],
            out[row + 2],
            out[row + 3],
            out[row + 4],
        )
    third = 1.0 / 3.0
    for j in range(s, e):
        tp[j] = (high[j] + low[j] + close[j]) * third
    _mfi_segment(tp, volume, s, e, layout.mfi_length, out[layout.mfi_row])
    _obv_segment(close, volume, s, e, layout.obv_length, out[layout.obv_row])
    for r in range(len(layout.roc_lengths)):
        _roc_segment(close, s, e, layout.roc_lengths[r], out[layout.roc_row + r])
    _williams_r_segment(
        high, low, close, s, e, layout.williams_r_length, out[layout.williams_r_row]
    )
    _cci_segment(
        tp[s:e],
        0,
        e - s,
        layout.cci_length,
        layout.cci_constant,
        np.empty(e - s),
        out[layout.cci_row, s:e],
    )


@njit(cache=True, parallel=True)  # type: ignore[misc]
def shared_indicators_into(  # noqa: PLR0917 - numba kernels take positional arguments
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    starts: IntArray,
    layout: Layout,
    out: FloatArray,
) -> None:
    """All `KERNEL_COLUMNS` of every series into ``out[r, :n]`` (row ``r`` =
    ``KERNEL_COLUMNS[r]`` as ``layout`` places them, ``n`` the inputs' length, ``out`` at least
    that wide), NaN where undefined. The series are independent and shared out among threads."""
    n = close.shape[0]
    tp = np.empty(n)
    for i in prange(starts.shape[0]):
        e = series_end(starts, i, n)
        _shared_series(high, low, close, volume, starts[i], e, layout, out, tp)


def shared_indicators(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, starts: IntArray
) -> FloatArray:
    """All `KERNEL_COLUMNS` of every series as a new (len(KERNEL_COLUMNS), n) array (see
    `shared_indicators_into`).

    Allocated by numpy, which asks the kernel for huge pages on large arrays: first touching
    the fresh output then costs a fraction of what it does in an array allocated inside numba.
    """
    out = np.empty((len(KERNEL_COLUMNS), close.shape[0]))
    shared_indicators_into(high, low, close, volume, starts, LAYOUT, out)
    return out
