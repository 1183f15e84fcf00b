"""Shared fixtures: a real PostgreSQL warehouse (embedded by default), drop folders, Dagster.

With ``SWIFTBOLT_TEST_DATABASE_URL`` set (``make test-service``), the same tests run against that
server instead of the embedded one. Each test session works in a fresh database it drops at the
end; each test starts from empty tables. A module whose tests need an expensive state (years of
bars, trained models) builds it once in a database of its own (``own_database``) and gives each
test a copy of it, or of its models (``copy_models``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.storage.defs_state.base import set_defs_state_storage

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


@pytest.fixture(autouse=True)
def _no_stale_defs_state_storage() -> Iterator[None]:
    """Each test starts and ends with no current Dagster defs-state storage.

    An instance sets its storage as the current one (a context variable) when entered, and some
    paths leave it set after the instance is gone (``test_sensor_schedule``'s schedule test does):
    building the next test's definitions outside any instance then fails with "Attempted to
    resolve undefined DagsterInstance weakref". Resetting the variable around every test keeps
    that from leaking from one test into another.
    """
    with set_defs_state_storage(None):
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """The test body too starts with no current defs-state storage: an instance exited out of
    order (inside Dagster) can restore a stale one after the fixture above reset it."""
    with set_defs_state_storage(None):
        return (yield)


TESTS = "swiftbolt_assets_tests"
# Modules that share a session-scoped state built in another module's fixtures: under
# pytest-xdist they run on the worker of the module named here, so the state is built once.
SHARED_WORKER = {
    # the forecast models trained once per session (forecast_fixtures.trained)
    f"{TESTS}/test_forecast_backtest.py": f"{TESTS}/test_forecast_assets.py",
    f"{TESTS}/test_forecast_carried.py": f"{TESTS}/test_forecast_assets.py",
}
# The modules that take 20 s or more (``make test PYTEST_ARGS=--durations=10``): handed out
# first, so that the last minute of a parallel run is short modules on both workers rather than
# one of these on one worker while the other idles. The rest keep their collection order.
LONG_FIRST = [
    f"{TESTS}/test_daily_snapshot.py",
    f"{TESTS}/test_intraday_cycle.py",
    f"{TESTS}/test_forecast_assets.py",
    f"{TESTS}/test_evaluation_assets.py",
    f"{TESTS}/test_cli_run.py",
    f"{TESTS}/test_real_data.py",
]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` (``make test``): each module stays whole on one worker, so its
    module-scoped state (bars, trained models) is built once; the modules of ``SHARED_WORKER``
    join the module they share a session state with; ``LONG_FIRST`` go out first. Other modes:
    xdist's own scheduling."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # the order is LONG_FIRST's, then the collection's

    class SharedStateScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            scope: str = super()._split_scope(nodeid)
            return SHARED_WORKER.get(scope, scope)

        def schedule(self) -> None:
            if self.collection is None:

                def rank(nodeid: str) -> int:
                    scope = self._split_scope(nodeid)
                    return LONG_FIRST.index(scope) if scope in LONG_FIRST else len(LONG_FIRST)

                for node, nodeids in self.registered_collections.items():
                    self.registered_collections[node] = sorted(nodeids, key=rank)
            super().schedule()

    return SharedStateScheduling(config, log)


@pytest.fixture(scope="session")
def admin_url() -> str:
    """The test server (psycopg URL): the embedded one, or ``SWIFTBOLT_TEST_DATABASE_URL``."""
    configured = os.environ.get("SWIFTBOLT_TEST_DATABASE_URL")
    if configured:
        return with_driver(configured, "psycopg")
    return with_driver(start_embedded_server(load_settings().pgdata), "psycopg")


def _as_admin(admin_url: str, statement: str) -> None:
    admin = sa.create_engine(with_database(admin_url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        admin.dispose()


def _name(url: str) -> str:
    name = sa.engine.make_url(url).database
    assert name, url
    return name


@contextmanager
def own_database(admin_url: str, *, template: str | None = None) -> Iterator[str]:
    """A database of its own on the test server, dropped on exit: migrated and empty, or a copy
    of the database ``template`` (``CREATE DATABASE ... TEMPLATE``: a file copy, fast).

    A copy lets a module build an expensive state once (bars, features, trained models) and hand
    each test that asserts on it, or changes it, its own. The template must have no other
    session: this process's pooled connections to it are closed first, so nothing else may be
    using it (no run in progress).
    """
    url = with_database(admin_url, f"swiftbolt_test_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    if template is None:
        ensure_database(url)
        upgrade(url)
    else:
        engine_for(template).dispose()
        _as_admin(admin_url, f'CREATE DATABASE "{_name(url)}" TEMPLATE "{_name(template)}"')
    try:
        yield url
    finally:
        engine_for(url).dispose()
        _as_admin(admin_url, f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)')


def copy_models(source_url: str, target_url: str, *, through: date | None = None) -> int:
    """Copy the ``model_registry`` rows (artifacts included) from one test database to another,
    those trained through ``through`` or all; return how many. A run on the target then finds
    these versions trained and trains nothing: what it serves is what a run of its own would
    have trained on the same bars (training is deterministic: ``test_daily_snapshot`` holds it
    to the bit)."""
    with engine_for(source_url).connect() as conn:
        table = sa.Table("model_registry", sa.MetaData(), autoload_with=conn)
        select = sa.select(table)
        if through is not None:
            select = select.where(table.c.trained_through <= through)
        rows = [dict(r._mapping) for r in conn.execute(select)]
    if rows:
        with engine_for(target_url).begin() as conn:
            conn.execute(table.insert(), rows)
    return len(rows)


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> Iterator[str]:
    """A migrated, empty database of its own on the test server."""
    with own_database(admin_url) as url:
        yield url


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
    asset_selection: list[dg.AssetKey] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of ``job_name`` (default: the daily cycle) over the rectangle
    ``start_key..end_key`` (``date|symbol`` keys), of every asset or of ``asset_selection``."""
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(
        instance=instance,
        run_config=run_config,
        asset_selection=asset_selection,
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


@pytest.fixture
def single_thread_lightgbm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Train LightGBM on one thread: with ``num_threads = os.cpu_count()`` and OpenMP's
    busy-waiting, a tiny fit takes tens of seconds when another process holds a core."""
    from swiftbolt_assets.forecasting import walk_forward

    common = walk_forward._common
    monkeypatch.setattr(walk_forward, "_common", lambda seed: common(seed) | {"num_threads": 1})
