"""Technical indicators for many symbols and timeframes at once.

`add_indicators` takes bars of any number of (symbol, timeframe) series, sorted by
(symbol, timeframe, ts), and adds the columns of `INDICATOR_COLUMNS` without a Python loop over
symbols or rows. The `KERNEL_COLUMNS` (the indicators TA-Lib also has: moving averages, RSI,
MACD, ATR/DMI, Bollinger bands, Williams %R, CCI, MFI, OBV, ROC) come from one call of the numba
kernel in `kernels.shared` over all series; the others (KDJ, RSI cloud and its crosses, volume
ratio, historical volatility) are polars window expressions evaluated per series, some of them
smoothing kernel columns. The helpers of `expressions` (`sma`, `ema`, `rma`, `rsi`,
`true_range`, `cci`, ...) build such expressions and default to ``.over(["symbol",
"timeframe"])``; the kernels compute the same values as the helpers' definitions (see
`kernels.shared`).

Conventions (they follow TA-Lib and TradingView's Pine ``ta.*`` functions):

- A value needs a full window of the series' own bars: before that it is null, never 0. The first
  bar of a series has no previous close, so its change, true range, directional movement, money
  flow and log return are null (as ``ta.tr`` / TA-Lib); OBV starts at 0 on the first bar.
- `ema` (alpha = 2/(n+1)) and `rma` (Wilder, alpha = 1/n) are seeded like TA-Lib and Pine: the
  first value is the simple mean of the first n valid values of the input, null before, then the
  usual recursion. Valid values are counted per series, so an input with leading nulls (an RSI, a
  MACD line) is seeded on its own first n values.
- Only the current and past bars of the same series are used: no look-ahead, no backward fill,
  no centered window, no value carried from one series into the next.
- Annualized volatility (`hv_20`, `hv_60`) multiplies the standard deviation of per-bar log
  returns by sqrt(252) whatever the timeframe: on intraday bars it is a per-bar volatility scaled
  as if one bar were one trading day, so compare it only within one timeframe.

Divisions by zero never produce inf or NaN; the degenerate cases get these defined values:

- RSI 50 when the average gain and the average loss are both 0 (100 when only the loss is 0).
- Bollinger %B 0.5 and width 0 when the band has zero width (all closes of the window equal);
  width null when the basis is 0.
- Williams %R -50 and KDJ RSV 50 when the highest high equals the lowest low over the window.
- CCI 0 when the mean absolute deviation is 0 (all typical prices of the window equal).
- MFI 50 when the positive and the negative money flows are both 0.
- +DI / -DI 0 when the ATR is 0, and DX 0 when +DI + -DI is 0 (as Pine's ``ta.dmi``).
- Volume ratio null when the 20-bar mean volume is 0; ROC null when the earlier close is 0; a log
  return null when either close is not positive.

Inputs are not checked for NaN (a NaN price propagates through every recursive indicator of its
series, as null in the kernel columns, whose NaN means undefined); nulls in the required columns
are rejected.
"""

import logging
import math
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.features.expressions import (
    GROUP_KEYS,
    NULL_FLOAT,
    ema,
    log_return,
    range_position,
    ratio_or,
    rma,
    sma,
    stdev,
)
from swiftbolt_assets.features.kernels.shared import shared_indicators
from swiftbolt_assets.features.spec import (
    HV_LENGTHS,
    INDICATOR_COLUMNS,
    KDJ_LENGTH,
    KDJ_SMOOTHING,
    KERNEL_COLUMNS,
    RSI_CLOUD_BASE_LENGTH,
    RSI_CLOUD_BASE_RSI,
    RSI_CLOUD_LEAD_LENGTH,
    RSI_CLOUD_LEAD_RSI,
    TRADING_DAYS_PER_YEAR,
    VOLUME_RATIO_LENGTH,
)

logger = logging.getLogger(__name__)

PRICE_COLUMNS: Final[tuple[str, ...]] = ("open", "high", "low", "close", "volume")
REQUIRED_COLUMNS: Final[tuple[str, ...]] = (*GROUP_KEYS, "ts", *PRICE_COLUMNS)
# working columns of `add_indicators`, dropped from its result
_SERIES: Final = "_series"
_BAR: Final = "_bar"
_KDJ: Final = f"{KDJ_LENGTH}_{KDJ_SMOOTHING}"
_WORK_COLUMNS: Final[tuple[str, ...]] = (
    _SERIES,
    _BAR,
    "_log_return",
    f"_high_{KDJ_LENGTH}",
    f"_low_{KDJ_LENGTH}",
)

_NULL_BOOL: Final = pl.lit(None, dtype=pl.Boolean)


def _series_start() -> pl.Expr:
    """True on the first row of each contiguous block of one (symbol, timeframe)."""
    changed = [pl.col(name).ne_missing(pl.col(name).shift(1)) for name in GROUP_KEYS]
    return pl.any_horizontal(changed)


def _validate(frame: pl.DataFrame) -> npt.NDArray[np.int64]:
    """Check ``frame`` (see `add_indicators`); the row offset where each series starts."""
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        msg = f"add_indicators: missing columns {missing}"
        raise ValueError(msg)
    wrong = {
        name: str(frame.schema[name]) for name in PRICE_COLUMNS if frame.schema[name] != pl.Float64
    }
    if wrong:
        msg = f"add_indicators: OHLCV columns must be Float64, got {wrong}"
        raise TypeError(msg)
    taken = [name for name in (*INDICATOR_COLUMNS, *_WORK_COLUMNS) if name in frame.columns]
    if taken:
        msg = f"add_indicators: the frame already has columns named {taken}"
        raise ValueError(msg)
    nulls = {name: count for name in REQUIRED_COLUMNS if (count := frame[name].null_count())}
    if nulls:
        msg = f"add_indicators: null values in {nulls}"
        raise ValueError(msg)
    start = _series_start()
    check = frame.select(
        start=start, unordered=(~start & (pl.col("ts") <= pl.col("ts").shift(1))).any()
    )
    starts = np.flatnonzero(check["start"].to_numpy()).astype(np.int64)
    # a series split over several blocks shows as a key repeated among the blocks' first rows
    split = frame[starts].select(pl.struct(list(GROUP_KEYS)).is_duplicated().any()).item()
    if split or check["unordered"].any():
        msg = (
            "add_indicators: rows must be sorted by (symbol, timeframe, ts), "
            "ts strictly increasing within each series"
        )
        raise ValueError(msg)
    return starts


def _kernel_columns(frame: pl.DataFrame, starts: npt.NDArray[np.int64]) -> pl.DataFrame:
    """The `KERNEL_COLUMNS` of a validated frame, from one kernel call over all series (NaN,
    the kernels' undefined value, as null)."""
    high, low, close, volume = (
        np.ascontiguousarray(frame[name].to_numpy(), dtype=np.float64)
        for name in ("high", "low", "close", "volume")
    )
    rows = shared_indicators(high, low, close, volume, starts)
    return pl.DataFrame(
        [
            pl.Series(name, row, nan_to_null=True)
            for name, row in zip(KERNEL_COLUMNS, rows, strict=True)
        ]
    )


def compute_talib_shared(frame: pl.DataFrame) -> pl.DataFrame:
    """Only the `KERNEL_COLUMNS` (the indicators TA-Lib also computes) of ``frame``, one row per
    bar in the frame's order; ``frame`` as for `add_indicators`."""
    return _kernel_columns(frame, _validate(frame))


def _from_bar(first: int, expr: pl.Expr) -> pl.Expr:
    """``expr`` evaluated on the whole column, kept from each series' bar ``first`` on (null
    before): for the rolling extremes and lags of `add_indicators`, whose windows reach
    ``first`` bars back, the values equal those of a per-series window at a fraction of the
    cost (the series are contiguous row blocks in time order, which `_validate` checks)."""
    return pl.when(pl.col(_BAR) >= first).then(expr)


def _crossover_in_series(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Pine ``ta.crossover(a, b)`` within each series: ``a > b`` on this bar and ``a <= b`` on
    the previous one; null while ``a`` or ``b`` is null on this bar, false on the first bar where
    both exist. The previous bar's values are taken from the whole column and are null on the
    first bar of a series (see `_from_bar`)."""
    previous_le = _from_bar(1, a.shift(1) <= b.shift(1))
    crossed = ((a > b) & previous_le).fill_null(False)
    return pl.when(a.is_null() | b.is_null()).then(_NULL_BOOL).otherwise(crossed)


def add_indicators(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the `INDICATOR_COLUMNS` to bars of many (symbol, timeframe) series at once.

    ``frame`` holds ``symbol``, ``timeframe``, ``ts`` and Float64 ``open/high/low/close/volume``
    without nulls, sorted by (symbol, timeframe, ts). The result has the same rows in the same
    order, the input columns unchanged, and the indicator columns appended in the order of
    `INDICATOR_COLUMNS` (Float64, except the two Boolean cloud-cross flags).

    The `KERNEL_COLUMNS` come from one call of the numba kernel of `kernels.shared` over all
    series; the rest is one lazy polars query of window expressions over the series, in steps
    that smooth the columns of earlier ones (so no window is nested in another). The windows are
    keyed on an integer series number (one per (symbol, timeframe) block of the sorted frame),
    which partitions the rows exactly as ``.over(["symbol", "timeframe"])`` does, only cheaper
    to group on. Rolling extremes and one-bar lags are taken on the whole column and kept from
    the bar where their window lies within the series (`_from_bar`): the same values, cheaper.
    """
    starts = _validate(frame)
    kernels = _kernel_columns(frame, starts)
    lengths = np.diff(np.append(starts, frame.height))
    series = np.repeat(np.arange(starts.size, dtype=np.int64), lengths)
    bar = np.arange(frame.height, dtype=np.int64) - np.repeat(starts, lengths)
    by = (_SERIES,)
    volume = pl.col("volume")
    annualize = math.sqrt(TRADING_DAYS_PER_YEAR)

    # the KDJ's extremes are materialized first: used three times each by the RSV
    kdj_high, kdj_low = f"_high_{KDJ_LENGTH}", f"_low_{KDJ_LENGTH}"
    step_1 = [
        _from_bar(KDJ_LENGTH - 1, pl.col("high").rolling_max(KDJ_LENGTH)).alias(kdj_high),
        _from_bar(KDJ_LENGTH - 1, pl.col("low").rolling_min(KDJ_LENGTH)).alias(kdj_low),
        ratio_or(volume, sma(volume, VOLUME_RATIO_LENGTH, by=by), NULL_FLOAT).alias(
            f"volume_ratio_{VOLUME_RATIO_LENGTH}"
        ),
        _from_bar(1, log_return(pl.col("close"), by=None)).alias("_log_return"),
    ]
    top, bottom = pl.col(kdj_high), pl.col(kdj_low)
    rsv, k, d = f"kdj_rsv_{KDJ_LENGTH}", f"kdj_k_{_KDJ}", f"kdj_d_{_KDJ}"
    lead_rsi, base_rsi = pl.col(f"rsi_{RSI_CLOUD_LEAD_RSI}"), pl.col(f"rsi_{RSI_CLOUD_BASE_RSI}")
    step_2 = [
        (100.0 * range_position(pl.col("close"), top, bottom, flat=0.5)).alias(rsv),
        ema(lead_rsi, RSI_CLOUD_LEAD_LENGTH, by=by).alias("rsi_cloud_lead"),
        ema(base_rsi, RSI_CLOUD_BASE_LENGTH, by=by).alias("rsi_cloud_base"),
        *(
            (stdev(pl.col("_log_return"), n, ddof=1, by=by) * annualize).alias(f"hv_{n}")
            for n in HV_LENGTHS
        ),
    ]
    lead, base = pl.col("rsi_cloud_lead"), pl.col("rsi_cloud_base")
    step_3 = [
        rma(pl.col(rsv), KDJ_SMOOTHING, by=by).alias(k),
        _crossover_in_series(lead, base).alias("rsi_cloud_bull_cross"),
        _crossover_in_series(base, lead).alias("rsi_cloud_bear_cross"),
    ]
    step_4 = [rma(pl.col(k), KDJ_SMOOTHING, by=by).alias(d)]
    step_5 = [(3.0 * pl.col(k) - 2.0 * pl.col(d)).alias(f"kdj_j_{_KDJ}")]

    result = (
        pl.concat([frame, kernels, pl.DataFrame({_SERIES: series, _BAR: bar})], how="horizontal")
        .lazy()
        .with_columns(step_1)
        .with_columns(step_2)
        .with_columns(step_3)
        .with_columns(step_4)
        .with_columns(step_5)
        .select(*frame.columns, *INDICATOR_COLUMNS)
        .collect()
    )
    logger.debug("added %d indicator columns to %d rows", len(INDICATOR_COLUMNS), result.height)
    return result
