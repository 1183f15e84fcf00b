"""The research job's forecast backtest on PostgreSQL: every method scored out of sample on the
same rows with block-bootstrap intervals and its effective sample size, each horizon's own
period and fits, no leaks, the reliability diagram, and the confidence calibration it seeds for the
next daily forecasts.

It runs on the models ``forecast_fixtures`` trains once per session (``all_models``).
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.cadence import DAILY
from swiftbolt_assets.definitions import RESEARCH_JOB
from swiftbolt_assets.forecasting.backtest import METHODS
from swiftbolt_assets_tests.forecast_fixtures import BACKTEST_MODELS, GO_LIVE, LAST, run

pytestmark = pytest.mark.postgres


@pytest.mark.usefixtures("all_models")
def test_backtest_scores_every_method_out_of_sample_and_seeds_the_calibration(
    engine: sa.Engine,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    symbols: list[str],
) -> None:
    assert run(defs, instance, symbols, GO_LIVE, LAST).success
    research = defs.resolve_job_def(RESEARCH_JOB).execute_in_process(
        instance=instance,
        run_config={
            "ops": {
                "run_forecast_backtest": {
                    "config": {
                        "years": 1,
                        "cadence_months": 6,
                        "horizons": ["1D", "1W", "1M"],
                        **BACKTEST_MODELS,
                    }
                }
            }
        },
    )

    assert research.success
    with engine.connect() as conn:
        table = pl.DataFrame(
            [
                tuple(r)
                for r in conn.execute(
                    sa.text(
                        "SELECT horizon, method, n, brier, brier_skill_score, retrains, "
                        "period_start, period_end FROM forecast_backtest"
                    )
                )
            ],
            schema=["horizon", "method", "n", "brier", "bss", "retrains", "start", "end"],
            orient="row",
        )
        leaks = conn.execute(
            sa.text(
                "SELECT count(*) FROM forecast_backtest_predictions "
                "WHERE as_of_date <= model_cutoff OR label_end_date <= as_of_date"
            )
        ).scalar()
        mislabelled = conn.execute(
            sa.text(
                "SELECT count(*) FROM forecast_backtest_predictions WHERE realized_label <> "
                "CASE WHEN realized_return > threshold_up THEN 'bullish' "
                "WHEN realized_return < threshold_down THEN 'bearish' ELSE 'neutral' END"
            )
        ).scalar()
        predicted = set(
            conn.scalars(sa.text("SELECT DISTINCT symbol FROM forecast_backtest_predictions"))
        )
        calibrations = conn.execute(
            sa.text("SELECT horizon, fitted_through, x, y FROM confidence_calibration")
        ).all()
        bounds = pl.read_database(
            "SELECT horizon, method, n, n_eff, block_sessions, accuracy, accuracy_low, "
            "accuracy_high, brier_skill_score_low AS bss_low, brier_skill_score_high AS bss_high, "
            "ece_low, ece_high, rank_ic_low, rank_ic_high FROM forecast_backtest",
            conn,
        )
    assert set(table["horizon"]) == {"1D", "1W", "1M"}
    assert (
        table.group_by("horizon").agg(pl.col("method").n_unique())["method"].to_list()
        == [len(METHODS)] * 3
    )
    # every method is scored on the same rows of a horizon
    assert table.group_by("horizon").agg(pl.col("n").n_unique())["n"].to_list() == [1, 1, 1]
    climatology = table.filter(pl.col("method") == "climatology")
    assert (climatology["bss"].abs() < 1e-12).all()
    majority = table.filter(pl.col("method") == "majority")
    assert (majority["brier"] > climatology["brier"].max()).all()
    assert set(table["retrains"]) == {3}  # cutoffs 2025-06-30, 2025-12-31, 2026-06-30
    # each horizon states its own period: a longer horizon's last known outcome is earlier
    ends = dict(table.group_by("horizon").agg(pl.col("end").max()).iter_rows())
    assert ends["1D"] > ends["1W"] > ends["1M"]
    # 95 % intervals by a block bootstrap of dates 2 x the horizon long, n_eff beside n
    assert bounds.height == table.height
    for horizon, block in bounds.select("horizon", "block_sessions").unique().iter_rows():
        assert block == 2 * DAILY.horizons[horizon]
    assert (bounds["accuracy_low"] <= bounds["accuracy"]).all()
    assert (bounds["accuracy"] <= bounds["accuracy_high"]).all()
    for name in ("bss", "ece", "rank_ic"):
        assert (bounds[f"{name}_low"] <= bounds[f"{name}_high"]).all()
    assert ((bounds["n_eff"] > 0) & (bounds["n_eff"] <= bounds["n"])).all()
    # a month's labels overlap over 21 sessions: far fewer independent outcomes than rows
    month = bounds.filter((pl.col("horizon") == "1M") & (pl.col("method") == "synthesized"))
    assert month["n_eff"].item() < month["n"].item() / 2
    # climatology against itself: a skill of 0 in every resample
    reference = bounds.filter(pl.col("method") == "climatology")
    assert (reference["bss_low"].abs() < 1e-12).all()
    assert (reference["bss_high"].abs() < 1e-12).all()
    assert leaks == 0
    # only what live forecasting would serve: the symbol listed in June 2026 never has the 200
    # sessions of history a forecast needs, so none of its rows is predicted or scored
    assert predicted == set(symbols[:6])
    assert mislabelled == 0
    events = {
        m.asset_key.to_user_string(): m.metadata
        for m in research.asset_materializations_for_node("run_forecast_backtest")
    }
    shown = str(events["forecast_backtest"]["metrics"].value)
    assert "| synthesized |" in shown
    assert "| n_eff |" in shown
    assert " [" in shown  # the scores with their intervals
    assert str(events["forecast_backtest"]["reliability_diagram"].value).startswith(
        "![reliability](data:image/png;base64,iVBORw0KGgo"
    )
    # calibration versions for the cutoffs of go-live's month and the next, monotone maps
    assert {(h, t) for h, t, _, _ in calibrations} >= {
        ("1D", date(2026, 9, 30)),
        ("1D", date(2026, 10, 30)),
    }
    for _, _, x, y in calibrations:
        assert list(x) == sorted(x)
        assert list(y) == sorted(y)

    # the next forecasts carry the calibration fitted before their day
    assert run(defs, instance, symbols, LAST, LAST).success
    with engine.connect() as conn:
        used = dict(
            conn.execute(
                sa.text(
                    "SELECT horizon, min(calibration_version) FROM ml_forecasts_daily "
                    f"WHERE as_of_date = '{LAST}' GROUP BY 1"
                )
            ).all()
        )
    assert used["1D"] is not None
    assert used["1D"].startswith("1D-20261030")
    assert used["6M"] is None  # the backtest covered 1D, 1W, 1M only
