"""The contracts of the evaluation tables' rows (pandera, polars backend), checked before every
write like the forecasting ones. ``run_id`` and ``created_at`` are added at write time."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.evaluation.live import INTERVAL_SCORES, LIVE_COLUMNS
from swiftbolt_assets.evaluation.outcomes import evaluation_columns
from swiftbolt_assets.forecasting.forecast import LAYER_PROBABILITY_COLUMNS
from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets.forecasting.schema import UNIT, finite
from swiftbolt_assets.ingestion.sources import SYMBOL_PATTERN

_LABEL = pa.Check.isin(list(CLASSES))


def rows_where(data: pa.PolarsData, expression: pl.Expr) -> pl.LazyFrame:
    return data.lazyframe.select(expression)


def evaluations_schema(spec: CadenceSpec = DAILY) -> pa.DataFrameSchema:
    """An evaluation row: one per evaluated forecast (intraday: keyed by its as-of bar's
    close, scored on the bar that ends at ``target_ts``, in the same session)."""
    floats = (
        "predicted_return",
        "lower_band",
        "upper_band",
        "realized_return",
        "price_error_pct",
    )
    positive = (
        "target_price",
        "forecast_close",
        "as_of_close",
        "target_close",
        "adjustment_factor",
        "realized_price",
    )
    columns = {
        "symbol": pa.Column(str, pa.Check.str_matches(SYMBOL_PATTERN)),
        "as_of_date": pa.Column(pl.Date),
        "horizon": pa.Column(str, pa.Check.isin(list(spec.horizons))),
        "horizon_days": pa.Column(pl.Int32, pa.Check.isin(list(spec.horizons.values()))),
        "target_date": pa.Column(pl.Date),
        "partition_date": pa.Column(pl.Date),
        "predicted_label": pa.Column(str, _LABEL),
        "realized_label": pa.Column(str, _LABEL),
        **{f"p_{c}": pa.Column(pl.Float64, UNIT) for c in CLASSES},
        "confidence": pa.Column(pl.Float64, UNIT),
        "raw_confidence": pa.Column(pl.Float64, UNIT),
        "threshold_down": pa.Column(pl.Float64, pa.Check.lt(0)),
        "threshold_up": pa.Column(pl.Float64, pa.Check.gt(0)),
        **{name: pa.Column(pl.Float64, finite()) for name in floats},
        **{name: pa.Column(pl.Float64, pa.Check.gt(0)) for name in positive},
        "label_correct": pa.Column(pl.Boolean),
        "direction_correct": pa.Column(pl.Boolean, nullable=True),
        "inside_band": pa.Column(pl.Boolean),
        **{c: pa.Column(pl.Float64, UNIT, nullable=True) for c in LAYER_PROBABILITY_COLUMNS},
        "model_version": pa.Column(str),
        "weights_source": pa.Column(str),
        "weights_version": pa.Column(str),
        "calibration_version": pa.Column(str, nullable=True),
        "forecast_run_id": pa.Column(str),
        "bar_run_id": pa.Column(str),
        "bar_created_at": pa.Column(pl.Datetime("us", "UTC")),
    }
    intraday = spec.bar_minutes is not None
    if intraday:
        columns |= {c: pa.Column(pl.Datetime("us", "UTC")) for c in ("as_of_ts", "target_ts")}
    assert set(columns) == set(evaluation_columns(spec))
    timing = (
        (pl.col("target_date") == pl.col("as_of_date"))
        & (pl.col("target_ts") > pl.col("as_of_ts"))
        & (pl.col("bar_created_at") >= pl.col("target_ts"))
        if intraday
        else pl.col("target_date") > pl.col("as_of_date")
    )
    return pa.DataFrameSchema(
        columns,
        unique=["symbol", "as_of_ts" if intraday else "as_of_date", "horizon"],
        strict=True,
        name=spec.tables.evaluations,
        checks=[
            pa.Check(
                lambda d: rows_where(
                    d, (pl.col("target_date") == pl.col("partition_date")) & timing
                )
            ),
            pa.Check(
                lambda d: rows_where(
                    d,
                    (pl.col("predicted_label") == pl.col("realized_label"))
                    == pl.col("label_correct"),
                )
            ),
        ],
    )


def _ordered_bounds(score: str) -> pl.Expr:
    """Both ends of the score's interval or neither, and low <= high."""
    low, high = pl.col(f"{score}_low"), pl.col(f"{score}_high")
    return (low.is_null() == high.is_null()) & (low <= high).fill_null(True)


def live_schema(spec: CadenceSpec = DAILY) -> pa.DataFrameSchema:
    """A ``live_predictions_daily`` row: one per (symbol, day, horizon, window size).

    Interval bounds are null where the window holds too few independent blocks
    (:mod:`~swiftbolt_assets.evaluation.live_intervals`), and then so is ``n_eff``; the
    directional bounds also where no replicate had a direction. The point may lie outside its
    percentile interval (a skewed score such as the ECE), so that is not checked.
    """
    rates = ("accuracy", "directional_accuracy", "ece", "mean_confidence", "inside_band_rate")
    bounds = [f"{s}_{side}" for s in INTERVAL_SCORES for side in ("low", "high")]
    columns = {
        "symbol": pa.Column(str, pa.Check.str_matches(SYMBOL_PATTERN)),
        "horizon": pa.Column(str, pa.Check.isin(list(spec.horizons))),
        "partition_date": pa.Column(pl.Date),
        "window_size": pa.Column(pl.Int32, pa.Check.gt(0)),
        "n": pa.Column(pl.Int32, pa.Check.gt(0)),
        "n_eff": pa.Column(pl.Float64, pa.Check.gt(0), nullable=True),
        **{
            b: pa.Column(
                pl.Float64,
                pa.Check.in_range(0.0, 2.0) if b.startswith("brier") else UNIT,
                nullable=True,
            )
            for b in bounds
        },
        "first_target_date": pa.Column(pl.Date),
        "last_target_date": pa.Column(pl.Date),
        **{r: pa.Column(pl.Float64, UNIT, nullable=r == "directional_accuracy") for r in rates},
        "n_directional": pa.Column(pl.Int32, pa.Check.ge(0)),
        "brier": pa.Column(pl.Float64, pa.Check.in_range(0.0, 2.0)),
        "mean_abs_price_error_pct": pa.Column(pl.Float64, pa.Check.ge(0)),
        **{f"n_{c}": pa.Column(pl.Int32, pa.Check.ge(0)) for c in CLASSES},
        **{f"hit_rate_{c}": pa.Column(pl.Float64, UNIT, nullable=True) for c in CLASSES},
    }
    assert set(columns) == set(LIVE_COLUMNS)
    return pa.DataFrameSchema(
        columns,
        unique=["symbol", "partition_date", "horizon", "window_size"],
        strict=True,
        name=spec.tables.live,
        checks=[
            pa.Check(lambda d: rows_where(d, pl.col("n") <= pl.col("window_size"))),
            pa.Check(
                lambda d: rows_where(d, pl.col("last_target_date") <= pl.col("partition_date"))
            ),
            pa.Check(
                lambda d: rows_where(
                    d, pl.sum_horizontal(*(f"n_{c}" for c in CLASSES)) == pl.col("n")
                )
            ),
            pa.Check(lambda d: rows_where(d, (pl.col("n_eff") <= pl.col("n")).fill_null(True))),
            *(pa.Check(lambda d, s=s: rows_where(d, _ordered_bounds(s))) for s in INTERVAL_SCORES),
            *(
                pa.Check(
                    lambda d, s=s: rows_where(
                        d, pl.col(f"{s}_low").is_null() == pl.col("n_eff").is_null()
                    )
                )
                for s in ("accuracy", "brier", "ece")
            ),
            pa.Check(
                lambda d: rows_where(
                    d,
                    pl.col("directional_accuracy").is_not_null()
                    | pl.col("directional_accuracy_low").is_null(),
                )
            ),
        ],
    )
