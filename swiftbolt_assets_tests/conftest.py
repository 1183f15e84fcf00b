"""Shared fixtures: a real PostgreSQL warehouse (embedded by default), drop folders, Dagster.

With ``SWIFTBOLT_TEST_DATABASE_URL`` set (``make test-service``), the same tests run against that
server instead of the embedded one. Each test session works in a fresh database it drops at the
end; each test starts from empty tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from swiftbolt_assets.definitions import DAILY_CYCLE_JOB, build_definitions
from swiftbolt_assets.ingestion.resources import DropFolderResource
from swiftbolt_assets.settings import Settings, load_settings
from swiftbolt_assets.warehouse.database import (
    engine_for,
    ensure_database,
    start_embedded_server,
    with_database,
    with_driver,
)
from swiftbolt_assets.warehouse.migrate import upgrade
from swiftbolt_assets.warehouse.resources import WarehouseResource

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real data not available: {path} is absent (tests read ../shared/ beside the project)"
        )
    return path


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated, empty database of its own on the test server."""
    configured = os.environ.get("SWIFTBOLT_TEST_DATABASE_URL")
    if configured:
        admin = with_driver(configured, "psycopg")
    else:
        admin = with_driver(start_embedded_server(load_settings().pgdata), "psycopg")
    url = with_database(admin, f"swiftbolt_test_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    ensure_database(url)
    upgrade(url)
    yield url
    engine_for(url).dispose()
    dropper = sa.create_engine(with_database(admin, "postgres"), isolation_level="AUTOCOMMIT")
    with dropper.connect() as conn:
        name = sa.engine.make_url(url).database
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    dropper.dispose()


@pytest.fixture
def engine(database_url: str) -> sa.Engine:
    """The test database with every warehouse table emptied."""
    return empty_tables(engine_for(database_url))


def empty_tables(engine: sa.Engine) -> sa.Engine:
    """Truncate every warehouse table; return ``engine``."""
    with engine.begin() as conn:
        tables = conn.execute(
            sa.text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_name <> 'alembic_version'"
            )
        ).scalars()
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY"))
    return engine


@pytest.fixture
def drop_dir(tmp_path: Path) -> Path:
    path = tmp_path / "drop"
    path.mkdir()
    return path


def settings_for(drop_dir: Path, start: date) -> Settings:
    return replace(load_settings(), drop_dir=drop_dir, partition_start=start)


def make_definitions(database_url: str, drop_dir: Path, start: date) -> dg.Definitions:
    settings = replace(load_settings(), drop_dir=drop_dir, partition_start=start)
    return build_definitions(
        settings,
        resources={
            "warehouse": WarehouseResource(database_url=database_url),
            "drop_folder": DropFolderResource(path=str(drop_dir)),
        },
    )


def materialize_range(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    start_key: str,
    end_key: str,
    *,
    job_name: str = DAILY_CYCLE_JOB,
    run_config: dict[str, object] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of ``job_name`` (default: the daily cycle) over the rectangle
    ``start_key..end_key`` (``date|symbol`` keys)."""
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(
        instance=instance,
        run_config=run_config,
        tags={
            "dagster/asset_partition_range_start": start_key,
            "dagster/asset_partition_range_end": end_key,
        },
    )


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
