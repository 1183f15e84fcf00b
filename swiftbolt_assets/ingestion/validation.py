"""Typing and validating raw OHLC rows: every row becomes a bar or a reject with its reasons.

Pure: no Dagster. One vectorized pass over all symbols and files:

1. ``type_rows`` parses the text fields (timestamps with their UTC offsets, numbers) and notes
   what could not be parsed;
2. the pandera contract ``OhlcBarSchema`` runs lazily over every typed row and its failure cases
   become reasons on the rows they name;
3. among the rows left, duplicates of (symbol, timeframe, ts) are resolved: within a file the
   first line wins, across files the most recently modified file wins;
4. ``split_bars`` returns the good bars and the rejects, each reject with all its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

import pandera.polars as pa
import polars as pl

from swiftbolt_assets.calendar import sessions_table
from swiftbolt_assets.ingestion.sources import (
    BAR_MINUTES,
    OHLCV_FIELDS,
    READABLE_TIMEFRAMES,
    SYMBOL_PATTERN,
)
from swiftbolt_assets.settings import EXCHANGE_TIMEZONE

PRICE_FIELDS = ("open", "high", "low", "close")
NUMERIC_FIELDS = OHLCV_FIELDS
_DEFAULTS = {"volume": None, "split_coefficient": 1.0, "dividend_amount": 0.0}
_TS_FORMATS_WITH_OFFSET = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M%z")
_TS_FORMATS_NAIVE = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y%m%d %H%M%S",  # NinjaTrader exports
)
_TRUE = ("true", "1", "yes")
_UTC = "UTC"


class OhlcBarSchema(pa.DataFrameModel):
    """The contract of a row of ``ohlc_bars`` (before warehouse bookkeeping columns)."""

    symbol: str = pa.Field(str_matches=SYMBOL_PATTERN, description="ticker, a partition key")
    timeframe: str = pa.Field(
        isin=list(READABLE_TIMEFRAMES),
        description="m15, h1 or d1 (m1 rows are resampled to m15/h1 before they are stored)",
    )
    ts: Annotated[pl.Datetime, "us", "UTC"] = pa.Field(
        description="bar open time (UTC); for d1 the session date at 00:00 New York",
    )
    session_date: date = pa.Field(description="exchange session the bar belongs to")
    open: float = pa.Field(gt=0, description="raw (unadjusted) open")
    high: float = pa.Field(gt=0, description="raw high")
    low: float = pa.Field(gt=0, description="raw low")
    close: float = pa.Field(gt=0, description="raw close")
    volume: float = pa.Field(ge=0, description="traded volume")
    split_coefficient: float = pa.Field(gt=0, description="split ratio on its date, else 1")
    dividend_amount: float = pa.Field(ge=0, description="cash dividend on its ex-date, else 0")

    @pa.dataframe_check
    def high_is_at_least_open_and_close(cls, data: pa.PolarsData) -> pl.LazyFrame:  # type: ignore[misc]
        return data.lazyframe.select(pl.col("high") >= pl.max_horizontal("open", "close"))

    @pa.dataframe_check
    def low_is_at_most_open_and_close(cls, data: pa.PolarsData) -> pl.LazyFrame:  # type: ignore[misc]
        return data.lazyframe.select(pl.col("low") <= pl.min_horizontal("open", "close"))

    @pa.dataframe_check
    def high_is_at_least_low(cls, data: pa.PolarsData) -> pl.LazyFrame:  # type: ignore[misc]
        return data.lazyframe.select(pl.col("high") >= pl.col("low"))

    @pa.dataframe_check
    def prices_are_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:  # type: ignore[misc]
        return data.lazyframe.select(
            pl.all_horizontal(pl.col(c).is_finite() for c in (*PRICE_FIELDS, "volume"))
        )

    class Config:
        unique = ["symbol", "timeframe", "ts"]  # noqa: RUF012 - pandera reads a class attribute
        strict = False


@dataclass(frozen=True)
class ValidatedBars:
    """Good bars (matching ``OhlcBarSchema``) and rejects (with ``reason``)."""

    bars: pl.DataFrame
    rejects: pl.DataFrame


def _parse_timestamps(raw: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(aware UTC timestamp or null, naive timestamp or null, date-only value or null)."""
    text = raw.str.strip_chars().str.replace(r"Z$", "+00:00")
    aware = pl.coalesce(
        [
            text.str.to_datetime(f, strict=False, time_unit="us", time_zone=_UTC)
            for f in _TS_FORMATS_WITH_OFFSET
        ]
    )
    naive = pl.coalesce(
        [text.str.to_datetime(f, strict=False, time_unit="us") for f in _TS_FORMATS_NAIVE]
    )
    day = pl.when(text.str.len_chars() == 10).then(text.str.to_date("%Y-%m-%d", strict=False))
    return aware, naive, day


def type_rows(raw: pl.DataFrame) -> pl.DataFrame:
    """Typed columns plus ``reason``: what could not be parsed, or null."""
    # Timestamps repeat across symbols: parse each distinct text once, then join.
    aware, naive, day = _parse_timestamps(pl.col("ts_raw"))
    parsed = (
        raw.select(pl.col("ts_raw").unique())
        .drop_nulls()
        .with_columns(aware.alias("__aware"), naive.alias("__naive"), day.alias("__day"))
    )
    frame = raw.with_row_index("row_id").join(
        parsed, on="ts_raw", how="left", maintain_order="left"
    )
    # Naive timestamps take their source's zone, when the source declares one.
    localized = pl.lit(None, dtype=pl.Datetime("us", _UTC))
    for zone in frame["naive_timezone"].drop_nulls().unique().to_list():
        localized = (
            pl.when(pl.col("naive_timezone") == zone)
            .then(
                pl.col("__naive")
                .dt.replace_time_zone(zone, non_existent="null", ambiguous="null")
                .dt.convert_time_zone(_UTC)
            )
            .otherwise(localized)
        )
    intraday = pl.col("timeframe").is_in(list(BAR_MINUTES))
    # an end-stamped bar starts one bar length earlier: ``ts`` is always the bar's start
    bar_length = pl.duration(
        minutes=pl.col("timeframe").replace_strict(BAR_MINUTES, default=0, return_dtype=pl.Int64)
    )
    start = pl.coalesce(pl.col("__aware"), localized)
    start = pl.when(pl.col("stamp") == "end").then(start - bar_length).otherwise(start)
    daily_ts = (
        pl.col("__day")
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone(EXCHANGE_TIMEZONE)
        .dt.convert_time_zone(_UTC)
    )
    ts = (
        pl.when(pl.col("timeframe") == "d1")
        .then(
            pl.coalesce(
                daily_ts,
                pl.coalesce(pl.col("__aware"), localized)
                .dt.convert_time_zone(EXCHANGE_TIMEZONE)
                .dt.truncate("1d")
                .dt.convert_time_zone(_UTC),
            )
        )
        .otherwise(start)
    )
    frame = frame.with_columns(ts.alias("ts")).with_columns(
        pl.col("ts").dt.convert_time_zone(EXCHANGE_TIMEZONE).dt.date().alias("session_date")
    )

    numeric: list[pl.Expr] = []
    reasons: list[pl.Expr] = []
    for name in NUMERIC_FIELDS:
        text = pl.col(f"{name}_raw").str.strip_chars()
        value = text.cast(pl.Float64, strict=False)
        default = _DEFAULTS.get(name)
        blank = text.is_null() | (text == "")
        if default is not None:
            value = pl.when(blank).then(pl.lit(default)).otherwise(value)
        numeric.append(value.alias(name))
        if default is None:
            reasons.append(pl.when(blank).then(pl.lit(f"{name} is missing")))
        reasons.append(
            pl.when(~blank & value.is_null()).then(
                pl.format("{} is not a number: {}", pl.lit(name), text)
            )
        )
        reasons.append(
            pl.when(value.is_nan() | value.is_infinite()).then(
                pl.format("{} is not finite: {}", pl.lit(name), text)
            )
        )
    all_blank = pl.all_horizontal(pl.col(f"{name}_raw").is_null() for name in ("ts", *PRICE_FIELDS))
    reasons = [
        pl.when(all_blank).then(pl.lit("blank line")),
        pl.when(~all_blank & pl.col("ts_raw").is_null()).then(pl.lit("timestamp is missing")),
        pl.when(
            pl.col("ts_raw").is_not_null()
            & pl.col("__aware").is_null()
            & pl.col("__naive").is_not_null()
            & pl.col("naive_timezone").is_null()
            & ~((pl.col("timeframe") == "d1") & pl.col("__day").is_not_null())
        ).then(pl.format("timestamp has no time zone: {}", pl.col("ts_raw"))),
        pl.when(
            pl.col("ts_raw").is_not_null()
            & pl.col("__aware").is_null()
            & pl.col("__naive").is_null()
            & pl.col("__day").is_null()
        ).then(pl.format("timestamp cannot be parsed: {}", pl.col("ts_raw"))),
        pl.when(intraday & pl.col("__day").is_not_null()).then(
            pl.format("intraday bar has a date but no time: {}", pl.col("ts_raw"))
        ),
        pl.when(~pl.col("timeframe").is_in(list(READABLE_TIMEFRAMES))).then(
            pl.format("unknown timeframe '{}'", pl.col("timeframe"))
        ),
        pl.when(pl.col("gap_raw").str.strip_chars().str.to_lowercase().is_in(list(_TRUE))).then(
            pl.format(
                "a filler copy of the previous bar, not a traded bar (gap flag {})", "gap_raw"
            )
        ),
        *reasons,
    ]
    frame = (
        frame.with_columns(*numeric)
        .with_columns(pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias("reason"))
        .with_columns(pl.when(pl.col("reason") != "").then(pl.col("reason")).alias("reason"))
    )
    return frame.with_columns(
        pl.when(pl.col("reason").is_not_null())
        .then(pl.lit(None, dtype=pl.Datetime("us", _UTC)))
        .otherwise(pl.col("ts"))
        .alias("ts")
    ).drop("__aware", "__naive", "__day")


def _session_reasons(frame: pl.DataFrame, exchange: str) -> pl.Series:
    """Reason for rows whose session date is not a session of ``exchange``, or whose intraday
    bar does not start within the session's regular hours (pre- and post-market bars: the
    cadences forecast the regular session only), else null."""
    dates = frame["session_date"].drop_nulls()
    if dates.is_empty():
        return pl.Series("session_reason", [None] * frame.height, dtype=pl.String)
    last: date = dates.max()  # type: ignore[assignment]
    sessions = sessions_table(exchange, last)
    local = "%H:%M"
    hours = pl.format(
        "{}-{}",
        pl.col("open_utc").dt.convert_time_zone(EXCHANGE_TIMEZONE).dt.strftime(local),
        pl.col("close_utc").dt.convert_time_zone(EXCHANGE_TIMEZONE).dt.strftime(local),
    )
    keyed = frame.select("session_date", "ts", "timeframe").join(
        sessions, on="session_date", how="left", maintain_order="left"
    )
    intraday = pl.col("timeframe").is_in(list(BAR_MINUTES))
    return keyed.select(
        pl.when(pl.col("session_date").is_not_null() & pl.col("open_utc").is_null())
        .then(pl.format("{} is not a {} session", pl.col("session_date"), pl.lit(exchange)))
        .when(
            intraday
            & pl.col("ts").is_not_null()
            & ((pl.col("ts") < pl.col("open_utc")) | (pl.col("ts") >= pl.col("close_utc")))
        )
        .then(
            pl.format(
                "extended-hours bar at {} New York: outside the regular session ({})",
                pl.col("ts").dt.convert_time_zone(EXCHANGE_TIMEZONE).dt.strftime(local),
                hours,
            )
        )
        .alias("session_reason")
    )["session_reason"]


def _schema_reasons(typed: pl.DataFrame) -> pl.DataFrame:
    """Run the pandera contract lazily (uniqueness aside) and return (row_id, reason) rows."""
    schema = OhlcBarSchema.to_schema()
    schema.unique = None
    candidate = typed.select(["row_id", *schema.columns])
    empty = pl.DataFrame(schema={"row_id": pl.UInt32, "schema_reason": pl.String})
    try:
        schema.validate(candidate, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases.filter(
            pl.col("index").is_not_null()
            # a value that failed to parse already says why; pandera's null check would repeat it
            & (pl.col("check") != "not_nullable")
        )
    else:
        return empty
    if cases.is_empty():
        return empty
    described = cases.select(
        candidate["row_id"].gather(cases["index"].cast(pl.UInt32)).alias("row_id"),
        pl.when(pl.col("schema_context") == "Column")
        .then(
            pl.format(
                "{} fails {} (value {})", pl.col("column"), pl.col("check"), pl.col("failure_case")
            )
        )
        .otherwise(pl.col("check").str.replace_all("_", " "))
        .alias("schema_reason"),
    )
    grouped: pl.DataFrame = described.group_by("row_id").agg(pl.col("schema_reason").str.join("; "))
    return grouped


def _duplicate_reasons(valid: pl.DataFrame) -> pl.DataFrame:
    """(row_id, dup_reason) for valid rows whose (symbol, timeframe, ts) another row also has.

    The winner is the row of the most recently modified file, then the first path, then the
    first line.
    """
    key = ["symbol", "timeframe", "ts"]
    dups = valid.filter(pl.struct(key).is_duplicated())
    if dups.is_empty():
        return pl.DataFrame(schema={"row_id": pl.UInt32, "dup_reason": pl.String})
    ranked = dups.sort(
        [*key, "file_mtime_ns", "source_file", "source_line"],
        descending=[False, False, False, True, False, False],
    ).with_columns(
        pl.col("source_file").first().over(key).alias("win_file"),
        pl.col("source_line").first().over(key).alias("win_line"),
    )
    return ranked.select(
        "row_id",
        pl.when(
            (pl.col("source_file") == pl.col("win_file"))
            & (pl.col("source_line") != pl.col("win_line"))
        )
        .then(pl.format("duplicate bar: same timestamp as line {}", pl.col("win_line")))
        .when(pl.col("source_file") != pl.col("win_file"))
        .then(
            pl.format(
                "duplicate bar: superseded by {} line {} (newer file)",
                pl.col("win_file"),
                pl.col("win_line"),
            )
        )
        .alias("dup_reason"),
    ).filter(pl.col("dup_reason").is_not_null())


def split_bars(raw: pl.DataFrame, exchange: str) -> ValidatedBars:
    """Type, validate and de-duplicate ``raw`` rows (see the module docstring)."""
    typed = type_rows(raw)
    typed = typed.with_columns(_session_reasons(typed, exchange)).with_columns(
        pl.concat_str(["reason", "session_reason"], separator="; ", ignore_nulls=True)
        .replace("", None)
        .alias("reason")
    )
    schema_reasons = _schema_reasons(typed.filter(pl.col("reason").is_null()))
    if not schema_reasons.is_empty():
        typed = typed.join(schema_reasons, on="row_id", how="left").with_columns(
            pl.coalesce("reason", "schema_reason").alias("reason")
        )
    dup_reasons = _duplicate_reasons(typed.filter(pl.col("reason").is_null()))
    if not dup_reasons.is_empty():
        typed = typed.join(dup_reasons, on="row_id", how="left").with_columns(
            pl.coalesce("reason", "dup_reason").alias("reason")
        )
    good = typed.filter(pl.col("reason").is_null())
    bad = typed.filter(pl.col("reason").is_not_null())
    bars = good.select(
        "symbol",
        "timeframe",
        "ts",
        "session_date",
        *NUMERIC_FIELDS,
        "is_synthetic",
        "source_name",
        "source_file",
        "source_line",
    )
    rejects = bad.select(
        "symbol",
        "timeframe",
        "session_date",
        "source_file",
        "source_line",
        "reason",
        # the gap flag says itself in the reason; the record keeps the bar's own fields
        pl.struct(pl.col(r"^.*_raw$").exclude("gap_raw")).struct.json_encode().alias("raw_record"),
    ).sort("source_file", "source_line")
    return ValidatedBars(bars=bars, rejects=rejects)
