"""The walk-forward research of the forecasts: ``forecast_backtest`` and its predictions.

Long work over all history (yearly retrains over the last years, every prediction out of
sample): its own job and schedule, never the daily cycle's. The predictions seed the confidence
calibration before live evaluations exist.
"""

import base64
import time
from datetime import date
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from swiftbolt_assets.cadence import DAILY
from swiftbolt_assets.features.assets import FEATURES
from swiftbolt_assets.forecasting import metrics
from swiftbolt_assets.forecasting.backtest import METHODS, BacktestConfig, run_backtest
from swiftbolt_assets.forecasting.models_asset import GROUP, read_training_frame
from swiftbolt_assets.forecasting.schema import (
    backtest_metrics_schema,
    backtest_predictions_schema,
    validated,
)
from swiftbolt_assets.forecasting.store import last_session, write_backtest
from swiftbolt_assets.forecasting.walk_forward import TrainingParams
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.metadata import markdown_table, with_intervals
from swiftbolt_assets.warehouse.resources import WarehouseResource

FORECAST_BACKTEST = dg.AssetKey("forecast_backtest")
FORECAST_BACKTEST_PREDICTIONS = dg.AssetKey("forecast_backtest_predictions")


class BacktestRunConfig(dg.Config):  # type: ignore[misc]
    years: int = 5
    cadence_months: int = 12
    stride: int = 12
    horizons: list[str] = Field(default_factory=lambda: list(DAILY.horizons))
    lgbm_rounds: int = 100
    rf_trees: int = 40  # as forecast_models
    min_child_samples: int = 400
    validation_sessions: int = 252


@dg.multi_asset(
    name="run_forecast_backtest",
    specs=[
        dg.AssetSpec(
            FORECAST_BACKTEST,
            group_name=GROUP,
            deps=[FEATURES],
            description="Walk-forward backtest over the last years of history: per horizon "
            "accuracy, balanced and directional accuracy, Brier and skill vs climatology, ECE, "
            "rank IC for the forecast, its layers and the baselines.",
            metadata={"warehouse_tables": "forecast_backtest"},
            kinds={"postgres", "lightgbm"},
        ),
        dg.AssetSpec(
            FORECAST_BACKTEST_PREDICTIONS,
            group_name=GROUP,
            deps=[FEATURES],
            description="The backtest's out-of-sample predictions with their outcomes "
            "(seed of the confidence calibration).",
            metadata={"warehouse_tables": "forecast_backtest_predictions"},
            kinds={"postgres"},
        ),
    ],
    can_subset=False,
)
def run_forecast_backtest(
    context: dg.AssetExecutionContext,
    config: BacktestRunConfig,
    warehouse: WarehouseResource,
    market: MarketCalendarResource,
) -> Any:
    engine = warehouse.engine()
    last = last_session(engine, DAILY)
    if last is None:
        msg = "no daily bars in the warehouse: nothing to backtest"
        raise dg.Failure(msg)
    started = time.perf_counter()
    frame = read_training_frame(engine, market, last, DAILY)
    read_s = time.perf_counter() - started
    context.log.info(f"read and labelled {frame.height} d1 rows in {read_s:.1f}s")
    backtest = BacktestConfig(
        years=config.years,
        cadence_months=config.cadence_months,
        horizons=tuple(config.horizons),
        params=TrainingParams(
            lgbm_rounds=config.lgbm_rounds,
            rf_trees=config.rf_trees,
            min_child_samples=config.min_child_samples,
            validation_sessions=config.validation_sessions,
            stride=config.stride,
        ),
    )
    result = run_backtest(frame, market.sessions(last), backtest, context.log.info)
    del frame
    if result.predictions.is_empty():
        msg = "the backtest produced no out-of-sample prediction (too little history)"
        raise dg.Failure(msg)
    predictions = validated(result.predictions, backtest_predictions_schema())
    period = (
        predictions.get_column("as_of_date").min(),
        predictions.get_column("as_of_date").max(),
    )
    assert isinstance(period[0], date)
    assert isinstance(period[1], date)
    table = pl.DataFrame(result.metrics).with_columns(
        pl.col("n", "retrains", "block_sessions").cast(pl.Int32)
    )
    table = validated(table, backtest_metrics_schema())
    write_started = time.perf_counter()
    write_backtest(engine, table, predictions, context.run.run_id)
    write_s = time.perf_counter() - write_started
    total_s = time.perf_counter() - started
    shown = ["accuracy", "balanced_accuracy", "brier_skill_score", "ece", "rank_ic"]
    columns = ["horizon", "method", "n", "n_eff", "retrains", *shown]
    png = metrics.reliability_diagram_png(
        result.curves, "Reliability of the synthesized forecast (out of sample)"
    )
    diagram = f"![reliability](data:image/png;base64,{base64.b64encode(png).decode()})"
    yield dg.MaterializeResult(
        asset_key=FORECAST_BACKTEST,
        metadata={
            "dagster/row_count": table.height,
            "metrics": dg.MetadataValue.md(
                markdown_table([with_intervals(row, shown) for row in result.metrics], columns)
            ),
            "reliability_diagram": dg.MetadataValue.md(diagram),
            "period": f"{period[0]} … {period[1]}",
            "retrain_cadence_months": config.cadence_months,
            "fits": dg.MetadataValue.json(result.fits),
            "methods": dg.MetadataValue.json(list(METHODS)),
            "read_seconds": round(read_s, 1),
            "write_seconds": round(write_s, 1),
            "total_seconds": round(total_s, 1),
        },
    )
    yield dg.MaterializeResult(
        asset_key=FORECAST_BACKTEST_PREDICTIONS,
        metadata={"dagster/row_count": predictions.height},
    )
