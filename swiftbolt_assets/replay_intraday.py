"""Replay the intraday half over real 15-minute bars, then its walk-forward backtest.

``python -m swiftbolt_assets.replay_intraday`` (``make replay-intraday``): eqker's files
(``../shared/data/intraday/eqker``: 15-minute, 1-minute and daily bars of 24 symbols, about 30
sessions of 2019) in a drop folder of links; go-live is the first 15-minute session, so its
partition holds the daily history. Then:

1. one run of the daily cycle over every session: bars, features, and the weekly intraday model
   versions (``forecast_models``);
2. the intraday job over every session, twice: the first pass forecasts, evaluates at the
   horizon and fits the calibrated weights of every bar close; the second forecasts with the
   weights fitted at earlier bar closes (what the schedule's run after each bar does);
3. the walk-forward backtest of the intraday models (weekly cutoffs, the same fit and gate as
   ``forecast_models``) against climatology, persistence and majority, with 95 %
   block-bootstrap intervals by session.

State lives in ``<SWIFTBOLT_HOME>/replay_intraday`` (embedded PostgreSQL), or in the database
``swiftbolt_replay_intraday`` of ``SWIFTBOLT_DATABASE_URL``. The report (row counts, the live
evaluations per horizon, the backtest table) is printed and written to ``report.md`` there.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import sqlalchemy as sa

from swiftbolt_assets.cadence import INTRADAY
from swiftbolt_assets.definitions import (
    DAILY_CYCLE_JOB,
    INTRADAY_CYCLE_JOB,
    INTRADAY_TABLES,
    build_definitions,
)
from swiftbolt_assets.forecasting.backtest import BacktestConfig, run_backtest
from swiftbolt_assets.forecasting.models_asset import read_training_frame
from swiftbolt_assets.forecasting.walk_forward import INTRADAY_PARAMS
from swiftbolt_assets.instance import prepare_dagster_env
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.metadata import markdown_table, with_intervals
from swiftbolt_assets.partitions import SYMBOLS_PARTITION_NAME
from swiftbolt_assets.replay import scores_by_horizon
from swiftbolt_assets.settings import Settings, load_settings
from swiftbolt_assets.warehouse.database import (
    engine_for,
    ensure_database,
    resolve_urls,
    with_database,
)
from swiftbolt_assets.warehouse.migrate import upgrade

REPLAY_DATABASE = "swiftbolt_replay_intraday"
DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "intraday" / "eqker"
BASELINES = ("served", "ensemble", "climatology", "persistence", "majority")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def sessions_of(source: Path) -> tuple[list[str], date, date]:
    """The symbols of ``source``'s 15-minute files and the first and last session they hold."""
    files = sorted(source.glob("*_15min.csv"))
    if not files:
        msg = f"no <SYMBOL>_15min.csv files in {source}"
        raise FileNotFoundError(msg)
    days = sorted(
        pl.concat(
            [
                pl.read_csv(f, columns=["datetime"]).select(pl.col("datetime").str.slice(0, 10))
                for f in files
            ]
        )
        .get_column("datetime")
        .unique()
        .to_list()
    )
    symbols = [f.name.split("_")[0] for f in files]
    return symbols, date.fromisoformat(days[0]), date.fromisoformat(days[-1])


def replay_settings(settings: Settings, first: date, last: date) -> Settings:
    home = settings.home / "replay_intraday"
    return replace(
        settings,
        home=home,
        drop_dir=home / "drop",
        partition_start=first,
        partition_end=last,
        database_url=(
            with_database(settings.database_url, REPLAY_DATABASE) if settings.database_url else None
        ),
        dagster_storage_url=None,
    )


def _range_run(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job: str,
    keys: tuple[str, str],
    selection: list[dg.AssetKey] | None = None,
) -> float:
    started = time.perf_counter()
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance,
        run_config=QUIET,
        asset_selection=selection,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[1],
        },
        raise_on_error=False,
    )
    if not result.success:
        msg = f"{job} over {keys[0]}..{keys[1]} failed (run {result.run_id})"
        raise RuntimeError(msg)
    return time.perf_counter() - started


def backtest_table(
    engine: sa.Engine, market: MarketCalendarResource, last: date
) -> list[dict[str, Any]]:
    """The intraday walk-forward backtest's scores per (horizon, method) on the same rows."""
    frame = read_training_frame(engine, market, last, INTRADAY)
    result = run_backtest(
        frame,
        market.sessions(last),
        BacktestConfig(spec=INTRADAY, horizons=tuple(INTRADAY.horizons), params=INTRADAY_PARAMS),
        log=print,
    )
    rows = []
    for row in result.metrics:
        if row["method"] not in BASELINES:
            continue
        shown = with_intervals(row, ["accuracy", "brier", "brier_skill_score"])
        rows.append(
            {
                "horizon": row["horizon"],
                "method": row["method"],
                "n": row["n"],
                "n_eff": round(float(row["n_eff"])),  # type: ignore[arg-type]
                "period": f"{row['period_start']}..{row['period_end']}",
                "retrains": row["retrains"],
                "accuracy": shown["accuracy"],
                "brier": shown["brier"],
                "skill_vs_climatology": shown["brier_skill_score"],
            }
        )
    return rows


def report(engine: sa.Engine, market: MarketCalendarResource, last: date, home: Path) -> str:
    with engine.connect() as conn:
        counts = [
            {"table": t, "rows": conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()}
            for t in (*INTRADAY_TABLES, INTRADAY.tables.skips)
        ]
        sources = conn.execute(
            sa.text("SELECT weights_source, count(*) FROM ml_forecasts_intraday GROUP BY 1")
        ).all()
        evaluations = pl.read_database(
            "SELECT horizon, horizon_days, predicted_label, realized_label, realized_return, "
            "p_bearish, p_neutral, p_bullish, label_correct, direction_correct, inside_band, "
            "price_error_pct, as_of_date FROM forecast_evaluations_intraday",
            conn,
        )
    live = scores_by_horizon(evaluations, spec=INTRADAY)
    backtest = backtest_table(engine, market, last)
    text = ["## Intraday replay: rows per table", "", markdown_table(counts, ["table", "rows"])]
    text += ["", f"forecasts by weights source: {dict(sources)}", ""]
    text += ["## Live evaluations per horizon (scored at the horizon's bar)", ""]
    text.append(markdown_table(live, list(live[0])) if live else "(no evaluation)")
    text += ["", "## Walk-forward backtest (weekly retrains, out of sample)", ""]
    text.append(markdown_table(backtest, list(backtest[0])) if backtest else "(no fit)")
    body = "\n".join(text) + "\n"
    (home / "report.md").write_text(body)
    return body


def replay_intraday(settings: Settings, source: Path) -> int:
    symbols, first, last = sessions_of(source)
    chosen = replay_settings(settings, first, last)
    if chosen.database_url:
        ensure_database(chosen.database_url)
    folder = chosen.drop_dir / "eqker"
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.csv")):
        link = folder / path.name
        if not link.exists():
            link.symlink_to(path.resolve())
    urls = resolve_urls(chosen)
    upgrade(urls.warehouse)
    prepare_dagster_env(chosen, urls)
    print(
        f"intraday replay of {first}..{last} over {len(symbols)} symbols from {source} "
        f"(state in {chosen.home})",
        flush=True,
    )
    defs = build_definitions(chosen)
    keys = (f"{first}|{symbols[0]}", f"{last}|{symbols[-1]}")
    with dg.DagsterInstance.get() as instance:
        known = set(instance.get_dynamic_partitions(SYMBOLS_PARTITION_NAME))
        if missing := [s for s in symbols if s not in known]:
            instance.add_dynamic_partitions(SYMBOLS_PARTITION_NAME, missing)
        seconds = _range_run(defs, instance, DAILY_CYCLE_JOB, keys)
        print(f"daily cycle (bars, features, weekly intraday models): {seconds:.1f}s", flush=True)
        intraday = [dg.AssetKey(t) for t in INTRADAY_TABLES]
        for name in ("first", "second"):
            seconds = _range_run(defs, instance, INTRADAY_CYCLE_JOB, keys, intraday)
            print(f"intraday job, {name} pass: {seconds:.1f}s", flush=True)
    market = MarketCalendarResource(exchange=chosen.exchange)
    print(report(engine_for(urls.warehouse), market, last, chosen.home))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"replay source not found: {args.source} (eqker's files live in ../shared/data)")
        return 2
    return replay_intraday(load_settings(), args.source)


if __name__ == "__main__":
    raise SystemExit(main())
