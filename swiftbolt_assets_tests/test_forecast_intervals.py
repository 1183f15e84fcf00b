"""Block-bootstrap intervals of forecast scores: exact points, determinism, honesty, coverage."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from swiftbolt_assets.forecasting import metrics
from swiftbolt_assets.forecasting.intervals import (
    METRICS,
    Interval,
    ScoredIntervals,
    block_bootstrap_counts,
    date_index,
    effective_sample_size,
    score_intervals,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Dataset = tuple[FloatArray, IntArray, pl.Series, FloatArray, FloatArray]


def random_dataset(seed: int, n_dates: int = 60, n_symbols: int = 12) -> Dataset:
    """Iid rows in shuffled order, with thin dates, zero scores and zero or nan returns."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(n_dates), n_symbols)
    day = day[rng.random(day.shape[0]) > 0.15]  # ragged dates, some too thin for a rank IC
    day = np.concatenate([day, [n_dates + 5] * 3])  # a date with 3 rows: no rank IC
    n = day.shape[0]
    probs = rng.dirichlet([2.0, 2.0, 2.0], size=n)
    probs[::17, 2] = probs[::17, 0]  # score = p_bullish - p_bearish exactly 0
    probs /= probs.sum(axis=1, keepdims=True)
    labels = rng.integers(0, 3, n)
    realized = rng.normal(0.0, 0.02, n)
    realized[::23] = 0.0
    realized[::31] = np.nan
    order = rng.permutation(n)
    dates = pl.Series("d", [date(2024, 1, 1) + timedelta(days=int(d)) for d in day[order]])
    reference = np.tile(metrics.climatology_probs(labels), (n, 1))
    reference[::5] = [0.2, 0.5, 0.3]
    return probs[order], labels[order], dates, realized[order], reference[order]


def persistent_dataset(
    seed: int, n_dates: int, n_symbols: int, horizon: int, probs_row: FloatArray | None = None
) -> tuple[FloatArray, IntArray, IntArray, FloatArray]:
    """Each symbol's label is drawn once per run of ``horizon`` dates (random phase per symbol).

    Probabilities are fixed per symbol (or ``probs_row`` everywhere), so a symbol's row Brier
    persists over the run like the outcome of a label overlapping ``horizon`` sessions.
    """
    rng = np.random.default_rng(seed)
    phase = rng.integers(0, horizon, n_symbols)
    run = (np.arange(n_dates)[:, None] + phase[None, :]) // horizon
    draws = rng.choice(3, size=(n_dates // horizon + 2, n_symbols), p=[0.3, 0.3, 0.4])
    labels = draws[run, np.arange(n_symbols)[None, :]].ravel().astype(np.int64)
    if probs_row is None:
        probs = np.tile(rng.dirichlet([3.0, 3.0, 3.0], size=n_symbols), (n_dates, 1))
    else:
        probs = np.tile(probs_row, (labels.shape[0], 1))
    dates = np.repeat(np.arange(n_dates, dtype=np.int64), n_symbols)
    return probs, labels, dates, rng.normal(0.0, 0.02, labels.shape[0])


def metrics_values(data: Dataset) -> dict[str, float]:
    probs, labels, dates, realized, reference = data
    scored = metrics.score_all(probs, labels, realized, dates)
    brier = metrics.multiclass_brier(probs, labels)
    scored["brier_skill_score"] = metrics.brier_skill_score(
        brier, metrics.multiclass_brier(reference, labels)
    )
    return {name: float(scored[name]) for name in METRICS}


def width(interval: Interval) -> float:
    return interval.high - interval.low


@pytest.mark.parametrize(("seed", "absent_class"), [(0, None), (1, None), (2, 1)])
def test_points_equal_the_metrics_module_on_the_full_data(
    seed: int, absent_class: int | None
) -> None:
    data = random_dataset(seed)
    if absent_class is not None:  # balanced accuracy averages over the classes present only
        data[1][data[1] == absent_class] = 0
    scored = score_intervals(*data, block_length=5, n_boot=200, seed=seed)
    expected = metrics_values(data)
    assert set(scored.intervals) == set(METRICS)
    for name in METRICS:
        assert scored.intervals[name].point == pytest.approx(expected[name], abs=1e-12), name
    assert scored.n == data[0].shape[0]
    assert scored.n_dates == data[2].n_unique()


def test_a_single_reference_row_equals_the_tiled_reference() -> None:
    probs, labels, dates, realized, _ = random_dataset(3)
    clim = metrics.climatology_probs(labels)
    tiled = np.tile(clim, (labels.shape[0], 1))
    one = score_intervals(probs, labels, dates, realized, clim, block_length=4, n_boot=100)
    full = score_intervals(probs, labels, dates, realized, tiled, block_length=4, n_boot=100)
    assert one == full
    assert one.intervals["brier_skill_score"].point != 0.0


def test_same_seed_same_intervals_and_another_seed_differs() -> None:
    data = random_dataset(4)
    first = score_intervals(*data, block_length=5, n_boot=300, seed=11)
    again = score_intervals(*data, block_length=5, n_boot=300, seed=11)
    other = score_intervals(*data, block_length=5, n_boot=300, seed=12)
    assert first == again
    for name in METRICS:
        assert first.intervals[name].point == other.intervals[name].point
        assert first.intervals[name] != other.intervals[name], name


@pytest.mark.parametrize("block_length", [1, 5])
def test_intervals_contain_the_point_and_are_ordered(block_length: int) -> None:
    scored = score_intervals(*random_dataset(5), block_length=block_length, n_boot=500)
    for name, interval in scored.intervals.items():
        assert np.isfinite([interval.point, interval.low, interval.high]).all(), name
        assert interval.low <= interval.point <= interval.high, name
        assert interval.low < interval.high, name


def test_brier_interval_is_the_percentile_of_the_count_matrix_replicates() -> None:
    probs, labels, dates, realized, reference = random_dataset(6)
    idx, n_dates = date_index(dates)
    counts = block_bootstrap_counts(n_dates, 7, 400, seed=3)
    row_brier = np.sum((probs - metrics.one_hot(labels)) ** 2, axis=1)
    replicates = (counts @ np.bincount(idx, weights=row_brier)) / (counts @ np.bincount(idx))
    low, high = np.quantile(replicates, [0.05, 0.95])
    scored = score_intervals(
        probs, labels, dates, realized, reference, block_length=7, n_boot=400, level=0.9, seed=3
    )
    assert scored.intervals["brier"].low == pytest.approx(low, abs=1e-12)
    assert scored.intervals["brier"].high == pytest.approx(high, abs=1e-12)


def test_block_counts_draw_every_replicate_in_runs_of_consecutive_dates() -> None:
    counts = block_bootstrap_counts(n_dates=23, block_length=5, n_boot=400, seed=1)
    assert counts.shape == (400, 23)
    assert (counts.sum(axis=1) == 23).all()
    assert (counts >= 0).all()
    assert (counts == np.round(counts)).all()
    # 5 blocks (4 of 5 dates, the last truncated to 3) can touch at most 5 separate runs
    touched = counts > 0
    runs = touched[:, 0].astype(int) + np.sum(touched[:, 1:] & ~touched[:, :-1], axis=1)
    assert runs.max() <= 5
    assert touched.sum(axis=1).min() >= 5  # a block covers 5 dates
    whole = block_bootstrap_counts(n_dates=23, block_length=50, n_boot=10, seed=1)
    assert (whole == 1).all()  # a block longer than the series is the series itself
    iid = block_bootstrap_counts(n_dates=23, block_length=1, n_boot=4000, seed=1)
    assert iid.mean() == pytest.approx(1.0, abs=0.01)
    assert iid.var() == pytest.approx(1.0 - 1.0 / 23, abs=0.05)  # multinomial(23, 1/23)


def test_one_block_over_the_whole_series_gives_a_degenerate_interval() -> None:
    data = random_dataset(7)
    scored = score_intervals(*data, block_length=1000, n_boot=50)
    for name, interval in scored.intervals.items():
        assert interval.low == pytest.approx(interval.point, abs=1e-12), name
        assert interval.high == pytest.approx(interval.point, abs=1e-12), name
    assert scored.n_eff == scored.n  # no variance to compare against: capped at n


def test_overlapping_labels_widen_the_interval_and_shrink_n_eff() -> None:
    probs, labels, dates, realized = persistent_dataset(0, n_dates=1000, n_symbols=20, horizon=20)
    clim = metrics.climatology_probs(labels)
    block = score_intervals(probs, labels, dates, realized, clim, block_length=20, n_boot=1000)
    naive = score_intervals(probs, labels, dates, realized, clim, block_length=1, n_boot=1000)
    assert width(block.intervals["brier"]) > 2.5 * width(naive.intervals["brier"])
    assert block.n_eff < block.n / 5
    assert naive.n_eff > 0.7 * naive.n  # one-date blocks cannot see the persistence


def test_iid_rows_have_n_eff_close_to_n() -> None:
    rng = np.random.default_rng(8)
    n_dates, n_symbols = 1250, 20
    n = n_dates * n_symbols
    probs = rng.dirichlet([2.0, 2.0, 2.0], size=n)
    labels = rng.integers(0, 3, n)
    dates = np.repeat(np.arange(n_dates), n_symbols)
    scored = score_intervals(
        probs, labels, dates, rng.normal(size=n), [1 / 3, 1 / 3, 1 / 3], block_length=20
    )
    assert 0.7 * n <= scored.n_eff <= n


def test_effective_sample_size_matches_score_intervals() -> None:
    probs, labels, dates, realized = persistent_dataset(1, n_dates=300, n_symbols=10, horizon=10)
    row_brier = np.sum((probs - metrics.one_hot(labels)) ** 2, axis=1)
    scored = score_intervals(
        probs, labels, dates, realized, probs, block_length=10, n_boot=500, seed=4
    )
    n_eff = effective_sample_size(row_brier, dates, block_length=10, n_boot=500, seed=4)
    assert n_eff == pytest.approx(scored.n_eff, rel=1e-12)
    assert n_eff < row_brier.shape[0] / 3
    constant = effective_sample_size(np.ones(50), np.arange(50) // 5, block_length=2)
    assert constant == 50.0


def test_forecast_equal_to_the_reference_has_zero_skill() -> None:
    probs, labels, dates, realized = persistent_dataset(2, n_dates=200, n_symbols=8, horizon=5)
    scored = score_intervals(probs, labels, dates, realized, probs.copy(), block_length=5)
    skill = scored.intervals["brier_skill_score"]
    assert skill.point == 0.0
    assert skill.low <= 0.0 <= skill.high
    assert abs(skill.low) < 1e-12
    assert abs(skill.high) < 1e-12


def test_undefined_replicates_are_dropped_and_undefined_points_are_nan() -> None:
    probs, labels, dates, realized, reference = random_dataset(9)
    flat = np.zeros_like(realized)
    first = np.asarray(dates == dates.min())
    flat[first] = 0.01  # directional accuracy defined on a single date only
    scored = score_intervals(probs, labels, dates, flat, reference, block_length=3, n_boot=300)
    direction = scored.intervals["directional_accuracy"]
    assert np.isfinite([direction.point, direction.low, direction.high]).all()
    expected = metrics_values((probs, labels, dates, flat, reference))["directional_accuracy"]
    assert direction.point == pytest.approx(expected, abs=1e-12)
    # replicates that miss the date are dropped (not 0, not nan): all the others equal the point
    assert direction.low == pytest.approx(direction.point, abs=1e-12)
    assert direction.high == pytest.approx(direction.point, abs=1e-12)
    assert np.isnan(scored.intervals["rank_ic"].point)  # constant returns: no rank IC anywhere
    assert np.isnan(scored.intervals["rank_ic"].low)
    assert np.isnan(scored.intervals["rank_ic"].high)


def test_as_row_flattens_points_bounds_and_sizes() -> None:
    scored = score_intervals(*random_dataset(10), block_length=2, n_boot=100)
    row = scored.as_row()
    assert list(row)[-2:] == ["n", "n_eff"]
    assert len(row) == 3 * len(METRICS) + 2
    for name, interval in scored.intervals.items():
        assert (row[name], row[f"{name}_low"], row[f"{name}_high"]) == (
            interval.point,
            interval.low,
            interval.high,
        )
    assert (row["n"], row["n_eff"]) == (scored.n, scored.n_eff)
    assert isinstance(scored, ScoredIntervals)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"block_length": 0}, "block_length must be >= 1"),
        ({"level": 0.0}, r"level must be in \(0, 1\)"),
        ({"level": 1.0}, r"level must be in \(0, 1\)"),
        ({"level": 1.5}, r"level must be in \(0, 1\)"),
        ({"n_boot": 1}, "n_boot must be >= 2"),
        ({"labels": np.zeros(3, dtype=np.int64)}, "labels has 3 rows, expected 20"),
        ({"dates": np.arange(19)}, "dates has 19 rows, expected 20"),
        ({"realized_return": np.zeros(21)}, "realized_return has 21 rows, expected 20"),
        ({"reference_probs": np.ones((19, 3)) / 3}, r"reference_probs must have shape \(3,\)"),
        ({"probs": np.ones((20, 2)) / 2}, r"probs must have shape \(n, 3\)"),
        ({"probs": np.ones((0, 3)), "labels": [], "dates": [], "realized_return": []}, "at least"),
        ({"dates": [None, *range(19)]}, "dates must not contain nulls"),
    ],
)
def test_invalid_arguments_raise_clear_errors(change: dict[str, object], message: str) -> None:
    rng = np.random.default_rng(0)
    arguments: dict[str, object] = {
        "probs": rng.dirichlet([1.0, 1.0, 1.0], size=20),
        "labels": rng.integers(0, 3, 20),
        "dates": np.arange(20) // 4,
        "realized_return": rng.normal(size=20),
        "reference_probs": np.ones(3) / 3,
        "block_length": 2,
        "n_boot": 50,
    } | change
    with pytest.raises(ValueError, match=message):
        score_intervals(**arguments)  # type: ignore[arg-type]


def test_block_bootstrap_covers_the_true_mean_brier_on_overlapping_labels() -> None:
    # A fixed forecast against labels persisting over 5 dates: the expected Brier is known
    # exactly. Blocks of 3 horizons cover it at about the nominal rate (the moving-block variance
    # is biased down by the Bartlett weights, about 2/3 of the truth with blocks of one horizon);
    # dates resampled one by one (the brier interval straight from the count matrix) do not.
    forecast = np.array([0.25, 0.35, 0.4])
    row_brier = np.sum((forecast - np.eye(3)) ** 2, axis=1)  # the row Brier of each label
    truth = float(row_brier @ [0.3, 0.3, 0.4])
    covered = naive_covered = 0
    for seed in range(200):
        probs, labels, dates, realized = persistent_dataset(
            seed, n_dates=400, n_symbols=8, horizon=5, probs_row=forecast
        )
        brier = score_intervals(
            probs, labels, dates, realized, forecast, block_length=15, n_boot=200, seed=seed
        ).intervals["brier"]
        covered += brier.low <= truth <= brier.high
        naive = block_bootstrap_counts(400, 1, 200, seed) @ np.bincount(
            dates, weights=row_brier[labels]
        )
        low, high = np.quantile(naive / labels.shape[0], [0.025, 0.975])
        naive_covered += low <= truth <= high
    assert covered / 200 >= 0.85  # about 0.90
    assert naive_covered / 200 < 0.75  # about 0.62: far too narrow
