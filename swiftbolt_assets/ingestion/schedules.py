"""Schedules: ``daily_cycle_schedule`` (the day's partitions for every symbol, after the close)
and ``intraday_cycle_schedule`` (the same partitions through the intraday job, after every m15
bar close of the regular session)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from swiftbolt_assets.ingestion.sensors import RANGE_END_TAG, RANGE_START_TAG
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.partitions import SYMBOLS_PARTITION_NAME
from swiftbolt_assets.settings import EXCHANGE_TIMEZONE

CLOSE_CRON = "30 17 * * 1-5"  # 17:30 New York: after the 16:00 close and the vendors' final bars
# Two minutes after every quarter hour from 09:00 to 16:59 New York (the cron runs in New York
# time, so daylight saving moves nothing); the function keeps the ticks that follow a bar close
# of the day's regular session on the exchange calendar (holidays and early closes included).
INTRADAY_CRON = "2,17,32,47 9-16 * * 1-5"
BAR_DELAY = timedelta(minutes=2)


def session_bar_close(market: MarketCalendarResource, when: datetime) -> datetime | None:
    """The m15 bar close a tick at ``when`` follows (``BAR_DELAY`` after it), if that is a bar
    close of a regular session: after the open, at or before the close."""
    local = when.astimezone(ZoneInfo(EXCHANGE_TIMEZONE))
    bar_close = (local - BAR_DELAY).replace(second=0, microsecond=0)
    sessions = market.sessions_table(bar_close.date()).filter(
        pl.col("session_date") == bar_close.date()
    )
    if sessions.is_empty():
        return None
    open_utc, close_utc = sessions.row(0)[1:3]
    utc = bar_close.astimezone(ZoneInfo("UTC"))
    return bar_close if open_utc < utc <= close_utc else None


def _all_symbols(
    context: dg.ScheduleEvaluationContext, key: str, day: str
) -> dg.RunRequest | dg.SkipReason:
    symbols = list(context.instance.get_dynamic_partitions(SYMBOLS_PARTITION_NAME))
    if not symbols:
        return dg.SkipReason("no symbols registered yet")
    return dg.RunRequest(
        run_key=key,
        tags={RANGE_START_TAG: f"{day}|{symbols[0]}", RANGE_END_TAG: f"{day}|{symbols[-1]}"},
    )


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
        return _all_symbols(context, f"daily-{day.isoformat()}", day.isoformat())

    return daily_cycle_schedule


def build_intraday_schedule(job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="intraday_cycle_schedule",
        job=job,
        cron_schedule=INTRADAY_CRON,
        execution_timezone=EXCHANGE_TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Two minutes after every m15 bar close of the regular session (exchange "
        "calendar: holidays and early closes included), one run of the intraday job over "
        "today's partition for all symbols.",
    )
    def intraday_cycle_schedule(
        context: dg.ScheduleEvaluationContext, market: MarketCalendarResource
    ) -> dg.RunRequest | dg.SkipReason:
        when = context.scheduled_execution_time
        bar_close = session_bar_close(market, when)
        if bar_close is None:
            local = when.astimezone(ZoneInfo(EXCHANGE_TIMEZONE))
            return dg.SkipReason(
                f"{local:%Y-%m-%d %H:%M} New York follows no m15 bar close of a "
                f"{market.exchange} regular session"
            )
        day = bar_close.date().isoformat()
        return _all_symbols(context, f"intraday-{bar_close:%Y-%m-%dT%H%M}", day)

    return intraday_cycle_schedule
