"""The TA-Lib-shared indicators of `indicators.add_indicators` in one parallel numba call.

`shared_indicators` computes every name of `spec.KERNEL_COLUMNS` for all series at once (the
package's layout: series back to back, split by ``starts``), one row per column, aligned with the
inputs, NaN where the indicator is undefined (warm-up, or the degenerate cases documented in
`indicators` as null); the caller turns NaN into null. The series are independent and shared out
among threads; no state leaks from one series into the next.

The values follow the conventions documented in `indicators` (TA-Lib / Pine), reproducing the
earlier polars expressions operation for operation where it matters for the last bits; see
`smoothing`, `oscillators` and `volatility` for each family. The first bar of a series has no
change, true range, directional movement or money flow, so the RSI, ATR, DI and MFI are first
defined on bar n (0-based), the ADX on bar 2n - 1, the MACD signal on bar 26 + 9 - 2.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from swiftbolt_assets.features.kernels.oscillators import (
    cci_segment,
    mfi_segment,
    obv_segment,
    roc_segment,
    rsi_segment,
    williams_r_segment,
)
from swiftbolt_assets.features.kernels.series import FloatArray, IntArray, series_end
from swiftbolt_assets.features.kernels.smoothing import rolling_mean_segment, seeded_ewm_segment
from swiftbolt_assets.features.kernels.volatility import bollinger_segment, dmi_segment
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
        rolling_mean_segment(close, s, e, layout.sma_lengths[r], out[layout.sma_row + r])
    for r in range(len(layout.ema_lengths)):
        n = layout.ema_lengths[r]
        seeded_ewm_segment(close, s, e, n, 2.0 / (n + 1), out[layout.ema_row + r])
    for r in range(len(layout.rsi_lengths)):
        rsi_segment(close, s, e, layout.rsi_lengths[r], out[layout.rsi_row + r])
    fast = out[layout.macd_fast_row]
    slow = out[layout.macd_slow_row]
    macd_row = layout.macd_row
    macd, signal, hist = out[macd_row], out[macd_row + 1], out[macd_row + 2]
    for j in range(s, e):
        macd[j] = fast[j] - slow[j]
    n_signal = layout.macd_signal
    seeded_ewm_segment(macd, s, e, n_signal, 2.0 / (n_signal + 1), signal)
    for j in range(s, e):
        hist[j] = macd[j] - signal[j]
    atr_row = layout.atr_row
    dmi_segment(
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
        bollinger_segment(
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
    mfi_segment(tp, volume, s, e, layout.mfi_length, out[layout.mfi_row])
    obv_segment(close, volume, s, e, layout.obv_length, out[layout.obv_row])
    for r in range(len(layout.roc_lengths)):
        roc_segment(close, s, e, layout.roc_lengths[r], out[layout.roc_row + r])
    williams_r_segment(high, low, close, s, e, layout.williams_r_length, out[layout.williams_r_row])
    cci_segment(
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
