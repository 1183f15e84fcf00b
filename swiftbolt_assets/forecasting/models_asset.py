"""Asset ``forecast_models`` (unpartitioned): trains every due (cutoff, horizon) version of each
cadence on its retraining cadence (``retraining``, ``training``), registers it in
``model_registry`` (its timeframe recorded) and promotes it only if it passes the gate.

The daily versions retrain monthly by default; the intraday ones weekly (their labels are
15 minutes to an hour long and a week adds ~130 bars a symbol, as many as a month of daily
rows adds in a year). Both train in the daily cycle, after the close: one writer of the
registry.
"""

import time
from dataclasses import replace
from datetime import date

import dagster as dg
import polars as pl
import sqlalchemy as sa
from pydantic import Field

from swiftbolt_assets.cadence import DAILY, INTRADAY, CadenceSpec, bar_slots
from swiftbolt_assets.features.assets import FEATURES
from swiftbolt_assets.forecasting.cross_section import with_cross_section
from swiftbolt_assets.forecasting.dataset import model_inputs
from swiftbolt_assets.forecasting.intraday_store import intraday_rows, read_intraday_closes
from swiftbolt_assets.forecasting.retraining import due_versions
from swiftbolt_assets.forecasting.schema import registry_schema, validated
from swiftbolt_assets.forecasting.store import (
    insert_registry_rows,
    last_session,
    read_label_closes,
    read_training_features,
    registry_entries,
)
from swiftbolt_assets.forecasting.training import (
    TrainingOutcome,
    intraday_training_frame,
    train_versions,
    training_frame,
)
from swiftbolt_assets.forecasting.walk_forward import INTRADAY_PARAMS, TrainingParams
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.metadata import markdown
from swiftbolt_assets.partitions import go_live_date
from swiftbolt_assets.warehouse.resources import WarehouseResource

GROUP = "forecasting"
FORECAST_MODELS = dg.AssetKey("forecast_models")
MODELS_PROMOTED = "forecast_models_pass_the_promotion_gate"


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
    intraday: bool = Field(
        True,
        description="also train the intraday (m15) versions due on their weekly cadence, "
        "where the warehouse has m15 bars",
    )

    def params(self, spec: CadenceSpec = DAILY) -> TrainingParams:
        if spec.bar_minutes is not None:  # the intraday layout, in bars (``INTRADAY_PARAMS``)
            return replace(INTRADAY_PARAMS, lgbm_rounds=self.lgbm_rounds, rf_trees=self.rf_trees)
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
    """The labelled, calendar-indexed model inputs of every features row of the cadence's
    timeframe through ``through`` (an intraday row with its h1 and previous-session context)."""
    if spec.bar_minutes is not None:
        sessions = market.sessions(through)
        inputs = intraday_rows(engine, sessions, first=sessions[0], last=through, spec=spec)
        slots = bar_slots(spec, market.sessions_table(through))
        return intraday_training_frame(
            inputs, read_intraday_closes(engine, through, spec), slots, spec
        )
    raw = read_training_features(engine, through, spec)
    # every row of every date is read: the universe of each date is in ``raw`` itself
    inputs = model_inputs(with_cross_section(raw, raw), spec)
    closes = read_label_closes(engine, through, spec)
    return training_frame(inputs, closes, market.sessions(through), spec)


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
        market: MarketCalendarResource,
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        engine = warehouse.engine()
        cadences = [DAILY, INTRADAY] if config.intraday else [DAILY]
        outcome, read_s = TrainingOutcome(), 0.0
        for spec in cadences:
            trained, seconds = _train_cadence(
                context, config, engine, market, go_live=go_live, spec=spec
            )
            outcome = outcome.merged(trained)
            read_s += seconds
        serving = {  # latest promoted per horizon (entries are ordered by cutoff)
            e.horizon: e.version_id
            for spec in cadences
            for e in registry_entries(engine, spec)
            if e.promoted
        }
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


def _train_cadence(
    context: dg.AssetExecutionContext,
    config: ForecastModelsConfig,
    engine: sa.Engine,
    market: MarketCalendarResource,
    *,
    go_live: date,
    spec: CadenceSpec,
) -> tuple[TrainingOutcome, float]:
    """Train and register the due versions of one cadence; (outcome, seconds reading)."""
    last = last_session(engine, spec)
    if last is None:
        context.log.info(f"no {spec.timeframe} bars in the warehouse: no {spec.name} versions")
        return TrainingOutcome(), 0.0
    existing = {(e.horizon, e.trained_through) for e in registry_entries(engine, spec)}
    weekly = spec.bar_minutes is not None
    plan = due_versions(
        market.sessions(last),
        go_live,
        last,
        config.cadence_months,
        keys=config.horizons if spec is DAILY else list(spec.horizons),
        existing=existing,
        weekly=weekly,
    )
    period = "weekly" if weekly else f"{config.cadence_months} month(s)"
    context.log.info(
        f"{spec.name} cadence {period}: cutoffs {[str(c) for c in plan.cutoffs]}, "
        f"{len(plan.due)} (cutoff, horizon) version(s) due"
    )
    if not plan.due:
        return TrainingOutcome(), 0.0
    started = time.perf_counter()
    frame = read_training_frame(engine, market, max(c for c, _ in plan.due), spec)
    read_s = time.perf_counter() - started
    context.log.info(f"read and labelled {frame.height} {spec.timeframe} rows in {read_s:.1f}s")
    outcome = train_versions(
        frame,
        plan.due,
        config.params(spec),
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
    return outcome, read_s
