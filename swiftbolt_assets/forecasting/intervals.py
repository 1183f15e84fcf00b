"""Honest confidence intervals for forecast scores: a moving-block bootstrap by date.

The label of a horizon of ``h`` sessions overlaps the labels of the next ``h - 1`` dates, so rows
are not independent and an iid row bootstrap gives intervals that are far too narrow. Here the
sorted unique dates are resampled in blocks of ``block_length`` consecutive dates (pass at least
the horizon in sessions); every row of a date goes with its date, which also keeps the
cross-sectional dependence of a day (market-wide moves) inside the resampled unit.

A replicate is a vector of how many times each date is drawn, so every metric is computed for
all replicates at once as ``(n_boot, n_dates) counts @ (n_dates, k) per-date sufficient
statistics`` (sums of Brier, correct counts, per-class support, per-bin calibration sums, ...).
The points use the same statistics with every date counted once and equal what
:mod:`swiftbolt_assets.forecasting.metrics` returns on the full data.

Block length: for labels overlapping over ``h`` sessions the moving-block variance of a mean is
biased down (Bartlett weights: about 2/3 of the truth with ``h``-date blocks, 0.83 with ``2h``)
and noisier with fewer blocks (``n_dates / block_length``). Simulated 95 % intervals of the mean
Brier covered the truth 86 % of the time with ``block_length = h = 5``, 89 % with ``2h``-``3h``
(400 dates), 80-83 % with ``h = block_length = 20``, 62 % with ``block_length = 1``.

The pieces that do not depend on how the rows were scored (the count matrix, the metrics from
summed statistics, the percentile bounds and ``n_eff`` of many groups at once) are public: the
rolling live scores (:mod:`swiftbolt_assets.evaluation.live_intervals`) bootstrap thousands of
windows with them in one pass.

Pure numpy/polars; nothing here imports Dagster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.forecasting.metrics import (
    N_CLASSES,
    FloatArray,
    IntArray,
    _bin_index,
    _date_series,
    _labels,
    _probs,
    _vector,
    daily_ic,
    one_hot,
)

METRICS: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "directional_accuracy",
    "brier",
    "brier_skill_score",
    "ece",
    "rank_ic",
)
Dates = npt.ArrayLike | pl.Series | Sequence[Any]
# Blocks of dates are this many horizons long: blocks of exactly the horizon catch about 2/3 of
# the variance of overlapping labels, 2 horizons about 0.83 (see above).
BLOCK_FACTOR = 2


@dataclass(frozen=True)
class Interval:
    """A point estimate with the low and high ends of its bootstrap percentile interval."""

    point: float
    low: float
    high: float


@dataclass(frozen=True)
class ScoredIntervals:
    """Intervals of every metric in :data:`METRICS`, with the row count and its effective size."""

    n: int
    n_eff: float
    n_dates: int
    intervals: dict[str, Interval]

    def as_row(self) -> dict[str, float | int]:
        """Flat columns: ``brier``, ``brier_low``, ``brier_high``, ... then ``n`` and ``n_eff``."""
        row: dict[str, float | int] = {}
        for name, interval in self.intervals.items():
            row[name] = interval.point
            row[f"{name}_low"] = interval.low
            row[f"{name}_high"] = interval.high
        row["n"] = self.n
        row["n_eff"] = self.n_eff
        return row


def date_index(dates: Dates, n: int | None = None) -> tuple[IntArray, int]:
    """Index of each row's date among the sorted unique dates, and the number of dates."""
    series = _date_series(dates)
    if n is not None and series.len() != n:
        raise ValueError(f"dates has {series.len()} rows, expected {n}")
    if series.null_count():
        raise ValueError("dates must not contain nulls")
    if series.len() == 0:
        return np.zeros(0, dtype=np.int64), 0
    idx = series.rank("dense").to_numpy().astype(np.int64) - 1
    return idx, int(idx.max()) + 1


def block_bootstrap_counts(
    n_dates: int, block_length: int, n_boot: int, seed: int | np.random.Generator = 0
) -> FloatArray:
    """(n_boot, n_dates) matrix of how often each date is drawn by a moving-block bootstrap.

    Each replicate concatenates ``ceil(n_dates / L)`` blocks of ``L = min(block_length,
    n_dates)`` consecutive dates with uniformly drawn starts in ``0..n_dates - L``, the last block
    truncated so that every replicate draws exactly ``n_dates`` dates.
    """
    if block_length < 1:
        raise ValueError(f"block_length must be >= 1 (the horizon in sessions), got {block_length}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if n_dates < 1:
        raise ValueError(f"n_dates must be >= 1, got {n_dates}")
    rng = np.random.default_rng(seed)
    length = min(block_length, n_dates)
    n_blocks = -(-n_dates // length)
    starts = rng.integers(0, n_dates - length + 1, size=(n_boot, n_blocks))
    lengths = np.full(n_blocks, length, dtype=np.int64)
    lengths[-1] = n_dates - (n_blocks - 1) * length
    width = n_dates + 1
    offset = (np.arange(n_boot, dtype=np.int64) * width)[:, None]
    size = n_boot * width
    # difference array: +1 where a block starts, -1 just past its end; the cumsum is the counts
    diff = np.bincount((starts + offset).ravel(), minlength=size) - np.bincount(
        (starts + lengths + offset).ravel(), minlength=size
    )
    counts: FloatArray = np.cumsum(diff.reshape(n_boot, width), axis=1)[:, :n_dates].astype(
        np.float64
    )
    return counts


def design_n_eff(n: FloatArray, iid_var: FloatArray, replicate_means: FloatArray) -> FloatArray:
    """``n * V_iid / V_block`` capped at ``n``, per group (see :func:`effective_sample_size`).

    ``n``, ``iid_var`` (the iid-bootstrap variance of the group's row mean): shape (groups,);
    ``replicate_means``: (groups, n_boot), the group's mean under each block replicate. Where
    ``V_block`` is zero or undefined the group's ``n_eff`` is its ``n``.
    """
    if replicate_means.shape[-1] > 1:
        block_var = np.var(replicate_means, axis=-1, ddof=1)
    else:
        block_var = np.full(replicate_means.shape[:-1], math.nan)
    usable = np.isfinite(block_var) & (block_var > 0)
    ratio = n * iid_var / np.where(usable, block_var, 1.0)
    n_eff: FloatArray = np.where(usable, np.minimum(n, ratio), n).astype(np.float64)
    return n_eff


def _design_n_eff(
    row_values: FloatArray, date_sums: FloatArray, date_counts: FloatArray, counts: FloatArray
) -> float:
    """:func:`design_n_eff` of one group of rows."""
    n = row_values.shape[0]
    iid_var = float(np.var(row_values)) / n
    means = (counts @ date_sums) / (counts @ date_counts)
    return float(design_n_eff(np.array([float(n)]), np.array([iid_var]), means[None, :])[0])


def effective_sample_size(
    values: npt.ArrayLike,
    dates: Dates,
    *,
    block_length: int,
    n_boot: int = 1000,
    seed: int = 0,
) -> float:
    """Rows worth of independent information in the mean of ``values`` (e.g. row Brier scores).

    ``n_eff = n * V_iid / V_block = n / design effect``, capped at ``n``, where ``V_iid =
    var(values) / n`` is the variance of the row mean under an iid row bootstrap (population
    variance, so exactly the iid-bootstrap variance) and ``V_block`` is the variance over
    replicates of the mean under the moving-block bootstrap by date. If ``V_block`` is zero or
    undefined (a single date, constant values), ``n_eff = n``.
    """
    v = _vector(values, "values")
    if v.shape[0] == 0:
        raise ValueError("values must have at least one row")
    idx, n_dates = date_index(dates, v.shape[0])
    counts = block_bootstrap_counts(n_dates, block_length, n_boot, seed)
    sums = np.bincount(idx, weights=v, minlength=n_dates).astype(np.float64)
    rows = np.bincount(idx, minlength=n_dates).astype(np.float64)
    return _design_n_eff(v, sums, rows, counts)


def _per_date_ic(idx: IntArray, n_dates: int, score: FloatArray, ret: FloatArray) -> FloatArray:
    """(n_dates, 2) columns: the date's Spearman IC (0 if undefined) and 1 if it is defined.

    The same computation as :func:`metrics.rank_ic`, grouped by date index instead of date.
    """
    per_date = daily_ic(idx, score, ret)
    out = np.zeros((n_dates, 2), dtype=np.float64)
    where = per_date["date"].to_numpy().astype(np.int64)
    out[where, 0] = per_date["ic"].to_numpy()
    out[where, 1] = 1.0
    return out


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """Elementwise num / den, nan where den is 0."""
    out = np.full(np.broadcast(num, den).shape, math.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _sums_by_name(agg: FloatArray, bins: int) -> dict[str, FloatArray]:
    """The named statistics of :func:`metrics_from_sums` from the columns of ``agg`` (the layout
    :func:`score_intervals` stacks)."""
    start = 8 + 2 * N_CLASSES
    names = ("brier", "reference_brier", "rows", "correct", "direction_right", "directional")
    return {
        **{name: agg[:, i] for i, name in enumerate(names)},
        "ic_sum": agg[:, 6],
        "ic_dates": agg[:, 7],
        "support": agg[:, 8 : 8 + N_CLASSES],
        "class_hit": agg[:, 8 + N_CLASSES : start],
        "bin_gap": agg[:, start + bins : start + 2 * bins] - agg[:, start : start + bins],
    }


def metrics_from_sums(
    sums: Mapping[str, FloatArray], names: Sequence[str] = METRICS
) -> dict[str, FloatArray]:
    """The metrics ``names`` from per-date statistics summed over the (drawn) dates.

    The entries share their leading shape (one sum per replicate, or per group and replicate,
    ...), and each metric reads only its own entries: ``rows`` (row count), ``correct``,
    ``brier`` (sum of row Brier), ``reference_brier``, ``direction_right`` and ``directional``
    (rows with a direction), ``ic_sum`` and ``ic_dates`` (dates with a rank IC), and with a
    last axis ``support`` and ``class_hit`` (per class) and ``bin_gap`` (per confidence bin:
    right answers minus the sum of the confidences; its absolute values sum to the ECE's
    numerator).
    """

    def balanced_accuracy() -> FloatArray:
        support = sums["support"]
        present = support > 0
        recall = np.where(present, _ratio(sums["class_hit"], support), 0.0)
        return _ratio(recall.sum(axis=-1), present.sum(axis=-1).astype(np.float64))

    formulas: dict[str, Callable[[], FloatArray]] = {
        "accuracy": lambda: _ratio(sums["correct"], sums["rows"]),
        "balanced_accuracy": balanced_accuracy,
        "directional_accuracy": lambda: _ratio(sums["direction_right"], sums["directional"]),
        "brier": lambda: _ratio(sums["brier"], sums["rows"]),
        "brier_skill_score": lambda: 1.0 - _ratio(sums["brier"], sums["reference_brier"]),
        "ece": lambda: _ratio(np.abs(sums["bin_gap"]).sum(axis=-1), sums["rows"]),
        "rank_ic": lambda: _ratio(sums["ic_sum"], sums["ic_dates"]),
    }
    return {name: formulas[name]() for name in names}


def percentile_bounds(replicates: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    """Per group (row of the (groups, n_boot) ``replicates``), the ``level`` percentile interval
    of its finite replicate values; nan, nan where it has none."""
    values = np.where(np.isfinite(replicates), replicates, math.nan)
    # sorted first (nan last): the quantile's selection is then cheap, and each row's finite
    # values are its first ``finite`` ones
    ordered = np.sort(values, axis=-1)
    finite = np.isfinite(ordered).sum(axis=-1)
    tail = (1.0 - level) / 2.0
    low = np.full(finite.shape, math.nan)
    high = np.full(finite.shape, math.nan)
    # one quantile call per distinct count of finite replicates (nearly always just n_boot)
    for size in np.unique(finite[finite > 0]):
        rows = finite == size
        low[rows], high[rows] = np.quantile(ordered[rows, :size], [tail, 1.0 - tail], axis=-1)
    return low, high


def _percentile(values: FloatArray, level: float) -> tuple[float, float]:
    """Percentile interval of the finite replicate values (nan, nan if there are none)."""
    low, high = percentile_bounds(values[None, :], level)
    return float(low[0]), float(high[0])


def score_intervals(
    probs: npt.ArrayLike,
    labels: npt.ArrayLike,
    dates: Dates,
    realized_return: npt.ArrayLike,
    reference_probs: npt.ArrayLike,
    *,
    block_length: int,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    bins: int = 10,
) -> ScoredIntervals:
    """Point and ``level`` percentile interval of every metric in :data:`METRICS`.

    ``reference_probs`` is the reference forecast of the skill score, shape (n, 3) or (3,) (e.g.
    the climatology); skill = 1 - sum Brier / sum reference Brier over the (resampled) rows.
    Replicates where a metric is undefined (no valid directional row, no date with a rank IC)
    are dropped from its interval. ``n_eff`` is :func:`effective_sample_size` of the row Brier.
    """
    p = _probs(probs)
    n = p.shape[0]
    if n == 0:
        raise ValueError("probs must have at least one row")
    y = _labels(labels, n)
    ret = _vector(realized_return, "realized_return", n)
    ref = np.asarray(reference_probs, dtype=np.float64)
    if ref.shape not in {(N_CLASSES,), (n, N_CLASSES)}:
        raise ValueError(f"reference_probs must have shape ({N_CLASSES},) or ({n}, {N_CLASSES})")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    idx, n_dates = date_index(dates, n)
    counts = block_bootstrap_counts(n_dates, block_length, n_boot, seed)

    target = one_hot(y)
    row_brier = np.sum((p - target) ** 2, axis=1)
    hit = (np.argmax(p, axis=1) == y).astype(np.float64)
    score = p[:, 2] - p[:, 0]
    dir_mask = (score != 0) & (ret != 0) & np.isfinite(score) & np.isfinite(ret)
    dir_hit = dir_mask & (np.sign(score) == np.sign(ret))
    confidence = p.max(axis=1)
    bin_of = _bin_index(confidence, bins)

    def per_date(weights: FloatArray | None) -> FloatArray:
        return np.bincount(idx, weights=weights, minlength=n_dates).astype(np.float64)

    def per_date_cell(cell: IntArray, n_cells: int, weights: FloatArray | None) -> FloatArray:
        flat = np.bincount(idx * n_cells + cell, weights=weights, minlength=n_dates * n_cells)
        return flat.astype(np.float64).reshape(n_dates, n_cells)

    # per-date sufficient statistics; the column layout is the one _sums_by_name reads
    stats = np.column_stack(
        [
            per_date(row_brier),
            per_date(np.sum((ref - target) ** 2, axis=1)),
            per_date(None),
            per_date(hit),
            per_date(dir_hit.astype(np.float64)),
            per_date(dir_mask.astype(np.float64)),
            _per_date_ic(idx, n_dates, score, ret),
            per_date_cell(y, N_CLASSES, None),
            per_date_cell(y, N_CLASSES, hit),
            per_date_cell(bin_of, bins, confidence),
            per_date_cell(bin_of, bins, hit),
        ]
    )
    points = metrics_from_sums(_sums_by_name(stats.sum(axis=0, keepdims=True), bins))
    replicates = metrics_from_sums(_sums_by_name(counts @ stats, bins))
    intervals = {
        name: Interval(float(points[name][0]), *_percentile(replicates[name], level))
        for name in METRICS
    }
    n_eff = _design_n_eff(row_brier, stats[:, 0], stats[:, 2], counts)
    return ScoredIntervals(n=n, n_eff=n_eff, n_dates=n_dates, intervals=intervals)
