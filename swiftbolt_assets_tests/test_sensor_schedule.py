"""new_ohlc_bars_sensor with its cursor, and the after-close schedule."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from swiftbolt_assets.ingestion.resources import DropFolderResource
from swiftbolt_assets.ingestion.sensors import RANGE_END_TAG, RANGE_START_TAG
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets_tests.conftest import make_definitions, write_csv

START = date(2026, 11, 18)
HEADER = "timestamp,open,high,low,close,volume\n"
NY = ZoneInfo("America/New_York")


def day(d: str, base: float = 10) -> str:
    return f"{d},{base},{base + 1},{base - 1},{base + 0.5},100\n"


def tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, drop_dir: Path, cursor: str | None
) -> dg.SensorResult | dg.SkipReason:
    sensor = defs.resolve_sensor_def("new_ohlc_bars_sensor")
    # the context is a context manager: exiting it releases what it entered (its resources, and
    # an instance when built from a ref), so nothing outlives the tick
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "drop_folder": DropFolderResource(path=str(drop_dir)),
            "market": MarketCalendarResource(exchange="XNYS"),
        },
    ) as context:
        result = sensor(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
    return result  # type: ignore[return-value]


def ranges(result: dg.SensorResult) -> list[tuple[str, str]]:
    return [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in result.run_requests or []]


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def test_first_tick_registers_symbols_and_requests_one_range_run(
    drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    for symbol in ["MSFT", "AAPL", "BRK.B"]:
        write_csv(
            drop_dir / "csv" / f"{symbol}_d1.csv", HEADER + day("2026-11-17") + day("2026-11-19")
        )
    defs = make_definitions("postgresql://unused/unused", drop_dir, START)

    result = tick(defs, instance, drop_dir, None)

    assert isinstance(result, dg.SensorResult)
    assert instance.get_dynamic_partitions("symbols") == ["AAPL", "BRK.B", "MSFT"]
    # 2026-11-17 is history before go-live: it lands in the first partition, 2026-11-18
    assert ranges(result) == [("2026-11-18|AAPL", "2026-11-19|MSFT")]


def test_daily_files_run_the_daily_assets_and_intraday_files_every_asset(
    drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    """New d1 bars leave the intraday assets alone; new m15 bars run them too."""
    write_csv(drop_dir / "csv" / "AAPL_d1.csv", HEADER + day("2026-11-19"))
    defs = make_definitions("postgresql://unused/unused", drop_dir, START)
    daily = tick(defs, instance, drop_dir, None)
    assert isinstance(daily, dg.SensorResult)
    [request] = daily.run_requests or []
    selected = {k.to_user_string() for k in request.asset_selection or []}
    assert {"ohlc_bars", "features", "ml_forecasts_daily", "symbol_model_weights"} <= selected
    assert not selected & {"ml_forecasts_intraday", "calibrated_weights", "forecast_backtest"}

    write_csv(
        drop_dir / "csv" / "AAPL_m15.csv",
        HEADER + "2026-11-19T15:00:00Z,10,11,9,10.5,100\n",
    )
    intraday = tick(defs, instance, drop_dir, daily.cursor)
    assert isinstance(intraday, dg.SensorResult)
    [request] = intraday.run_requests or []
    assert request.asset_selection is None  # the sensor's whole selection, intraday included


def test_an_unchanged_folder_is_not_processed_twice(
    drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    write_csv(drop_dir / "csv" / "AAPL_d1.csv", HEADER + day("2026-11-18"))
    defs = make_definitions("postgresql://unused/unused", drop_dir, START)
    first = tick(defs, instance, drop_dir, None)
    assert isinstance(first, dg.SensorResult)

    second = tick(defs, instance, drop_dir, first.cursor)

    assert isinstance(second, dg.SkipReason)
    assert "no new or changed files" in (second.skip_message or "")


def test_a_new_bar_requests_only_the_touched_partition(
    drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    aapl = write_csv(drop_dir / "csv" / "AAPL_d1.csv", HEADER + day("2026-11-18"))
    write_csv(drop_dir / "csv" / "MSFT_d1.csv", HEADER + day("2026-11-18"))
    defs = make_definitions("postgresql://unused/unused", drop_dir, START)
    first = tick(defs, instance, drop_dir, None)
    assert isinstance(first, dg.SensorResult)

    aapl.write_text(aapl.read_text() + day("2026-11-20"))
    os.utime(aapl, ns=(aapl.stat().st_mtime_ns + 10**9, aapl.stat().st_mtime_ns + 10**9))
    second = tick(defs, instance, drop_dir, first.cursor)

    assert isinstance(second, dg.SensorResult)
    assert second.dynamic_partitions_requests == []
    # the file still holds 2026-11-18 too: one run over AAPL's span, MSFT untouched
    assert ranges(second) == [("2026-11-18|AAPL", "2026-11-20|AAPL")]


def test_run_keys_differ_between_ticks_and_repeat_within_one(
    drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    write_csv(drop_dir / "csv" / "AAPL_d1.csv", HEADER + day("2026-11-18"))
    defs = make_definitions("postgresql://unused/unused", drop_dir, START)
    a = tick(defs, instance, drop_dir, None)
    with dg.DagsterInstance.ephemeral() as again:
        b = tick(defs, again, drop_dir, None)
    assert isinstance(a, dg.SensorResult)
    assert isinstance(b, dg.SensorResult)
    assert [r.run_key for r in a.run_requests or []] == [r.run_key for r in b.run_requests or []]


def test_an_unreadable_file_of_a_known_symbol_still_gets_a_run_that_reports_it(
    drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    instance.add_dynamic_partitions("symbols", ["AAPL"])
    write_csv(drop_dir / "csv" / "AAPL_d1.csv", "")
    defs = make_definitions("postgresql://unused/unused", drop_dir, START)
    result = tick(defs, instance, drop_dir, None)
    assert isinstance(result, dg.SensorResult)
    ((start, end),) = ranges(result)
    assert start == end
    assert start.endswith("|AAPL")


def test_a_file_without_a_valid_bar_registers_no_symbol(
    drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    write_csv(drop_dir / "csv" / "AAPL_d1.csv", HEADER + day("2026-11-18") + day("2026-11-19"))
    write_csv(drop_dir / "csv" / "JUNK_d1.csv", "lorem ipsum, dolor\nsit amet\n\x00\x01 garbage\n")
    # readable rows, none of them a valid bar (high < low, negative close)
    write_csv(
        drop_dir / "csv" / "BAD_d1.csv",
        HEADER + "2026-11-19,10,9,11,10,5\n2026-11-20,10,11,9,-10,5\n",
    )
    defs = make_definitions("postgresql://unused/unused", drop_dir, START)

    result = tick(defs, instance, drop_dir, None)

    assert isinstance(result, dg.SensorResult)
    assert instance.get_dynamic_partitions("symbols") == ["AAPL"]
    # the runs of AAPL read the other two files and quarantine their rows
    assert ranges(result) == [("2026-11-18|AAPL", "2026-11-19|AAPL")]


def test_a_lone_file_without_a_valid_bar_is_reported_by_a_run_of_a_known_symbol(
    drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    instance.add_dynamic_partitions("symbols", ["AAPL"])
    write_csv(drop_dir / "csv" / "JUNK_d1.csv", "garbage\n")
    defs = make_definitions("postgresql://unused/unused", drop_dir, START)
    result = tick(defs, instance, drop_dir, None)
    assert isinstance(result, dg.SensorResult)
    assert instance.get_dynamic_partitions("symbols") == ["AAPL"]
    ((start, end),) = ranges(result)
    assert start == end
    assert start.endswith("|AAPL")


def test_the_schedule_runs_the_day_for_all_symbols_and_skips_holidays(drop_dir: Path) -> None:
    defs = make_definitions("postgresql://unused/unused", drop_dir, START)
    schedule = defs.resolve_schedule_def("daily_cycle_schedule")
    market = {"market": MarketCalendarResource(exchange="XNYS")}
    with dg.instance_for_test() as instance:  # a schedule context needs an instance with a ref
        instance.add_dynamic_partitions("symbols", ["AAPL", "MSFT", "NVDA"])
        # each context enters its own instance from the ref: exiting the context exits it, else
        # its defs-state storage would be restored as the current one whenever it is collected
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 24, 17, 30, tzinfo=NY),
            resources=market,
        ) as context:
            on_session = schedule(context)
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 26, 17, 30, tzinfo=NY),
            resources=market,
        ) as context:
            on_holiday = schedule(context)

    assert isinstance(on_session, dg.RunRequest)
    assert on_session.tags[RANGE_START_TAG] == "2026-11-24|AAPL"
    assert on_session.tags[RANGE_END_TAG] == "2026-11-24|NVDA"
    assert isinstance(on_holiday, dg.SkipReason)
    assert "2026-11-26 is not a XNYS session" in (on_holiday.skip_message or "")


def test_the_intraday_schedule_follows_the_bar_closes_of_the_exchange_calendar(
    drop_dir: Path,
) -> None:
    """A tick two minutes after each m15 bar close of the regular session runs today's
    partition for every symbol; before the first bar close, after the close, on an early
    close's afternoon and on a holiday it skips. Times are New York's: across the March
    daylight-saving change the ticks stay on the same local bar closes."""
    defs = make_definitions("postgresql://unused/unused", drop_dir, START)
    schedule = defs.resolve_schedule_def("intraday_cycle_schedule")
    assert schedule.job_name == "intraday_cycle_job"
    assert schedule.execution_timezone == "America/New_York"
    market = {"market": MarketCalendarResource(exchange="XNYS")}
    ticks = {
        datetime(2026, 11, 24, 9, 47): "2026-11-24T0945",  # the first bar: 09:30-09:45
        datetime(2026, 11, 24, 9, 32): None,  # the open: no bar has closed yet
        datetime(2026, 11, 24, 16, 2): "2026-11-24T1600",  # the close's bar
        datetime(2026, 11, 24, 16, 17): None,  # after the close
        datetime(2026, 11, 27, 13, 2): "2026-11-27T1300",  # the early close's last bar
        datetime(2026, 11, 27, 13, 17): None,  # after the early close
        datetime(2026, 11, 26, 10, 2): None,  # Thanksgiving
        datetime(2027, 3, 12, 9, 47): "2027-03-12T0945",  # before the DST change (UTC-5)
        datetime(2027, 3, 15, 9, 47): "2027-03-15T0945",  # after it (UTC-4)
    }
    results = {}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("symbols", ["AAPL", "MSFT"])
        for local in ticks:
            with dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=local.replace(tzinfo=NY),
                resources=market,
            ) as context:
                results[local] = schedule(context)
    for local, key in ticks.items():
        result = results[local]
        if key is None:
            assert isinstance(result, dg.SkipReason), local
            assert "follows no m15 bar close" in (result.skip_message or "")
            continue
        assert isinstance(result, dg.RunRequest), local
        assert result.run_key == f"intraday-{key}"
        day = key[:10]
        assert result.tags[RANGE_START_TAG] == f"{day}|AAPL"
        assert result.tags[RANGE_END_TAG] == f"{day}|MSFT"
