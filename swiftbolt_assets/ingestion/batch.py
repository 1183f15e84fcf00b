"""One ingestion run's rows: which files it reads, which bars and rejects fall in its slice.

Pure: no Dagster. The asset passes the run's (partition date, symbol) pairs and the partition
dates that exist; everything here is one vectorized pass over all symbols of the run.

Accounting (what a test and the ``ohlc_bars_rows_add_up`` check verify): every data row read
is exactly one of
- a bar of this run's slice (a 1-minute row counts here: it is folded into the m15 and h1 bars
  the run stores, ``resample``), or a reject of this run's slice;
- outside the slice (another partition's row: its own run writes it);
- deferred (its session is after the last partition that exists: it waits for its day);
- a file-scoped reject (no usable session date, no valid symbol, or a symbol that is no
  registered partition because its files gave no valid bar), replaced by every run that reads
  its file.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from swiftbolt_assets.calendar import with_partition_dates
from swiftbolt_assets.ingestion.parsing import parse_files
from swiftbolt_assets.ingestion.resample import resample_minutes
from swiftbolt_assets.ingestion.sources import SYMBOL_PATTERN, SourceFile
from swiftbolt_assets.ingestion.validation import split_bars

REJECT_COLUMNS = (
    "partition_date",
    "symbol",
    "timeframe",
    "session_date",
    "source_file",
    "source_line",
    "reason",
    "raw_record",
)


@dataclass(frozen=True)
class IngestionBatch:
    """What one run writes, and how every row it read is accounted for."""

    bars: pl.DataFrame
    rejects: pl.DataFrame
    scanned_files: list[str]
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def rows_add_up(self) -> bool:
        s = self.stats
        return s["rows_read"] == (
            s["bars_in_slice"]
            + s["row_rejects_in_slice"]
            + s["file_scoped_row_rejects"]
            + s["rows_outside_slice"]
            + s["rows_deferred"]
        )


_valid_symbol = pl.col("symbol").fill_null("").str.contains(SYMBOL_PATTERN)


def files_for_symbols(
    files: list[SourceFile], symbols: list[str], registered: Collection[str] | None = None
) -> list[SourceFile]:
    """Files of ``symbols``, plus files no symbol partition can request: a name that yields no
    valid symbol, or a symbol that is not ``registered`` (the sensor registers a symbol only once
    a file of it gives a valid bar). Every run reports those."""
    wanted = set(symbols)
    known = None if registered is None else set(registered)
    return [
        f
        for f in files
        if f.symbol in wanted
        or not f.has_valid_symbol
        or (known is not None and f.symbol not in known)
    ]


def _slice_frame(pairs: frozenset[tuple[date, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        sorted(pairs), schema={"partition_date": pl.Date, "symbol": pl.String}, orient="row"
    )


def _assign(
    frame: pl.DataFrame, partition_dates: list[date], registered: Collection[str] | None = None
) -> pl.DataFrame:
    """Add ``partition_date`` to rows with a session date and a valid (registered) symbol;
    the others are ``file_scoped``, with a null ``partition_date``."""
    eligible = pl.col("session_date").is_not_null() & _valid_symbol
    if registered is not None:
        eligible = eligible & pl.col("symbol").is_in(list(registered))
    frame = frame.with_columns((~eligible).alias("file_scoped"))
    dated = frame.filter(~pl.col("file_scoped"))
    undated = frame.filter(pl.col("file_scoped")).with_columns(
        pl.lit(None, dtype=pl.Date).alias("partition_date")
    )
    if dated.is_empty():
        return undated
    return pl.concat([with_partition_dates(dated, partition_dates), undated], how="vertical")


def build_batch(
    files: list[SourceFile],
    pairs: frozenset[tuple[date, str]],
    partition_dates: list[date],
    exchange: str,
    registered: Collection[str] | None = None,
) -> IngestionBatch:
    """Parse, validate and slice ``files`` for the run covering ``pairs``.

    ``registered``: the symbols that are partitions (``None``: every valid symbol). Rejected rows
    of other symbols belong to no partition: they are file-scoped. Their valid bars, if any, wait
    for their symbol's own run (counted outside the slice).
    """
    parsed = parse_files(files)
    validated = split_bars(parsed.rows, exchange)
    slice_keys = _slice_frame(pairs)
    last_partition = max(partition_dates) if partition_dates else None

    bars = _assign(validated.bars, partition_dates)
    bars_in = bars.join(slice_keys, on=["partition_date", "symbol"], how="semi")

    rejects = _assign(validated.rejects, partition_dates, registered)
    file_scoped = rejects.filter(pl.col("file_scoped"))
    rejects_in = rejects.join(slice_keys, on=["partition_date", "symbol"], how="semi")

    def deferred(frame: pl.DataFrame) -> int:
        if last_partition is None:
            return 0
        return frame.filter(
            ~pl.col("file_scoped")
            & pl.col("partition_date").is_null()
            & (pl.col("session_date") > last_partition)
        ).height

    file_errors = parsed.file_errors.with_columns(
        pl.lit(None, dtype=pl.Date).alias("partition_date"),
        pl.lit(None, dtype=pl.Date).alias("session_date"),
        pl.lit(None, dtype=pl.Int32).alias("source_line"),
        pl.lit(None, dtype=pl.String).alias("raw_record"),
    )
    all_rejects = pl.concat(
        [
            rejects_in.select(REJECT_COLUMNS),
            file_scoped.select(REJECT_COLUMNS),
            file_errors.select(REJECT_COLUMNS),
        ],
        how="vertical",
    ).sort("source_file", "source_line", nulls_last=False)

    rows_deferred = deferred(bars) + deferred(rejects)
    outside = sum(
        frame.filter(pl.col("partition_date").is_not_null())
        .join(slice_keys, on=["partition_date", "symbol"], how="anti")
        .height
        for frame in (bars, rejects)
    )
    stored = resample_minutes(bars_in, exchange)
    stats = {
        "files_read": parsed.files_read,
        "file_errors": parsed.file_errors.height,
        "rows_read": parsed.rows.height,
        "bars_in_slice": bars_in.height,
        "row_rejects_in_slice": rejects_in.height,
        "file_scoped_row_rejects": file_scoped.height,
        "rows_deferred": rows_deferred,
        "rows_outside_slice": outside,
        "minute_rows_in_slice": stored.minute_rows,
        "bars_resampled_from_minutes": stored.resampled,
        "resampled_bars_superseded_by_native": stored.superseded,
    }
    return IngestionBatch(
        bars=stored.bars.sort("symbol", "timeframe", "ts"),
        rejects=all_rejects,
        scanned_files=sorted(f.relpath for f in files),
        stats=stats,
    )
