"""The evaluation loop on PostgreSQL: forecasts scored on final bars (a hand-computed sample,
with a split and a dividend inside the window), pending bars, rolling live scores, versioned
layer weights and the live confidence calibration."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.evaluation.assets import BARS_FINAL
from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files
from swiftbolt_assets.warehouse.database import engine_for
from swiftbolt_assets_tests.conftest import (
    check_results,
    copy_models,
    make_definitions,
    materialize_range,
    own_database,
)
from swiftbolt_assets_tests.forecast_fixtures import SMALL_MODELS

pytestmark = pytest.mark.postgres

GO_LIVE = date(2026, 10, 26)
LAST = date(2026, 11, 6)
SPLIT_DAY = date(2026, 11, 2)  # SYN-A splits 2:1
DIVIDEND_DAY = date(2026, 10, 30)  # SYN-B pays 0.50
DIVIDEND = 0.5


PRICES = ("open", "high", "low", "close")


def write_closes(drop_dir: Path) -> dict[str, pl.DataFrame]:
    """Six symbols of daily bars: SYN-A splits 2:1 on 11-02, SYN-B pays a dividend on 10-30,
    SYN-C's bar of 11-06 never arrives. Returns each symbol's (day, close, split, dividend)."""
    names = demo_symbols(6)
    frames = {
        key: frame
        for key, frame in generate_bars(names, start=date(2022, 9, 1), end=LAST, seed=11).items()
        if key[1] == "d1"
    }
    day = pl.col("timestamp").str.to_date()
    after_split = day >= SPLIT_DAY
    frames["SYN-A", "d1"] = frames["SYN-A", "d1"].with_columns(
        *(pl.when(after_split).then(pl.col(c) / 2).otherwise(pl.col(c)) for c in PRICES),
        pl.when(after_split).then(pl.col("volume") * 2).otherwise(pl.col("volume")),
        pl.when(day == SPLIT_DAY)
        .then(2.0)
        .otherwise(pl.col("split_coefficient"))
        .alias("split_coefficient"),
    )
    frames["SYN-B", "d1"] = frames["SYN-B", "d1"].with_columns(
        pl.when(day == DIVIDEND_DAY)
        .then(DIVIDEND)
        .otherwise(pl.col("dividend_amount"))
        .alias("dividend_amount")
    )
    frames["SYN-C", "d1"] = frames["SYN-C", "d1"].filter(day < LAST)
    write_drop_files(drop_dir, frames)
    return {
        symbol: frame.select(day.alias("day"), "close", "split_coefficient", "dividend_amount")
        for (symbol, _), frame in frames.items()
    }


def cycle(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    first: date,
    last: date,
    **calibration: object,
) -> dg.ExecuteInProcessResult:
    config = {
        "ops": {
            "forecast_models": {"config": SMALL_MODELS},
            "confidence_calibration": {"config": calibration},
        }
    }
    return materialize_range(defs, instance, f"{first}|SYN-A", f"{last}|SYN-F", run_config=config)


@dataclass(frozen=True)
class Cycled:
    """The warehouse after one daily cycle over GO_LIVE..LAST with the default calibration
    settings (bars, features, models trained for 09-30 and 10-30, forecasts, evaluations...):
    built once for the module, in a database of its own that no test writes."""

    database_url: str
    drop_dir: Path
    closes: dict[str, pl.DataFrame]
    result: dg.ExecuteInProcessResult


@pytest.fixture(scope="module")
def cycled(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cycled]:
    drop_dir = tmp_path_factory.mktemp("evaluation-drop")
    with own_database(admin_url) as url, dg.DagsterInstance.ephemeral() as instance:
        closes = write_closes(drop_dir)
        instance.add_dynamic_partitions("symbols", sorted(closes))
        result = cycle(make_definitions(url, drop_dir, GO_LIVE), instance, GO_LIVE, LAST)
        yield Cycled(url, drop_dir, closes, result)


@pytest.fixture
def instance(cycled: Cycled) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("symbols", sorted(cycled.closes))
        yield instance


@pytest.fixture
def copied(admin_url: str, cycled: Cycled) -> Iterator[str]:
    """A copy of the cycled warehouse, for a test that changes it."""
    with own_database(admin_url, template=cycled.database_url) as url:
        yield url


def query(engine: sa.Engine, sql: str, **params: object) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql), params)
        return pl.DataFrame([tuple(r) for r in rows], schema=list(rows.keys()), orient="row")


def close_on(closes: dict[str, pl.DataFrame], symbol: str, day: date) -> float:
    return float(closes[symbol].filter(pl.col("day") == day).item(0, "close"))


def hand_factor(closes: dict[str, pl.DataFrame], symbol: str, after: date, through: date) -> float:
    """The price factor of the events in (after, through], one event at a time."""
    frame = closes[symbol]
    factor = 1.0
    for i, row in enumerate(frame.iter_rows(named=True)):
        if not after < row["day"] <= through:
            continue
        if row["split_coefficient"] != 1.0:
            factor /= row["split_coefficient"]
        if row["dividend_amount"] > 0:
            previous = frame.item(i - 1, "close")
            factor *= 1.0 - row["dividend_amount"] * row["split_coefficient"] / previous
    return factor


def test_evaluations_match_a_hand_computed_sample_with_a_split_and_a_dividend(
    cycled: Cycled,
) -> None:
    # the module's cycle over GO_LIVE..LAST (read only here)
    result, closes, engine = cycled.result, cycled.closes, engine_for(cycled.database_url)
    assert result.success
    # SYN-C has no bar on 11-06: its forecasts due that day wait, with a warning
    assert check_results(result)[BARS_FINAL] is False

    cases = [
        # (symbol, as-of, horizon, target): split 2:1 on 11-02 inside (10-28, 11-04]
        ("SYN-A", date(2026, 10, 28), "1W", date(2026, 11, 4)),
        # dividend on 10-30 inside (10-27, 11-03]
        ("SYN-B", date(2026, 10, 27), "1W", date(2026, 11, 3)),
        # nothing inside (11-04, 11-05]
        ("SYN-E", date(2026, 11, 4), "1D", date(2026, 11, 5)),
    ]
    for symbol, as_of, horizon, target in cases:
        row = query(
            engine,
            "SELECT e.*, f.close AS f_close, f.threshold_down AS f_down, f.threshold_up AS f_up, "
            "f.label AS f_label, f.target_price AS f_target, f.run_id AS f_run "
            "FROM forecast_evaluations_daily e JOIN ml_forecasts_daily f "
            "USING (symbol, as_of_date, horizon) "
            "WHERE symbol = :s AND as_of_date = :d AND horizon = :h",
            s=symbol,
            d=as_of,
            h=horizon,
        ).row(0, named=True)
        factor = hand_factor(closes, symbol, as_of, target)
        if symbol == "SYN-A":
            assert factor == pytest.approx(0.5)
        if symbol == "SYN-B":
            before = close_on(closes, "SYN-B", date(2026, 10, 29))
            assert factor == pytest.approx(1.0 - DIVIDEND / before)
        if symbol == "SYN-E":
            assert factor == 1.0
        realized = close_on(closes, symbol, target) / (close_on(closes, symbol, as_of) * factor) - 1
        label = (
            "bullish"
            if realized > row["f_up"]
            else "bearish"
            if realized < row["f_down"]
            else "neutral"
        )
        price = row["f_close"] * (1.0 + realized)
        assert row["target_date"] == target
        assert row["partition_date"] == target
        assert row["adjustment_factor"] == pytest.approx(factor, rel=1e-12)
        assert row["realized_return"] == pytest.approx(realized, rel=1e-9)
        assert row["realized_label"] == label
        assert row["predicted_label"] == row["f_label"]
        assert row["label_correct"] == (label == row["f_label"])
        assert row["realized_price"] == pytest.approx(price, rel=1e-9)
        assert row["price_error_pct"] == pytest.approx(100 * (price / row["f_target"] - 1))
        assert row["inside_band"] == (row["lower_band"] <= price <= row["upper_band"])
        assert row["direction_correct"] == ((row["predicted_return"] > 0) == (realized > 0))
        assert row["forecast_run_id"] == row["f_run"]
        assert (row["threshold_down"], row["threshold_up"]) == (row["f_down"], row["f_up"])

    # every forecast due by 11-06 is evaluated exactly once, except SYN-C's of 11-06
    due = query(
        engine,
        "SELECT f.symbol, f.target_date, e.symbol IS NOT NULL AS evaluated "
        "FROM ml_forecasts_daily f LEFT JOIN forecast_evaluations_daily e "
        "USING (symbol, as_of_date, horizon) WHERE f.target_date <= :last",
        last=LAST,
    )
    missing = due.filter(~pl.col("evaluated"))
    assert missing.select("symbol", "target_date").unique().rows() == [("SYN-C", LAST)]
    assert due.filter(pl.col("evaluated")).height == 6 * 9 + 6 * 5 - 2  # 1D + 1W, less SYN-C
    # the stored labels follow the stored thresholds, everywhere
    wrong = query(
        engine,
        "SELECT count(*) AS n FROM forecast_evaluations_daily WHERE realized_label <> CASE "
        "WHEN realized_return > threshold_up THEN 'bullish' "
        "WHEN realized_return < threshold_down THEN 'bearish' ELSE 'neutral' END "
        "OR label_correct <> (realized_label = predicted_label)",
    )
    assert wrong.item() == 0


def test_a_partial_bar_is_not_evaluated_until_it_is_final(
    cycled: Cycled, copied: str, instance: dg.DagsterInstance
) -> None:
    # the module's cycle over GO_LIVE..LAST, in a copy of its own: this test rewrites bars
    assert cycled.result.success
    engine = engine_for(copied)
    defs = make_definitions(copied, cycled.drop_dir, GO_LIVE)
    counted = (
        "SELECT count(*) FROM forecast_evaluations_daily "
        "WHERE symbol = 'SYN-D' AND target_date = :d"
    )
    with engine.connect() as conn:
        assert conn.execute(sa.text(counted), {"d": LAST}).scalar() == 2  # 1D and 1W
    # the vendor's 11-06 bar was written at 15:00 New York, before the close: partial
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE ohlc_bars SET created_at = :t WHERE symbol = 'SYN-D' "
                "AND timeframe = 'd1' AND session_date = :d"
            ),
            {"t": datetime(2026, 11, 6, 20, 0, tzinfo=UTC), "d": LAST},
        )
    job = defs.resolve_job_def("daily_cycle_job")
    only = [dg.AssetKey("forecast_evaluations_daily")]
    tags = {
        "dagster/asset_partition_range_start": f"{LAST}|SYN-D",
        "dagster/asset_partition_range_end": f"{LAST}|SYN-D",
    }
    rerun = job.execute_in_process(instance=instance, asset_selection=only, tags=tags)
    assert rerun.success
    assert check_results(rerun)[BARS_FINAL] is False
    [event] = rerun.asset_materializations_for_node("forecast_evaluations_daily")
    assert event.metadata["pending"].value == 2
    examples = list(event.metadata["pending_examples"].value)  # type: ignore[arg-type]
    assert sorted(e.split(":")[0] for e in examples) == [
        "SYN-D 1D as of 2026-11-05",
        "SYN-D 1W as of 2026-10-30",
    ]
    assert all(
        "the 2026-11-06 bar is partial: written at 2026-11-06 20:00:00" in e for e in examples
    )
    with engine.connect() as conn:
        assert conn.execute(sa.text(counted), {"d": LAST}).scalar() == 0
    # the final bar arrives (re-ingested after the close): the forecasts are evaluated
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE ohlc_bars SET created_at = :t WHERE symbol = 'SYN-D' AND session_date = :d"
            ),
            {"t": datetime(2026, 11, 6, 22, 30, tzinfo=UTC), "d": LAST},
        )
    again = job.execute_in_process(instance=instance, asset_selection=only, tags=tags)
    assert check_results(again)[BARS_FINAL] is True
    with engine.connect() as conn:
        assert conn.execute(sa.text(counted), {"d": LAST}).scalar() == 2


def test_live_scores_weights_and_live_calibration(
    engine: sa.Engine, database_url: str, cycled: Cycled, instance: dg.DagsterInstance
) -> None:
    # a cycle of its own (other calibration settings) in the emptied warehouse, serving the
    # models the module's cycle trained on the same bars with the same settings
    assert copy_models(cycled.database_url, database_url) == 2 * 8
    defs = make_definitions(database_url, cycled.drop_dir, GO_LIVE)
    # calibrate on live evaluations as soon as 3 target days and 20 rows are known
    result = cycle(defs, instance, GO_LIVE, LAST, min_live_target_days=3, min_live_samples=20)
    assert result.success

    # live scores of SYN-E's 1D forecasts as of 11-06 = the mean of its 9 evaluations
    live = query(
        engine,
        "SELECT window_size, n, accuracy, brier, first_target_date, last_target_date, "
        "n_bullish + n_neutral + n_bearish AS labelled FROM live_predictions_daily "
        "WHERE symbol = 'SYN-E' AND horizon = '1D' AND partition_date = :d ORDER BY 1",
        d=LAST,
    )
    reference = query(
        engine,
        "SELECT count(*) AS n, avg(label_correct::int) AS accuracy, avg("
        "power(p_bearish - (realized_label = 'bearish')::int, 2) + "
        "power(p_neutral - (realized_label = 'neutral')::int, 2) + "
        "power(p_bullish - (realized_label = 'bullish')::int, 2)) AS brier "
        "FROM forecast_evaluations_daily WHERE symbol = 'SYN-E' AND horizon = '1D'",
    ).row(0, named=True)
    assert live["window_size"].to_list() == [20, 60]
    assert live["n"].to_list() == [9, 9]
    assert live["labelled"].to_list() == [9, 9]
    assert live["accuracy"][0] == pytest.approx(float(reference["accuracy"]))
    assert live["brier"][0] == pytest.approx(float(reference["brier"]))
    assert live["first_target_date"][0] == date(2026, 10, 27)
    assert live["last_target_date"][0] == LAST
    # 9 dates of 1D are 4.5 blocks of 2: an interval around each point, n_eff at most n; the
    # 1W windows (blocks of 10) have none
    bounded = query(
        engine,
        "SELECT horizon, n, n_eff, brier, brier_low, brier_high FROM live_predictions_daily "
        "WHERE symbol = 'SYN-E' AND horizon IN ('1D', '1W') AND partition_date = :d "
        "AND window_size = 20 ORDER BY 1",
        d=LAST,
    ).rows_by_key("horizon", named=True, unique=True)
    one_day = bounded["1D"]
    assert one_day["brier_low"] <= one_day["brier"] <= one_day["brier_high"]
    assert 0 < one_day["n_eff"] <= one_day["n"]
    assert (bounded["1W"]["n_eff"], bounded["1W"]["brier_low"]) == (None, None)
    # as of 10-28 only the evaluations of 10-27 and 10-28 count
    early = query(
        engine,
        "SELECT n FROM live_predictions_daily WHERE symbol = 'SYN-E' AND horizon = '1D' "
        "AND partition_date = '2026-10-28' AND window_size = 20",
    )
    assert early.item() == 2

    # weights: a row per (symbol, horizon, day), the recorded fallback (9 evaluations < 40),
    # valid from that day's close through the next session's close
    weights = query(
        engine,
        "SELECT symbol, horizon, version_id, method, fallback_reason, valid_from, valid_until, "
        "w_supertrend, w_sr, w_ensemble, n_evaluations FROM symbol_model_weights "
        "WHERE partition_date = :d ORDER BY 1, 2",
        d=LAST,
    )
    assert weights.height == 6 * 8
    assert set(weights["method"]) == {"fallback_few_evaluations"}
    assert set(weights["version_id"]) == {"20261106-fallback_few_evaluations"}
    assert all(r.startswith("too few evaluations: ") for r in weights["fallback_reason"])
    row = weights.filter((pl.col("symbol") == "SYN-E") & (pl.col("horizon") == "1D")).row(
        0, named=True
    )
    assert row["n_evaluations"] == 9
    assert (row["w_supertrend"], row["w_sr"], row["w_ensemble"]) == (0.15, 0.15, 0.7)
    assert row["valid_from"] == datetime(2026, 11, 6, 21, 0, tzinfo=UTC)  # Friday's close
    assert row["valid_until"] == datetime(2026, 11, 9, 21, 0, tzinfo=UTC)  # Monday's close

    # the live calibration of 1D through October's last session: 4 target days × 6 symbols
    calibrations = query(
        engine,
        "SELECT horizon, fitted_through, source, n_samples FROM confidence_calibration "
        "ORDER BY 1, 2",
    )
    assert calibrations.filter(pl.col("horizon") == "1D").rows() == [
        ("1D", date(2026, 10, 30), "live", 24)
    ]
    # a version is never rewritten: a later run with other settings leaves it as it was
    before = query(engine, "SELECT version_id, run_id, x, y FROM confidence_calibration")
    assert cycle(defs, instance, LAST, LAST, min_live_target_days=1, min_live_samples=2).success
    after = query(engine, "SELECT version_id, run_id, x, y FROM confidence_calibration")
    assert (
        after.filter(pl.col("version_id").is_in(before["version_id"].to_list()))
        .sort("version_id")
        .equals(before.sort("version_id"))
    )
