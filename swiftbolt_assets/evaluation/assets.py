"""Evaluation assets: thin Dagster layers over ``outcomes`` and ``live``.

- ``forecast_evaluations_daily`` (date × symbol): partition (D, S) scores every daily forecast
  of S whose target date is D on the final d1 bar of D. Its forecasts were written by the
  partitions D-1 … D-126 of ``ml_forecasts_daily`` (a ``TimeWindowPartitionMapping`` over the
  trading days: the cadence's evaluation window), its bar by ``ohlc_bars`` (D, S): the graph
  orders it after both, in the same run.
- ``live_predictions_daily`` (date × symbol): rolling scores over the last 20 and 60
  evaluations per (symbol, horizon), as of D, with 95 % block-bootstrap intervals and ``n_eff``.

The layer weights and the confidence calibration fitted on these evaluations are the
``calibration`` group's.
"""

import time
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.evaluation.live import WINDOWS, live_scores
from swiftbolt_assets.evaluation.outcomes import evaluate, evaluation_columns
from swiftbolt_assets.evaluation.schema import evaluations_schema, live_schema
from swiftbolt_assets.evaluation.store import read_bars, read_evaluations, read_forecasts_due
from swiftbolt_assets.forecasting.schema import validated
from swiftbolt_assets.ingestion.assets import OHLC_BARS
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.metadata import by_horizon
from swiftbolt_assets.partitions import PartitionSlice, date_window
from swiftbolt_assets.warehouse.resources import WarehouseResource
from swiftbolt_assets.warehouse.slices import Partitions, SliceWrite, write_slices

GROUP = "evaluation"


def bars_final_check(spec: CadenceSpec) -> str:
    """The evaluations' check that every forecast due had a final bar."""
    return f"{spec.tables.evaluations}_bars_are_final"


BARS_FINAL = bars_final_check(DAILY)
# Reads reach this far back in calendar days: the 60-evaluation window (about 87 calendar days)
# with room for gaps.
LIVE_READ_DAYS = 200
# Dividend factors need the close before the first event in a window.
_BAR_MARGIN_DAYS = 10


def build_evaluation_assets(
    partitions_def: dg.MultiPartitionsDefinition, spec: CadenceSpec = DAILY
) -> list[dg.AssetsDefinition]:
    """The partitioned evaluation assets of the cadence over ``partitions_def``."""
    return [_evaluations_asset(partitions_def, spec), _live_asset(partitions_def, spec)]


def _evaluations_asset(
    partitions_def: dg.MultiPartitionsDefinition, spec: CadenceSpec
) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.tables.evaluations,
        group_name=GROUP,
        deps=[
            dg.AssetDep(OHLC_BARS),
            dg.AssetDep(
                dg.AssetKey(spec.tables.forecasts),
                # daily: forecasts of the 126 sessions before D; intraday: of D itself
                partition_mapping=date_window(
                    -spec.evaluation_days, -1 if spec.crosses_sessions else 0
                ),
            ),
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=(
            "Every daily forecast whose target date is D, scored on the final d1 bar of D"
            if spec.crosses_sessions
            else f"Every intraday forecast of the session D whose target bar has ended, scored "
            f"on the final {spec.timeframe} bar that ends at its target time (a 1h forecast "
            "four bars after its as-of bar)"
        )
        + ": realized return (split/dividend adjusted) and label under the forecast's own "
        "thresholds, label and direction right or wrong, price error, inside the band; with the "
        f"forecast's key, probabilities and versions. {spec.name.capitalize()} horizons only.",
        metadata={"warehouse_tables": spec.tables.evaluations},
        kinds={"postgres", "polars"},
        check_specs=[
            dg.AssetCheckSpec(
                bars_final_check(spec),
                asset=dg.AssetKey(spec.tables.evaluations),
                description="Every forecast due on the run's days had a final bar (written after "
                "the session's close). A missing or partial bar gives no evaluation: the "
                "forecast is evaluated when the bar arrives and the partition re-runs.",
            )
        ],
    )
    def forecast_evaluations_daily(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        market: MarketCalendarResource,
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.perf_counter()
        engine = warehouse.engine()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        forecasts = read_forecasts_due(engine, run_slice.pairs, spec)
        not_due = 0
        if not spec.crosses_sessions and forecasts.height:  # today's later targets: not yet
            due = pl.col("target_ts") <= datetime.now(UTC)
            not_due = forecasts.filter(~due).height
            forecasts = forecasts.filter(due)
        evaluations = pl.DataFrame()
        pending = pl.DataFrame(schema={"reason": pl.String})
        if forecasts.height:
            first = forecasts.get_column("as_of_date").min()
            last = forecasts.get_column("target_date").max()
            assert isinstance(first, date)
            assert isinstance(last, date)
            bars = read_bars(
                engine,
                sorted(set(forecasts.get_column("symbol"))),
                first - timedelta(days=_BAR_MARGIN_DAYS),
                last,
                spec,
            )
            closes = market.sessions_table(last).select("session_date", "close_utc")
            evaluations, pending = evaluate(forecasts, bars, closes, spec)
            evaluations = validated(
                evaluations.select(evaluation_columns(spec)), evaluations_schema(spec)
            )
        compute_s = time.perf_counter() - started
        write_slices(
            engine,
            [SliceWrite(spec.tables.evaluations, evaluations, Partitions(run_slice.pairs))],
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
            .select(pl.format("{} {} as of {}: {}", "symbol", "horizon", "as_of", "reason"))
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
                "not_due_yet": not_due,
                "pending": pending.height,
                "pending_examples": dg.MetadataValue.json(examples),
                "by_horizon": by_horizon(
                    evaluations,
                    spec,
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
                    check_name=bars_final_check(spec),
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


def _live_asset(
    partitions_def: dg.MultiPartitionsDefinition, spec: CadenceSpec
) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.tables.live,
        group_name=GROUP,
        deps=[
            dg.AssetDep(
                dg.AssetKey(spec.tables.evaluations),
                partition_mapping=date_window(-(max(WINDOWS) - 1), 0),
            )
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="Per (symbol, horizon), as of D: accuracy, hit rate per label, directional "
        "accuracy, Brier score, calibration error, band coverage and price error over the last "
        "20 and the last 60 evaluations, with their counts; accuracy, directional accuracy, "
        "Brier and calibration error with 95 % intervals (moving-block bootstrap of target "
        "dates, blocks of 2 x the horizon) and the effective sample size n_eff beside n, null "
        "where the window holds fewer than 4 blocks (every horizon from 1M on).",
        metadata={"warehouse_tables": spec.tables.live},
        kinds={"postgres", "polars"},
    )
    def live_predictions_daily(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.perf_counter()
        engine = warehouse.engine()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        evaluations = read_evaluations(
            engine,
            run_slice.symbols,
            run_slice.dates[0] - timedelta(days=LIVE_READ_DAYS),
            run_slice.dates[-1],
            spec=spec,
        )
        scores = validated(
            live_scores(evaluations, run_slice.frame(), spec=spec), live_schema(spec)
        )
        compute_s = time.perf_counter() - started
        write_slices(
            engine,
            [SliceWrite(spec.tables.live, scores, Partitions(run_slice.pairs))],
            context.run.run_id,
        )
        write_s = time.perf_counter() - started - compute_s
        latest = scores.filter(
            (pl.col("partition_date") == run_slice.dates[-1])
            & (pl.col("window_size") == max(WINDOWS))
        )
        table = by_horizon(
            latest,
            spec,
            pl.col("n").sum().alias("evaluations"),
            ((pl.col("accuracy") * pl.col("n")).sum() / pl.col("n").sum()).alias("accuracy"),
            ((pl.col("brier") * pl.col("n")).sum() / pl.col("n").sum()).alias("brier"),
            # per-symbol uncertainty: how many windows have an interval, how wide, how
            # independent (pooled over symbols these are not an interval of the pooled score)
            pl.col("n_eff").is_not_null().sum().alias("symbols_with_intervals"),
            pl.col("n_eff").median().alias("median_n_eff"),
            (pl.col("brier_high") - pl.col("brier_low")).median().alias("median_brier_width"),
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
