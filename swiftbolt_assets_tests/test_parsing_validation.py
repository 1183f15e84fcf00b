"""Parsing and validation as pure functions, on a corpus of bad input."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from swiftbolt_assets.ingestion.parsing import parse_files
from swiftbolt_assets.ingestion.sources import discover_files, is_valid_symbol
from swiftbolt_assets.ingestion.validation import ValidatedBars, split_bars
from swiftbolt_assets_tests.conftest import write_csv

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD_DAY = "2024-03-04,10,11,9,10.5,1000\n"


def ingest(drop: Path) -> tuple[ValidatedBars, pl.DataFrame]:
    parsed = parse_files(discover_files(drop))
    return split_bars(parsed.rows, "XNYS"), parsed.file_errors


def only_reason(result: ValidatedBars) -> str:
    assert result.rejects.height == 1, result.rejects
    return str(result.rejects["reason"][0])


# --- file names and headers -------------------------------------------------------------------


def test_symbol_and_timeframe_come_from_the_file_name(drop_dir: Path) -> None:
    write_csv(drop_dir / "csv" / "brk.b_d1.csv", HEADER + GOOD_DAY)
    write_csv(drop_dir / "sp500" / "DA-MSFT-T-2021-04-21.csv", HEADER + GOOD_DAY)
    files = {f.relpath: f for f in discover_files(drop_dir)}
    assert (files["csv/brk.b_d1.csv"].symbol, files["csv/brk.b_d1.csv"].timeframe) == (
        "BRK.B",
        "d1",
    )
    assert files["sp500/DA-MSFT-T-2021-04-21.csv"].symbol == "MSFT"
    assert files["sp500/DA-MSFT-T-2021-04-21.csv"].timeframe == "d1"


def test_a_name_outside_the_pattern_is_a_file_error(drop_dir: Path) -> None:
    write_csv(drop_dir / "sp500" / "prices.csv", HEADER + GOOD_DAY)
    _, errors = ingest(drop_dir)
    assert errors["source_file"].to_list() == ["sp500/prices.csv"]
    assert "does not match the sp500 pattern" in errors["reason"][0]


def test_byte_order_mark_spaced_and_capitalised_headers_are_read(drop_dir: Path) -> None:
    text = "\ufeff Timestamp , Open,HIGH , low,Close , Volume \n" + GOOD_DAY
    write_csv(drop_dir / "csv" / "AAA_d1.csv", text)
    result, errors = ingest(drop_dir)
    assert errors.is_empty()
    assert result.bars["close"].to_list() == [10.5]


def test_tradingview_columns_are_read_by_name_and_extra_columns_ignored(drop_dir: Path) -> None:
    header = "time,open,high,low,close,Basis,Plot,Plot,Volume,Plot,RSI Overbought \n"
    row = "2024-10-23,10,11,9,10.5,1,2,3,5000,4,70\n"
    write_csv(drop_dir / "tradingview" / "AAPL_d1.csv", header + row)
    result, errors = ingest(drop_dir)
    assert errors.is_empty()
    assert result.bars.select("symbol", "timeframe", "close", "volume").row(0) == (
        "AAPL",
        "d1",
        10.5,
        5000.0,
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "file is empty (0 bytes)"),
        (HEADER, "file has a header but no data rows"),
        (
            "date,price\n2024-03-04,10\n",
            "header lacks required column(s) timestamp, open, high, low, close",
        ),
    ],
    ids=["zero-bytes", "header-only", "wrong-header"],
)
def test_unusable_files_are_reported_with_their_name_and_the_others_go_on(
    drop_dir: Path, content: str, expected: str
) -> None:
    write_csv(drop_dir / "csv" / "BAD_d1.csv", content)
    write_csv(drop_dir / "csv" / "GOOD_d1.csv", HEADER + GOOD_DAY)
    result, errors = ingest(drop_dir)
    assert errors["source_file"].to_list() == ["csv/BAD_d1.csv"]
    assert errors["reason"][0].startswith(expected)
    assert result.bars["symbol"].to_list() == ["GOOD"]


def test_a_truncated_file_keeps_its_complete_rows_and_rejects_the_cut_one(drop_dir: Path) -> None:
    write_csv(drop_dir / "csv" / "CUT_d1.csv", HEADER + GOOD_DAY + "2024-03-05,10,11,9")
    result, _ = ingest(drop_dir)
    assert result.bars["session_date"].to_list() == [date(2024, 3, 4)]
    assert result.rejects["source_line"].to_list() == [3]
    assert "close is missing" in only_reason(result)


def test_a_file_the_csv_parser_cannot_read_does_not_stop_the_others(drop_dir: Path) -> None:
    write_csv(drop_dir / "csv" / "QUOTE_d1.csv", HEADER + '2024-03-04,"10,11,9,10.5,1000\n')
    write_csv(drop_dir / "csv" / "GOOD_d1.csv", HEADER + GOOD_DAY)
    result, errors = ingest(drop_dir)
    assert result.bars["symbol"].to_list() == ["GOOD"]
    reported = set(errors["source_file"].to_list()) | set(result.rejects["source_file"].to_list())
    assert "csv/QUOTE_d1.csv" in reported


# --- row-level corpus -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2024-03-04,abc,11,9,10.5,1000", "open is not a number: abc"),
        ("2024-03-04,10,11,9,NaN,1000", "close is not finite: NaN"),
        ("2024-03-04,10,11,9,inf,1000", "close is not finite: inf"),
        ("2024-03-04,10,9,11,10.5,1000", "high is at least open and close"),
        ("2024-03-04,10,11,9,10.5,-5", "volume fails greater_than_or_equal_to(0)"),
        ("2024-03-04,-10,11,9,10.5,1000", "open fails greater_than(0)"),
        ("2024-03-04,10,11,9,,1000", "close is missing"),
        ("04/03/2024,10,11,9,10.5,1000", "timestamp cannot be parsed: 04/03/2024"),
        ("2024-03-09,10,11,9,10.5,1000", "2024-03-09 is not a XNYS session"),
        ("", "blank line"),
    ],
    ids=[
        "non-numeric",
        "nan",
        "inf",
        "high-below-low",
        "negative-volume",
        "negative-price",
        "missing-close",
        "bad-timestamp",
        "weekend",
        "blank-line",
    ],
)
def test_bad_rows_are_quarantined_with_their_reason_and_line(
    drop_dir: Path, row: str, reason: str
) -> None:
    write_csv(
        drop_dir / "csv" / "AAA_d1.csv",
        HEADER + GOOD_DAY + row + "\n" + "2024-03-05,10,11,9,10.5,1000\n",
    )
    result, _ = ingest(drop_dir)
    assert reason in only_reason(result)
    assert result.rejects["source_line"].to_list() == [3]
    assert result.bars.height == 2
    raw = json.loads(result.rejects["raw_record"][0])
    assert set(raw) >= {"ts_raw", "open_raw", "close_raw"}


def test_a_duplicate_timestamp_keeps_the_first_line(drop_dir: Path) -> None:
    text = HEADER + GOOD_DAY + "2024-03-04,20,21,19,20.5,7\n"
    write_csv(drop_dir / "csv" / "AAA_d1.csv", text)
    result, _ = ingest(drop_dir)
    assert result.bars["close"].to_list() == [10.5]
    assert only_reason(result) == "duplicate bar: same timestamp as line 2"


def test_across_files_the_newer_file_wins(drop_dir: Path) -> None:
    old = write_csv(drop_dir / "csv" / "AAA_d1.csv", HEADER + GOOD_DAY)
    new = write_csv(drop_dir / "synthetic" / "AAA_d1.csv", HEADER + "2024-03-04,20,21,19,20.5,7\n")
    import os

    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    os.utime(new, ns=(2_000_000_000, 2_000_000_000))
    result, _ = ingest(drop_dir)
    assert result.bars["close"].to_list() == [20.5]
    assert "superseded by synthetic/AAA_d1.csv line 2" in only_reason(result)


def test_out_of_order_rows_are_kept_and_keyed_by_time(drop_dir: Path) -> None:
    text = (
        HEADER + "2024-03-06,10,11,9,10.5,1\n2024-03-04,10,11,9,10.5,1\n2024-03-05,10,11,9,10.5,1\n"
    )
    write_csv(drop_dir / "csv" / "AAA_d1.csv", text)
    result, _ = ingest(drop_dir)
    assert result.rejects.is_empty()
    assert sorted(result.bars["session_date"].to_list()) == [date(2024, 3, d) for d in (4, 5, 6)]


def test_mixed_utc_offsets_are_honoured(drop_dir: Path) -> None:
    text = (
        "time,open,high,low,close,volume\n"
        "2025-12-16T08:30:00-06:00,10,11,9,10.5,1\n"  # Chicago: 14:30 UTC
        "2025-12-16T15:30:00Z,10,11,9,10.5,1\n"  # UTC
        "2025-12-16T11:30:00-05:00,10,11,9,10.5,1\n"  # New York: 16:30 UTC
    )
    write_csv(drop_dir / "tradingview" / "AAA_h1.csv", text)
    result, _ = ingest(drop_dir)
    assert result.rejects.is_empty()
    assert sorted(result.bars["ts"].to_list()) == [
        datetime(2025, 12, 16, hour, 30, tzinfo=UTC) for hour in (14, 15, 16)
    ]
    assert set(result.bars["session_date"].to_list()) == {date(2025, 12, 16)}


def test_one_instant_written_in_two_zones_is_a_duplicate(drop_dir: Path) -> None:
    text = (
        "time,open,high,low,close,volume\n"
        "2025-12-16T09:30:00-05:00,10,11,9,10.5,1\n"
        "2025-12-16T08:30:00-06:00,10,11,9,10.5,1\n"
    )
    write_csv(drop_dir / "tradingview" / "AAA_h1.csv", text)
    result, _ = ingest(drop_dir)
    assert result.bars.height == 1
    assert only_reason(result) == "duplicate bar: same timestamp as line 2"


def test_intraday_timestamps_without_a_zone_are_rejected(drop_dir: Path) -> None:
    text = "timestamp,open,high,low,close,volume\n2025-12-16 09:30:00,10,11,9,10.5,1\n"
    write_csv(drop_dir / "csv" / "AAA_m15.csv", text)
    result, _ = ingest(drop_dir)
    assert "timestamp has no time zone: 2025-12-16 09:30:00" in only_reason(result)


def test_an_unknown_timeframe_rejects_the_file_rows(drop_dir: Path) -> None:
    write_csv(drop_dir / "csv" / "AAA_m5.csv", HEADER + GOOD_DAY)
    result, _ = ingest(drop_dir)
    assert "unknown timeframe 'm5'" in only_reason(result)


@pytest.mark.parametrize("name", ["BRK|B", "A,B"])
def test_symbols_that_would_break_partition_keys_are_rejected(drop_dir: Path, name: str) -> None:
    write_csv(drop_dir / "csv" / f"{name}_d1.csv", HEADER + GOOD_DAY)
    result, _ = ingest(drop_dir)
    assert not is_valid_symbol(name)
    assert result.bars.is_empty()
    assert "symbol fails str_matches" in only_reason(result)
