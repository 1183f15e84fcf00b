"""Never worse than the base rate: shrink a model's probabilities toward climatology, and serve
the model only where its skill's lower confidence bound is above 0. Pure numpy; no Dagster.

The served forecast is ``alpha * p + (1 - alpha) * c`` where ``c`` is climatology (the training
class frequencies) and ``alpha`` in [0, 1] minimizes the mean multiclass Brier score on
out-of-sample rows. For the Brier score the minimizer has a closed form::

    alpha* = sum((p - c) . (y - c)) / sum(|p - c|^2), clipped to [0, 1]

(``y`` the one-hot outcome). Fitted on rows it is then scored on, that shrunk forecast can never
look worse than climatology (``alpha = 0`` scores exactly 0), so its skill there says nothing.
:func:`skill_bound` therefore cross-fits: the validation dates are cut into two halves with a
purge of ``purge_sessions`` dates between them (a label of one half must not overlap the other),
``alpha`` fitted on each half shrinks the other half's forecasts, and the skill of those pooled
out-of-sample forecasts against climatology gets a moving-block bootstrap interval by date
(:mod:`intervals`). The ``alpha`` that is served is fitted on every validation row.

:func:`serving_decision` turns the bound into the choice between the model and climatology.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from swiftbolt_assets.forecasting.intervals import Dates, date_index, score_intervals
from swiftbolt_assets.forecasting.metrics import N_CLASSES, FloatArray, one_hot

# fewer independent blocks than this and a bootstrap interval is not an interval
MIN_BLOCKS = 4


def _reference(reference: npt.ArrayLike, n: int) -> FloatArray:
    ref = np.asarray(reference, dtype=np.float64)
    if ref.shape == (N_CLASSES,):
        return np.tile(ref, (n, 1))
    if ref.shape != (n, N_CLASSES):
        raise ValueError(f"reference must have shape ({N_CLASSES},) or ({n}, {N_CLASSES})")
    return ref


def fit_shrinkage(probs: npt.ArrayLike, labels: npt.ArrayLike, reference: npt.ArrayLike) -> float:
    """The weight ``alpha`` in [0, 1] of ``probs`` against ``reference`` (climatology) that
    minimizes the mean multiclass Brier score of the blend on these rows; 0 when ``probs`` is
    the reference (nothing to weigh) or there are no rows."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != N_CLASSES:
        raise ValueError(f"probs must have shape (n, {N_CLASSES}), got {p.shape}")
    if p.shape[0] == 0:
        return 0.0
    c = _reference(reference, p.shape[0])
    y = one_hot(labels)
    if y.shape[0] != p.shape[0]:
        raise ValueError(f"labels has {y.shape[0]} rows, expected {p.shape[0]}")
    gap = p - c
    denominator = float(np.sum(gap * gap))
    if denominator <= 0.0:
        return 0.0
    return float(np.clip(np.sum(gap * (y - c)) / denominator, 0.0, 1.0))


def shrink(probs: npt.ArrayLike, reference: npt.ArrayLike, alpha: float) -> FloatArray:
    """``alpha * probs + (1 - alpha) * reference`` (rows still sum to 1)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    p = np.asarray(probs, dtype=np.float64)
    shrunk: FloatArray = alpha * p + (1.0 - alpha) * _reference(reference, p.shape[0])
    return shrunk


@dataclass(frozen=True)
class SkillBound:
    """The served weight and the cross-fitted skill of the shrunk forecast against climatology.

    ``alpha``: fitted on every row (what is served); ``skill`` with ``low``/``high``: the
    out-of-sample (cross-fitted) Brier skill and its bootstrap interval; ``n``/``n_eff``: rows
    scored and their effective number; ``blocks``: independent date blocks in the window.
    """

    alpha: float
    skill: float
    low: float
    high: float
    n: int
    n_eff: float
    blocks: float


def skill_bound(
    probs: npt.ArrayLike,
    labels: npt.ArrayLike,
    dates: Dates,
    realized_return: npt.ArrayLike,
    reference: npt.ArrayLike,
    *,
    block_length: int,
    purge_sessions: int,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> SkillBound:
    """Cross-fitted skill of the shrunk forecast and its ``level`` block-bootstrap interval."""
    p = np.asarray(probs, dtype=np.float64)
    n = p.shape[0]
    y = np.asarray(labels, dtype=np.int64)
    ret = np.asarray(realized_return, dtype=np.float64)
    c = _reference(reference, n)
    alpha = fit_shrinkage(p, y, c)
    idx, n_dates = date_index(dates, n)
    half = n_dates // 2
    first = idx < half - purge_sessions // 2
    second = idx >= half + (purge_sessions - purge_sessions // 2)
    scored = first | second
    if not first.any() or not second.any():
        return SkillBound(alpha, math.nan, math.nan, math.nan, n, math.nan, 0.0)
    out = np.empty_like(p)
    out[first] = shrink(p[first], c[first], fit_shrinkage(p[second], y[second], c[second]))
    out[second] = shrink(p[second], c[second], fit_shrinkage(p[first], y[first], c[first]))
    kept_dates = np.asarray(idx)[scored]
    result = score_intervals(
        out[scored],
        y[scored],
        kept_dates,
        ret[scored],
        c[scored],
        block_length=block_length,
        n_boot=n_boot,
        level=level,
        seed=seed,
    )
    skill = result.intervals["brier_skill_score"]
    blocks = float(np.unique(kept_dates).shape[0]) / block_length
    if blocks < MIN_BLOCKS:
        # resampling one or two blocks gives an interval, but not one that means anything
        return SkillBound(alpha, skill.point, math.nan, math.nan, result.n, math.nan, blocks)
    return SkillBound(alpha, skill.point, skill.low, skill.high, result.n, result.n_eff, blocks)


def serving_decision(bound: SkillBound, min_blocks: float = MIN_BLOCKS) -> str | None:
    """Why the horizon must serve climatology (``None``: serve the shrunk model).

    - the validation window holds fewer than ``min_blocks`` independent date blocks, so the
      skill cannot be bounded;
    - the fitted weight is 0 (the model adds nothing to climatology);
    - the skill's lower bound is not above 0.
    """
    if not bound.blocks >= min_blocks:
        return (
            f"{bound.blocks:.1f} independent date blocks in the validation window "
            f"(< {min_blocks}): the skill cannot be bounded"
        )
    if bound.alpha <= 0.0:
        return "the fitted shrinkage weight is 0: the model adds nothing to climatology"
    if not bound.low > 0.0:
        return (
            f"skill {bound.skill:.4f} against climatology, 95 % interval "
            f"[{bound.low:.4f}, {bound.high:.4f}]: its lower bound is not above 0"
        )
    return None
