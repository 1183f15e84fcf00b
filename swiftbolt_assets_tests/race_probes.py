"""What the race tests watch inside PostgreSQL, and the writer processes they start: the
test-only gate, the advisory locks a backend waits on, the rows an open transaction deleted."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa

T = TypeVar("T")

# Test-only gate: classid 0x52414345 ("RACE") never equals a widened hashtext (0 or 0xFFFFFFFF).
GATE_KEY = 0x52414345_00000001
GATE_TRIGGER = "race_test_gate"
RESULT_PREFIX = "RACE-RESULT "

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


def deleted_by(engine: sa.Engine, table: str, raced: str, xid: str) -> tuple[int, int]:
    """The rows of ``table`` deleted by (still open) transaction ``xid``: how many in the raced
    slice, how many outside it."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                f"SELECT count(*) FILTER (WHERE {raced}), count(*) FILTER (WHERE NOT ({raced})) "
                f"FROM {table} WHERE xmax::text = :x"
            ),
            {"x": xid},
        ).one()
    return int(row[0]), int(row[1])


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
