"""The features asset on PostgreSQL: one run after the bars, idempotent, incremental = full."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.features.assets import FEATURES, NO_INFINITE
from swiftbolt_assets.features.schema import numeric_columns
from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files
from swiftbolt_assets.warehouse.slices import query_frame
from swiftbolt_assets_tests.conftest import (
    check_results,
    make_definitions,
    materialize_range,
    shared_path,
)

pytestmark = pytest.mark.postgres

# The bars and their features: the part of the daily cycle the incremental test is about (the
# forecasting assets downstream would train models on 22 years of bars for nothing).
BUILD = [dg.AssetKey("ohlc_bars"), dg.AssetKey("ohlc_rejects"), FEATURES]


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def feature_rows(engine: sa.Engine, where: str = "true") -> pl.DataFrame:
    columns = ", ".join(
        ["symbol", "timeframe", "extract(epoch FROM ts)::bigint AS ts", *numeric_columns()]
    )
    with engine.connect() as conn:
        schema = {"symbol": pl.String(), "timeframe": pl.String(), "ts": pl.Int64()} | {
            c: pl.Float64() for c in numeric_columns()
        }
        return query_frame(
            conn, f"SELECT {columns} FROM features WHERE {where} ORDER BY 1, 2, 3", {}, schema
        )


def test_bars_and_features_in_one_run_and_a_rerun_gives_the_same_rows(
    engine: sa.Engine,
    database_url: str,
    drop_dir: Path,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    symbols = demo_symbols(3)
    frames = generate_bars(symbols, start=date(2024, 11, 1), end=date(2026, 11, 20), seed=5)
    write_drop_files(drop_dir, frames)
    instance.add_dynamic_partitions("symbols", symbols)
    defs = make_definitions(database_url, drop_dir, date(2026, 11, 16))

    # first run in chunks of 2 symbols (3 symbols: two chunks, one transaction)
    monkeypatch.setattr("swiftbolt_assets.features.assets.CHUNK_SYMBOLS", 2)
    result = materialize_range(
        defs, instance, f"2026-11-16|{symbols[0]}", f"2026-11-20|{symbols[-1]}"
    )

    assert result.success
    assert check_results(result)[NO_INFINITE] is True
    first = feature_rows(engine)
    with engine.connect() as conn:
        counts = dict(
            conn.execute(sa.text("SELECT timeframe, count(*) FROM features GROUP BY 1")).all()
        )
        bars = dict(
            conn.execute(sa.text("SELECT timeframe, count(*) FROM ohlc_bars GROUP BY 1")).all()
        )
    assert {tf: counts[tf] for tf in ("d1", "h1", "m15")} == bars
    assert counts["w1"] > 100
    materialized = instance.get_materialized_partitions(dg.AssetKey("features"))
    assert len(materialized) == 5 * 3

    # the rerun builds all symbols in one chunk: same rows
    monkeypatch.setattr("swiftbolt_assets.features.assets.CHUNK_SYMBOLS", 64)
    materialize_range(defs, instance, f"2026-11-16|{symbols[0]}", f"2026-11-20|{symbols[-1]}")
    assert feature_rows(engine).equals(first)


def test_one_day_incremental_build_equals_the_full_history_build(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    source = shared_path("data", "sp500_daily")
    (drop_dir / "sp500").mkdir()
    symbols = ["AAPL", "JPM", "MSFT", "XOM"]
    for symbol in symbols:
        path = next(source.glob(f"DA-{symbol}-T-*.csv"))
        shutil.copy(path, drop_dir / "sp500" / path.name)
    instance.add_dynamic_partitions("symbols", symbols)
    defs = make_definitions(database_url, drop_dir, date(2021, 4, 1))
    # one run: the first partition (all history since 1999) through 2021-04-21
    materialize_range(defs, instance, "2021-04-01|AAPL", "2021-04-21|XOM", asset_selection=BUILD)
    where = "partition_date = '2021-04-21'"
    full = feature_rows(engine, where)

    # the daily cycle of 2021-04-21 alone reads only its lookback window
    result = materialize_range(
        defs, instance, "2021-04-21|AAPL", "2021-04-21|XOM", asset_selection=BUILD
    )
    incremental = feature_rows(engine, where)

    meta = result.asset_materializations_for_node("features")[0].metadata
    assert str(meta["daily_lookback_from"].value) > "2014-01-01"
    assert incremental.height == full.height == 4  # one d1 row per symbol (21 Apr is a Wednesday)
    differing = {}
    for column in numeric_columns():
        a, b = full[column], incremental[column]
        worst = ((a - b).abs() / a.abs().clip(lower_bound=1.0)).max()
        if (a.is_null() != b.is_null()).any() or (worst is not None and worst >= 1e-9):  # type: ignore[operator]
            differing[column] = worst
    assert differing == {}
