"""Sectors of the symbols from the drop folder's ``constituents.csv`` files. Pure: no Dagster.

Layout (that of ``../shared/data/sp500_daily/constituents.csv``): a header with ``Symbol`` and
``Sector`` (any case, surrounding spaces and a byte-order mark ignored; other columns such as
``Name`` are ignored), one row per symbol. Any file named ``constituents.csv`` anywhere under the
drop folder counts (bar discovery skips that name). Sectors are optional: a symbol no file names
has none (null), and the forecasts' sector-relative input is null for it.

A row is rejected, with its file, line and reason, when its symbol is not a valid symbol, its
sector is empty, or another row names the same symbol with another sector (both rows: which one
is right cannot be told), or repeats an earlier row. Rows read = rows kept + rows rejected; a file
without the two columns, or one that cannot be read as CSV, is rejected whole, and the run goes
on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from swiftbolt_assets.ingestion.batch import REJECT_COLUMNS, IngestionBatch
from swiftbolt_assets.ingestion.sources import SECTORS_FILE, SYMBOL_PATTERN

_REJECT_SCHEMA = {"source_file": pl.String, "source_line": pl.Int32, "reason": pl.String}


@dataclass(frozen=True)
class Sectors:
    """``sectors`` (symbol, sector), the rows ``rejected`` (source_file, source_line, reason;
    line null for a whole file), the ``files`` read and the data ``rows_read``."""

    sectors: pl.DataFrame
    rejected: pl.DataFrame
    files: list[str]
    rows_read: int


def sector_files(drop_dir: Path) -> list[Path]:
    return sorted(p for p in drop_dir.rglob(SECTORS_FILE) if p.is_file())


def _read_one(path: Path, relpath: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows with symbol, sector, source_file, source_line) and whole-file rejects."""
    try:
        raw = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, OSError) as error:  # empty, ragged, unreadable
        reason = f"unreadable: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        return pl.DataFrame(), pl.DataFrame(
            [(relpath, None, reason)], schema=_REJECT_SCHEMA, orient="row"
        )
    columns = {c.strip().lstrip("\ufeff").lower(): c for c in raw.columns}
    if "symbol" not in columns or "sector" not in columns:
        reason = f"no Symbol and Sector columns in the header {raw.columns}"
        return pl.DataFrame(), pl.DataFrame(
            [(relpath, None, reason)], schema=_REJECT_SCHEMA, orient="row"
        )
    rows = raw.select(
        pl.col(columns["symbol"]).str.strip_chars().alias("symbol"),
        pl.col(columns["sector"]).str.strip_chars().alias("sector"),
        pl.lit(relpath).alias("source_file"),
        # line 1 is the header
        (pl.int_range(pl.len(), dtype=pl.Int32) + 2).alias("source_line"),
    )
    return rows, pl.DataFrame(schema=_REJECT_SCHEMA)


def read_sectors(drop_dir: Path) -> Sectors:
    """Every ``constituents.csv`` under ``drop_dir``, validated (see the module)."""
    paths = sector_files(drop_dir)
    parts = [_read_one(p, p.relative_to(drop_dir).as_posix()) for p in paths]
    rows = [r for r, _ in parts if not r.is_empty()]
    file_rejects = [f for _, f in parts]
    empty = pl.DataFrame(
        schema={
            "symbol": pl.String,
            "sector": pl.String,
            "source_file": pl.String,
            "source_line": pl.Int32,
        }
    )
    frame = pl.concat(rows) if rows else empty
    named = pl.when(pl.col("sector").fill_null("") != "").then(pl.col("sector"))
    sectors_per_symbol = named.drop_nulls().n_unique().over("symbol")
    checked = frame.with_columns(
        pl.when(~pl.col("symbol").fill_null("").str.contains(SYMBOL_PATTERN))
        .then(pl.format("invalid symbol {}", pl.col("symbol").fill_null("(empty)")))
        .when(pl.col("sector").fill_null("") == "")
        .then(pl.lit("empty sector"))
        .when(sectors_per_symbol > 1)
        .then(pl.format("conflicting sectors for {}", pl.col("symbol")))
        .otherwise(None)
        .alias("reason")
    )
    # a valid row after the first valid one of its symbol repeats it
    repeats = pl.int_range(pl.len()).over(["symbol", pl.col("reason").is_null()]) > 0
    checked = checked.with_columns(
        pl.when(pl.col("reason").is_null() & repeats)
        .then(pl.format("duplicate row for {}", pl.col("symbol")))
        .otherwise(pl.col("reason"))
        .alias("reason")
    )
    kept = checked.filter(pl.col("reason").is_null())
    rejected = pl.concat(
        [
            *file_rejects,
            checked.filter(pl.col("reason").is_not_null()).select(list(_REJECT_SCHEMA)),
        ]
    )
    return Sectors(
        sectors=kept.select("symbol", "sector").sort("symbol"),
        rejected=rejected,
        files=[p.relative_to(drop_dir).as_posix() for p in paths],
        rows_read=frame.height,
    )


def with_sector_files(batch: IngestionBatch, sectors: Sectors) -> IngestionBatch:
    """``batch`` with the sector files among its scanned files (so their earlier rejects are
    replaced) and their rejected rows among its file-scoped rejects."""
    rejects = sectors.rejected.select(
        pl.lit(None, dtype=pl.Date).alias("partition_date"),
        pl.lit(None, dtype=pl.String).alias("symbol"),
        pl.lit(None, dtype=pl.String).alias("timeframe"),
        pl.lit(None, dtype=pl.Date).alias("session_date"),
        "source_file",
        "source_line",
        "reason",
        pl.lit(None, dtype=pl.String).alias("raw_record"),
    )
    return IngestionBatch(
        bars=batch.bars,
        rejects=pl.concat([batch.rejects, rejects.select(REJECT_COLUMNS)], how="vertical_relaxed"),
        scanned_files=sorted({*batch.scanned_files, *sectors.files}),
        stats=batch.stats
        | {
            "sector_rows_read": sectors.rows_read,
            "sector_rows_kept": sectors.sectors.height,
            "sector_rows_rejected": sectors.rejected.filter(
                pl.col("source_line").is_not_null()
            ).height,
        },
    )
