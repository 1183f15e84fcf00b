"""Pooled walk-forward ensemble per horizon: LightGBM boosting + a random forest. Pure.

One model per horizon serves every symbol (pooled cross-section), fitted on a purged and
embargoed ``walk_forward.Split`` of the rows known at its cutoff.

Both learners fit on the training part; the ensemble weight (LightGBM share, 0..1 by 0.1) is the
one with the lowest log loss on the validation part, which also gives the out-of-sample metrics
(``gate`` judges them: promotion, and the weight toward climatology the version serves).
With ``refit`` the two learners are then refit on training plus
validation (same hyper-parameters and weight), so the served model has seen the latest labels.

The model also carries what the synthesizer's rule layers and the target price need, fitted on
the same training rows: class frequencies per SuperTrend state and per position between support
and resistance, and per class the mean and variance of the volatility-scaled forward log return.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.forecasting import metrics
from swiftbolt_assets.forecasting.bins import SharedBins, per_fit_dataset
from swiftbolt_assets.forecasting.dataset import MODEL_FEATURES, design_matrix
from swiftbolt_assets.forecasting.walk_forward import Split, TrainingParams

FloatArray = npt.NDArray[np.float64]

# Buckets of the position between support (0) and resistance (1); null = a level is missing.
SR_EDGES = (0.2, 0.4, 0.6, 0.8)
_SMOOTHING = 50.0  # pseudo-counts toward climatology in the rule layers' frequency tables


@dataclass
class HorizonModel:
    """Everything a forecast for one horizon needs; serializes to JSON (the registry artifact)."""

    horizon: str
    horizon_days: int
    trained_through: date
    lgbm_model: str
    rf_model: str
    lgbm_weight: float
    features: list[str]
    climatology: list[float]
    supertrend_table: dict[str, list[float]]
    sr_table: dict[str, list[float]]
    class_z_mean: list[float]
    class_z_var: list[float]
    params: dict[str, Any] = field(default_factory=dict)
    # the weight of the model against climatology when served (``gate``): 1 serves the model's
    # probabilities as they are (versions from before the gate), 0 serves climatology
    shrinkage: float = 1.0
    serving_reason: str | None = None  # why the version serves climatology (None: the model)
    skill_low: float | None = None  # lower 95 % bound of its cross-fitted validation skill

    def to_json(self) -> bytes:
        payload = asdict(self) | {"trained_through": self.trained_through.isoformat()}
        return json.dumps(payload, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> HorizonModel:
        payload = json.loads(raw)
        payload["trained_through"] = date.fromisoformat(payload["trained_through"])
        return cls(**payload)

    @cached_property
    def _boosters(self) -> tuple[lgb.Booster, lgb.Booster]:
        return lgb.Booster(model_str=self.lgbm_model), lgb.Booster(model_str=self.rf_model)

    def predict_learners(self, rows: pl.DataFrame) -> tuple[FloatArray, FloatArray]:
        """Class probabilities (n, 3) of the boosting model and of the forest."""
        x = design_matrix(rows, self.features)
        if x.shape[0] == 0:
            empty = np.zeros((0, 3))
            return empty, empty
        boost, forest = self._boosters
        return (
            np.asarray(boost.predict(x), dtype=np.float64),
            np.asarray(forest.predict(x), dtype=np.float64),
        )

    def predict_ensemble(self, rows: pl.DataFrame) -> FloatArray:
        boost, forest = self.predict_learners(rows)
        return blend(boost, forest, self.lgbm_weight)

    def supertrend_probs(self, rows: pl.DataFrame) -> FloatArray:
        """The SuperTrend layer: class frequencies of the row's SuperTrend state in training."""
        return lookup_probs(self.supertrend_table, supertrend_state(rows), self.climatology)

    def sr_probs(self, rows: pl.DataFrame) -> FloatArray:
        """The support/resistance layer: class frequencies of the row's position bucket."""
        return lookup_probs(self.sr_table, sr_bucket(rows), self.climatology)


def blend(boost: FloatArray, forest: FloatArray, weight: float) -> FloatArray:
    return weight * boost + (1.0 - weight) * forest


def supertrend_state(rows: pl.DataFrame) -> list[str]:
    """'<SuperTrend direction>/<SuperTrend AI trend>' as signs, e.g. '1/-1'; 'na' if missing."""
    keys = rows.select(
        pl.when(pl.col("supertrend_dir_10_3").is_null() | pl.col("st_ai_trend").is_null())
        .then(pl.lit("na"))
        .otherwise(
            pl.format(
                "{}/{}",
                pl.col("supertrend_dir_10_3").sign().cast(pl.Int8),
                pl.col("st_ai_trend").sign().cast(pl.Int8),
            )
        )
    ).to_series()
    return keys.to_list()


def sr_bucket(rows: pl.DataFrame) -> list[str]:
    """Bucket of the close's position between nearest support (0) and resistance (1)."""
    below, above = pl.col("support_distance_atr"), pl.col("resistance_distance_atr")
    position = below / (below + above)
    bucket: pl.Expr = pl.lit(f"q{len(SR_EDGES)}")
    for i, edge in reversed(list(enumerate(SR_EDGES))):
        bucket = pl.when(position < edge).then(pl.lit(f"q{i}")).otherwise(bucket)
    keys = rows.select(
        pl.when(below.is_null() & above.is_null())
        .then(pl.lit("none"))
        .when(below.is_null())
        .then(pl.lit("no_support"))
        .when(above.is_null())
        .then(pl.lit("no_resistance"))
        .when(position.is_nan())
        .then(pl.lit("none"))
        .otherwise(bucket)
    ).to_series()
    return keys.to_list()


def lookup_probs(
    table: dict[str, list[float]], keys: list[str], fallback: list[float]
) -> FloatArray:
    """The class frequencies of each key in ``table`` (``fallback`` for an unseen key)."""
    rows = [table.get(k, fallback) for k in keys]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def frequency_table(keys: list[str], labels: npt.NDArray[np.int64]) -> dict[str, list[float]]:
    """Per key, class frequencies shrunk toward the overall frequencies (pseudo-counts)."""
    prior = metrics.climatology_probs(labels)
    names, index = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
    counts = np.zeros((names.size, 3))
    np.add.at(counts, (index, labels), 1.0)
    shrunk = (counts + _SMOOTHING * prior) / (counts.sum(axis=1, keepdims=True) + _SMOOTHING)
    return {str(name): row.tolist() for name, row in zip(names, shrunk, strict=True)}


def log_loss(probs: FloatArray, labels: npt.NDArray[np.int64]) -> float:
    picked = np.clip(probs[np.arange(labels.size), labels], 1e-12, 1.0)
    return float(-np.mean(np.log(picked)))


def shared_bins(
    frame: pl.DataFrame,
    params: TrainingParams,
    cutoff: date,
    features: Sequence[str] = MODEL_FEATURES,
) -> SharedBins | None:
    """The ``SharedBins`` of the fits of ``cutoff`` on ``frame`` (with ``bins.ROW_ID``), or
    None to bin per fit."""
    if not params.shared_bins:
        return None
    threads = int(params.lgbm_params()["num_threads"])
    return SharedBins(
        frame, list(features), through=cutoff, stride=params.stride, num_threads=threads
    )


def _fit_both(
    params: TrainingParams,
    rows: pl.DataFrame,
    y: npt.NDArray[np.int64],
    features: list[str],
    bins: SharedBins | None,
) -> tuple[lgb.Booster, lgb.Booster]:
    """Both learners on ``rows``: binned subsets of ``bins``; else binned here, once for both
    with ``shared_bins``, once per learner without (the procedure before it)."""
    reuse = params.shared_bins and bins is None
    once = per_fit_dataset(rows, y, features, reusable=True) if reuse else None

    def data() -> lgb.Dataset:
        if bins is not None:
            return bins.dataset(rows, y)
        return once if once is not None else per_fit_dataset(rows, y, features)

    boost = lgb.train(params.lgbm_params(), data(), num_boost_round=params.lgbm_rounds)
    forest = lgb.train(params.rf_params(), data(), num_boost_round=params.rf_trees)
    return boost, forest


def _z_stats(rows: pl.DataFrame, horizon: str, days: int) -> tuple[list[float], list[float]]:
    """Per class, mean and variance of log(1 + forward return) / (sigma * sqrt(h))."""
    z = ((1.0 + pl.col(f"fwd_{horizon}")).log() / (pl.col("sigma") * math.sqrt(days))).alias("z")
    stats = (
        rows.select(pl.col(f"label_{horizon}").alias("label"), z)
        .filter(pl.col("z").is_finite())
        .group_by("label")
        .agg(pl.col("z").mean().alias("mean"), pl.col("z").var().alias("var"))
        .sort("label")
    )
    means, variances = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    for label, mean, var in stats.iter_rows():
        means[int(label)] = float(mean)
        variances[int(label)] = float(var) if var is not None else 1.0
    return means, variances


@dataclass(frozen=True)
class TrainResult:
    model: HorizonModel
    validation_metrics: dict[str, dict[str, float]]
    n_train: int
    n_validation: int
    validation_predictions: FloatArray


def fit_horizon(
    split: Split,
    horizon: str,
    days: int,
    cutoff: date,
    params: TrainingParams,
    *,
    bins: SharedBins | None = None,
    features: Sequence[str] = MODEL_FEATURES,
) -> TrainResult:
    """Fit both learners, choose the blend weight out of sample, measure, optionally refit.

    With ``bins`` the refit uses its binned subsets of the rows (``bins.SharedBins``); the first
    fit, whose validation scores judge the version, always bins its own training rows, so no
    feature value of the validation window shapes its bin edges."""
    train, validation = split.train, split.validation
    y_train = train.get_column(f"label_{horizon}").cast(pl.Int64).to_numpy()
    y_val = validation.get_column(f"label_{horizon}").cast(pl.Int64).to_numpy()
    features = list(features) if bins is None else bins.features
    boost, forest = _fit_both(params, train, y_train, features, None)
    x_val = design_matrix(validation, features)
    p_boost = np.asarray(boost.predict(x_val), dtype=np.float64)
    p_forest = np.asarray(forest.predict(x_val), dtype=np.float64)
    weights = [i / 10 for i in range(11)]
    losses = [log_loss(blend(p_boost, p_forest, w), y_val) for w in weights]
    weight = weights[int(np.argmin(losses))]
    p_ensemble = blend(p_boost, p_forest, weight)

    climatology = metrics.climatology_probs(y_train)
    majority = np.zeros(3)
    majority[int(np.argmax(climatology))] = 1.0
    realized = validation.get_column(f"fwd_{horizon}").to_numpy()
    dates = validation.get_column("session_date")
    candidates = {
        "ensemble": p_ensemble,
        "lgbm": p_boost,
        "random_forest": p_forest,
        "climatology": np.tile(climatology, (y_val.size, 1)),
        "majority": np.tile(majority, (y_val.size, 1)),
    }
    scored = {
        name: metrics.score_all(probs, y_val, realized, dates)
        | {"log_loss": log_loss(probs, y_val)}
        for name, probs in candidates.items()
    }
    for row in scored.values():
        row["brier_skill_score"] = metrics.brier_skill_score(
            row["brier"], scored["climatology"]["brier"]
        )

    fit_rows = train
    if params.refit:
        fit_rows = pl.concat(
            [train, validation.filter(pl.col("bar_index") % params.stride_for(days) == 0)]
        )
        y_all = fit_rows.get_column(f"label_{horizon}").cast(pl.Int64).to_numpy()
        boost, forest = _fit_both(params, fit_rows, y_all, features, bins)
    y_fit = fit_rows.get_column(f"label_{horizon}").cast(pl.Int64).to_numpy()
    z_mean, z_var = _z_stats(fit_rows, horizon, days)
    model = HorizonModel(
        horizon=horizon,
        horizon_days=days,
        trained_through=cutoff,
        lgbm_model=boost.model_to_string(),
        rf_model=forest.model_to_string(),
        lgbm_weight=weight,
        features=features,
        climatology=metrics.climatology_probs(y_fit).tolist(),
        supertrend_table=frequency_table(supertrend_state(fit_rows), y_fit),
        sr_table=frequency_table(sr_bucket(fit_rows), y_fit),
        class_z_mean=z_mean,
        class_z_var=z_var,
        params=asdict(params),
    )
    return TrainResult(model, scored, train.height, validation.height, p_ensemble)


def artifact_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
