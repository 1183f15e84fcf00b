"""Forecast scoring: Brier, calibration, accuracy, rank IC, reliability plots and tables.

Pure numpy/polars/matplotlib; nothing here imports Dagster. Probabilities are float arrays of
shape (n, 3) over ``CLASSES`` (bearish, neutral, bullish); labels are ints 0..2 of shape (n,).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CLASSES: tuple[str, str, str] = ("bearish", "neutral", "bullish")
N_CLASSES = len(CLASSES)
MIN_ROWS_PER_DATE = 5

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _probs(probs: npt.ArrayLike) -> FloatArray:
    """Return ``probs`` as a validated float64 array of shape (n, 3)."""
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != N_CLASSES:
        raise ValueError(f"probs must have shape (n, {N_CLASSES}), got {array.shape}")
    return array


def _labels(labels: npt.ArrayLike, n: int | None = None) -> IntArray:
    """Return ``labels`` as a validated int64 array of shape (n,) with values in 0..2."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"labels has {array.shape[0]} rows, expected {n}")
    out = array.astype(np.int64)
    if out.size and (out.min() < 0 or out.max() >= N_CLASSES or np.any(out != array)):
        raise ValueError(f"labels must be integers in 0..{N_CLASSES - 1}")
    return out


def _vector(values: npt.ArrayLike, name: str, n: int | None = None) -> FloatArray:
    """Return ``values`` as a float64 vector, checking its length against ``n``."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"{name} has {array.shape[0]} rows, expected {n}")
    return array


def one_hot(labels: npt.ArrayLike) -> FloatArray:
    """One-hot encode class labels into an (n, 3) float matrix."""
    idx = _labels(labels)
    out = np.zeros((idx.shape[0], N_CLASSES), dtype=np.float64)
    out[np.arange(idx.shape[0]), idx] = 1.0
    return out


def multiclass_brier(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Mean over rows of the summed squared error to the one-hot outcome (0 best, 2 worst)."""
    p = _probs(probs)
    if p.shape[0] == 0:
        return math.nan
    target = one_hot(_labels(labels, p.shape[0]))
    return float(np.mean(np.sum((p - target) ** 2, axis=1)))


def brier_skill_score(brier: float, reference_brier: float) -> float:
    """Skill relative to a reference forecast: 1 - brier / reference (nan if reference is 0)."""
    if reference_brier == 0 or math.isnan(reference_brier) or math.isnan(brier):
        return math.nan
    return 1.0 - brier / reference_brier


def accuracy(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Fraction of rows whose most probable class (argmax) equals the label."""
    p = _probs(probs)
    if p.shape[0] == 0:
        return math.nan
    y = _labels(labels, p.shape[0])
    return float(np.mean(np.argmax(p, axis=1) == y))


def balanced_accuracy(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Mean per-class recall of the argmax prediction over the classes present in the labels."""
    p = _probs(probs)
    if p.shape[0] == 0:
        return math.nan
    y = _labels(labels, p.shape[0])
    hits = (np.argmax(p, axis=1) == y).astype(np.float64)
    support = np.bincount(y, minlength=N_CLASSES)
    correct = np.bincount(y, weights=hits, minlength=N_CLASSES)
    present = support > 0
    return float(np.mean(correct[present] / support[present]))


def directional_accuracy(score: npt.ArrayLike, realized_return: npt.ArrayLike) -> float:
    """Fraction of rows where sign(score) equals sign(return), over rows where both are non-zero."""
    s = _vector(score, "score")
    r = _vector(realized_return, "realized_return", s.shape[0])
    mask = (s != 0) & (r != 0) & np.isfinite(s) & np.isfinite(r)
    if not mask.any():
        return math.nan
    return float(np.mean(np.sign(s[mask]) == np.sign(r[mask])))


def _bin_index(confidence: FloatArray, bins: int) -> IntArray:
    """Equal-width bin index on [0, 1] for each confidence (1.0 falls into the last bin)."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    raw = np.floor(np.clip(confidence, 0.0, 1.0) * bins).astype(np.int64)
    return np.minimum(raw, bins - 1)


def reliability_curve(
    confidence: npt.ArrayLike, correct: npt.ArrayLike, bins: int = 10
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Per non-empty equal-width bin: mean confidence, observed frequency of correct, count."""
    conf = _vector(confidence, "confidence")
    hit = _vector(correct, "correct", conf.shape[0])
    idx = _bin_index(conf, bins)
    counts = np.bincount(idx, minlength=bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=bins)
    hit_sum = np.bincount(idx, weights=hit, minlength=bins)
    keep = counts > 0
    n_bin = counts[keep]
    return conf_sum[keep] / n_bin, hit_sum[keep] / n_bin, n_bin.astype(np.int64)


def expected_calibration_error(
    confidence: npt.ArrayLike, correct: npt.ArrayLike, bins: int = 10
) -> float:
    """ECE: count-weighted mean over equal-width bins of |observed frequency - mean confidence|."""
    mean_conf, freq, counts = reliability_curve(confidence, correct, bins)
    total = counts.sum()
    if total == 0:
        return math.nan
    return float(np.sum(counts / total * np.abs(freq - mean_conf)))


def _date_series(dates: npt.ArrayLike | pl.Series | Sequence[Any]) -> pl.Series:
    """Return the per-row date keys as a polars Series named ``date``."""
    if isinstance(dates, pl.Series):
        return dates.alias("date")
    if isinstance(dates, np.ndarray) and dates.dtype != object:
        return pl.Series("date", dates)
    return pl.Series("date", list(np.asarray(dates, dtype=object).ravel()))


def daily_ic(dates: pl.Series | npt.ArrayLike, score: FloatArray, ret: FloatArray) -> pl.DataFrame:
    """(date, ic): each date's Spearman correlation between ``score`` and ``ret`` over its finite
    rows, for the dates with at least ``MIN_ROWS_PER_DATE`` of them and ranks that vary."""
    keep = np.isfinite(score) & np.isfinite(ret)
    frame = pl.DataFrame({"date": dates, "score": score, "ret": ret}).filter(pl.Series(keep))
    return (
        frame.with_columns(
            pl.col("score").rank("average").over("date").alias("rs"),
            pl.col("ret").rank("average").over("date").alias("rr"),
        )
        .group_by("date")
        .agg(
            pl.len().alias("n"),
            pl.col("rs").std().alias("sd_s"),
            pl.col("rr").std().alias("sd_r"),
            pl.cov("rs", "rr").alias("cov"),
        )
        .filter((pl.col("n") >= MIN_ROWS_PER_DATE) & (pl.col("sd_s") > 0) & (pl.col("sd_r") > 0))
        .select("date", (pl.col("cov") / (pl.col("sd_s") * pl.col("sd_r"))).alias("ic"))
    )


def rank_ic(
    dates: npt.ArrayLike | pl.Series | Sequence[Any],
    score: npt.ArrayLike,
    realized_return: npt.ArrayLike,
) -> float:
    """Mean over dates of the Spearman correlation between score and realized return that day."""
    s = _vector(score, "score")
    r = _vector(realized_return, "realized_return", s.shape[0])
    date_series = _date_series(dates)
    if date_series.len() != s.shape[0]:
        raise ValueError(f"dates has {date_series.len()} rows, expected {s.shape[0]}")
    per_date = daily_ic(date_series, s, r)
    mean_ic = per_date["ic"].mean()
    return float(mean_ic) if isinstance(mean_ic, float | int) else math.nan


def climatology_probs(labels: npt.ArrayLike) -> FloatArray:
    """Class frequencies with add-one (Laplace) smoothing: (counts + 1) / (n + 3)."""
    y = _labels(labels)
    counts = np.bincount(y, minlength=N_CLASSES).astype(np.float64)
    smoothed: FloatArray = (counts + 1.0) / float(y.shape[0] + N_CLASSES)
    return smoothed


def score_all(
    probs: npt.ArrayLike,
    labels: npt.ArrayLike,
    realized_return: npt.ArrayLike,
    dates: npt.ArrayLike | pl.Series | Sequence[Any],
) -> dict[str, float]:
    """All headline scores of a probabilistic forecast (the caller adds Brier skill)."""
    p = _probs(probs)
    y = _labels(labels, p.shape[0])
    ret = _vector(realized_return, "realized_return", p.shape[0])
    direction = p[:, 2] - p[:, 0]
    confidence = p.max(axis=1)
    correct = (np.argmax(p, axis=1) == y).astype(np.float64)
    return {
        "n": int(p.shape[0]),
        "accuracy": accuracy(p, y),
        "balanced_accuracy": balanced_accuracy(p, y),
        "directional_accuracy": directional_accuracy(direction, ret),
        "brier": multiclass_brier(p, y),
        "ece": expected_calibration_error(confidence, correct),
        "rank_ic": rank_ic(dates, direction, ret),
    }


def reliability_diagram_png(
    curves: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]], title: str, bins: int = 10
) -> bytes:
    """Render binned reliability curves (confidence vs observed frequency) as PNG bytes."""
    fig = Figure(figsize=(6.0, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="grey", label="perfect calibration")
    for name, (confidence, correct) in curves.items():
        mean_conf, freq, _ = reliability_curve(confidence, correct, bins)
        ax.plot(mean_conf, freq, marker="o", label=name)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("predicted confidence")
    ax.set_ylabel("observed frequency")
    ax.set_title(title)
    ax.legend(loc="upper left")
    ax.grid(visible=True, alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
