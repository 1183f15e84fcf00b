"""Trading sessions of an exchange, and which partition a session belongs to.

Pure: no Dagster, no clock. Every function takes the dates it works on.
"""

from __future__ import annotations

import functools
import warnings
from datetime import date, timedelta

import exchange_calendars as xcals
import polars as pl

# exchange-calendars needs a bounded range; holiday rules are known well ahead of time.
CALENDAR_FIRST = date(1990, 1, 2)
_CALENDAR_YEARS_AHEAD = 2
# A calendar that reaches a forecast's target: the longest horizon (126 sessions) fits in 400 days.
_TARGET_MARGIN_DAYS = 400


@functools.cache
def _calendar(exchange: str, last_year: int) -> xcals.ExchangeCalendar:
    # exchange-calendars 4.13 reads Series.values, which pandas 3.1 deprecates; the warning is
    # the library's, not ours, and says nothing about the sessions it computes.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning", category=Warning)
        return xcals.get_calendar(
            exchange, start=CALENDAR_FIRST.isoformat(), end=f"{last_year}-12-31"
        )


@functools.cache
def _session_table(exchange: str, last_year: int) -> pl.DataFrame:
    schedule = _calendar(exchange, last_year).schedule
    return pl.DataFrame(
        {
            "session_date": pl.Series(schedule.index.date.tolist(), dtype=pl.Date),
            "open_utc": schedule["open"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
            "close_utc": schedule["close"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
        }
    ).with_columns(
        pl.col("open_utc").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        pl.col("close_utc").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
    )


def sessions_table(exchange: str, through: date) -> pl.DataFrame:
    """All sessions of ``exchange`` from 1990 to at least the end of ``through``'s year + 2.

    Columns: ``session_date`` (date), ``open_utc``, ``close_utc`` (UTC datetimes; early closes
    included).
    """
    return _session_table(exchange, through.year + _CALENDAR_YEARS_AHEAD)


def sessions_between(exchange: str, first: date, last: date) -> list[date]:
    """Session dates in ``[first, last]``."""
    table = sessions_table(exchange, last)
    return table.filter(pl.col("session_date").is_between(first, last))["session_date"].to_list()


def trading_calendar(exchange: str, through: date) -> list[date]:
    """Every session from 1990 through ``through`` plus enough sessions after it to reach the
    target of a forecast made on ``through`` (labels and targets count sessions on it)."""
    return sessions_between(exchange, CALENDAR_FIRST, through + timedelta(days=_TARGET_MARGIN_DAYS))


def close_times(exchange: str, days: list[date]) -> pl.DataFrame:
    """(session_date, close_utc) of the sessions among ``days`` (early closes included)."""
    table = sessions_table(exchange, max(days))
    return table.filter(pl.col("session_date").is_in(days)).select("session_date", "close_utc")


def non_session_weekdays(exchange: str, first: date, last: date) -> list[date]:
    """Weekdays in ``[first, last]`` on which the exchange is closed (holidays, ad-hoc closures)."""
    sessions = set(sessions_between(exchange, first, last))
    out: list[date] = []
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in sessions:
            out.append(day)
        day += timedelta(days=1)
    return out


def is_session(exchange: str, day: date) -> bool:
    return day in set(sessions_between(exchange, day, day))


def with_partition_dates(
    frame: pl.DataFrame, partition_dates: list[date], *, on: str = "session_date"
) -> pl.DataFrame:
    """Add ``partition_date``: the partition that holds each row's session date.

    ``partition_dates`` are the partition keys as dates (trading days from go-live on). A session
    on or before the first partition belongs to the first (the initial history load); a later
    session to the first partition on or after it; a session after the last partition gets null
    (its partition does not exist yet: the rows wait for their day).
    """
    bounds = pl.DataFrame(
        {"partition_date": sorted(partition_dates)}, schema={"partition_date": pl.Date}
    )
    ordered = frame.with_row_index("__order")
    keyed = ordered.sort(on).join_asof(
        bounds, left_on=on, right_on="partition_date", strategy="forward"
    )
    return keyed.sort("__order").drop("__order")
