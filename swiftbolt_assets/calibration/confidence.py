"""Confidence calibration: raw confidence (the top class probability) → P(the label is right).

Fitted per horizon with isotonic regression (scikit-learn) on out-of-sample predictions only:
the walk-forward backtest's before live evaluations exist. The fit is monotone and stored as
its breakpoints, applied by linear interpolation, so a version is a few numbers in a table row.
Diagnostics come from a time split: fit on the earlier 70%, measure the expected calibration
error on the later 30% before and after; the stored map is then refit on everything, or is the
identity when the map made the later 30% worse (calibration that does not carry forward in
time is not applied).
Pure: no Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.isotonic import IsotonicRegression

from swiftbolt_assets.forecasting import metrics
from swiftbolt_assets.forecasting.forecast import IDENTITY, ConfidenceMap

FloatArray = npt.NDArray[np.float64]
MIN_SAMPLES = 500
HOLDOUT_FRACTION = 0.3


def fit_map(confidence: FloatArray, correct: FloatArray) -> ConfidenceMap:
    """Isotonic fit of ``correct`` (0/1) on ``confidence``."""
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(confidence, correct)
    return ConfidenceMap(
        tuple(float(v) for v in model.X_thresholds_),
        tuple(float(v) for v in model.y_thresholds_),
    )


@dataclass(frozen=True)
class CalibrationFit:
    mapping: ConfidenceMap
    n_samples: int
    ece_before: float
    ece_after: float
    n_holdout: int

    @property
    def improves(self) -> bool:
        """Whether the map fitted on the earlier part lowered the later part's calibration
        error: if not, the version serves the identity (raw confidence) instead."""
        return self.ece_after < self.ece_before

    @property
    def served(self) -> ConfidenceMap:
        return self.mapping if self.improves else IDENTITY

    @property
    def method(self) -> str:
        return "isotonic" if self.improves else "identity"


def fit_with_holdout(
    confidence: FloatArray,
    correct: FloatArray,
    order: npt.ArrayLike,
    min_samples: int = MIN_SAMPLES,
) -> CalibrationFit | None:
    """Fit on all rows; diagnostics from a time split by ``order`` (e.g. as-of dates).

    None when there are fewer than ``min_samples`` rows (keep the previous version).
    """
    n = confidence.size
    if n < min_samples:
        return None
    ranks = np.argsort(np.asarray(order), kind="stable")
    cut = int(n * (1.0 - HOLDOUT_FRACTION))
    early, late = ranks[:cut], ranks[cut:]
    holdout_map = fit_map(confidence[early], correct[early])
    return CalibrationFit(
        mapping=fit_map(confidence, correct),
        n_samples=n,
        ece_before=metrics.expected_calibration_error(confidence[late], correct[late]),
        ece_after=metrics.expected_calibration_error(
            holdout_map.apply(confidence[late]), correct[late]
        ),
        n_holdout=late.size,
    )


def fit_version(
    horizon: str,
    cutoff: date,
    *,
    live: pl.DataFrame,
    backtest: pl.DataFrame,
    min_live_target_days: int,
    min_live_samples: int,
) -> tuple[CalibrationFit, str] | None:
    """The calibration of (horizon, cutoff) and its source: on the live evaluations with a
    target date by the cutoff once they span ``min_live_target_days`` target days (and hold
    ``min_live_samples``), else on the backtest's predictions whose label ended by the cutoff;
    ``None`` when neither holds enough outcomes.

    ``live``: (horizon, as_of_date, target_date, raw_confidence, label_correct);
    ``backtest``: (horizon, as_of_date, label_end_date, confidence, correct).
    """
    known_live = live.filter((pl.col("horizon") == horizon) & (pl.col("target_date") <= cutoff))
    days = known_live.get_column("target_date").n_unique()
    if days >= min_live_target_days:
        fit = fit_with_holdout(
            known_live.get_column("raw_confidence").to_numpy(),
            known_live.get_column("label_correct").cast(pl.Float64).to_numpy(),
            known_live.get_column("as_of_date").to_numpy(),
            min_samples=min_live_samples,
        )
        if fit is not None:
            return fit, "live"
    known = backtest.filter((pl.col("horizon") == horizon) & (pl.col("label_end_date") <= cutoff))
    fit = fit_with_holdout(
        known.get_column("confidence").to_numpy(),
        known.get_column("correct").to_numpy(),
        known.get_column("as_of_date").to_numpy(),
    )
    return (fit, "backtest") if fit is not None else None


def version_row(horizon: str, cutoff: date, fit: CalibrationFit, source: str) -> dict[str, Any]:
    """The ``confidence_calibration`` row of a fitted version (written once, never changed)."""
    return {
        "version_id": f"{horizon}-{cutoff:%Y%m%d}-{source}-{fit.method}",
        "horizon": horizon,
        "fitted_through": cutoff,
        "method": fit.method,
        "source": source,
        "n_samples": fit.n_samples,
        "n_holdout": fit.n_holdout,
        "ece_before": fit.ece_before,
        "ece_after": fit.ece_after,
        "x": list(fit.served.x),
        "y": list(fit.served.y),
    }
