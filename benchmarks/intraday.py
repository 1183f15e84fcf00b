"""The intraday cycle for one new m15 bar over 504 symbols (``make bench``, stage ``intraday``).

Synthetic bars (labelled synthetic: the real 15-minute files hold 24 symbols): 504 symbols,
300 sessions of d1 bars and the last 30 sessions of m15 and h1 bars, up to 12:15 New York on the
last session (whose d1 bar is not there yet: it is final only after the close). Untimed setup,
in one process: go-live is the last week's Monday (its partition holds all earlier history);
the daily cycle over that week (bars, features, the two weekly intraday model versions that
serve it, at full size), then the intraday job over it. Timed, in a
fresh process per repetition: the drop folder gains the 12:15-12:30 bar of every symbol and the
whole ``intraday_cycle_job`` runs over the last session's partition for all 504 symbols
(ingest, features, forecasts for every bar of the session so far, their evaluations at the
horizon, calibrated weights, live scores), through Dagster. Reported per step (Dagster's
``STEP_SUCCESS`` durations, and each asset's own compute and write seconds), the run's wall time
and Dagster's bookkeeping (the wall time outside the steps). Target: <= 10 s wall.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from benchmarks.report import machine

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = 504
LAST = date(2026, 11, 20)
D1_START = date(2025, 9, 10)  # about 300 sessions before LAST
INTRADAY_SESSIONS = 30
LIVE_SESSIONS = 5  # partitions from go-live (the last week) through LAST
NEW_BAR = datetime(2026, 11, 20, 12, 15, tzinfo=ZoneInfo("America/New_York"))  # its open
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
MODELS = {"horizons": [], "max_skill_loss": 1.0}  # synthetic random walks: promote what trains
STEPS = (
    "ingest_ohlc",
    "features",
    "ml_forecasts_intraday",
    "forecast_evaluations_intraday",
    "calibrated_weights",
    "live_predictions_intraday",
)


def write_bars(drop: Path, *, through: datetime) -> int:
    """The synthetic files as a vendor has them at ``through``: every m15 bar that opened before
    it, every hour that has closed, and the daily bars of the sessions before ``through``'s (the
    day's d1 bar is final only after its close); returns the number of intraday rows."""
    from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files

    frames = generate_bars(
        demo_symbols(SYMBOLS),
        start=D1_START,
        end=LAST,
        seed=3,
        intraday_sessions=INTRADAY_SESSIONS,
    )
    cut = through.isoformat()
    kept = {}
    rows = 0
    closed = through.astimezone(ZoneInfo("UTC"))
    for (symbol, timeframe), bars in frames.items():
        if timeframe == "d1":
            bars = bars.filter(pl.col("timestamp") < str(through.date()))  # noqa: PLW2901
        elif timeframe == "m15":
            bars = bars.filter(pl.col("timestamp") < cut)  # noqa: PLW2901
        elif timeframe == "h1":  # an hour is delivered once it has closed
            opens = pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%z")
            bars = bars.filter(opens.dt.offset_by("1h") <= closed)  # noqa: PLW2901
        kept[(symbol, timeframe)] = bars
        rows += bars.height if timeframe != "d1" else 0
    write_drop_files(drop, kept)
    return rows


def _environment(state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SWIFTBOLT_HOME": str(state),
        "SWIFTBOLT_PARTITION_START": str(go_live()),
        "SWIFTBOLT_PARTITION_END": str(LAST),
        "DAGSTER_EVENT_BATCH_SIZE": os.environ.get("DAGSTER_EVENT_BATCH_SIZE", "1000"),
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": os.environ.get(
            "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true"
        ),
    }


def go_live() -> date:
    """The last week's first session: its partition holds all earlier history, so the weekly
    intraday versions due are the two that serve the last week (full size, as production)."""
    from swiftbolt_assets.calendar import sessions_between

    return sessions_between("XNYS", date(2026, 1, 1), LAST)[-LIVE_SESSIONS]


def _run(job_name: str, first: date, selection: list[str] | None, config: dict) -> Any:
    import dagster as dg

    from swiftbolt_assets.definitions import build_definitions
    from swiftbolt_assets.ingestion.synthetic import demo_symbols
    from swiftbolt_assets.instance import prepare_dagster_env
    from swiftbolt_assets.settings import load_settings
    from swiftbolt_assets.warehouse.database import resolve_urls
    from swiftbolt_assets.warehouse.migrate import upgrade

    settings = load_settings()
    urls = resolve_urls(settings)
    upgrade(urls.warehouse)
    prepare_dagster_env(settings, urls)
    symbols = sorted(demo_symbols(SYMBOLS))
    defs = build_definitions(settings)
    with dg.DagsterInstance.get() as instance:
        known = set(instance.get_dynamic_partitions("symbols"))
        if missing := [s for s in symbols if s not in known]:
            instance.add_dynamic_partitions("symbols", missing)
        started = time.perf_counter()
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance,
            run_config=QUIET | config,
            asset_selection=[dg.AssetKey(k) for k in selection] if selection else None,
            tags={
                "dagster/asset_partition_range_start": f"{first}|{symbols[0]}",
                "dagster/asset_partition_range_end": f"{LAST}|{symbols[-1]}",
            },
        )
        wall = time.perf_counter() - started
    assert result.success
    return result, wall


def setup() -> dict[str, Any]:
    """The untimed state before the new bar (in this process)."""
    from swiftbolt_assets.definitions import DAILY_CYCLE_JOB, INTRADAY_CYCLE_JOB, INTRADAY_TABLES

    first = go_live()
    _, daily = _run(DAILY_CYCLE_JOB, first, None, {"ops": {"forecast_models": {"config": MODELS}}})
    _, intraday = _run(INTRADAY_CYCLE_JOB, first, list(INTRADAY_TABLES), {})
    return {"daily_cycle_s": round(daily, 1), "intraday_history_s": round(intraday, 1)}


def one_cycle() -> dict[str, Any]:
    """The timed run: the intraday job over the last session, all symbols (in this process)."""
    from swiftbolt_assets.definitions import INTRADAY_CYCLE_JOB

    result, wall = _run(INTRADAY_CYCLE_JOB, LAST, None, {})
    steps: dict[str, float] = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key or "?"] = event.event_specific_data.duration_ms / 1000.0
    inside: dict[str, dict[str, Any]] = {}
    for step in STEPS:
        for materialization in result.asset_materializations_for_node(step):
            meta = materialization.metadata
            inside[materialization.asset_key.to_user_string()] = {
                k: meta[k].value
                for k in ("compute_seconds", "write_seconds", "dagster/row_count")
                if k in meta
            }
    return {
        "wall_s": wall,
        "steps_s": steps,
        "assets": inside,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(mode: str, state: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.intraday", "--child", mode],
        cwd=PROJECT_ROOT,
        env=_environment(state),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], file=sys.stderr)
        msg = f"the {mode} process failed"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench(repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="swiftbolt-intraday-") as tmp:
        state = Path(tmp) / "state"
        drop = state / "drop"
        before = NEW_BAR
        started = time.perf_counter()
        write_bars(drop, through=before)
        generated = time.perf_counter() - started
        prepared = _child("setup", state)
        rows = write_bars(drop, through=before + timedelta(minutes=15))  # the new bar arrives
        runs = [_child("cycle", state) for _ in range(repeat)]
    walls = [r["wall_s"] for r in runs]
    steps = {s: statistics.median(r["steps_s"].get(s, 0.0) for r in runs) for s in STEPS}
    bookkeeping = [r["wall_s"] - sum(r["steps_s"].values()) for r in runs]
    return {
        "stage": "intraday_cycle",
        "symbols": SYMBOLS,
        "intraday_rows_in_drop": rows,
        "new_bar": (NEW_BAR + timedelta(minutes=15)).isoformat(),
        "generate_s": round(generated, 1),
        "setup": prepared,
        "repeat": repeat,
        "wall_s_all": [round(w, 2) for w in walls],
        "wall_s_median": round(statistics.median(walls), 2),
        "steps_s_median": {k: round(v, 2) for k, v in steps.items()},
        "dagster_bookkeeping_s_median": round(statistics.median(bookkeeping), 2),
        "assets_last_run": runs[-1]["assets"],
        "peak_rss_mib_median": round(statistics.median(r["peak_rss_mib"] for r in runs)),
        "target_s": 10,
        "machine": machine(),
    }


def text(summary: dict[str, Any]) -> str:
    steps = ", ".join(f"{k} {v}" for k, v in summary["steps_s_median"].items())
    return (
        f"intraday_cycle: one new m15 bar ({summary['new_bar']}) over {summary['symbols']} "
        f"synthetic symbols, intraday_cycle_job through Dagster, median of {summary['repeat']} "
        f"fresh processes: wall {summary['wall_s_median']} s (target <= 10 s), runs "
        f"{summary['wall_s_all']}\n  steps (s): {steps}\n  Dagster bookkeeping (wall outside "
        f"the steps) {summary['dagster_bookkeeping_s_median']} s; peak RSS "
        f"{summary['peak_rss_mib_median']} MiB\n  per asset (last run): "
        f"{json.dumps(summary['assets_last_run'])}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["setup", "cycle"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(setup() if args.child == "setup" else one_cycle(), default=str))
        return 0
    summary = bench(args.repeat)
    print(text(summary))
    print("BENCH_JSON " + json.dumps(summary, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
