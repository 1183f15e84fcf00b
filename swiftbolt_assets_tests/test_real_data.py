"""Integration: the TradingView exports and a slice of the sp500 files into PostgreSQL."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from swiftbolt_assets.ingestion.sources import discover_files
from swiftbolt_assets_tests.conftest import (
    check_results,
    make_definitions,
    materialize_range,
    shared_path,
)
from swiftbolt_assets_tests.forecast_fixtures import SMALL_MODELS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SP500_SLICE = ["AAPL", "MSFT", "BRK.B", "GOOGL", "XOM", "JPM", "VIAC", "WELL", "A", "ZTS"]
# one partition holds everything: go-live on the TradingView files' last session
START = date(2026, 1, 5)
# The tests assert on the bars: the cycle's models (trained on these years of d1 bars) only have
# to train, so they are small ones (the gate keeps its default floor).
SMALL = {
    "ops": {
        "forecast_models": {
            "config": {k: v for k, v in SMALL_MODELS.items() if k != "max_skill_loss"}
        }
    }
}


@pytest.fixture
def real_drop(drop_dir: Path) -> Path:
    tradingview = shared_path("fixtures", "tradingview")
    sp500 = shared_path("data", "sp500_daily")
    (drop_dir / "tradingview").mkdir()
    (drop_dir / "sp500").mkdir()
    for path in tradingview.glob("*.csv"):
        shutil.copy(path, drop_dir / "tradingview" / path.name)
    for symbol in SP500_SLICE:
        for path in sp500.glob(f"DA-{symbol}-T-*.csv"):
            shutil.copy(path, drop_dir / "sp500" / path.name)
    return drop_dir


def data_rows(path: Path) -> int:
    with path.open() as handle:
        return sum(1 for _ in handle) - 1


def test_real_files_load_completely_and_exactly(
    engine: sa.Engine, database_url: str, real_drop: Path
) -> None:
    symbols = sorted({f.symbol for f in discover_files(real_drop)})
    defs = make_definitions(database_url, real_drop, START)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("symbols", symbols)
        result = materialize_range(
            defs,
            instance,
            f"2026-01-05|{symbols[0]}",
            f"2026-01-05|{symbols[-1]}",
            run_config=SMALL,
        )

    assert result.success
    assert check_results(result)["ohlc_bars_rows_add_up"] is True
    with engine.connect() as conn:
        counts = dict(
            conn.execute(sa.text("SELECT source_file, count(*) FROM ohlc_bars GROUP BY 1")).all()
        )
        rejects = conn.execute(sa.text("SELECT count(*) FROM ohlc_rejects")).scalar()
        aapl_split = conn.execute(
            sa.text(
                "SELECT close, split_coefficient FROM ohlc_bars "
                "WHERE symbol = 'AAPL' AND timeframe = 'd1' AND session_date = '2020-08-31'"
            )
        ).one()
        first_h1 = conn.execute(
            sa.text("SELECT min(ts) FROM ohlc_bars WHERE symbol = 'AAPL' AND timeframe = 'h1'")
        ).scalar()
        timeframes = conn.execute(
            sa.text(
                "SELECT array_agg(DISTINCT timeframe ORDER BY timeframe) FROM ohlc_bars "
                "WHERE symbol = 'AAPL'"
            )
        ).scalar()
    assert rejects == 0
    for path in real_drop.rglob("*.csv"):
        assert counts[path.relative_to(real_drop).as_posix()] == data_rows(path), path.name
    # raw prices with the split event kept (AAPL 4:1 on 2020-08-31)
    assert tuple(aapl_split) == (129.04, 4.0)
    # TradingView's intraday time carries its UTC offset: 09:30-05:00 is 14:30 UTC
    assert first_h1 == datetime(2025, 10, 31, 14, 30, tzinfo=UTC)
    assert timeframes == ["d1", "h1", "m15"]


def test_sp500_csv_values_survive_the_round_trip(
    engine: sa.Engine, database_url: str, real_drop: Path
) -> None:
    source = next((real_drop / "sp500").glob("DA-MSFT-T-*.csv"))
    with source.open() as handle:
        expected = [
            (
                date.fromisoformat(r["timestamp"]),
                float(r["open"]),
                float(r["close"]),
                float(r["volume"]),
            )
            for r in csv.DictReader(handle)
        ]
    defs = make_definitions(database_url, real_drop, START)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("symbols", ["MSFT"])
        materialize_range(defs, instance, "2026-01-05|MSFT", "2026-01-05|MSFT", run_config=SMALL)
    with engine.connect() as conn:
        stored = [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT session_date, open, close, volume FROM ohlc_bars "
                    "WHERE symbol = 'MSFT' ORDER BY ts"
                )
            ).all()
        ]
    assert stored == expected
