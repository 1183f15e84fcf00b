"""Rolling live scores of the daily forecasts per (symbol, horizon). Pure: no Dagster.

As of day D, for each window size w (20 and 60) the scores use the last w evaluations of
(symbol, horizon) whose target date is on or before D (fewer when fewer exist; ``n`` says how
many). One vectorized pass: evaluations sorted per (symbol, horizon) by target date get prefix
sums of every per-row quantity, and each (D, window) is the difference of two prefix sums.

- ``accuracy``: share of right labels; ``hit_rate_<label>``: share right among the forecasts
  with that label (null when there were none), with ``n_<label>``;
- ``directional_accuracy``: share of right directions among those with one (``n_directional``);
- ``brier``: mean multiclass Brier score (sum over the three classes, 0 best, 2 worst);
- ``ece``: expected calibration error of the served ``confidence`` against right/wrong, over
  ``ECE_BINS`` equal-width bins;
- ``mean_confidence``, ``inside_band_rate``, ``mean_abs_price_error_pct``;
- ``<score>_low`` / ``<score>_high`` for the scores of ``INTERVAL_SCORES``: the 95 % interval of a
  moving-block bootstrap of the window's target dates with blocks of 2 × the horizon in sessions,
  and ``n_eff``, the window's effective sample size; null where the window holds fewer than 4
  blocks (every horizon from 1M on, and the 1W 20-evaluation window). See
  :mod:`swiftbolt_assets.evaluation.live_intervals`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.evaluation.live_intervals import window_intervals
from swiftbolt_assets.forecasting.intervals import BLOCK_FACTOR
from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets.forecasting.metrics import FloatArray

WINDOWS = (20, 60)
ECE_BINS = 10
INTERVAL_SCORES = ("accuracy", "directional_accuracy", "brier", "ece")
# bootstrap replicates per window (see the README for the time this costs)
N_BOOT = 1000


def _bounds(score: str) -> tuple[str, str]:
    return f"{score}_low", f"{score}_high"


_INTEGERS = {"window_size", "n", "n_directional", *(f"n_{c}" for c in CLASSES)}
_TYPES = {
    "symbol": pl.String(),
    "horizon": pl.String(),
    "partition_date": pl.Date(),
    "first_target_date": pl.Date(),
    "last_target_date": pl.Date(),
}
LIVE_COLUMNS = (
    "symbol",
    "horizon",
    "partition_date",
    "window_size",
    "n",
    "n_eff",
    "first_target_date",
    "last_target_date",
    "accuracy",
    *_bounds("accuracy"),
    "directional_accuracy",
    *_bounds("directional_accuracy"),
    "n_directional",
    "brier",
    *_bounds("brier"),
    "ece",
    *_bounds("ece"),
    "mean_confidence",
    "inside_band_rate",
    "mean_abs_price_error_pct",
    *(f"n_{c}" for c in CLASSES),
    *(f"hit_rate_{c}" for c in CLASSES),
)
LIVE_SCHEMA: dict[str, pl.DataType] = {
    c: _TYPES.get(c, pl.Int32() if c in _INTEGERS else pl.Float64()) for c in LIVE_COLUMNS
}


def _row_quantities(evaluations: pl.DataFrame) -> pl.DataFrame:
    """Per evaluation, the additive quantities the window scores are made of."""
    truth = {c: (pl.col("realized_label") == c).cast(pl.Float64) for c in CLASSES}
    brier = sum(((pl.col(f"p_{c}") - truth[c]) ** 2 for c in CLASSES), start=pl.lit(0.0))
    correct = pl.col("label_correct").cast(pl.Float64)
    bin_index = (pl.col("confidence").clip(0.0, 1.0) * ECE_BINS).floor().clip(0, ECE_BINS - 1)
    quantities = [
        pl.lit(1.0).alias("q_count"),
        correct.alias("q_correct"),
        pl.col("direction_correct").is_not_null().cast(pl.Float64).alias("q_directional"),
        pl.col("direction_correct").fill_null(False).cast(pl.Float64).alias("q_direction_right"),
        brier.alias("q_brier"),
        pl.col("confidence").alias("q_confidence"),
        pl.col("inside_band").cast(pl.Float64).alias("q_inside"),
        pl.col("price_error_pct").abs().alias("q_abs_error"),
    ]
    for c in CLASSES:
        predicted = (pl.col("predicted_label") == c).cast(pl.Float64)
        quantities += [predicted.alias(f"q_n_{c}"), (predicted * correct).alias(f"q_hit_{c}")]
    for b in range(ECE_BINS):
        inside = (bin_index == b).cast(pl.Float64)
        quantities += [
            inside.alias(f"q_bin{b}_n"),
            (inside * pl.col("confidence")).alias(f"q_bin{b}_conf"),
            (inside * correct).alias(f"q_bin{b}_correct"),
        ]
    return evaluations.select("symbol", "horizon", "target_date", *quantities)


def _interval_stats(rows: pl.DataFrame) -> dict[str, FloatArray]:
    """Per evaluation, the statistics the interval scores are made of, by the names
    :func:`~swiftbolt_assets.forecasting.intervals.metrics_from_sums` reads."""

    def column(name: str) -> FloatArray:
        return rows.get_column(name).to_numpy().astype(np.float64)

    def bins(kind: str) -> FloatArray:
        values: FloatArray = (
            rows.select(f"q_bin{b}_{kind}" for b in range(ECE_BINS)).to_numpy().astype(np.float64)
        )
        return values

    return {
        "rows": column("q_count"),
        "brier": column("q_brier"),
        "correct": column("q_correct"),
        "direction_right": column("q_direction_right"),
        "directional": column("q_directional"),
        "bin_gap": bins("correct") - bins("conf"),
    }


def live_scores(
    evaluations: pl.DataFrame,
    requests: pl.DataFrame,
    windows: Sequence[int] = WINDOWS,
    spec: CadenceSpec = DAILY,
    n_boot: int = N_BOOT,
) -> pl.DataFrame:
    """``LIVE_COLUMNS`` rows for every (symbol, partition_date) of ``requests`` × horizon with
    evaluations × window size.

    ``evaluations``: rows of ``forecast_evaluations_daily`` (at least the scored columns) of the
    requested symbols with target dates up to the latest requested day, reaching back far
    enough for the largest window. ``spec`` gives the sessions each horizon's labels overlap
    across (the intervals' blocks are ``BLOCK_FACTOR`` times it: ``sessions_spanned``);
    ``n_boot`` bootstrap replicates each.
    """
    if evaluations.is_empty() or requests.is_empty():
        return pl.DataFrame(schema=LIVE_SCHEMA)
    # an intraday session has many evaluations: in the order of their target bars
    within = ["target_ts"] if "target_ts" in evaluations.columns else []
    rows = _row_quantities(evaluations.sort("symbol", "horizon", "target_date", *within))
    names = [c for c in rows.columns if c.startswith("q_")]
    values = rows.select(names).to_numpy().astype(np.float64)
    prefix = np.vstack([np.zeros((1, len(names))), np.cumsum(values, axis=0)])
    group = rows.select(pl.struct("symbol", "horizon").rank("dense").alias("g")).to_series()
    rows = rows.with_columns(group.cast(pl.Int64).alias("_group")).with_row_index("_pos")
    bounds = rows.group_by("_group").agg(
        pl.col("symbol").first(),
        pl.col("horizon").first(),
        pl.col("_pos").min().alias("_start"),
    )
    # per (request, group): position after the last evaluation with target_date <= D
    wanted = requests.select("symbol", "partition_date").unique().join(bounds, on="symbol")
    ends = (
        wanted.sort("partition_date")
        .join_asof(
            rows.group_by("_group", "target_date")
            .agg(pl.col("_pos").max())  # the day's last evaluation
            .sort("target_date"),
            left_on="partition_date",
            right_on="target_date",
            by="_group",
            strategy="backward",
            check_sortedness=False,  # both sides sorted by their date above
        )
        .filter(pl.col("_pos").is_not_null())
        .with_columns((pl.col("_pos").cast(pl.Int64) + 1).alias("_end"))
    )
    targets = rows.get_column("target_date")
    # per row, its date's number: consecutive within a (symbol, horizon), never shared across
    new_date = (
        (pl.col("_group") != pl.col("_group").shift(1))
        | (pl.col("target_date") != pl.col("target_date").shift(1))
    ).fill_null(True)
    dates = rows.select(new_date.cum_sum() - 1).to_series().to_numpy().astype(np.int64)
    stats = _interval_stats(rows)
    block = (
        ends.get_column("horizon")
        .replace_strict(
            {h: spec.sessions_spanned(bars) for h, bars in spec.horizons.items()},
            return_dtype=pl.Int64,
        )
        .to_numpy()
        * BLOCK_FACTOR
    )
    frames = []
    for window in windows:
        end = ends.get_column("_end").to_numpy()
        start = np.maximum(ends.get_column("_start").cast(pl.Int64).to_numpy(), end - window)
        intervals = window_intervals(
            stats, dates, start, end, block, metrics=INTERVAL_SCORES, n_boot=n_boot
        )
        sums = prefix[end] - prefix[start]
        col = {name: sums[:, i] for i, name in enumerate(names)}
        count = col["q_count"]
        ece = np.zeros_like(count)
        for b in range(ECE_BINS):
            ece += np.abs(col[f"q_bin{b}_conf"] - col[f"q_bin{b}_correct"])
        with np.errstate(invalid="ignore", divide="ignore"):
            frame = pl.DataFrame(
                {
                    "symbol": ends.get_column("symbol"),
                    "horizon": ends.get_column("horizon"),
                    "partition_date": ends.get_column("partition_date"),
                    "window_size": np.full(end.size, window, dtype=np.int32),
                    "n": count.astype(np.int32),
                    **intervals,
                    "first_target_date": targets.gather(start),
                    "last_target_date": targets.gather(end - 1),
                    "accuracy": col["q_correct"] / count,
                    "directional_accuracy": np.where(
                        col["q_directional"] > 0,
                        col["q_direction_right"] / col["q_directional"],
                        np.nan,
                    ),
                    "n_directional": col["q_directional"].astype(np.int32),
                    "brier": col["q_brier"] / count,
                    "ece": ece / count,
                    "mean_confidence": col["q_confidence"] / count,
                    "inside_band_rate": col["q_inside"] / count,
                    "mean_abs_price_error_pct": col["q_abs_error"] / count,
                    **{f"n_{c}": col[f"q_n_{c}"].astype(np.int32) for c in CLASSES},
                    **{
                        f"hit_rate_{c}": np.where(
                            col[f"q_n_{c}"] > 0, col[f"q_hit_{c}"] / col[f"q_n_{c}"], np.nan
                        )
                        for c in CLASSES
                    },
                }
            )
        frames.append(frame)
    result = pl.concat(frames).with_columns(
        pl.col(
            "directional_accuracy",
            *(f"hit_rate_{c}" for c in CLASSES),
            "n_eff",
            *(b for score in INTERVAL_SCORES for b in _bounds(score)),
        ).fill_nan(None)
    )
    return (
        result.select(LIVE_COLUMNS)
        .cast(LIVE_SCHEMA)  # type: ignore[arg-type]
        .sort("partition_date", "symbol", "horizon", "window_size")
    )
