"""Concurrent and killed writes of one slice, for every table's writer, observed inside
PostgreSQL.

Every table is written by ``warehouse/slices.py::write_slices`` (lock → delete the slice → COPY,
one transaction), called by each asset's own writer. The world (``race_world``) is one daily cycle
and one research run, saved once per module; each case restores it and lets writer processes
(subprocesses running ``child_main``) rewrite one slice with the rows the cycle wrote: the
replaced (partition_date, symbol) slice, the whole backtest, or the newest versions of an
append-only table (model_registry, confidence_calibration: their older rows must stay as they
are).

A test-only gate makes the race observable: a statement trigger on the written table waits on an
advisory lock the test holds, so a writer that reaches its COPY stops there, mid-transaction,
until the test lets it go. The tests then read ``pg_locks`` and ``pg_stat_activity`` to see where
each writer stands.

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
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.warehouse.database import engine_for
from swiftbolt_assets_tests.conftest import PROJECT_ROOT, empty_tables
from swiftbolt_assets_tests.race_probes import (
    GATE_KEY,
    RESULT_PREFIX,
    Child,
    Gate,
    Waiter,
    activity,
    deleted_by,
    poll,
    query,
    relation_locks,
    scalar,
    stop,
    waiters,
    with_app_name,
)
from swiftbolt_assets_tests.race_world import (
    BOOKKEEPING,
    JSONB,
    WRITERS,
    Writer,
    build_world,
    load_world,
    restore,
)

pytestmark = [pytest.mark.postgres, pytest.mark.races]

CHILD_CODE = (
    "import sys; from swiftbolt_assets_tests.test_races import child_main; "
    "sys.exit(child_main(sys.argv[1:]))"
)
STARTUP_TIMEOUT_S = 120.0  # a child imports polars, lightgbm... on a shared CPU
RUN_TIMEOUT_S = 120.0
GONE_TIMEOUT_S = 60.0
over_writers = pytest.mark.parametrize("writer", list(WRITERS.values()), ids=list(WRITERS))


# --- the child process ---------------------------------------------------------------------------


def child_main(argv: list[str]) -> int:
    """Entry point of a writer process: ``argv`` = writer id, database URL, the saved world,
    run id."""
    writer_id, database_url, data_dir, run_id = argv
    engine = engine_for(database_url)
    WRITERS[writer_id].write(engine, load_world(Path(data_dir)), run_id)
    engine.dispose()
    print(RESULT_PREFIX + json.dumps({"run_id": run_id, "success": True}))
    return 0


# --- the world of a case -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every table after one daily cycle and one research run, saved as parquet (once)."""
    data_dir = tmp_path_factory.mktemp("race-world")
    engine = engine_for(database_url)
    empty_tables(engine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")  # LightGBM reads it at fit time; the CPU is shared
        build_world(database_url, engine, tmp_path_factory.mktemp("race-drop"), data_dir)
    return data_dir


@dataclass(frozen=True)
class Case:
    """One case: the writer, the predicate of its raced rows, the saved world restored into the
    test database (an append-only table without its raced rows), and the writer's table as the
    cycle left it (what every write must end with)."""

    database_url: str
    data_dir: Path
    logs: Path
    writer: Writer
    frames: dict[str, pl.DataFrame]
    raced: str
    cycle_rows: list[str]


def rows_of(engine: sa.Engine, sql: str) -> list[str]:
    """The rows of ``sql`` as sorted reprs (NaN == NaN, unlike in a tuple)."""
    return sorted(map(repr, query(engine, sql)))


def snapshot(engine: sa.Engine, case: Case) -> list[str]:
    """The writer's gated table without its bookkeeping columns, sorted."""
    table = case.writer.table
    columns = [c for c in case.frames[table].columns if c not in BOOKKEEPING]
    select = ", ".join(f"{c}::text" if c in JSONB else c for c in columns)
    return rows_of(engine, f"SELECT {select} FROM {table}")


def slice_run_ids(engine: sa.Engine, case: Case) -> list[tuple[object, ...]]:
    table = case.writer.table
    return query(engine, f"SELECT DISTINCT run_id FROM {table} WHERE {case.raced} ORDER BY 1")


def state(engine: sa.Engine, case: Case, outside: bool) -> dict[str, list[str]]:
    """Every row of every table, bookkeeping included; ``outside``: but the writer's raced rows
    and the ``symbols`` the ingestion refreshes."""
    found = {}
    for table in case.frames:
        if outside and table == "symbols" and case.writer.also_won:
            continue
        where = f"NOT ({case.raced})" if outside and table in case.writer.tables else "true"
        found[table] = rows_of(engine, f"SELECT * FROM {table} WHERE {where}")
    return found


@pytest.fixture
def case(
    engine: sa.Engine, database_url: str, saved_world: Path, writer: Writer, tmp_path: Path
) -> Case:
    frames = load_world(saved_world)
    assert not frames[writer.table].is_empty(), f"the cycle wrote no {writer.table} row"
    restore(engine, frames)
    case = Case(database_url, saved_world, tmp_path, writer, frames, writer.raced(frames), [])
    case = replace(case, cycle_rows=snapshot(engine, case))
    if writer.append_only:
        with engine.begin() as conn:
            for sql in writer.referring:
                conn.execute(sa.text(sql.format(raced=case.raced)))
            conn.execute(sa.text(f"DELETE FROM {writer.table} WHERE {case.raced}"))
    return case


@pytest.fixture
def gate(engine: sa.Engine, database_url: str, writer: Writer) -> Iterator[Gate]:
    gate = Gate(database_url, writer.table)
    try:
        yield gate
    finally:
        gate.remove()


def start_child(name: str, case: Case) -> Child:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    stdout, stderr = case.logs / f"{name}.out", case.logs / f"{name}.err"
    argv = [case.writer.id, with_app_name(case.database_url, name), str(case.data_dir), name]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD_CODE, *argv],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
    return Child(name, process, stdout, stderr)


@dataclass(frozen=True)
class Baseline:
    """The warehouse before the raced or killed write."""

    rows: list[str]
    run_ids: list[tuple[object, ...]]
    slice_rows: int
    outside: dict[str, list[str]]
    everything: dict[str, list[str]]


def baseline(engine: sa.Engine, case: Case) -> Baseline:
    table = case.writer.table
    slice_rows = int(str(scalar(engine, f"SELECT count(*) FROM {table} WHERE {case.raced}")))
    run_ids = slice_run_ids(engine, case)
    if case.writer.append_only:
        assert (slice_rows, run_ids) == (0, [])  # the raced versions are new
    else:
        assert slice_rows > 0
        assert len(run_ids) == 1  # the cycle's
    outside = state(engine, case, outside=True)
    return Baseline(
        snapshot(engine, case), run_ids, slice_rows, outside, state(engine, case, False)
    )


def parked_at_gate(engine: sa.Engine, case: Case, before: Baseline, inside: Waiter) -> None:
    """``inside`` is in its COPY of the gated table, its transaction open, having deleted the
    old slice (nothing for an append-only table) and nothing else; readers see the old rows."""
    table = case.writer.table
    assert (inside.classid, inside.objid, inside.objsubid) == (GATE_KEY >> 32, 1, 1)
    assert inside.query.startswith(f"COPY {table} ")
    assert "RowExclusiveLock" in relation_locks(engine, inside.pid, table)
    if case.writer.append_only:
        assert inside.xid is None  # it has deleted nothing, written nothing yet
    else:
        assert inside.xid is not None
        assert deleted_by(engine, table, case.raced, inside.xid) == (before.slice_rows, 0)
    assert snapshot(engine, case) == before.rows
    assert slice_run_ids(engine, case) == before.run_ids


# --- the tests -----------------------------------------------------------------------------------


@over_writers
def test_two_writes_of_one_slice_started_at_once_do_not_interleave(
    engine: sa.Engine, case: Case, gate: Gate
) -> None:
    before = baseline(engine, case)
    first_lock = min(case.writer.tables)  # the locks are taken in sorted order
    table_key = int(str(scalar(engine, "SELECT hashtext(:t)::bigint", t=first_lock)))
    gate.install()
    gate.hold()
    names = ["writer-a", "writer-b"]
    children: list[Child] = []
    try:
        children = [start_child(n, case) for n in names]

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
        parked_at_gate(engine, case, before, inside)
        # outside: stopped at its first statement; it has written nothing, touched no table
        assert "pg_advisory_xact_lock" in outside.query
        assert outside.xid is None
        assert relation_locks(engine, outside.pid, case.writer.table) == []

        gate.release()
        for child in children:
            child.process.wait(timeout=RUN_TIMEOUT_S)
    finally:
        stop(children)

    for child in children:
        assert child.process.returncode == 0, child.output()
        assert child.result()["success"] is True, child.output()
    # one copy of the rows, the slice written wholly by one writer: the last one of a replaced
    # slice; the first one of new versions (the second finds them there and adds nothing)
    assert snapshot(engine, case) == case.cycle_rows
    duplicates = scalar(
        engine,
        f"SELECT count(*) FROM (SELECT 1 FROM {case.writer.table} GROUP BY {case.writer.key} "
        "HAVING count(*) > 1) d",
    )
    assert duplicates == 0
    winner = inside.app if case.writer.append_only else outside.app
    assert slice_run_ids(engine, case) == [(winner,)]
    for sql in case.writer.also_won:
        assert query(engine, sql) == [(winner,)]
    assert state(engine, case, outside=True) == before.outside


@over_writers
def test_a_write_killed_during_its_copy_leaves_the_previous_slice_intact(
    engine: sa.Engine, case: Case, gate: Gate
) -> None:
    before = baseline(engine, case)
    gate.install()
    gate.hold()
    name = "victim"
    children: list[Child] = []
    try:
        children = [start_child(name, case)]
        victim = poll(
            lambda: waiters(engine, [name]).get(name),
            STARTUP_TIMEOUT_S,
            "the victim at the gate",
            children,
            lambda: activity(engine, [name]),
        )
        assert victim.key == GATE_KEY
        parked_at_gate(engine, case, before, victim)

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
            "the killed writer's backend to go",
            (),
            lambda: activity(engine, [name]),
        )
    finally:
        stop(children)

    # every table as it was, bookkeeping included; no lock left behind
    assert state(engine, case, outside=False) == before.everything
    table_locks = scalar(
        engine,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND (classid::bigint << 32) | objid::bigint = ANY(SELECT hashtext(t)::bigint "
        "FROM unnest(CAST(:tables AS text[])) t)",
        tables=list(case.writer.tables),
    )
    assert table_locks == 0

    # nothing left behind: the next write goes through as usual
    gate.remove()
    case.writer.write(engine, case.frames, "next")
    assert snapshot(engine, case) == case.cycle_rows
    assert slice_run_ids(engine, case) == [("next",)]
    assert state(engine, case, outside=True) == before.outside
