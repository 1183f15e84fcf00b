"""Walk-forward backtest: retrain on a cadence, predict the next period out of sample. Pure.

For each cutoff C_k (the last session before each cadence period of the test span) and each
horizon, the model is fit exactly as ``forecast_models`` fits it (``models.fit_horizon``: purged
and embargoed validation, blend weight chosen out of sample, refit), then predicts every
(symbol, D) with C_k < D <= C_{k+1} whose outcome is known. Nothing a prediction uses ends after
its as-of date. Only rows live forecasting would serve are predicted and scored
(``dataset.skip_reasons``: at least ``MIN_HISTORY_SESSIONS`` sessions since the symbol's first
bar, a defined volatility); training uses every labelled row, as ``forecast_models`` does.
Every method is scored on the same rows:

- ``served``: what live forecasting serves: ``synthesized`` shrunk toward climatology by the
  version's weight, or climatology where its validation skill's lower bound is not above 0
  (``gate.judge``, on the version's own validation window)
- ``synthesized``: the three layers with the default weights, before that shrinkage
- ``ensemble``, ``lgbm``, ``random_forest``: the ML layer and its two learners
- ``supertrend_layer``, ``sr_layer``: the two rule layers alone
- baselines: ``climatology`` (training class frequencies), ``majority`` (the most frequent
  training class, one-hot), ``persistence`` (the class of the return over the past h sessions,
  with today's thresholds; climatology where that is undefined)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.forecasting import metrics
from swiftbolt_assets.forecasting.bins import with_row_ids
from swiftbolt_assets.forecasting.dataset import model_features, skip_reasons, with_sessions_seen
from swiftbolt_assets.forecasting.gate import judge
from swiftbolt_assets.forecasting.intervals import BLOCK_FACTOR, score_intervals
from swiftbolt_assets.forecasting.intervals import METRICS as INTERVAL_METRICS
from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets.forecasting.models import (
    HorizonModel,
    blend,
    fit_horizon,
    log_loss,
    shared_bins,
)
from swiftbolt_assets.forecasting.retraining import period_cutoffs
from swiftbolt_assets.forecasting.shrinkage import shrink
from swiftbolt_assets.forecasting.synthesizer import DEFAULT_WEIGHTS, LAYERS, combine
from swiftbolt_assets.forecasting.training import MIN_TRAIN_ROWS, covered_rows
from swiftbolt_assets.forecasting.walk_forward import TrainingParams, walk_forward_split

FloatArray = npt.NDArray[np.float64]
METHODS = (
    "served",
    "synthesized",
    "ensemble",
    "lgbm",
    "random_forest",
    "supertrend_layer",
    "sr_layer",
    "climatology",
    "majority",
    "persistence",
)


@dataclass(frozen=True)
class BacktestConfig:
    """The walk-forward layout; an intraday ``spec`` retrains weekly over its whole data
    (``years`` and ``cadence_months`` are the daily cadence's)."""

    years: int = 5
    cadence_months: int = 12
    spec: CadenceSpec = DAILY
    horizons: tuple[str, ...] = tuple(DAILY.horizons)
    params: TrainingParams = field(default_factory=lambda: TrainingParams(stride=8))
    # the intervals resample blocks of dates 2 x the horizon long: blocks of exactly the horizon
    # catch about 2/3 of the variance of overlapping labels (see ``intervals``)
    block_factor: int = BLOCK_FACTOR
    n_boot: int = 1000


def backtest_cutoffs(sessions: list[date], last_data: date, config: BacktestConfig) -> list[date]:
    """Cutoffs of the cadence periods covering the last ``years`` years of data (intraday:
    every week of it, as ``forecast_models`` retrains the intraday versions)."""
    if config.spec.bar_minutes is not None:
        return period_cutoffs(sessions, sessions[0], last_data, 1, weekly=True)
    first_test = date(last_data.year - config.years, last_data.month, 1)
    return period_cutoffs(sessions, first_test, last_data, config.cadence_months)


@dataclass
class BacktestResult:
    predictions: pl.DataFrame
    metrics: list[dict[str, object]]
    curves: dict[str, tuple[FloatArray, FloatArray]]
    fits: list[dict[str, object]]


def _default_weights(n: int) -> FloatArray:
    return np.tile([DEFAULT_WEIGHTS[layer] for layer in LAYERS], (n, 1))


def _score_rows(
    probs: dict[str, FloatArray],
    labels: npt.NDArray[np.int64],
    frame: pl.DataFrame,
    h: str,
    *,
    block_sessions: int,
    n_boot: int,
) -> list[dict[str, object]]:
    """Every method's scores on the same rows, each with its 95 % block-bootstrap interval by
    date (``_low``, ``_high``; blocks of ``block_sessions`` dates) and ``n_eff``."""
    realized = frame.get_column(f"fwd_{h}").to_numpy()
    dates = frame.get_column("session_date")
    rows: list[dict[str, object]] = []
    climatology_brier = metrics.multiclass_brier(probs["climatology"], labels)
    for method in METHODS:
        scored: dict[str, object] = {"horizon": h, "method": method}
        scored |= metrics.score_all(probs[method], labels, realized, dates)
        brier = metrics.multiclass_brier(probs[method], labels)
        scored["brier_skill_score"] = metrics.brier_skill_score(brier, climatology_brier)
        scored["log_loss"] = log_loss(probs[method], labels)
        bounds = score_intervals(
            probs[method],
            labels,
            dates,
            realized,
            probs["climatology"],
            block_length=block_sessions,
            n_boot=n_boot,
        )
        for name in INTERVAL_METRICS:
            scored[f"{name}_low"] = bounds.intervals[name].low
            scored[f"{name}_high"] = bounds.intervals[name].high
        scored["n_eff"] = bounds.n_eff
        scored["block_sessions"] = block_sessions
        rows.append(scored)
    return rows


def _method_probs(
    model: HorizonModel, test: pl.DataFrame, h: str, shrinkage: float
) -> dict[str, FloatArray]:
    """Every method's (n, 3) probabilities on the ``test`` rows of one fitted version."""
    boost, forest = model.predict_learners(test)
    ensemble = blend(boost, forest, model.lgbm_weight)
    layers = {
        "supertrend": model.supertrend_probs(test),
        "sr": model.sr_probs(test),
        "ensemble": ensemble,
    }
    synthesized = combine(layers, _default_weights(test.height))
    climatology = np.tile(model.climatology, (test.height, 1))
    majority = np.zeros_like(climatology)
    majority[:, int(np.argmax(model.climatology))] = 1.0
    past = test.get_column(f"past_label_{h}")
    persistence = np.where(
        past.is_null().to_numpy()[:, None],
        climatology,
        metrics.one_hot(past.fill_null(1).cast(pl.Int64).to_numpy()),
    )
    return {
        "served": shrink(synthesized, model.climatology, shrinkage),
        "synthesized": synthesized,
        "ensemble": ensemble,
        "lgbm": boost,
        "random_forest": forest,
        "supertrend_layer": layers["supertrend"],
        "sr_layer": layers["sr"],
        "climatology": climatology,
        "majority": majority,
        "persistence": persistence,
    }


def run_backtest(
    frame: pl.DataFrame,
    sessions: list[date],
    config: BacktestConfig,
    log: Callable[[str], None] = lambda _: None,
) -> BacktestResult:
    """Walk forward over ``frame`` (model inputs + labels + bar_index, all symbols)."""
    last_data = frame.get_column("session_date").max()
    assert isinstance(last_data, date)
    cutoffs = backtest_cutoffs(sessions, last_data, config)
    frame = with_row_ids(frame)
    # the rows live forecasting would serve (the others are still training rows)
    spec = config.spec
    features = model_features(spec)
    servable = frame.filter(
        skip_reasons(with_sessions_seen(frame), spec).get_column("skip_reason").is_null()
    )
    per_horizon: dict[str, dict[str, list[FloatArray]]] = {h: {} for h in config.horizons}
    kept: dict[str, list[pl.DataFrame]] = {h: [] for h in config.horizons}
    stored: list[pl.DataFrame] = []
    fits: list[dict[str, object]] = []
    for k, cutoff in enumerate(cutoffs):
        until = cutoffs[k + 1] if k + 1 < len(cutoffs) else last_data
        bins = None  # binned once for the cutoff's refits, at its first fit (and freed before)
        for h in config.horizons:
            started = time.perf_counter()
            test = servable.filter(
                (pl.col("session_date") > cutoff)
                & (pl.col("session_date") <= until)
                & pl.col(f"label_{h}").is_not_null()
            )
            if test.is_empty():
                continue  # no outcome known yet in this period for this horizon
            split = walk_forward_split(
                frame, h, cutoff, config.params, days=config.spec.horizons[h]
            )
            if covered_rows(split, config.params, config.spec.horizons[h]) < MIN_TRAIN_ROWS:
                log(f"{h} cutoff {cutoff}: {split.train.height} training rows, skipped")
                continue
            if bins is None:
                bins = shared_bins(frame, config.params, cutoff, features)
            fitted = fit_horizon(
                split, h, spec.horizons[h], cutoff, config.params, bins=bins, features=features
            )
            model = fitted.model
            judgement = judge(
                split,
                h,
                spec.sessions_spanned(spec.horizons[h]),
                fitted.validation_predictions,
                n_boot=config.n_boot,
            )
            probs = _method_probs(model, test, h, judgement.shrinkage)
            for method, values in probs.items():
                per_horizon[h].setdefault(method, []).append(values)
            kept[h].append(test.select("session_date", f"fwd_{h}", f"label_{h}"))
            stored.append(_prediction_rows(test, h, cutoff, probs["served"], probs["ensemble"]))
            seconds = time.perf_counter() - started
            fits.append(
                {
                    "horizon": h,
                    "cutoff": cutoff.isoformat(),
                    "n_train": fitted.n_train,
                    "n_test": test.height,
                    "lgbm_weight": model.lgbm_weight,
                    "serves": judgement.serves,
                    "shrinkage": round(judgement.shrinkage, 3),
                    "skill_low": round(judgement.bound.low, 4),
                    "seconds": round(seconds, 1),
                }
            )
            log(
                f"{h} cutoff {cutoff}: {fitted.n_train} training rows, {test.height} out-of-sample"
                f" predictions through {until}, {seconds:.1f}s"
            )
    rows: list[dict[str, object]] = []
    curves: dict[str, tuple[FloatArray, FloatArray]] = {}
    for h in config.horizons:
        if not kept[h]:
            continue
        tested = pl.concat(kept[h])
        labels = tested.get_column(f"label_{h}").cast(pl.Int64).to_numpy()
        probs = {m: np.concatenate(v) for m, v in per_horizon[h].items()}
        block = config.block_factor * spec.sessions_spanned(spec.horizons[h])
        scored = _score_rows(probs, labels, tested, h, block_sessions=block, n_boot=config.n_boot)
        # the horizon's own period and fits: a long horizon's outcomes end sooner
        own = {
            "period_start": tested.get_column("session_date").min(),
            "period_end": tested.get_column("session_date").max(),
            "retrains": sum(1 for f in fits if f["horizon"] == h),
        }
        rows += [row | own for row in scored]
        served = probs["served"]
        curves[h] = (served.max(axis=1), (served.argmax(axis=1) == labels).astype(np.float64))
    predictions = pl.concat(stored) if stored else pl.DataFrame()
    return BacktestResult(predictions, rows, curves, fits)


def _prediction_rows(
    test: pl.DataFrame, h: str, cutoff: date, served: FloatArray, ensemble: FloatArray
) -> pl.DataFrame:
    label = pl.col(f"label_{h}")
    return test.select(
        "symbol",
        pl.col("session_date").alias("as_of_date"),
        pl.lit(h).alias("horizon"),
        # an intraday label ends in its as-of session
        (
            pl.col(f"end_{h}") if test.schema[f"end_{h}"] == pl.Date else pl.col("session_date")
        ).alias("label_end_date"),
        pl.lit(cutoff).alias("model_cutoff"),
        *(pl.Series(f"p_{c}", served[:, i]) for i, c in enumerate(CLASSES)),
        *(pl.Series(f"ens_{c}", ensemble[:, i]) for i, c in enumerate(CLASSES)),
        pl.col(f"fwd_{h}").alias("realized_return"),
        label.replace_strict(list(range(3)), list(CLASSES), return_dtype=pl.String).alias(
            "realized_label"
        ),
        pl.col(f"down_{h}").alias("threshold_down"),
        pl.col(f"up_{h}").alias("threshold_up"),
    )
