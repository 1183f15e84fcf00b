"""The contracts of the forecasting tables' rows (pandera, polars backend).

Every frame an asset writes is validated here first: a failure is a bug in the computation
and raises, naming the column and the failing values, before anything reaches the warehouse.
``run_id`` and ``created_at`` are added at write time and are not part of the contracts.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.forecasting.forecast import LAYER_PROBABILITY_COLUMNS, forecast_columns
from swiftbolt_assets.forecasting.intervals import METRICS as INTERVAL_METRICS
from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets.ingestion.sources import SYMBOL_PATTERN

UNIT = pa.Check.in_range(0.0, 1.0)


def _probabilities(prefix: str) -> dict[str, pa.Column]:
    return {f"{prefix}_{c}": pa.Column(pl.Float64, UNIT) for c in CLASSES}


def finite() -> pa.Check:
    """The column holds finite numbers (no NaN, no infinity)."""
    return pa.Check(lambda data: data.lazyframe.select(pl.col(data.key).is_finite()))


def forecasts_schema(spec: CadenceSpec = DAILY) -> pa.DataFrameSchema:
    """A forecast row: one per (symbol, as_of_date, horizon) for daily, per (symbol, as_of_ts,
    horizon) for intraday (whose target is a later bar of the same session)."""
    floats = {
        name: pa.Column(pl.Float64, finite())
        for name in (
            "predicted_return",
            "lower_band",
            "upper_band",
            "threshold_down",
            "threshold_up",
            "supertrend_component",
            "sr_component",
            "ensemble_component",
            "w_supertrend",
            "w_sr",
            "w_ensemble",
        )
    }
    columns = {
        "symbol": pa.Column(str, pa.Check.str_matches(SYMBOL_PATTERN)),
        "as_of_date": pa.Column(pl.Date),
        "horizon": pa.Column(str, pa.Check.isin(list(spec.horizons))),
        "horizon_days": pa.Column(pl.Int32, pa.Check.isin(list(spec.horizons.values()))),
        "target_date": pa.Column(pl.Date),
        "partition_date": pa.Column(pl.Date),
        "close": pa.Column(pl.Float64, pa.Check.gt(0)),
        "label": pa.Column(str, pa.Check.isin(list(CLASSES))),
        **{f"p_{c}": pa.Column(pl.Float64, UNIT) for c in CLASSES},
        "confidence": pa.Column(pl.Float64, UNIT),
        "raw_confidence": pa.Column(pl.Float64, UNIT),
        "target_price": pa.Column(pl.Float64, pa.Check.gt(0)),
        "sigma_daily": pa.Column(pl.Float64, pa.Check.gt(0)),
        **floats,
        **{c: pa.Column(pl.Float64, UNIT) for c in LAYER_PROBABILITY_COLUMNS},
        "model_version": pa.Column(str),
        "served_by": pa.Column(str, pa.Check.isin(["model", "climatology"])),
        "shrinkage": pa.Column(pl.Float64, UNIT),
        "skill_low": pa.Column(pl.Float64, nullable=True),
        "weights_source": pa.Column(str, pa.Check.isin(["calibrated", "symbol", "default"])),
        "weights_version": pa.Column(str),
        "calibration_version": pa.Column(str, nullable=True),
        "feature_ts": pa.Column(pl.Datetime("us", "UTC")),
        "features_run_id": pa.Column(str),
    }
    intraday = spec.bar_minutes is not None
    if intraday:
        columns |= {c: pa.Column(pl.Datetime("us", "UTC")) for c in ("as_of_ts", "target_ts")}
    assert set(columns) == set(forecast_columns(spec))
    later = (
        (pl.col("target_ts") > pl.col("as_of_ts")) & (pl.col("target_date") == pl.col("as_of_date"))
        if intraday
        else pl.col("target_date") > pl.col("as_of_date")
    )
    return pa.DataFrameSchema(
        columns,
        unique=["symbol", "as_of_ts" if intraday else "as_of_date", "horizon"],
        strict=True,
        name=spec.tables.forecasts,
        checks=[
            pa.Check(lambda data: data.lazyframe.select(later)),
            pa.Check(
                lambda data: data.lazyframe.select(
                    (pl.col("lower_band") <= pl.col("target_price"))
                    & (pl.col("target_price") <= pl.col("upper_band"))
                )
            ),
        ],
    )


def skips_schema(spec: CadenceSpec = DAILY) -> pa.DataFrameSchema:
    """A skips row: why (symbol, day, horizon or 'all') has no forecast (intraday: also the
    as-of bar's close, null for a whole day)."""
    columns = {
        "as_of_date": pa.Column(pl.Date),
        "symbol": pa.Column(str, pa.Check.str_matches(SYMBOL_PATTERN)),
        "horizon": pa.Column(str, pa.Check.isin([*spec.horizons, "all"])),
        "reason": pa.Column(str, pa.Check.str_length(min_value=1)),
        "partition_date": pa.Column(pl.Date),
    }
    keys = ["symbol", "as_of_date", "horizon"]
    if spec.bar_minutes is not None:
        columns["as_of_ts"] = pa.Column(pl.Datetime("us", "UTC"), nullable=True)
        keys.append("as_of_ts")
    return pa.DataFrameSchema(
        columns,
        unique=keys,
        strict=True,
        name=spec.tables.skips,
    )


def backtest_predictions_schema(spec: CadenceSpec = DAILY) -> pa.DataFrameSchema:
    """A ``forecast_backtest_predictions`` row: out of sample (after its model's cutoff)."""
    return pa.DataFrameSchema(
        {
            "symbol": pa.Column(str),
            "as_of_date": pa.Column(pl.Date),
            "horizon": pa.Column(str, pa.Check.isin(list(spec.horizons))),
            "label_end_date": pa.Column(pl.Date),
            "model_cutoff": pa.Column(pl.Date),
            **_probabilities("p"),
            **_probabilities("ens"),
            "realized_return": pa.Column(pl.Float64, finite()),
            "realized_label": pa.Column(str, pa.Check.isin(list(CLASSES))),
            "threshold_down": pa.Column(pl.Float64, pa.Check.lt(0)),
            "threshold_up": pa.Column(pl.Float64, pa.Check.gt(0)),
        },
        unique=["symbol", "as_of_date", "horizon"],
        strict=True,
        name="forecast_backtest_predictions",
        checks=[
            pa.Check(
                lambda data: data.lazyframe.select(pl.col("as_of_date") > pl.col("model_cutoff"))
            ),
            pa.Check(
                lambda data: data.lazyframe.select(pl.col("label_end_date") > pl.col("as_of_date"))
            ),
        ],
    )


def backtest_metrics_schema(spec: CadenceSpec = DAILY) -> pa.DataFrameSchema:
    """A ``forecast_backtest`` row: one (horizon, method)'s out-of-sample scores with their 95 %
    block-bootstrap intervals (``_low``, ``_high``), ``n_eff``, and the horizon's own period and
    number of fits."""
    scores = (*INTERVAL_METRICS, "log_loss")
    return pa.DataFrameSchema(
        {
            "horizon": pa.Column(str, pa.Check.isin(list(spec.horizons))),
            "method": pa.Column(str),
            "n": pa.Column(pl.Int32, pa.Check.gt(0)),
            **{name: pa.Column(pl.Float64, nullable=True) for name in scores},
            **{
                f"{name}_{end}": pa.Column(pl.Float64, nullable=True)
                for name in scores
                if name != "log_loss"
                for end in ("low", "high")
            },
            "n_eff": pa.Column(pl.Float64, pa.Check.gt(0)),
            "block_sessions": pa.Column(pl.Int32, pa.Check.gt(0)),
            "period_start": pa.Column(pl.Date),
            "period_end": pa.Column(pl.Date),
            "retrains": pa.Column(pl.Int32, pa.Check.gt(0)),
        },
        unique=["horizon", "method"],
        strict="filter",
        name="forecast_backtest",
        checks=[
            pa.Check(lambda data: data.lazyframe.select(pl.col("n_eff") <= pl.col("n"))),
            # ordered ends (a percentile interval need not hold its point: the ECE of a
            # resample is biased up, so its interval can sit above the full data's ECE)
            *(
                pa.Check(
                    lambda data, name=name: data.lazyframe.select(
                        (pl.col(f"{name}_low") <= pl.col(f"{name}_high")).fill_null(True)
                    )
                )
                for name in scores
                if name != "log_loss"
            ),
        ],
    )


def registry_schema(spec: CadenceSpec = DAILY) -> pa.DataFrameSchema:
    """The scalar columns of a ``model_registry`` row (the JSON and artifact columns are
    produced by the model itself)."""
    return pa.DataFrameSchema(
        {
            "version_id": pa.Column(str),
            "horizon": pa.Column(str, pa.Check.isin(list(spec.horizons))),
            "horizon_days": pa.Column(pl.Int64, pa.Check.isin(list(spec.horizons.values()))),
            "timeframe": pa.Column(str, pa.Check.isin([spec.timeframe])),
            "trained_through": pa.Column(pl.Date),
            "lgbm_weight": pa.Column(pl.Float64, UNIT),
            "n_train": pa.Column(pl.Int64, pa.Check.gt(0)),
            "n_validation": pa.Column(pl.Int64, pa.Check.gt(0)),
            "promoted": pa.Column(pl.Boolean),
            "rejection_reason": pa.Column(str, nullable=True),
            "serves": pa.Column(str, pa.Check.isin(["model", "climatology"])),
            "shrinkage": pa.Column(pl.Float64, UNIT),
            **{
                name: pa.Column(pl.Float64, nullable=True)
                for name in ("skill", "skill_low", "skill_high")
            },
            "skill_n_eff": pa.Column(pl.Float64, pa.Check.gt(0), nullable=True),
            "serving_reason": pa.Column(str, nullable=True),
            "train_seconds": pa.Column(pl.Float64, pa.Check.ge(0)),
            "artifact_sha256": pa.Column(str, pa.Check.str_length(64, 64)),
        },
        unique=["version_id"],
        strict="filter",
        name="model_registry",
    )


def validated(frame: pl.DataFrame, schema: pa.DataFrameSchema) -> pl.DataFrame:
    """``frame`` checked against ``schema`` (raises on any failure, naming it)."""
    checked: pl.DataFrame = schema.validate(frame, lazy=True)
    return checked
