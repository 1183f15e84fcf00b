"""Confidence calibration: the isotonic fit with its time-ordered holdout, served only when it
helped the later rows, and the identity and piecewise-linear maps it serves."""

from __future__ import annotations

import numpy as np
import pytest

from swiftbolt_assets.calibration.confidence import (
    HOLDOUT_FRACTION,
    MIN_SAMPLES,
    fit_with_holdout,
)
from swiftbolt_assets.forecasting.forecast import IDENTITY, ConfidenceMap


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
