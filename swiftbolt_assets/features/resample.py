"""Weekly bars (w1) from daily bars. Pure: no Dagster.

A week is the exchange sessions of one ISO week. Its bar is final at the week's last session (by
the exchange calendar, holidays included): only weeks whose last session is on or before
``as_of`` are emitted, so a week in progress never shows a partial bar. ``ts`` is the week's
first session at 00:00 New York (bar-open convention, as for d1); ``session_date`` is the last
session (the day the bar becomes final, which decides its partition).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from swiftbolt_assets.calendar import sessions_table
from swiftbolt_assets.ingestion.resample import ohlcv_of_group
from swiftbolt_assets.settings import EXCHANGE_TIMEZONE


def week_table(exchange: str, through: date) -> pl.DataFrame:
    """Per session: its week's first and last session (calendar, not data)."""
    sessions = sessions_table(exchange, through).select("session_date")
    week = pl.col("session_date").dt.truncate("1w")
    return sessions.with_columns(
        pl.col("session_date").min().over(week).alias("week_first"),
        pl.col("session_date").max().over(week).alias("week_last"),
    )


def weekly_bars(daily: pl.DataFrame, as_of: date, exchange: str) -> pl.DataFrame:
    """w1 bars of every symbol in ``daily`` (adjusted d1 bars) for weeks complete by ``as_of``."""
    if daily.is_empty():
        return daily.clear()
    weeks = week_table(exchange, as_of)
    keyed = daily.join(weeks, on="session_date", how="inner").filter(pl.col("week_last") <= as_of)
    grouped = (
        keyed.sort("symbol", "session_date")
        .group_by("symbol", "week_first", "week_last", maintain_order=True)
        .agg(*ohlcv_of_group(), pl.col("adj_factor").last())
    )
    return grouped.select(
        "symbol",
        pl.lit("w1").alias("timeframe"),
        pl.col("week_first")
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone(EXCHANGE_TIMEZONE)
        .dt.convert_time_zone("UTC")
        .alias("ts"),
        pl.col("week_last").alias("session_date"),
        "open",
        "high",
        "low",
        "close",
        "volume",
        "adj_factor",
        "is_synthetic",
    ).sort("symbol", "ts")
