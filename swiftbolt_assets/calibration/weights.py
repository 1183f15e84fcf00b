"""Per (symbol, horizon) layer weights fitted walk-forward on past evaluations. Pure: no Dagster.

At the close of D, for each (symbol, horizon) the last ``LOOKBACK`` evaluations with a target
date on or before D (all known at that close) are used (intraday, ``calibrated_weights``: at a
bar close t, the last ``LOOKBACK`` evaluations whose target bar closed by t; "before" below is
by bar closes):

1. Validation: the latest ``max(MIN_VALIDATION, VALIDATION_FRACTION * n)`` of them.
2. Training (for the diagnostics): the earlier evaluations whose target date is before the
   as-of date of the first validation forecast, so no training outcome was unknown when that
   forecast was made (the embargo: overlapping label windows never straddle the split).
3. Weights on the simplex (grid step ``GRID_STEP``) minimizing the multiclass Brier score of the
   blended layer probabilities on the training part; scored on the validation part against the
   default weights (and the ensemble alone).
4. If the fitted weights beat the defaults on validation, the served weights are refit the same
   way on all n evaluations (``method = fitted``). Otherwise the row records the fallback to
   the defaults with the reason: ``fallback_few_evaluations`` (fewer than ``MIN_EVALUATIONS``,
   or fewer than ``MIN_TRAIN`` before the embargo) or ``fallback_no_gain``.

The Brier score of a weight vector w over a set of rows is a quadratic form,
``(w' G w - 2 b'w + n) / n`` with ``G[l, m] = sum(P_l . P_m)`` and ``b[l] = sum(P_l[y])``, so every
window is a difference of prefix sums of 9 numbers per row and the whole grid is one matrix
product: one vectorized pass over all symbols, horizons and days of a run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets.forecasting.synthesizer import DEFAULT_WEIGHTS, LAYERS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

LOOKBACK = 250
MIN_EVALUATIONS = 40
MIN_TRAIN = 20
MIN_VALIDATION = 10
VALIDATION_FRACTION = 0.25
GRID_STEP = 0.05
GAIN_TOLERANCE = 1e-9  # Brier units
_PAIRS = [(i, j) for i in range(len(LAYERS)) for j in range(i, len(LAYERS))]
# composite search key: group * _KEY + ticks (days since 1970, or minutes for bar closes)
_KEY = 1_000_000_000

WEIGHTS_COLUMNS = (
    "symbol",
    "horizon",
    "partition_date",
    "method",
    "w_supertrend",
    "w_sr",
    "w_ensemble",
    "n_evaluations",
    "n_train",
    "n_validation",
    "train_brier",
    "validation_brier_fitted",
    "validation_brier_default",
    "validation_brier_ensemble",
    "fallback_reason",
)


@dataclass(frozen=True)
class WeightFitParams:
    lookback: int = LOOKBACK
    min_evaluations: int = MIN_EVALUATIONS
    min_train: int = MIN_TRAIN
    min_validation: int = MIN_VALIDATION
    validation_fraction: float = VALIDATION_FRACTION
    grid_step: float = GRID_STEP


def simplex_grid(step: float) -> FloatArray:
    """Every weight vector over the layers with components in multiples of ``step``."""
    units = round(1.0 / step)
    points = [
        (a, b, units - a - b)
        for a, b in itertools.product(range(units + 1), repeat=2)
        if a + b <= units
    ]
    grid: FloatArray = np.asarray(points, dtype=np.float64) / units
    return grid


def _quadratic_terms(weights: FloatArray) -> FloatArray:
    """(k, 6) coefficients of G's unique entries in w' G w (off-diagonal counted twice)."""
    return np.stack(
        [weights[:, i] * weights[:, j] * (1.0 if i == j else 2.0) for i, j in _PAIRS], axis=1
    )


def brier_of(
    weights: FloatArray, gram: FloatArray, linear: FloatArray, n: FloatArray
) -> FloatArray:
    """Brier score of each weight vector (k, 3) on each window (gram (m, 6), linear (m, 3),
    n (m,)): (k, m), NaN where n = 0."""
    quadratic = _quadratic_terms(weights) @ gram.T - 2.0 * (weights @ linear.T) + n[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = np.where(n[None, :] > 0, quadratic / n[None, :], np.nan)
    return result


def _row_terms(evaluations: pl.DataFrame) -> FloatArray:
    """Per evaluation: the 6 unique Gram entries, the 3 probabilities of the realized class."""
    probs = np.stack(
        [
            evaluations.select([f"{layer}_p_{c}" for c in CLASSES]).to_numpy().astype(np.float64)
            for layer in LAYERS
        ],
        axis=1,
    )  # (rows, layers, classes)
    truth = (
        evaluations.get_column("realized_label")
        .replace_strict(list(CLASSES), list(range(len(CLASSES))), return_dtype=pl.Int64)
        .to_numpy()
    )
    gram = np.stack([np.sum(probs[:, i] * probs[:, j], axis=1) for i, j in _PAIRS], axis=1)
    linear = probs[np.arange(truth.size), :, truth]
    return np.hstack([gram, linear, np.ones((truth.size, 1))])


def _ticks(values: pl.Series) -> IntArray:
    """Dates as days since 1970, instants as minutes since 1970 (search keys)."""
    if values.dtype == pl.Date:
        return values.cast(pl.Int64).to_numpy()
    minutes: IntArray = (values.dt.epoch("s") // 60).cast(pl.Int64).to_numpy()
    return minutes


@dataclass(frozen=True)
class _Keys:
    """The columns that order a cadence's evaluations and requests: when an outcome became
    known (``target``), when its forecast was made (``as_of``), when weights are fitted
    (``at``): dates for daily, bar closes for intraday."""

    target: str
    as_of: str
    at: str


def _keys(spec: CadenceSpec) -> _Keys:
    if spec.bar_minutes is None:
        return _Keys("target_date", "as_of_date", "partition_date")
    return _Keys("target_ts", "as_of_ts", "fitted_at")


@dataclass(frozen=True)
class _Windows:
    """Per request row: [start, train_end) trains, [validation_start, end) validates."""

    start: IntArray
    train_end: IntArray
    validation_start: IntArray
    end: IntArray


def _windows(
    usable: pl.DataFrame, wanted: pl.DataFrame, params: WeightFitParams, keys: _Keys
) -> tuple[pl.DataFrame, _Windows]:
    """Index the windows of every (symbol, horizon, fit time) request in ``usable`` (sorted by
    symbol, horizon, target) with one vectorized search."""
    groups = usable.select("symbol", "horizon").unique(maintain_order=True)
    groups = groups.with_row_index("_group").with_columns(pl.col("_group").cast(pl.Int64))
    usable = usable.join(groups, on=["symbol", "horizon"], how="left", maintain_order="left")
    search = usable.get_column("_group").to_numpy() * _KEY + _ticks(usable.get_column(keys.target))
    as_of_days = _ticks(usable.get_column(keys.as_of))
    first = (
        usable.with_row_index("_pos")
        .group_by("_group")
        .agg(pl.col("_pos").min().cast(pl.Int64).alias("_start"))
    )
    wanted = wanted.join(groups, on=["symbol", "horizon"], how="left").join(
        first, on="_group", how="left"
    )
    has_group = wanted.get_column("_group").is_not_null().to_numpy()
    group = wanted.get_column("_group").fill_null(0).to_numpy()
    day = _ticks(wanted.get_column(keys.at))
    end = np.where(has_group, np.searchsorted(search, group * _KEY + day, side="right"), 0)
    start = np.where(
        has_group,
        np.maximum(wanted.get_column("_start").fill_null(0).to_numpy(), end - params.lookback),
        0,
    )
    n = end - start
    n_validation = np.minimum(
        n,
        np.maximum(params.min_validation, np.round(n * params.validation_fraction)).astype(
            np.int64
        ),
    )
    validation_start = end - n_validation
    if len(as_of_days):
        first_validation_as_of = as_of_days[np.clip(validation_start, 0, len(as_of_days) - 1)]
    else:
        first_validation_as_of = np.zeros_like(n)
    # training outcomes must be known when the first validation forecast was made
    train_limit = np.searchsorted(search, group * _KEY + first_validation_as_of, side="left")
    train_end = np.clip(np.minimum(train_limit, validation_start), start, None)
    return wanted, _Windows(start, train_end, validation_start, end)


def fit_weights(
    evaluations: pl.DataFrame,
    requests: pl.DataFrame,
    params: WeightFitParams | None = None,
    spec: CadenceSpec = DAILY,
) -> pl.DataFrame:
    """``WEIGHTS_COLUMNS`` rows for every (symbol, partition_date) of ``requests`` × the
    cadence's horizons (intraday: every (symbol, partition_date, fitted_at), and the rows
    carry ``fitted_at``: weights fitted at that bar close on the evaluations whose target
    bar had closed by then).

    ``evaluations``: (symbol, horizon, as_of_date, target_date, realized_label and the nine
    layer probabilities; intraday also as_of_ts and target_ts) of the requested symbols,
    targets up to the latest request.
    """
    keys = _keys(spec)
    extra = [] if spec.bar_minutes is None else ["fitted_at"]
    params = params or WeightFitParams()
    default = np.asarray([[DEFAULT_WEIGHTS[layer] for layer in LAYERS]])
    grid = simplex_grid(params.grid_step)
    usable = evaluations.drop_nulls([f"{layer}_p_{c}" for layer in LAYERS for c in CLASSES]).sort(
        "symbol", "horizon", keys.target
    )
    wanted = (
        requests.select("symbol", "partition_date", *extra)
        .unique()
        .join(pl.DataFrame({"horizon": list(spec.horizons)}), how="cross")
        .sort(keys.at, "symbol", "horizon")
    )
    wanted, w = _windows(usable, wanted, params, keys)
    terms = _row_terms(usable) if usable.height else np.zeros((0, 10))
    prefix = np.vstack([np.zeros((1, 10)), np.cumsum(terms, axis=0)])

    def window(lo: IntArray, hi: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        sums = prefix[hi] - prefix[lo]
        return sums[:, :6], sums[:, 6:9], sums[:, 9]

    n, n_train = w.end - w.start, w.train_end - w.start
    validation = window(w.validation_start, w.end)
    train_scores = brier_of(grid, *window(w.start, w.train_end))  # (grid, requests)
    best_train = np.argmin(np.where(np.isnan(train_scores), np.inf, train_scores), axis=0)
    columns = np.arange(n.size)
    validation_scores = brier_of(grid, *validation)[best_train, columns]
    default_validation = brier_of(default, *validation)[0]
    all_scores = brier_of(grid, *window(w.start, w.end))
    served = grid[np.argmin(np.where(np.isnan(all_scores), np.inf, all_scores), axis=0)]

    few = (n < params.min_evaluations) | (n_train < params.min_train)
    # a real gain, not float noise: the quadratic form rounds differently per grid point, and
    # identical layers would otherwise "beat" the defaults by one unit in the last place
    gain = validation_scores < default_validation - GAIN_TOLERANCE
    method = np.where(few, "fallback_few_evaluations", np.where(gain, "fitted", "fallback_no_gain"))
    chosen = np.where((method == "fitted")[:, None], served, default)
    fitted = ~few

    def diagnostic(values: FloatArray) -> pl.Series:
        return pl.Series(np.where(fitted, values, np.nan)).fill_nan(None)

    return (
        wanted.select("symbol", "horizon", "partition_date", *extra)
        .with_columns(
            pl.Series("method", method, dtype=pl.String),
            *(pl.Series(f"w_{layer}", chosen[:, i]) for i, layer in enumerate(LAYERS)),
            pl.Series("n_evaluations", n.astype(np.int32)),
            pl.Series("n_train", n_train.astype(np.int32)),
            pl.Series("n_validation", np.where(fitted, w.end - w.validation_start, 0)).cast(
                pl.Int32
            ),
            diagnostic(train_scores[best_train, columns]).alias("train_brier"),
            diagnostic(validation_scores).alias("validation_brier_fitted"),
            diagnostic(default_validation).alias("validation_brier_default"),
            diagnostic(brier_of(np.asarray([[0.0, 0.0, 1.0]]), *validation)[0]).alias(
                "validation_brier_ensemble"
            ),
        )
        .with_columns(
            pl.when(pl.col("method") == "fallback_few_evaluations")
            .then(
                pl.format(
                    "too few evaluations: {} known, {} before the embargo (need {} and {})",
                    "n_evaluations",
                    "n_train",
                    pl.lit(params.min_evaluations),
                    pl.lit(params.min_train),
                )
            )
            .when(pl.col("method") == "fallback_no_gain")
            .then(
                pl.lit(
                    "weights fitted on the earlier evaluations did not beat the defaults on the "
                    "later ones"
                )
            )
            .otherwise(None)
            .alias("fallback_reason")
        )
        .select(*WEIGHTS_COLUMNS, *extra)
        .sort(keys.at, "symbol", "horizon")
    )
