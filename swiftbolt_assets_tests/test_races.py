"""Concurrent and killed runs of one partition, observed inside PostgreSQL.

Each writer runs in a process of its own (a subprocess running ``child_main`` of this module)
against the test database. A test-only gate makes the race observable: a statement trigger on the
written table waits on an advisory lock the test holds, so a writer that reaches its COPY stops
there, mid-transaction, until the test lets it go. The tests then read ``pg_locks`` and
``pg_stat_activity`` to see where each writer stands.

Both tests run for two targets, two write paths: the ingestion multi-asset (``ohlc_bars``,
written by ``ingestion/store.py::write_batch``) and ``forecast_evaluations_daily`` (written by
``warehouse/slices.py::replace_slices``). For the latter, the world is a daily cycle run over a
few days (forecasts and their evaluations); the raced run materializes that asset alone, over a
partition date that has forecasts due, so it trains nothing.

Advisory locks in ``pg_locks``: a bigint key ``k`` shows as ``classid`` = high 32 bits,
``objid`` = low 32 bits (both unsigned oids), ``objsubid`` = 1 (2 for the two-int4 form). The
table locks are ``pg_advisory_xact_lock(hashtext(table))``: ``hashtext`` returns a *signed* int4
widened to bigint, so a negative hash shows with ``classid`` = 4294967295.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import dagster as dg
import pytest
import sqlalchemy as sa

from swiftbolt_assets.definitions import DAILY_CYCLE_JOB
from swiftbolt_assets.evaluation.outcomes import EVALUATION_COLUMNS
from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files
from swiftbolt_assets.warehouse.database import engine_for
from swiftbolt_assets_tests.conftest import (
    PROJECT_ROOT,
    make_definitions,
    materialize_range,
    own_database,
)
from swiftbolt_assets_tests.test_forecast_assets import SMALL_MODELS

pytestmark = pytest.mark.postgres

T = TypeVar("T")

# Test-only gate: classid 0x52414345 ("RACE") never equals a widened hashtext (0 or 0xFFFFFFFF).
GATE_KEY = 0x52414345_00000001
GATE_TRIGGER = "race_test_gate"
RESULT_PREFIX = "RACE-RESULT "
CHILD_CODE = (
    "import sys; from swiftbolt_assets_tests.test_races import child_main; "
    "sys.exit(child_main(sys.argv[1:]))"
)
STARTUP_TIMEOUT_S = 120.0  # a child imports Dagster, polars, lightgbm... on a shared CPU
RUN_TIMEOUT_S = 120.0
GONE_TIMEOUT_S = 60.0

# What each watched backend waits for: the advisory key (classid:objid put back together).
WAITING_ON = """
SELECT a.application_name, a.pid, a.backend_xid::text AS xid, a.query,
       l.classid::bigint AS classid, l.objid::bigint AS objid, l.objsubid,
       (l.classid::bigint << 32) | l.objid::bigint AS lock_key
FROM pg_stat_activity a
JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted AND l.locktype = 'advisory'
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
WHERE a.datname = current_database() AND a.application_name = ANY(:apps)
"""


# --- the targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What the writers materialize, and how the test reads the table they write.

    ``prepare`` builds the world in an empty warehouse and drop folder, once per module; each
    test runs its baseline in a copy of both. ``raced`` is a predicate on ``table``: the rows of
    the raced slice (every row of the table for the ingestion). Queries in ``untouched`` give the
    same result before and after any run of the target (raced, killed or normal); those in
    ``kept_on_kill`` the same before and after a killed run; those in ``won`` give
    ``[(run_id,)]`` of the run that wrote last.
    """

    id: str
    table: str
    selection: tuple[dg.AssetKey, ...]
    partition_start: date
    symbols: tuple[str, ...]
    start_key: str
    end_key: str
    snapshot: str
    key: str
    prepare: Callable[[str, Path, dg.DagsterInstance, pytest.MonkeyPatch], None]
    raced: str = "true"
    won: tuple[str, ...] = ()
    untouched: tuple[str, ...] = ()
    kept_on_kill: tuple[str, ...] = ()

    @property
    def slice_run_ids(self) -> str:
        return f"SELECT DISTINCT run_id FROM {self.table} WHERE {self.raced}"


# The ingestion: every bar of two symbols over a week, written with their rejects and symbols.
START = date(2026, 11, 16)
SYMBOLS = demo_symbols(2)


def prepare_bars(
    database_url: str, drop_dir: Path, instance: dg.DagsterInstance, _: pytest.MonkeyPatch
) -> None:
    frames = generate_bars(
        SYMBOLS, start=date(2026, 8, 3), end=date(2026, 11, 20), seed=11, intraday_sessions=5
    )
    write_drop_files(drop_dir, frames)


INGESTION = Target(
    id="ohlc_bars",
    table="ohlc_bars",
    selection=(dg.AssetKey("ohlc_bars"), dg.AssetKey("ohlc_rejects")),
    partition_start=START,
    symbols=tuple(SYMBOLS),
    start_key=f"2026-11-16|{SYMBOLS[0]}",
    end_key=f"2026-11-20|{SYMBOLS[-1]}",
    snapshot=(
        "SELECT symbol, timeframe, ts, session_date, partition_date, open, high, low, close, "
        "volume, split_coefficient, dividend_amount, source_file, source_line FROM ohlc_bars "
        "ORDER BY symbol, timeframe, ts"
    ),
    key="symbol, timeframe, ts",
    prepare=prepare_bars,
    won=("SELECT DISTINCT run_id FROM symbols",),
    kept_on_kill=(
        "SELECT * FROM symbols ORDER BY symbol",
        "SELECT * FROM ohlc_rejects ORDER BY reject_id",
    ),
)

# The evaluations: six symbols of daily bars, one daily cycle over 10-26..10-28 (forecasts and
# their evaluations); the 1D forecasts of 10-27 are due on 10-28, the raced partition date.
GO_LIVE = date(2026, 10, 26)
EVALUATED = date(2026, 10, 28)
EVAL_SYMBOLS = demo_symbols(6)
EVALUATED_SLICE = f"partition_date = DATE '{EVALUATED}'"


def prepare_forecasts(
    database_url: str, drop_dir: Path, instance: dg.DagsterInstance, mp: pytest.MonkeyPatch
) -> None:
    frames = generate_bars(EVAL_SYMBOLS, start=date(2022, 9, 1), end=EVALUATED, seed=11)
    write_drop_files(drop_dir, {key: f for key, f in frames.items() if key[1] == "d1"})
    instance.add_dynamic_partitions("symbols", EVAL_SYMBOLS)
    mp.setenv("OMP_NUM_THREADS", "1")  # LightGBM reads it at fit time; the CPU is shared
    defs = make_definitions(database_url, drop_dir, GO_LIVE)
    result = materialize_range(
        defs,
        instance,
        f"{GO_LIVE}|{EVAL_SYMBOLS[0]}",
        f"{EVALUATED}|{EVAL_SYMBOLS[-1]}",
        run_config={"ops": {"forecast_models": {"config": SMALL_MODELS}}},
    )
    assert result.success


EVALUATIONS = Target(
    id="forecast_evaluations_daily",
    table="forecast_evaluations_daily",
    selection=(dg.AssetKey("forecast_evaluations_daily"),),
    partition_start=GO_LIVE,
    symbols=tuple(EVAL_SYMBOLS),
    start_key=f"{EVALUATED}|{EVAL_SYMBOLS[0]}",
    end_key=f"{EVALUATED}|{EVAL_SYMBOLS[-1]}",
    # every column but the bookkeeping (run_id, created_at): evaluations are deterministic
    snapshot=(
        f"SELECT {', '.join(EVALUATION_COLUMNS)} FROM forecast_evaluations_daily "
        "ORDER BY symbol, as_of_date, horizon"
    ),
    key="symbol, as_of_date, horizon",
    prepare=prepare_forecasts,
    raced=EVALUATED_SLICE,
    untouched=(
        # the other partition dates keep the cycle's evaluations
        "SELECT partition_date, symbol, run_id, count(*) FROM forecast_evaluations_daily "
        f"WHERE NOT ({EVALUATED_SLICE}) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        # the evaluated forecasts stay as the cycle wrote them
        "SELECT run_id, count(*) FROM ml_forecasts_daily GROUP BY 1 ORDER BY 1",
    ),
)

TARGETS = {t.id: t for t in (INGESTION, EVALUATIONS)}
over_targets = pytest.mark.parametrize("target", list(TARGETS.values()), ids=list(TARGETS))


# --- the child process ---------------------------------------------------------------------------


def run_target(
    target: Target, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """One run of the target's assets over its range."""
    instance.add_dynamic_partitions("symbols", list(target.symbols))
    defs = make_definitions(database_url, drop_dir, target.partition_start)
    return defs.resolve_job_def(DAILY_CYCLE_JOB).execute_in_process(
        instance=instance,
        asset_selection=list(target.selection),
        tags={
            "dagster/asset_partition_range_start": target.start_key,
            "dagster/asset_partition_range_end": target.end_key,
        },
        raise_on_error=False,
    )


def child_main(argv: list[str]) -> int:
    """Entry point of a writer process: ``argv`` = target id, database URL, drop folder."""
    target_id, database_url, drop_dir = argv
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_target(TARGETS[target_id], database_url, Path(drop_dir), instance)
    print(RESULT_PREFIX + json.dumps({"run_id": result.run_id, "success": result.success}))
    return 0 if result.success else 1


# --- helpers of the tests ------------------------------------------------------------------------


def with_app_name(database_url: str, name: str) -> str:
    """``database_url`` whose connections show ``application_name`` = ``name``."""
    url = sa.engine.make_url(database_url).update_query_dict({"application_name": name})
    return url.render_as_string(hide_password=False)


@dataclass
class Child:
    """A writer process and the files its output goes to (no pipes: they could fill up)."""

    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return (
            f"--- {self.name} exit={self.process.poll()} stdout:\n{self.stdout.read_text()}\n"
            f"--- stderr (tail):\n{self.stderr.read_text()[-4000:]}"
        )

    def result(self) -> dict[str, object]:
        lines = [
            line.removeprefix(RESULT_PREFIX)
            for line in self.stdout.read_text().splitlines()
            if line.startswith(RESULT_PREFIX)
        ]
        assert len(lines) == 1, self.output()
        result: dict[str, object] = json.loads(lines[0])
        return result


def start_child(name: str, target: Target, world: World) -> Child:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    logs = world.drop_dir.parent
    stdout, stderr = logs / f"{name}.out", logs / f"{name}.err"
    argv = [target.id, with_app_name(world.database_url, name), str(world.drop_dir)]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD_CODE, *argv],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
    return Child(name, process, stdout, stderr)


def stop(children: list[Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.kill()
            child.process.wait(timeout=30)


def poll(
    probe: Callable[[], T | None],
    timeout: float,
    what: str,
    children: Sequence[Child] = (),
    diagnose: Callable[[], object] = lambda: "",
) -> T:
    """``probe()`` once it is not None; fail after ``timeout`` (with ``diagnose()``) or if a child
    exits first."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        for child in children:
            if child.process.poll() is not None:
                pytest.fail(f"{child.name} exited while waiting for {what}\n{child.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; saw:\n{diagnose()}")
        time.sleep(0.2)


def activity(engine: sa.Engine, apps: list[str]) -> str:
    """What the backends of ``apps`` are doing (for failure messages)."""
    rows = query(
        engine,
        "SELECT application_name, pid, state, wait_event_type, wait_event, backend_xid::text, "
        "left(query, 100) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = ANY(:apps) ORDER BY 1",
        apps=apps,
    )
    return "\n".join(map(str, rows)) or "(no backend)"


def query(engine: sa.Engine, sql: str, **params: object) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


def scalar(engine: sa.Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


@dataclass(frozen=True)
class Waiter:
    """A backend waiting for an advisory lock."""

    app: str
    pid: int
    xid: str | None
    query: str
    classid: int
    objid: int
    objsubid: int
    key: int


def waiters(engine: sa.Engine, apps: list[str]) -> dict[str, Waiter]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(WAITING_ON), {"apps": apps}).all()
    return {r[0]: Waiter(*r) for r in rows}


def relation_locks(engine: sa.Engine, pid: int, table: str) -> list[str]:
    """The locks ``pid`` holds on ``table``."""
    return [
        str(r[0])
        for r in query(
            engine,
            "SELECT mode FROM pg_locks WHERE pid = :pid AND granted AND locktype = 'relation' "
            "AND relation = CAST(:t AS regclass) ORDER BY mode",
            pid=pid,
            t=table,
        )
    ]


def deleted_by(engine: sa.Engine, target: Target, xid: str) -> tuple[int, int]:
    """The rows of the target's table deleted by (still open) transaction ``xid``: how many in
    the raced slice, how many outside it."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                f"SELECT count(*) FILTER (WHERE {target.raced}), "
                f"count(*) FILTER (WHERE NOT ({target.raced})) "
                f"FROM {target.table} WHERE xmax::text = :x"
            ),
            {"x": xid},
        ).one()
    return int(row[0]), int(row[1])


def untouched(engine: sa.Engine, target: Target) -> list[list[tuple[object, ...]]]:
    return [query(engine, q) for q in target.untouched]


class Gate:
    """The test-only gate: a statement trigger on ``table`` (COPY fires it) that waits while the
    test holds the advisory lock ``GATE_KEY`` on a connection of its own."""

    def __init__(self, database_url: str, table: str) -> None:
        self._engine = sa.create_engine(
            database_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        self._table = table
        self._holder: sa.Connection | None = None

    def install(self) -> None:
        with self._engine.connect() as conn:
            conn.exec_driver_sql(
                f"CREATE OR REPLACE FUNCTION {GATE_TRIGGER}() RETURNS trigger "
                "LANGUAGE plpgsql AS $gate$ BEGIN "
                f"PERFORM pg_advisory_lock_shared({GATE_KEY}); "
                f"PERFORM pg_advisory_unlock_shared({GATE_KEY}); "
                "RETURN NULL; END $gate$"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER {GATE_TRIGGER} BEFORE INSERT ON {self._table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {GATE_TRIGGER}()"
            )

    def hold(self) -> None:
        self._holder = self._engine.connect()
        self._holder.exec_driver_sql(f"SELECT pg_advisory_lock({GATE_KEY})")

    def release(self) -> None:
        if self._holder is not None:
            self._holder.exec_driver_sql(f"SELECT pg_advisory_unlock({GATE_KEY})")
            self._holder.close()
            self._holder = None

    def remove(self) -> None:
        self.release()
        with self._engine.connect() as conn:
            conn.exec_driver_sql("SET lock_timeout = '60s'")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {GATE_TRIGGER} ON {self._table}")
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {GATE_TRIGGER}()")
        self._engine.dispose()


@pytest.fixture
def gate(engine: sa.Engine, database_url: str, target: Target) -> Iterator[Gate]:
    gate = Gate(database_url, target.table)
    try:
        yield gate
    finally:
        gate.remove()


@dataclass(frozen=True)
class World:
    """Where the target's runs happen: the test database, the drop folder, the test's own
    Dagster instance (each child has an ephemeral one of its own)."""

    database_url: str
    drop_dir: Path
    instance: dg.DagsterInstance


@pytest.fixture(scope="module")
def built(
    admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Target], tuple[str, Path]]]:
    """Each target's world built once for the module (when a test first asks for it): its
    database and drop folder. Building the forecasts' world trains models, so the tests get
    copies of it instead of building it again."""
    worlds: dict[str, tuple[str, Path]] = {}
    with ExitStack() as stack:

        def build(target: Target) -> tuple[str, Path]:
            if target.id not in worlds:
                drop_dir = tmp_path_factory.mktemp(f"race-{target.id}")
                url = stack.enter_context(own_database(admin_url))
                with dg.DagsterInstance.ephemeral() as instance, pytest.MonkeyPatch.context() as mp:
                    target.prepare(url, drop_dir, instance, mp)
                worlds[target.id] = (url, drop_dir)
            return worlds[target.id]

        yield build


@pytest.fixture
def database_url(
    admin_url: str, built: Callable[[Target], tuple[str, Path]], target: Target
) -> Iterator[str]:
    """The test's own copy of the target's world (``CREATE DATABASE ... TEMPLATE``)."""
    template, _ = built(target)
    with own_database(admin_url, template=template) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> sa.Engine:
    """The test's database as the world left it (not emptied, unlike the conftest's)."""
    return engine_for(database_url)


@pytest.fixture
def world(
    database_url: str,
    drop_dir: Path,
    built: Callable[[Target], tuple[str, Path]],
    target: Target,
) -> Iterator[World]:
    """The target's world: a copy of its database and drop folder, a Dagster instance."""
    _, files = built(target)
    shutil.copytree(files, drop_dir, dirs_exist_ok=True)
    with dg.DagsterInstance.ephemeral() as instance:
        yield World(database_url, drop_dir, instance)


@dataclass(frozen=True)
class Baseline:
    """The table after a first, normal run of the target."""

    rows: list[tuple[object, ...]]
    run_id: str
    slice_rows: int
    untouched: list[list[tuple[object, ...]]]


def baseline(engine: sa.Engine, target: Target, world: World) -> Baseline:
    """Materialize the target's range in-process; return what it left."""
    result = run_target(target, world.database_url, world.drop_dir, world.instance)
    assert result.success
    rows = query(engine, target.snapshot)
    assert len(rows) > 0
    slice_rows = int(
        str(scalar(engine, f"SELECT count(*) FROM {target.table} WHERE {target.raced}"))
    )
    assert slice_rows > 0
    assert query(engine, target.slice_run_ids) == [(result.run_id,)]
    kept = untouched(engine, target)
    assert all(kept), kept  # each check has something to compare
    return Baseline(rows, result.run_id, slice_rows, kept)


# --- the tests -----------------------------------------------------------------------------------


@over_targets
def test_two_materializations_of_one_partition_started_at_once_do_not_interleave(
    engine: sa.Engine, target: Target, world: World, gate: Gate
) -> None:
    before = baseline(engine, target, world)
    table_key = int(str(scalar(engine, "SELECT hashtext(:t)::bigint", t=target.table)))
    gate.install()
    gate.hold()
    names = ["writer-a", "writer-b"]
    children: list[Child] = []
    try:
        children = [start_child(n, target, world) for n in names]

        def both_parked() -> dict[str, Waiter] | None:
            found = waiters(engine, names)
            return found if {w.key for w in found.values()} == {GATE_KEY, table_key} else None

        found = poll(
            both_parked,
            STARTUP_TIMEOUT_S,
            "one writer at the gate, one at the table lock",
            children,
            lambda: activity(engine, names),
        )
        inside = next(w for w in found.values() if w.key == GATE_KEY)
        outside = next(w for w in found.values() if w.key == table_key)
        # the key shows split in two oids: high and low 32 bits of the bigint
        assert (outside.classid, outside.objid, outside.objsubid) == (
            (table_key >> 32) & 0xFFFFFFFF,
            table_key & 0xFFFFFFFF,
            1,
        )
        assert (inside.classid, inside.objid, inside.objsubid) == (GATE_KEY >> 32, 1, 1)
        # inside: in its COPY, the old slice (and nothing else) deleted by its open transaction
        assert inside.query.startswith(f"COPY {target.table} ")
        assert inside.xid is not None
        assert "RowExclusiveLock" in relation_locks(engine, inside.pid, target.table)
        assert deleted_by(engine, target, inside.xid) == (before.slice_rows, 0)
        # outside: stopped at its first statement; it has written nothing, touched no table
        assert "pg_advisory_xact_lock" in outside.query
        assert outside.xid is None
        assert relation_locks(engine, outside.pid, target.table) == []
        # readers still see the old slice
        assert query(engine, target.snapshot) == before.rows
        assert query(engine, target.slice_run_ids) == [(before.run_id,)]

        gate.release()
        for child in children:
            child.process.wait(timeout=RUN_TIMEOUT_S)
    finally:
        stop(children)

    for child in children:
        assert child.process.returncode == 0, child.output()
        assert child.result()["success"] is True, child.output()
    by_name = {c.name: str(c.result()["run_id"]) for c in children}
    assert len({before.run_id, *by_name.values()}) == 3
    # one copy of the slice, written wholly by the writer that went last
    assert query(engine, target.snapshot) == before.rows
    duplicates = scalar(
        engine,
        f"SELECT count(*) FROM (SELECT 1 FROM {target.table} GROUP BY {target.key} "
        "HAVING count(*) > 1) d",
    )
    assert duplicates == 0
    winner = by_name[outside.app]
    assert query(engine, target.slice_run_ids) == [(winner,)]
    for sql in target.won:
        assert query(engine, sql) == [(winner,)]
    assert untouched(engine, target) == before.untouched


@over_targets
def test_a_run_killed_during_its_write_leaves_the_previous_slice_intact(
    engine: sa.Engine, target: Target, world: World, gate: Gate
) -> None:
    before = baseline(engine, target, world)
    kept = [query(engine, sql) for sql in target.kept_on_kill]
    gate.install()
    gate.hold()
    name = "victim"
    children: list[Child] = []
    try:
        children = [start_child(name, target, world)]
        victim = poll(
            lambda: waiters(engine, [name]).get(name),
            STARTUP_TIMEOUT_S,
            "the victim at the gate",
            children,
            lambda: activity(engine, [name]),
        )
        assert victim.key == GATE_KEY
        assert victim.query.startswith(f"COPY {target.table} ")
        assert victim.xid is not None
        assert deleted_by(engine, target, victim.xid) == (before.slice_rows, 0)

        os.kill(children[0].process.pid, signal.SIGKILL)
        assert children[0].process.wait(timeout=30) == -signal.SIGKILL
        gate.release()

        def gone() -> bool | None:
            left = scalar(
                engine,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :a",
                a=name,
            )
            return True if left == 0 else None

        poll(
            gone,
            GONE_TIMEOUT_S,
            "the killed run's backend to go",
            (),
            lambda: activity(engine, [name]),
        )
    finally:
        stop(children)

    assert query(engine, target.snapshot) == before.rows
    assert query(engine, target.slice_run_ids) == [(before.run_id,)]
    assert [query(engine, sql) for sql in target.kept_on_kill] == kept
    assert untouched(engine, target) == before.untouched
    table_locks = scalar(
        engine,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND (classid::bigint << 32) | objid::bigint = hashtext(:t)::bigint",
        t=target.table,
    )
    assert table_locks == 0

    # nothing left behind: the next run replaces the slice as usual
    gate.remove()
    result = run_target(target, world.database_url, world.drop_dir, world.instance)
    assert result.success
    assert query(engine, target.snapshot) == before.rows
    assert query(engine, target.slice_run_ids) == [(result.run_id,)]
    assert untouched(engine, target) == before.untouched
