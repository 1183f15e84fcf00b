"""Forecasting assets: thin Dagster layers over the pure modules of this package.

- ``forecast_models`` (unpartitioned): trains every due (cutoff, horizon) version on the
  retraining cadence (``retraining``, ``training``), registers it in ``model_registry`` and
  promotes it only if it passes the gate.
- ``ml_forecasts_daily`` (date × symbol): the forecasts as of the close of D, from the latest
  promoted model trained before D, the weights valid at the close of D and the calibration
  fitted on outcomes known before D (``serving``); a reason in ``ml_forecast_skips`` where there
  is none.

The loop forecasts → evaluations → weights/calibration → forecasts is cut here: forecasts read
the weight tables and ``confidence_calibration`` point in time from the warehouse instead of
depending on the assets that write them (``swiftbolt_assets.calibration``). The walk-forward
backtest is in ``research``.
"""

import time
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import sqlalchemy as sa
from pydantic import Field

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.features.assets import FEATURES
from swiftbolt_assets.forecasting.cross_section import with_cross_section
from swiftbolt_assets.forecasting.dataset import model_inputs
from swiftbolt_assets.forecasting.forecast import contradictions
from swiftbolt_assets.forecasting.retraining import due_versions
from swiftbolt_assets.forecasting.schema import (
    forecasts_schema,
    registry_schema,
    skips_schema,
    validated,
)
from swiftbolt_assets.forecasting.serving import forecast_inputs, input_skips, serve_forecasts
from swiftbolt_assets.forecasting.store import (
    calibration_versions,
    insert_registry_rows,
    last_session,
    load_model,
    read_forecast_inputs,
    read_label_closes,
    read_training_features,
    read_universe,
    read_weights,
    registry_entries,
    universe_gaps,
    write_forecasts,
)
from swiftbolt_assets.forecasting.training import TrainingOutcome, train_versions, training_frame
from swiftbolt_assets.forecasting.walk_forward import TrainingParams
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.metadata import markdown
from swiftbolt_assets.partitions import PartitionSlice, go_live_date
from swiftbolt_assets.warehouse.resources import WarehouseResource

GROUP = "forecasting"
FORECAST_MODELS = dg.AssetKey("forecast_models")
ML_FORECASTS_DAILY = dg.AssetKey("ml_forecasts_daily")
MODELS_PROMOTED = "forecast_models_pass_the_promotion_gate"
LABELS_AGREE = "ml_forecasts_daily_labels_agree_with_targets"
WHOLE_UNIVERSE = "ml_forecasts_daily_saw_the_whole_universe"


class ForecastModelsConfig(dg.Config):  # type: ignore[misc]
    """Retrain cadence, model sizes and the promotion gate (recorded with every version)."""

    cadence_months: int = Field(1, description="1 monthly, 3 quarterly, 12 yearly")
    horizons: list[str] = Field(default_factory=lambda: list(DAILY.horizons))
    stride: int = Field(
        5,
        description="train on every n-th session (overlapping labels); horizons over 4 x n "
        "sessions thin further to about 4 rows per label window",
    )
    lgbm_rounds: int = 100
    rf_trees: int = Field(
        40,
        description="random-forest trees (40: the skill of 100 at 0.70x the retrain time)",
    )
    min_child_samples: int = 400
    validation_sessions: int = 252
    max_skill_loss: float = Field(
        0.02, description="reject if the Brier skill score vs climatology is below -this"
    )

    def params(self) -> TrainingParams:
        return TrainingParams(
            lgbm_rounds=self.lgbm_rounds,
            rf_trees=self.rf_trees,
            min_child_samples=self.min_child_samples,
            validation_sessions=self.validation_sessions,
            stride=self.stride,
        )


def read_training_frame(
    engine: sa.Engine, market: MarketCalendarResource, through: date, spec: CadenceSpec
) -> pl.DataFrame:
    """The labelled, calendar-indexed model inputs of every features row through ``through``.

    Daily only for now: the cross-sectional inputs are keyed by session date, so intraday rows
    (many bars a session) would each join every bar of their session (issue 14 keys them by
    the bar's time, or joins the previous session's d1 cross-section)."""
    if spec.timeframe != DAILY.timeframe:
        msg = f"training frames of the {spec.timeframe} cadence are not built yet"
        raise NotImplementedError(msg)
    raw = read_training_features(engine, through, spec)
    # every row of every date is read: the universe of each date is in ``raw`` itself
    inputs = model_inputs(with_cross_section(raw, raw), spec)
    closes = read_label_closes(engine, through, spec)
    return training_frame(inputs, closes, market.sessions(through), spec)


def build_forecast_models_asset(
    partitions_def: dg.MultiPartitionsDefinition, spec: CadenceSpec = DAILY
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
        market: MarketCalendarResource,
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        engine = warehouse.engine()
        last = last_session(engine, spec)
        if last is None:
            context.log.warning("no daily bars in the warehouse: nothing to train")
            return dg.MaterializeResult(
                metadata={"trained": 0}, check_results=[_promoted_check(TrainingOutcome())]
            )
        existing = {(e.horizon, e.trained_through) for e in registry_entries(engine)}
        plan = due_versions(
            market.sessions(last),
            go_live,
            last,
            config.cadence_months,
            keys=config.horizons,
            existing=existing,
        )
        context.log.info(
            f"cadence {config.cadence_months} month(s): cutoffs {[str(c) for c in plan.cutoffs]}, "
            f"{len(plan.due)} (cutoff, horizon) version(s) due"
        )
        outcome, read_s = TrainingOutcome(), 0.0
        if plan.due:
            started = time.perf_counter()
            frame = read_training_frame(engine, market, max(c for c, _ in plan.due), spec)
            read_s = time.perf_counter() - started
            context.log.info(f"read and labelled {frame.height} d1 rows in {read_s:.1f}s")
            outcome = train_versions(
                frame,
                plan.due,
                config.params(),
                max_skill_loss=config.max_skill_loss,
                run_id=context.run.run_id,
                spec=spec,
                log=context.log.info,
                warn=context.log.warning,
            )
            if outcome.rows:
                scalars = list(registry_schema(spec).columns)
                validated(
                    pl.DataFrame(
                        [{k: r[k] for k in scalars} for r in outcome.rows],
                        schema_overrides={
                            "rejection_reason": pl.String,
                            "serving_reason": pl.String,
                            **dict.fromkeys(
                                ("skill", "skill_low", "skill_high", "skill_n_eff"), pl.Float64
                            ),
                        },
                    ),
                    registry_schema(spec),
                )
            insert_registry_rows(engine, outcome.rows, context.run.run_id)
        serving = {
            e.horizon: e.version_id for e in registry_entries(engine) if e.promoted
        }  # latest promoted per horizon (entries are ordered by cutoff)
        columns = ["version_id", "cutoff", "n_train", "lgbm_weight", "brier", "climatology_brier"]
        columns += ["brier_skill_score", "balanced_accuracy", "promoted", "serves", "skill_95"]
        columns += ["shrinkage", "seconds"]
        return dg.MaterializeResult(
            metadata={
                "trained": len(outcome.trained),
                "versions": markdown(outcome.trained, columns),
                "not_trained": dg.MetadataValue.json(outcome.skipped),
                "serving_latest": dg.MetadataValue.json(serving),
                "read_seconds": round(read_s, 3),
                "train_seconds": round(sum(float(t["seconds"]) for t in outcome.trained), 1),
            },
            check_results=[_promoted_check(outcome)],
        )

    return forecast_models


def _promoted_check(outcome: TrainingOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=MODELS_PROMOTED,
        passed=not outcome.rejected and not outcome.skipped,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected": dg.MetadataValue.json(outcome.rejected),
            "not_trained": len(outcome.skipped),
        },
    )


def build_ml_forecasts_asset(
    partitions_def: dg.MultiPartitionsDefinition, spec: CadenceSpec = DAILY
) -> dg.AssetsDefinition:
    """``ml_forecasts_daily`` over ``partitions_def`` (date × symbol)."""

    @dg.asset(
        name=spec.tables.forecasts,
        group_name=GROUP,
        deps=[FEATURES, FORECAST_MODELS],
        description="One forecast per (symbol, as-of day, horizon 1D…6M) as of the close: "
        "label, class probabilities, calibrated and raw confidence, predicted return, target "
        "with band, the three layer components and weights, thresholds, model/weights/"
        "calibration versions and the features row used. Every (day, symbol, horizon) without "
        "a forecast gets a row with the reason in ml_forecast_skips, written in the same "
        "transaction.",
        metadata={"warehouse_tables": f"{spec.tables.forecasts}, {spec.tables.skips}"},
        kinds={"postgres", "polars"},
        check_specs=[
            dg.AssetCheckSpec(
                LABELS_AGREE,
                asset=ML_FORECASTS_DAILY,
                blocking=True,
                description="No bullish forecast with a target at or below the close, no "
                "bearish one at or above it.",
            ),
            dg.AssetCheckSpec(
                WHOLE_UNIVERSE,
                asset=ML_FORECASTS_DAILY,
                description="Every symbol with a d1 bar on a forecast's as-of date had its "
                "features row written when the forecast read the date's universe (else a run "
                "split of that day, still running, would change the cross-sectional inputs).",
            ),
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def ml_forecasts_daily(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        market: MarketCalendarResource,
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.perf_counter()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        engine = warehouse.engine()
        sessions = market.sessions(run_slice.dates[-1])
        universe = read_universe(engine, run_slice.dates)
        gaps = universe_gaps(universe)  # dates whose other symbols' features are not written yet
        for day, gap in gaps.items():
            context.log.warning(
                f"the universe of {day} is incomplete ({gap}): its cross-sectional inputs will "
                "change when the other runs of that day have written their features"
            )
        raw = with_cross_section(
            read_forecast_inputs(engine, run_slice.pairs),
            universe.filter(pl.col("has_features")),
        )
        inputs = forecast_inputs(raw, sessions)
        skips = input_skips(run_slice.frame("as_of_date"), inputs)
        ready = inputs.filter(pl.col("skip_reason").is_null()).join(
            market.close_times(run_slice.dates).rename(
                {"session_date": "as_of_date", "close_utc": "as_of_ts"}
            ),
            on="as_of_date",
            how="left",
        )
        now = datetime.now(UTC)  # no row to forecast: any window reads no weights
        weights = read_weights(
            engine,
            run_slice.symbols,
            ready.get_column("as_of_ts").min() or now,
            ready.get_column("as_of_ts").max() or now,
        )
        run = serve_forecasts(
            ready,
            skips,
            models=[e for e in registry_entries(engine) if e.promoted],
            calibrations=calibration_versions(engine),
            weights=weights,
            load_model=lambda version: load_model(engine, version),
            sessions=sessions,
            spec=spec,
        )
        produced = not run.forecasts.is_empty()
        forecasts = validated(run.forecasts, forecasts_schema(spec)) if produced else run.forecasts
        skipped = validated(
            run.skips.with_columns(pl.col("as_of_date").alias("partition_date")),
            skips_schema(spec),
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
            f"{skipped.height} skips, {len(run.model_versions)} model version(s), computed in "
            f"{compute_s:.2f}s, written in {write_s:.2f}s (replaced {deleted})"
        )
        sources = dict(forecasts.group_by("weights_source").len().rows()) if produced else {}
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": written,
                "skips": skipped.height,
                "skip_reasons": dg.MetadataValue.json([[r, n] for r, n in reasons]),
                "model_versions": dg.MetadataValue.json(run.model_versions),
                "weights_sources": dg.MetadataValue.json(sources),
                "compute_seconds": round(compute_s, 3),
                "write_seconds": round(write_s, 3),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=LABELS_AGREE,
                    passed=bad.height == 0,
                    metadata={"contradictions": bad.height},
                ),
                dg.AssetCheckResult(
                    check_name=WHOLE_UNIVERSE,
                    passed=not gaps,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"incomplete_dates": dg.MetadataValue.json(gaps)},
                ),
            ],
        )

    return ml_forecasts_daily
