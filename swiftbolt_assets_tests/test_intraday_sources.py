"""The real intraday layouts of ../shared/data/intraday read into bar-start, regular-session bars.

eqker (naive New York, bar end, newest first), the SPY hourly export (offsets, bar start,
``IsGap`` filler rows) and NinjaTrader's 1-minute export (no header, semicolons, UTC, bar end,
extended hours), the 1-minute bars resampled to m15/h1 by the pipeline. The outside check: the
vendor's own 15-minute file equals our resample of its 1-minute file, bar for bar.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.calendar import sessions_between
from swiftbolt_assets.ingestion.batch import build_batch
from swiftbolt_assets.ingestion.parsing import parse_files
from swiftbolt_assets.ingestion.resample import resample_minutes
from swiftbolt_assets.ingestion.sources import SourceFile, discover_files
from swiftbolt_assets.ingestion.validation import split_bars
from swiftbolt_assets.ingestion.watch import scan_drop_folder
from swiftbolt_assets_tests.conftest import make_definitions, materialize_range, shared_path

NEW_YORK = ZoneInfo("America/New_York")
EXCHANGE = "XNYS"


@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A drop folder holding the real files in the folders of their layouts."""
    intraday = shared_path("data", "intraday")
    root = tmp_path_factory.mktemp("drop")
    links = {
        "eqker/SPY_15min.csv": intraday / "eqker" / "SPY_15min.csv",
        "eqker/SPY_1min.csv": intraday / "eqker" / "SPY_1min.csv",
        "eqker/SPY_daily.csv": intraday / "eqker" / "SPY_daily.csv",
        "hourly/SPY_hourly.csv": intraday / "russs123-backtests" / "SPY_hourly.csv",
        "ninjatrader/nt-spy-minute-2011-03.csv": intraday
        / "pyalgotrade"
        / "nt-spy-minute-2011-03.csv",
    }
    for name, target in links.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).symlink_to(target)
    return root


def _files(drop: Path, prefix: str) -> list[SourceFile]:
    return [f for f in discover_files(drop) if f.relpath.startswith(prefix)]


def _local(ts: pl.Series) -> list[datetime]:
    return [t.astimezone(NEW_YORK).replace(tzinfo=None) for t in ts.to_list()]


def test_each_layout_is_found_with_its_symbol_and_timeframe(drop: Path) -> None:
    found = {(f.relpath, f.spec.name, f.symbol, f.timeframe) for f in discover_files(drop)}
    assert found == {
        ("eqker/SPY_15min.csv", "eqker", "SPY", "m15"),
        ("eqker/SPY_1min.csv", "eqker", "SPY", "m1"),
        ("eqker/SPY_daily.csv", "eqker", "SPY", "d1"),
        ("hourly/SPY_hourly.csv", "hourly", "SPY", "h1"),
        ("ninjatrader/nt-spy-minute-2011-03.csv", "ninjatrader", "SPY", "m1"),
    }


def test_eqker_end_stamped_bars_start_at_the_open(drop: Path) -> None:
    validated = split_bars(parse_files(_files(drop, "eqker/SPY_15")).rows, EXCHANGE)
    assert validated.rejects.is_empty()
    bars = validated.bars.sort("ts")
    # the file's first line is 2019-02-15 16:00 (the end of the last bar); newest first
    assert _local(bars["ts"][:1]) == [datetime(2019, 1, 4, 9, 30)]
    assert _local(bars["ts"][-1:]) == [datetime(2019, 2, 15, 15, 45)]
    per_session = bars.group_by("session_date").len()
    assert per_session.height == 30
    assert per_session["len"].unique().to_list() == [26]


def test_resampled_minutes_equal_the_vendors_15_minute_bars(drop: Path) -> None:
    rows = parse_files(_files(drop, "eqker/SPY_1min")).rows
    minutes = split_bars(rows, EXCHANGE).bars
    ours = resample_minutes(minutes, EXCHANGE)
    assert ours.minute_rows == minutes.height == 5 * 390
    assert ours.superseded == 0
    native = split_bars(parse_files(_files(drop, "eqker/SPY_15")).rows, EXCHANGE).bars
    m15 = ours.bars.filter(pl.col("timeframe") == "m15")
    assert m15.height == 5 * 26
    joined = m15.join(native, on=["symbol", "timeframe", "ts"], suffix="_vendor")
    assert joined.height == m15.height
    for field in ("open", "high", "low", "close", "volume"):
        assert (joined[field] - joined[f"{field}_vendor"]).abs().max() == 0, field
    h1 = ours.bars.filter(pl.col("timeframe") == "h1").sort("ts")
    # hour buckets anchored on the open: 09:30 … 15:30 (a half hour), 7 a session
    assert _local(h1["ts"][:7]) == [datetime(2019, 2, 11, h, 30) for h in range(9, 16)]
    assert h1.height == 5 * 7


def test_native_bars_win_over_resampled_ones(drop: Path) -> None:
    files = _files(drop, "eqker/SPY_1min") + _files(drop, "eqker/SPY_15")
    ours = resample_minutes(split_bars(parse_files(files).rows, EXCHANGE).bars, EXCHANGE)
    assert ours.superseded == 5 * 26
    m15 = ours.bars.filter(pl.col("timeframe") == "m15")
    assert m15.height == 30 * 26
    assert m15["source_file"].unique().to_list() == ["eqker/SPY_15min.csv"]


def test_hourly_gap_rows_are_quarantined_and_bars_start_on_the_half_hour(drop: Path) -> None:
    validated = split_bars(parse_files(_files(drop, "hourly/")).rows, EXCHANGE)
    rejects = validated.rejects
    assert rejects["source_line"].to_list() == [1415, 3193, 3309]
    assert all("filler copy" in r and "True" in r for r in rejects["reason"])
    assert "IsGap" not in rejects["raw_record"][0]
    minutes = {t.minute for t in _local(validated.bars["ts"])}
    assert minutes == {30}
    read = parse_files(_files(drop, "hourly/")).rows.height
    assert validated.bars.height + rejects.height == read


def test_ninjatrader_minutes_keep_the_regular_session_and_quarantine_the_rest(
    drop: Path,
) -> None:
    files = _files(drop, "ninjatrader/")
    first = date(2011, 3, 1)
    batch = build_batch(files, frozenset({(first, "SPY")}), [first], EXCHANGE)
    reasons = batch.rejects["reason"]
    assert reasons.str.starts_with("extended-hours bar at ").all()
    assert reasons.str.ends_with("outside the regular session (09:30-16:00)").all()
    # the export's first line is 2011-03-01 09:01 UTC = 04:01 New York, ending 04:01: it starts
    # at 04:00
    assert reasons[0].startswith("extended-hours bar at 04:00 ")
    assert batch.rejects["source_line"][0] == 1  # no header: the first line is data
    assert batch.rows_add_up
    assert batch.stats["minute_rows_in_slice"] == 390
    bars = batch.bars
    assert bars.group_by("timeframe").len().sort("timeframe").rows() == [("h1", 7), ("m15", 26)]
    assert _local(bars.filter(pl.col("timeframe") == "m15")["ts"][:1]) == [
        datetime(2011, 3, 1, 9, 30)
    ]
    assert set(bars["timeframe"]) == {"m15", "h1"}  # no 1-minute bar is ever stored


@pytest.mark.postgres
def test_real_intraday_files_become_bars_and_features_through_dagster(
    drop: Path, engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    """eqker's SPY files (15-minute, 1-minute, daily) through the ingestion and features assets
    on PostgreSQL: the native 15-minute bars are stored, the hour bars come from the 1-minute
    file, and every stored bar gets its features row."""
    local = tmp_path / "drop"
    shutil.copytree(drop / "eqker", local / "eqker", symlinks=True)
    defs = make_definitions(database_url, local, date(2019, 2, 11))
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("symbols", ["SPY"])
        result = materialize_range(
            defs,
            instance,
            "2019-02-11|SPY",
            "2019-02-15|SPY",
            asset_selection=[
                dg.AssetKey("ohlc_bars"),
                dg.AssetKey("ohlc_rejects"),
                dg.AssetKey("features"),
            ],
        )
    assert result.success
    bars_events = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("ohlc_bars")
    ]
    assert len(bars_events) == 5  # one per partition key, the run's metadata on each
    minute_rows = bars_events[0].materialization.metadata["minute_rows"].value
    # 5 sessions of 390 minutes; their 26 m15 buckets a session lose to the native file
    assert minute_rows == {
        "minute_rows_in_slice": 5 * 390,
        "bars_resampled_from_minutes": 5 * 7,
        "resampled_bars_superseded_by_native": 5 * 26,
    }
    week = "session_date BETWEEN '2019-02-11' AND '2019-02-15'"
    with engine.connect() as conn:
        bars = dict(
            conn.execute(
                sa.text(f"SELECT timeframe, count(*) FROM ohlc_bars WHERE {week} GROUP BY 1")
            ).all()
        )
        sources = dict(
            conn.execute(
                sa.text(
                    "SELECT timeframe, min(source_file) FROM ohlc_bars "
                    f"WHERE {week} AND timeframe <> 'd1' GROUP BY 1"
                )
            ).all()
        )
        features = dict(
            conn.execute(
                sa.text(
                    "SELECT timeframe, count(*) FROM features "
                    f"WHERE {week} AND timeframe IN ('m15', 'h1') GROUP BY 1"
                )
            ).all()
        )
        rejects = conn.execute(sa.text("SELECT count(*) FROM ohlc_rejects")).scalar()
    assert bars == {"d1": 5, "m15": 5 * 26, "h1": 5 * 7}
    assert sources == {"m15": "eqker/SPY_15min.csv", "h1": "eqker/SPY_1min.csv"}
    assert features == {"m15": 5 * 26, "h1": 5 * 7}
    assert rejects == 0


def test_the_sensor_registers_a_symbol_whose_first_rows_are_all_extended_hours(
    drop: Path,
) -> None:
    """NinjaTrader's file opens with pre-market minutes (quarantined): the sensor's sample of
    the first rows finds no valid bar, and the full read must still register SPY and plan the
    run of its sessions."""
    files = _files(drop, "ninjatrader/")
    days = sessions_between(EXCHANGE, date(2011, 3, 1), date(2011, 3, 31))
    scan = scan_drop_folder(files, None, [], days, EXCHANGE)
    assert scan.new_symbols == ["SPY"]
    assert scan.orphan_files == []
    assert scan.unregistered_files == []
    planned = [(r.first_date, r.last_date, r.first_symbol, r.last_symbol) for r in scan.ranges]
    assert planned == [(days[0], days[-1], "SPY", "SPY")]
