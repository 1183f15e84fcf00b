"""The synthesizer's layer blending (``combine``) and price targets (levels, bands), and the
forecast helpers: contradictions and target dates on the exchange calendar.

The weight precedence (``resolve_weights``) is in ``test_forecast_weight_precedence``.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from swiftbolt_assets.cadence import target_sessions as target_dates
from swiftbolt_assets.calendar import sessions_between
from swiftbolt_assets.forecasting.forecast import contradictions
from swiftbolt_assets.forecasting.labels import BEARISH, BULLISH, NEUTRAL
from swiftbolt_assets.forecasting.synthesizer import (
    BAND_Z,
    LAYERS,
    LEVEL_BOUND_MAX_DAYS,
    combine,
    price_targets,
    score,
)

# --- combine -------------------------------------------------------------------------------


def random_layers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {layer: rng.dirichlet(np.ones(3), size=n) for layer in LAYERS}


def test_combine_with_all_weight_on_one_layer_returns_that_layer() -> None:
    rng = np.random.default_rng(3)
    layers = random_layers(rng, 50)
    for i, layer in enumerate(LAYERS):
        weights = np.zeros((50, 3))
        weights[:, i] = 2.5
        np.testing.assert_allclose(combine(layers, weights), layers[layer], rtol=0, atol=1e-15)


def test_combine_is_the_normalized_weighted_average() -> None:
    rng = np.random.default_rng(4)
    layers = random_layers(rng, 40)
    weights = rng.uniform(0.0, 3.0, size=(40, 3))
    mixed = combine(layers, weights)
    share = weights / weights.sum(axis=1, keepdims=True)
    expected = sum(share[:, [i]] * layers[layer] for i, layer in enumerate(LAYERS))
    np.testing.assert_allclose(mixed, expected, rtol=1e-12)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    other = combine(layers, weights[:, ::-1].copy())
    assert np.abs(other - mixed).max() > 0.01


def test_combine_hand_row() -> None:
    layers = {
        "supertrend": np.array([[0.6, 0.2, 0.2]]),
        "sr": np.array([[0.2, 0.6, 0.2]]),
        "ensemble": np.array([[0.1, 0.1, 0.8]]),
    }
    mixed = combine(layers, np.array([[0.15, 0.15, 0.70]]))
    # 0.15*0.6 + 0.15*0.2 + 0.7*0.1 = 0.19; 0.15*0.2 + 0.15*0.6 + 0.07 = 0.19; 0.62
    np.testing.assert_allclose(mixed, [[0.19, 0.19, 0.62]], rtol=1e-12)
    np.testing.assert_allclose(score(mixed), [0.43], rtol=1e-12)


@pytest.mark.parametrize(
    "bad_row", [[-0.1, 0.5, 0.6], [0.0, 0.0, 0.0], [1.0, -1.0, 0.0], [0.5, 0.5, -2.0]]
)
def test_combine_rejects_negative_or_zero_sum_weights(bad_row: list[float]) -> None:
    rng = np.random.default_rng(5)
    layers = random_layers(rng, 3)
    weights = np.array([[0.2, 0.3, 0.5], bad_row, [0.1, 0.1, 0.8]])
    with pytest.raises(ValueError, match="non-negative"):
        combine(layers, weights)


# --- price_targets -------------------------------------------------------------------------

Z_MEAN = [-1.2, 0.0, 1.2]
Z_VAR = [0.3, 0.1, 0.3]


def random_target_inputs(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = rng.uniform(5.0, 500.0, n)
    probs = rng.dirichlet(np.full(3, 0.7), size=n)
    label = np.where(rng.random(n) < 0.5, probs.argmax(axis=1), rng.integers(0, 3, n))

    def level() -> np.ndarray:
        kind = rng.integers(0, 4, n)
        below = close * rng.uniform(0.7, 0.999, n)
        above = close * rng.uniform(1.001, 1.3, n)
        return np.select([kind == 0, kind == 1, kind == 2], [below, above, close], np.nan)

    return {
        "close": close,
        "sigma": rng.uniform(0.003, 0.06, n),
        "probs": probs,
        "label": label.astype(np.int64),
        "support": level(),
        "resistance": level(),
    }


@pytest.mark.parametrize("days", [1, 5, 21, 63])
def test_price_targets_invariants_on_random_rows(days: int) -> None:
    x = random_target_inputs(days, 4000)
    close, label = x["close"], x["label"]
    predicted, target, lower, upper = price_targets(
        close=close,
        sigma=x["sigma"],
        days=days,
        probs=x["probs"],
        label=label,
        z_mean=Z_MEAN,
        z_var=Z_VAR,
        support=x["support"],
        resistance=x["resistance"],
    )
    bullish, bearish, neutral = label == BULLISH, label == BEARISH, label == NEUTRAL
    assert bullish.sum() > 500
    assert bearish.sum() > 500
    assert not np.any(target[bullish] <= close[bullish])
    assert not np.any(target[bearish] >= close[bearish])
    assert np.all(np.isfinite(target))
    assert np.all(lower <= target)
    assert np.all(target <= upper)
    assert np.all(lower < upper)
    np.testing.assert_allclose(predicted, target / close - 1.0, rtol=1e-12, atol=1e-15)
    unbounded = close * np.exp(np.asarray(Z_MEAN)[label] * x["sigma"] * math.sqrt(days))
    resistance_above = x["resistance"] > close
    support_below = x["support"] < close
    if days <= LEVEL_BOUND_MAX_DAYS:
        capped = bullish & resistance_above
        floored = bearish & support_below
        assert not np.any(target[capped] > x["resistance"][capped])
        assert not np.any(target[floored] < x["support"][floored])
        # Levels only ever pull the target toward the close.
        np.testing.assert_allclose(
            target[capped], np.minimum(unbounded, x["resistance"])[capped], rtol=1e-12
        )
        np.testing.assert_allclose(
            target[floored], np.maximum(unbounded, x["support"])[floored], rtol=1e-12
        )
        # The levels bind somewhere (else the bound checks above prove nothing).
        assert np.any(target[capped] < unbounded[capped])
        assert np.any(target[floored] > unbounded[floored])
        # Without a level on the right side the target is the unbounded one.
        free = (bullish & ~resistance_above) | (bearish & ~support_below)
        np.testing.assert_allclose(target[free], unbounded[free], rtol=1e-12)
        # A neutral target (the close itself with z_mean 0) stays inside the levels.
        np.testing.assert_allclose(target[neutral], close[neutral], rtol=1e-12)
    else:
        np.testing.assert_allclose(target, unbounded, rtol=1e-12)
        # Some levels would have bound at a short horizon: they are ignored here.
        assert np.any(bullish & resistance_above & (unbounded > x["resistance"]))


def test_price_targets_hand_row_band_and_target() -> None:
    predicted, target, lower, upper = price_targets(
        close=np.array([100.0]),
        sigma=np.array([0.01]),
        days=4,
        probs=np.array([[0.2, 0.3, 0.5]]),
        label=np.array([BULLISH]),
        z_mean=Z_MEAN,
        z_var=Z_VAR,
        support=np.array([np.nan]),
        resistance=np.array([np.nan]),
    )
    # scale = 0.01 * sqrt(4) = 0.02; target = 100 * exp(1.2 * 0.02)
    assert target[0] == pytest.approx(100.0 * math.exp(0.024), rel=1e-12)
    assert predicted[0] == pytest.approx(math.exp(0.024) - 1.0, rel=1e-12)
    # mixture mean = -0.24 + 0 + 0.6 = 0.36;
    # E[z^2] = 0.2 * (0.3 + 1.44) + 0.3 * 0.1 + 0.5 * (0.3 + 1.44) = 1.248; var = 1.248 - 0.1296
    half = BAND_Z * math.sqrt(1.1184)
    assert lower[0] == pytest.approx(100.0 * math.exp((0.36 - half) * 0.02), rel=1e-12)
    assert upper[0] == pytest.approx(100.0 * math.exp((0.36 + half) * 0.02), rel=1e-12)
    assert upper[0] == pytest.approx(103.4901, abs=1e-4)
    assert lower[0] == pytest.approx(98.0291, abs=1e-4)


def test_price_targets_band_widens_to_the_target_and_levels_bound_it() -> None:
    # Mostly-bearish probabilities, bullish label: the band lies below the target.
    _, target, lower, upper = price_targets(
        close=np.array([100.0, 100.0]),
        sigma=np.array([0.01, 0.01]),
        days=4,
        probs=np.array([[0.9, 0.05, 0.05], [0.2, 0.3, 0.5]]),
        label=np.array([BULLISH, BULLISH]),
        z_mean=Z_MEAN,
        z_var=Z_VAR,
        support=np.array([np.nan, 99.0]),
        resistance=np.array([np.nan, 101.0]),
    )
    # Row 0: mean -1.02, var 1.658 - 1.0404 = 0.6176: the band top exp((-1.02 + 1.0072)*0.02)
    # is under the target, so the upper band is the target itself.
    assert target[0] == pytest.approx(100.0 * math.exp(0.024), rel=1e-12)
    assert upper[0] == target[0]
    half = BAND_Z * math.sqrt(0.6176)
    assert lower[0] == pytest.approx(100.0 * math.exp((-1.02 - half) * 0.02), rel=1e-12)
    # Row 1: the resistance 101 caps the bullish target 102.43.
    assert target[1] == 101.0
    assert lower[1] < 100.0
    assert upper[1] > 101.0


# --- forecast helpers ----------------------------------------------------------------------


def test_contradictions_finds_only_inconsistent_rows() -> None:
    forecasts = pl.DataFrame(
        {
            "row": [0, 1, 2, 3, 4, 5, 6, 7],
            "label": [
                "bullish",
                "bullish",
                "bearish",
                "bearish",
                "bullish",
                "bearish",
                "neutral",
                "neutral",
            ],
            "close": [100.0] * 8,
            "target_price": [99.0, 100.0, 101.0, 100.0, 101.0, 99.0, 120.0, 80.0],
        }
    )
    found = contradictions(forecasts)
    assert found.get_column("row").to_list() == [0, 1, 2, 3]
    assert contradictions(forecasts.filter(pl.col("row") >= 4)).is_empty()


@pytest.fixture(scope="module")
def xnys_sessions() -> list[date]:
    return sessions_between("XNYS", date(2020, 1, 2), date(2022, 12, 30))


def test_target_dates_skip_good_friday(xnys_sessions: list[date]) -> None:
    as_of = pl.Series("as_of_date", [date(2021, 4, 1), date(2021, 3, 31), date(2021, 4, 1)])
    one = target_dates(as_of, 1, xnys_sessions)
    assert one.name == "target_date"
    assert one.dtype == pl.Date
    assert one.to_list() == [date(2021, 4, 5), date(2021, 4, 1), date(2021, 4, 5)]
    assert target_dates(as_of, 5, xnys_sessions).to_list() == [
        date(2021, 4, 9),
        date(2021, 4, 8),
        date(2021, 4, 9),
    ]


def test_target_dates_raise_when_the_calendar_is_too_short(xnys_sessions: list[date]) -> None:
    last_two = pl.Series("as_of_date", [date(2022, 12, 28), date(2022, 12, 29)])
    assert target_dates(last_two, 1, xnys_sessions).to_list() == [
        date(2022, 12, 29),
        date(2022, 12, 30),
    ]
    with pytest.raises(ValueError, match="does not reach"):
        target_dates(last_two, 2, xnys_sessions)
    with pytest.raises(ValueError, match="does not reach"):
        target_dates(pl.Series("as_of_date", [date(2021, 6, 1)]), 600, xnys_sessions)
