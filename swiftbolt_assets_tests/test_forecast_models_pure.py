"""The models' walk-forward split (purge, embargo, stride, window) and a tiny end-to-end fit of a
horizon (round trip, honest versus shuffled skill, a zero-volatility row).

``synthetic_frame`` (model inputs with or without a signal) is also used by
``test_forecast_training_serving``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import polars as pl
import pytest

from swiftbolt_assets.calendar import sessions_between
from swiftbolt_assets.forecasting import metrics
from swiftbolt_assets.forecasting.dataset import MODEL_FEATURES
from swiftbolt_assets.forecasting.gate import judge
from swiftbolt_assets.forecasting.labels import BEARISH, BULLISH, NEUTRAL, add_labels
from swiftbolt_assets.forecasting.models import HorizonModel, blend, fit_horizon
from swiftbolt_assets.forecasting.shrinkage import shrink
from swiftbolt_assets.forecasting.synthesizer import price_targets
from swiftbolt_assets.forecasting.training import covered_rows
from swiftbolt_assets.forecasting.walk_forward import Split, TrainingParams, walk_forward_split


@pytest.fixture(scope="module")
def sessions() -> list[date]:
    days = sessions_between("XNYS", date(2017, 1, 3), date(2022, 12, 30))
    assert len(days) > 900
    return days


# --- walk_forward_split --------------------------------------------------------------------

N_SESSIONS = 800
SPLIT_PARAMS = TrainingParams(
    validation_sessions=100, embargo_sessions=5, stride=1, max_train_sessions=10_000
)


@pytest.fixture(scope="module")
def labelled(sessions: list[date]) -> pl.DataFrame:
    """3 symbols x 800 consecutive sessions, labelled for 1W (5 sessions) by ``add_labels``."""
    rng = np.random.default_rng(17)
    frames = []
    for symbol in ("AAA", "BBB", "CCC"):
        closes = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, N_SESSIONS)))
        frames.append(
            pl.DataFrame(
                {
                    "symbol": [symbol] * N_SESSIONS,
                    "session_date": sessions[:N_SESSIONS],
                    "bar_index": np.arange(N_SESSIONS, dtype=np.int32),
                    "adj_close": closes,
                    "sigma": np.full(N_SESSIONS, 0.015),
                }
            )
        )
    return add_labels(pl.concat(frames), {"1W": 5})


def test_walk_forward_split_purges_and_embargoes(
    labelled: pl.DataFrame, sessions: list[date]
) -> None:
    cutoff = sessions[700]
    split = walk_forward_split(labelled, "1W", cutoff, SPLIT_PARAMS)
    train, validation = split.train, split.validation
    # Labels ending by the cutoff: as-of indices 0..695 (695 + 5 = 700).
    validation_indices = sorted(set(validation.get_column("bar_index").to_list()))
    assert validation_indices == list(range(596, 696))
    assert validation.height == 3 * 100
    assert validation.get_column("end_1W").max() <= cutoff
    assert validation.get_column("end_1W").max() == cutoff
    first_index = validation_indices[0]
    first_date = validation.get_column("session_date").min()
    assert first_date == sessions[596]
    limit = first_index - SPLIT_PARAMS.embargo_sessions
    assert train.get_column("end_index_1W").max() < limit
    assert train.get_column("session_date").max() < first_date
    assert train.get_column("end_1W").max() < sessions[limit]
    # Exactly the as-of dates whose label ends before the embargo: 0..585 (585 + 5 = 590).
    train_indices = sorted(set(train.get_column("bar_index").to_list()))
    assert train_indices == list(range(586))
    assert train.height == 3 * 586
    assert train.get_column("label_1W").null_count() == 0


def test_walk_forward_split_validation_is_the_last_sessions_with_known_labels(
    labelled: pl.DataFrame, sessions: list[date]
) -> None:
    # The cutoff falls on a non-session day (a Saturday): same as the previous session.
    saturday = date(2019, 6, 15)
    assert saturday not in sessions
    friday_index = sessions.index(date(2019, 6, 14))
    split = walk_forward_split(labelled, "1W", saturday, SPLIT_PARAMS)
    last = friday_index - 5
    indices = set(split.validation.get_column("bar_index").to_list())
    assert indices == set(range(last - 99, last + 1))
    known = labelled.filter(pl.col("end_1W") <= saturday)
    assert known.get_column("bar_index").max() == last


def test_walk_forward_split_stride_keeps_multiples(
    labelled: pl.DataFrame, sessions: list[date]
) -> None:
    split = walk_forward_split(labelled, "1W", sessions[700], replace(SPLIT_PARAMS, stride=3))
    indices = split.train.get_column("bar_index").to_numpy()
    assert indices.size > 0
    assert np.all(indices % 3 == 0)
    assert sorted(set(indices.tolist())) == list(range(0, 586, 3))
    # The validation is not thinned.
    assert split.validation.height == 300


def test_walk_forward_split_thins_overlapping_labels(
    labelled: pl.DataFrame, sessions: list[date]
) -> None:
    params = replace(SPLIT_PARAMS, stride=2)
    # about 4 training rows per label window, always a multiple of the base stride
    assert [params.stride_for(d) for d in (1, 5, 8, 21, 63, 126)] == [2, 2, 2, 4, 14, 30]
    assert replace(params, thin_overlaps=False).stride_for(126) == 2
    month = add_labels(
        labelled.select("symbol", "session_date", "bar_index", "adj_close", "sigma"), {"1M": 21}
    )
    thin = walk_forward_split(month, "1M", sessions[700], params, days=21)
    dense = walk_forward_split(
        month, "1M", sessions[700], replace(params, thin_overlaps=False), days=21
    )
    thin_indices = set(thin.train.get_column("bar_index").to_list())
    dense_indices = set(dense.train.get_column("bar_index").to_list())
    assert all(i % 4 == 0 for i in thin_indices)
    assert thin_indices == {i for i in dense_indices if i % 4 == 0}
    assert len(thin_indices) == (len(dense_indices) + 1) // 2  # every other one
    assert thin.validation.equals(dense.validation)  # the validation is never thinned
    # minimum training sizes count the history covered, not the rows kept (one row per symbol
    # may differ at the window's edge)
    assert abs(covered_rows(thin, params, 21) - dense.train.height) <= 3 * params.thinning(21)


def test_walk_forward_split_max_train_sessions_limits_the_start(
    labelled: pl.DataFrame, sessions: list[date]
) -> None:
    split = walk_forward_split(
        labelled, "1W", sessions[700], replace(SPLIT_PARAMS, max_train_sessions=200)
    )
    indices = split.train.get_column("bar_index")
    # embargo limit 591; earliest training index 591 - 200 = 391, latest 585.
    assert indices.min() == 391
    assert indices.max() == 585


def test_walk_forward_split_empty_before_any_label(
    labelled: pl.DataFrame, sessions: list[date]
) -> None:
    split = walk_forward_split(labelled, "1W", sessions[4], SPLIT_PARAMS)
    assert split.train.is_empty()
    assert split.validation.is_empty()
    one = walk_forward_split(labelled, "1W", sessions[5], SPLIT_PARAMS)
    assert one.validation.get_column("bar_index").to_list() == [0, 0, 0]
    assert one.train.is_empty()


# --- tiny end-to-end fit -------------------------------------------------------------------


def synthetic_frame(
    sessions: list[date], n_symbols: int, n_sessions: int, seed: int, signal: bool
) -> pl.DataFrame:
    """Model inputs for a 1D horizon; with ``signal`` the label follows feature 0."""
    rng = np.random.default_rng(seed)
    n = n_symbols * n_sessions
    index = np.tile(np.arange(n_sessions, dtype=np.int32), n_symbols)
    columns: dict[str, object] = {
        "symbol": np.repeat([f"S{i:02d}" for i in range(n_symbols)], n_sessions),
        "bar_index": index,
        "session_date": [sessions[i] for i in index],
        "end_1D": [sessions[i + 1] for i in index],
        "end_index_1D": index + 1,
    }
    for name in MODEL_FEATURES:
        values = rng.random(n).astype(np.float32)
        values[rng.random(n) < 0.02] = np.nan
        columns[name] = values
    columns["supertrend_dir_10_3"] = rng.choice([-1.0, 1.0], n).astype(np.float32)
    columns["st_ai_trend"] = rng.choice([-1.0, 1.0], n).astype(np.float32)
    columns["support_distance_atr"] = rng.uniform(0.1, 5.0, n).astype(np.float32)
    columns["resistance_distance_atr"] = rng.uniform(0.1, 5.0, n).astype(np.float32)
    driver = rng.random(n).astype(np.float32)
    columns[MODEL_FEATURES[0]] = driver
    if signal:
        label = np.where(driver > 2 / 3, BULLISH, np.where(driver < 1 / 3, BEARISH, NEUTRAL))
        noisy = rng.random(n) < 0.1
        label = np.where(noisy, rng.integers(0, 3, n), label)
    else:
        label = rng.integers(0, 3, n)
    sigma = 0.02
    width = 0.43 * sigma
    z = np.where(
        label == BULLISH,
        width + np.abs(rng.normal(0, sigma, n)),
        np.where(label == BEARISH, -width - np.abs(rng.normal(0, sigma, n)), 0.0),
    )
    z = np.where(label == NEUTRAL, rng.uniform(-0.9 * width, 0.9 * width, n), z)
    columns["sigma"] = np.full(n, sigma)
    columns["fwd_1D"] = np.expm1(z)
    columns["label_1D"] = label.astype(np.int8)
    frame = pl.DataFrame(columns, nan_to_null=True)
    return frame.with_columns(
        pl.col("session_date").cast(pl.Date),
        pl.col("end_1D").cast(pl.Date),
        pl.col("label_1D").cast(pl.Int8),
    )


E2E_PARAMS = TrainingParams(
    lgbm_rounds=10, rf_trees=5, min_child_samples=20, validation_sessions=50, refit=True
)


@pytest.mark.usefixtures("single_thread_lightgbm")
def test_fit_horizon_round_trips_and_predicts(sessions: list[date]) -> None:
    frame = synthetic_frame(sessions, 10, 400, seed=5, signal=True)
    cutoff = sessions[400]
    split = walk_forward_split(frame, "1D", cutoff, E2E_PARAMS)
    assert split.validation.height == 10 * 50
    result = fit_horizon(split, "1D", 1, cutoff, E2E_PARAMS)
    model = result.model
    assert result.n_train == split.train.height
    assert result.n_validation == 500
    assert result.validation_predictions.shape == (500, 3)
    assert set(result.validation_metrics) == {
        "ensemble",
        "lgbm",
        "random_forest",
        "climatology",
        "majority",
    }
    for row in result.validation_metrics.values():
        assert {"brier", "brier_skill_score", "balanced_accuracy", "log_loss"} <= set(row)
    assert 0.0 <= model.lgbm_weight <= 1.0
    assert model.trained_through == cutoff
    assert model.features == list(MODEL_FEATURES)
    assert sum(model.climatology) == pytest.approx(1.0)
    # Class z statistics: bearish below zero, bullish above.
    assert model.class_z_mean[BEARISH] < 0.0 < model.class_z_mean[BULLISH]

    probs = model.predict_ensemble(split.validation)
    assert probs.shape == (500, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(probs >= 0.0)

    raw = model.to_json()
    restored = HorizonModel.from_json(raw)
    assert restored == model
    assert restored.to_json() == raw
    assert isinstance(restored.trained_through, date)
    np.testing.assert_array_equal(restored.predict_ensemble(split.validation), probs)
    np.testing.assert_array_equal(
        restored.supertrend_probs(split.validation), model.supertrend_probs(split.validation)
    )
    np.testing.assert_array_equal(
        restored.sr_probs(split.validation), model.sr_probs(split.validation)
    )
    assert restored.sr_probs(split.validation).shape == (500, 3)


def balanced_accuracy_of(result_probs: np.ndarray, validation: pl.DataFrame) -> float:
    labels = validation.get_column("label_1D").cast(pl.Int64).to_numpy()
    return metrics.balanced_accuracy(result_probs, labels)


@pytest.mark.usefixtures("single_thread_lightgbm")
def test_shuffled_training_labels_give_chance_skill(sessions: list[date]) -> None:
    params = replace(E2E_PARAMS, stride=1, refit=False)
    frame = synthetic_frame(sessions, 20, 300, seed=9, signal=True)
    cutoff = sessions[300]
    split = walk_forward_split(frame, "1D", cutoff, params)
    assert split.validation.height == 20 * 50

    honest = fit_horizon(split, "1D", 1, cutoff, params)
    honest_scores = honest.validation_metrics["ensemble"]
    assert honest_scores["balanced_accuracy"] > 0.6
    assert balanced_accuracy_of(honest.validation_predictions, split.validation) == pytest.approx(
        honest_scores["balanced_accuracy"]
    )
    assert honest_scores["brier_skill_score"] > 0.05

    rng = np.random.default_rng(123)
    labels = split.train.get_column("label_1D").to_numpy()
    shuffled_train = split.train.with_columns(
        pl.Series("label_1D", rng.permutation(labels), dtype=pl.Int8)
    )
    shuffled = fit_horizon(Split(shuffled_train, split.validation), "1D", 1, cutoff, params)
    chance = shuffled.validation_metrics["ensemble"]
    assert chance["balanced_accuracy"] == pytest.approx(1.0 / 3.0, abs=0.05)
    assert chance["brier_skill_score"] <= 0.01

    # the gate: the honest model serves itself (shrunk), the shuffled one climatology
    served = judge(split, "1D", 1, honest.validation_predictions, n_boot=300)
    assert served.serves == "model"
    assert served.bound.low > 0.0
    assert 0.0 < served.shrinkage <= 1.0
    withheld = judge(
        Split(shuffled_train, split.validation),
        "1D",
        1,
        shuffled.validation_predictions,
        n_boot=300,
    )
    assert withheld.serves == "climatology"
    assert withheld.shrinkage == 0.0
    assert withheld.reason is not None

    # chance within 1 point, on 20,000 fresh rows where the signal is real (a model that had
    # learned it would score ~0.9); what it serves is climatology, exactly the base rate
    fresh = synthetic_frame(sessions, 100, 200, seed=10, signal=True)
    truth = fresh.get_column("label_1D").cast(pl.Int64).to_numpy()
    raw = shuffled.model.predict_learners(fresh)
    assert metrics.balanced_accuracy(
        blend(*raw, shuffled.model.lgbm_weight), truth
    ) == pytest.approx(1.0 / 3.0, abs=0.01)
    served_probs = shrink(
        blend(*raw, shuffled.model.lgbm_weight), shuffled.model.climatology, withheld.shrinkage
    )
    assert np.allclose(served_probs, shuffled.model.climatology)
    assert metrics.balanced_accuracy(served_probs, truth) == pytest.approx(1.0 / 3.0, abs=1e-12)


@pytest.mark.usefixtures("single_thread_lightgbm")
def test_zero_volatility_training_row_keeps_target_statistics_finite(
    sessions: list[date],
) -> None:
    # hv_60 is 0 after 61 unchanged closes, so sigma is 0 on that row (forecasts skip such a
    # day as "volatility undefined or zero", and the split keeps it out of training too).
    # With zero thresholds a rise of 1 % is labelled bullish, exactly as ``classify`` does.
    frame = synthetic_frame(sessions, 10, 400, seed=5, signal=True)
    flat = (pl.col("symbol") == "S00") & (pl.col("bar_index") == 100)
    frame = frame.with_columns(
        pl.when(flat).then(0.0).otherwise(pl.col("sigma")).alias("sigma"),
        pl.when(flat).then(0.01).otherwise(pl.col("fwd_1D")).alias("fwd_1D"),
        pl.when(flat).then(BULLISH).otherwise(pl.col("label_1D")).cast(pl.Int8).alias("label_1D"),
    )
    cutoff = sessions[400]
    split = walk_forward_split(frame, "1D", cutoff, E2E_PARAMS)
    assert split.train.filter(pl.col("sigma") == 0.0).height == 0
    assert split.train.height > 600
    model = fit_horizon(split, "1D", 1, cutoff, E2E_PARAMS).model
    # One degenerate row out of ~700 must not turn a class's mean/variance into inf/NaN: the
    # pooled model's targets of every symbol are close * exp(mean_z * sigma * sqrt(h)).
    assert np.all(np.isfinite(model.class_z_mean)), model.class_z_mean
    assert np.all(np.isfinite(model.class_z_var)), model.class_z_var
    _, target, lower, upper = price_targets(
        close=np.array([100.0]),
        sigma=np.array([0.02]),
        days=63,
        probs=np.array([[0.2, 0.3, 0.5]]),
        label=np.array([BULLISH]),
        z_mean=model.class_z_mean,
        z_var=model.class_z_var,
        support=np.array([np.nan]),
        resistance=np.array([np.nan]),
    )
    assert np.isfinite(target).all()
    assert np.isfinite(lower).all()
    assert np.isfinite(upper).all()
