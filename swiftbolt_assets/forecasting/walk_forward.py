"""The walk-forward layout of a fit: hyper-parameters, and the purged, embargoed split. Pure.

Training for a cutoff C uses only labels whose window ends on or before C:

    validation: the last ``validation_sessions`` as-of dates whose label ends on or before C
    training:   as-of dates whose label ends before the validation's first as-of date minus an
                embargo of ``embargo_sessions`` (purge: no training label overlaps validation),
                every ``TrainingParams.stride_for(h)``-th session of the last
                ``max_train_sessions``
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from swiftbolt_assets.cadence import M15_BARS_PER_SESSION, TRADING_DAYS_PER_YEAR
from swiftbolt_assets.settings import EXCHANGE_TIMEZONE


@dataclass(frozen=True)
class TrainingParams:
    """Hyper-parameters and the walk-forward layout (all recorded in the registry)."""

    lgbm_rounds: int = 100
    lgbm_learning_rate: float = 0.06  # 100 rounds at 0.06: half the time of 200 at 0.03
    lgbm_num_leaves: int = 31
    rf_trees: int = 40  # the skill of 100 trees within 0.0006 per horizon, 0.70x the retrain
    rf_num_leaves: int = 63
    min_child_samples: int = 400
    validation_sessions: int = 252
    embargo_sessions: int = 5
    stride: int = 5
    max_train_sessions: int = 252 * 12
    refit: bool = True
    seed: int = 7
    # bin the rows of a cutoff once for every refit (``bins``), not once per refit
    shared_bins: bool = True
    # thin overlapping labels: a horizon of h sessions trains on every ``stride_for(h)``-th
    # session (about 4 rows per label window), not every ``stride``-th
    thin_overlaps: bool = True

    def stride_for(self, days: int) -> int:
        """The training stride of a horizon of ``days`` sessions: a multiple of ``stride``
        (so its rows are in the shared bins), ``stride`` itself up to 4 x ``stride`` sessions."""
        return self.stride * self.thinning(days)

    def thinning(self, days: int) -> int:
        """How many ``stride`` sessions one training row of a ``days``-session horizon stands
        for (1 without ``thin_overlaps``): minimum training sizes count sessions, not rows."""
        return max(1, days // (4 * self.stride)) if self.thin_overlaps else 1

    def lgbm_params(self) -> dict[str, Any]:
        return {
            "objective": "multiclass",
            "num_class": 3,
            "learning_rate": self.lgbm_learning_rate,
            "num_leaves": self.lgbm_num_leaves,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": 0.7,
            "bagging_freq": 1,
            "feature_fraction": 0.7,
            "lambda_l2": 1.0,
            **_common(self.seed),
        }

    def rf_params(self) -> dict[str, Any]:
        return {
            "objective": "multiclass",
            "num_class": 3,
            "boosting": "rf",
            "num_leaves": self.rf_num_leaves,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": 0.5,
            "bagging_freq": 1,
            "feature_fraction": 0.5,
            **_common(self.seed + 1),
        }


# The intraday layout, in m15 bars (a session has 26): validate on the last 8 sessions, embargo
# one 1h label, train on every bar of up to a year; leaves of 200 rows (the real 15-minute files
# hold ~15,000 labelled rows in all). Horizons of 1 and 4 bars thin nothing.
INTRADAY_PARAMS = TrainingParams(
    min_child_samples=200,
    validation_sessions=8 * M15_BARS_PER_SESSION,
    embargo_sessions=4,
    stride=1,
    max_train_sessions=TRADING_DAYS_PER_YEAR * M15_BARS_PER_SESSION,
)


def _common(seed: int) -> dict[str, Any]:
    return {
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": os.cpu_count() or 1,
        "verbosity": -1,
    }


@dataclass(frozen=True)
class Split:
    """Training and validation rows of one (horizon, cutoff)."""

    train: pl.DataFrame
    validation: pl.DataFrame


def walk_forward_split(
    frame: pl.DataFrame, horizon: str, cutoff: date, params: TrainingParams, *, days: int = 1
) -> Split:
    """Purged, embargoed split of labelled rows whose label window ends on or before ``cutoff``.

    ``frame`` has ``bar_index`` (the as-of bar's position in the cadence's calendar of bars:
    sessions for daily, m15 slots for intraday), ``end_<horizon>`` (the label's last session,
    or the close of its last bar), ``end_index_<horizon>`` and ``label_<horizon>`` (see
    ``add_labels``); the horizon is ``days`` bars long (its training stride:
    ``params.stride_for``). Every count of ``params`` is in bars of the cadence.
    """
    sigma = pl.col("sigma")
    end = pl.col(f"end_{horizon}")
    if frame.schema[f"end_{horizon}"] != pl.Date:  # a bar's close: its session in New York
        end = end.dt.convert_time_zone(EXCHANGE_TIMEZONE).dt.date()
    known = frame.filter(
        pl.col(f"label_{horizon}").is_not_null()
        & (end <= cutoff)
        # a zero or undefined volatility gives zero-width thresholds and infinite z: such a day
        # gets no forecast, so it is no training example either
        & sigma.is_finite()
        & (sigma > 0)
    )
    if known.is_empty():
        return Split(known, known)
    last = int(known.get_column("bar_index").max())  # type: ignore[arg-type]
    validation_start = last - params.validation_sessions + 1
    validation = known.filter(pl.col("bar_index") >= validation_start)
    # Purge: a training label must end before validation starts, with an embargo on top.
    embargo_limit = validation_start - params.embargo_sessions
    train = known.filter(
        (pl.col(f"end_index_{horizon}") < embargo_limit)
        & (pl.col("bar_index") >= embargo_limit - params.max_train_sessions)
        & (pl.col("bar_index") % params.stride_for(days) == 0)
    )
    return Split(train, validation)
