"""The cadence specs: bar slots, target times and weight validity of the daily and the intraday
cadence, on the real XNYS calendar (daylight-saving changes, holidays, early closes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from swiftbolt_assets.cadence import (
    CADENCES,
    DAILY,
    INTRADAY,
    bar_slots,
    target_sessions,
    target_slots,
    weights_validity,
)
from swiftbolt_assets.calendar import sessions_table

XNYS = "XNYS"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(scope="module")
def sessions() -> pl.DataFrame:
    table = sessions_table(XNYS, date(2026, 12, 31))
    return table.filter(pl.col("session_date").is_between(date(2026, 1, 2), date(2026, 12, 31)))


def slots_of(sessions: pl.DataFrame, day: date) -> pl.DataFrame:
    return bar_slots(INTRADAY, sessions).filter(pl.col("session_date") == day)


def test_the_specs_carry_the_forecast_contract_and_their_tables() -> None:
    assert dict(DAILY.horizons) == {
        "1D": 1,
        "1W": 5,
        "1M": 21,
        "2M": 42,
        "3M": 63,
        "4M": 84,
        "5M": 105,
        "6M": 126,
    }
    assert dict(INTRADAY.horizons) == {"15m": 1, "1h": 4}
    assert (DAILY.timeframe, INTRADAY.timeframe) == ("d1", "m15")
    assert DAILY.evaluation_days == 126  # forecasts due on D were made up to 126 sessions before
    assert INTRADAY.evaluation_days == 0  # an intraday horizon ends within its session
    assert INTRADAY.weights_validity == timedelta(hours=4)
    assert DAILY.tables.forecasts == "ml_forecasts_daily"
    assert INTRADAY.tables.evaluations == "forecast_evaluations_intraday"
    assert INTRADAY.tables.weights == "calibrated_weights"
    # no table is shared by two cadences: one writer each
    tables = [
        set(vars(spec.tables).values()) - {"valid_until", "expires_at"}
        for spec in CADENCES.values()
    ]
    assert not tables[0] & tables[1]
    with pytest.raises(TypeError):
        DAILY.horizons["1Y"] = 252  # type: ignore[index]


def test_intraday_slots_follow_daylight_saving_in_utc_never_in_count(
    sessions: pl.DataFrame,
) -> None:
    # 2026-03-08: New York moves from EST (UTC-5) to EDT (UTC-4)
    before, after = slots_of(sessions, date(2026, 3, 6)), slots_of(sessions, date(2026, 3, 9))
    assert before.height == after.height == 26
    assert before.get_column("slot_end").first() == utc(2026, 3, 6, 14, 45)  # 09:45 EST
    assert before.get_column("slot_end").last() == utc(2026, 3, 6, 21, 0)  # 16:00 EST
    assert after.get_column("slot_end").first() == utc(2026, 3, 9, 13, 45)  # 09:45 EDT
    assert after.get_column("slot_end").last() == utc(2026, 3, 9, 20, 0)  # 16:00 EDT
    assert after.get_column("session_slot").to_list() == list(range(26))


def test_an_early_close_has_fewer_slots_and_holidays_none(sessions: pl.DataFrame) -> None:
    early = slots_of(sessions, date(2026, 11, 27))  # the day after Thanksgiving: 13:00 close
    assert early.height == 14
    assert early.get_column("slot_end").last() == utc(2026, 11, 27, 18, 0)
    assert slots_of(sessions, date(2026, 11, 26)).is_empty()  # Thanksgiving
    slots = bar_slots(INTRADAY, sessions)
    assert slots.get_column("slot_index").to_list() == list(range(slots.height))


def test_an_intraday_horizon_ends_with_its_session(sessions: pl.DataFrame) -> None:
    slots = bar_slots(INTRADAY, sessions)
    as_of = pl.Series(
        [
            utc(2026, 3, 9, 19, 0),  # 15:00 EDT: 1h ends at the close, 16:00
            utc(2026, 3, 9, 19, 15),  # 15:15 EDT: 1h would end tomorrow: no target
            utc(2026, 3, 9, 20, 0),  # the close: 15m would be tomorrow's first bar
            utc(2026, 11, 27, 17, 0),  # 12:00 on an early close: 1h ends at 13:00
            utc(2026, 11, 27, 17, 15),  # 12:15 on an early close: after the close
        ]
    ).dt.cast_time_unit("us")
    hour = target_slots(INTRADAY, slots, as_of, "1h").to_list()
    assert hour == [utc(2026, 3, 9, 20, 0), None, None, utc(2026, 11, 27, 18, 0), None]
    quarter = target_slots(INTRADAY, slots, as_of, "15m").to_list()
    assert quarter[0] == utc(2026, 3, 9, 19, 15)  # one bar later, never one hour
    assert quarter[2] is None
    assert quarter[4] == utc(2026, 11, 27, 17, 30)


def test_a_daily_horizon_counts_sessions_across_holidays(sessions: pl.DataFrame) -> None:
    slots = bar_slots(DAILY, sessions)
    assert slots.height == sessions.height  # one slot per session, at its close
    thursday = sessions.filter(pl.col("session_date") == date(2026, 4, 2)).get_column("close_utc")
    # Good Friday 2026-04-03 is a holiday: 1D from Thursday is Monday's close
    one = target_slots(DAILY, slots, thursday, "1D").to_list()
    assert one == [utc(2026, 4, 6, 20, 0)]
    days = target_sessions(pl.Series([date(2026, 4, 2)]), 1, sessions["session_date"].to_list())
    assert days.to_list() == [date(2026, 4, 6)]


def test_an_as_of_time_off_the_bar_grid_is_refused(sessions: pl.DataFrame) -> None:
    slots = bar_slots(INTRADAY, sessions)
    off_grid = pl.Series([utc(2026, 3, 9, 19, 7)]).dt.cast_time_unit("us")
    with pytest.raises(ValueError, match="not a m15 bar end"):
        target_slots(INTRADAY, slots, off_grid, "15m")
    with pytest.raises(ValueError, match="does not reach"):
        target_slots(DAILY, bar_slots(DAILY, sessions), sessions["close_utc"].tail(1), "1W")


def test_daily_weights_serve_exactly_the_next_sessions_forecasts(sessions: pl.DataFrame) -> None:
    fitted = pl.Series(
        [
            utc(2026, 4, 2, 20, 0),  # Thursday's close, before Good Friday
            utc(2026, 11, 27, 18, 0),  # an early close (13:00 New York)
            utc(2026, 3, 6, 21, 0),  # Friday's close before daylight saving starts
        ]
    ).dt.cast_time_unit("us")
    validity = weights_validity(DAILY, fitted, sessions)
    assert validity.get_column("valid_from").to_list() == fitted.to_list()
    assert validity.get_column("valid_until").to_list() == [
        utc(2026, 4, 6, 20, 0),  # Monday's close (Friday is a holiday)
        utc(2026, 11, 30, 21, 0),  # the next session's full-day close
        utc(2026, 3, 9, 20, 0),  # Monday's close, in EDT
    ]


def test_intraday_weights_expire_four_hours_after_their_fit(sessions: pl.DataFrame) -> None:
    fitted = pl.Series([utc(2026, 3, 9, 14, 0), utc(2026, 11, 27, 17, 45)]).dt.cast_time_unit("us")
    validity = weights_validity(INTRADAY, fitted, sessions)
    assert validity.get_column("valid_until").to_list() == [
        utc(2026, 3, 9, 18, 0),
        utc(2026, 11, 27, 21, 45),
    ]
