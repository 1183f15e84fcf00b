"""Asset ``ohlc_bars`` (with its quarantine ``ohlc_rejects``): thin Dagster layer.

Read the drop folder files of the run's symbols, validate in one vectorized pass
(`batch.build_batch`), replace the run's slice in one transaction (`store.write_batch`), and
report checks and metadata.
"""

import time
from collections.abc import Iterator
from datetime import date

import dagster as dg
import polars as pl

from swiftbolt_assets.ingestion.batch import build_batch, files_for_symbols
from swiftbolt_assets.ingestion.quality import (
    Finding,
    incomplete_intraday_sessions,
    missing_daily_sessions,
    rejected_rows,
    stale_partitions,
)
from swiftbolt_assets.ingestion.resources import DropFolderResource
from swiftbolt_assets.ingestion.sectors import read_sectors, with_sector_files
from swiftbolt_assets.ingestion.store import write_batch
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.partitions import DATE_DIMENSION, SYMBOLS_PARTITION_NAME, PartitionSlice
from swiftbolt_assets.warehouse.resources import WarehouseResource

GROUP = "ingestion"
OHLC_BARS = dg.AssetKey("ohlc_bars")
OHLC_REJECTS = dg.AssetKey("ohlc_rejects")

ROWS_ADD_UP = "ohlc_bars_rows_add_up"
NO_MISSING_SESSIONS = "ohlc_bars_has_no_missing_sessions"
INTRADAY_COMPLETE = "ohlc_bars_intraday_sessions_are_complete"
FRESH = "ohlc_bars_is_fresh"
NO_REJECTS = "ohlc_rejects_has_no_rejected_rows"

CHECK_SPECS = [
    dg.AssetCheckSpec(
        ROWS_ADD_UP,
        asset=OHLC_BARS,
        blocking=True,
        description="Every input row read ends in ohlc_bars or ohlc_rejects, or belongs to "
        "another partition (nothing is dropped silently).",
    ),
    dg.AssetCheckSpec(
        NO_MISSING_SESSIONS,
        asset=OHLC_BARS,
        description="No exchange session lacks a d1 bar between a symbol's first and last bar.",
    ),
    dg.AssetCheckSpec(
        INTRADAY_COMPLETE,
        asset=OHLC_BARS,
        description="Every full intraday session has as many m15/h1 bars as its length allows.",
    ),
    dg.AssetCheckSpec(
        FRESH,
        asset=OHLC_BARS,
        description="Every (date, symbol) partition has a bar on its own session.",
    ),
    dg.AssetCheckSpec(
        NO_REJECTS,
        asset=OHLC_REJECTS,
        description="The run quarantined no input rows or files.",
    ),
]


def _check(
    name: str, finding: Finding, asset: dg.AssetKey = OHLC_BARS, *, error: bool = False
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=asset,
        passed=finding.passed,
        severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN,
        metadata={"count": finding.count, "examples": dg.MetadataValue.json(finding.examples)},
    )


def _partition_dates(context: dg.AssetExecutionContext) -> list[date]:
    partitions_def = context.assets_def.partitions_def
    if not isinstance(partitions_def, dg.MultiPartitionsDefinition):
        msg = "ohlc_bars must be partitioned by date × symbol"
        raise TypeError(msg)
    time_def = partitions_def.get_partitions_def_for_dimension(DATE_DIMENSION)
    return [date.fromisoformat(k) for k in time_def.get_partition_keys()]


def _reject_table(rejects: pl.DataFrame, limit: int = 20) -> str:
    if rejects.is_empty():
        return "No rejects."
    lines = ["| file | line | symbol | reason |", "|---|---|---|---|"]
    for row in rejects.head(limit).iter_rows(named=True):
        reason = str(row["reason"]).replace("|", "\\|")
        symbol = str(row["symbol"] or "").replace("|", "\\|")
        lines.append(f"| {row['source_file']} | {row['source_line'] or ''} | {symbol} | {reason} |")
    if rejects.height > limit:
        lines.append(f"| … | | | {rejects.height - limit} more |")
    return "\n".join(lines)


def build_ingestion_assets(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The ingestion multi-asset over ``partitions_def`` (date × symbol)."""

    @dg.multi_asset(
        name="ingest_ohlc",
        specs=[
            dg.AssetSpec(
                OHLC_BARS,
                group_name=GROUP,
                description="Raw OHLCV bars (m15, h1, d1) with split and dividend events. "
                "Partition (D, S) holds S's bars whose session falls in (previous partition, D]; "
                "the first partition holds all earlier history.",
                metadata={"warehouse_tables": "ohlc_bars, symbols"},
                kinds={"postgres", "polars"},
            ),
            dg.AssetSpec(
                OHLC_REJECTS,
                group_name=GROUP,
                description="Quarantined input rows and unreadable files, with the reason and "
                "the source file and line.",
                metadata={"warehouse_tables": "ohlc_rejects"},
                kinds={"postgres"},
            ),
        ],
        check_specs=CHECK_SPECS,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=False,
    )
    def ingest_ohlc(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        drop_folder: DropFolderResource,
        market: MarketCalendarResource,
    ) -> Iterator[dg.MaterializeResult]:  # type: ignore[type-arg]
        started = time.perf_counter()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        exchange = market.exchange
        partition_dates = _partition_dates(context)
        registered = context.instance.get_dynamic_partitions(SYMBOLS_PARTITION_NAME)
        files = files_for_symbols(drop_folder.files(), run_slice.symbols, registered)
        context.log.info(
            f"ingesting {len(run_slice.pairs)} partitions ({len(run_slice.dates)} dates × "
            f"{len(run_slice.symbols)} symbols) from {len(files)} files "
            f"in {drop_folder.directory()}"
        )
        sectors = read_sectors(drop_folder.directory())
        batch = with_sector_files(
            build_batch(files, run_slice.pairs, partition_dates, exchange, registered), sectors
        )
        compute_s = time.perf_counter() - started
        context.log.info(
            f"validated {batch.stats['rows_read']} rows in {compute_s:.2f}s: {batch.stats}"
        )
        for error in batch.rejects.filter(pl.col("source_line").is_null()).iter_rows(named=True):
            context.log.warning(f"file {error['source_file']} rejected: {error['reason']}")

        write_started = time.perf_counter()
        counts = write_batch(
            warehouse.engine(),
            batch,
            run_slice.pairs,
            context.run.run_id,
            dict(sectors.sectors.iter_rows()),
        )
        write_s = time.perf_counter() - write_started
        context.log.info(
            f"wrote {counts.bars_written} bars and {counts.rejects_written} rejects "
            f"(replaced {counts.bars_deleted} and {counts.rejects_deleted}) in {write_s:.2f}s"
        )

        bars = batch.bars
        checks_started = time.perf_counter()
        findings = {
            NO_MISSING_SESSIONS: missing_daily_sessions(bars, exchange),
            INTRADAY_COMPLETE: incomplete_intraday_sessions(bars, exchange),
            FRESH: stale_partitions(bars, run_slice.pairs),
        }
        checks_s = time.perf_counter() - checks_started
        by_timeframe = dict(bars.group_by("timeframe").len().sort("timeframe").iter_rows())
        reasons = (
            batch.rejects.with_columns(
                pl.col("reason").str.split("; ").list.first().str.replace(r":.*$", "")
            )
            .group_by("reason")
            .len()
            .sort("len", descending=True)
            .head(10)
        )
        yield dg.MaterializeResult(
            asset_key=OHLC_BARS,
            metadata={
                "dagster/row_count": counts.bars_written,
                "bars_by_timeframe": dg.MetadataValue.json(by_timeframe),
                "symbols": len(run_slice.symbols),
                "dates": len(run_slice.dates),
                "files_read": batch.stats["files_read"],
                "rows_read": batch.stats["rows_read"],
                "rows_outside_slice": batch.stats["rows_outside_slice"],
                "rows_deferred": batch.stats["rows_deferred"],
                # 1-minute rows folded into m15/h1 bars, and resampled bars a native one replaced
                "minute_rows": dg.MetadataValue.json(
                    {
                        k: batch.stats[k]
                        for k in (
                            "minute_rows_in_slice",
                            "bars_resampled_from_minutes",
                            "resampled_bars_superseded_by_native",
                        )
                    }
                ),
                "sector_rows": dg.MetadataValue.json(
                    {k: v for k, v in batch.stats.items() if k.startswith("sector_")}
                ),
                "synthetic_bars": int(bars["is_synthetic"].sum()),
                "compute_seconds": round(compute_s, 3),
                "write_seconds": round(write_s, 3),
                "checks_seconds": round(checks_s, 3),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=ROWS_ADD_UP,
                    asset_key=OHLC_BARS,
                    passed=batch.rows_add_up,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata=dict(batch.stats),
                ),
                *(_check(name, finding) for name, finding in findings.items()),
            ],
        )
        yield dg.MaterializeResult(
            asset_key=OHLC_REJECTS,
            metadata={
                # the table is the quarantine of every partition: the UI shows its size, and
                # what this run added beside it
                "dagster/row_count": counts.rejects_total,
                "rows_written_by_run": counts.rejects_written,
                "file_errors": batch.stats["file_errors"],
                "top_reasons": dg.MetadataValue.json(dict(reasons.iter_rows())),
                "preview": dg.MetadataValue.md(_reject_table(batch.rejects)),
            },
            check_results=[_check(NO_REJECTS, rejected_rows(batch.rejects), OHLC_REJECTS)],
        )

    return ingest_ohlc
