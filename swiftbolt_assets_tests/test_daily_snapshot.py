"""The daily results, bit for bit: the daily cycle on a fixed dataset against a saved snapshot.

The cycle runs on six synthetic symbols (four years of d1 bars, the last 20 sessions of h1 and
m15, a 2:1 split, a dividend and a bar that never arrives), from go-live 2026-08-03 in two runs,
so the second run's forecasts read the layer weights and calibration the first one fitted. Every
warehouse table is then compared with ``snapshots/daily_cycle/<table>.parquet``: every column
but the bookkeeping ones (run ids, write times, training seconds), floats to 1e-12.

A change that means to alter daily results regenerates the snapshot in its own commit that says
why: ``SWIFTBOLT_UPDATE_SNAPSHOT=1 pytest swiftbolt_assets_tests/test_daily_snapshot.py``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files
from swiftbolt_assets_tests.conftest import make_definitions, materialize_range

pytestmark = pytest.mark.postgres

SNAPSHOT = Path(__file__).parent / "snapshots" / "daily_cycle"
GO_LIVE = date(2026, 8, 3)
FIRST_RUN_END = date(2026, 10, 30)
LAST = date(2026, 11, 6)
# The snapshot's own copy (not forecast_fixtures.SMALL_MODELS): an edit of the other tests'
# model config must not change the pinned daily results.
SMALL_MODELS = {
    "stride": 1,
    "validation_sessions": 126,
    "lgbm_rounds": 20,
    "rf_trees": 10,
    "min_child_samples": 50,
    "max_skill_loss": 1.0,
}
CALIBRATION = {"min_live_target_days": 3, "min_live_samples": 20}
# Bookkeeping that differs between runs of the same data: which run, when, how long.
VOLATILE = {"run_id", "created_at", "updated_at", "train_seconds", "bar_created_at"}
# The model artifact itself is stored as its SHA-256 (``artifact_sha256``, in the version id).
SKIPPED = VOLATILE | {"artifact"}
TOLERANCE = 1e-12


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _dataset(drop_dir: Path) -> list[str]:
    names = demo_symbols(6)
    frames = generate_bars(names, start=date(2022, 9, 1), end=LAST, seed=11)
    day = pl.col("timestamp").str.slice(0, 10).str.to_date()
    split = date(2026, 11, 2)
    a = frames["SYN-A", "d1"]
    frames["SYN-A", "d1"] = a.with_columns(
        *(
            pl.when(day >= split).then(pl.col(c) / 2).otherwise(pl.col(c))
            for c in ("open", "high", "low", "close")
        ),
        pl.when(day >= split).then(pl.col("volume") * 2).otherwise(pl.col("volume")),
        pl.when(day == split)
        .then(2.0)
        .otherwise(pl.col("split_coefficient"))
        .alias("split_coefficient"),
    )
    frames["SYN-B", "d1"] = frames["SYN-B", "d1"].with_columns(
        pl.when(day == date(2026, 10, 30))
        .then(0.5)
        .otherwise(pl.col("dividend_amount"))
        .alias("dividend_amount")
    )
    frames["SYN-C", "d1"] = frames["SYN-C", "d1"].filter(day < LAST)
    write_drop_files(drop_dir, frames)
    return names


def _tables(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_name <> 'alembic_version'"
                )
            ).scalars()
        )


def _read(engine: sa.Engine, table: str) -> pl.DataFrame:
    with engine.connect() as conn:
        columns = [
            c
            for c in conn.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = :t ORDER BY ordinal_position"
                ),
                {"t": table},
            ).scalars()
            if c not in SKIPPED and not c.endswith("_run_id")
        ]
        rows = conn.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table}")).all()
    frame = pl.DataFrame(
        [tuple(_plain(v) for v in r) for r in rows],
        schema=columns,
        orient="row",
        infer_schema_length=None,
    )
    return frame.sort([c for c in columns if frame.schema[c] != pl.Object])


# (table, column, value of the daily rows) of the columns added since the snapshot
ADDED_COLUMNS = (("model_registry", "timeframe", "d1"),)


def _plain(value: object) -> object:
    """JSON, arrays and bytes as text, so every column has a parquet type and sorts."""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def _is_json(column: pl.Series) -> bool:
    return column.dtype == pl.String and bool(
        column.drop_nulls().str.contains(r"^[\[{]").all() and column.drop_nulls().len()
    )


def _close(got: object, want: object) -> bool:
    """JSON values equal, numbers to ``TOLERANCE`` (metrics summed in another order may differ
    in the last bits)."""
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(_close(got[k], want[k]) for k in got)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(_close(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(got, float | int) and isinstance(want, float | int):
        if isinstance(got, bool) or isinstance(want, bool):
            return got is want
        return math.isclose(got, want, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return got == want


def test_the_daily_cycle_reproduces_the_snapshot_of_every_table(
    database_url: str, engine: sa.Engine, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    names = _dataset(drop_dir)
    instance.add_dynamic_partitions("symbols", names)
    defs = make_definitions(database_url, drop_dir, GO_LIVE)
    config = {
        "ops": {
            "forecast_models": {"config": SMALL_MODELS},
            "confidence_calibration": {"config": CALIBRATION},
        }
    }
    for first, last in ((GO_LIVE, FIRST_RUN_END), (date(2026, 11, 2), LAST)):
        result = materialize_range(
            defs, instance, f"{first}|{names[0]}", f"{last}|{names[-1]}", run_config=config
        )
        assert result.success
    tables = {t: _read(engine, t) for t in _tables(engine)}
    if os.environ.get("SWIFTBOLT_UPDATE_SNAPSHOT"):
        SNAPSHOT.mkdir(parents=True, exist_ok=True)
        for old in SNAPSHOT.glob("*.parquet"):
            old.unlink()
        for table, frame in tables.items():
            frame.write_parquet(SNAPSHOT / f"{table}.parquet")
    saved = {p.stem: pl.read_parquet(p) for p in sorted(SNAPSHOT.glob("*.parquet"))}
    assert set(saved) <= set(tables), "a table of the snapshot is gone from the warehouse"
    # tables added after the snapshot (the intraday cadence's) get no row from a daily cycle
    for table in set(tables) - set(saved):
        assert tables[table].is_empty(), f"the daily cycle wrote {table}, not in the snapshot"
    # columns added after the snapshot: the snapshot's rows are those with the daily value
    # (the registry's m15 versions are the intraday cadence's, trained by the same asset)
    for table, column, value in ADDED_COLUMNS:
        assert value in tables[table].get_column(column).to_list()
        tables[table] = tables[table].filter(pl.col(column) == value).drop(column)
    # the loop ran: forecasts were served with weights fitted by the first run, evaluations and
    # the live calibration exist, and every table the cycle owns holds rows
    for table in (
        "ohlc_bars",
        "features",
        "model_registry",
        "ml_forecasts_daily",
        "forecast_evaluations_daily",
        "live_predictions_daily",
        "symbol_model_weights",
        "confidence_calibration",
    ):
        assert tables[table].height > 0, f"{table} is empty: the snapshot would prove nothing"
    for table, expected in saved.items():
        actual = tables[table]
        if expected.is_empty():  # no row to differ (calibrated_weights: rebuilt by intraday)
            assert actual.is_empty(), f"the daily cycle wrote {table}, empty in the snapshot"
            continue
        nested = [c for c in expected.columns if _is_json(expected.get_column(c))]
        for column in nested:
            for got, want in zip(actual[column], expected[column], strict=True):
                assert _close(json.loads(got), json.loads(want)), (
                    f"{table}.{column} differs from its snapshot: {got} != {want}"
                )
        try:
            assert_frame_equal(
                actual.drop(nested),
                expected.drop(nested),
                check_dtypes=False,
                check_exact=False,
                rel_tol=TOLERANCE,
                abs_tol=TOLERANCE,
            )
        except AssertionError as err:
            pytest.fail(f"{table} differs from its snapshot: {err}")
