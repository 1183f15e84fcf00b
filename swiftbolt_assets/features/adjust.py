"""Split- and dividend-adjusted prices as of a date (point in time). Pure: no Dagster.

Prices are stored raw with their events (``split_coefficient`` and ``dividend_amount`` on the
d1 row of the event's date). Adjusting as of ``as_of`` uses only events on or before it, so a
later split never rewrites what was knowable then. Each event contributes a factor applied to
every bar before its date:

    split s:       1 / s                      (prices), s (volumes)
    dividend d:    1 - d / previous close     (prices; the close before the ex-date, in the
                                               ex-date's share terms)

The adjusted value of a bar is its raw value times the product of the factors of the events
after it (up to ``as_of``). This is the CRSP-style method; on the sp500 files it reproduces the
vendor's ``adjusted_close`` (see the tests for the agreement).
"""

from __future__ import annotations

from datetime import date

import polars as pl

PRICE_COLUMNS = ("open", "high", "low", "close")


def event_factors(bars: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Per (symbol, event date): ``price_factor`` and ``volume_factor`` of that date's events."""
    daily = bars.filter((pl.col("timeframe") == "d1") & (pl.col("session_date") <= as_of)).sort(
        "symbol", "session_date"
    )
    prev_close = pl.col("close").shift(1).over("symbol")
    events = daily.with_columns(prev_close.alias("prev_close")).filter(
        (pl.col("split_coefficient") != 1.0) | (pl.col("dividend_amount") > 0)
    )
    split = pl.col("split_coefficient")
    dividend_factor = (
        pl.when((pl.col("dividend_amount") > 0) & (pl.col("prev_close") > 0))
        .then(1.0 - pl.col("dividend_amount") * split / pl.col("prev_close"))
        .otherwise(1.0)
    )
    return events.select(
        "symbol",
        pl.col("session_date").alias("event_date"),
        ((1.0 / split) * dividend_factor.clip(lower_bound=1e-6)).alias("price_factor"),
        split.alias("volume_factor"),
    )


def adjust_as_of(bars: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """``bars`` (any timeframes, many symbols) with prices and volume adjusted as of ``as_of``.

    Adds ``adj_factor`` (the price factor applied). Bars after ``as_of`` are dropped: nothing
    after the as-of date may be used.
    """
    kept = bars.filter(pl.col("session_date") <= as_of)
    events = event_factors(kept, as_of)
    if events.is_empty():
        return kept.with_columns(pl.lit(1.0).alias("adj_factor"))
    # Suffix products: the factor for a bar is the product over events strictly after it.
    suffix = events.sort("symbol", "event_date", descending=[False, True]).with_columns(
        pl.col("price_factor").cum_prod().over("symbol").alias("price_after"),
        pl.col("volume_factor").cum_prod().over("symbol").alias("volume_after"),
    )
    keyed = (
        kept.with_row_index("__order")
        .sort("session_date")
        .join_asof(
            suffix.select("symbol", "event_date", "price_after", "volume_after").sort("event_date"),
            left_on="session_date",
            right_on="event_date",
            by="symbol",
            strategy="forward",
            allow_exact_matches=False,
            check_sortedness=False,  # sorted by session_date above, which join_asof needs
        )
        .sort("__order")
        .drop("__order", "event_date")
    )
    factor = pl.col("price_after").fill_null(1.0)
    return keyed.with_columns(
        *(pl.col(c) * factor for c in PRICE_COLUMNS),
        pl.col("volume") * pl.col("volume_after").fill_null(1.0),
        factor.alias("adj_factor"),
    ).drop("price_after", "volume_after")
