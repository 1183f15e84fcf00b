"""Evaluation assets: thin Dagster layers over ``outcomes``, ``live`` and ``weights``.

- ``forecast_evaluations_daily`` (date × symbol): partition (D, S) scores every daily forecast
  of S whose target date is D on the final d1 bar of D. Its forecasts were written by the
  partitions D-1 … D-126 of ``ml_forecasts_daily`` (a ``TimeWindowPartitionMapping`` over the
  trading days), its bar by ``ohlc_bars`` (D, S): the graph orders it after both, in the same run.
- ``live_predictions_daily`` (date × symbol): rolling scores over the last 20 and 60
  evaluations per (symbol, horizon), as of D.
- ``symbol_model_weights`` (date × symbol): per (symbol, horizon) layer weights fitted at the
  close of D on the evaluations known then, valid until the next session's close; a recorded
  fallback to the defaults when they cannot be fitted or do not help.

The loop back into ``ml_forecasts_daily`` is cut at the warehouse (see ``forecasting.assets``):
forecasts read the weights valid at their as-of time; they do not depend on this asset.
"""

import time
from datetime import date, timedelta
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from swiftbolt_assets.calendar import sessions_table
from swiftbolt_assets.evaluation.live import WINDOWS, live_scores
from swiftbolt_assets.evaluation.outcomes import EVALUATION_COLUMNS, evaluate
from swiftbolt_assets.evaluation.schema import evaluations_schema, live_schema, weights_schema
from swiftbolt_assets.evaluation.store import (
    CALIBRATION_SCHEMA,
    calibration_keys,
    insert_calibrations,
    read_backtest_outcomes,
    read_daily_bars,
    read_evaluations,
    read_forecasts_due,
)
from swiftbolt_assets.evaluation.weights import LOOKBACK, WeightFitParams, fit_weights
from swiftbolt_assets.forecasting import metrics
from swiftbolt_assets.forecasting.assets import (
    CALENDAR_FIRST,
    FORECAST_BACKTEST_PREDICTIONS,
    ML_FORECASTS_DAILY,
    go_live_date,
    trading_calendar,
)
from swiftbolt_assets.forecasting.cadence import period_cutoffs
from swiftbolt_assets.forecasting.calibration import MIN_SAMPLES, fit_with_holdout
from swiftbolt_assets.forecasting.labels import HORIZONS
from swiftbolt_assets.forecasting.schema import calibration_schema, validated
from swiftbolt_assets.forecasting.store import last_daily_session
from swiftbolt_assets.ingestion.assets import OHLC_BARS
from swiftbolt_assets.partitions import DATE_DIMENSION, SYMBOL_DIMENSION, PartitionSlice
from swiftbolt_assets.settings import load_settings
from swiftbolt_assets.warehouse.resources import WarehouseResource
from swiftbolt_assets.warehouse.slices import replace_slices

EVALUATION_GROUP = "evaluation"
CALIBRATION_GROUP = "calibration"
FORECAST_EVALUATIONS_DAILY = dg.AssetKey("forecast_evaluations_daily")
LIVE_PREDICTIONS_DAILY = dg.AssetKey("live_predictions_daily")
SYMBOL_MODEL_WEIGHTS = dg.AssetKey("symbol_model_weights")
CONFIDENCE_CALIBRATION = dg.AssetKey("confidence_calibration")
BARS_FINAL = "forecast_evaluations_daily_bars_are_final"
# Reads reach this far back in calendar days: the 60-evaluation window (about 87 calendar days)
# and the 250-evaluation weight lookback (about 363) with room for gaps.
LIVE_READ_DAYS = 200
WEIGHTS_READ_DAYS = 400
# Dividend factors need the close before the first event in a window.
_BAR_MARGIN_DAYS = 10


def date_window(start_offset: int, end_offset: int) -> dg.MultiPartitionMapping:
    """Same symbol, trading days D+start_offset … D+end_offset (before go-live: none)."""
    return dg.MultiPartitionMapping(
        {
            DATE_DIMENSION: dg.DimensionPartitionMapping(
                DATE_DIMENSION,
                dg.TimeWindowPartitionMapping(
                    start_offset=start_offset,
                    end_offset=end_offset,
                    allow_nonexistent_upstream_partitions=True,
                ),
            ),
            SYMBOL_DIMENSION: dg.DimensionPartitionMapping(
                SYMBOL_DIMENSION, dg.IdentityPartitionMapping()
            ),
        }
    )


def by_horizon(frame: pl.DataFrame, *aggregations: pl.Expr) -> dg.MetadataValue:
    """A markdown table of ``aggregations`` per horizon, horizons in order (UI metadata)."""
    if frame.is_empty():
        return dg.MetadataValue.md("(none)")
    order = pl.DataFrame({"horizon": list(HORIZONS), "_order": range(len(HORIZONS))})
    rows = (
        frame.group_by("horizon")
        .agg(*aggregations)
        .join(order, on="horizon")
        .sort("_order")
        .drop("_order")
        .to_dicts()
    )
    return dg.MetadataValue.md(metrics.markdown_table(rows, list(rows[0])))


def build_evaluation_assets(
    partitions_def: dg.MultiPartitionsDefinition,
) -> list[dg.AssetsDefinition]:
    """The three partitioned evaluation-loop assets over ``partitions_def`` (date × symbol)."""
    return [
        _evaluations_asset(partitions_def),
        _live_asset(partitions_def),
        _weights_asset(partitions_def),
    ]


def _evaluations_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    longest = max(HORIZONS.values())

    @dg.asset(
        name="forecast_evaluations_daily",
        group_name=EVALUATION_GROUP,
        deps=[
            dg.AssetDep(OHLC_BARS),
            dg.AssetDep(ML_FORECASTS_DAILY, partition_mapping=date_window(-longest, -1)),
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="Every daily forecast whose target date is D, scored on the final d1 bar of "
        "D: realized return (split/dividend adjusted) and label under the forecast's own "
        "thresholds, label and direction right or wrong, price error, inside the band; with the "
        "forecast's key, probabilities and versions. Daily horizons only.",
        metadata={"warehouse_tables": "forecast_evaluations_daily"},
        kinds={"postgres", "polars"},
        check_specs=[
            dg.AssetCheckSpec(
                BARS_FINAL,
                asset=FORECAST_EVALUATIONS_DAILY,
                description="Every forecast due on the run's days had a final bar (written after "
                "the session's close). A missing or partial bar gives no evaluation: the "
                "forecast is evaluated when the bar arrives and the partition re-runs.",
            )
        ],
    )
    def forecast_evaluations_daily(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.perf_counter()
        settings = load_settings()
        engine = warehouse.engine()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        forecasts = read_forecasts_due(engine, run_slice.pairs)
        evaluations = pl.DataFrame()
        pending = pl.DataFrame(schema={"reason": pl.String})
        if forecasts.height:
            first = forecasts.get_column("as_of_date").min()
            last = forecasts.get_column("target_date").max()
            assert isinstance(first, date)
            assert isinstance(last, date)
            bars = read_daily_bars(
                engine,
                sorted(set(forecasts.get_column("symbol"))),
                first - timedelta(days=_BAR_MARGIN_DAYS),
                last,
            )
            closes = sessions_table(settings.exchange, last).select("session_date", "close_utc")
            evaluations, pending = evaluate(forecasts, bars, closes)
            evaluations = validated(evaluations.select(EVALUATION_COLUMNS), evaluations_schema())
        compute_s = time.perf_counter() - started
        replace_slices(
            engine,
            {"forecast_evaluations_daily": evaluations},
            run_slice.pairs,
            context.run.run_id,
        )
        write_s = time.perf_counter() - started - compute_s
        context.log.info(
            f"{forecasts.height} forecasts due on {len(run_slice.dates)} day(s) × "
            f"{len(run_slice.symbols)} symbol(s): {evaluations.height} evaluated, "
            f"{pending.height} pending (no final bar); computed in {compute_s:.2f}s, written in "
            f"{write_s:.2f}s"
        )
        examples = (
            pending.head(5)
            .select(pl.format("{} {} as of {}: {}", "symbol", "horizon", "as_of_date", "reason"))
            .to_series()
            .to_list()
            if pending.height
            else []
        )
        if pending.height:
            context.log.warning(f"{pending.height} forecast(s) not evaluated, e.g. {examples}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": evaluations.height,
                "forecasts_due": forecasts.height,
                "pending": pending.height,
                "pending_examples": dg.MetadataValue.json(examples),
                "by_horizon": by_horizon(
                    evaluations,
                    pl.len().alias("n"),
                    pl.col("label_correct").mean().alias("accuracy"),
                    pl.col("direction_correct").mean().alias("directional_accuracy"),
                    pl.col("inside_band").mean().alias("inside_band"),
                    pl.col("price_error_pct").abs().mean().alias("mean_abs_price_error_pct"),
                ),
                "compute_seconds": round(compute_s, 3),
                "write_seconds": round(write_s, 3),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=BARS_FINAL,
                    passed=pending.height == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "pending": pending.height,
                        "examples": dg.MetadataValue.json(examples),
                    },
                )
            ],
        )

    return forecast_evaluations_daily


def _live_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="live_predictions_daily",
        group_name=EVALUATION_GROUP,
        deps=[
            dg.AssetDep(
                FORECAST_EVALUATIONS_DAILY, partition_mapping=date_window(-(max(WINDOWS) - 1), 0)
            )
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="Per (symbol, horizon), as of D: accuracy, hit rate per label, directional "
        "accuracy, Brier score, calibration error, band coverage and price error over the last "
        "20 and the last 60 evaluations, with their counts.",
        metadata={"warehouse_tables": "live_predictions_daily"},
        kinds={"postgres", "polars"},
    )
    def live_predictions_daily(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.perf_counter()
        engine = warehouse.engine()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        requests = _requests(run_slice)
        evaluations = read_evaluations(
            engine,
            run_slice.symbols,
            run_slice.dates[0] - timedelta(days=LIVE_READ_DAYS),
            run_slice.dates[-1],
        )
        scores = validated(live_scores(evaluations, requests), live_schema())
        compute_s = time.perf_counter() - started
        replace_slices(
            engine, {"live_predictions_daily": scores}, run_slice.pairs, context.run.run_id
        )
        write_s = time.perf_counter() - started - compute_s
        latest = scores.filter(
            (pl.col("partition_date") == run_slice.dates[-1])
            & (pl.col("window_size") == max(WINDOWS))
        )
        table = by_horizon(
            latest,
            pl.col("n").sum().alias("evaluations"),
            ((pl.col("accuracy") * pl.col("n")).sum() / pl.col("n").sum()).alias("accuracy"),
            ((pl.col("brier") * pl.col("n")).sum() / pl.col("n").sum()).alias("brier"),
        )
        context.log.info(
            f"{scores.height} rolling score rows from {evaluations.height} evaluations, computed "
            f"in {compute_s:.2f}s, written in {write_s:.2f}s"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": scores.height,
                "evaluations_read": evaluations.height,
                f"last_{max(WINDOWS)}_on_{run_slice.dates[-1]}": table,
                "compute_seconds": round(compute_s, 3),
                "write_seconds": round(write_s, 3),
            }
        )

    return live_predictions_daily


def _weights_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="symbol_model_weights",
        group_name=CALIBRATION_GROUP,
        deps=[
            dg.AssetDep(
                FORECAST_EVALUATIONS_DAILY, partition_mapping=date_window(-(LOOKBACK - 1), 0)
            )
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="Per (symbol, horizon), the SuperTrend / support-resistance / ensemble layer "
        "weights fitted at the close of D on the last 250 evaluations known then (walk-forward "
        "with an embargo, Brier score on the simplex), valid from that close until the next "
        "session's close; or the recorded fallback to the defaults, with the reason.",
        metadata={"warehouse_tables": "symbol_model_weights"},
        kinds={"postgres", "polars"},
    )
    def symbol_model_weights(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.perf_counter()
        settings = load_settings()
        engine = warehouse.engine()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        evaluations = read_evaluations(
            engine,
            run_slice.symbols,
            run_slice.dates[0] - timedelta(days=WEIGHTS_READ_DAYS),
            run_slice.dates[-1],
        )
        fitted = fit_weights(evaluations, _requests(run_slice), WeightFitParams())
        sessions = sessions_table(settings.exchange, run_slice.dates[-1]).select(
            "session_date", "close_utc"
        )
        validity = sessions.with_columns(
            pl.col("close_utc").alias("valid_from"),
            pl.col("close_utc").shift(-1).alias("valid_until"),
        ).select(pl.col("session_date").alias("partition_date"), "valid_from", "valid_until")
        rows = fitted.join(validity, on="partition_date", how="left").with_columns(
            pl.format("{}-{}", pl.col("partition_date").dt.strftime("%Y%m%d"), "method").alias(
                "version_id"
            ),
            pl.col("partition_date").alias("fitted_through"),
        )
        rows = validated(rows, weights_schema())
        compute_s = time.perf_counter() - started
        replace_slices(engine, {"symbol_model_weights": rows}, run_slice.pairs, context.run.run_id)
        write_s = time.perf_counter() - started - compute_s
        methods = dict(rows.group_by("method").len().rows())
        table = by_horizon(
            rows,
            (pl.col("method") == "fitted").sum().alias("fitted"),
            (pl.col("method") != "fitted").sum().alias("fallback"),
            pl.col("w_supertrend").mean(),
            pl.col("w_sr").mean(),
            pl.col("w_ensemble").mean(),
            pl.col("n_evaluations").median().alias("median_evaluations"),
        )
        context.log.info(
            f"{rows.height} weight rows from {evaluations.height} evaluations: {methods}; "
            f"computed in {compute_s:.2f}s, written in {write_s:.2f}s"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows.height,
                "methods": dg.MetadataValue.json(methods),
                "by_horizon": table,
                "evaluations_read": evaluations.height,
                "compute_seconds": round(compute_s, 3),
                "write_seconds": round(write_s, 3),
            }
        )

    return symbol_model_weights


def _requests(run_slice: PartitionSlice) -> pl.DataFrame:
    return pl.DataFrame(
        sorted(run_slice.pairs),
        schema={"partition_date": pl.Date, "symbol": pl.String},
        orient="row",
    )


class ConfidenceCalibrationConfig(dg.Config):  # type: ignore[misc]
    """When live evaluations replace the backtest as the calibration's data."""

    min_live_target_days: int = Field(
        40,
        description="a horizon's version is fitted on live evaluations once they span at least "
        "this many target days (and hold enough rows); before that, on the backtest",
    )
    min_live_samples: int = Field(
        MIN_SAMPLES, description="fewest live evaluations a horizon's live version is fitted on"
    )


def build_confidence_calibration_asset(
    partitions_def: dg.MultiPartitionsDefinition,
) -> dg.AssetsDefinition:
    """``confidence_calibration``: versions from the go-live partition's month on."""
    go_live = go_live_date(partitions_def)

    @dg.asset(
        name="confidence_calibration",
        group_name=CALIBRATION_GROUP,
        deps=[FORECAST_BACKTEST_PREDICTIONS, FORECAST_EVALUATIONS_DAILY],
        description="Per horizon and monthly cutoff, an isotonic map from raw confidence to the "
        "observed hit rate, fitted only on outcomes known by the cutoff: live evaluations once "
        "they span enough days, the walk-forward backtest's out-of-sample predictions before. "
        "A version is written once and never changed; it serves the forecasts after its cutoff.",
        metadata={"warehouse_tables": "confidence_calibration"},
        kinds={"postgres", "scikit-learn"},
    )
    def confidence_calibration(
        context: dg.AssetExecutionContext,
        config: ConfidenceCalibrationConfig,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = load_settings()
        engine = warehouse.engine()
        last = last_daily_session(engine)
        if last is None:
            context.log.warning("no daily bars in the warehouse: nothing to calibrate")
            return dg.MaterializeResult(metadata={"versions_written": 0})
        sessions = trading_calendar(settings.exchange, last)
        cutoffs = period_cutoffs(sessions, go_live, last, 1)
        existing = calibration_keys(engine)
        due = [(h, c) for h in HORIZONS for c in cutoffs if (h, c) not in existing]
        if not due:
            context.log.info(f"every version for cutoffs {[str(c) for c in cutoffs]} exists")
            return dg.MaterializeResult(metadata={"versions_written": 0, "due": 0})
        through = max(c for _, c in due)
        live = read_evaluations(
            engine,
            None,
            CALENDAR_FIRST,
            through,
            ("horizon", "as_of_date", "target_date", "raw_confidence", "label_correct"),
        )
        backtest = read_backtest_outcomes(engine, sorted({h for h, _ in due}), through)
        rows: list[dict[str, Any]] = []
        for horizon, cutoff in due:
            rows.extend(
                _calibration_version(
                    context,
                    horizon,
                    cutoff,
                    live=live,
                    backtest=backtest,
                    min_live_target_days=config.min_live_target_days,
                    min_live_samples=config.min_live_samples,
                )
            )
        frame = validated(pl.DataFrame(rows, schema=CALIBRATION_SCHEMA), calibration_schema())
        written = insert_calibrations(engine, frame, context.run.run_id)
        keys = ("horizon", "fitted_through", "source", "n_samples", "ece_before", "ece_after")
        summary = [{k: r[k] for k in (*keys, "method")} for r in rows]
        context.log.info(
            f"{written} new calibration version(s) of {len(due)} due for cutoffs "
            f"{sorted({str(c) for _, c in due})}; the rest wait for enough outcomes (live "
            f"evaluations over {config.min_live_target_days} target days, or a backtest)"
        )
        return dg.MaterializeResult(
            metadata={
                "versions_written": written,
                "due": len(due),
                "holdout_ece": dg.MetadataValue.md(
                    metrics.markdown_table(summary, [*keys, "method"]) if summary else "(none)"
                ),
                "cutoffs": dg.MetadataValue.json([str(c) for c in cutoffs]),
            }
        )

    return confidence_calibration


def _calibration_version(
    context: dg.AssetExecutionContext,
    horizon: str,
    cutoff: date,
    *,
    live: pl.DataFrame,
    backtest: pl.DataFrame,
    min_live_target_days: int,
    min_live_samples: int,
) -> list[dict[str, Any]]:
    """The version of (horizon, cutoff): live when enough, else backtest; none if neither."""
    known_live = live.filter((pl.col("horizon") == horizon) & (pl.col("target_date") <= cutoff))
    days = known_live.get_column("target_date").n_unique()
    fit, source = None, "backtest"
    if days >= min_live_target_days:
        fit = fit_with_holdout(
            known_live.get_column("raw_confidence").to_numpy(),
            known_live.get_column("label_correct").cast(pl.Float64).to_numpy(),
            known_live.get_column("as_of_date").to_numpy(),
            min_samples=min_live_samples,
        )
        source = "live"
    if fit is None:
        known = backtest.filter(
            (pl.col("horizon") == horizon) & (pl.col("label_end_date") <= cutoff)
        )
        fit = fit_with_holdout(
            known.get_column("confidence").to_numpy(),
            known.get_column("correct").to_numpy(),
            known.get_column("as_of_date").to_numpy(),
        )
        source = "backtest"
    if fit is None:
        context.log.debug(
            f"{horizon} cutoff {cutoff}: too few outcomes to calibrate ({known_live.height} live "
            f"over {days} target days; backtest too small): forecasts keep the previous version"
        )
        return []
    context.log.info(
        f"{horizon} cutoff {cutoff}: {fit.n_samples} {source} outcomes, hold-out ECE "
        f"{fit.ece_before:.4f} raw, {fit.ece_after:.4f} calibrated: serves {fit.method}"
    )
    return [
        {
            "version_id": f"{horizon}-{cutoff:%Y%m%d}-{source}-{fit.method}",
            "horizon": horizon,
            "fitted_through": cutoff,
            "method": fit.method,
            "source": source,
            "n_samples": fit.n_samples,
            "n_holdout": fit.n_holdout,
            "ece_before": fit.ece_before,
            "ece_after": fit.ece_after,
            "x": list(fit.served.x),
            "y": list(fit.served.y),
        }
    ]
