"""The bench's stages, each run in a child process of ``bench.py`` against one warehouse:
the initial load with the feature builds (``one_ingest``), the forecasting stages
(``one_forecast_stage``: models, forecast, cycle, research), the sensor ticks and the TA-Lib
comparison. Each returns what it measured as a dict."""

from __future__ import annotations

import resource
import statistics
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SP500 = PROJECT_ROOT.parent / "shared" / "data" / "sp500_daily"
GO_LIVE = "2021-04-20"  # the first partition holds all history up to here
NEXT_DAY = "2021-04-21"  # the files' last session: a one-day partition for the incremental build


def one_ingest(drop_dir: Path) -> dict[str, Any]:
    """One initial load in this process (called in a child process by ``main``)."""
    import dagster as dg
    import sqlalchemy as sa

    from swiftbolt_assets.definitions import build_definitions
    from swiftbolt_assets.ingestion.resources import DropFolderResource
    from swiftbolt_assets.instance import prepare_dagster_env
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
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

    def run(first: str, last: str, asset: str) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": f"{first}|{symbols[0]}",
                "dagster/asset_partition_range_end": f"{last}|{symbols[-1]}",
            },
            run_config=quiet,
            asset_selection=(
                [dg.AssetKey("features")]
                if asset == "features"
                else [dg.AssetKey("ohlc_bars"), dg.AssetKey("ohlc_rejects")]
            ),
        )
        wall = time.perf_counter() - started
        assert result.success
        node = "ingest_ohlc" if asset == "ohlc_bars" else "features"
        meta = next(
            m.metadata
            for m in result.asset_materializations_for_node(node)
            if m.asset_key == dg.AssetKey(asset)
        )
        return wall, {k: v.value for k, v in meta.items()}

    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("symbols", symbols)
        ingest_wall, ingest = run(GO_LIVE, NEXT_DAY, "ohlc_bars")
        full_wall, full = run(GO_LIVE, GO_LIVE, "features")
        incr_wall, incr = run(NEXT_DAY, NEXT_DAY, "features")
    with sa.create_engine(urls.warehouse).connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM ohlc_bars")).scalar_one()
        server = conn.execute(sa.text("SHOW server_version")).scalar_one()
    compute = float(ingest["compute_seconds"])
    write = float(ingest["write_seconds"])
    checks = float(ingest["checks_seconds"])
    return {
        "success": True,
        "bars": int(stored),
        "partition_keys": 2 * len(symbols),
        "wall_s": ingest_wall,
        "compute_s": compute,
        "write_s": write,
        "checks_s": checks,
        "dagster_bookkeeping_s": ingest_wall - compute - write - checks,
        "features_full_wall_s": full_wall,
        "features_full_rows": int(full["dagster/row_count"]),
        "features_full_read_s": float(full["read_seconds"]),
        "features_full_compute_s": float(full["compute_seconds"]),
        "features_full_write_s": float(full["write_seconds"]),
        "features_full_values_per_s": int(full["indicator_values_per_second"]),
        "features_incremental_wall_s": incr_wall,
        "features_incremental_rows": int(incr["dagster/row_count"]),
        "features_incremental_bars_read": int(incr["bars_read"]),
        "features_incremental_compute_s": float(incr["compute_seconds"]),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "postgres": server,
        "embedded": urls.embedded,
    }


def one_forecast_stage(stage: str, drop_dir: Path) -> dict[str, Any]:
    """One forecasting stage in this process, on the warehouse the ingest child filled.

    ``models``: ``forecast_models`` (one retrain of the 8 horizons for the go-live cutoff);
    ``forecast``: ``ml_forecasts_daily`` for the files' last day, all symbols;
    ``research``: the walk-forward backtest and the confidence calibration.
    """
    import dagster as dg

    from swiftbolt_assets.definitions import DAILY_CYCLE_JOB, RESEARCH_JOB, build_definitions
    from swiftbolt_assets.ingestion.resources import DropFolderResource
    from swiftbolt_assets.instance import prepare_dagster_env
    from swiftbolt_assets.replay import STAGES, step_seconds
    from swiftbolt_assets.settings import load_settings
    from swiftbolt_assets.warehouse.database import resolve_urls
    from swiftbolt_assets.warehouse.resources import WarehouseResource

    settings = load_settings()
    urls = resolve_urls(settings)
    prepare_dagster_env(settings, urls)
    defs = build_definitions(
        settings,
        resources={
            "warehouse": WarehouseResource(database_url=urls.warehouse),
            "drop_folder": DropFolderResource(path=str(drop_dir)),
        },
    )
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    symbols = sorted({f.symbol for f in DropFolderResource(path=str(drop_dir)).files()})
    selections = {
        "models": ["forecast_models"],
        "forecast": ["ml_forecasts_daily"],
        "research": [
            "forecast_backtest",
            "forecast_backtest_predictions",
            "confidence_calibration",
        ],
    }
    job = defs.resolve_job_def(RESEARCH_JOB if stage == "research" else DAILY_CYCLE_JOB)

    def day_tags(day: str) -> dict[str, str]:
        return {
            "dagster/asset_partition_range_start": f"{day}|{symbols[0]}",
            "dagster/asset_partition_range_end": f"{day}|{symbols[-1]}",
        }

    tags = day_tags(NEXT_DAY) if stage in {"forecast", "cycle"} else {}
    with dg.DagsterInstance.get() as instance:
        if stage == "cycle":
            # untimed: the go-live day's forecasts, so the cycle of the next day has its 1D
            # forecasts to evaluate (the longer horizons' targets lie past the data)
            job.execute_in_process(
                instance=instance,
                tags=day_tags(GO_LIVE),
                run_config=quiet,
                asset_selection=[dg.AssetKey("ml_forecasts_daily")],
            )
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            tags=tags,
            run_config=quiet,
            asset_selection=(
                None if stage == "cycle" else [dg.AssetKey(k) for k in selections[stage]]
            ),
        )
        wall = time.perf_counter() - started
    assert result.success
    metadata: dict[str, Any] = {}
    nodes = {"models": "forecast_models", "forecast": "ml_forecasts_daily"}
    if stage == "cycle":
        names = list(STAGES)
    elif stage in nodes:
        names = [nodes[stage]]
    else:
        names = ["run_forecast_backtest", "confidence_calibration"]
    for node in names:
        for materialization in result.asset_materializations_for_node(node):
            metadata[materialization.asset_key.to_user_string()] = {
                k: v.value
                for k, v in materialization.metadata.items()
                if k != "reliability_diagram"
            }
    return {
        "stage": stage,
        "wall_s": wall,
        "steps_s": step_seconds(result),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "metadata": metadata,
    }


def sensor_ticks(drop_root: Path) -> dict[str, Any]:
    """new_ohlc_bars_sensor over the 504 files: first tick, unchanged tick, one file changed."""
    import dataclasses
    from datetime import date

    import dagster as dg

    from swiftbolt_assets.definitions import build_definitions
    from swiftbolt_assets.ingestion.resources import DropFolderResource
    from swiftbolt_assets.market import MarketCalendarResource
    from swiftbolt_assets.settings import load_settings

    settings = dataclasses.replace(
        load_settings({}), partition_start=date.fromisoformat(GO_LIVE), drop_dir=drop_root
    )
    sensor = build_definitions(settings).resolve_sensor_def("new_ohlc_bars_sensor")
    resources = {
        "drop_folder": DropFolderResource(path=str(drop_root)),
        "market": MarketCalendarResource(exchange=settings.exchange),
    }
    with dg.DagsterInstance.ephemeral() as instance:

        def tick(cursor: str | None) -> tuple[float, Any]:
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=resources
            ) as context:
                started = time.perf_counter()
                result = sensor(context)
                return time.perf_counter() - started, result

        first_s, first = tick(None)
        instance.add_dynamic_partitions(
            "symbols", list(first.dynamic_partitions_requests[0].partition_keys)
        )
        unchanged_s, _ = tick(first.cursor)
        changed = next((drop_root / "sp500").glob("DA-MSFT-T-*.csv"))
        source = changed.resolve()
        changed.unlink()
        changed.write_bytes(source.read_bytes())  # a new copy: new mtime, same rows
        one_s, one = tick(first.cursor)
    return {
        "first_tick_s": round(first_s, 3),
        "first_tick_runs": len(first.run_requests),
        "new_symbols": len(first.dynamic_partitions_requests[0].partition_keys),
        "unchanged_tick_s": round(unchanged_s, 3),
        "one_file_changed_tick_s": round(one_s, 3),
        "one_file_changed_runs": len(one.run_requests),
    }


def talib_ratio() -> dict[str, Any]:
    """add_indicators on all 504 adjusted d1 series vs TA-Lib's loop for the shared indicators."""
    import numpy as np
    import polars as pl
    import talib

    from swiftbolt_assets.features.indicators import add_indicators, compute_talib_shared

    frame = (
        pl.scan_csv(str(SP500 / "DA-*.csv"), include_file_paths="path")
        .with_columns(
            pl.col("path").str.extract(r"DA-(.+)-T-").alias("symbol"),
            pl.lit("d1").alias("timeframe"),
            pl.col("timestamp").str.to_date().alias("ts"),
            (pl.col("adjusted_close") / pl.col("close")).alias("f"),
        )
        .with_columns(
            *(pl.col(c).cast(pl.Float64) * pl.col("f") for c in ("open", "high", "low", "close")),
            pl.col("volume").cast(pl.Float64),
        )
        .select("symbol", "timeframe", "ts", "open", "high", "low", "close", "volume")
        .sort("symbol", "timeframe", "ts")
        .collect()
    )
    compute_talib_shared(frame.head(1000))  # load the compiled kernel before timing
    ours, whole = [], []
    for _ in range(3):
        started = time.perf_counter()
        compute_talib_shared(frame)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        add_indicators(frame)
        whole.append(time.perf_counter() - started)
    series = [
        {c: g[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
        for _, g in frame.group_by("symbol", maintain_order=True)
    ]
    theirs = []
    for _ in range(3):
        started = time.perf_counter()
        for x in series:
            h, low, c, v = x["high"], x["low"], x["close"], np.ascontiguousarray(x["volume"])
            for n in (5, 10, 20, 50, 200):
                talib.SMA(c, n)
            for n in (12, 26):
                talib.EMA(c, n)
            talib.RSI(c, 14)
            talib.RSI(c, 7)
            talib.MACD(c, 12, 26, 9)
            talib.ATR(h, low, c, 14)
            talib.ADX(h, low, c, 14)
            talib.PLUS_DI(h, low, c, 14)
            talib.MINUS_DI(h, low, c, 14)
            talib.BBANDS(c, 20, 2, 2, 0)
            talib.BBANDS(c, 30, 2, 2, 0)
            talib.WILLR(h, low, c, 14)
            talib.CCI(h, low, c, 20)
            talib.MFI(h, low, c, v, 14)
            talib.OBV(c, v)
            talib.ROC(c, 5)
            talib.ROC(c, 20)
        theirs.append(time.perf_counter() - started)
    return {
        "rows": frame.height,
        "ours_s_median": round(statistics.median(ours), 3),
        "all_43_columns_s_median": round(statistics.median(whole), 3),
        "talib_s_median": round(statistics.median(theirs), 3),
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 2),
    }
