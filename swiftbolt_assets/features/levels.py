"""Path-dependent indicators (SuperTrend, SuperTrend AI, pivots, polynomial levels) on a frame.

Pure polars + the numba kernels of `kernels.supertrend` and `kernels.price_levels`; no Dagster.
:func:`add_path_indicators` takes bars sorted by (symbol, timeframe, ts), finds where each
(symbol, timeframe) run starts, calls every kernel ONCE over the whole frame and adds the
columns of :data:`PATH_INDICATOR_COLUMNS` (Float64, null where undefined):

- ``supertrend_10_3`` / ``supertrend_dir_10_3``: Pine ``ta.supertrend(3, 10)`` on hl2 (ATR 10,
  Wilder RMA seeded with an SMA); direction +1 up trend (line under price), −1 down trend.
- ``st_ai_*``: LuxAlgo "SuperTrend AI (Clustering)" with its defaults (ATR 10, factors 1–5 step
  0.5, performance memory 10, 'Best' cluster): ``st_ai_stop`` (trailing stop ``ts``),
  ``st_ai_ama`` (its adaptive MA), ``st_ai_trend`` (+1 / −1), ``st_ai_perf_idx``,
  ``st_ai_factor`` (target factor) and ``st_ai_strength``.
- ``pivot_high_{p}`` / ``pivot_low_{p}`` for p in 5, 25, 50, 100: the last pivot known at the
  bar (``ta.pivothigh(p, p)`` / ``ta.pivotlow(p, p)``; a pivot at bar i is known from i + p).
- ``poly_support_50`` / ``poly_resistance_50``: least-squares quadratic over the last 50 lows /
  highs, evaluated at the bar.

``st_ai_strength`` is ``min(10, round(perf_idx * 10))`` with halves rounded up, a 0–10 score.
LuxAlgo's own signal labels print ``int(perf_idx * 10)`` (truncated, uncapped); we round so a
perf_idx of 0.68 scores 7 rather than 6, and cap because perf_idx can exceed 1 on rare bars.

Every value at a bar uses only that bar and earlier ones of the same (symbol, timeframe).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import polars as pl

from swiftbolt_assets.features.kernels.price_levels import pivot_levels, poly_regression_levels
from swiftbolt_assets.features.kernels.series import FloatArray, IntArray
from swiftbolt_assets.features.kernels.supertrend import supertrend, supertrend_ai
from swiftbolt_assets.features.spec import (
    PATH_INDICATOR_COLUMNS,
    PIVOT_PERIODS,
    POLY_WINDOW,
    ST_AI_ATR_LENGTH,
    ST_AI_CLUSTER_BEST,
    ST_AI_FACTOR_STEP,
    ST_AI_MAX_FACTOR,
    ST_AI_MAX_ITER,
    ST_AI_MIN_FACTOR,
    ST_AI_PERF_MEMORY,
    ST_AI_STRENGTH_MAX,
    SUPERTREND_ATR_LENGTH,
    SUPERTREND_FACTOR,
)

logger = logging.getLogger(__name__)

GROUP = ("symbol", "timeframe")
PRICE_COLUMNS = ("open", "high", "low", "close")


def group_starts(frame: pl.DataFrame) -> IntArray:
    """Row offsets where each (symbol, timeframe) run begins; raises if a group is split.

    A frame sorted by (symbol, timeframe, ts) holds every group in one contiguous run; ``ts``,
    when present, must strictly increase inside each run.
    """
    if frame.height == 0:
        return np.zeros(0, dtype=np.int64)
    group = list(GROUP)
    new_run = pl.any_horizontal(*(pl.col(k).ne_missing(pl.col(k).shift(1)) for k in group))
    starts_series = frame.select(new_run.arg_true()).to_series()
    n_groups = frame.select(pl.struct(group).n_unique()).item()
    if starts_series.len() != n_groups:
        msg = "frame must be sorted by (symbol, timeframe, ts): a (symbol, timeframe) is split"
        raise ValueError(msg)
    if "ts" in frame.columns:
        out_of_order = frame.select(
            (~new_run & (pl.col("ts").is_null() | (pl.col("ts") <= pl.col("ts").shift(1)))).any()
        ).item()
        if out_of_order:
            msg = "frame must be sorted by (symbol, timeframe, ts): ts must increase in a group"
            raise ValueError(msg)
    return starts_series.cast(pl.Int64).to_numpy().astype(np.int64, copy=True)


def _price(frame: pl.DataFrame, name: str) -> FloatArray:
    """A price column as a fresh contiguous float64 array, null → NaN."""
    values: FloatArray = np.ascontiguousarray(
        frame.get_column(name).cast(pl.Float64).to_numpy(), dtype=np.float64
    ).copy()
    return values


def add_path_indicators(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the :data:`PATH_INDICATOR_COLUMNS` to bars sorted by (symbol, timeframe, ts).

    Needs ``symbol``, ``timeframe``, ``open``, ``high``, ``low``, ``close``. Values are null
    during each indicator's warm-up (a series shorter than it stays null); never an exception
    for short or flat series.
    """
    missing = [c for c in (*GROUP, *PRICE_COLUMNS) if c not in frame.columns]
    if missing:
        msg = f"add_path_indicators needs columns {missing}"
        raise ValueError(msg)
    if frame.height == 0:
        return frame.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(c) for c in PATH_INDICATOR_COLUMNS
        )
    started = time.perf_counter()
    starts = group_starts(frame)
    high = _price(frame, "high")
    low = _price(frame, "low")
    close = _price(frame, "close")

    st_line: FloatArray
    st_dir: FloatArray
    st_line, st_dir = supertrend(high, low, close, starts, SUPERTREND_ATR_LENGTH, SUPERTREND_FACTOR)
    ai_stop: FloatArray
    ai_ama: FloatArray
    ai_trend: FloatArray
    ai_perf_idx: FloatArray
    ai_factor: FloatArray
    ai_stop, ai_ama, ai_trend, ai_perf_idx, ai_factor = supertrend_ai(
        high,
        low,
        close,
        starts,
        ST_AI_ATR_LENGTH,
        ST_AI_MIN_FACTOR,
        ST_AI_MAX_FACTOR,
        ST_AI_FACTOR_STEP,
        ST_AI_PERF_MEMORY,
        ST_AI_CLUSTER_BEST,
        ST_AI_MAX_ITER,
    )
    strength: FloatArray = np.minimum(ST_AI_STRENGTH_MAX, np.floor(ai_perf_idx * 10.0 + 0.5))
    pivot_high: FloatArray
    pivot_low: FloatArray
    pivot_high, pivot_low = pivot_levels(
        high, low, starts, np.asarray(PIVOT_PERIODS, dtype=np.int64)
    )
    support: FloatArray
    resistance: FloatArray
    support, resistance = poly_regression_levels(low, high, starts, POLY_WINDOW)

    line_column, direction_column = PATH_INDICATOR_COLUMNS[:2]
    arrays: dict[str, FloatArray] = {
        line_column: st_line,
        direction_column: st_dir,
        "st_ai_stop": ai_stop,
        "st_ai_ama": ai_ama,
        "st_ai_trend": ai_trend,
        "st_ai_perf_idx": ai_perf_idx,
        "st_ai_factor": ai_factor,
        "st_ai_strength": strength,
        f"poly_support_{POLY_WINDOW}": support,
        f"poly_resistance_{POLY_WINDOW}": resistance,
    }
    for r, p in enumerate(PIVOT_PERIODS):
        arrays[f"pivot_high_{p}"] = pivot_high[r]
        arrays[f"pivot_low_{p}"] = pivot_low[r]
    result = frame.with_columns(
        pl.Series(name, arrays[name], dtype=pl.Float64).fill_nan(None)
        for name in PATH_INDICATOR_COLUMNS
    )
    logger.debug(
        "path indicators: %d rows in %d series in %.3f s",
        frame.height,
        starts.shape[0],
        time.perf_counter() - started,
    )
    return result
