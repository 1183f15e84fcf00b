"""Sensor ``new_ohlc_bars_sensor``: new or changed drop-folder files become range runs."""

import hashlib
from collections.abc import Sequence
from datetime import date

import dagster as dg

from swiftbolt_assets.ingestion.resources import DropFolderResource
from swiftbolt_assets.ingestion.watch import DropFolderScan, scan_drop_folder
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.partitions import DATE_DIMENSION, SYMBOLS_PARTITION_NAME, symbols_partitions

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_requests(
    scan: DropFolderScan, selection: list[dg.AssetKey] | None = None
) -> list[dg.RunRequest]:
    """One run per planned rectangle, keyed so a retried tick launches nothing twice, of the
    assets of ``selection`` (None: the sensor's whole selection)."""
    requests = []
    for planned in scan.ranges:
        key = hashlib.sha256(
            f"{planned.start_key}..{planned.end_key}@{scan.cursor}".encode()
        ).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                run_key=f"ohlc-{key}",
                tags={RANGE_START_TAG: planned.start_key, RANGE_END_TAG: planned.end_key},
                asset_selection=selection,
            )
        )
    return requests


def build_new_bars_sensor(
    ingest: dg.AssetsDefinition,
    partitions_def: dg.MultiPartitionsDefinition,
    excluded: dg.AssetSelection | None = None,
    daily_only: Sequence[dg.AssetKey] | None = None,
) -> dg.SensorDefinition:
    """``excluded``: downstream assets that new bars must not trigger (the research assets);
    ``daily_only``: what runs when no changed file holds intraday bars (the intraday
    cadence's assets run only for intraday files; None: always everything)."""
    time_def = partitions_def.get_partitions_def_for_dimension(DATE_DIMENSION)
    # new bars refresh everything computed from them (features, models if due, forecasts)
    selection = dg.AssetSelection.assets(ingest).downstream() - (
        excluded or dg.AssetSelection.assets()
    )

    @dg.sensor(
        name="new_ohlc_bars_sensor",
        asset_selection=selection,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches the drop folder (cursor: file fingerprints), registers new symbols "
        "as partitions and requests the touched (date, symbol) partitions as few range runs.",
    )
    def new_ohlc_bars_sensor(
        context: dg.SensorEvaluationContext,
        drop_folder: DropFolderResource,
        market: MarketCalendarResource,
    ) -> dg.SensorResult | dg.SkipReason:
        known = list(context.instance.get_dynamic_partitions(SYMBOLS_PARTITION_NAME))
        partition_dates = [date.fromisoformat(k) for k in time_def.get_partition_keys()]
        scan = scan_drop_folder(
            drop_folder.files(), context.cursor, known, partition_dates, market.exchange
        )
        if not scan.changed_files:
            return dg.SkipReason(f"no new or changed files in {drop_folder.directory()}")
        for orphan in scan.orphan_files:
            context.log.warning(f"{orphan}: no valid symbol; its rows are quarantined by every run")
        for file in scan.unregistered_files:
            context.log.warning(
                f"{file}: no valid bar, so its symbol is not registered; its rows are "
                "quarantined by every run"
            )
        context.log.info(
            f"{len(scan.changed_files)} changed files, {len(scan.new_symbols)} new symbols, "
            f"{len(scan.ranges)} runs: {[f'{r.start_key}..{r.end_key}' for r in scan.ranges]}"
        )
        chosen = None if scan.intraday or daily_only is None else list(daily_only)
        return dg.SensorResult(
            run_requests=run_requests(scan, chosen),
            dynamic_partitions_requests=(
                [symbols_partitions.build_add_request(scan.new_symbols)] if scan.new_symbols else []
            ),
            cursor=scan.cursor,
        )

    return new_ohlc_bars_sensor
