"""Asset ``ml_forecasts_daily`` (date × symbol): the forecasts as of the close of D, from the
latest promoted model trained before D, the weights valid at the close of D and the calibration
fitted on outcomes known before D (``serving``); a reason in ``ml_forecast_skips`` where there
is none. A thin Dagster layer over the pure modules of this package (``forecast_models`` is in
``models_asset``, the intraday forecasts in ``intraday_assets``).

The loop forecasts → evaluations → weights/calibration → forecasts is cut here: forecasts read
the weight tables and ``confidence_calibration`` point in time from the warehouse instead of
depending on the assets that write them (``swiftbolt_assets.calibration``). The walk-forward
backtest is in ``research``.
"""

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import polars as pl
import sqlalchemy as sa

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.features.assets import FEATURES
from swiftbolt_assets.forecasting.cross_section import with_cross_section
from swiftbolt_assets.forecasting.forecast import contradictions
from swiftbolt_assets.forecasting.models_asset import FORECAST_MODELS, GROUP
from swiftbolt_assets.forecasting.schema import forecasts_schema, skips_schema, validated
from swiftbolt_assets.forecasting.serving import (
    ForecastRun,
    forecast_inputs,
    input_skips,
    serve_forecasts,
)
from swiftbolt_assets.forecasting.store import (
    calibration_versions,
    load_model,
    read_forecast_inputs,
    read_universe,
    read_weights,
    registry_entries,
    universe_gaps,
    write_forecasts,
)
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.partitions import PartitionSlice
from swiftbolt_assets.warehouse.resources import WarehouseResource

ML_FORECASTS_DAILY = dg.AssetKey("ml_forecasts_daily")
LABELS_AGREE = "ml_forecasts_daily_labels_agree_with_targets"
WHOLE_UNIVERSE = "ml_forecasts_daily_saw_the_whole_universe"


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
        run = serve_run(engine, run_slice, ready, skips, sessions=sessions, spec=spec)
        report = publish_forecasts(context, engine, run, run_slice, spec=spec, started=started)
        return dg.MaterializeResult(
            metadata=report.metadata,
            check_results=[
                dg.AssetCheckResult(
                    check_name=LABELS_AGREE,
                    passed=report.contradictions == 0,
                    metadata={"contradictions": report.contradictions},
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


@dataclass(frozen=True)
class ForecastReport:
    """What a forecasts run wrote, for the UI: metadata and the contradicting rows' count."""

    metadata: dict[str, Any]
    contradictions: int


def publish_forecasts(
    context: dg.AssetExecutionContext,
    engine: sa.Engine,
    run: ForecastRun,
    run_slice: PartitionSlice,
    *,
    spec: CadenceSpec,
    started: float,
) -> ForecastReport:
    """Validate a run's forecasts and skips against the cadence's contracts, replace its slice
    of both tables in one transaction, log and report it."""
    produced = not run.forecasts.is_empty()
    forecasts = validated(run.forecasts, forecasts_schema(spec)) if produced else run.forecasts
    skipped = validated(
        run.skips.with_columns(pl.col("as_of_date").alias("partition_date")),
        skips_schema(spec),
    )
    compute_s = time.perf_counter() - started
    bad = contradictions(forecasts).height if produced else 0
    deleted, written = write_forecasts(
        engine, forecasts, skipped, run_slice.pairs, context.run.run_id, spec=spec
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
    return ForecastReport(
        {
            "dagster/row_count": written,
            "skips": skipped.height,
            "skip_reasons": dg.MetadataValue.json([[r, n] for r, n in reasons]),
            "model_versions": dg.MetadataValue.json(run.model_versions),
            "weights_sources": dg.MetadataValue.json(sources),
            "compute_seconds": round(compute_s, 3),
            "write_seconds": round(write_s, 3),
        },
        bad,
    )


def serve_run(
    engine: sa.Engine,
    run_slice: PartitionSlice,
    ready: pl.DataFrame,
    skips: list[pl.DataFrame],
    *,
    sessions: list[date],
    spec: CadenceSpec,
    slots: pl.DataFrame | None = None,
) -> ForecastRun:
    """The forecasts of a run's ``ready`` inputs (with ``as_of_ts``): the cadence's promoted
    versions, the confidence calibrations and the weights valid around its as-of times, read
    point in time from the warehouse (``serving.serve_forecasts``)."""
    now = datetime.now(UTC)  # no row to forecast: any window reads no weights
    weights = read_weights(
        engine,
        run_slice.symbols,
        ready.get_column("as_of_ts").min() or now,
        ready.get_column("as_of_ts").max() or now,
    )
    return serve_forecasts(
        ready,
        skips,
        models=[e for e in registry_entries(engine, spec) if e.promoted],
        calibrations=calibration_versions(engine),
        weights=weights,
        load_model=lambda version: load_model(engine, version),
        sessions=sessions,
        spec=spec,
        slots=slots,
    )
