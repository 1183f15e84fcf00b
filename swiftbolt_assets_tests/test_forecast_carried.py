"""What a daily forecast carries from other assets, on PostgreSQL: the layer weights by
precedence (symbol, then the default; expired rows never count) and the confidence calibration
fitted before its day.

The world (symbols, definitions, models trained once) comes from ``forecast_fixtures``; this
module runs on the worker of ``test_forecast_assets`` (``conftest.SHARED_WORKER``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets.forecasting.models import HorizonModel
from swiftbolt_assets.forecasting.shrinkage import shrink
from swiftbolt_assets.forecasting.synthesizer import (
    DEFAULT_WEIGHTS,
    LAYERS,
    combine,
)
from swiftbolt_assets_tests.forecast_fixtures import (
    FIRST_END,
    GO_LIVE,
    forecasts,
    run,
)

pytestmark = pytest.mark.postgres


def insert_weights(
    engine: sa.Engine,
    table: str,
    *,
    symbol: str,
    version: str,
    valid_from: datetime,
    until: datetime,
    weights: tuple[float, float, float],
) -> None:
    end_column = "valid_until"
    # symbol_model_weights' own writer also records how the row was made and through when
    extra = (", method, fitted_through", ", 'fitted', :d")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO {table} (symbol, horizon, version_id, valid_from, {end_column}, "
                f"w_supertrend, w_sr, w_ensemble, partition_date, run_id{extra[0]}) VALUES "
                f"(:s, '1M', :v, :f, :u, :a, :b, :c, :d, 'test'{extra[1]})"
            ),
            {
                "s": symbol,
                "v": version,
                "f": valid_from,
                "u": until,
                "a": weights[0],
                "b": weights[1],
                "c": weights[2],
                "d": valid_from.date(),
            },
        )


def layer_mix(engine: sa.Engine, where: str) -> list[float]:
    """The one forecast row's layers mixed by its weights, after checking that its
    probabilities are that mix shrunk toward its version's climatology by its ``shrinkage``."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.text(
                    "SELECT f.*, (SELECT artifact FROM model_registry r "
                    "WHERE r.version_id = f.model_version) AS artifact "
                    f"FROM ml_forecasts_daily f WHERE {where}"
                )
            )
            .one()
            ._mapping
        )
    layers = {layer: np.array([[row[f"{layer}_p_{c}"] for c in CLASSES]]) for layer in LAYERS}
    weights = np.array([[row["w_supertrend"], row["w_sr"], row["w_ensemble"]]])
    mixed = combine(layers, weights)
    climatology = HorizonModel.from_json(bytes(row["artifact"])).climatology
    served = shrink(mixed, climatology, row["shrinkage"])
    assert [row[f"p_{c}"] for c in CLASSES] == pytest.approx(served[0].tolist(), abs=1e-12)
    return [float(v) for v in mixed[0]]


@pytest.mark.usefixtures("october_models")
def test_weights_by_precedence_change_the_forecast_and_expired_rows_never_count(
    engine: sa.Engine,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    symbols: list[str],
) -> None:
    day = FIRST_END
    assert run(defs, instance, symbols, GO_LIVE, day).success
    where = f"as_of_date = '{day}' AND horizon = '1M' AND symbol = '{symbols[0]}'"
    base = layer_mix(engine, where)  # the default weights: nothing inserted yet
    close = datetime(2026, 10, 28, 20, 0, tzinfo=UTC)  # 16:00 New York

    # a symbol row valid at the close: all weight on the SuperTrend layer
    insert_weights(
        engine,
        "symbol_model_weights",
        symbol=symbols[0],
        version="sym-v1",
        valid_from=close - timedelta(hours=20),
        until=close + timedelta(hours=20),
        weights=(1.0, 0.0, 0.0),
    )
    # an expired row (ended one minute before the close) and one not yet valid, both newer
    # (the latest valid_from wins among valid rows only); calibrated rows are the intraday
    # horizons' (their expiry: test_intraday_cycle)
    insert_weights(
        engine,
        "symbol_model_weights",
        symbol=symbols[0],
        version="sym-expired",
        valid_from=close - timedelta(hours=4),
        until=close - timedelta(minutes=1),
        weights=(0.0, 1.0, 0.0),
    )
    insert_weights(
        engine,
        "symbol_model_weights",
        symbol=symbols[0],
        version="sym-future",
        valid_from=close + timedelta(minutes=1),
        until=close + timedelta(hours=4),
        weights=(0.0, 1.0, 0.0),
    )
    assert run(defs, instance, symbols, day, day).success
    by_symbol = forecasts(engine, where)
    row = by_symbol.row(0, named=True)
    assert (row["weights_source"], row["weights_version"]) == ("symbol", "sym-v1")
    mixed = layer_mix(engine, where)
    assert mixed[2] - mixed[0] == pytest.approx(row["supertrend_component"])
    assert mixed != pytest.approx(base)
    # the others use the fallback the weights asset recorded at the close before (defaults)
    others = forecasts(engine, f"as_of_date = '{day}' AND symbol <> '{symbols[0]}'")
    assert set(others["weights_source"]) == {"symbol"}
    assert set(others["weights_version"]) == {"20261027-fallback_few_evaluations"}
    assert others.select((pl.col("w_ensemble") == DEFAULT_WEIGHTS["ensemble"]).all()).item()


@pytest.mark.usefixtures("october_models")
def test_forecasts_carry_the_calibration_fitted_before_the_day(
    engine: sa.Engine,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    symbols: list[str],
) -> None:
    with engine.begin() as conn:
        # a map that halves every confidence, fitted on outcomes known by 09-30; a later one
        # (fitted through 10-27) must not serve 10-27 itself, only 10-28
        for version, through, y in (
            ("cal-sep", "2026-09-30", 0.5),
            ("cal-oct", "2026-10-27", 0.25),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO confidence_calibration (version_id, horizon, fitted_through, "
                    "method, source, n_samples, n_holdout, x, y, run_id) VALUES "
                    "(:v, '1D', :t, 'isotonic', 'backtest', 1000, 300, "
                    "ARRAY[0.0, 1.0], ARRAY[0.0, :y], 'test')"
                ),
                {"v": version, "t": through, "y": y},
            )
    assert run(defs, instance, symbols, GO_LIVE, FIRST_END).success
    rows = forecasts(engine, "horizon = '1D'").join(
        pl.DataFrame(
            {"as_of_date": [date(2026, 10, 27), date(2026, 10, 28)], "factor": [0.5, 0.25]}
        ),
        on="as_of_date",
    )
    assert rows.height == 2 * 6
    assert ((rows["confidence"] - rows["raw_confidence"] * rows["factor"]).abs() < 1e-12).all()
    with engine.connect() as conn:
        versions = dict(
            conn.execute(
                sa.text(
                    "SELECT as_of_date, min(calibration_version) FROM ml_forecasts_daily "
                    "WHERE horizon = '1D' GROUP BY 1"
                )
            ).all()
        )
        uncalibrated = conn.execute(
            sa.text(
                "SELECT count(*) FROM ml_forecasts_daily WHERE horizon <> '1D' "
                "AND (calibration_version IS NOT NULL OR confidence <> raw_confidence)"
            )
        ).scalar()
    assert versions[date(2026, 10, 27)] == "cal-sep"
    assert versions[date(2026, 10, 28)] == "cal-oct"
    assert uncalibrated == 0
