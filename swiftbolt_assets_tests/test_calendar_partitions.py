"""Trading-day partitions: holidays excluded, go-live configurable, one partition per bar."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest

from swiftbolt_assets.calendar import non_session_weekdays, sessions_between, with_partition_dates
from swiftbolt_assets.partitions import (
    PartitionSlice,
    daily_symbol_partitions,
    partition_dates_through,
    trading_days_partitions,
)
from swiftbolt_assets.settings import load_settings

NY = ZoneInfo("America/New_York")


def settings_from(start: str):  # type: ignore[no-untyped-def]
    return replace(load_settings({}), partition_start=date.fromisoformat(start))


def test_partition_keys_are_exchange_sessions_only() -> None:
    partitions = trading_days_partitions(settings_from("2026-11-02"))
    keys = partitions.get_partition_keys(current_time=datetime(2026, 12, 31, 12, tzinfo=NY))
    sessions = [
        d.isoformat() for d in sessions_between("XNYS", date(2026, 11, 2), date(2026, 12, 31))
    ]
    assert keys == sessions
    assert "2026-11-26" not in keys  # Thanksgiving
    assert "2026-11-27" in keys  # the half day after it is a session
    assert "2026-12-25" not in keys


def test_today_has_a_partition_during_the_day_so_the_close_schedule_can_run_it() -> None:
    partitions = trading_days_partitions(settings_from("2026-11-02"))
    keys = partitions.get_partition_keys(current_time=datetime(2026, 11, 25, 17, 30, tzinfo=NY))
    assert keys[-1] == "2026-11-25"


def test_go_live_must_be_a_trading_day() -> None:
    with pytest.raises(ValueError, match="is not a XNYS trading day"):
        trading_days_partitions(settings_from("2026-11-26"))


def test_bad_go_live_setting_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="SWIFTBOLT_PARTITION_START='soon' is not an ISO date"):
        load_settings({"SWIFTBOLT_PARTITION_START": "soon"})


def test_a_replay_of_history_ends_its_partitions_on_its_last_day() -> None:
    settings = load_settings(
        {"SWIFTBOLT_PARTITION_START": "2021-01-26", "SWIFTBOLT_PARTITION_END": "2021-04-21"}
    )
    keys = trading_days_partitions(settings).get_partition_keys(
        current_time=datetime(2026, 11, 25, 17, 30, tzinfo=NY)
    )
    assert keys == [
        d.isoformat() for d in sessions_between("XNYS", date(2021, 1, 26), date(2021, 4, 21))
    ]
    assert len(keys) == 60
    with pytest.raises(ValueError, match="SWIFTBOLT_PARTITION_END=2021-01-25 is before"):
        load_settings(
            {"SWIFTBOLT_PARTITION_START": "2021-01-26", "SWIFTBOLT_PARTITION_END": "2021-01-25"}
        )
    with pytest.raises(ValueError, match="SWIFTBOLT_PARTITION_END='april' is not an ISO date"):
        load_settings({"SWIFTBOLT_PARTITION_END": "april"})


def test_multi_partition_keys_read_date_then_symbol() -> None:
    partitions = daily_symbol_partitions(settings_from("2026-11-02"))
    assert [d.name for d in partitions.partitions_defs] == ["date", "symbol"]
    key = partitions.get_partition_key_from_str("2026-11-24|AAPL")
    assert key.keys_by_dimension == {"date": "2026-11-24", "symbol": "AAPL"}
    assert PartitionSlice.from_keys(["2026-11-24|AAPL", "2026-11-24|BRK.B"]).symbols == [
        "AAPL",
        "BRK.B",
    ]


def test_history_goes_to_the_first_partition_and_later_sessions_to_their_own() -> None:
    partitions = trading_days_partitions(settings_from("2026-11-20"))
    dates = partition_dates_through(partitions, date(2026, 11, 25))
    assert dates == [date(2026, 11, d) for d in (20, 23, 24, 25)]
    frame = pl.DataFrame(
        {
            "session_date": [
                date(1999, 11, 1),
                date(2026, 11, 20),
                date(2026, 11, 23),
                date(2026, 11, 27),
            ]
        }
    )
    assigned = with_partition_dates(frame, dates)["partition_date"].to_list()
    assert assigned == [date(2026, 11, 20), date(2026, 11, 20), date(2026, 11, 23), None]


def test_holidays_include_ad_hoc_closures() -> None:
    # 2025-01-09: national day of mourning for President Carter
    assert date(2025, 1, 9) in non_session_weekdays("XNYS", date(2025, 1, 1), date(2025, 1, 31))
    assert date(2025, 1, 1) in non_session_weekdays("XNYS", date(2025, 1, 1), date(2025, 1, 31))


@pytest.mark.parametrize(
    ("end", "last_keys"),
    [
        # a Friday: its window runs to Monday 00:00, past the day itself
        ("2021-04-23", ["2021-04-21", "2021-04-22", "2021-04-23"]),
        # the Thursday before Good Friday 2021: the next session is the Monday after
        ("2021-04-01", ["2021-03-30", "2021-03-31", "2021-04-01"]),
    ],
)
def test_the_last_session_named_is_the_last_partition(end: str, last_keys: list[str]) -> None:
    settings = load_settings(
        {"SWIFTBOLT_PARTITION_START": "2021-03-01", "SWIFTBOLT_PARTITION_END": end}
    )
    keys = trading_days_partitions(settings).get_partition_keys(
        current_time=datetime(2026, 11, 25, 17, 30, tzinfo=NY)
    )
    assert keys[-3:] == last_keys
    # a range run naming that day resolves (Dagster refused it: "not a valid partition key")
    multi = daily_symbol_partitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("symbols", ["AAA", "BBB"])
        in_range = multi.get_partition_keys_in_range(
            dg.PartitionKeyRange(f"{last_keys[0]}|AAA", f"{end}|BBB"),
            dynamic_partitions_store=instance,
        )
    assert {str(k) for k in in_range} == {f"{d}|{s}" for d in last_keys for s in ("AAA", "BBB")}


def test_a_partition_end_that_is_no_session_is_refused() -> None:
    settings = load_settings(
        {"SWIFTBOLT_PARTITION_START": "2021-03-01", "SWIFTBOLT_PARTITION_END": "2021-04-24"}
    )
    with pytest.raises(ValueError, match=r"SWIFTBOLT_PARTITION_END=2021-04-24 is not a XNYS"):
        trading_days_partitions(settings)
