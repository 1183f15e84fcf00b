"""Polars expression builders for indicators, evaluated within each (symbol, timeframe) series.

Each helper returns an expression evaluated separately within every series: ``by`` names the
columns that identify a series (default ``GROUP_KEYS``). With ``by=None`` the helper returns the
bare, series-local expression, to be composed inside one enclosing ``.over(...)``: nesting one
window inside another is correct but evaluates the inner window once per outer group (slow).
Helpers take column expressions or elementwise combinations of them; to smooth another helper's
output, materialize it as a column first (as `indicators.add_indicators` does).

The conventions (seeding, nulls, degenerate cases) are those documented in `indicators`; the
numba kernels of `kernels.shared` compute the same values as these definitions.
"""

import functools
import operator
from collections.abc import Sequence
from typing import Final

import polars as pl

from swiftbolt_assets.features.spec import CCI_CONSTANT

GROUP_KEYS: Final[tuple[str, str]] = ("symbol", "timeframe")
NULL_FLOAT: Final = pl.lit(None, dtype=pl.Float64)


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


def ratio_or(numerator: pl.Expr, denominator: pl.Expr, default: pl.Expr | float) -> pl.Expr:
    """numerator / denominator, or ``default`` where the denominator is 0 (elementwise)."""
    return pl.when(denominator == 0).then(default).otherwise(numerator / denominator)


By = Sequence[str] | None


def per_group(expr: pl.Expr, by: By = GROUP_KEYS) -> pl.Expr:
    """Evaluate ``expr`` separately within each series (``by=None``: leave it series-local)."""
    return expr if by is None else expr.over(list(by))


def sma(expr: pl.Expr, n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Simple moving average over the last ``n`` bars; null until ``n`` values are available."""
    return per_group(expr.rolling_mean(n), by)


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
        .then(NULL_FLOAT)
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
    return per_group(pl.when(prev_close.is_null()).then(NULL_FLOAT).otherwise(widest), by)


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


def mean_absolute_deviation(expr: pl.Expr, n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Mean of |x - mean of the window| over the last ``n`` bars (TA-Lib's CCI deviation).

    The window mean is subtracted from each of the ``n`` lagged values.
    """
    mean = expr.rolling_mean(n)
    total = _sum_of([(expr.shift(k) - mean).abs() for k in range(n)])
    return per_group(pl.when(mean.is_null()).then(NULL_FLOAT).otherwise(total * (1.0 / n)), by)


def cci(n: int, *, by: By = GROUP_KEYS) -> pl.Expr:
    """Commodity Channel Index of the typical price (h+l+c)/3 with Lambert's 0.015 constant.

    0 when the mean absolute deviation is 0 (all typical prices of the window equal).
    """
    tp = typical_price()
    deviation = mean_absolute_deviation(tp, n, by=by)
    flat = per_group(tp.rolling_max(n) == tp.rolling_min(n), by)
    value = (tp - per_group(tp.rolling_mean(n), by)) / (CCI_CONSTANT * deviation)
    return pl.when(flat | (deviation == 0)).then(0.0).otherwise(value)


def log_return(expr: pl.Expr, *, by: By = GROUP_KEYS) -> pl.Expr:
    """ln(x / previous x); null on the first bar or when either value is not positive."""
    earlier = expr.shift(1)
    value = (expr / earlier).log()
    return per_group(pl.when((expr > 0) & (earlier > 0)).then(value).otherwise(NULL_FLOAT), by)
