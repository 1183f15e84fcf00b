"""The one assembly point of the asset graph (groups = folders)."""

from __future__ import annotations

import os

import dagster as dg

from swiftbolt_assets.cadence import INTRADAY
from swiftbolt_assets.calibration.assets import (
    CONFIDENCE_CALIBRATION,
    build_confidence_calibration_asset,
    build_weights_asset,
)
from swiftbolt_assets.evaluation.assets import build_evaluation_assets
from swiftbolt_assets.features.assets import build_features_asset
from swiftbolt_assets.forecasting.assets import build_ml_forecasts_asset
from swiftbolt_assets.forecasting.intraday_assets import build_ml_forecasts_intraday_asset
from swiftbolt_assets.forecasting.models_asset import build_forecast_models_asset
from swiftbolt_assets.forecasting.research import (
    FORECAST_BACKTEST,
    FORECAST_BACKTEST_PREDICTIONS,
    run_forecast_backtest,
)
from swiftbolt_assets.forecasting.schedules import build_research_schedule
from swiftbolt_assets.ingestion.assets import build_ingestion_assets
from swiftbolt_assets.ingestion.resources import DropFolderResource
from swiftbolt_assets.ingestion.schedules import build_daily_schedule, build_intraday_schedule
from swiftbolt_assets.ingestion.sensors import build_new_bars_sensor
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.partitions import daily_symbol_partitions
from swiftbolt_assets.settings import Settings, load_settings
from swiftbolt_assets.warehouse.resources import WarehouseResource

DAILY_CYCLE_JOB = "daily_cycle_job"
INTRADAY_CYCLE_JOB = "intraday_cycle_job"
RESEARCH_JOB = "forecast_research_job"
# Tables a migration creates before their writer exists (none now: every table has its owner).
RESERVED_TABLES: dict[str, str] = {}
# Long walk-forward work over all history: its own job and schedule, never the daily cycle's.
RESEARCH_KEYS = (FORECAST_BACKTEST, FORECAST_BACKTEST_PREDICTIONS)
RESEARCH = dg.AssetSelection.assets(*RESEARCH_KEYS)
# The intraday cadence's own tables: its job's, never the daily cycle's.
INTRADAY_TABLES = (
    INTRADAY.tables.forecasts,
    INTRADAY.tables.evaluations,
    INTRADAY.tables.live,
    INTRADAY.tables.weights,
)
INTRADAY_ASSETS = dg.AssetSelection.assets(*INTRADAY_TABLES)


def _configured(name: str, value: str) -> str | dg.EnvVar:
    """``dg.EnvVar(name)`` where the environment gave ``value`` (the UI then shows where it came
    from), else ``value`` itself (settings built in code, e.g. a replay's)."""
    return dg.EnvVar(name) if os.environ.get(name) == value else value


def default_resources(settings: Settings) -> dict[str, object]:
    """The resources every asset reads its configuration from: nothing in an asset body reads
    the environment."""
    return {
        "warehouse": WarehouseResource(
            database_url=_configured("SWIFTBOLT_DATABASE_URL", settings.database_url or ""),
            pgdata=str(settings.pgdata),
        ),
        "drop_folder": DropFolderResource(
            path=_configured("SWIFTBOLT_DROP_DIR", str(settings.drop_dir))
        ),
        "market": MarketCalendarResource(
            exchange=_configured("SWIFTBOLT_EXCHANGE", settings.exchange)
        ),
    }


def build_definitions(
    settings: Settings | None = None, resources: dict[str, object] | None = None
) -> dg.Definitions:
    """Assets, checks, jobs, sensors and schedules for ``settings`` (default: environment).

    ``resources`` replace the default resources of the same names (tests point them at their
    own database and drop folder).
    """
    settings = settings or load_settings()
    partitions = daily_symbol_partitions(settings)
    ingest = build_ingestion_assets(partitions)
    features = build_features_asset(partitions)
    forecasts = build_ml_forecasts_asset(partitions)
    daily_cycle = dg.define_asset_job(
        DAILY_CYCLE_JOB,
        selection=dg.AssetSelection.all() - RESEARCH - INTRADAY_ASSETS,
        description="The daily cycle, in graph order: bars → features → models (if a retrain is "
        "due) → forecasts → evaluations of the forecasts due that day (final bars only) → live "
        "scores, layer weights and (on a cutoff) confidence calibration.",
    )
    intraday_cycle = dg.define_asset_job(
        INTRADAY_CYCLE_JOB,
        selection=dg.AssetSelection.assets(ingest, features) | INTRADAY_ASSETS,
        description="The intraday cycle of a session's partitions, in graph order: bars → "
        "features → intraday forecasts for every m15 bar so far → their evaluations at the "
        "horizon (final bars only) → live scores and calibrated weights.",
    )
    research = dg.define_asset_job(
        RESEARCH_JOB,
        selection=RESEARCH | dg.AssetSelection.assets(CONFIDENCE_CALIBRATION),
        description="Walk-forward backtest of the forecasts, then the confidence calibration "
        "versions still due (the backtest seeds those that live evaluations cannot yet).",
    )
    assets = [
        ingest,
        features,
        build_forecast_models_asset(partitions),
        forecasts,
        build_ml_forecasts_intraday_asset(partitions),
        *build_evaluation_assets(partitions),
        *build_evaluation_assets(partitions, INTRADAY),
        build_weights_asset(partitions),
        build_weights_asset(partitions, INTRADAY),
        run_forecast_backtest,
        build_confidence_calibration_asset(partitions),
    ]
    # what new daily bars refresh: everything but the research and the intraday assets
    skipped = {*RESEARCH_KEYS, *(dg.AssetKey(t) for t in INTRADAY_TABLES)}
    daily_only = sorted({k for a in assets for k in a.keys} - skipped)
    return dg.Definitions(
        assets=assets,
        jobs=[daily_cycle, intraday_cycle, research],
        sensors=[
            build_new_bars_sensor(ingest, partitions, excluded=RESEARCH, daily_only=daily_only)
        ],
        schedules=[
            build_daily_schedule(daily_cycle),
            build_intraday_schedule(intraday_cycle),
            build_research_schedule(research),
        ],
        resources=default_resources(settings) | (resources or {}),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
