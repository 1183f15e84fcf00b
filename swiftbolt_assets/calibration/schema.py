"""The contracts of the calibration tables' rows (pandera, polars backend), checked before every
write. ``run_id`` and ``created_at`` are added at write time."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.calibration.weights import WEIGHTS_COLUMNS
from swiftbolt_assets.evaluation.schema import rows_where
from swiftbolt_assets.forecasting.schema import UNIT
from swiftbolt_assets.ingestion.sources import SYMBOL_PATTERN


def calibration_schema(spec: CadenceSpec = DAILY) -> pa.DataFrameSchema:
    """A ``confidence_calibration`` row: a monotone map (empty = identity)."""
    return pa.DataFrameSchema(
        {
            "version_id": pa.Column(str),
            "horizon": pa.Column(str, pa.Check.isin(list(spec.horizons))),
            "fitted_through": pa.Column(pl.Date),
            "method": pa.Column(str, pa.Check.isin(["isotonic", "identity"])),
            "source": pa.Column(str, pa.Check.isin(["backtest", "live"])),
            "n_samples": pa.Column(pl.Int32, pa.Check.gt(0)),
            "n_holdout": pa.Column(pl.Int32, pa.Check.ge(0)),
            "ece_before": pa.Column(pl.Float64, nullable=True),
            "ece_after": pa.Column(pl.Float64, nullable=True),
            "x": pa.Column(pl.List(pl.Float64)),
            "y": pa.Column(pl.List(pl.Float64)),
        },
        unique=["version_id"],
        strict=True,
        name="confidence_calibration",
    )


def weights_schema(spec: CadenceSpec = DAILY) -> pa.DataFrameSchema:
    """A layer-weights row (``symbol_model_weights`` for daily): one per (symbol, horizon,
    version)."""
    briers = (
        "train_brier",
        "validation_brier_fitted",
        "validation_brier_default",
        "validation_brier_ensemble",
    )
    columns = {
        "symbol": pa.Column(str, pa.Check.str_matches(SYMBOL_PATTERN)),
        "horizon": pa.Column(str, pa.Check.isin(list(spec.horizons))),
        "partition_date": pa.Column(pl.Date),
        "method": pa.Column(
            str, pa.Check.isin(["fitted", "fallback_few_evaluations", "fallback_no_gain"])
        ),
        **{f"w_{layer}": pa.Column(pl.Float64, UNIT) for layer in ("supertrend", "sr", "ensemble")},
        "n_evaluations": pa.Column(pl.Int32, pa.Check.ge(0)),
        "n_train": pa.Column(pl.Int32, pa.Check.ge(0)),
        "n_validation": pa.Column(pl.Int32, pa.Check.ge(0)),
        **{b: pa.Column(pl.Float64, pa.Check.in_range(0.0, 2.0), nullable=True) for b in briers},
        "fallback_reason": pa.Column(str, nullable=True),
        "version_id": pa.Column(str),
        "fitted_through": pa.Column(pl.Date),
        "valid_from": pa.Column(pl.Datetime("us", "UTC")),
        "valid_until": pa.Column(pl.Datetime("us", "UTC")),
    }
    assert set(columns) == {
        *WEIGHTS_COLUMNS,
        "version_id",
        "fitted_through",
        "valid_from",
        "valid_until",
    }
    return pa.DataFrameSchema(
        columns,
        unique=["symbol", "horizon", "version_id"],
        strict=True,
        name=spec.tables.weights,
        checks=[
            pa.Check(lambda d: rows_where(d, pl.col("valid_until") > pl.col("valid_from"))),
            pa.Check(
                lambda d: rows_where(
                    d,
                    (pl.sum_horizontal("w_supertrend", "w_sr", "w_ensemble") - 1.0).abs() < 1e-9,
                )
            ),
            pa.Check(
                lambda d: rows_where(
                    d, (pl.col("method") == "fitted") == pl.col("fallback_reason").is_null()
                )
            ),
        ],
    )
