"""The models' rule layers and their promotion gate: shrunk frequency tables, the SuperTrend
state and S/R bucket keys, and ``promotion_decision`` (better than majority, within the skill
floor)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from swiftbolt_assets.forecasting import metrics
from swiftbolt_assets.forecasting.gate import promotion_decision
from swiftbolt_assets.forecasting.labels import BULLISH
from swiftbolt_assets.forecasting.models import (
    _SMOOTHING,
    frequency_table,
    sr_bucket,
    supertrend_state,
)

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
