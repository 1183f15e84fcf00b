"""Data-quality measures of an ingestion run's bars (pure; the asset turns them into checks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from swiftbolt_assets.calendar import sessions_table
from swiftbolt_assets.ingestion.sources import BAR_MINUTES, INTRADAY_TIMEFRAMES

# the stored intraday timeframes and their bar lengths (m1 is never stored)
_BAR_MINUTES = {tf: BAR_MINUTES[tf] for tf in INTRADAY_TIMEFRAMES}


@dataclass(frozen=True)
class Finding:
    """A check's verdict with the numbers behind it."""

    passed: bool
    count: int
    examples: list[str]


def _examples(frame: pl.DataFrame, expr: pl.Expr, limit: int = 10) -> list[str]:
    return frame.select(expr.alias("example")).head(limit)["example"].to_list()


def missing_daily_sessions(bars: pl.DataFrame, exchange: str) -> Finding:
    """Sessions without a d1 bar between each symbol's first and last d1 bar of the run."""
    daily = bars.filter(pl.col("timeframe") == "d1")
    if daily.is_empty():
        return Finding(True, 0, [])
    last: date = daily["session_date"].max()  # type: ignore[assignment]
    sessions = sessions_table(exchange, last)["session_date"]
    spans = daily.group_by("symbol").agg(
        pl.col("session_date").min().alias("first"),
        pl.col("session_date").max().alias("last"),
        pl.col("session_date").n_unique().alias("present"),
    )
    spans = spans.with_columns(
        (
            sessions.search_sorted(spans["last"], side="right")
            - sessions.search_sorted(spans["first"], side="left")
        ).alias("expected")
    ).with_columns((pl.col("expected") - pl.col("present")).alias("missing"))
    gaps = spans.filter(pl.col("missing") > 0).sort("missing", descending=True)
    total = int(gaps["missing"].sum()) if not gaps.is_empty() else 0
    return Finding(
        total == 0,
        total,
        _examples(gaps, pl.format("{}: {} missing of {}", "symbol", "missing", "expected")),
    )


def incomplete_intraday_sessions(bars: pl.DataFrame, exchange: str) -> Finding:
    """Intraday sessions with fewer bars than the session's length allows.

    The first and last session of each (symbol, timeframe) in the run are skipped: exports and
    live feeds often start or end mid-session.
    """
    intraday = bars.filter(pl.col("timeframe").is_in(list(_BAR_MINUTES)))
    if intraday.is_empty():
        return Finding(True, 0, [])
    last: date = intraday["session_date"].max()  # type: ignore[assignment]
    sessions = sessions_table(exchange, last).with_columns(
        ((pl.col("close_utc") - pl.col("open_utc")).dt.total_minutes()).alias("minutes")
    )
    counts = (
        intraday.group_by("symbol", "timeframe", "session_date")
        .agg(pl.len().alias("bars"))
        .with_columns(
            pl.col("session_date").min().over("symbol", "timeframe").alias("first"),
            pl.col("session_date").max().over("symbol", "timeframe").alias("last"),
        )
        .filter(
            (pl.col("session_date") > pl.col("first")) & (pl.col("session_date") < pl.col("last"))
        )
        .join(sessions.select("session_date", "minutes"), on="session_date", how="left")
        .with_columns(
            (
                pl.col("minutes")
                / pl.col("timeframe").replace_strict(_BAR_MINUTES, return_dtype=pl.Float64)
            )
            .ceil()
            .cast(pl.Int64)
            .alias("expected")
        )
    )
    short = counts.filter(pl.col("bars") < pl.col("expected")).sort("symbol", "session_date")
    return Finding(
        short.is_empty(),
        short.height,
        _examples(
            short,
            pl.format(
                "{} {} {}: {} of {} bars", "symbol", "timeframe", "session_date", "bars", "expected"
            ),
        ),
    )


def stale_partitions(bars: pl.DataFrame, pairs: frozenset[tuple[date, str]]) -> Finding:
    """(date, symbol) partitions of the run without a bar on that date's session."""
    expected = pl.DataFrame(
        sorted(pairs), schema={"session_date": pl.Date, "symbol": pl.String}, orient="row"
    )
    present = bars.select("session_date", "symbol").unique()
    missing = expected.join(present, on=["session_date", "symbol"], how="anti").sort(
        "session_date", "symbol"
    )
    return Finding(
        missing.is_empty(),
        missing.height,
        _examples(missing, pl.format("{}|{}", "session_date", "symbol")),
    )


def rejected_rows(rejects: pl.DataFrame) -> Finding:
    """The run's quarantined rows and files, each example naming where it came from and why:
    ``SYMBOL TIMEFRAME FILE line N: REASON`` (``FILE: REASON`` for a file-scoped reject)."""
    where = pl.concat_str(
        [
            pl.col("symbol").fill_null(""),
            pl.col("timeframe").fill_null(""),
            pl.col("source_file"),
        ],
        separator=" ",
    ).str.strip_chars()
    line = pl.when(pl.col("source_line").is_not_null()).then(
        pl.format(" line {}", pl.col("source_line"))
    )
    example = pl.concat_str([where, line.fill_null(""), pl.lit(": "), pl.col("reason")])
    return Finding(rejects.is_empty(), rejects.height, _examples(rejects, example))
