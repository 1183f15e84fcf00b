"""Warehouse reads and writes of the calibration assets (the forecasts read the versions they
apply in ``forecasting/store.py``)."""

from __future__ import annotations

from datetime import date

import polars as pl
import sqlalchemy as sa

from swiftbolt_assets.warehouse.slices import NewKeys, SliceWrite, query_frame, write_slices

CALIBRATION_SCHEMA: dict[str, pl.DataType] = {
    "version_id": pl.String(),
    "horizon": pl.String(),
    "fitted_through": pl.Date(),
    "method": pl.String(),
    "source": pl.String(),
    "n_samples": pl.Int32(),
    "n_holdout": pl.Int32(),
    "ece_before": pl.Float64(),
    "ece_after": pl.Float64(),
    "x": pl.List(pl.Float64()),
    "y": pl.List(pl.Float64()),
}


def calibration_keys(engine: sa.Engine) -> set[tuple[str, date]]:
    """(horizon, fitted_through) of every confidence_calibration version."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT horizon, fitted_through FROM confidence_calibration")
        ).all()
    return {(r[0], r[1]) for r in rows}


def read_backtest_outcomes(engine: sa.Engine, horizons: list[str], through: date) -> pl.DataFrame:
    """Backtest predictions of ``horizons`` whose label ended by ``through``: (horizon,
    as_of_date, label_end_date, confidence = top probability, correct = 0/1)."""
    query = (
        "SELECT horizon, as_of_date, label_end_date, p_bearish, p_neutral, p_bullish, "
        "realized_label FROM forecast_backtest_predictions "
        "WHERE horizon = ANY(%(horizons)s) AND label_end_date <= %(through)s"
    )
    schema = {
        "horizon": pl.String(),
        "as_of_date": pl.Date(),
        "label_end_date": pl.Date(),
        "p_bearish": pl.Float64(),
        "p_neutral": pl.Float64(),
        "p_bullish": pl.Float64(),
        "realized_label": pl.String(),
    }
    with engine.connect() as conn:
        frame = query_frame(conn, query, {"horizons": horizons, "through": through}, schema)
    probs = ["p_bearish", "p_neutral", "p_bullish"]
    top = pl.concat_list(probs).list.arg_max()
    truth = pl.col("realized_label").replace_strict(
        ["bearish", "neutral", "bullish"], [0, 1, 2], return_dtype=pl.UInt32
    )
    return frame.select(
        "horizon",
        "as_of_date",
        "label_end_date",
        pl.max_horizontal(probs).alias("confidence"),
        (top == truth).cast(pl.Float64).alias("correct"),
    )


def insert_calibrations(engine: sa.Engine, frame: pl.DataFrame, run_id: str) -> int:
    """Add the versions of ``frame`` that do not exist yet (by horizon and fitted_through);
    return how many. A version is written once and never replaced, so a forecast's
    calibration_version always names the map it used."""
    write = SliceWrite("confidence_calibration", frame, NewKeys(("horizon", "fitted_through")))
    return write_slices(engine, [write], run_id).written["confidence_calibration"]
