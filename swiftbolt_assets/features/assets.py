"""Asset ``features``: thin Dagster layer over `build.build_features`.

Partition (D, S) holds the feature rows of S's bars in ``ohlc_bars`` partition (D, S) (and the
weekly rows of weeks that end in it), computed as of the close of D. A run reads only the
lookback window it needs from the warehouse (the first partition, the initial load, reads all
history), builds all its symbols in one pass per distinct as-of date, and replaces its slice in
one transaction.
"""

import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date

import dagster as dg
import polars as pl

from swiftbolt_assets.calendar import sessions_between, with_partition_dates
from swiftbolt_assets.features.build import (
    DAILY_LOOKBACK_SESSIONS,
    INTRADAY_LOOKBACK_SESSIONS,
    build_features,
    plan_as_of,
)
from swiftbolt_assets.features.schema import non_finite_counts, validate_features
from swiftbolt_assets.features.spec import FEATURE_COLUMNS, KEY_COLUMNS
from swiftbolt_assets.features.store import read_bars, write_features
from swiftbolt_assets.ingestion.assets import OHLC_BARS
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.partitions import DATE_DIMENSION, PartitionSlice
from swiftbolt_assets.warehouse.resources import WarehouseResource

GROUP = "features"
# Symbols built (and written) per chunk: bounds memory (measured 7.1 GiB for all 504 at once).
CHUNK_SYMBOLS = 64
_VALUE_COLUMNS = FEATURE_COLUMNS[len(KEY_COLUMNS) :]  # a feature row but its keys
FEATURES = dg.AssetKey("features")
NO_INFINITE = "features_have_no_infinite_values"


def _lookback_start(exchange: str, first_run_date: date, sessions: int) -> date:
    """The session ``sessions`` sessions before ``first_run_date`` (calendar-based)."""
    window = sessions_between(exchange, date(1990, 1, 2), first_run_date)
    return window[max(0, len(window) - 1 - sessions)]


def build_features_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    time_def = partitions_def.get_partitions_def_for_dimension(DATE_DIMENSION)

    @dg.asset(
        name="features",
        group_name=GROUP,
        partitions_def=partitions_def,
        deps=[OHLC_BARS],
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(
                NO_INFINITE,
                asset=FEATURES,
                blocking=True,
                description="No feature value is infinite or NaN (undefined values are null).",
            )
        ],
        description="Every indicator once per (symbol, timeframe, bar) for d1, w1, h1, m15, on "
        "split- and dividend-adjusted prices as of the partition date. Reads a bounded "
        f"lookback: {DAILY_LOOKBACK_SESSIONS} d1 sessions, {INTRADAY_LOOKBACK_SESSIONS} "
        "intraday sessions (all history for the first partition).",
        metadata={"warehouse_tables": "features"},
        kinds={"postgres", "polars"},
    )
    def features(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        market: MarketCalendarResource,
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.perf_counter()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        exchange = market.exchange
        partition_dates = [date.fromisoformat(k) for k in time_def.get_partition_keys()]
        first_date, last_date = run_slice.dates[0], run_slice.dates[-1]
        if first_date == partition_dates[0]:
            daily_from = intraday_from = date(1900, 1, 1)
        else:
            daily_from = _lookback_start(exchange, first_date, DAILY_LOOKBACK_SESSIONS)
            intraday_from = _lookback_start(exchange, first_date, INTRADAY_LOOKBACK_SESSIONS)
        engine = warehouse.engine()
        bars = read_bars(engine, run_slice.symbols, last_date, daily_from, intraday_from)
        read_s = time.perf_counter() - started
        context.log.info(
            f"read {bars.height} bars of {len(run_slice.symbols)} symbols "
            f"(d1 from {daily_from}, intraday from {intraday_from}) in {read_s:.2f}s"
        )

        events = bars.filter(
            (pl.col("timeframe") == "d1")
            & ((pl.col("split_coefficient") != 1.0) | (pl.col("dividend_amount") > 0))
        )
        event_dates: dict[str, list[date]] = defaultdict(list)
        for symbol, day in events.select("symbol", "session_date").iter_rows():
            event_dates[symbol].append(day)
        plan = plan_as_of(run_slice.pairs, event_dates)
        timings = {"compute": 0.0, "write": 0.0}
        stats: dict[str, dict[str, int]] = {
            "by_timeframe": defaultdict(int),
            "non_finite": defaultdict(int),
        }

        def chunks() -> Iterator[pl.DataFrame]:
            """Validated rows, CHUNK_SYMBOLS symbols at a time (bounded memory)."""
            for as_of, pairs in sorted(plan.items()):
                symbols = sorted({s for _, s in pairs})
                for start in range(0, len(symbols), CHUNK_SYMBOLS):
                    began = time.perf_counter()
                    batch = symbols[start : start + CHUNK_SYMBOLS]
                    subset = bars.filter(pl.col("symbol").is_in(batch))
                    if subset.is_empty():
                        continue  # symbols without bars yet: nothing to compute or write
                    built = with_partition_dates(
                        build_features(subset, as_of, exchange), partition_dates
                    )
                    wanted = pl.DataFrame(
                        sorted(p for p in pairs if p[1] in set(batch)),
                        schema={"partition_date": pl.Date, "symbol": pl.String},
                        orient="row",
                    )
                    rows = validate_features(
                        built.join(wanted, on=["partition_date", "symbol"], how="semi")
                    )
                    for timeframe, count in rows.group_by("timeframe").len().iter_rows():
                        stats["by_timeframe"][timeframe] += count
                    for column, count in non_finite_counts(rows).items():
                        stats["non_finite"][column] += count
                    timings["compute"] += time.perf_counter() - began
                    yield rows

        write_started = time.perf_counter()
        deleted, written = write_features(engine, chunks(), run_slice.pairs, context.run.run_id)
        compute_s = timings["compute"]
        write_s = time.perf_counter() - write_started - compute_s
        context.log.info(
            f"built {written} feature rows in {compute_s:.2f}s ({len(plan)} as-of builds, "
            f"chunks of {CHUNK_SYMBOLS} symbols), wrote them in {write_s:.2f}s "
            f"(replaced {deleted})"
        )
        bad = dict(stats["non_finite"])
        by_timeframe = dict(sorted(stats["by_timeframe"].items()))
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": written,
                "rows_by_timeframe": dg.MetadataValue.json(by_timeframe),
                "bars_read": bars.height,
                "as_of_builds": len(plan),
                "daily_lookback_from": str(daily_from),
                "read_seconds": round(read_s, 3),
                "compute_seconds": round(compute_s, 3),
                "write_seconds": round(write_s, 3),
                "indicator_values": written * len(_VALUE_COLUMNS),
                "indicator_values_per_second": round(
                    written * len(_VALUE_COLUMNS) / max(compute_s, 1e-9)
                ),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=NO_INFINITE,
                    passed=not bad,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"non_finite_by_column": dg.MetadataValue.json(bad)},
                )
            ],
        )

    return features
