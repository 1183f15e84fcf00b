"""Writing an ingestion batch to the warehouse in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from swiftbolt_assets.ingestion.batch import REJECT_COLUMNS, IngestionBatch
from swiftbolt_assets.ingestion.sources import OHLCV_FIELDS
from swiftbolt_assets.warehouse.slices import copy_frame, delete_slice, lock_tables, stage_slice

BAR_COLUMNS = (
    "symbol",
    "timeframe",
    "ts",
    "session_date",
    "partition_date",
    *OHLCV_FIELDS,
    "is_synthetic",
    "source_name",
    "source_file",
    "source_line",
)
TABLES = ("ohlc_bars", "ohlc_rejects", "symbols")

_UPSERT_SYMBOLS = sa.text(
    """
    INSERT INTO symbols (symbol, is_synthetic, first_session, last_session, bar_count, sources,
                         run_id)
    SELECT symbol, bool_or(is_synthetic), min(session_date), max(session_date), count(*),
           string_agg(DISTINCT source_name, ',' ORDER BY source_name), :run_id
    FROM ohlc_bars
    WHERE symbol = ANY(:symbols)
    GROUP BY symbol
    ON CONFLICT (symbol) DO UPDATE SET
        is_synthetic = EXCLUDED.is_synthetic,
        first_session = EXCLUDED.first_session,
        last_session = EXCLUDED.last_session,
        bar_count = EXCLUDED.bar_count,
        sources = EXCLUDED.sources,
        run_id = EXCLUDED.run_id,
        updated_at = now()
    """
)


@dataclass(frozen=True)
class WriteCounts:
    bars_deleted: int
    bars_written: int
    rejects_deleted: int
    rejects_written: int
    rejects_total: int  # the whole table after the write (what Dagster's row count shows)


def write_batch(
    engine: sa.Engine, batch: IngestionBatch, pairs: frozenset[tuple[object, str]], run_id: str
) -> WriteCounts:
    """Replace the run's slice of ``ohlc_bars`` and ``ohlc_rejects`` and refresh ``symbols``.

    File-scoped rejects (no partition) of every file the run read are replaced too.
    """
    bars = batch.bars.select(BAR_COLUMNS).with_columns(pl.lit(run_id).alias("run_id"))
    rejects = batch.rejects.select(REJECT_COLUMNS).with_columns(pl.lit(run_id).alias("run_id"))
    symbols = sorted({s for _, s in pairs})
    with engine.begin() as conn:
        lock_tables(conn, TABLES)
        stage_slice(conn, pairs)  # type: ignore[arg-type]
        bars_deleted = delete_slice(conn, "ohlc_bars")
        rejects_deleted = delete_slice(conn, "ohlc_rejects")
        rejects_deleted += conn.execute(
            sa.text(
                "DELETE FROM ohlc_rejects WHERE partition_date IS NULL "
                "AND source_file = ANY(:files)"
            ),
            {"files": batch.scanned_files},
        ).rowcount
        bars_written = copy_frame(conn, "ohlc_bars", bars)
        rejects_written = copy_frame(conn, "ohlc_rejects", rejects)
        conn.execute(_UPSERT_SYMBOLS, {"run_id": run_id, "symbols": symbols})
        rejects_total = conn.execute(sa.text("SELECT count(*) FROM ohlc_rejects")).scalar_one()
    return WriteCounts(bars_deleted, bars_written, rejects_deleted, rejects_written, rejects_total)
