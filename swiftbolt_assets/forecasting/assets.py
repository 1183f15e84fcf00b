"""Forecasting assets: thin Dagster layers over the pure modules of this package.

- ``forecast_models`` (unpartitioned): trains every due (cutoff, horizon) version on the
  cadence, registers it in ``model_registry`` and promotes it only if it passes the gate.
- ``ml_forecasts_daily`` (date × symbol): the forecasts as of the close of D, from the latest
  promoted model trained before D, the weights valid at the close of D and the calibration
  fitted on outcomes known before D; a reason in ``ml_forecast_skips`` where there is none.
- ``forecast_backtest`` + ``forecast_backtest_predictions`` (unpartitioned): the walk-forward
  backtest with its baselines, metrics table and reliability diagram in the UI.

The loop forecasts → evaluations → weights/calibration → forecasts is cut here: forecasts read
the weight tables and ``confidence_calibration`` point in time from the warehouse instead of
depending on the assets that write them (``swiftbolt_assets.evaluation``).
"""

import base64
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
import sqlalchemy as sa
from pydantic import Field

from swiftbolt_assets.calendar import sessions_between, sessions_table
from swiftbolt_assets.features.assets import FEATURES
from swiftbolt_assets.forecasting import metrics
from swiftbolt_assets.forecasting.backtest import METHODS, BacktestConfig, run_backtest
from swiftbolt_assets.forecasting.cadence import period_cutoffs
from swiftbolt_assets.forecasting.calibration import IDENTITY
from swiftbolt_assets.forecasting.dataset import model_inputs, skip_reasons, with_session_index
from swiftbolt_assets.forecasting.forecast import (
    FORECAST_COLUMNS,
    ServingModel,
    contradictions,
    forecast_rows,
)
from swiftbolt_assets.forecasting.labels import HORIZONS, add_labels
from swiftbolt_assets.forecasting.models import (
    HorizonModel,
    TrainingParams,
    artifact_digest,
    fit_horizon,
    promotion_decision,
    walk_forward_split,
)
from swiftbolt_assets.forecasting.schema import (
    backtest_metrics_schema,
    backtest_predictions_schema,
    forecasts_schema,
    registry_schema,
    skips_schema,
    validated,
)
from swiftbolt_assets.forecasting.store import (
    calibration_versions,
    insert_registry_rows,
    last_daily_session,
    latest_before,
    load_model,
    read_forecast_inputs,
    read_label_closes,
    read_training_features,
    read_weights,
    registry_entries,
    replace_table,
    write_forecasts,
)
from swiftbolt_assets.forecasting.synthesizer import resolve_weights
from swiftbolt_assets.partitions import DATE_DIMENSION, PartitionSlice
from swiftbolt_assets.settings import load_settings
from swiftbolt_assets.warehouse.resources import WarehouseResource

GROUP = "forecasting"
FORECAST_MODELS = dg.AssetKey("forecast_models")
ML_FORECASTS_DAILY = dg.AssetKey("ml_forecasts_daily")
FORECAST_BACKTEST = dg.AssetKey("forecast_backtest")
FORECAST_BACKTEST_PREDICTIONS = dg.AssetKey("forecast_backtest_predictions")
MODELS_PROMOTED = "forecast_models_pass_the_promotion_gate"
LABELS_AGREE = "ml_forecasts_daily_labels_agree_with_targets"
CALENDAR_FIRST = date(1990, 1, 2)
# Symbols without a full validation year still train nothing: fewer rows than this.
MIN_TRAIN_ROWS = 1000
MIN_VALIDATION_ROWS = 200


class ForecastModelsConfig(dg.Config):  # type: ignore[misc]
    """Retrain cadence, model sizes and the promotion gate (recorded with every version)."""

    cadence_months: int = Field(1, description="1 monthly, 3 quarterly, 12 yearly")
    horizons: list[str] = Field(default_factory=lambda: list(HORIZONS))
    stride: int = Field(5, description="train on every n-th session (overlapping labels)")
    lgbm_rounds: int = 200
    rf_trees: int = 100
    min_child_samples: int = 400
    validation_sessions: int = 252
    max_skill_loss: float = Field(
        0.02, description="reject if the Brier skill score vs climatology is below -this"
    )


class BacktestRunConfig(dg.Config):  # type: ignore[misc]
    years: int = 5
    cadence_months: int = 12
    stride: int = 12
    horizons: list[str] = Field(default_factory=lambda: list(HORIZONS))
    lgbm_rounds: int = 200
    rf_trees: int = 100
    min_child_samples: int = 400
    validation_sessions: int = 252


def trading_calendar(exchange: str, through: date) -> list[date]:
    return sessions_between(exchange, CALENDAR_FIRST, through + timedelta(days=400))


def training_frame(engine: sa.Engine, exchange: str, through: date) -> pl.DataFrame:
    """Model inputs of every d1 features row through ``through``, labelled, calendar-indexed."""
    inputs = model_inputs(read_training_features(engine, through))
    closes = read_label_closes(engine, through)
    joined = inputs.join(closes, on=["symbol", "session_date"], how="inner")
    return add_labels(
        with_session_index(joined, trading_calendar(exchange, through)), close_column="label_close"
    )


def _markdown(rows: list[dict[str, Any]], columns: list[str]) -> dg.MetadataValue:
    return dg.MetadataValue.md(metrics.markdown_table(rows, columns) if rows else "(none)")


def go_live_date(partitions_def: dg.MultiPartitionsDefinition) -> date:
    """The first trading-day partition (go-live)."""
    time_def = partitions_def.get_partitions_def_for_dimension(DATE_DIMENSION)
    assert isinstance(time_def, dg.TimeWindowPartitionsDefinition)
    return time_def.start.date()


def build_forecast_models_asset(
    partitions_def: dg.MultiPartitionsDefinition,
) -> dg.AssetsDefinition:
    """``forecast_models``: cutoffs from the go-live partition's cadence period on."""
    go_live = go_live_date(partitions_def)

    @dg.asset(
        name="forecast_models",
        group_name=GROUP,
        deps=[FEATURES],
        check_specs=[
            dg.AssetCheckSpec(
                MODELS_PROMOTED,
                asset=FORECAST_MODELS,
                description="Every version trained in the run passed the out-of-sample gate "
                "(Brier better than the majority class, skill vs climatology above the floor). "
                "A rejected version is kept in the registry unpromoted; the previous one serves.",
            )
        ],
        description="Pooled LightGBM + random-forest ensembles per horizon, trained walk-forward "
        "on a cadence with purge and embargo; every version in model_registry with its features, "
        "hyper-parameters, out-of-sample metrics and artifact.",
        metadata={"warehouse_tables": "model_registry"},
        kinds={"postgres", "lightgbm"},
    )
    def forecast_models(
        context: dg.AssetExecutionContext,
        config: ForecastModelsConfig,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = load_settings()
        engine = warehouse.engine()
        last = last_daily_session(engine)
        if last is None:
            context.log.warning("no daily bars in the warehouse: nothing to train")
            return dg.MaterializeResult(
                metadata={"trained": 0}, check_results=[_promoted_check([], [])]
            )
        sessions = trading_calendar(settings.exchange, last)
        cutoffs = period_cutoffs(sessions, go_live, last, config.cadence_months)
        existing = {(e.horizon, e.trained_through) for e in registry_entries(engine)}
        due = [(c, h) for c in cutoffs for h in config.horizons if (h, c) not in existing]
        context.log.info(
            f"cadence {config.cadence_months} month(s): cutoffs {[str(c) for c in cutoffs]}, "
            f"{len(due)} (cutoff, horizon) version(s) due"
        )
        trained: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        read_s = 0.0
        if due:
            started = time.perf_counter()
            frame = training_frame(engine, settings.exchange, max(c for c, _ in due))
            read_s = time.perf_counter() - started
            context.log.info(f"read and labelled {frame.height} d1 rows in {read_s:.1f}s")
            params = TrainingParams(
                lgbm_rounds=config.lgbm_rounds,
                rf_trees=config.rf_trees,
                min_child_samples=config.min_child_samples,
                validation_sessions=config.validation_sessions,
                stride=config.stride,
            )
            rows = []
            for cutoff, horizon in due:
                began = time.perf_counter()
                split = walk_forward_split(frame, horizon, cutoff, params)
                labels_seen = split.train.get_column(f"label_{horizon}").n_unique()
                if (
                    split.train.height < MIN_TRAIN_ROWS
                    or split.validation.height < MIN_VALIDATION_ROWS
                    or labels_seen < 3
                ):
                    reason = (
                        f"too little labelled history before {cutoff}: {split.train.height} "
                        f"training rows (need {MIN_TRAIN_ROWS}), {split.validation.height} "
                        f"validation rows (need {MIN_VALIDATION_ROWS}), {labels_seen} classes"
                    )
                    context.log.warning(f"{horizon} cutoff {cutoff}: not trained: {reason}")
                    skipped.append({"horizon": horizon, "cutoff": str(cutoff), "reason": reason})
                    continue
                result = fit_horizon(split, horizon, HORIZONS[horizon], cutoff, params)
                rejection = promotion_decision(result.validation_metrics, config.max_skill_loss)
                artifact = result.model.to_json()
                digest = artifact_digest(artifact)
                seconds = time.perf_counter() - began
                scores = result.validation_metrics
                rows.append(
                    {
                        "version_id": f"{horizon}-{cutoff:%Y%m%d}-{digest[:10]}",
                        "horizon": horizon,
                        "horizon_days": HORIZONS[horizon],
                        "trained_through": cutoff,
                        "feature_list": result.model.features,
                        "hyperparameters": result.model.params,
                        "lgbm_weight": result.model.lgbm_weight,
                        "oos_metrics": scores,
                        "n_train": result.n_train,
                        "n_validation": result.n_validation,
                        "promoted": rejection is None,
                        "rejection_reason": rejection,
                        "train_seconds": round(seconds, 3),
                        "artifact": artifact,
                        "artifact_sha256": digest,
                        "run_id": context.run.run_id,
                    }
                )
                verdict = "promoted" if rejection is None else f"NOT promoted: {rejection}"
                context.log.info(
                    f"{horizon} cutoff {cutoff}: {result.n_train} train / {result.n_validation} "
                    f"validation rows, blend {result.model.lgbm_weight:.1f} LightGBM, Brier "
                    f"{scores['ensemble']['brier']:.4f} vs climatology "
                    f"{scores['climatology']['brier']:.4f}, {seconds:.1f}s: {verdict}"
                )
                trained.append(
                    {
                        "version_id": rows[-1]["version_id"],
                        "cutoff": str(cutoff),
                        "n_train": result.n_train,
                        "lgbm_weight": result.model.lgbm_weight,
                        "brier": scores["ensemble"]["brier"],
                        "climatology_brier": scores["climatology"]["brier"],
                        "brier_skill_score": scores["ensemble"]["brier_skill_score"],
                        "balanced_accuracy": scores["ensemble"]["balanced_accuracy"],
                        "promoted": "yes" if rejection is None else f"no: {rejection}",
                        "seconds": round(seconds, 1),
                    }
                )
            if rows:
                scalars = list(registry_schema().columns)
                validated(
                    pl.DataFrame(
                        [{k: r[k] for k in scalars} for r in rows],
                        schema_overrides={"rejection_reason": pl.String},
                    ),
                    registry_schema(),
                )
            insert_registry_rows(engine, rows)
        serving = {
            e.horizon: e.version_id for e in registry_entries(engine) if e.promoted
        }  # latest promoted per horizon (entries are ordered by cutoff)
        columns = ["version_id", "cutoff", "n_train", "lgbm_weight", "brier", "climatology_brier"]
        columns += ["brier_skill_score", "balanced_accuracy", "promoted", "seconds"]
        return dg.MaterializeResult(
            metadata={
                "trained": len(trained),
                "versions": _markdown(trained, columns),
                "not_trained": dg.MetadataValue.json(skipped),
                "serving_latest": dg.MetadataValue.json(serving),
                "read_seconds": round(read_s, 3),
                "train_seconds": round(sum(float(t["seconds"]) for t in trained), 1),
            },
            check_results=[_promoted_check(trained, skipped)],
        )

    return forecast_models


def _promoted_check(
    trained: list[dict[str, Any]], skipped: list[dict[str, Any]]
) -> dg.AssetCheckResult:
    rejected = [t["version_id"] for t in trained if t["promoted"] != "yes"]
    return dg.AssetCheckResult(
        check_name=MODELS_PROMOTED,
        passed=not rejected and not skipped,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected": dg.MetadataValue.json(rejected),
            "not_trained": len(skipped),
        },
    )


def _as_of_times(exchange: str, days: list[date]) -> pl.DataFrame:
    """(as_of_date, as_of_ts): the exchange's close of each day (early closes included)."""
    table = sessions_table(exchange, max(days))
    return table.filter(pl.col("session_date").is_in(days)).select(
        pl.col("session_date").alias("as_of_date"), pl.col("close_utc").alias("as_of_ts")
    )


def build_ml_forecasts_asset(
    partitions_def: dg.MultiPartitionsDefinition,
) -> dg.AssetsDefinition:
    """``ml_forecasts_daily`` over ``partitions_def`` (date × symbol)."""

    @dg.asset(
        name="ml_forecasts_daily",
        group_name=GROUP,
        deps=[FEATURES, FORECAST_MODELS],
        description="One forecast per (symbol, as-of day, horizon 1D…6M) as of the close: "
        "label, class probabilities, calibrated and raw confidence, predicted return, target "
        "with band, the three layer components and weights, thresholds, model/weights/"
        "calibration versions and the features row used. Every (day, symbol, horizon) without "
        "a forecast gets a row with the reason in ml_forecast_skips, written in the same "
        "transaction.",
        metadata={"warehouse_tables": "ml_forecasts_daily, ml_forecast_skips"},
        kinds={"postgres", "polars"},
        check_specs=[
            dg.AssetCheckSpec(
                LABELS_AGREE,
                asset=ML_FORECASTS_DAILY,
                blocking=True,
                description="No bullish forecast with a target at or below the close, no "
                "bearish one at or above it.",
            )
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def ml_forecasts_daily(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.perf_counter()
        settings = load_settings()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        engine = warehouse.engine()
        raw = read_forecast_inputs(engine, run_slice.pairs)
        sessions = trading_calendar(settings.exchange, run_slice.dates[-1])
        calendar = np.asarray(sessions, dtype="datetime64[D]")

        def position(column: str) -> np.ndarray:  # type: ignore[type-arg]
            days = raw.get_column(column).to_numpy().astype("datetime64[D]")
            return np.searchsorted(calendar, days)

        inputs = skip_reasons(
            model_inputs(raw).with_columns(
                raw.get_column("as_of_date"),
                raw.get_column("features_run_id"),
                # sessions from the symbol's first bar through the as-of day, both included
                pl.Series(
                    "sessions_seen",
                    position("as_of_date") - position("first_session") + 1,
                    dtype=pl.Int64,
                ),
            )
        )
        wanted = pl.DataFrame(
            sorted(run_slice.pairs),
            schema={"as_of_date": pl.Date, "symbol": pl.String},
            orient="row",
        )
        skips = [
            wanted.join(inputs, on=["as_of_date", "symbol"], how="anti").with_columns(
                pl.lit("all").alias("horizon"),
                pl.lit(
                    "no d1 features row for this day (no bar that day, or features not "
                    "materialized)"
                ).alias("reason"),
            ),
            inputs.filter(pl.col("skip_reason").is_not_null()).select(
                "as_of_date",
                "symbol",
                pl.lit("all").alias("horizon"),
                pl.col("skip_reason").alias("reason"),
            ),
        ]
        ready = inputs.filter(pl.col("skip_reason").is_null()).join(
            _as_of_times(settings.exchange, run_slice.dates), on="as_of_date", how="left"
        )
        entries = [e for e in registry_entries(engine) if e.promoted]
        calibrations = calibration_versions(engine)
        calibrated, symbol_weights = read_weights(
            engine,
            run_slice.symbols,
            ready.get_column("as_of_ts").min() or datetime.now(UTC),
            ready.get_column("as_of_ts").max() or datetime.now(UTC),
        )
        models: dict[str, HorizonModel] = {}
        produced: list[pl.DataFrame] = []
        for horizon in HORIZONS:
            requests = ready.with_columns(pl.lit(horizon).alias("horizon"))
            weighted = resolve_weights(requests, calibrated, symbol_weights)
            for day in sorted(set(weighted.get_column("as_of_date").to_list())):
                usable = [e for e in entries if e.horizon == horizon and e.trained_through < day]
                day_rows = weighted.filter(pl.col("as_of_date") == day)
                if not usable:
                    skips.append(
                        day_rows.select(
                            "as_of_date",
                            "symbol",
                            pl.lit(horizon).alias("horizon"),
                            pl.lit(f"no promoted {horizon} model trained before {day}").alias(
                                "reason"
                            ),
                        )
                    )
                    continue
                entry = usable[-1]
                if entry.version_id not in models:
                    models[entry.version_id] = load_model(engine, entry.version_id)
                calibration = latest_before(calibrations, horizon, day)
                serving = ServingModel(
                    entry.version_id,
                    models[entry.version_id],
                    calibration.mapping if calibration else IDENTITY,
                    calibration.version_id if calibration else None,
                )
                produced.append(forecast_rows(day_rows, horizon, serving, sessions))
        forecasts = (
            validated(pl.concat(produced).select(FORECAST_COLUMNS), forecasts_schema())
            if produced
            else pl.DataFrame()
        )
        skipped = pl.concat([s.select("as_of_date", "symbol", "horizon", "reason") for s in skips])
        skipped = validated(
            skipped.with_columns(pl.col("as_of_date").alias("partition_date")), skips_schema()
        )
        compute_s = time.perf_counter() - started
        bad = contradictions(forecasts) if produced else pl.DataFrame()
        deleted, written = write_forecasts(
            engine, forecasts, skipped, run_slice.pairs, context.run.run_id
        )
        write_s = time.perf_counter() - started - compute_s
        reasons = (
            skipped.group_by("reason").len().sort("len", descending=True).head(10).rows()
            if skipped.height
            else []
        )
        context.log.info(
            f"{written} forecasts for {len(run_slice.pairs)} (day, symbol) pairs, "
            f"{skipped.height} skips, {len(models)} model version(s), computed in "
            f"{compute_s:.2f}s, written in {write_s:.2f}s (replaced {deleted})"
        )
        sources = dict(forecasts.group_by("weights_source").len().rows()) if produced else {}
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": written,
                "skips": skipped.height,
                "skip_reasons": dg.MetadataValue.json([[r, n] for r, n in reasons]),
                "model_versions": dg.MetadataValue.json(sorted(models)),
                "weights_sources": dg.MetadataValue.json(sources),
                "compute_seconds": round(compute_s, 3),
                "write_seconds": round(write_s, 3),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=LABELS_AGREE,
                    passed=bad.height == 0,
                    metadata={"contradictions": bad.height},
                )
            ],
        )

    return ml_forecasts_daily


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
    context: dg.AssetExecutionContext, config: BacktestRunConfig, warehouse: WarehouseResource
) -> Any:
    settings = load_settings()
    engine = warehouse.engine()
    last = last_daily_session(engine)
    if last is None:
        msg = "no daily bars in the warehouse: nothing to backtest"
        raise dg.Failure(msg)
    started = time.perf_counter()
    frame = training_frame(engine, settings.exchange, last)
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
    result = run_backtest(
        frame, trading_calendar(settings.exchange, last), backtest, context.log.info
    )
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
        pl.lit(period[0]).alias("period_start"),
        pl.lit(period[1]).alias("period_end"),
        pl.lit(len({f["cutoff"] for f in result.fits}), dtype=pl.Int32).alias("retrains"),
        pl.col("n").cast(pl.Int32),
    )
    table = validated(table, backtest_metrics_schema())
    write_started = time.perf_counter()
    replace_table(engine, "forecast_backtest", table, context.run.run_id)
    replace_table(engine, "forecast_backtest_predictions", predictions, context.run.run_id)
    write_s = time.perf_counter() - write_started
    total_s = time.perf_counter() - started
    columns = ["horizon", "method", "n", "accuracy", "balanced_accuracy"]
    columns += ["directional_accuracy", "brier", "brier_skill_score", "ece", "rank_ic"]
    png = metrics.reliability_diagram_png(
        result.curves, "Reliability of the synthesized forecast (out of sample)"
    )
    diagram = f"![reliability](data:image/png;base64,{base64.b64encode(png).decode()})"
    yield dg.MaterializeResult(
        asset_key=FORECAST_BACKTEST,
        metadata={
            "dagster/row_count": table.height,
            "metrics": dg.MetadataValue.md(metrics.markdown_table(result.metrics, columns)),
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
