"""Training the due model versions of a cadence: the loop behind ``forecast_models``. Pure.

Given the labelled frame (``training_frame``) and the due (cutoff, horizon) versions, each
version is split walk-forward (purge + embargo), fitted, measured out of sample and judged by
the promotion gate; a version with too little labelled history is not trained and says why.
Every trained version becomes a ``model_registry`` row (scalars, JSON and the artifact).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.forecasting.bins import SharedBins, with_row_ids
from swiftbolt_assets.forecasting.dataset import model_features, with_bar_index
from swiftbolt_assets.forecasting.gate import judge, promotion_decision
from swiftbolt_assets.forecasting.labels import add_labels
from swiftbolt_assets.forecasting.models import artifact_digest, fit_horizon, shared_bins
from swiftbolt_assets.forecasting.walk_forward import Split, TrainingParams, walk_forward_split

logger = logging.getLogger(__name__)

# Symbols without a full validation year still train nothing: fewer rows than this (counted
# before thinning overlapping labels: ``covered_rows``).
MIN_TRAIN_ROWS = 1000
MIN_VALIDATION_ROWS = 200
ALL_CLASSES = 3


def training_frame(
    inputs: pl.DataFrame, closes: pl.DataFrame, sessions: list[date], spec: CadenceSpec = DAILY
) -> pl.DataFrame:
    """Model inputs (``dataset.model_inputs``) joined to their ``label_close`` (symbol,
    session_date), indexed on the calendar ``sessions`` and labelled for every horizon."""
    joined = inputs.join(closes, on=["symbol", "session_date"], how="inner")
    return add_labels(with_bar_index(joined, sessions), spec.horizons, close_column="label_close")


def intraday_training_frame(
    inputs: pl.DataFrame, closes: pl.DataFrame, slots: pl.DataFrame, spec: CadenceSpec
) -> pl.DataFrame:
    """Model inputs of an intraday cadence's bars joined to their ``label_close`` (symbol,
    ts), indexed on the cadence's bar slots (``cadence.bar_slots``: ``bar_index`` is the
    slot's, so a missing bar leaves a gap in it) and labelled within the session (no window
    crosses the close or a missing bar). A bar that ends on no slot (outside the regular
    session) has no row."""
    assert spec.bar_minutes is not None
    bar = timedelta(minutes=spec.bar_minutes)
    joined = inputs.join(closes, on=["symbol", "ts"], how="inner").with_columns(
        (pl.col("ts") + bar).alias("slot_end")
    )
    indexed = joined.join(
        slots.select("slot_end", pl.col("slot_index").alias("bar_index")), on="slot_end"
    )
    return add_labels(
        indexed,
        spec.horizons,
        close_column="label_close",
        order="slot_end",
        within_session=True,
    )


@dataclass
class TrainingOutcome:
    """What a training run produced: registry rows, a summary per trained version (UI
    metadata) and the versions not trained, with their reasons."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    trained: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def merged(self, other: TrainingOutcome) -> TrainingOutcome:
        """This outcome and ``other`` (another cadence's) as one."""
        return TrainingOutcome(
            self.rows + other.rows, self.trained + other.trained, self.skipped + other.skipped
        )

    @property
    def rejected(self) -> list[str]:
        return [t["version_id"] for t in self.trained if t["promoted"] != "yes"]


def _finite_or_none(value: float) -> float | None:
    """An undefined bound (too few blocks to resample) is stored as null, not NaN."""
    return value if math.isfinite(value) else None


def covered_rows(split: Split, params: TrainingParams, days: int) -> int:
    """The training rows of ``split`` as the ``stride`` would have kept them before thinning
    overlapping labels (what ``MIN_TRAIN_ROWS`` is about: how much history, not how thinned)."""
    return split.train.height * params.thinning(days)


def train_versions(
    frame: pl.DataFrame,
    due: list[tuple[date, str]],
    params: TrainingParams,
    *,
    max_skill_loss: float,
    run_id: str,
    spec: CadenceSpec = DAILY,
    log: Callable[[str], None] = logger.info,
    warn: Callable[[str], None] = logger.warning,
) -> TrainingOutcome:
    """Fit, measure and judge every due (cutoff, horizon) version on ``frame``."""
    outcome = TrainingOutcome()
    frame = with_row_ids(frame)
    bins: SharedBins | None = None
    for cutoff, horizon in due:
        began = time.perf_counter()
        bars = spec.horizons[horizon]
        split = walk_forward_split(frame, horizon, cutoff, params, days=bars)
        labels_seen = split.train.get_column(f"label_{horizon}").n_unique()
        covered = covered_rows(split, params, bars)
        if (
            covered < MIN_TRAIN_ROWS
            or split.validation.height < MIN_VALIDATION_ROWS
            or labels_seen < ALL_CLASSES
        ):
            reason = (
                f"too little labelled history before {cutoff}: {covered} "
                f"training rows (need {MIN_TRAIN_ROWS}), {split.validation.height} "
                f"validation rows (need {MIN_VALIDATION_ROWS}), {labels_seen} classes"
            )
            warn(f"{horizon} cutoff {cutoff}: not trained: {reason}")
            outcome.skipped.append({"horizon": horizon, "cutoff": str(cutoff), "reason": reason})
            continue
        if params.shared_bins and (bins is None or bins.through != cutoff):
            bins = None  # one cutoff's bins at a time (memory)
            bins = shared_bins(frame, params, cutoff, model_features(spec))
            log(f"binned {bins.rows if bins else 0} rows through {cutoff} once for its fits")
        result = fit_horizon(
            split, horizon, bars, cutoff, params, bins=bins, features=model_features(spec)
        )
        rejection = promotion_decision(result.validation_metrics, max_skill_loss)
        judgement = judge(
            split, horizon, spec.sessions_spanned(bars), result.validation_predictions
        )
        bound = judgement.bound
        model = replace(
            result.model,
            shrinkage=judgement.shrinkage,
            serving_reason=judgement.reason,
            skill_low=_finite_or_none(bound.low),
        )
        artifact = model.to_json()
        digest = artifact_digest(artifact)
        seconds = time.perf_counter() - began
        scores = result.validation_metrics
        version_id = f"{horizon}-{cutoff:%Y%m%d}-{digest[:10]}"
        outcome.rows.append(
            {
                "version_id": version_id,
                "horizon": horizon,
                "horizon_days": bars,
                "timeframe": spec.timeframe,
                "trained_through": cutoff,
                "feature_list": result.model.features,
                "hyperparameters": result.model.params,
                "lgbm_weight": result.model.lgbm_weight,
                "oos_metrics": scores,
                "n_train": result.n_train,
                "n_validation": result.n_validation,
                "promoted": rejection is None,
                "rejection_reason": rejection,
                "serves": judgement.serves,
                "shrinkage": judgement.shrinkage,
                "skill": _finite_or_none(bound.skill),
                "skill_low": _finite_or_none(bound.low),
                "skill_high": _finite_or_none(bound.high),
                "skill_n_eff": _finite_or_none(bound.n_eff),
                "serving_reason": judgement.reason,
                "train_seconds": round(seconds, 3),
                "artifact": artifact,
                "artifact_sha256": digest,
                "run_id": run_id,
            }
        )
        verdict = "promoted" if rejection is None else f"NOT promoted: {rejection}"
        verdict += (
            f"; serves the model shrunk to {judgement.shrinkage:.2f}"
            if judgement.reason is None
            else f"; serves climatology: {judgement.reason}"
        )
        log(
            f"{horizon} cutoff {cutoff}: {result.n_train} train / {result.n_validation} "
            f"validation rows, blend {result.model.lgbm_weight:.1f} LightGBM, Brier "
            f"{scores['ensemble']['brier']:.4f} vs climatology "
            f"{scores['climatology']['brier']:.4f}, {seconds:.1f}s: {verdict}"
        )
        outcome.trained.append(
            {
                "version_id": version_id,
                "cutoff": str(cutoff),
                "n_train": result.n_train,
                "lgbm_weight": result.model.lgbm_weight,
                "brier": scores["ensemble"]["brier"],
                "climatology_brier": scores["climatology"]["brier"],
                "brier_skill_score": scores["ensemble"]["brier_skill_score"],
                "balanced_accuracy": scores["ensemble"]["balanced_accuracy"],
                "promoted": "yes" if rejection is None else f"no: {rejection}",
                "serves": judgement.serves,
                "skill_95": f"{bound.skill:.4f} [{bound.low:.4f}, {bound.high:.4f}]",
                "shrinkage": judgement.shrinkage,
                "seconds": round(seconds, 1),
            }
        )
    return outcome
