"""The warehouse schema (migrations only) and the slice-write mechanics, on real PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl
import psycopg
import pytest
import sqlalchemy as sa

from swiftbolt_assets.definitions import RESERVED_TABLES, build_definitions
from swiftbolt_assets.settings import load_settings
from swiftbolt_assets.warehouse.database import with_driver
from swiftbolt_assets.warehouse.migrate import current_revision, head_revision, upgrade
from swiftbolt_assets.warehouse.slices import (
    NewKeys,
    Partitions,
    SliceWrite,
    Statement,
    WholeTable,
    write_slices,
)
from swiftbolt_assets_tests.test_definitions import table_owners

pytestmark = pytest.mark.postgres

BAR = {
    "symbol": "AAA",
    "timeframe": "d1",
    "ts": "2026-11-20T05:00:00Z",
    "session_date": "2026-11-20",
    "partition_date": "2026-11-20",
    "open": 10,
    "high": 11,
    "low": 9,
    "close": 10.5,
    "volume": 1,
    "is_synthetic": False,
    "source_name": "csv",
    "source_file": "f.csv",
    "source_line": 2,
    "run_id": "r",
}


def insert_bar(conn: sa.Connection, **overrides: object) -> None:
    row = {**BAR, **overrides}
    columns = ", ".join(row)
    values = ", ".join(f":{k}" for k in row)
    conn.execute(sa.text(f"INSERT INTO ohlc_bars ({columns}) VALUES ({values})"), row)


def test_migrations_are_at_head_and_every_table_has_one_owner(engine: sa.Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        tables = set(
            conn.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_name <> 'alembic_version'"
                )
            ).scalars()
        )
    owners = table_owners(
        build_definitions(replace(load_settings({}), partition_start=date(2026, 11, 2)))
    )
    assert tables == set(owners) | set(RESERVED_TABLES)
    assert not set(owners) & set(RESERVED_TABLES), "a reserved table has an owner: unreserve it"
    assert all(len(assets) == 1 for assets in owners.values())


def test_upgrading_twice_is_harmless(database_url: str, engine: sa.Engine) -> None:
    assert upgrade(database_url) == head_revision()


def test_the_key_allows_one_row_per_symbol_timeframe_and_time(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        insert_bar(conn)
    with pytest.raises(sa.exc.IntegrityError, match="ohlc_bars_pkey"), engine.begin() as conn:
        insert_bar(conn, close=10.7)


@pytest.mark.parametrize(
    "overrides",
    [{"high": 10.2}, {"low": 10.6}, {"volume": -1}, {"open": 0}, {"timeframe": "m5"}],
    ids=[
        "high-below-close",
        "low-above-close",
        "negative-volume",
        "zero-price",
        "unknown-timeframe",
    ],
)
def test_the_schema_refuses_impossible_bars(
    engine: sa.Engine, overrides: dict[str, object]
) -> None:
    with pytest.raises(sa.exc.IntegrityError, match="check"), engine.begin() as conn:
        insert_bar(conn, **overrides)


def bar_frame(**overrides: object) -> pl.DataFrame:
    """``BAR`` (without its run_id) typed like the table, for a binary COPY."""
    row = {k: v for k, v in {**BAR, **overrides}.items() if k != "run_id"}
    return pl.DataFrame({k: [v] for k, v in row.items()}).with_columns(
        pl.col("ts").str.to_datetime(time_zone="UTC"),
        pl.col("session_date", "partition_date").str.to_date(),
        pl.col("open", "high", "low", "close", "volume").cast(pl.Float64),
        pl.col("source_line").cast(pl.Int32),
    )


SLICE = Partitions([(date(2026, 11, 20), "AAA")])


def test_a_failed_write_leaves_the_previous_slice_intact(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        insert_bar(conn)
    broken = bar_frame(high=1.0)  # high < close violates a check
    # COPY goes through psycopg directly, so its error is psycopg's own
    with pytest.raises(psycopg.errors.CheckViolation):
        write_slices(engine, [SliceWrite("ohlc_bars", broken, SLICE)], "broken")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT high, run_id FROM ohlc_bars")).all() == [(11.0, "r")]


def test_a_failed_extra_statement_rolls_the_whole_write_back(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        insert_bar(conn)
    fails = Statement("symbols", "INSERT INTO symbols (symbol) VALUES ('bad symbol')")
    with pytest.raises(sa.exc.IntegrityError):
        write_slices(engine, [SliceWrite("ohlc_bars", bar_frame(close=10.7), SLICE)], "x", [fails])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT close, run_id FROM ohlc_bars")).all() == [(10.5, "r")]


def test_each_scope_deletes_what_it_names_and_chunks_go_in_one_write(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        insert_bar(conn)
        insert_bar(conn, symbol="BBB")
    other_day = {"ts": "2026-11-19T05:00:00Z", "session_date": "2026-11-19"}
    chunks = (bar_frame(**other_day), bar_frame(close=10.7))
    counts = write_slices(engine, [SliceWrite("ohlc_bars", iter(chunks), SLICE)], "p")
    assert (counts.deleted, counts.written) == ({"ohlc_bars": 1}, {"ohlc_bars": 2})
    # append-only: a row whose key exists is left as it is, a new one is added
    keys = ("symbol", "timeframe", "ts")
    new = pl.concat([bar_frame(symbol="BBB", close=10.9), bar_frame(symbol="CCC")])
    counts = write_slices(engine, [SliceWrite("ohlc_bars", new, NewKeys(keys))], "n")
    assert (counts.deleted, counts.written) == ({"ohlc_bars": 0}, {"ohlc_bars": 1})
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT symbol, session_date, close, run_id FROM ohlc_bars ORDER BY 1, 2")
        ).all()
    assert [(r[0], str(r[1]), r[2], r[3]) for r in rows] == [
        ("AAA", "2026-11-19", 10.5, "p"),
        ("AAA", "2026-11-20", 10.7, "p"),
        ("BBB", "2026-11-20", 10.5, "r"),
        ("CCC", "2026-11-20", 10.5, "n"),
    ]
    counts = write_slices(engine, [SliceWrite("ohlc_bars", bar_frame(), WholeTable())], "w")
    assert (counts.deleted, counts.written) == ({"ohlc_bars": 4}, {"ohlc_bars": 1})


def test_postgres_urls_get_the_driver_each_client_needs() -> None:
    assert (
        with_driver("postgresql://u@h:5432/db", "psycopg2") == "postgresql+psycopg2://u@h:5432/db"
    )
    assert with_driver("postgres://u@h/db", "psycopg").startswith("postgresql+psycopg://")
    with pytest.raises(ValueError, match="only PostgreSQL URLs"):
        with_driver("sqlite:///x.db", "psycopg")
