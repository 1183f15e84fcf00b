"""Concurrent and killed runs of one partition, observed inside PostgreSQL.

Each writer runs in a process of its own (a subprocess running ``child_main`` of this module)
against the test database. A test-only gate makes the race observable: a statement trigger on
``ohlc_bars`` waits on an advisory lock the test holds, so a writer that reaches its COPY stops
there, mid-transaction, until the test lets it go. The tests then read ``pg_locks`` and
``pg_stat_activity`` to see where each writer stands.

Advisory locks in ``pg_locks``: a bigint key ``k`` shows as ``classid`` = high 32 bits,
``objid`` = low 32 bits (both unsigned oids), ``objsubid`` = 1 (2 for the two-int4 form). The
table locks are ``pg_advisory_xact_lock(hashtext(table))``: ``hashtext`` returns a *signed* int4
widened to bigint, so a negative hash shows with ``classid`` = 4294967295.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import dagster as dg
import pytest
import sqlalchemy as sa

from swiftbolt_assets.definitions import DAILY_CYCLE_JOB
from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files
from swiftbolt_assets_tests.conftest import PROJECT_ROOT, make_definitions

pytestmark = pytest.mark.postgres

T = TypeVar("T")

START = date(2026, 11, 16)
SYMBOLS = demo_symbols(2)
START_KEY = f"2026-11-16|{SYMBOLS[0]}"
END_KEY = f"2026-11-20|{SYMBOLS[-1]}"
INGESTION = [dg.AssetKey("ohlc_bars"), dg.AssetKey("ohlc_rejects")]
TABLE = "ohlc_bars"
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

BARS_SNAPSHOT = (
    "SELECT symbol, timeframe, ts, session_date, partition_date, open, high, low, close, volume, "
    "split_coefficient, dividend_amount, source_file, source_line FROM ohlc_bars "
    "ORDER BY symbol, timeframe, ts"
)
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


# --- the child process ---------------------------------------------------------------------------


def run_ingestion(
    database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """One run of the ingestion multi-asset (bars and rejects) over START_KEY..END_KEY."""
    instance.add_dynamic_partitions("symbols", SYMBOLS)
    defs = make_definitions(database_url, drop_dir, START)
    return defs.resolve_job_def(DAILY_CYCLE_JOB).execute_in_process(
        instance=instance,
        asset_selection=INGESTION,
        tags={
            "dagster/asset_partition_range_start": START_KEY,
            "dagster/asset_partition_range_end": END_KEY,
        },
        raise_on_error=False,
    )


def child_main(argv: list[str]) -> int:
    """Entry point of a writer process: ``argv`` = database URL, drop folder."""
    database_url, drop_dir = argv
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_ingestion(database_url, Path(drop_dir), instance)
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


def start_child(name: str, database_url: str, drop_dir: Path, logs: Path) -> Child:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    stdout, stderr = logs / f"{name}.out", logs / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD_CODE, with_app_name(database_url, name), str(drop_dir)],
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


def relation_locks(engine: sa.Engine, pid: int) -> list[str]:
    """The locks ``pid`` holds on ``ohlc_bars``."""
    return [
        str(r[0])
        for r in query(
            engine,
            "SELECT mode FROM pg_locks WHERE pid = :pid AND granted AND locktype = 'relation' "
            "AND relation = 'ohlc_bars'::regclass ORDER BY mode",
            pid=pid,
        )
    ]


class Gate:
    """The test-only gate: a statement trigger on ``ohlc_bars`` (COPY fires it) that waits while
    the test holds the advisory lock ``GATE_KEY`` on a connection of its own."""

    def __init__(self, database_url: str) -> None:
        self._engine = sa.create_engine(
            database_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
        )
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
                f"CREATE TRIGGER {GATE_TRIGGER} BEFORE INSERT ON {TABLE} "
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
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {GATE_TRIGGER} ON {TABLE}")
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {GATE_TRIGGER}()")
        self._engine.dispose()


@pytest.fixture
def gate(engine: sa.Engine, database_url: str) -> Iterator[Gate]:
    gate = Gate(database_url)
    try:
        yield gate
    finally:
        gate.remove()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture
def bars_dir(drop_dir: Path) -> Path:
    frames = generate_bars(
        SYMBOLS, start=date(2026, 8, 3), end=date(2026, 11, 20), seed=11, intraday_sessions=5
    )
    write_drop_files(drop_dir, frames)
    return drop_dir


def baseline(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> tuple[list[tuple[object, ...]], str]:
    """Materialize the range in-process; return the bars and the run id."""
    result = run_ingestion(database_url, drop_dir, instance)
    assert result.success
    bars = query(engine, BARS_SNAPSHOT)
    assert len(bars) > 0
    assert query(engine, "SELECT DISTINCT run_id FROM ohlc_bars") == [(result.run_id,)]
    return bars, result.run_id


# --- the tests -----------------------------------------------------------------------------------


def test_two_materializations_of_one_partition_started_at_once_do_not_interleave(
    engine: sa.Engine,
    database_url: str,
    bars_dir: Path,
    instance: dg.DagsterInstance,
    gate: Gate,
) -> None:
    bars, first_run = baseline(engine, database_url, bars_dir, instance)
    table_key = int(str(scalar(engine, "SELECT hashtext(:t)::bigint", t=TABLE)))
    gate.install()
    gate.hold()
    names = ["writer-a", "writer-b"]
    children: list[Child] = []
    try:
        children = [start_child(n, database_url, bars_dir, bars_dir.parent) for n in names]

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
        # inside: in its COPY, the old slice deleted by its (open) transaction
        assert inside.query.startswith(f"COPY {TABLE} ")
        assert inside.xid is not None
        assert "RowExclusiveLock" in relation_locks(engine, inside.pid)
        deleted = scalar(
            engine, "SELECT count(*) FROM ohlc_bars WHERE xmax::text = :x", x=inside.xid
        )
        assert deleted == len(bars)
        # outside: stopped at its first statement; it has written nothing, touched no table
        assert "pg_advisory_xact_lock" in outside.query
        assert outside.xid is None
        assert relation_locks(engine, outside.pid) == []
        # readers still see the old slice
        assert query(engine, BARS_SNAPSHOT) == bars
        assert query(engine, "SELECT DISTINCT run_id FROM ohlc_bars") == [(first_run,)]

        gate.release()
        for child in children:
            child.process.wait(timeout=RUN_TIMEOUT_S)
    finally:
        stop(children)

    for child in children:
        assert child.process.returncode == 0, child.output()
        assert child.result()["success"] is True, child.output()
    by_name = {c.name: str(c.result()["run_id"]) for c in children}
    assert len({first_run, *by_name.values()}) == 3
    # one copy of the slice, written wholly by the writer that went last
    assert query(engine, BARS_SNAPSHOT) == bars
    duplicates = scalar(
        engine,
        "SELECT count(*) FROM (SELECT 1 FROM ohlc_bars GROUP BY symbol, timeframe, ts "
        "HAVING count(*) > 1) d",
    )
    assert duplicates == 0
    assert query(engine, "SELECT DISTINCT run_id FROM ohlc_bars") == [(by_name[outside.app],)]
    assert query(engine, "SELECT DISTINCT run_id FROM symbols") == [(by_name[outside.app],)]


def test_a_run_killed_during_its_write_leaves_the_previous_slice_intact(
    engine: sa.Engine,
    database_url: str,
    bars_dir: Path,
    instance: dg.DagsterInstance,
    gate: Gate,
) -> None:
    bars, first_run = baseline(engine, database_url, bars_dir, instance)
    symbols_before = query(engine, "SELECT * FROM symbols ORDER BY symbol")
    rejects_before = query(engine, "SELECT * FROM ohlc_rejects ORDER BY reject_id")
    gate.install()
    gate.hold()
    name = "victim"
    children: list[Child] = []
    try:
        children = [start_child(name, database_url, bars_dir, bars_dir.parent)]
        victim = poll(
            lambda: waiters(engine, [name]).get(name),
            STARTUP_TIMEOUT_S,
            "the victim at the gate",
            children,
            lambda: activity(engine, [name]),
        )
        assert victim.key == GATE_KEY
        assert victim.query.startswith(f"COPY {TABLE} ")
        assert victim.xid is not None
        deleted = scalar(
            engine, "SELECT count(*) FROM ohlc_bars WHERE xmax::text = :x", x=victim.xid
        )
        assert deleted == len(bars)

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

    assert query(engine, BARS_SNAPSHOT) == bars
    assert query(engine, "SELECT DISTINCT run_id FROM ohlc_bars") == [(first_run,)]
    assert query(engine, "SELECT * FROM symbols ORDER BY symbol") == symbols_before
    assert query(engine, "SELECT * FROM ohlc_rejects ORDER BY reject_id") == rejects_before
    table_locks = scalar(
        engine,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND (classid::bigint << 32) | objid::bigint = hashtext(:t)::bigint",
        t=TABLE,
    )
    assert table_locks == 0

    # nothing left behind: the next run replaces the slice as usual
    gate.remove()
    result = run_ingestion(database_url, bars_dir, instance)
    assert result.success
    assert query(engine, BARS_SNAPSHOT) == bars
    assert query(engine, "SELECT DISTINCT run_id FROM ohlc_bars") == [(result.run_id,)]
