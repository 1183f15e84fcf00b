"""1-minute bars into the stored intraday timeframes (m15, h1). Pure: no Dagster.

A bucket starts at the session's open plus a whole number of bar lengths (09:30, 09:45, … for
m15; 09:30, 10:30, … for h1, whose last bucket of a full session is the half hour from 15:30),
so buckets never straddle the open, the close or two sessions, and an early close ends the last
bucket early. The bar of a bucket is the first open, the highest high, the lowest low, the last
close and the summed volume of the minutes it holds (a minute without trades has no bar in most
exports, so a bucket is not required to hold all its minutes). A bucket whose native bar of the same
timeframe also arrived (a 15-minute file beside the 1-minute one) keeps the native bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from swiftbolt_assets.calendar import sessions_table
from swiftbolt_assets.ingestion.sources import BAR_MINUTES, MINUTE_TIMEFRAME

RESAMPLED_TIMEFRAMES = ("m15", "h1")
_AGGREGATED = frozenset(
    {
        "symbol",
        "timeframe",
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "is_synthetic",
        "source_line",
    }
)


def ohlcv_of_group() -> list[pl.Expr]:
    """One bar of an ordered group of bars: first open, highest high, lowest low, last close,
    summed volume, synthetic if any part is (minute buckets here, weeks in ``features``)."""
    return [
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        pl.col("volume").sum(),
        pl.col("is_synthetic").any(),
    ]


@dataclass(frozen=True)
class Resampled:
    """The bars to store (native and resampled) and how the minute rows were used."""

    bars: pl.DataFrame
    minute_rows: int  # valid 1-minute rows consumed
    resampled: int  # bars made from them and kept
    superseded: int  # bars made from them that a native bar of the same key replaced


def resample_minutes(bars: pl.DataFrame, exchange: str) -> Resampled:
    """``bars`` (``validation.split_bars`` output) with every m1 row folded into m15 and h1."""
    minutes = bars.filter(pl.col("timeframe") == MINUTE_TIMEFRAME)
    native = bars.filter(pl.col("timeframe") != MINUTE_TIMEFRAME)
    if minutes.is_empty():
        return Resampled(native, 0, 0, 0)
    last = minutes.get_column("session_date").max()
    opens = sessions_table(exchange, last).select("session_date", "open_utc")  # type: ignore[arg-type]
    keyed = minutes.join(opens, on="session_date", how="left").sort("symbol", "ts")
    made = []
    for timeframe in RESAMPLED_TIMEFRAMES:
        length = BAR_MINUTES[timeframe]
        offset = (pl.col("ts") - pl.col("open_utc")).dt.total_minutes() // length * length
        made.append(
            keyed.with_columns((pl.col("open_utc") + pl.duration(minutes=offset)).alias("bucket"))
            .group_by("symbol", "bucket", maintain_order=True)
            .agg(
                *ohlcv_of_group(),
                pl.col("source_line").min(),
                # the rest (session, source, events, slice columns) is the bucket's first
                *[pl.col(c).first() for c in bars.columns if c not in _AGGREGATED],
            )
            .select(
                "symbol",
                pl.lit(timeframe).alias("timeframe"),
                pl.col("bucket").alias("ts"),
                *[c for c in bars.columns if c not in {"symbol", "timeframe", "ts"}],
            )
            .select(bars.columns)
        )
    resampled = pl.concat(made, how="vertical")
    kept = resampled.join(native, on=["symbol", "timeframe", "ts"], how="anti")
    combined = pl.concat([native, kept.select(native.columns)], how="vertical")
    return Resampled(combined, minutes.height, kept.height, resampled.height - kept.height)
