"""The rows of a cutoff binned once for the refits of every horizon and learner. Pure.

LightGBM turns a float matrix into per-feature bins before it grows a tree; done per fit, a
retrain of 8 horizons bins nearly the same rows 32 times (two learners, fit and refit). Here the
rows the refits of one cutoff can use (every ``stride``-th session up to the cutoff, with a
usable volatility) are binned once into one ``lgb.Dataset``; each refit takes the subset of its
rows (``LGBM_DatasetGetSubset`` copies bins, it does not re-bin) and sets its horizon's labels.
The bin edges come from those rows instead of the refit's own: a different discretization, never
from a row after the cutoff. The first fit of a version (the one its validation scores judge)
bins its own training rows (``per_fit_dataset``): edges from the shared rows would carry the
validation window's feature distribution into it. ``TrainingParams.shared_bins`` chooses; the
bench compares both procedures.

The frame must carry ``ROW_ID`` (``with_row_ids``) so the rows of a split find their place.
"""

from __future__ import annotations

from datetime import date

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.forecasting.dataset import design_matrix

ROW_ID = "row_id"
# Dataset-level parameters, fixed at binning (a fit cannot change them afterwards);
# ``feature_pre_filter`` off so the learners may set their own leaf sizes on shared bins
_DATASET_PARAMS = {"verbosity": -1, "feature_pre_filter": False}


def with_row_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``ROW_ID``: its row positions (carried through every filter of a split)."""
    return frame.with_row_index(ROW_ID)


class SharedBins:
    """One binned ``lgb.Dataset`` of the fit-able rows of ``frame``, subset per fit."""

    def __init__(
        self,
        frame: pl.DataFrame,
        features: list[str],
        *,
        through: date,
        stride: int,
        num_threads: int,
    ) -> None:
        sigma = pl.col("sigma")
        rows = frame.filter(
            (pl.col("session_date") <= through)
            & (pl.col("bar_index") % stride == 0)
            & sigma.is_finite()
            & (sigma > 0)
        )
        self.through = through
        ids = rows.get_column(ROW_ID).to_numpy()
        self.features = features
        self.rows = int(ids.size)
        size = int(frame.get_column(ROW_ID).cast(pl.Int64).to_numpy().max(initial=-1)) + 1
        self._position = np.full(size, -1, dtype=np.int64)
        self._position[ids] = np.arange(ids.size)
        self._dataset = lgb.Dataset(
            design_matrix(rows, features),
            label=np.zeros(ids.size),
            params=_DATASET_PARAMS | {"num_threads": num_threads},
            free_raw_data=True,
        ).construct()

    def dataset(self, rows: pl.DataFrame, labels: npt.NDArray[np.int64]) -> lgb.Dataset:
        """The binned subset of ``rows`` (of the frame, with ``ROW_ID``) labelled ``labels``.

        LightGBM keeps a subset's rows in the parent's order, so the labels are put in that
        order too."""
        ids = rows.get_column(ROW_ID).to_numpy()
        position = np.full(ids.size, -1, dtype=np.int64)
        known = ids < self._position.size
        position[known] = self._position[ids[known]]
        if (position < 0).any():
            missing = int((position < 0).sum())
            msg = (
                f"{missing} rows are not in the shared bins (not a stride session, or after "
                f"{self.through})"
            )
            raise ValueError(msg)
        order = np.argsort(position, kind="stable")
        subset = self._dataset.subset(position[order].tolist()).construct()
        subset.set_label(labels[order])
        return subset


def per_fit_dataset(
    rows: pl.DataFrame,
    labels: npt.NDArray[np.int64],
    features: list[str],
    *,
    reusable: bool = False,
) -> lgb.Dataset:
    """``rows`` binned on their own (the procedure before ``SharedBins``); ``reusable``: one
    dataset both learners can train on (the same trees as one each)."""
    params = _DATASET_PARAMS if reusable else {"verbosity": -1}
    return lgb.Dataset(design_matrix(rows, features), label=labels, params=params)
