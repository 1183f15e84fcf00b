"""Writing an ingestion batch to the warehouse in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from swiftbolt_assets.ingestion.batch import REJECT_COLUMNS, IngestionBatch
from swiftbolt_assets.ingestion.sources import OHLCV_FIELDS
from swiftbolt_assets.warehouse.slices import Partitions, SliceWrite, Statement, write_slices

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
_UPSERT_SYMBOLS = """
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


# the sector of each of the run's symbols from the drop folder (null: no file names it)
_SET_SECTORS = """
    UPDATE symbols s SET sector = v.sector
    FROM unnest(CAST(:symbols AS text[]), CAST(:sectors AS text[])) AS v(symbol, sector)
    WHERE s.symbol = v.symbol AND s.sector IS DISTINCT FROM v.sector
"""


@dataclass(frozen=True)
class WriteCounts:
    bars_deleted: int
    bars_written: int
    rejects_deleted: int
    rejects_written: int
    rejects_total: int  # the whole table after the write (what Dagster's row count shows)


def write_batch(
    engine: sa.Engine,
    batch: IngestionBatch,
    pairs: frozenset[tuple[date, str]],
    run_id: str,
    sectors: dict[str, str] | None = None,
) -> WriteCounts:
    """Replace the run's slice of ``ohlc_bars`` and ``ohlc_rejects`` and refresh ``symbols``
    (with each run symbol's sector from ``sectors``; one ``write_slices`` transaction).

    File-scoped rejects (no partition) of every file the run read are replaced too.
    """
    scope = Partitions(pairs)
    file_level = Partitions(
        scope.pairs,
        also="partition_date IS NULL AND source_file = ANY(:files)",
        params={"files": batch.scanned_files},
    )
    symbols = sorted({s for _, s in pairs})
    counts = write_slices(
        engine,
        [
            SliceWrite("ohlc_bars", batch.bars.select(BAR_COLUMNS), scope),
            SliceWrite("ohlc_rejects", batch.rejects.select(REJECT_COLUMNS), file_level),
        ],
        run_id,
        extra=[
            Statement("symbols", _UPSERT_SYMBOLS, {"run_id": run_id, "symbols": symbols}),
            Statement(
                "symbols",
                _SET_SECTORS,
                {"symbols": symbols, "sectors": [(sectors or {}).get(s) for s in symbols]},
            ),
        ],
        totals=["ohlc_rejects"],
    )
    return WriteCounts(
        counts.deleted["ohlc_bars"],
        counts.written["ohlc_bars"],
        counts.deleted["ohlc_rejects"],
        counts.written["ohlc_rejects"],
        counts.totals["ohlc_rejects"],
    )
