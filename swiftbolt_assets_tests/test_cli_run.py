"""`make run`'s driver end to end in a fresh state folder: embedded (or service) PostgreSQL,
migrations, demo data, the range run recorded in Dagster's PostgreSQL storage, a summary."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from swiftbolt_assets.calendar import sessions_between
from swiftbolt_assets.warehouse.database import (
    start_embedded_server,
    with_database,
    with_driver,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str | None]:
    """The external server database for the run, or None for the embedded default."""
    configured = os.environ.get("SWIFTBOLT_TEST_DATABASE_URL")
    if not configured:
        yield None
        return
    name = f"swiftbolt_cli_{uuid.uuid4().hex[:8]}"
    yield with_database(with_driver(configured, "psycopg"), name)
    admin = sa.create_engine(
        with_database(with_driver(configured, "psycopg"), "postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        for db in (name, name + "_dagster"):
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    admin.dispose()


def test_run_ingests_demo_data_and_records_the_run_in_dagster(
    tmp_path: Path, server_url: str | None
) -> None:
    home = tmp_path / "state"
    recent = sessions_between(
        "XNYS", date.today() - timedelta(days=20), date.today() - timedelta(days=1)
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SWIFTBOLT_", "DAGSTER_"))},
        "SWIFTBOLT_HOME": str(home),
        "SWIFTBOLT_PARTITION_START": recent[-5].isoformat(),
    }
    if server_url:
        env["SWIFTBOLT_DATABASE_URL"] = server_url
    done = subprocess.run(
        [sys.executable, "-m", "swiftbolt_assets.cli", "run"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "8 new symbols, 1 range run(s)" in out
    assert "check ohlc_bars_rows_add_up: pass" in out
    assert "ohlc_bars d1 (SYNTHETIC)" in out
    assert "ohlc_rejects: 0" in out
    # Dagster's beta/preview notices are filtered once in the cli, not repeated per asset
    assert "BetaWarning" not in done.stderr
    assert "PreviewWarning" not in done.stderr

    # the run is in Dagster's PostgreSQL storage, with one materialization per partition key
    admin = server_url or with_database(start_embedded_server(home / "pgdata"), "swiftbolt")
    storage = with_driver(
        with_database(admin, (sa.engine.make_url(admin).database or "swiftbolt") + "_dagster"),
        "psycopg2",
    )
    os.environ["SWIFTBOLT_DAGSTER_STORAGE_URL"] = storage
    try:
        with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
            runs = instance.get_runs()
            keys = instance.get_materialized_partitions(dg.AssetKey("ohlc_bars"))
    finally:
        del os.environ["SWIFTBOLT_DAGSTER_STORAGE_URL"]
    assert len(runs) == 1
    assert runs[0].is_success
    # 8 symbols × every partition from go-live to the last completed session (5 or 6 of them)
    assert len(keys) in (40, 48)
    assert {k.split("|")[1] for k in keys} == {f"SYN-{c}" for c in "ABCDEFGH"}
