"""Schedule ``daily_cycle_schedule``: the day's partitions for every symbol, after the close."""

from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from swiftbolt_assets.ingestion.sensors import RANGE_END_TAG, RANGE_START_TAG
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.partitions import SYMBOLS_PARTITION_NAME
from swiftbolt_assets.settings import EXCHANGE_TIMEZONE

CLOSE_CRON = "30 17 * * 1-5"  # 17:30 New York: after the 16:00 close and the vendors' final bars


def build_daily_schedule(job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_cycle_schedule",
        job=job,
        cron_schedule=CLOSE_CRON,
        execution_timezone=EXCHANGE_TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="After the close, one run over the day's partition for all symbols.",
    )
    def daily_cycle_schedule(
        context: dg.ScheduleEvaluationContext, market: MarketCalendarResource
    ) -> dg.RunRequest | dg.SkipReason:
        when = context.scheduled_execution_time.astimezone(ZoneInfo(EXCHANGE_TIMEZONE))
        day = when.date()
        if not market.is_session(day):
            return dg.SkipReason(f"{day} is not a {market.exchange} session")
        symbols = list(context.instance.get_dynamic_partitions(SYMBOLS_PARTITION_NAME))
        if not symbols:
            return dg.SkipReason("no symbols registered yet")
        return dg.RunRequest(
            run_key=f"daily-{day.isoformat()}",
            tags={
                RANGE_START_TAG: f"{day.isoformat()}|{symbols[0]}",
                RANGE_END_TAG: f"{day.isoformat()}|{symbols[-1]}",
            },
        )

    return daily_cycle_schedule
