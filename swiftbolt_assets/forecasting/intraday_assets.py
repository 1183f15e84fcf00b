"""Asset ``ml_forecasts_intraday`` (date × symbol): a forecast at the close of every m15 bar of
the session D, for 15m (the next bar) and 1h (four bars on), from the m15 bar's features with
the last completed h1 bar and the previous session's d1 row and cross-section
(``bar_context``), the latest promoted m15 version trained before D, and the layer weights
valid at the bar's close (``calibrated_weights`` first). A horizon whose target bar would fall
after the session's close gets no forecast: a skip row says so.

The same serving core as ``ml_forecasts_daily`` (``serving.serve_forecasts`` with the intraday
cadence spec); only the reads differ. A run of today's partition during the session forecasts
the bars written so far and replaces the slice: earlier bars get the same rows again (same
inputs, same model, weights point in time).
"""

import time

import dagster as dg
import polars as pl

from swiftbolt_assets.cadence import INTRADAY, CadenceSpec, bar_slots
from swiftbolt_assets.features.assets import FEATURES
from swiftbolt_assets.forecasting.assets import publish_forecasts, serve_run
from swiftbolt_assets.forecasting.intraday_store import first_bars, intraday_rows
from swiftbolt_assets.forecasting.models_asset import FORECAST_MODELS, GROUP
from swiftbolt_assets.forecasting.serving import input_skips, intraday_forecast_inputs
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.partitions import PartitionSlice
from swiftbolt_assets.warehouse.resources import WarehouseResource


def labels_agree_check(spec: CadenceSpec) -> str:
    return f"{spec.tables.forecasts}_labels_agree_with_targets"


def build_ml_forecasts_intraday_asset(
    partitions_def: dg.MultiPartitionsDefinition, spec: CadenceSpec = INTRADAY
) -> dg.AssetsDefinition:
    """``ml_forecasts_intraday`` over ``partitions_def`` (session date × symbol)."""
    key = dg.AssetKey(spec.tables.forecasts)

    @dg.asset(
        name=spec.tables.forecasts,
        group_name=GROUP,
        deps=[FEATURES, FORECAST_MODELS],
        description="One forecast per (symbol, m15 bar close, horizon 15m/1h) through the "
        "session: the daily row contract (label, probabilities, calibrated and raw confidence, "
        "predicted return, target with band, layer components and weights, thresholds, model "
        "and weights versions) plus as_of_ts and target_ts. Inputs: the m15 bar's features, "
        "the last completed h1 bar's and the previous session's d1 row and cross-section. No "
        "forecast whose target would fall after the close; every skip has its reason in "
        f"{spec.tables.skips}, written in the same transaction.",
        metadata={"warehouse_tables": f"{spec.tables.forecasts}, {spec.tables.skips}"},
        kinds={"postgres", "polars"},
        check_specs=[
            dg.AssetCheckSpec(
                labels_agree_check(spec),
                asset=key,
                blocking=True,
                description="No bullish forecast with a target at or below the close, no "
                "bearish one at or above it.",
            )
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def ml_forecasts_intraday(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        market: MarketCalendarResource,
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.perf_counter()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        engine = warehouse.engine()
        last = run_slice.dates[-1]
        sessions = market.sessions(last)
        slots = bar_slots(spec, market.sessions_table(last))
        rows = intraday_rows(
            engine, sessions, first=run_slice.dates[0], last=last, symbols=run_slice.symbols
        ).join(run_slice.frame("session_date"), on=["session_date", "symbol"], how="semi")
        inputs = intraday_forecast_inputs(
            rows, first_bars(engine, run_slice.symbols, spec), slots, spec
        )
        skips = input_skips(run_slice.frame("as_of_date"), inputs, spec)
        ready = inputs.filter(pl.col("skip_reason").is_null())
        run = serve_run(engine, run_slice, ready, skips, sessions=sessions, spec=spec, slots=slots)
        report = publish_forecasts(context, engine, run, run_slice, spec=spec, started=started)
        return dg.MaterializeResult(
            metadata=report.metadata,
            check_results=[
                dg.AssetCheckResult(
                    check_name=labels_agree_check(spec),
                    passed=report.contradictions == 0,
                    metadata={"contradictions": report.contradictions},
                )
            ],
        )

    return ml_forecasts_intraday
