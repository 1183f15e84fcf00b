"""The one assembly point of the asset graph (groups = folders)."""

from __future__ import annotations

import dagster as dg

from swiftbolt_assets.features.assets import build_features_asset
from swiftbolt_assets.ingestion.assets import build_ingestion_assets
from swiftbolt_assets.ingestion.resources import DropFolderResource
from swiftbolt_assets.ingestion.schedules import build_daily_schedule
from swiftbolt_assets.ingestion.sensors import build_new_bars_sensor
from swiftbolt_assets.partitions import daily_symbol_partitions
from swiftbolt_assets.settings import Settings, load_settings
from swiftbolt_assets.warehouse.resources import WarehouseResource

DAILY_CYCLE_JOB = "daily_cycle_job"


def build_definitions(
    settings: Settings | None = None, resources: dict[str, object] | None = None
) -> dg.Definitions:
    """Assets, checks, jobs, sensors and schedules for ``settings`` (default: environment).

    ``resources`` replaces the default resources (tests point them at their own database and
    drop folder).
    """
    settings = settings or load_settings()
    partitions = daily_symbol_partitions(settings)
    ingest = build_ingestion_assets(partitions)
    features = build_features_asset(partitions)
    daily_cycle = dg.define_asset_job(
        DAILY_CYCLE_JOB,
        selection=dg.AssetSelection.all(),
        description="The daily cycle: every asset for the day's partitions.",
    )
    return dg.Definitions(
        assets=[ingest, features],
        jobs=[daily_cycle],
        sensors=[build_new_bars_sensor(ingest, partitions)],
        schedules=[build_daily_schedule(daily_cycle)],
        resources=resources
        or {"warehouse": WarehouseResource(), "drop_folder": DropFolderResource()},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
