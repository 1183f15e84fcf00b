"""Rows binned once per cutoff (``forecasting/bins``): the subsets carry the right labels in
LightGBM's row order, a refit on them is the refit binned on its own rows, the judged first fit
never uses them, and a row outside the bins (or after the cutoff) is an error, not a drop."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import polars as pl
import pytest

from swiftbolt_assets.calendar import sessions_between
from swiftbolt_assets.forecasting.bins import ROW_ID, SharedBins, per_fit_dataset, with_row_ids
from swiftbolt_assets.forecasting.dataset import MODEL_FEATURES
from swiftbolt_assets.forecasting.models import fit_horizon, shared_bins
from swiftbolt_assets.forecasting.walk_forward import walk_forward_split
from swiftbolt_assets_tests.test_forecast_models_pure import E2E_PARAMS, synthetic_frame

FEATURES = list(MODEL_FEATURES)
END = date(2021, 12, 31)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    sessions = sessions_between("XNYS", date(2019, 1, 2), date(2021, 12, 31))
    return with_row_ids(synthetic_frame(sessions, 12, 240, seed=21, signal=True))


def test_a_subset_carries_its_labels_in_lightgbms_row_order(frame: pl.DataFrame) -> None:
    bins = SharedBins(frame, FEATURES, through=END, stride=1, num_threads=1)
    assert bins.rows == frame.height
    rows = frame.sample(500, seed=1, shuffle=True)  # out of the frame's order
    labels = rows.get_column("label_1D").cast(pl.Int64).to_numpy()
    subset = bins.dataset(rows, labels)
    assert subset.num_data() == 500
    # LightGBM keeps the parent's order: the labels must follow the rows there
    order = np.argsort(rows.get_column(ROW_ID).to_numpy())
    assert np.array_equal(subset.get_label(), labels[order].astype(np.float32))


def test_a_row_outside_the_bins_is_an_error(frame: pl.DataFrame) -> None:
    bins = SharedBins(frame, FEATURES, through=END, stride=2, num_threads=1)
    odd = frame.filter(pl.col("bar_index") % 2 == 1).head(5)
    with pytest.raises(ValueError, match="5 rows are not in the shared bins"):
        bins.dataset(odd, np.zeros(5, dtype=np.int64))


def test_no_row_after_the_cutoff_is_binned(frame: pl.DataFrame) -> None:
    cutoff = date(2019, 6, 28)
    bins = SharedBins(frame, FEATURES, through=cutoff, stride=1, num_threads=1)
    assert bins.rows == frame.filter(pl.col("session_date") <= cutoff).height
    later = frame.filter(pl.col("session_date") > cutoff).head(3)
    with pytest.raises(ValueError, match="after 2019-06-28"):
        bins.dataset(later, np.zeros(3, dtype=np.int64))


@pytest.mark.usefixtures("single_thread_lightgbm")
def test_a_refit_on_shared_bins_of_the_same_rows_is_the_refit_binned_on_its_own(
    frame: pl.DataFrame,
) -> None:
    params = replace(E2E_PARAMS, stride=1, refit=True)
    cutoff = date(2019, 11, 29)
    split = walk_forward_split(frame, "1D", cutoff, params)
    own = fit_horizon(split, "1D", 1, cutoff, replace(params, shared_bins=False))
    # bins over exactly the refit's rows (training + validation): the same edges
    refit_rows = pl.concat([split.train, split.validation])
    same = fit_horizon(split, "1D", 1, cutoff, params, bins=shared_bins(refit_rows, params, cutoff))
    # the same trees (the parameters echoed after them differ: feature_pre_filter is off)
    trees = [m.model.lgbm_model.split("parameters:")[0] for m in (same, own)]
    assert trees[0] == trees[1]
    # bins over every row through the cutoff: other edges, so another refit ...
    wide = fit_horizon(split, "1D", 1, cutoff, params, bins=shared_bins(frame, params, cutoff))
    assert wide.model.lgbm_model.split("parameters:")[0] != trees[1]
    # ... but the first fit, whose validation scores judge the version, bins its own training
    # rows: no validation row's features shape it, with or without shared bins
    for fitted in (same, wide):
        assert np.array_equal(fitted.validation_predictions, own.validation_predictions)
        assert fitted.model.lgbm_weight == own.model.lgbm_weight


def test_per_fit_binning_is_the_procedure_without_shared_bins(frame: pl.DataFrame) -> None:
    rows = frame.head(300)
    labels = rows.get_column("label_1D").cast(pl.Int64).to_numpy()
    data = per_fit_dataset(rows, labels, FEATURES).construct()
    assert data.num_data() == 300
    assert np.array_equal(data.get_label(), labels.astype(np.float32))
    assert shared_bins(frame, replace(E2E_PARAMS, shared_bins=False), END) is None
