"""Judging a trained version out of sample: may it serve (promotion), and what does it serve
(the model shrunk toward climatology, or climatology). Pure; no Dagster.

- **Promotion** (``promotion_decision``) rejects a broken version: its ensemble's validation
  Brier is not better than the majority class's, or its skill is below ``-max_skill_loss``.
- **Serving** (``judge``) is where the skill's confidence bound decides. The version's forecast
  is rebuilt on the validation rows as live forecasting makes it (the three layers combined with
  the default weights, the rule layers' tables fitted on the training rows only); its weight
  against climatology is fitted, cross-fitted and bounded by a block bootstrap of dates
  (``shrinkage.skill_bound``, blocks as long as the horizon, halves purged by the horizon).
  Where the lower bound is not above 0, the weight is 0 or the window holds too few blocks to
  bound anything, the version serves climatology (its training class frequencies) and says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from swiftbolt_assets.forecasting.metrics import climatology_probs
from swiftbolt_assets.forecasting.models import (
    FloatArray,
    frequency_table,
    lookup_probs,
    sr_bucket,
    supertrend_state,
)
from swiftbolt_assets.forecasting.shrinkage import SkillBound, serving_decision, skill_bound
from swiftbolt_assets.forecasting.synthesizer import DEFAULT_WEIGHTS, LAYERS, combine
from swiftbolt_assets.forecasting.walk_forward import Split

SERVES_MODEL = "model"
SERVES_CLIMATOLOGY = "climatology"


def promotion_decision(
    scores: dict[str, dict[str, float]], max_skill_loss: float = 0.02
) -> str | None:
    """Why a model must not be promoted (None = promote). Blocking, out of sample:

    - its Brier score is worse than the majority-class baseline's, or
    - its Brier skill score against climatology is below ``-max_skill_loss``.
    """
    ensemble = scores["ensemble"]
    if not ensemble["brier"] < scores["majority"]["brier"]:
        return (
            f"Brier {ensemble['brier']:.4f} is not better than the majority-class baseline's "
            f"{scores['majority']['brier']:.4f}"
        )
    if not ensemble["brier_skill_score"] >= -max_skill_loss:
        return (
            f"Brier skill score {ensemble['brier_skill_score']:.4f} against climatology is below "
            f"-{max_skill_loss}"
        )
    return None


@dataclass(frozen=True)
class Judgement:
    """What a version serves: ``shrinkage`` (its weight against climatology; 0 = climatology),
    the bound behind it, and ``reason`` when it serves climatology."""

    bound: SkillBound
    shrinkage: float
    reason: str | None

    @property
    def serves(self) -> str:
        return SERVES_CLIMATOLOGY if self.shrinkage == 0.0 else SERVES_MODEL


def validation_forecast(
    split: Split, horizon: str, ensemble: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """The synthesized forecast of the validation rows (default layer weights; rule tables of
    the training rows) and the training climatology it is judged against."""
    y_train = split.train.get_column(f"label_{horizon}").cast(pl.Int64).to_numpy()
    climatology = climatology_probs(y_train)
    fallback = climatology.tolist()
    layers = {
        "supertrend": lookup_probs(
            frequency_table(supertrend_state(split.train), y_train),
            supertrend_state(split.validation),
            fallback,
        ),
        "sr": lookup_probs(
            frequency_table(sr_bucket(split.train), y_train),
            sr_bucket(split.validation),
            fallback,
        ),
        "ensemble": ensemble,
    }
    weights = np.tile([DEFAULT_WEIGHTS[layer] for layer in LAYERS], (ensemble.shape[0], 1))
    return combine(layers, weights), climatology


def judge(
    split: Split, horizon: str, sessions: int, ensemble: FloatArray, *, n_boot: int = 1000
) -> Judgement:
    """Fit, cross-fit and bound the version's weight against climatology on its validation
    rows (``ensemble``: its ensemble's validation probabilities); ``sessions``: how many
    sessions the horizon's labels overlap across (``CadenceSpec.sessions_spanned``)."""
    synthesized, climatology = validation_forecast(split, horizon, ensemble)
    validation = split.validation
    bound = skill_bound(
        synthesized,
        validation.get_column(f"label_{horizon}").cast(pl.Int64).to_numpy(),
        validation.get_column("session_date"),
        validation.get_column(f"fwd_{horizon}").to_numpy(),
        climatology,
        block_length=sessions,
        purge_sessions=sessions,
        n_boot=n_boot,
    )
    reason = serving_decision(bound)
    return Judgement(bound, bound.alpha if reason is None else 0.0, reason)
