"""Calibration assets: thin Dagster layers over ``weights`` and ``confidence``.

- ``symbol_model_weights`` (date × symbol): per (symbol, horizon) layer weights fitted at the
  close of D on the evaluations known then, valid until the next session's close (the daily
  cadence's validity); a recorded fallback to the defaults when they cannot be fitted or do not
  help.
- ``calibrated_weights`` (date × symbol): the same fit for the intraday horizons at the close of
  every m15 bar of D, each version expiring 4 hours after its fit.
- ``confidence_calibration`` (unpartitioned): per horizon and monthly cutoff, an isotonic map
  from raw confidence to the observed hit rate, written once per version.

The loop back into the forecasts is cut at the warehouse (see ``forecasting.assets``): forecasts
read the weights and calibration valid at their as-of time; they do not depend on these assets.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from swiftbolt_assets.cadence import DAILY, CadenceSpec, bar_slots, weights_validity
from swiftbolt_assets.calendar import CALENDAR_FIRST
from swiftbolt_assets.calibration.confidence import MIN_SAMPLES, fit_version, version_row
from swiftbolt_assets.calibration.schema import calibration_schema, weights_schema
from swiftbolt_assets.calibration.store import (
    CALIBRATION_SCHEMA,
    calibration_keys,
    insert_calibrations,
    read_backtest_outcomes,
)
from swiftbolt_assets.calibration.weights import LOOKBACK, WeightFitParams, fit_weights
from swiftbolt_assets.evaluation.outcomes import INSTANT_COLUMNS as INSTANTS
from swiftbolt_assets.evaluation.store import LIVE_INPUTS, read_evaluations
from swiftbolt_assets.forecasting.research import FORECAST_BACKTEST_PREDICTIONS
from swiftbolt_assets.forecasting.retraining import due_versions
from swiftbolt_assets.forecasting.schema import validated
from swiftbolt_assets.forecasting.store import last_session
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.metadata import by_horizon, markdown_table
from swiftbolt_assets.partitions import PartitionSlice, date_window, go_live_date
from swiftbolt_assets.settings import EXCHANGE_TIMEZONE
from swiftbolt_assets.warehouse.resources import WarehouseResource
from swiftbolt_assets.warehouse.slices import Partitions, SliceWrite, write_slices

GROUP = "calibration"
CONFIDENCE_CALIBRATION = dg.AssetKey("confidence_calibration")
# Reads reach this far back in calendar days: the 250-evaluation weight lookback (about 363
# days of daily evaluations, about 10 sessions of intraday ones) with room for gaps.
WEIGHTS_READ_DAYS = {"daily": 400, "intraday": 30}


def fit_requests(
    spec: CadenceSpec,
    run_slice: PartitionSlice,
    market: MarketCalendarResource,
    now: datetime,
) -> pl.DataFrame:
    """(partition_date, symbol, fitted_at) of every fit of the run: daily, at the close of
    each partition day; intraday, at the close of each m15 bar of the partition's session that
    has closed by ``now`` (every version of the session, so a re-run writes them all again and
    every forecast's weights version stays in the table)."""
    pairs = run_slice.frame()
    if spec.bar_minutes is None:
        closes = market.close_times(run_slice.dates).select(
            pl.col("session_date").alias("partition_date"), pl.col("close_utc").alias("fitted_at")
        )
        return pairs.join(closes, on="partition_date", how="left")
    slots = bar_slots(spec, market.sessions_table(run_slice.dates[-1])).filter(
        pl.col("session_date").is_in(run_slice.dates) & (pl.col("slot_end") <= now)
    )
    return pairs.join(
        slots.select(
            pl.col("session_date").alias("partition_date"), pl.col("slot_end").alias("fitted_at")
        ),
        on="partition_date",
    )


def build_weights_asset(
    partitions_def: dg.MultiPartitionsDefinition, spec: CadenceSpec = DAILY
) -> dg.AssetsDefinition:
    """The cadence's layer weights: ``symbol_model_weights`` (daily, per day) or
    ``calibrated_weights`` (intraday, per m15 bar close, expiring after 4 hours)."""

    @dg.asset(
        name=spec.tables.weights,
        group_name=GROUP,
        deps=[
            dg.AssetDep(
                dg.AssetKey(spec.tables.evaluations),
                partition_mapping=date_window(-(LOOKBACK - 1), 0),
            )
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=(
            "Per (symbol, horizon), the SuperTrend / support-resistance / ensemble layer "
            "weights fitted at the close of D on the last 250 evaluations known then "
            "(walk-forward with an embargo, Brier score on the simplex), valid from that close "
            "until the next session's close; or the recorded fallback to the defaults, with "
            "the reason."
            if spec.bar_minutes is None
            else "Per (symbol, intraday horizon), the layer weights fitted at the close of every "
            "m15 bar of the session D on the last 250 intraday evaluations whose target bar had "
            "closed by then (walk-forward with an embargo, Brier score on the simplex); each "
            "version serves forecasts made after its fit until it expires 4 hours later "
            "(expires_at), first in the synthesizer's precedence; or the recorded fallback to "
            "the defaults, with the reason."
        ),
        metadata={"warehouse_tables": spec.tables.weights},
        kinds={"postgres", "polars"},
    )
    def symbol_model_weights(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        market: MarketCalendarResource,
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        started = time.perf_counter()
        engine = warehouse.engine()
        run_slice = PartitionSlice.from_keys(list(context.partition_keys))
        evaluations = read_evaluations(
            engine,
            run_slice.symbols,
            run_slice.dates[0] - timedelta(days=WEIGHTS_READ_DAYS[spec.name]),
            run_slice.dates[-1],
            columns=(*LIVE_INPUTS, *INSTANTS) if spec.bar_minutes else LIVE_INPUTS,
            spec=spec,
        )
        requests = fit_requests(spec, run_slice, market, datetime.now(UTC))
        fitted = fit_weights(evaluations, requests, WeightFitParams(), spec)
        if spec.bar_minutes is None:
            fitted = fitted.join(
                requests.select("partition_date", "fitted_at").unique(), on="partition_date"
            )
        fit_times = fitted.get_column("fitted_at")
        validity = weights_validity(
            spec, fit_times.unique().sort(), market.sessions_table(run_slice.dates[-1])
        ).rename({"valid_from": "fitted_at"})
        # a version is named by its fit: the day (daily), the bar close in New York (intraday)
        fit_name = (
            pl.col("partition_date").dt.strftime("%Y%m%d")
            if spec.bar_minutes is None
            else pl.col("fitted_at")
            .dt.convert_time_zone(EXCHANGE_TIMEZONE)
            .dt.strftime("%Y%m%dT%H%M")
        )
        rows = (
            fitted.join(validity, on="fitted_at", how="left")
            .with_columns(
                pl.format("{}-{}", fit_name, "method").alias("version_id"),
                pl.col("partition_date").alias("fitted_through"),
                pl.col("fitted_at").alias("valid_from"),
            )
            .drop("fitted_at")
        )
        rows = validated(rows, weights_schema(spec))
        compute_s = time.perf_counter() - started
        write_slices(
            engine,
            [
                SliceWrite(
                    spec.tables.weights,
                    rows.rename({"valid_until": spec.tables.weights_until}),
                    Partitions(run_slice.pairs),
                )
            ],
            context.run.run_id,
        )
        write_s = time.perf_counter() - started - compute_s
        methods = dict(rows.group_by("method").len().rows())
        table = by_horizon(
            rows,
            spec,
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
    partitions_def: dg.MultiPartitionsDefinition, spec: CadenceSpec = DAILY
) -> dg.AssetsDefinition:
    """``confidence_calibration``: versions from the go-live partition's month on."""
    go_live = go_live_date(partitions_def)

    @dg.asset(
        name="confidence_calibration",
        group_name=GROUP,
        deps=[FORECAST_BACKTEST_PREDICTIONS, dg.AssetKey(spec.tables.evaluations)],
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
        market: MarketCalendarResource,
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        engine = warehouse.engine()
        last = last_session(engine, spec)
        if last is None:
            context.log.warning("no daily bars in the warehouse: nothing to calibrate")
            return dg.MaterializeResult(metadata={"versions_written": 0})
        plan = due_versions(
            market.sessions(last),
            go_live,
            last,
            1,
            keys=spec.horizons,
            existing=calibration_keys(engine),
        )
        cutoffs, due = plan.cutoffs, plan.due
        if not due:
            context.log.info(f"every version for cutoffs {[str(c) for c in cutoffs]} exists")
            return dg.MaterializeResult(metadata={"versions_written": 0, "due": 0})
        through = max(c for c, _ in due)
        live = read_evaluations(
            engine,
            None,
            CALENDAR_FIRST,
            through,
            ("horizon", "as_of_date", "target_date", "raw_confidence", "label_correct"),
            spec=spec,
        )
        backtest = read_backtest_outcomes(engine, sorted({h for _, h in due}), through)
        rows: list[dict[str, Any]] = []
        for cutoff, horizon in due:
            fitted = fit_version(
                horizon,
                cutoff,
                live=live,
                backtest=backtest,
                min_live_target_days=config.min_live_target_days,
                min_live_samples=config.min_live_samples,
            )
            if fitted is None:
                context.log.debug(
                    f"{horizon} cutoff {cutoff}: too few outcomes to calibrate (live or "
                    "backtest): forecasts keep the previous version"
                )
                continue
            fit, source = fitted
            context.log.info(
                f"{horizon} cutoff {cutoff}: {fit.n_samples} {source} outcomes, hold-out ECE "
                f"{fit.ece_before:.4f} raw, {fit.ece_after:.4f} calibrated: serves {fit.method}"
            )
            rows.append(version_row(horizon, cutoff, fit, source))
        frame = validated(pl.DataFrame(rows, schema=CALIBRATION_SCHEMA), calibration_schema())
        written = insert_calibrations(engine, frame, context.run.run_id)
        keys = ("horizon", "fitted_through", "source", "n_samples", "ece_before", "ece_after")
        summary = [{k: r[k] for k in (*keys, "method")} for r in rows]
        context.log.info(
            f"{written} new calibration version(s) of {len(due)} due for cutoffs "
            f"{sorted({str(c) for c, _ in due})}; the rest wait for enough outcomes (live "
            f"evaluations over {config.min_live_target_days} target days, or a backtest)"
        )
        return dg.MaterializeResult(
            metadata={
                "versions_written": written,
                "due": len(due),
                "holdout_ece": dg.MetadataValue.md(
                    markdown_table(summary, [*keys, "method"]) if summary else "(none)"
                ),
                "cutoffs": dg.MetadataValue.json([str(c) for c in cutoffs]),
            }
        )

    return confidence_calibration
