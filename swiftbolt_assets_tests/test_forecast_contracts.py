"""The forecasting and evaluation tables' contracts (pandera schemas): each matches its
migration's columns on PostgreSQL, and the forecast contract rejects a target outside its band.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial

import pandera.polars as pa
import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.cadence import INTRADAY
from swiftbolt_assets.calibration.schema import calibration_schema, weights_schema
from swiftbolt_assets.evaluation.schema import evaluations_schema, live_schema
from swiftbolt_assets.forecasting.forecast import LAYER_PROBABILITY_COLUMNS
from swiftbolt_assets.forecasting.schema import (
    backtest_metrics_schema,
    backtest_predictions_schema,
    forecasts_schema,
    registry_schema,
    skips_schema,
    validated,
)
from swiftbolt_assets.forecasting.synthesizer import DEFAULT_VERSION

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(
    ("table", "schema", "unchecked"),
    [
        ("ml_forecasts_daily", forecasts_schema, set()),
        ("ml_forecast_skips", skips_schema, set()),
        ("forecast_backtest", backtest_metrics_schema, set()),
        ("forecast_backtest_predictions", backtest_predictions_schema, set()),
        ("confidence_calibration", calibration_schema, set()),
        ("forecast_evaluations_daily", evaluations_schema, set()),
        ("live_predictions_daily", live_schema, set()),
        ("symbol_model_weights", weights_schema, set()),
        ("ml_forecasts_intraday", partial(forecasts_schema, INTRADAY), set()),
        ("ml_forecast_skips_intraday", partial(skips_schema, INTRADAY), set()),
        ("forecast_evaluations_intraday", partial(evaluations_schema, INTRADAY), set()),
        ("live_predictions_intraday", partial(live_schema, INTRADAY), set()),
        # the table's end of validity is expires_at; the frame's valid_until is renamed to it
        (
            "calibrated_weights",
            lambda: weights_schema(INTRADAY).remove_columns(["valid_until"]),
            {"expires_at"},
        ),
        # JSON and bytes produced by the model itself
        (
            "model_registry",
            registry_schema,
            {"feature_list", "hyperparameters", "oos_metrics", "artifact"},
        ),
    ],
)
def test_every_forecasting_and_evaluation_table_has_a_contract_matching_its_migration(
    engine: sa.Engine, table: str, schema: Callable[[], pa.DataFrameSchema], unchecked: set[str]
) -> None:
    with engine.connect() as conn:
        columns = set(
            conn.execute(
                sa.text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
                {"t": table},
            ).scalars()
        )
    assert set(schema().columns) == columns - {"run_id", "created_at"} - unchecked


def test_the_forecast_contract_rejects_a_target_outside_its_band() -> None:
    row = {
        "symbol": "AAPL",
        "as_of_date": date(2026, 10, 28),
        "horizon": "1W",
        "horizon_days": 5,
        "target_date": date(2026, 11, 4),
        "partition_date": date(2026, 10, 28),
        "close": 100.0,
        "label": "bullish",
        "p_bearish": 0.2,
        "p_neutral": 0.3,
        "p_bullish": 0.5,
        "confidence": 0.5,
        "raw_confidence": 0.5,
        "predicted_return": 0.02,
        "target_price": 102.0,
        "lower_band": 95.0,
        "upper_band": 105.0,
        "threshold_down": -0.01,
        "threshold_up": 0.01,
        "sigma_daily": 0.01,
        "supertrend_component": 0.1,
        "sr_component": 0.0,
        "ensemble_component": 0.3,
        **dict.fromkeys(LAYER_PROBABILITY_COLUMNS, 1.0 / 3.0),
        "w_supertrend": 0.15,
        "w_sr": 0.15,
        "w_ensemble": 0.7,
        "model_version": "1W-x",
        "served_by": "model",
        "shrinkage": 0.8,
        "skill_low": 0.001,
        "weights_source": "default",
        "weights_version": DEFAULT_VERSION,
        "calibration_version": None,
        "feature_ts": datetime(2026, 10, 28, 4, tzinfo=UTC),
        "features_run_id": "r",
    }
    schema = {"horizon_days": pl.Int32, "calibration_version": pl.String}
    good = pl.DataFrame([row], schema_overrides=schema)
    assert validated(good, forecasts_schema()).height == 1
    bad = pl.DataFrame([row | {"upper_band": 101.0}], schema_overrides=schema)
    with pytest.raises(pa.errors.SchemaErrors, match="DataFrameSchema"):
        validated(bad, forecasts_schema())
