"""Replay the daily cycle, point in time, over the last trading days of a folder of daily files.

``python -m swiftbolt_assets.cli replay --days 60`` (``make replay``): go-live is the first
replayed day, so its partition holds all earlier history; then one run of ``daily_cycle_job``
per trading day, in order, over every symbol. Each run ingests only that day's bars (the
partition's bars), builds that day's features, trains if a cadence cutoff is due, forecasts,
evaluates the forecasts whose target is that day, and fits the weights the next day's forecasts
read: the feedback loop closes one day at a time, exactly as the after-close schedule runs it.

State lives in its own folder (``<SWIFTBOLT_HOME>/replay``: embedded PostgreSQL, Dagster home,
drop folder of symlinks), or in the database ``swiftbolt_replay`` of ``SWIFTBOLT_DATABASE_URL``.
A replay resumes after the last day whose weights exist. Per day it prints the wall time and
each step's time; at the end the per-horizon scores of the evaluations against naive baselines
on the same rows, written to ``replay_report.md`` and ``replay_timings.jsonl`` in that folder.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
import sqlalchemy as sa

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.calendar import sessions_between
from swiftbolt_assets.definitions import DAILY_CYCLE_JOB, build_definitions
from swiftbolt_assets.forecasting.intervals import score_intervals
from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets.ingestion.resources import DropFolderResource
from swiftbolt_assets.ingestion.sources import is_valid_symbol
from swiftbolt_assets.instance import prepare_dagster_env
from swiftbolt_assets.metadata import markdown_table, with_intervals
from swiftbolt_assets.partitions import SYMBOLS_PARTITION_NAME
from swiftbolt_assets.settings import Settings
from swiftbolt_assets.warehouse.database import (
    DatabaseUrls,
    engine_for,
    ensure_database,
    resolve_urls,
    with_database,
)
from swiftbolt_assets.warehouse.migrate import upgrade

REPLAY_DATABASE = "swiftbolt_replay"
# Step keys of the daily cycle, in graph order, and the names the report gives them.
STAGES = {
    "ingest_ohlc": "ingest",
    "features": "features",
    "forecast_models": "models",
    "ml_forecasts_daily": "forecasts",
    "forecast_evaluations_daily": "evaluations",
    "live_predictions_daily": "live",
    "symbol_model_weights": "weights",
    "confidence_calibration": "calibration",
}


@dataclass(frozen=True)
class ReplayPlan:
    settings: Settings
    days: list[date]
    source: Path


def last_file_session(source: Path) -> date:
    """The newest session in ``source``'s daily files (``...-YYYY-MM-DD.csv`` names)."""
    stamps = {p.stem[-10:] for p in source.glob("*.csv")}
    dated = sorted(date.fromisoformat(s) for s in stamps if s[:4].isdigit())
    if not dated:
        msg = f"no dated daily CSV files (…-YYYY-MM-DD.csv) in {source}"
        raise FileNotFoundError(msg)
    return dated[-1]


def plan(settings: Settings, source: Path, days: int, through: date | None = None) -> ReplayPlan:
    """The replay's own settings (state folder, go-live) and its trading days."""
    last = through or last_file_session(source)
    sessions = sessions_between(settings.exchange, date(last.year - 2, 1, 1), last)
    if len(sessions) < days:
        msg = f"only {len(sessions)} sessions before {last}"
        raise ValueError(msg)
    chosen = sessions[-days:]
    home = settings.home / "replay"
    replay_settings = replace(
        settings,
        home=home,
        drop_dir=home / "drop",
        partition_start=chosen[0],
        partition_end=chosen[-1],
        database_url=(
            with_database(settings.database_url, REPLAY_DATABASE) if settings.database_url else None
        ),
        dagster_storage_url=None,
    )
    return ReplayPlan(replay_settings, chosen, source)


def prepare(replay: ReplayPlan) -> DatabaseUrls:
    """Link the files into the replay's drop folder and migrate its warehouse. The assets get
    the replay's settings through their resources (``build_definitions(replay.settings)``)."""
    settings = replay.settings
    if settings.database_url:
        ensure_database(settings.database_url)
    folder = settings.drop_dir / "sp500"  # the drop folder source of DA-<SYMBOL>-T-<date>.csv
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(replay.source.glob("*.csv")):
        link = folder / path.name
        if not link.exists():
            link.symlink_to(path.resolve())
    urls = resolve_urls(settings)
    upgrade(urls.warehouse)
    return urls


def done_through(engine: sa.Engine) -> date | None:
    """The last day whose cycle finished (its weights exist)."""
    with engine.connect() as conn:
        value = conn.execute(
            sa.text("SELECT max(partition_date) FROM symbol_model_weights")
        ).scalar()
    return value if isinstance(value, date) else None


def step_seconds(result: Any) -> dict[str, float]:
    """Seconds per step of an in-process run, keyed by ``STAGES`` names."""
    seconds: dict[str, float] = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            name = STAGES.get(event.step_key or "", event.step_key or "?")
            seconds[name] = event.event_specific_data.duration_ms / 1000.0
    return seconds


def run_day(
    job: Any, instance: Any, day: date, symbols: list[str], config: dict[str, Any]
) -> dict[str, Any]:
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": f"{day}|{symbols[0]}",
            "dagster/asset_partition_range_end": f"{day}|{symbols[-1]}",
            "swiftbolt/replay_day": day.isoformat(),
        },
        run_config=config,
        raise_on_error=False,
    )
    wall = time.perf_counter() - started
    return {
        "day": day.isoformat(),
        "success": result.success,
        "wall_s": round(wall, 2),
        "steps_s": {k: round(v, 2) for k, v in step_seconds(result).items()},
        "run_id": result.run_id,
    }


def horizon_scores(engine: sa.Engine) -> list[dict[str, Any]]:
    """Per horizon, over every evaluation: the forecast against naive baselines, same rows."""
    with engine.connect() as conn:
        frame = pl.read_database(
            "SELECT horizon, horizon_days, predicted_label, realized_label, realized_return, "
            "p_bearish, p_neutral, p_bullish, label_correct, direction_correct, inside_band, "
            "price_error_pct, as_of_date FROM forecast_evaluations_daily",
            conn,
        )
    return scores_by_horizon(frame)


def scores_by_horizon(
    frame: pl.DataFrame, n_boot: int = 1000, spec: CadenceSpec = DAILY
) -> list[dict[str, Any]]:
    """Per horizon of the evaluation rows ``frame``: scores with 95 % intervals of a moving-block
    bootstrap of as-of dates (blocks of 2 x the sessions the horizon's labels overlap across:
    the horizon for daily, one session for intraday) shown as
    ``point [low, high]``, ``n_eff`` beside ``n``, and the naive baselines (no interval on
    those, nor on the share of directions right, the band and the price error). Skill is against
    the realized class shares of the same rows (an in-sample climatology: a bar, not a rival)."""
    rows: list[dict[str, Any]] = []
    for (horizon, days), group in frame.group_by("horizon", "horizon_days"):
        truth = (
            group.get_column("realized_label")
            .replace_strict(list(CLASSES), list(range(3)), return_dtype=pl.Int64)
            .to_numpy()
        )
        probs = group.select("p_bearish", "p_neutral", "p_bullish").to_numpy()
        realized = group.get_column("realized_return").to_numpy()
        shares = [float((truth == k).mean()) for k in range(3)]
        scored = score_intervals(
            probs,
            truth,
            group.get_column("as_of_date"),
            realized,
            np.asarray(shares),
            block_length=2 * spec.sessions_spanned(int(days)),
            n_boot=n_boot,
        ).as_row()
        shown = with_intervals(scored, ["accuracy", "balanced_accuracy", "brier", "ece", "rank_ic"])
        shown |= with_intervals(
            {
                "skill_vs_shares": scored["brier_skill_score"],
                "skill_vs_shares_low": scored["brier_skill_score_low"],
                "skill_vs_shares_high": scored["brier_skill_score_high"],
            },
            ["skill_vs_shares"],
        )
        rows.append(
            {
                "horizon": horizon,
                "_days": days,
                "n": group.height,
                "n_eff": round(float(scored["n_eff"])),
                "as_of_days": group.get_column("as_of_date").n_unique(),
                "accuracy": shown["accuracy"],
                "balanced_accuracy": shown["balanced_accuracy"],
                "majority_share": max(shares),
                # the evaluation's own direction (target vs close), not the probabilities' lean
                "directional_accuracy": float(
                    group.get_column("direction_correct").drop_nulls().mean()  # type: ignore[arg-type]
                ),
                "always_up": float((realized > 0).mean()),
                "brier": shown["brier"],
                "skill_vs_shares": shown["skill_vs_shares"],
                "ece": shown["ece"],
                "rank_ic": shown["rank_ic"],
                "uniform_brier": 2.0 / 3.0,
                "inside_band": float(group.get_column("inside_band").mean()),  # type: ignore[arg-type]
                "mean_abs_price_error_pct": float(group.get_column("price_error_pct").abs().mean()),  # type: ignore[arg-type]
            }
        )
    rows.sort(key=lambda r: r["_days"])
    for row in rows:
        row.pop("_days")
    return rows


def weight_summary(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(
            sa.text(
                "SELECT horizon, method, count(*), avg(w_supertrend), avg(w_sr), avg(w_ensemble) "
                "FROM symbol_model_weights WHERE partition_date = "
                "(SELECT max(partition_date) FROM symbol_model_weights) GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ).all()
    return [
        {
            "horizon": r[0],
            "method": r[1],
            "rows": r[2],
            "w_supertrend": float(r[3]),
            "w_sr": float(r[4]),
            "w_ensemble": float(r[5]),
        }
        for r in result
    ]


def timing_summary(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median seconds per stage over the replayed days (go-live day and retrain days apart)."""
    if not days:
        return []
    routine = [d for d in days[1:] if d["steps_s"].get("models", 0.0) < 30.0]
    rows = []
    for stage in [*STAGES.values(), "wall"]:
        values = [d["wall_s"] if stage == "wall" else d["steps_s"].get(stage, 0.0) for d in routine]
        if values:
            rows.append(
                {
                    "stage": stage,
                    "median_s": round(statistics.median(values), 2),
                    "min_s": round(min(values), 2),
                    "max_s": round(max(values), 2),
                    "days": len(values),
                }
            )
    return rows


def report(engine: sa.Engine, days: list[dict[str, Any]], home: Path) -> str:
    scores = horizon_scores(engine)
    text = ["## Replay: evaluations per horizon (out of sample, point in time)", ""]
    text.append(markdown_table(scores, list(scores[0])) if scores else "(no evaluation yet)")
    weights = weight_summary(engine)
    text += ["", "## Layer weights on the last day", ""]
    text.append(markdown_table(weights, list(weights[0])) if weights else "(none)")
    timings = timing_summary(days)
    text += ["", "## Daily cycle: seconds per stage (routine days: no retrain)", ""]
    text.append(markdown_table(timings, list(timings[0])) if timings else "(none)")
    body = "\n".join(text) + "\n"
    (home / "replay_report.md").write_text(body)
    return body


def replay(
    settings: Settings, *, days: int, source: Path, cadence_months: int, through: date | None = None
) -> int:
    """Run the replay (resuming), print each day and the report; 1 if a day failed."""
    chosen = plan(settings, source, days, through)
    urls = prepare(chosen)
    prepare_dagster_env(chosen.settings, urls)
    engine = engine_for(urls.warehouse)
    resume = done_through(engine)
    todo = [d for d in chosen.days if resume is None or d > resume]
    # files without a valid symbol are rejected by ingestion, with the reason, in every run;
    # they name no partition (constituents.csv is the sectors file, never a bar file)
    files = DropFolderResource(path=str(chosen.settings.drop_dir)).files()
    symbols = sorted({f.symbol for f in files if is_valid_symbol(f.symbol)})
    print(
        f"replay of {len(chosen.days)} trading days {chosen.days[0]} … {chosen.days[-1]} over "
        f"{len(symbols)} symbols from {source} (state in {chosen.settings.home}); "
        f"{len(todo)} day(s) to run" + (f", resuming after {resume}" if resume else "")
    )
    defs = build_definitions(chosen.settings)
    job = defs.resolve_job_def(DAILY_CYCLE_JOB)
    config = {
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "ops": {"forecast_models": {"config": {"cadence_months": cadence_months}}},
    }
    timings_path = chosen.settings.home / "replay_timings.jsonl"
    failed = 0
    with dg.DagsterInstance.get() as instance:
        known = set(instance.get_dynamic_partitions(SYMBOLS_PARTITION_NAME))
        missing = [s for s in symbols if s not in known]
        if missing:
            instance.add_dynamic_partitions(SYMBOLS_PARTITION_NAME, missing)
        for day in todo:
            measured = run_day(job, instance, day, symbols, config)
            with timings_path.open("a") as out:
                out.write(json.dumps(measured) + "\n")
            steps = ", ".join(f"{k} {v:.1f}" for k, v in measured["steps_s"].items())
            verdict = "ok" if measured["success"] else "FAILED"
            print(f"{day}: {verdict} in {measured['wall_s']:.1f}s ({steps})", flush=True)
            if not measured["success"]:
                failed += 1
                break
    days_run = [json.loads(line) for line in timings_path.read_text().splitlines() if line.strip()]
    print(report(engine, [d for d in days_run if d["success"]], chosen.settings.home))
    print(
        f"open it in the UI: SWIFTBOLT_HOME={chosen.settings.home} "
        f"SWIFTBOLT_PARTITION_START={chosen.days[0]} SWIFTBOLT_PARTITION_END={chosen.days[-1]} "
        "make dev"
    )
    return 1 if failed else 0
