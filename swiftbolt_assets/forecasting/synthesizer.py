"""The synthesizer: three layers, weights by precedence, a label and a target. Pure: no Dagster.

Layers, each a probability over (bearish, neutral, bullish):

- SuperTrend: how often each class followed the row's SuperTrend state (direction of the classic
  SuperTrend and of SuperTrend AI) in the model's training rows;
- support/resistance: the same for the close's position between the nearest support and
  resistance from ``features`` (real pivot and regression levels);
- ML ensemble: the blended LightGBM + random-forest probabilities.

The forecast is the weighted average of the three. Layer weights come, point in time at the
forecast's as-of time, from the first source that has a valid row for (symbol, horizon):

    1. ``calibrated_weights`` with valid_from < t <= expires_at        (source "calibrated")
    2. ``symbol_model_weights`` with valid_from < t <= valid_until     (source "symbol")
    3. ``DEFAULT_WEIGHTS``                                            (source "default")

A row is valid after the moment it was fitted (``valid_from``, exclusive) through its expiry
(inclusive): weights fitted at the close of D on D's evaluations serve the forecast made at the
close of D+1 (their ``valid_until``), never the forecast of D itself, which the daily cycle
computes before D's evaluations exist; so re-running D's forecast later gives the same row. An
expired row is never used; among valid rows the latest ``valid_from`` wins. The source and
version used go on every forecast row.

Target price: the label's class-conditional mean of the volatility-scaled log return,
``close * exp(mean_z[label] * sigma * sqrt(h))``, so a bullish target lies above the close and a
bearish one below (every bullish training return exceeded the positive threshold). For horizons
up to ``LEVEL_BOUND_MAX_DAYS`` the target is bounded by the levels: a bullish target by the
nearest resistance above the close, a bearish one by the nearest support below it, a neutral one
into [support, resistance]; the direction is kept because those levels lie on the right side of
the close. The band is the central 80% of the predicted return distribution (the mixture of the
class-conditional distributions under the forecast probabilities, as a normal in z units),
widened to contain the target.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.forecasting.labels import BEARISH, BULLISH, NEUTRAL

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

LAYERS = ("supertrend", "sr", "ensemble")
WEIGHT_COLUMNS = tuple(f"w_{layer}" for layer in LAYERS)
DEFAULT_WEIGHTS: dict[str, float] = {"supertrend": 0.15, "sr": 0.15, "ensemble": 0.70}
DEFAULT_VERSION = "default-v1"
LEVEL_BOUND_MAX_DAYS = 21
BAND_Z = 1.2815515655446004  # the 90% quantile of a standard normal: an 80% central band

WEIGHT_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "horizon": pl.String(),
    "version_id": pl.String(),
    "valid_from": pl.Datetime("us", "UTC"),
    "valid_until": pl.Datetime("us", "UTC"),
    **{c: pl.Float64() for c in WEIGHT_COLUMNS},
}


def _valid_rows(
    requests: pl.DataFrame, rows: pl.DataFrame, source: str, *, end_inclusive: bool
) -> pl.DataFrame:
    """Per request, the valid row of ``rows`` with the latest valid_from (if any): valid in
    (valid_from, valid_until], or (valid_from, valid_until) when not ``end_inclusive``."""
    if rows.is_empty():
        return pl.DataFrame(
            schema={
                "_request": pl.UInt32,
                **dict.fromkeys(WEIGHT_COLUMNS, pl.Float64),
                "weights_version": pl.String,
                "weights_source": pl.String,
            }
        )
    t = pl.col("as_of_ts")
    return (
        requests.join(rows, on=["symbol", "horizon"], how="inner")
        .filter(
            (pl.col("valid_from") < t)
            & ((t <= pl.col("valid_until")) if end_inclusive else (t < pl.col("valid_until")))
        )
        .sort("valid_from", "version_id", descending=True)
        .unique("_request", keep="first", maintain_order=True)
        .select(
            "_request",
            *WEIGHT_COLUMNS,
            pl.col("version_id").alias("weights_version"),
            pl.lit(source).alias("weights_source"),
        )
    )


def resolve_weights(
    requests: pl.DataFrame, calibrated: pl.DataFrame, symbol_weights: pl.DataFrame
) -> pl.DataFrame:
    """``requests`` (symbol, horizon, as_of_ts) plus the layer weights by precedence.

    ``calibrated`` and ``symbol_weights`` have ``WEIGHT_SCHEMA`` (``calibrated_weights``'
    ``expires_at`` read as ``valid_until``). Adds ``w_supertrend``, ``w_sr``, ``w_ensemble``,
    ``weights_source`` (calibrated | symbol | default) and ``weights_version``.

    A weights row never serves the forecast made at the instant it was fitted (valid_from is
    exclusive). A symbol row serves through its ``valid_until`` (the next session's close,
    whose forecast it is for); a calibrated row has expired at its ``expires_at``: a forecast
    made at that instant does not use it.
    """
    indexed = requests.with_row_index("_request")
    first = _valid_rows(indexed, calibrated, "calibrated", end_inclusive=False)
    rest = indexed.join(first.select("_request"), on="_request", how="anti")
    second = _valid_rows(rest, symbol_weights, "symbol", end_inclusive=True)
    chosen = pl.concat([first, second])
    return (
        indexed.join(chosen, on="_request", how="left")
        .with_columns(
            *(pl.col(f"w_{layer}").fill_null(DEFAULT_WEIGHTS[layer]) for layer in LAYERS),
            pl.col("weights_source").fill_null("default"),
            pl.col("weights_version").fill_null(DEFAULT_VERSION),
        )
        .sort("_request")
        .drop("_request")
    )


def combine(layers: dict[str, FloatArray], weights: FloatArray) -> FloatArray:
    """Weighted average of the layers' (n, 3) probabilities; ``weights`` is (n, 3) in
    ``LAYERS`` order, non-negative with a positive sum per row."""
    total = weights.sum(axis=1, keepdims=True)
    if np.any(total <= 0) or np.any(weights < 0):
        msg = "layer weights must be non-negative with a positive sum"
        raise ValueError(msg)
    stacked = np.stack([layers[layer] for layer in LAYERS], axis=1)  # (n, layers, 3)
    mixed = np.einsum("nl,nlc->nc", weights / total, stacked)
    normalized: FloatArray = mixed / mixed.sum(axis=1, keepdims=True)
    return normalized


def score(probs: FloatArray) -> FloatArray:
    """A layer's signed component: P(bullish) - P(bearish), in [-1, 1]."""
    result: FloatArray = probs[:, BULLISH] - probs[:, BEARISH]
    return result


def price_targets(
    *,
    close: FloatArray,
    sigma: FloatArray,
    days: int,
    probs: FloatArray,
    label: IntArray,
    z_mean: list[float],
    z_var: list[float],
    support: FloatArray,
    resistance: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(predicted_return, target_price, lower_band, upper_band) per row (see module doc).

    ``support``/``resistance`` are NaN where there is no level.
    """
    scale = sigma * math.sqrt(days)
    means, variances = np.asarray(z_mean), np.asarray(z_var)
    target = close * np.exp(means[label] * scale)
    if days <= LEVEL_BOUND_MAX_DAYS:
        resistance_above = np.where(resistance > close, resistance, np.inf)
        support_below = np.where(support < close, support, -np.inf)
        bullish, bearish = label == BULLISH, label == BEARISH
        neutral = label == NEUTRAL
        target = np.where(bullish, np.minimum(target, resistance_above), target)
        target = np.where(bearish, np.maximum(target, support_below), target)
        target = np.where(neutral, np.clip(target, support_below, resistance_above), target)
    mix_mean = probs @ means
    mix_var = np.maximum(probs @ (variances + means**2) - mix_mean**2, 1e-12)
    half = BAND_Z * np.sqrt(mix_var)
    lower = np.minimum(close * np.exp((mix_mean - half) * scale), target)
    upper = np.maximum(close * np.exp((mix_mean + half) * scale), target)
    return target / close - 1.0, target, lower, upper
