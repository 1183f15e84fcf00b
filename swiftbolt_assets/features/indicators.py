"""Technical indicators for many symbols and timeframes at once, as polars expressions.

`add_indicators` takes bars of any number of (symbol, timeframe) series, sorted by
(symbol, timeframe, ts), and adds the columns of `INDICATOR_COLUMNS` in one vectorized query:
every expression is a window expression evaluated per series (``.over(...)`` on the series);
there is no Python loop over symbols or rows. The helpers below (`sma`, `ema`, `rma`, `rsi`,
`true_range`, ...) build those expressions and default to ``.over(["symbol", "timeframe"])``.

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
series); nulls in the required columns are rejected.
"""

import functools
import logging
import math
import operator
from collections.abc import Sequence
from typing import Final

import polars as pl

logger = logging.getLogger(__name__)

GROUP_KEYS: Final[tuple[str, str]] = ("symbol", "timeframe")
PRICE_COLUMNS: Final[tuple[str, ...]] = ("open", "high", "low", "close", "volume")
REQUIRED_COLUMNS: Final[tuple[str, ...]] = (*GROUP_KEYS, "ts", *PRICE_COLUMNS)
TRADING_DAYS_PER_YEAR: Final = 252
CCI_CONSTANT: Final = 0.015

SMA_LENGTHS: Final[tuple[int, ...]] = (5, 10, 20, 50, 200)
EMA_LENGTHS: Final[tuple[int, ...]] = (12, 26)
RSI_LENGTHS: Final[tuple[int, ...]] = (14, 7)
BOLLINGER_LENGTHS: Final[tuple[int, ...]] = (20, 30)
BOLLINGER_WIDTH: Final = 2.0
HV_LENGTHS: Final[tuple[int, ...]] = (20, 60)

INDICATOR_COLUMNS: Final[tuple[str, ...]] = (
    *(f"sma_{n}" for n in SMA_LENGTHS),
    *(f"ema_{n}" for n in EMA_LENGTHS),
    *(f"rsi_{n}" for n in RSI_LENGTHS),
    "macd_12_26",
    "macd_signal_12_26_9",
    "macd_hist_12_26_9",
    "atr_14",
    "adx_14",
    "plus_di_14",
    "minus_di_14",
    *(
        f"bb_{part}_{n}"
        for n in BOLLINGER_LENGTHS
        for part in ("basis", "upper", "lower", "pct_b", "width")
    ),
    "kdj_rsv_9",
    "kdj_k_9_3",
    "kdj_d_9_3",
    "kdj_j_9_3",
    "rsi_cloud_lead",
    "rsi_cloud_base",
    "rsi_cloud_bull_cross",
    "rsi_cloud_bear_cross",
    "mfi_14",
    "obv_252",
    "volume_ratio_20",
    "roc_5",
    "roc_20",
    "williams_r_14",
    "cci_20",
    *(f"hv_{n}" for n in HV_LENGTHS),
)
BOOLEAN_COLUMNS: Final[frozenset[str]] = frozenset({"rsi_cloud_bull_cross", "rsi_cloud_bear_cross"})

# working columns of `add_indicators`, dropped from its result
_SERIES: Final = "_series"
_BAR: Final = "_bar"
_WORK_COLUMNS: Final[tuple[str, ...]] = (
    _SERIES,
    _BAR,
    "_tr",
    "_plus_dm",
    "_minus_dm",
    "_plus_dm_14",
    "_minus_dm_14",
    "_log_return",
    *(f"_sd_{n}" for n in BOLLINGER_LENGTHS),
)

_NULL_FLOAT: Final = pl.lit(None, dtype=pl.Float64)
_NULL_BOOL: Final = pl.lit(None, dtype=pl.Boolean)


def _sum_of(terms: Sequence[pl.Expr]) -> pl.Expr:
    """Left-to-right sum (null if any term is null).

    Unlike ``pl.sum_horizontal``, whose order of additions (and so last bit) can depend on the
    engine and the frame's size, this gives the same value for a row whatever else is in the
    frame.
    """
    return functools.reduce(operator.add, terms)


def typical_price() -> pl.Expr:
    """(high + low + close) / 3, computed as a product with 1/3 (elementwise).

    polars divides by a scalar either exactly or through its reciprocal depending on the
    evaluation context, so the last bit of ``x / 3.0`` can change with what else is in the
    frame; an explicit product is the same everywhere. (Divisions by scalars are avoided
    throughout this module for that reason.)
    """
    return (pl.col("high") + pl.col("low") + pl.col("close")) * (1.0 / 3.0)


def _ratio_or(numerator: pl.Expr, denominator: pl.Expr, default: pl.Expr | float) -> pl.Expr:
    """numerator / denominator, or ``default`` where the denominator is 0 (elementwise)."""
    return pl.when(denominator == 0).then(default).otherwise(numerator / denominator)


# --- helpers ---------------------------------------------------------------------------------
#
# Each helper returns an expression evaluated separately within every series: ``by`` names the
# columns that identify a series (default ``GROUP_KEYS``). With ``by=None`` the helper returns the
# bare, series-local expression, to be composed inside one enclosing ``.over(...)``: nesting one
# window inside another is correct but evaluates the inner window once per outer group (slow).
# Helpers take column expressions or elementwise combinations of them; to smooth another
# helper's output, materialize it as a column first (as `add_indicators` does).

By = Sequence[str] | None


def per_group(expr: pl.Expr, by: By = GROUP_KEYS) -> pl.Expr:
    """Evaluate ``expr`` separately within each series (``by=None``: leave it series-local)."""
    return expr if by is None else expr.over(list(by))


def bar_index(by: By = GROUP_KEYS) -> pl.Expr:
    """0-based position of the bar within its series."""
    return per_group(pl.int_range(pl.len(), dtype=pl.Int64), by)


def previous(expr: pl.Expr, n: int = 1, *, by: By = GROUP_KEYS) -> pl.Expr:
    """The value ``n`` bars earlier in the same series (null on its first ``n`` bars)."""
    return per_group(expr.shift(n), by)


def change(expr: pl.Expr, n: int = 1, *, by: By = GROUP_KEYS) -> pl.Expr:
    """``expr - expr[n bars ago]`` within the series (null on its first ``n`` bars)."""
    return per_group(expr.diff(n), by)


def sma(expr: pl.Expr, n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Simple moving average over the last ``n`` bars; null until ``n`` values are available."""
    return per_group(expr.rolling_mean(n), by)


def rolling_sum(expr: pl.Expr, n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Sum over the last ``n`` bars; null until ``n`` values are available."""
    return per_group(expr.rolling_sum(n), by)


def highest(expr: pl.Expr, n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Highest value over the last ``n`` bars (Pine ``ta.highest``)."""
    return per_group(expr.rolling_max(n), by)


def lowest(expr: pl.Expr, n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Lowest value over the last ``n`` bars (Pine ``ta.lowest``)."""
    return per_group(expr.rolling_min(n), by)


def stdev(expr: pl.Expr, n: int, ddof: int = 0, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Rolling standard deviation over ``n`` bars (``ddof=0``: population, as TA-Lib/Pine).

    Exactly 0 when every value of the window is equal (no rounding residue from the running
    sums), and never NaN: a variance that rounds below 0 is clipped to 0.
    """
    spread = expr.rolling_var(n, ddof=ddof).clip(lower_bound=0.0).sqrt()
    flat = expr.rolling_max(n) == expr.rolling_min(n)
    return per_group(pl.when(flat).then(0.0).otherwise(spread), by)


def _seeded_ewm(expr: pl.Expr, n: int, alpha: float, by: By) -> pl.Expr:
    """Exponential recursion ``y = alpha*x + (1-alpha)*y[1]`` seeded with an n-value mean.

    The seed series is null on the first n-1 valid values of the series, the mean of the first
    n valid values on the n-th, and the raw values after; ``ewm_mean(adjust=False,
    ignore_nulls=True)`` then starts from the seed exactly as TA-Lib and Pine do. Valid values
    are counted (rather than bar positions) so that an input with leading nulls is seeded on
    its own first n values; inputs are expected to have no nulls after their first value.
    """
    if n < 1:
        msg = f"window length must be at least 1, got {n}"
        raise ValueError(msg)
    valid = expr.is_not_null()
    count = valid.cast(pl.Int64).cum_sum()
    seeded = (
        pl.when(~valid | (count < n))
        .then(_NULL_FLOAT)
        .when(count == n)
        .then(expr.rolling_mean(n))
        .otherwise(expr)
    )
    return per_group(seeded.ewm_mean(alpha=alpha, adjust=False, ignore_nulls=True), by)


def ema(expr: pl.Expr, n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Exponential moving average, alpha = 2/(n+1), seeded with the SMA of the first n values."""
    return _seeded_ewm(expr, n, 2.0 / (n + 1), by)


def rma(expr: pl.Expr, n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Wilder's smoothing (Pine ``ta.rma``), alpha = 1/n, seeded with the SMA of the first n."""
    return _seeded_ewm(expr, n, 1.0 / n, by)


def true_range(
    high: str = "high", low: str = "low", close: str = "close", *, by: By = GROUP_KEYS
) -> pl.Expr:
    """max(high-low, |high-prev close|, |low-prev close|); null on a series' first bar."""
    h, lo, prev_close = pl.col(high), pl.col(low), pl.col(close).shift(1)
    widest = pl.max_horizontal(h - lo, (h - prev_close).abs(), (lo - prev_close).abs())
    return per_group(pl.when(prev_close.is_null()).then(_NULL_FLOAT).otherwise(widest), by)


def directional_movement(
    high: str = "high", low: str = "low", *, by: By = GROUP_KEYS
) -> tuple[pl.Expr, pl.Expr]:
    """Wilder's (+DM, -DM); null on a series' first bar."""
    up = pl.col(high).diff()
    down = -pl.col(low).diff()
    plus = pl.when(up.is_null()).then(_NULL_FLOAT).when((up > down) & (up > 0)).then(up)
    minus = pl.when(down.is_null()).then(_NULL_FLOAT).when((down > up) & (down > 0)).then(down)
    return per_group(plus.otherwise(0.0), by), per_group(minus.otherwise(0.0), by)


def rsi(expr: pl.Expr, n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Wilder RSI: RMA of gains and losses seeded with their n-change mean (TA-Lib, Pine).

    50 when both averages are 0 (a flat series), 100 when only the average loss is 0.
    """
    delta = expr.diff()
    gain = rma(delta.clip(lower_bound=0.0), n, by=None)
    loss = rma((-delta).clip(lower_bound=0.0), n, by=None)
    total = gain + loss
    return per_group(pl.when(total == 0).then(50.0).otherwise(100.0 * gain / total), by)


def range_position(value: pl.Expr, top: pl.Expr, bottom: pl.Expr, flat: float) -> pl.Expr:
    """(value - bottom) / (top - bottom), or ``flat`` when top == bottom (elementwise)."""
    return pl.when(top == bottom).then(flat).otherwise((value - bottom) / (top - bottom))


def stochastic_rsv(n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """KDJ raw stochastic value: 100 * (close - lowest low) / (highest high - lowest low).

    50 when the highest high equals the lowest low over the ``n`` bars.
    """
    top, bottom = pl.col("high").rolling_max(n), pl.col("low").rolling_min(n)
    return per_group(100.0 * range_position(pl.col("close"), top, bottom, flat=0.5), by)


def williams_r(n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Williams %R: -100 * (highest high - close) / (highest high - lowest low) over n bars.

    -50 when the highest high equals the lowest low.
    """
    top, bottom = pl.col("high").rolling_max(n), pl.col("low").rolling_min(n)
    ratio = -100.0 * (top - pl.col("close")) / (top - bottom)
    return per_group(pl.when(top == bottom).then(-50.0).otherwise(ratio), by)


def crossover(a: pl.Expr, b: pl.Expr, *, by: By = GROUP_KEYS) -> pl.Expr:
    """``a > b`` on this bar and ``a <= b`` on the previous one (Pine ``ta.crossover``).

    Null while ``a`` or ``b`` is null on this bar; false on the first bar where both exist.
    """
    crossed = ((a > b) & (a.shift(1) <= b.shift(1))).fill_null(False)
    return per_group(pl.when(a.is_null() | b.is_null()).then(_NULL_BOOL).otherwise(crossed), by)


def crossunder(a: pl.Expr, b: pl.Expr, *, by: By = GROUP_KEYS) -> pl.Expr:
    """``a < b`` on this bar and ``a >= b`` on the previous one (Pine ``ta.crossunder``)."""
    return crossover(b, a, by=by)


def mean_absolute_deviation(
    expr: pl.Expr, n: int, *, by: By = GROUP_KEYS, bar: str | None = None
) -> pl.Expr:
    """Mean of |x - mean of the window| over the last ``n`` bars (TA-Lib's CCI deviation).

    The window mean is subtracted from each of the ``n`` lagged values. ``bar`` optionally names
    a column holding each row's 0-based position in its series, for a frame whose series are
    contiguous row blocks in time order (`add_indicators` checks this): the lags are then taken
    from the whole column and kept from position n-1 on, which gives the same values as n window
    shifts at a fraction of the cost.
    """
    if bar is None:
        mean = expr.rolling_mean(n)
        total = _sum_of([(expr.shift(k) - mean).abs() for k in range(n)])
        return per_group(pl.when(mean.is_null()).then(_NULL_FLOAT).otherwise(total * (1.0 / n)), by)
    mean = per_group(expr.rolling_mean(n), by)
    total = _sum_of([(expr.shift(k) - mean).abs() for k in range(n)])
    full = mean.is_not_null() & (pl.col(bar) >= n - 1)
    return pl.when(full).then(total * (1.0 / n)).otherwise(_NULL_FLOAT)


def cci(n: int, *, by: By = GROUP_KEYS, bar: str | None = None) -> pl.Expr:
    """Commodity Channel Index of the typical price (h+l+c)/3 with Lambert's 0.015 constant.

    0 when the mean absolute deviation is 0 (all typical prices of the window equal). ``bar``:
    see `mean_absolute_deviation`.
    """
    tp = typical_price()
    deviation = mean_absolute_deviation(tp, n, by=by, bar=bar)
    flat = per_group(tp.rolling_max(n) == tp.rolling_min(n), by)
    value = (tp - per_group(tp.rolling_mean(n), by)) / (CCI_CONSTANT * deviation)
    return pl.when(flat | (deviation == 0)).then(0.0).otherwise(value)


def mfi(n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Money Flow Index over ``n`` bars: 100 * positive flow / (positive + negative flow).

    A bar's flow (typical price x volume) counts as positive when its typical price is above
    the previous bar's, negative when below, and in neither sum when equal (exact comparison).
    50 when both sums are 0.
    """
    tp = typical_price()
    prev_tp = tp.shift(1)
    flow = tp * pl.col("volume")
    first = prev_tp.is_null()
    positive = pl.when(first).then(_NULL_FLOAT).when(tp > prev_tp).then(flow).otherwise(0.0)
    negative = pl.when(first).then(_NULL_FLOAT).when(tp < prev_tp).then(flow).otherwise(0.0)
    up, down = positive.rolling_sum(n), negative.rolling_sum(n)
    return per_group(_ratio_or(100.0 * up, up + down, 50.0), by)


def on_balance_volume(n: int = 252, *, by: By = GROUP_KEYS) -> pl.Expr:
    """OBV over the last ``n`` bars: volume signed by the close's change, summed (the first bar of
    a series counts 0). Equal to TA-Lib's cumulative OBV(t) - OBV(t - n).

    A bounded window, unlike the classic cumulative OBV whose level depends on where the data
    starts: a one-day build that reads a lookback window gives the same value as a build over
    all history, and the value means the same thing for every symbol.
    """
    signed = (pl.col("close").diff().sign() * pl.col("volume")).fill_null(0.0)
    return per_group(signed.rolling_sum(n), by)


def rate_of_change(expr: pl.Expr, n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Percent change over ``n`` bars; null when the earlier value is 0."""
    earlier = expr.shift(n)
    return per_group(100.0 * _ratio_or(expr - earlier, earlier, _NULL_FLOAT), by)


def log_return(expr: pl.Expr, *, by: By = GROUP_KEYS) -> pl.Expr:
    """ln(x / previous x); null on the first bar or when either value is not positive."""
    earlier = expr.shift(1)
    value = (expr / earlier).log()
    return per_group(pl.when((expr > 0) & (earlier > 0)).then(value).otherwise(_NULL_FLOAT), by)


# --- the feature table -----------------------------------------------------------------------


def _series_start() -> pl.Expr:
    """True on the first row of each contiguous block of one (symbol, timeframe)."""
    changed = [pl.col(name).ne_missing(pl.col(name).shift(1)) for name in GROUP_KEYS]
    return pl.any_horizontal(changed)


def _validate(frame: pl.DataFrame) -> None:
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
        blocks=start.sum(),
        series=pl.struct(list(GROUP_KEYS)).n_unique(),
        unordered=(~start & (pl.col("ts") <= pl.col("ts").shift(1))).any(),
    )
    if check["blocks"].item() != check["series"].item() or check["unordered"].item():
        msg = (
            "add_indicators: rows must be sorted by (symbol, timeframe, ts), "
            "ts strictly increasing within each series"
        )
        raise ValueError(msg)


def add_indicators(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the `INDICATOR_COLUMNS` to bars of many (symbol, timeframe) series at once.

    ``frame`` holds ``symbol``, ``timeframe``, ``ts`` and Float64 ``open/high/low/close/volume``
    without nulls, sorted by (symbol, timeframe, ts). The result has the same rows in the same
    order, the input columns unchanged, and the indicator columns appended in the order of
    `INDICATOR_COLUMNS` (Float64, except the two Boolean cloud-cross flags).

    One lazy query in four steps; each step's columns are window expressions over the series
    and later steps smooth the columns of earlier ones (so no window is nested in another).
    The windows are keyed on an integer series number (one per (symbol, timeframe) block of the
    sorted frame), which partitions the rows exactly as ``.over(["symbol", "timeframe"])``
    does, only cheaper to group on. The one exception to pure windows is CCI's mean deviation,
    whose 20 lags come from the whole column and are kept from a series' 20th bar on: exact
    because the series are contiguous blocks in time order, which `_validate` checks.
    """
    _validate(frame)
    by = (_SERIES,)
    close, volume = pl.col("close"), pl.col("volume")
    plus_dm, minus_dm = directional_movement(by=by)
    annualize = math.sqrt(TRADING_DAYS_PER_YEAR)

    step_1 = [
        *(sma(close, n, by=by).alias(f"sma_{n}") for n in SMA_LENGTHS),
        *(ema(close, n, by=by).alias(f"ema_{n}") for n in EMA_LENGTHS),
        *(rsi(close, n, by=by).alias(f"rsi_{n}") for n in RSI_LENGTHS),
        true_range(by=by).alias("_tr"),
        plus_dm.alias("_plus_dm"),
        minus_dm.alias("_minus_dm"),
        *(
            sma(close, n, by=by).alias(f"bb_basis_{n}")
            for n in BOLLINGER_LENGTHS
            if n not in SMA_LENGTHS
        ),
        *(stdev(close, n, by=by).alias(f"_sd_{n}") for n in BOLLINGER_LENGTHS),
        stochastic_rsv(9, by=by).alias("kdj_rsv_9"),
        mfi(14, by=by).alias("mfi_14"),
        on_balance_volume(252, by=by).alias("obv_252"),
        _ratio_or(volume, sma(volume, 20, by=by), _NULL_FLOAT).alias("volume_ratio_20"),
        rate_of_change(close, 5, by=by).alias("roc_5"),
        rate_of_change(close, 20, by=by).alias("roc_20"),
        williams_r(14, by=by).alias("williams_r_14"),
        cci(20, by=by, bar=_BAR).alias("cci_20"),
        log_return(close, by=by).alias("_log_return"),
    ]

    step_2 = [
        (pl.col("ema_12") - pl.col("ema_26")).alias("macd_12_26"),
        rma(pl.col("_tr"), 14, by=by).alias("atr_14"),
        rma(pl.col("_plus_dm"), 14, by=by).alias("_plus_dm_14"),
        rma(pl.col("_minus_dm"), 14, by=by).alias("_minus_dm_14"),
        rma(pl.col("kdj_rsv_9"), 3, by=by).alias("kdj_k_9_3"),
        ema(pl.col("rsi_7"), 3, by=by).alias("rsi_cloud_lead"),
        ema(pl.col("rsi_14"), 14, by=by).alias("rsi_cloud_base"),
        *(
            (stdev(pl.col("_log_return"), n, ddof=1, by=by) * annualize).alias(f"hv_{n}")
            for n in HV_LENGTHS
        ),
    ]
    for n in BOLLINGER_LENGTHS:
        basis = pl.col(f"sma_{n}") if n in SMA_LENGTHS else pl.col(f"bb_basis_{n}")
        half_width = BOLLINGER_WIDTH * pl.col(f"_sd_{n}")
        upper, lower = basis + half_width, basis - half_width
        if n in SMA_LENGTHS:
            step_2.append(basis.alias(f"bb_basis_{n}"))
        step_2 += [
            upper.alias(f"bb_upper_{n}"),
            lower.alias(f"bb_lower_{n}"),
            range_position(close, upper, lower, flat=0.5).alias(f"bb_pct_b_{n}"),
            _ratio_or(upper - lower, basis, _NULL_FLOAT).alias(f"bb_width_{n}"),
        ]

    atr, lead, base = pl.col("atr_14"), pl.col("rsi_cloud_lead"), pl.col("rsi_cloud_base")
    step_3 = [
        ema(pl.col("macd_12_26"), 9, by=by).alias("macd_signal_12_26_9"),
        _ratio_or(100.0 * pl.col("_plus_dm_14"), atr, 0.0).alias("plus_di_14"),
        _ratio_or(100.0 * pl.col("_minus_dm_14"), atr, 0.0).alias("minus_di_14"),
        rma(pl.col("kdj_k_9_3"), 3, by=by).alias("kdj_d_9_3"),
        crossover(lead, base, by=by).alias("rsi_cloud_bull_cross"),
        crossunder(lead, base, by=by).alias("rsi_cloud_bear_cross"),
    ]

    plus_di, minus_di = pl.col("plus_di_14"), pl.col("minus_di_14")
    dx = _ratio_or(100.0 * (plus_di - minus_di).abs(), plus_di + minus_di, 0.0)
    step_4 = [
        (pl.col("macd_12_26") - pl.col("macd_signal_12_26_9")).alias("macd_hist_12_26_9"),
        (3.0 * pl.col("kdj_k_9_3") - 2.0 * pl.col("kdj_d_9_3")).alias("kdj_j_9_3"),
        rma(dx, 14, by=by).alias("adx_14"),
    ]

    result = (
        frame.lazy()
        .with_columns(_series_start().cum_sum().alias(_SERIES))
        .with_columns(bar_index(by).alias(_BAR))
        .with_columns(step_1)
        .with_columns(step_2)
        .with_columns(step_3)
        .with_columns(step_4)
        .select(*frame.columns, *INDICATOR_COLUMNS)
        .collect()
    )
    logger.debug("added %d indicator columns to %d rows", len(INDICATOR_COLUMNS), result.height)
    return result
