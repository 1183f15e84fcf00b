"""Volatility-scaled three-class labels and their thresholds, for any cadence. Pure: no Dagster.

A label for (symbol, bar t, horizon of h bars) classifies the forward return of the adjusted
close from the close of bar t to the close h bars later:

    threshold = NEUTRAL_Z * sigma_t * sqrt(h)        (in log-return units)
    bullish   if log return >  threshold
    bearish   if log return < -threshold
    neutral   otherwise

``sigma_t`` is the per-bar volatility known at the close of t (the cadence's annualized
volatility feature, e.g. the daily ``hv_60``: 60 log returns ending at t, de-annualized with the
cadence's bars per year: ``bar_sigma``), so the threshold uses only data before the label window.
The horizons and their lengths in bars come from the cadence (``swiftbolt_assets.cadence``).
With Gaussian returns ``NEUTRAL_Z = 0.43`` puts a third of the mass in each class. The thresholds
are stored on every forecast as simple returns (``threshold_down < 0 < threshold_up``), so an
evaluation classifies the realized simple return with exactly the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

CLASSES = ("bearish", "neutral", "bullish")
BEARISH, NEUTRAL, BULLISH = 0, 1, 2
NEUTRAL_Z = 0.43


def bar_sigma(annualized: pl.Expr, periods_per_year: int) -> pl.Expr:
    """Per-bar log-return volatility from an annualized volatility feature."""
    return annualized / math.sqrt(periods_per_year)


def threshold_exprs(sigma: pl.Expr, horizon_days: int) -> tuple[pl.Expr, pl.Expr]:
    """(threshold_down, threshold_up) as simple returns for a horizon of ``horizon_days``."""
    width = NEUTRAL_Z * sigma * math.sqrt(horizon_days)
    return (width.neg().exp() - 1.0), (width.exp() - 1.0)


def classify(realized_return: pl.Expr, down: pl.Expr, up: pl.Expr) -> pl.Expr:
    """The class index (0 bearish, 1 neutral, 2 bullish) of a simple return; null (and NaN,
    which polars would rank above every number) stays null."""
    value, low, high = (e.fill_nan(None) for e in (realized_return, down, up))
    return (
        pl.when(value.is_null() | low.is_null() | high.is_null())
        .then(None)
        .when(value > high)
        .then(pl.lit(BULLISH))
        .when(value < low)
        .then(pl.lit(BEARISH))
        .otherwise(pl.lit(NEUTRAL))
        .cast(pl.Int8)
    )


def class_names(indices: pl.Expr) -> pl.Expr:
    """Class index → ``bearish|neutral|bullish``."""
    return indices.replace_strict(list(range(len(CLASSES))), list(CLASSES), return_dtype=pl.String)


def add_labels(
    daily: pl.DataFrame,
    horizons: Mapping[str, int],
    close_column: str = "adj_close",
    *,
    order: str = "session_date",
    index: str = "bar_index",
    within_session: bool = False,
) -> pl.DataFrame:
    """Per horizon: forward return, label end, thresholds, label and persistence label.

    ``daily`` has one row per (symbol, ``order``) with ``adj_close`` (adjusted as of a date
    at or after every row, so returns across events are right) and ``sigma`` (per-bar volatility
    at that row). Rows are consecutive bars per symbol. Added columns per horizon ``h``:
    ``fwd_<h>`` (null where the window runs past the data), ``end_<h>`` (the ``order`` value of
    the bar the label window ends on: a session date for daily), ``down_<h>``/``up_<h>``,
    ``label_<h>`` and ``past_label_<h>`` (the class of the return over the h bars ending at the
    row with its thresholds: the persistence baseline); with an ``index`` column (the bar's
    calendar position) also ``end_index_<h>``.

    ``within_session`` (an intraday cadence, ``CadenceSpec.crosses_sessions`` false): a window
    must stay in the row's session and span exactly h calendar bars (``index``), else its
    forward and past returns are null: a missing bar never stretches a horizon, and the
    overnight gap never enters a 15-minute or hourly label.
    """
    ordered = daily.sort("symbol", order)
    close = pl.col(close_column)
    indexed = index in daily.columns
    exprs: list[pl.Expr] = []
    for name, bars in horizons.items():
        down, up = threshold_exprs(pl.col("sigma"), bars)
        forward = close.shift(-bars).over("symbol") / close - 1.0
        end = pl.col(order).shift(-bars).over("symbol")
        past = close / close.shift(bars).over("symbol") - 1.0
        if within_session:
            ahead, behind = _same_session(index, bars), _same_session(index, -bars)
            forward, end = (pl.when(ahead).then(e) for e in (forward, end))
            past = pl.when(behind).then(past)
        exprs += [
            forward.alias(f"fwd_{name}"),
            end.alias(f"end_{name}"),
            past.alias(f"past_{name}"),
            down.alias(f"down_{name}"),
            up.alias(f"up_{name}"),
        ]
        if indexed:
            end_index = pl.col(index).shift(-bars).over("symbol")
            if within_session:
                end_index = pl.when(_same_session(index, bars)).then(end_index)
            exprs.append(end_index.alias(f"end_index_{name}"))
    with_returns = ordered.with_columns(exprs)
    return with_returns.with_columns(
        *(
            classify(pl.col(f"fwd_{n}"), pl.col(f"down_{n}"), pl.col(f"up_{n}")).alias(f"label_{n}")
            for n in horizons
        ),
        *(
            classify(pl.col(f"past_{n}"), pl.col(f"down_{n}"), pl.col(f"up_{n}")).alias(
                f"past_label_{n}"
            )
            for n in horizons
        ),
    ).drop(*(f"past_{n}" for n in horizons))


def _same_session(index: str, bars: int) -> pl.Expr:
    """Whether the row ``bars`` rows away (per symbol; negative: before) is exactly ``bars``
    calendar bars away in ``index`` and in the same session."""
    other = pl.col(index).shift(-bars).over("symbol")
    same_day = pl.col("session_date").shift(-bars).over("symbol") == pl.col("session_date")
    return ((other - pl.col(index)) == bars).fill_null(False) & same_day.fill_null(False)
