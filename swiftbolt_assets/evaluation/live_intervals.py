"""95 % intervals and the effective sample size of the rolling live scores. Pure: no Dagster.

Consecutive evaluations of one (symbol, horizon) are not independent: a label of ``h`` sessions
shares ``h - 1`` sessions with the next one's. The intervals follow the conventions of
:mod:`swiftbolt_assets.forecasting.intervals` (and use its code): a moving-block bootstrap of
the window's target dates, every row of a date going with it, blocks of ``BLOCK_FACTOR`` × the
horizon in sessions, the percentile interval of the replicates where the score is defined, and
``n_eff`` of the mean row Brier (``n`` over the design effect, at most ``n``). And those of
:mod:`swiftbolt_assets.forecasting.shrinkage`: a window holding fewer than ``MIN_BLOCKS`` blocks
gets no interval and no ``n_eff`` (nan; null in the table), since resampling one to three
blocks gives numbers that mean nothing. With windows of 20 and 60 evaluations that leaves the
1D scores (blocks of 2) from 8 dates on and the 1W ones (blocks of 10) in a 60-window from 40
dates on; from 1M on no live window has an interval: 60 overlapping 1M outcomes are about 3
independent ones.

Vectorized: the count matrix of a moving-block bootstrap depends only on the number of dates,
the block length and the seed, so every window of the same (dates, block length) shares one
matrix and all of them are resampled by one matrix product of their stacked per-date statistics
(in chunks of at most ``MAX_VALUES`` replicate values). The loop is over those shapes (one per
horizon and window length in dates: at most 74 with the daily windows), never over windows, and
a window's result does not depend on which other windows are computed with it: the seed is
fixed and its per-date sums read only its own rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from swiftbolt_assets.forecasting.intervals import (
    block_bootstrap_counts,
    design_n_eff,
    metrics_from_sums,
    percentile_bounds,
)
from swiftbolt_assets.forecasting.metrics import FloatArray, IntArray
from swiftbolt_assets.forecasting.shrinkage import MIN_BLOCKS

# the statistics every window needs besides those of its metrics: ``rows`` and the row ``brier``
# (for n_eff), the first two columns of the stacked statistics
_ALWAYS = ("rows", "brier")
# float64 values of replicate statistics held at once per chunk (32 MiB)
MAX_VALUES = 1 << 22


def _per_date_sums(
    matrix: FloatArray, dates: IntArray, start: IntArray, end: IntArray, n_dates: int
) -> FloatArray:
    """(windows, n_dates, k + 2) sums per date of each window ``[start, end)``, from the
    window's own rows only (a window whose first date began before it counts only the rows
    inside it): ``matrix``'s columns, then the row Brier (column 1) minus the window's first
    one, and its square. Centred so, a window whose rows all score the same has exactly zero
    variance (uncentred sums of squares leave rounding noise that would make ``n_eff`` 0)."""
    lengths = end - start
    window = np.repeat(np.arange(start.shape[0]), lengths)
    offsets = np.cumsum(lengths) - lengths
    row = start[window] + np.arange(window.shape[0]) - offsets[window]
    cell = window * n_dates + dates[row] - dates[start][window]
    first_of_cell = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    if first_of_cell.shape[0] != start.shape[0] * n_dates:
        raise ValueError("dates must number a group's distinct dates consecutively")
    deviation = matrix[row, 1] - matrix[start, 1][window]
    picked = np.column_stack([matrix[row], deviation, deviation**2])
    sums: FloatArray = np.add.reduceat(picked, first_of_cell, axis=0)
    return sums.reshape(start.shape[0], n_dates, picked.shape[1])


def _chunks(indices: IntArray, size: int) -> Iterator[IntArray]:
    for at in range(0, indices.shape[0], size):
        yield indices[at : at + size]


def window_intervals(
    stats: Mapping[str, FloatArray],
    dates: IntArray,
    start: IntArray,
    end: IntArray,
    block_length: IntArray,
    *,
    metrics: Sequence[str],
    n_boot: int,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, FloatArray]:
    """``<metric>_low``, ``<metric>_high`` and ``n_eff`` of many windows of one table at once.

    ``stats``: per row, the statistics that
    :func:`~swiftbolt_assets.forecasting.intervals.metrics_from_sums` reads for ``metrics``
    (arrays of shape (rows,) or (rows, m)), always with ``rows`` (1 per row) and ``brier`` (the
    row's Brier score). ``dates``: per row, a number for its date that
    counts a group's distinct dates consecutively and differs between groups (rows sorted by
    group then date). Window ``w`` holds the rows ``start[w]:end[w]`` of one group and is
    resampled in blocks of ``block_length[w]`` dates; each output has one value per window,
    nan where the window holds fewer than ``MIN_BLOCKS`` blocks. Deterministic: ``seed`` fixes
    each shape's count matrix.
    """
    names = list(dict.fromkeys([*_ALWAYS, *stats]))
    widths = [1 if stats[n].ndim == 1 else stats[n].shape[1] for n in names]
    columns = np.cumsum([0, *widths])
    matrix = np.column_stack([stats[n] for n in names])
    k = matrix.shape[1] + 1  # and the centred row Brier (its square is summed, not resampled)
    n_windows = start.shape[0]
    out = {f"{m}_{side}": np.full(n_windows, math.nan) for m in metrics for side in ("low", "high")}
    out["n_eff"] = np.full(n_windows, math.nan)
    n_dates = np.where(end > start, dates[np.maximum(end, 1) - 1] - dates[start] + 1, 0)
    eligible = (end > start) & (n_dates >= MIN_BLOCKS * block_length)
    shapes = set(zip(n_dates[eligible].tolist(), block_length[eligible].tolist(), strict=True))
    for size, length in sorted(shapes):
        counts = block_bootstrap_counts(size, length, n_boot, seed)
        which = np.flatnonzero(eligible & (n_dates == size) & (block_length == length))
        for chunk in _chunks(which, max(1, MAX_VALUES // (n_boot * k))):
            per_date = _per_date_sums(matrix, dates, start[chunk], end[chunk], size)
            # (windows * k, size) @ (size, n_boot): every window's replicates in one product,
            # each statistic's replicates contiguous
            resampled = per_date[..., :k].transpose(0, 2, 1).reshape(chunk.shape[0] * k, size)
            replicates = (resampled @ counts.T).reshape(chunk.shape[0], k, n_boot)
            sums = {
                n: replicates[:, a] if w == 1 else np.moveaxis(replicates[:, a : a + w], 1, -1)
                for n, a, w in zip(names, columns[:-1], widths, strict=True)
            }
            for m, values in metrics_from_sums(sums, metrics).items():
                out[f"{m}_low"][chunk], out[f"{m}_high"][chunk] = percentile_bounds(values, level)
            rows, deviation, squares = per_date[..., [0, k - 1, k]].sum(axis=1).T
            # the iid bootstrap's variance of the mean row Brier: population variance / n
            variance = np.maximum(squares / rows - (deviation / rows) ** 2, 0.0) / rows
            means = replicates[:, k - 1] / replicates[:, 0]
            out["n_eff"][chunk] = design_n_eff(rows, variance, means)
    return out
