"""Shrinkage toward climatology and the skill bound that decides between the model and
climatology (pure)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from swiftbolt_assets.forecasting import metrics
from swiftbolt_assets.forecasting.shrinkage import (
    SkillBound,
    fit_shrinkage,
    serving_decision,
    shrink,
    skill_bound,
)

CLIMATE = np.array([0.3, 0.3, 0.4])


def panel(
    n_dates: int, n_symbols: int, signal: float, seed: int
) -> tuple[np.ndarray, np.ndarray, list[date], np.ndarray]:
    """Rows of ``n_symbols`` per date: labels drawn from climatology, or (with probability
    ``signal``) told by the model, whose probabilities lean toward the class it tells."""
    rng = np.random.default_rng(seed)
    n = n_dates * n_symbols
    labels = rng.choice(3, size=n, p=CLIMATE)
    told = rng.choice(3, size=n, p=CLIMATE)
    knows = rng.random(n) < signal
    labels = np.where(knows, told, labels)
    probs = 0.6 * CLIMATE + 0.4 * metrics.one_hot(told)
    days = [date(2020, 1, 1) + timedelta(days=d) for d in range(n_dates)]
    dates = [d for d in days for _ in range(n_symbols)]
    returns = rng.normal(size=n) + (labels - 1) * 0.5
    return probs, labels, dates, returns


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    return metrics.multiclass_brier(probs, labels)


def test_the_closed_form_weight_is_the_brier_minimum() -> None:
    probs, labels, _, _ = panel(200, 10, 0.2, seed=1)
    alpha = fit_shrinkage(probs, labels, CLIMATE)
    grid = np.linspace(0.0, 1.0, 1001)
    best = grid[np.argmin([brier(shrink(probs, CLIMATE, a), labels) for a in grid])]
    assert 0.0 < alpha < 1.0
    assert abs(alpha - best) <= 1e-3


def test_the_weight_is_one_for_the_truth_and_zero_for_the_reference() -> None:
    labels = np.array([0, 1, 2, 2, 1])
    assert fit_shrinkage(metrics.one_hot(labels), labels, CLIMATE) == 1.0
    assert fit_shrinkage(np.tile(CLIMATE, (5, 1)), labels, CLIMATE) == 0.0
    # a model that is anti-informative is clipped to 0, never a negative weight
    wrong = metrics.one_hot((labels + 1) % 3)
    assert fit_shrinkage(wrong, labels, CLIMATE) == 0.0


def test_shrunk_rows_are_probabilities_and_the_weight_is_checked() -> None:
    probs, _, _, _ = panel(20, 5, 0.5, seed=2)
    shrunk = shrink(probs, CLIMATE, 0.3)
    np.testing.assert_allclose(shrunk.sum(axis=1), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        shrink(probs, CLIMATE, 1.5)


def bound(signal: float, seed: int, n_dates: int = 400, block: int = 10) -> SkillBound:
    probs, labels, dates, returns = panel(n_dates, 20, signal, seed)
    return skill_bound(
        probs,
        labels,
        dates,
        returns,
        CLIMATE,
        block_length=block,
        purge_sessions=block // 2,
        n_boot=300,
    )


def test_a_model_with_skill_is_served_shrunk() -> None:
    result = bound(signal=0.3, seed=3)
    assert result.low > 0.0
    assert 0.0 < result.alpha <= 1.0
    assert serving_decision(result) is None


def test_a_model_without_skill_serves_climatology() -> None:
    # shuffled labels: the model's probabilities say nothing about the outcome
    result = bound(signal=0.0, seed=4)
    assert result.low <= 0.0
    reason = serving_decision(result)
    assert reason is not None
    assert "lower bound is not above 0" in reason or "weight is 0" in reason


def test_cross_fitting_does_not_let_the_weight_flatter_its_own_rows() -> None:
    probs, labels, dates, returns = panel(400, 20, 0.0, seed=5)
    alpha = fit_shrinkage(probs, labels, CLIMATE)
    in_sample = 1.0 - brier(shrink(probs, CLIMATE, alpha), labels) / brier(
        np.tile(CLIMATE, (labels.size, 1)), labels
    )
    result = skill_bound(
        probs, labels, dates, returns, CLIMATE, block_length=10, purge_sessions=5, n_boot=200
    )
    assert in_sample >= 0.0  # fitted where it is scored, it can never look worse
    assert result.skill < in_sample


def test_a_short_window_cannot_bound_the_skill() -> None:
    result = bound(signal=0.3, seed=6, n_dates=60, block=20)
    assert result.blocks < 4
    assert math.isnan(result.low)  # no interval from a couple of blocks
    assert math.isnan(result.high)
    reason = serving_decision(result)
    assert reason is not None
    assert "cannot be bounded" in reason
