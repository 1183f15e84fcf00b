"""Sectors from the drop folder's ``constituents.csv``: validation with reasons (pure, and on the
real S&P 500 file), and ``ohlc_bars`` writing ``symbols.sector`` and the rejects on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.ingestion.sectors import read_sectors
from swiftbolt_assets.ingestion.sources import discover_files
from swiftbolt_assets_tests.conftest import make_definitions, materialize_range, write_csv

SP500 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_daily"
SESSIONS = ["2026-11-16", "2026-11-17", "2026-11-18"]
HEADER = "timestamp,open,high,low,close,volume,split_coefficient,dividend_amount\n"
CONSTITUENTS = (
    "\ufeffSymbol, Name ,Sector\n"
    "AAA,Alpha Inc,Energy\n"
    "BBB,Beta Corp, Utilities \n"
    "bad symbol!,Nobody,Energy\n"
    "DDD,Delta,\n"
    "EEE,Echo,Energy\n"
    "EEE,Echo,Materials\n"
    "AAA,Alpha Inc,Energy\n"
)


def test_sectors_are_validated_with_reasons_and_every_row_is_counted(tmp_path: Path) -> None:
    write_csv(tmp_path / "constituents.csv", CONSTITUENTS)
    result = read_sectors(tmp_path)
    assert result.files == ["constituents.csv"]
    assert result.sectors.rows() == [("AAA", "Energy"), ("BBB", "Utilities")]
    reasons = dict(zip(result.rejected["source_line"], result.rejected["reason"], strict=True))
    assert reasons == {
        4: "invalid symbol bad symbol!",
        5: "empty sector",
        6: "conflicting sectors for EEE",
        7: "conflicting sectors for EEE",
        8: "duplicate row for AAA",
    }
    assert result.rows_read == result.sectors.height + result.rejected.height == 7


def test_an_empty_row_does_not_make_a_valid_one_conflict(tmp_path: Path) -> None:
    write_csv(tmp_path / "constituents.csv", "Symbol,Sector\nAAA,\nAAA,Energy\nAAA,Energy\n")
    result = read_sectors(tmp_path)
    assert result.sectors.rows() == [("AAA", "Energy")]
    assert result.rejected["reason"].to_list() == ["empty sector", "duplicate row for AAA"]


def test_an_unreadable_file_is_rejected_whole_and_the_run_goes_on(tmp_path: Path) -> None:
    write_csv(tmp_path / "a" / "constituents.csv", "")
    write_csv(tmp_path / "b" / "constituents.csv", "Symbol,Sector\nAAA,Energy,extra,fields\n")
    write_csv(tmp_path / "c" / "constituents.csv", "Symbol,Sector\nBBB,Utilities\n")
    result = read_sectors(tmp_path)
    assert result.sectors.rows() == [("BBB", "Utilities")]
    files = dict(zip(result.rejected["source_file"], result.rejected["reason"], strict=True))
    assert set(files) == {"a/constituents.csv", "b/constituents.csv"}
    assert all(reason.startswith("unreadable: ") for reason in files.values())


def test_a_file_without_the_columns_is_rejected_whole_and_sectors_are_optional(
    tmp_path: Path,
) -> None:
    assert read_sectors(tmp_path).sectors.is_empty()  # no file: no sector, no error
    write_csv(tmp_path / "sp500" / "constituents.csv", "Ticker,Industry\nAAA,Energy\n")
    result = read_sectors(tmp_path)
    assert result.sectors.is_empty()
    assert result.rejected.rows() == [
        (
            "sp500/constituents.csv",
            None,
            "no Symbol and Sector columns in the header ['Ticker', 'Industry']",
        )
    ]
    # never mistaken for a bar file of the folder it lies in
    assert [f.relpath for f in discover_files(tmp_path)] == []


@pytest.mark.skipif(not SP500.is_dir(), reason="the shared S&P 500 data is not here")
def test_the_real_constituents_file_gives_every_symbol_a_sector() -> None:
    result = read_sectors(SP500)
    assert result.rejected.is_empty()
    assert result.sectors.height == 505
    assert result.sectors.filter(pl.col("symbol") == "MMM")["sector"].item() == "Industrials"
    assert result.sectors["sector"].n_unique() == 11  # the GICS sectors


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.mark.postgres
def test_ingestion_writes_each_symbols_sector_and_quarantines_bad_rows(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    symbols = ["AAA", "BBB", "CCC"]
    for i, symbol in enumerate(symbols):
        rows = "".join(f"{d},{10 + i},{11 + i},{9 + i},{10.5 + i},1000,1.0,0.0\n" for d in SESSIONS)
        write_csv(drop_dir / "csv" / f"{symbol}_d1.csv", HEADER + rows)
    write_csv(drop_dir / "constituents.csv", CONSTITUENTS)
    instance.add_dynamic_partitions("symbols", symbols)
    defs = make_definitions(database_url, drop_dir, date(2026, 11, 18))

    def sectors() -> dict[str, str | None]:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT symbol, sector FROM symbols")).all())  # type: ignore[arg-type]

    def rejects() -> list[tuple[object, ...]]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT source_line, reason FROM ohlc_rejects "
                        "WHERE source_file = 'constituents.csv' ORDER BY 1"
                    )
                ).all()
            )

    assert materialize_range(defs, instance, "2026-11-18|AAA", "2026-11-18|CCC").success
    assert sectors() == {"AAA": "Energy", "BBB": "Utilities", "CCC": None}
    assert [line for line, _ in rejects()] == [4, 5, 6, 7, 8]

    # the file changes: a re-run writes the new sectors and replaces the old rejects
    write_csv(drop_dir / "constituents.csv", "Symbol,Sector\nAAA,Materials\nCCC,Energy\n")
    assert materialize_range(defs, instance, "2026-11-18|AAA", "2026-11-18|CCC").success
    assert sectors() == {"AAA": "Materials", "BBB": None, "CCC": "Energy"}
    assert rejects() == []
