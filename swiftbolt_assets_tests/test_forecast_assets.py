"""The forecasting assets' daily runs on PostgreSQL: models on a cadence, forecasts point in
time, the gate, the cross-sectional universe, traceability, skips with reasons (what a forecast
carries from the weights and the calibration: ``test_forecast_carried``).

The world (symbols, definitions, models trained once) comes from ``forecast_fixtures``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.cadence import DAILY
from swiftbolt_assets.forecasting.assets import LABELS_AGREE, WHOLE_UNIVERSE
from swiftbolt_assets.forecasting.cross_section import with_cross_section
from swiftbolt_assets.forecasting.models import HorizonModel
from swiftbolt_assets.forecasting.models_asset import MODELS_PROMOTED
from swiftbolt_assets.forecasting.store import read_forecast_inputs, read_universe, universe_gaps
from swiftbolt_assets.forecasting.synthesizer import (
    DEFAULT_VERSION,
    DEFAULT_WEIGHTS,
)
from swiftbolt_assets.forecasting.training import MIN_TRAIN_ROWS
from swiftbolt_assets.forecasting.walk_forward import TrainingParams
from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files
from swiftbolt_assets_tests.conftest import check_results, make_definitions, materialize_range
from swiftbolt_assets_tests.forecast_fixtures import (
    FIRST_END,
    GO_LIVE,
    LAST,
    SMALL_MODELS,
    forecasts,
    registry,
    run,
)

pytestmark = pytest.mark.postgres


def test_models_forecasts_gate_and_point_in_time(
    engine: sa.Engine,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    symbols: list[str],
) -> None:

    # day by day, as the daily cycle runs: each day's forecasts see the weights of the day before
    result = run(defs, instance, symbols, GO_LIVE, GO_LIVE)
    for day in (date(2026, 10, 27), FIRST_END):
        assert run(defs, instance, symbols, day, day).success

    assert result.success
    checks = check_results(result)
    assert checks[MODELS_PROMOTED] is True
    assert checks[LABELS_AGREE] is True
    first_models = registry(engine)
    assert first_models.height == len(DAILY.horizons)
    assert set(first_models["trained_through"]) == {date(2026, 9, 30)}  # October's cutoff
    assert first_models["promoted"].all()
    # at least MIN_TRAIN_ROWS rows of history each; the long horizons train on every n-th of
    # them (overlapping labels thinned: stride 1 here, so a 2M horizon keeps every 10th)
    thinned = TrainingParams(stride=SMALL_MODELS["stride"])
    for horizon, n_train in first_models.select("horizon", "n_train").iter_rows():
        days = DAILY.horizons[horizon]
        assert n_train * thinned.thinning(days) >= MIN_TRAIN_ROWS
    rows = dict(first_models.select("horizon", "n_train").iter_rows())
    assert rows["6M"] * 20 < rows["1D"]  # 6M keeps every 31st session, 1D every one

    # never worse than the base rate: what each version serves, and each row says what it was
    with engine.connect() as conn:
        served = pl.read_database(
            "SELECT version_id, horizon_days, serves, shrinkage, skill_low, serving_reason, "
            "artifact FROM model_registry",
            conn,
        )
        rows = pl.read_database(
            "SELECT model_version AS version_id, served_by, shrinkage AS row_shrinkage, "
            "skill_low AS row_skill_low, p_bearish, p_neutral, p_bullish FROM ml_forecasts_daily",
            conn,
        )
    assert ((served["serves"] == "climatology") == served["serving_reason"].is_not_null()).all()
    serving_model = served.filter(pl.col("serves") == "model")
    assert (serving_model["skill_low"] > 0).all()
    assert (serving_model["shrinkage"] > 0).all()
    # a validation window of 126 sessions holds fewer than 4 blocks of a 2M (42-session) horizon
    long = served.filter(pl.col("horizon_days") >= 42)
    assert (long["serves"] == "climatology").all()
    assert all("cannot be bounded" in r for r in long["serving_reason"])
    joined = rows.join(served, on="version_id")
    assert (joined["served_by"] == joined["serves"]).all()
    assert (joined["row_shrinkage"] == joined["shrinkage"]).all()
    for version, artifact in (
        served.filter(pl.col("serves") == "climatology")
        .select("version_id", "artifact")
        .iter_rows()
    ):
        climatology = HorizonModel.from_json(bytes(artifact)).climatology
        probs = joined.filter(pl.col("version_id") == version).select(
            "p_bearish", "p_neutral", "p_bullish"
        )
        assert probs.height > 0
        assert np.allclose(probs.to_numpy(), climatology, atol=1e-12)

    early = forecasts(engine)
    days = 3  # 10-26, 10-27, 10-28
    assert early.height == days * 6 * len(DAILY.horizons)  # the seventh symbol is skipped
    assert set(early["model_version"]) == set(first_models["version_id"])
    # go-live has no weights yet; the next days use the recorded fallback of the day before
    # (too few evaluations to fit), which carries the default weights
    sources = early.select("as_of_date", "weights_source", "weights_version").unique().sort("*")
    assert sources.rows() == [
        (GO_LIVE, "default", DEFAULT_VERSION),
        (date(2026, 10, 27), "symbol", "20261026-fallback_few_evaluations"),
        (FIRST_END, "symbol", "20261027-fallback_few_evaluations"),
    ]
    assert early.select((pl.col("w_ensemble") == DEFAULT_WEIGHTS["ensemble"]).all()).item()
    sums = early.select(pl.col("p_bearish") + pl.col("p_neutral") + pl.col("p_bullish"))
    assert ((sums.to_series() - 1.0).abs() < 1e-9).all()
    with engine.connect() as conn:
        skips = conn.execute(
            sa.text("SELECT symbol, horizon, reason FROM ml_forecast_skips ORDER BY as_of_date")
        ).all()
    assert {(s, h) for s, h, _ in skips} == {(symbols[6], "all")}
    assert len(skips) == days
    assert all(r.startswith("too little history: ") for _, _, r in skips)

    # More days arrive: November's cutoff (10-30) is due, and this time the gate cannot pass.
    result = run(defs, instance, symbols, date(2026, 10, 29), LAST, max_skill_loss=-1.0)

    assert result.success
    assert check_results(result)[MODELS_PROMOTED] is False
    models = registry(engine)
    november = models.filter(pl.col("trained_through") == date(2026, 10, 30))
    assert november.height == len(DAILY.horizons)
    assert not november["promoted"].any()
    assert all("skill" in r for r in november["rejection_reason"])
    # the rejected versions serve nothing: November's forecasts still use October's models
    late = forecasts(engine, "as_of_date >= '2026-11-02'")
    assert late.height == 5 * 6 * len(DAILY.horizons)
    assert set(late["model_version"]) == set(first_models["version_id"])

    # Re-running the early days after later data arrived reproduces them exactly (a one-run
    # backfill of several days: the weights each day read already exist).
    run(defs, instance, symbols, GO_LIVE, FIRST_END)
    assert forecasts(engine, "as_of_date <= '2026-10-28'").equals(early)

    # The cross-sectional inputs are relative to the date's whole universe in the warehouse:
    # a run of one symbol reads the same universe, and gets the same values, as a run of all.
    universe = read_universe(engine, [LAST])
    assert sorted(universe["symbol"]) == sorted(symbols)
    # 12-1 momentum needs 252 sessions: the symbol listed in June has none yet
    assert universe.filter(pl.col("roc_252").is_null())["symbol"].to_list() == [symbols[6]]
    alone = with_cross_section(
        read_forecast_inputs(engine, [(LAST, symbols[0])]), universe, min_universe=3
    )
    together = with_cross_section(
        read_forecast_inputs(engine, [(LAST, s) for s in symbols]), universe, min_universe=3
    )
    assert alone.height == 1
    assert alone.equals(together.filter(pl.col("symbol") == symbols[0]))
    assert alone.select(pl.col("xs_rank_roc_20", "mkt_breadth_50").is_not_null().all()).row(0) == (
        True,
        True,
    )
    assert universe_gaps(universe) == {}
    assert checks[WHOLE_UNIVERSE] is True

    # A run of one symbol while another symbol's features of the day are not written yet (as
    # when the sensor splits a day into several runs): the forecasts say so.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "DELETE FROM features WHERE symbol = :s AND timeframe = 'd1' AND session_date = :d"
            ),
            {"s": symbols[1], "d": LAST},
        )
    assert universe_gaps(read_universe(engine, [LAST])) == {
        LAST.isoformat(): "features for 6 of 7 symbols with a d1 bar"
    }
    partial = materialize_range(
        defs,
        instance,
        f"{LAST}|{symbols[0]}",
        f"{LAST}|{symbols[0]}",
        asset_selection=[dg.AssetKey("ml_forecasts_daily")],
    )
    assert check_results(partial)[WHOLE_UNIVERSE] is False


@pytest.mark.usefixtures("october_models")
def test_forecast_rows_trace_to_model_weights_and_features(
    engine: sa.Engine,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    symbols: list[str],
) -> None:
    assert run(defs, instance, symbols, GO_LIVE, FIRST_END).success

    with engine.connect() as conn:
        untraced = conn.execute(
            sa.text(
                "SELECT count(*) FROM ml_forecasts_daily m "
                "LEFT JOIN model_registry r ON r.version_id = m.model_version AND r.promoted "
                "  AND r.trained_through < m.as_of_date AND r.horizon = m.horizon "
                "LEFT JOIN features f ON f.symbol = m.symbol AND f.timeframe = 'd1' "
                "  AND f.ts = m.feature_ts AND f.run_id = m.features_run_id "
                "  AND f.session_date = m.as_of_date "
                "WHERE r.version_id IS NULL OR f.symbol IS NULL"
            )
        ).scalar()
        total = conn.execute(sa.text("SELECT count(*) FROM ml_forecasts_daily")).scalar()
        target = conn.execute(
            sa.text(
                "SELECT DISTINCT target_date FROM ml_forecasts_daily "
                "WHERE as_of_date = '2026-10-28' AND horizon = '1W'"
            )
        ).scalar()
    assert total == 3 * 6 * len(DAILY.horizons)
    assert untraced == 0
    assert target == date(2026, 11, 4)  # five sessions after 10-28


def test_no_bars_no_models_no_forecasts_only_reasons(
    engine: sa.Engine, database_url: str, drop_dir: Path, instance: dg.DagsterInstance
) -> None:
    frames = generate_bars(demo_symbols(2), start=date(2026, 9, 1), end=FIRST_END, seed=3)
    write_drop_files(drop_dir, frames)
    names = demo_symbols(2)
    instance.add_dynamic_partitions("symbols", names)
    defs = make_definitions(database_url, drop_dir, GO_LIVE)

    result = run(defs, instance, names, GO_LIVE, FIRST_END)

    assert result.success
    assert check_results(result)[MODELS_PROMOTED] is False  # nothing could be trained
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM model_registry")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM ml_forecasts_daily")).scalar() == 0
        reasons = conn.execute(
            sa.text("SELECT DISTINCT horizon, reason FROM ml_forecast_skips")
        ).all()
    assert {h for h, _ in reasons} == {"all"}
    assert all(r.startswith("too little history") for _, r in reasons)
