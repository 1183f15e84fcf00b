"""Weekly research schedule: the walk-forward backtest, then the confidence calibration."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from swiftbolt_assets.settings import EXCHANGE_TIMEZONE

RESEARCH_CRON = "0 6 * * 6"  # Saturday 06:00 New York: markets closed, the week's bars final


def build_research_schedule(job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="forecast_research_schedule",
        job=job,
        cron_schedule=RESEARCH_CRON,
        execution_timezone=EXCHANGE_TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Weekly: re-run the walk-forward backtest over the latest history and "
        "refit the confidence calibration from its out-of-sample predictions.",
    )
