"""The ohlc_bars asset against a real PostgreSQL: slices, idempotency, range runs, quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from swiftbolt_assets.ingestion.assets import (
    FRESH,
    NO_REJECTS,
    ROWS_ADD_UP,
)
from swiftbolt_assets_tests.conftest import (
    check_results,
    make_definitions,
    materialize_range,
    write_csv,
)

pytestmark = pytest.mark.postgres

START = date(2026, 11, 18)
SESSIONS = ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]
HEADER = "timestamp,open,high,low,close,volume,split_coefficient,dividend_amount\n"


def daily_rows(days: list[str], base: float) -> str:
    return "".join(
        f"{d},{base + i},{base + i + 1},{base + i - 1},{base + i + 0.5},{1000 + i},1.0,0.0\n"
        for i, d in enumerate(days)
    )


def rows(engine: sa.Engine, sql: str, **params: object) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def setup(
    drop_dir: Path, database_url: str, instance: dg.DagsterInstance, symbols: list[str]
) -> dg.Definitions:
    instance.add_dynamic_partitions("symbols", symbols)
    return make_definitions(database_url, drop_dir, START)


def test_a_range_run_writes_every_partition_once(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    for i, symbol in enumerate(["AAA", "BBB", "CCC"]):
        write_csv(
            drop_dir / "csv" / f"{symbol}_d1.csv", HEADER + daily_rows(SESSIONS, 10 * (i + 1))
        )
    defs = setup(drop_dir, database_url, instance, ["AAA", "BBB", "CCC"])

    result = materialize_range(defs, instance, "2026-11-18|AAA", "2026-11-20|CCC")

    assert result.success
    runs = instance.get_runs()
    assert len(runs) == 1
    materialized = instance.get_materialized_partitions(dg.AssetKey("ohlc_bars"))
    assert materialized == {f"{d}|{s}" for d in SESSIONS[2:] for s in ["AAA", "BBB", "CCC"]}
    # history before go-live belongs to the first partition
    by_partition = rows(
        engine,
        "SELECT partition_date, count(*) FROM ohlc_bars WHERE symbol = 'AAA' GROUP BY 1 ORDER BY 1",
    )
    assert by_partition == [
        (date(2026, 11, 18), 3),
        (date(2026, 11, 19), 1),
        (date(2026, 11, 20), 1),
    ]
    assert rows(
        engine, "SELECT symbol, first_session, last_session, bar_count FROM symbols ORDER BY 1"
    ) == [(s, date(2026, 11, 16), date(2026, 11, 20), 5) for s in ["AAA", "BBB", "CCC"]]
    assert rows(engine, "SELECT count(DISTINCT run_id) FROM ohlc_bars") == [(1,)]
    checks = check_results(result)
    assert checks[ROWS_ADD_UP] is True
    assert checks[FRESH] is True
    assert checks[NO_REJECTS] is True


def test_rematerializing_gives_the_same_rows_and_no_duplicates(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    write_csv(
        drop_dir / "csv" / "AAA_d1.csv",
        HEADER + daily_rows(SESSIONS, 10) + "2026-11-20,x,1,1,1,1,1,0\n",
    )
    defs = setup(drop_dir, database_url, instance, ["AAA"])
    snapshot_sql = (
        "SELECT symbol, timeframe, ts, partition_date, open, high, low, close, volume, "
        "source_file, source_line FROM ohlc_bars ORDER BY symbol, timeframe, ts"
    )
    reject_sql = (
        "SELECT partition_date, symbol, source_file, source_line, reason "
        "FROM ohlc_rejects ORDER BY 1, 4"
    )

    materialize_range(defs, instance, "2026-11-18|AAA", "2026-11-20|AAA")
    first_bars, first_rejects = rows(engine, snapshot_sql), rows(engine, reject_sql)
    first_run = rows(engine, "SELECT DISTINCT run_id FROM ohlc_bars")
    materialize_range(defs, instance, "2026-11-18|AAA", "2026-11-20|AAA")

    assert rows(engine, snapshot_sql) == first_bars
    assert rows(engine, reject_sql) == first_rejects
    assert len(first_bars) == 5
    assert len(first_rejects) == 1
    assert rows(engine, "SELECT DISTINCT run_id FROM ohlc_bars") != first_run


def test_a_run_replaces_only_its_own_slice(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    aaa = write_csv(drop_dir / "csv" / "AAA_d1.csv", HEADER + daily_rows(SESSIONS, 10))
    write_csv(drop_dir / "csv" / "BBB_d1.csv", HEADER + daily_rows(SESSIONS, 20))
    defs = setup(drop_dir, database_url, instance, ["AAA", "BBB"])
    materialize_range(defs, instance, "2026-11-18|AAA", "2026-11-20|BBB")
    before = rows(engine, "SELECT symbol, ts, close, run_id FROM ohlc_bars ORDER BY 1, 2")

    # the vendor corrects AAA's 2026-11-19 bar; only that partition is re-run
    corrected = aaa.read_text().replace("2026-11-19,13,14,12,13.5", "2026-11-19,13,15,12,14.5")
    assert corrected != aaa.read_text()
    aaa.write_text(corrected)
    result = materialize_range(defs, instance, "2026-11-19|AAA", "2026-11-19|AAA")

    assert result.success
    after = rows(engine, "SELECT symbol, ts, close, run_id FROM ohlc_bars ORDER BY 1, 2")
    changed = [a for a, b in zip(after, before, strict=True) if a != b]
    assert len(after) == len(before) == 10
    assert [(c[0], c[2]) for c in changed] == [("AAA", 14.5)]


def test_every_input_row_ends_in_bars_or_rejects(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    bad = (
        "2026-11-19,10,9,11,10,5,1,0\n"  # high < low
        "2026-11-19,10,11,9,10,-5,1,0\n"  # negative volume
        "2026-11-21,10,11,9,10,5,1,0\n"  # a Saturday: belongs to Monday 2026-11-23's partition
        "not-a-date,10,11,9,10,5,1,0\n"  # no session: file-scoped reject
    )
    write_csv(drop_dir / "csv" / "AAA_d1.csv", HEADER + daily_rows(SESSIONS, 10) + bad)
    write_csv(drop_dir / "csv" / "BAD|X_d1.csv", HEADER + daily_rows(SESSIONS[:2], 5))
    write_csv(drop_dir / "csv" / "EMPTY_d1.csv", "")
    defs = setup(drop_dir, database_url, instance, ["AAA", "EMPTY"])

    result = materialize_range(defs, instance, "2026-11-18|AAA", "2026-11-23|EMPTY")

    assert result.success
    input_rows = 5 + 4 + 2
    bars = rows(engine, "SELECT count(*) FROM ohlc_bars")[0][0]
    row_rejects = rows(engine, "SELECT count(*) FROM ohlc_rejects WHERE source_line IS NOT NULL")[
        0
    ][0]
    assert (bars, row_rejects) == (5, 6)
    assert bars + row_rejects == input_rows
    file_rejects = rows(
        engine, "SELECT source_file, reason FROM ohlc_rejects WHERE source_line IS NULL"
    )
    assert file_rejects == [("csv/EMPTY_d1.csv", "file is empty (0 bytes)")]
    orphans = rows(
        engine,
        "SELECT count(*), bool_and(partition_date IS NULL) FROM ohlc_rejects "
        "WHERE symbol = 'BAD|X'",
    )
    assert orphans == [(2, True)]
    assert check_results(result)[ROWS_ADD_UP] is True
    assert check_results(result)[NO_REJECTS] is False

    # another run re-reports the file-scoped rejects instead of duplicating them
    materialize_range(defs, instance, "2026-11-20|AAA", "2026-11-20|AAA")
    assert rows(engine, "SELECT count(*) FROM ohlc_rejects WHERE symbol = 'BAD|X'") == [(2,)]
    assert (
        rows(engine, "SELECT count(*) FROM ohlc_rejects WHERE source_line IS NOT NULL")[0][0] == 6
    )


def test_freshness_check_names_the_partition_without_a_bar(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    write_csv(drop_dir / "csv" / "AAA_d1.csv", HEADER + daily_rows(SESSIONS[:4], 10))
    defs = setup(drop_dir, database_url, instance, ["AAA"])
    result = materialize_range(defs, instance, "2026-11-20|AAA", "2026-11-20|AAA")
    evaluation = next(
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == FRESH
    )
    assert evaluation.passed is False
    assert evaluation.metadata["examples"].value == ["2026-11-20|AAA"]
    assert rows(engine, "SELECT count(*) FROM ohlc_bars") == [(0,)]


def materialization_metadata(
    result: dg.ExecuteInProcessResult, asset: str
) -> dict[str, dg.MetadataValue]:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)
    ]
    return dict(event.materialization.metadata)


def test_the_rejects_check_names_examples_and_the_row_count_is_the_table(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    bad = (
        "2026-11-19,10,9,11,10,5,1,0\n"  # high < low
        "2026-11-20,10,11,9,-10,5,1,0\n"  # negative close
    )
    write_csv(drop_dir / "csv" / "AAA_d1.csv", HEADER + daily_rows(SESSIONS, 10) + bad)
    defs = setup(drop_dir, database_url, instance, ["AAA"])
    materialize_range(defs, instance, "2026-11-18|AAA", "2026-11-20|AAA")
    assert rows(engine, "SELECT count(*) FROM ohlc_rejects") == [(2,)]

    # a run over one day writes that day's reject only; the table still holds both
    result = materialize_range(defs, instance, "2026-11-20|AAA", "2026-11-20|AAA")

    evaluation = next(
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == NO_REJECTS
    )
    assert evaluation.passed is False
    examples = evaluation.metadata["examples"].value
    assert isinstance(examples, list)
    assert len(examples) == 1
    assert examples[0].startswith("AAA d1 csv/AAA_d1.csv line 8: ")
    assert "close" in examples[0]
    metadata = materialization_metadata(result, "ohlc_rejects")
    assert metadata["dagster/row_count"].value == 2
    assert metadata["rows_written_by_run"].value == 1


def test_files_of_unregistered_symbols_without_a_valid_bar_are_quarantined_by_any_run(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    write_csv(drop_dir / "csv" / "AAA_d1.csv", HEADER + daily_rows(SESSIONS, 10))
    write_csv(drop_dir / "csv" / "JUNK_d1.csv", "lorem ipsum, dolor\nsit amet\n")
    write_csv(drop_dir / "csv" / "BAD_d1.csv", HEADER + "2026-11-19,10,9,11,10,5,1,0\n")
    defs = setup(drop_dir, database_url, instance, ["AAA"])  # the sensor registered AAA only

    result = materialize_range(defs, instance, "2026-11-20|AAA", "2026-11-20|AAA")

    assert result.success
    assert check_results(result)[ROWS_ADD_UP] is True
    quarantined = rows(
        engine,
        "SELECT symbol, source_file, source_line, partition_date, reason FROM ohlc_rejects "
        "WHERE symbol <> 'AAA' ORDER BY source_file",
    )
    assert [r[:4] for r in quarantined] == [
        ("BAD", "csv/BAD_d1.csv", 2, None),
        ("JUNK", "csv/JUNK_d1.csv", None, None),
    ]
    assert "high" in str(quarantined[0][4])
    assert str(quarantined[1][4])  # the file's reason, e.g. the missing columns
    # another run replaces them instead of adding them again
    materialize_range(defs, instance, "2026-11-19|AAA", "2026-11-19|AAA")
    assert rows(engine, "SELECT count(*) FROM ohlc_rejects WHERE symbol <> 'AAA'") == [(2,)]
