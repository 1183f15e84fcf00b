"""`make bench`: measured on the real data in ../shared (never part of `make test`).

Stage ``ingest_sp500``: the initial load of all 504 files of ``../shared/data/sp500_daily``
(2.4 M daily bars) as one Dagster range run over 504 (date, symbol) partition keys, on the
project's PostgreSQL (embedded unless SWIFTBOLT_DATABASE_URL is set) with Dagster's run/event
storage on PostgreSQL too. Each repetition runs in a fresh process against freshly created
databases, so every one is a true initial load. Reported: wall time, rows/s, the step's compute
(read + validate), write (COPY) and quality-check time, Dagster's bookkeeping (the rest: run
setup, one materialization event per partition key), and the process's peak RSS (the PostgreSQL
server's own memory is not included). Medians over ``--repeat`` runs; one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SP500 = PROJECT_ROOT.parent / "shared" / "data" / "sp500_daily"
GO_LIVE = "2021-04-21"  # the files' last session: one partition per symbol holds all history


def machine() -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import polars as pl

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "polars": pl.__version__,
        "platform": platform.platform(),
    }


def one_ingest(drop_dir: Path) -> dict[str, Any]:
    """One initial load in this process (called in a child process by ``main``)."""
    import dagster as dg
    import sqlalchemy as sa

    from swiftbolt_assets.cli import prepare_dagster_env
    from swiftbolt_assets.definitions import build_definitions
    from swiftbolt_assets.ingestion.resources import DropFolderResource
    from swiftbolt_assets.settings import load_settings
    from swiftbolt_assets.warehouse.database import resolve_urls
    from swiftbolt_assets.warehouse.migrate import upgrade
    from swiftbolt_assets.warehouse.resources import WarehouseResource

    settings = load_settings()
    urls = resolve_urls(settings)
    upgrade(urls.warehouse)
    prepare_dagster_env(settings, urls)
    defs = build_definitions(
        settings,
        resources={
            "warehouse": WarehouseResource(database_url=urls.warehouse),
            "drop_folder": DropFolderResource(path=str(drop_dir)),
        },
    )
    job = defs.resolve_implicit_global_asset_job_def()
    symbols = sorted({f.symbol for f in DropFolderResource(path=str(drop_dir)).files()})
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("symbols", symbols)
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": f"{GO_LIVE}|{symbols[0]}",
                "dagster/asset_partition_range_end": f"{GO_LIVE}|{symbols[-1]}",
            },
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        wall = time.perf_counter() - started
    meta = next(
        m.metadata
        for m in result.asset_materializations_for_node("ingest_ohlc")
        if m.asset_key == dg.AssetKey("ohlc_bars")
    )
    with sa.create_engine(urls.warehouse).connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM ohlc_bars")).scalar_one()
        server = conn.execute(sa.text("SHOW server_version")).scalar_one()
    compute = float(meta["compute_seconds"].value)
    write = float(meta["write_seconds"].value)
    checks = float(meta["checks_seconds"].value)
    return {
        "success": result.success,
        "bars": int(stored),
        "partition_keys": len(symbols),
        "wall_s": wall,
        "compute_s": compute,
        "write_s": write,
        "checks_s": checks,
        "dagster_bookkeeping_s": wall - compute - write - checks,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "postgres": server,
        "embedded": urls.embedded,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_ingest(args.one)))
        return 0
    if not SP500.is_dir():
        print(f"benchmark data not found: {SP500} (the benchmarks read ../shared/data)")
        return 2

    with tempfile.TemporaryDirectory(prefix="swiftbolt-bench-") as tmp:
        drop = Path(tmp) / "drop" / "sp500"
        drop.mkdir(parents=True)
        files = sorted(SP500.glob("DA-*.csv"))
        for path in files:
            (drop / path.name).symlink_to(path)
        runs = []
        for i in range(args.repeat):
            env = {
                **os.environ,
                "SWIFTBOLT_PARTITION_START": GO_LIVE,
                "DAGSTER_EVENT_BATCH_SIZE": os.environ.get("DAGSTER_EVENT_BATCH_SIZE", "1000"),
            }
            database = f"swiftbolt_bench_{uuid.uuid4().hex[:8]}"
            if os.environ.get("SWIFTBOLT_DATABASE_URL"):
                from swiftbolt_assets.warehouse.database import with_database

                env["SWIFTBOLT_DATABASE_URL"] = with_database(
                    os.environ["SWIFTBOLT_DATABASE_URL"], database
                )
            else:
                env["SWIFTBOLT_HOME"] = str(Path(tmp) / f"state{i}")
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench", "--one", str(drop.parent)],
                cwd=PROJECT_ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                print(done.stdout, done.stderr, file=sys.stderr)
                return 1
            run = json.loads(done.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(
                f"  run {i + 1}: {run['wall_s']:.1f} s wall, {run['bars'] / run['wall_s']:,.0f} "
                f"bars/s, peak RSS {run['peak_rss_mib']:,.0f} MiB"
            )

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    summary = {
        "stage": "ingest_sp500",
        "files": len(files),
        "bars": runs[0]["bars"],
        "partition_keys": runs[0]["partition_keys"],
        "repeat": len(runs),
        "wall_s_median": round(median("wall_s"), 2),
        "wall_s_all": [round(r["wall_s"], 2) for r in runs],
        "bars_per_s_median": round(runs[0]["bars"] / median("wall_s")),
        "compute_s_median": round(median("compute_s"), 2),
        "write_s_median": round(median("write_s"), 2),
        "checks_s_median": round(median("checks_s"), 2),
        "dagster_bookkeeping_s_median": round(median("dagster_bookkeeping_s"), 2),
        "peak_rss_mib_median": round(median("peak_rss_mib")),
        "target_s": 60,
        "postgres": runs[0]["postgres"],
        "embedded_postgres": runs[0]["embedded"],
        "dagster_event_batch_size": os.environ.get("DAGSTER_EVENT_BATCH_SIZE", "1000"),
        "machine": machine(),
    }
    print(
        f"\ningest_sp500: {summary['files']} files, {summary['bars']:,} bars, "
        f"{summary['partition_keys']} partition keys, median of {summary['repeat']}\n"
        f"  wall {summary['wall_s_median']} s (target <= 60 s): "
        f"{summary['bars_per_s_median']:,} bars/s\n"
        f"  step compute (read + validate) {summary['compute_s_median']} s, "
        f"write (COPY) {summary['write_s_median']} s, "
        f"quality checks {summary['checks_s_median']} s, "
        f"Dagster bookkeeping {summary['dagster_bookkeeping_s_median']} s\n"
        f"  peak RSS {summary['peak_rss_mib_median']} MiB (driver process; server excluded)\n"
        f"  machine: {summary['machine']['cpu']}, {summary['machine']['cores']} cores, "
        f"{summary['machine']['memory_gib']} GiB; PostgreSQL {summary['postgres']}"
    )
    print("BENCH_JSON " + json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
