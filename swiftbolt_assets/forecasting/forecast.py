"""Forecast rows for one horizon and one model version, all symbols and days at once. Pure.

Input rows are ``dataset.model_inputs`` of the as-of day's features rows, with the layer
weights already resolved (``synthesizer.resolve_weights``). Output rows carry the forecast
contract of ``ml_forecasts_daily`` except ``run_id`` and ``created_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec, target_sessions
from swiftbolt_assets.forecasting.labels import CLASSES, threshold_exprs
from swiftbolt_assets.forecasting.models import HorizonModel
from swiftbolt_assets.forecasting.shrinkage import shrink
from swiftbolt_assets.forecasting.synthesizer import (
    LAYERS,
    WEIGHT_COLUMNS,
    combine,
    price_targets,
    score,
)

# Each layer's class probabilities, so the evaluation loop can refit the layer weights.
FloatArray = npt.NDArray[np.float64]
LAYER_PROBABILITY_COLUMNS = tuple(f"{layer}_p_{c}" for layer in LAYERS for c in CLASSES)
FORECAST_COLUMNS = (
    "symbol",
    "as_of_date",
    "horizon",
    "horizon_days",
    "target_date",
    "partition_date",
    "close",
    "label",
    "p_bearish",
    "p_neutral",
    "p_bullish",
    "confidence",
    "raw_confidence",
    "predicted_return",
    "target_price",
    "lower_band",
    "upper_band",
    "threshold_down",
    "threshold_up",
    "sigma_daily",
    "supertrend_component",
    "sr_component",
    "ensemble_component",
    *LAYER_PROBABILITY_COLUMNS,
    *WEIGHT_COLUMNS,
    "model_version",
    "served_by",
    "shrinkage",
    "skill_low",
    "weights_source",
    "weights_version",
    "calibration_version",
    "feature_ts",
    "features_run_id",
)
# An intraday row is keyed by its bars' closes too (its dates are the session's).
INSTANT_COLUMNS = ("as_of_ts", "target_ts")


def forecast_columns(spec: CadenceSpec = DAILY) -> tuple[str, ...]:
    """The columns of a forecast row of the cadence (``FORECAST_COLUMNS``, plus the as-of and
    target bar closes for an intraday cadence)."""
    return FORECAST_COLUMNS if spec.bar_minutes is None else (*FORECAST_COLUMNS, *INSTANT_COLUMNS)


@dataclass(frozen=True)
class ConfidenceMap:
    """Monotone piecewise-linear map from raw to calibrated confidence (empty = identity).

    Fitted by ``calibration/confidence.py``; applied here to every forecast's raw confidence.
    """

    x: tuple[float, ...]
    y: tuple[float, ...]

    def apply(self, raw: npt.ArrayLike) -> FloatArray:
        values = np.asarray(raw, dtype=np.float64)
        if not self.x:
            return values
        mapped: FloatArray = np.interp(values, np.asarray(self.x), np.asarray(self.y))
        return mapped


IDENTITY = ConfidenceMap((), ())


@dataclass(frozen=True)
class ServingModel:
    """The model version and confidence calibration a group of forecasts uses."""

    version_id: str
    model: HorizonModel
    calibration: ConfidenceMap
    calibration_version: str | None


def forecast_rows(
    rows: pl.DataFrame,
    horizon: str,
    serving: ServingModel,
    sessions: list[date],
    spec: CadenceSpec = DAILY,
) -> pl.DataFrame:
    """Forecasts of ``rows`` (model inputs + as_of_date, features_run_id, resolved weights;
    an intraday cadence's rows also ``as_of_ts`` and their horizon's ``target_ts``, in the
    as-of session: its target date is the as-of date)."""
    model = serving.model
    days = model.horizon_days
    layers = {
        "supertrend": model.supertrend_probs(rows),
        "sr": model.sr_probs(rows),
        "ensemble": model.predict_ensemble(rows),
    }
    weights = rows.select(WEIGHT_COLUMNS).to_numpy().astype(np.float64)
    # never worse than the base rate: the version's weight against climatology (``gate``)
    probs = shrink(combine(layers, weights), model.climatology, model.shrinkage)
    label = probs.argmax(axis=1).astype(np.int64)
    raw_confidence = probs.max(axis=1)
    close = rows.get_column("adj_close").to_numpy().astype(np.float64)
    sigma = rows.get_column("sigma").to_numpy().astype(np.float64)
    predicted, target, lower, upper = price_targets(
        close=close,
        sigma=sigma,
        days=days,
        probs=probs,
        label=label,
        z_mean=model.class_z_mean,
        z_var=model.class_z_var,
        support=rows.get_column("nearest_support").fill_null(np.nan).to_numpy(),
        resistance=rows.get_column("nearest_resistance").fill_null(np.nan).to_numpy(),
    )
    down, up = threshold_exprs(pl.col("sigma"), days)
    components = {f"{layer}_component": score(layers[layer]) for layer in LAYERS}
    return rows.select(
        "symbol",
        "as_of_date",
        pl.lit(horizon).alias("horizon"),
        pl.lit(days, dtype=pl.Int32).alias("horizon_days"),
        (
            target_sessions(rows.get_column("as_of_date"), days, sessions)
            if spec.crosses_sessions
            else pl.col("as_of_date").alias("target_date")
        ),
        pl.col("as_of_date").alias("partition_date"),
        pl.col("adj_close").alias("close"),
        pl.Series("label", np.asarray(CLASSES)[label], dtype=pl.String),
        *(pl.Series(f"p_{c}", probs[:, i]) for i, c in enumerate(CLASSES)),
        pl.Series("confidence", np.clip(serving.calibration.apply(raw_confidence), 0.0, 1.0)),
        pl.Series("raw_confidence", raw_confidence),
        pl.Series("predicted_return", predicted),
        pl.Series("target_price", target),
        pl.Series("lower_band", lower),
        pl.Series("upper_band", upper),
        down.alias("threshold_down"),
        up.alias("threshold_up"),
        pl.col("sigma").alias("sigma_daily"),
        *(pl.Series(name, values) for name, values in components.items()),
        *(
            pl.Series(f"{layer}_p_{c}", layers[layer][:, i])
            for layer in LAYERS
            for i, c in enumerate(CLASSES)
        ),
        *WEIGHT_COLUMNS,
        pl.lit(serving.version_id).alias("model_version"),
        pl.lit("model" if model.serving_reason is None else "climatology").alias("served_by"),
        pl.lit(model.shrinkage, dtype=pl.Float64).alias("shrinkage"),
        pl.lit(model.skill_low, dtype=pl.Float64).alias("skill_low"),
        "weights_source",
        "weights_version",
        pl.lit(serving.calibration_version, dtype=pl.String).alias("calibration_version"),
        pl.col("ts").alias("feature_ts"),
        "features_run_id",
        *(INSTANT_COLUMNS if spec.bar_minutes is not None else ()),
    )


def contradictions(forecasts: pl.DataFrame) -> pl.DataFrame:
    """Rows whose label contradicts the target's direction (must be none)."""
    return forecasts.filter(
        ((pl.col("label") == "bullish") & (pl.col("target_price") <= pl.col("close")))
        | ((pl.col("label") == "bearish") & (pl.col("target_price") >= pl.col("close")))
    )
