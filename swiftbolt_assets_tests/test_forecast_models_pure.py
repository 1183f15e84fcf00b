"""Walk-forward split, rule-layer tables, promotion, calibration and a tiny end-to-end fit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import polars as pl
import pytest

from swiftbolt_assets.calendar import sessions_between
from swiftbolt_assets.calibration.confidence import (
    HOLDOUT_FRACTION,
    MIN_SAMPLES,
    fit_with_holdout,
)
from swiftbolt_assets.forecasting import metrics, models
from swiftbolt_assets.forecasting.dataset import MODEL_FEATURES
from swiftbolt_assets.forecasting.forecast import IDENTITY, ConfidenceMap
from swiftbolt_assets.forecasting.labels import BEARISH, BULLISH, NEUTRAL, add_labels
from swiftbolt_assets.forecasting.models import (
    _SMOOTHING,
    HorizonModel,
    Split,
    TrainingParams,
    fit_horizon,
    frequency_table,
    promotion_decision,
    sr_bucket,
    supertrend_state,
    walk_forward_split,
)
from swiftbolt_assets.forecasting.synthesizer import price_targets


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
                    "session_index": np.arange(N_SESSIONS, dtype=np.int32),
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
    validation_indices = sorted(set(validation.get_column("session_index").to_list()))
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
    train_indices = sorted(set(train.get_column("session_index").to_list()))
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
    indices = set(split.validation.get_column("session_index").to_list())
    assert indices == set(range(last - 99, last + 1))
    known = labelled.filter(pl.col("end_1W") <= saturday)
    assert known.get_column("session_index").max() == last


def test_walk_forward_split_stride_keeps_multiples(
    labelled: pl.DataFrame, sessions: list[date]
) -> None:
    split = walk_forward_split(labelled, "1W", sessions[700], replace(SPLIT_PARAMS, stride=3))
    indices = split.train.get_column("session_index").to_numpy()
    assert indices.size > 0
    assert np.all(indices % 3 == 0)
    assert sorted(set(indices.tolist())) == list(range(0, 586, 3))
    # The validation is not thinned.
    assert split.validation.height == 300


def test_walk_forward_split_max_train_sessions_limits_the_start(
    labelled: pl.DataFrame, sessions: list[date]
) -> None:
    split = walk_forward_split(
        labelled, "1W", sessions[700], replace(SPLIT_PARAMS, max_train_sessions=200)
    )
    indices = split.train.get_column("session_index")
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
    assert one.validation.get_column("session_index").to_list() == [0, 0, 0]
    assert one.train.is_empty()


# --- rule layers ---------------------------------------------------------------------------


def test_frequency_table_shrinks_toward_the_overall_frequencies() -> None:
    keys = ["a", "a", "a", "b", "b", "c"]
    labels = np.array([2, 2, 0, 1, 1, 1], dtype=np.int64)
    table = frequency_table(keys, labels)
    assert set(table) == {"a", "b", "c"}
    # Prior (climatology, add-one): counts (1, 3, 2) -> (2, 4, 3) / 9.
    prior = np.array([2.0, 4.0, 3.0]) / 9.0
    np.testing.assert_allclose(metrics.climatology_probs(labels), prior)
    s = _SMOOTHING
    expected_a = (np.array([1.0, 0.0, 2.0]) + s * prior) / (3.0 + s)
    np.testing.assert_allclose(table["a"], expected_a, rtol=1e-12)
    # By hand with 50 pseudo-counts: (1 + 100/9, 200/9, 2 + 150/9) / 53.
    np.testing.assert_allclose(
        table["a"], [(1 + 100 / 9) / 53, (200 / 9) / 53, (2 + 150 / 9) / 53], rtol=1e-12
    )
    np.testing.assert_allclose(table["c"], (np.array([0.0, 1.0, 0.0]) + s * prior) / (1.0 + s))
    for row in table.values():
        assert sum(row) == pytest.approx(1.0, abs=1e-12)


def test_frequency_table_moves_toward_the_key_frequency_with_more_rows() -> None:
    rng = np.random.default_rng(2)
    base = rng.integers(0, 3, 3000)
    keys = ["rare"] * 5 + ["common"] * 3000
    keys += ["frequent_bull"] * 2000
    labels = np.concatenate([np.full(5, BULLISH), base, np.full(2000, BULLISH)]).astype(np.int64)
    table = frequency_table(keys, labels)
    # 5 bullish rows barely move the prior; 2000 bullish rows dominate it.
    prior = metrics.climatology_probs(labels)
    assert abs(table["rare"][BULLISH] - prior[BULLISH]) < 0.1
    assert table["frequent_bull"][BULLISH] > 0.97
    assert table["rare"][BULLISH] < table["frequent_bull"][BULLISH]


def test_supertrend_state_on_hand_rows() -> None:
    rows = pl.DataFrame(
        {
            "supertrend_dir_10_3": [1.0, -1.0, None, 1.0, -1.0, None],
            "st_ai_trend": [1.0, 1.0, 1.0, None, -1.0, None],
        },
        schema={"supertrend_dir_10_3": pl.Float32, "st_ai_trend": pl.Float32},
    )
    assert supertrend_state(rows) == ["1/1", "-1/1", "na", "na", "-1/-1", "na"]


def test_sr_bucket_on_hand_rows() -> None:
    rows = pl.DataFrame(
        {
            "support_distance_atr": [1.0, 9.0, None, None, 2.0, 1.0, 3.0, 7.0],
            "resistance_distance_atr": [9.0, 1.0, None, 2.0, None, 1.0, 7.0, 3.0],
        }
    )
    # positions 0.1, 0.9, -, -, -, 0.5, 0.3, 0.7
    assert sr_bucket(rows) == [
        "q0",
        "q4",
        "none",
        "no_support",
        "no_resistance",
        "q2",
        "q1",
        "q3",
    ]


# --- promotion -----------------------------------------------------------------------------


def scores(
    ensemble_brier: float, majority_brier: float, skill: float
) -> dict[str, dict[str, float]]:
    return {
        "ensemble": {"brier": ensemble_brier, "brier_skill_score": skill},
        "majority": {"brier": majority_brier, "brier_skill_score": -0.5},
    }


def test_promotion_decision_promotes_a_model_within_the_floor() -> None:
    assert promotion_decision(scores(0.64, 0.9, 0.01)) is None
    assert promotion_decision(scores(0.64, 0.9, -0.019)) is None
    assert promotion_decision(scores(0.64, 0.9, -0.04), max_skill_loss=0.05) is None


def test_promotion_decision_blocks_a_model_not_better_than_majority() -> None:
    reason = promotion_decision(scores(0.9, 0.9, 0.01))
    assert reason is not None
    assert "majority" in reason
    worse = promotion_decision(scores(0.95, 0.9, 0.01))
    assert worse is not None
    assert "majority" in worse
    nan = promotion_decision(scores(float("nan"), 0.9, 0.01))
    assert nan is not None
    assert "majority" in nan


def test_promotion_decision_blocks_a_model_below_the_skill_floor() -> None:
    reason = promotion_decision(scores(0.64, 0.9, -0.03))
    assert reason is not None
    assert "skill" in reason
    assert "majority" not in reason
    assert promotion_decision(scores(0.64, 0.9, -0.03), max_skill_loss=0.05) is None
    nan = promotion_decision(scores(0.64, 0.9, float("nan")))
    assert nan is not None
    assert "skill" in nan


# --- calibration ---------------------------------------------------------------------------


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.34, 1.0, n)
    correct = (rng.random(n) < confidence * 0.6).astype(np.float64)
    return confidence, correct


def test_calibration_needs_min_samples() -> None:
    confidence, correct = overconfident(MIN_SAMPLES, 1)
    assert fit_with_holdout(confidence[:-1], correct[:-1], np.arange(MIN_SAMPLES - 1)) is None
    assert fit_with_holdout(confidence, correct, np.arange(MIN_SAMPLES)) is not None


def test_calibration_lowers_overconfident_predictions() -> None:
    confidence, correct = overconfident(6000, 2)
    fit = fit_with_holdout(confidence, correct, np.arange(6000))
    assert fit is not None
    assert fit.n_samples == 6000
    assert fit.n_holdout == round(6000 * HOLDOUT_FRACTION)
    assert fit.ece_before == pytest.approx(0.4 * 0.67, abs=0.03)
    assert fit.ece_after < fit.ece_before / 3
    # Inside the bulk of the data the map sits near the true hit rate 0.6 * confidence (the
    # isotonic fit's extreme blocks hold only a few rows, so the edges are left out).
    grid = np.linspace(0.4, 0.95, 56)
    mapped = fit.mapping.apply(grid)
    assert np.all(mapped < grid)
    np.testing.assert_allclose(mapped, 0.6 * grid, atol=0.08)
    full = fit.mapping.apply(np.linspace(0.0, 1.0, 201))
    assert np.all(np.diff(full) >= 0.0)
    assert np.all(np.diff(fit.mapping.x) > 0.0)
    assert np.all(np.diff(fit.mapping.y) >= 0.0)
    assert min(fit.mapping.y) >= 0.0
    assert max(fit.mapping.y) <= 1.0


def test_calibration_serves_the_map_only_if_it_helped_the_later_rows() -> None:
    confidence, correct = overconfident(6000, 4)
    helped = fit_with_holdout(confidence, correct, np.arange(6000))
    assert helped is not None
    assert (helped.improves, helped.method) == (True, "isotonic")
    assert helped.served == helped.mapping
    # earlier rows overconfident, later rows calibrated: a map fitted on the former hurts the
    # latter, so the version serves raw confidence
    rng = np.random.default_rng(5)
    late = rng.uniform(0.34, 1.0, 2000)
    late_correct = (rng.random(2000) < late).astype(np.float64)
    shifted = fit_with_holdout(
        np.concatenate([confidence[:4000], late]),
        np.concatenate([correct[:4000], late_correct]),
        np.arange(6000),
    )
    assert shifted is not None
    assert shifted.ece_after > shifted.ece_before
    assert (shifted.improves, shifted.method) == (False, "identity")
    assert shifted.served == IDENTITY
    np.testing.assert_array_equal(shifted.served.apply(late), late)


def test_calibration_holdout_is_the_latest_rows_by_order() -> None:
    # Early rows (by order) are calibrated, late rows overconfident: measured on the late 30 %.
    rng = np.random.default_rng(3)
    n = 4000
    confidence = rng.uniform(0.34, 1.0, n)
    late = np.arange(n) >= 2800
    hit_rate = np.where(late, confidence * 0.5, confidence)
    correct = (rng.random(n) < hit_rate).astype(np.float64)
    forward = fit_with_holdout(confidence, correct, np.arange(n))
    shuffled = rng.permutation(n)
    # Same rows in another position order, same `order` keys: the holdout is still the late rows.
    reordered = fit_with_holdout(confidence[shuffled], correct[shuffled], shuffled)
    assert forward is not None
    assert reordered is not None
    assert forward.ece_before == pytest.approx(reordered.ece_before, abs=1e-12)
    assert forward.ece_before == pytest.approx(0.5 * 0.67, abs=0.04)


def test_identity_map_returns_its_input() -> None:
    raw = np.array([0.0, 0.34, 0.5, 0.99, 1.0])
    np.testing.assert_array_equal(IDENTITY.apply(raw), raw)
    np.testing.assert_array_equal(IDENTITY.apply([0.4, 0.6]), [0.4, 0.6])
    mapping = ConfidenceMap((0.4, 0.8), (0.3, 0.5))
    np.testing.assert_allclose(mapping.apply([0.2, 0.4, 0.6, 0.8, 0.9]), [0.3, 0.3, 0.4, 0.5, 0.5])


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
        "session_index": index,
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


@pytest.fixture
def single_thread_lightgbm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Train LightGBM on one thread: with ``num_threads = os.cpu_count()`` and OpenMP's
    busy-waiting, a tiny fit takes tens of seconds when another process holds a core."""
    common = models._common
    monkeypatch.setattr(models, "_common", lambda seed: common(seed) | {"num_threads": 1})


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


@pytest.mark.usefixtures("single_thread_lightgbm")
def test_zero_volatility_training_row_keeps_target_statistics_finite(
    sessions: list[date],
) -> None:
    # hv_60 is 0 after 61 unchanged closes, so sigma is 0 on that row (forecasts skip such a
    # day as "volatility undefined or zero", and the split keeps it out of training too).
    # With zero thresholds a rise of 1 % is labelled bullish, exactly as ``classify`` does.
    frame = synthetic_frame(sessions, 10, 400, seed=5, signal=True)
    flat = (pl.col("symbol") == "S00") & (pl.col("session_index") == 100)
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
