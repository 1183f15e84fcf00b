"""Scoring forecasts on final bars (evaluation/outcomes.py): hand-computed evaluations with
splits, dividends, thresholds, bands and pending bars."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from swiftbolt_assets.evaluation.outcomes import (
    EVALUATION_COLUMNS,
    FORECAST_FIELDS,
    evaluate,
    window_factors,
)
from swiftbolt_assets.evaluation.schema import evaluations_schema
from swiftbolt_assets_tests.evaluation_frames import (
    CLOSES_UTC,
    FORECAST_SCHEMA,
    MAR,
    bar,
    bars_frame,
    close_utc,
    forecast,
    forecasts_frame,
    series_bars,
)

# a pending forecast's columns: its key, the bars' names and why it is not scored
PENDING_COLUMNS = ["symbol", "as_of_date", "horizon", "target_date", "as_of", "target", "reason"]


def test_forecast_frame_helper_covers_the_forecast_fields() -> None:
    assert set(FORECAST_SCHEMA) == {*FORECAST_FIELDS, "close", "label", "run_id"}


# --- outcomes: hand-computed evaluations ----------------------------------------------------

# AAA: a 2:1 split on Wed 6 March (the raw close halves: 101 -> 51).
AAA_CLOSES = {1: 99.0, 4: 100.0, 5: 101.0, 6: 51.0, 7: 52.0, 8: 53.0, 11: 54.0}
# BBB: a 1.00 dividend going ex on Tue 5 March; the close before it (Mon 4) is 50.
BBB_CLOSES = {1: 49.0, 4: 50.0, 5: 49.2, 6: 49.3, 7: 49.4, 8: 49.6, 11: 49.49}


def split_and_dividend_bars() -> pl.DataFrame:
    return bars_frame(
        *series_bars("AAA", AAA_CLOSES, splits={6: 2.0}),
        *series_bars("BBB", BBB_CLOSES, dividends={5: 1.0}),
    )


def test_evaluate_split_inside_the_window_is_no_return() -> None:
    split = forecast(
        symbol="AAA",
        label="bullish",
        close=100.0,
        predicted_return=0.04,
        target_price=104.0,
        lower_band=96.0,
        upper_band=106.0,
        threshold_down=-0.03,
        threshold_up=0.03,
    )
    evaluations, pending = evaluate(forecasts_frame(split), split_and_dividend_bars(), CLOSES_UTC)
    assert pending.is_empty()
    assert evaluations.columns == list(EVALUATION_COLUMNS)
    row = evaluations.row(0, named=True)
    # The 2:1 split on 6 March is in (4 March, 11 March]: its price factor is 1/2, so the as-of
    # close in the target's share terms is 100 * 0.5 = 50 and the realized return is
    # 54 / 50 - 1 = 0.08 (the raw 54 / 100 - 1 = -0.46 would be a crash).
    assert row["as_of_close"] == 100.0
    assert row["target_close"] == 54.0
    assert row["adjustment_factor"] == pytest.approx(0.5, rel=1e-12)
    assert row["realized_return"] == pytest.approx(0.08, rel=1e-12)
    # 0.08 > threshold_up 0.03: bullish, as predicted; both returns positive.
    assert row["realized_label"] == "bullish"
    assert row["predicted_label"] == "bullish"
    assert row["label_correct"] is True
    assert row["direction_correct"] is True
    # realized price in the forecast's terms: 100 * 1.08 = 108; error 100 * (108 / 104 - 1).
    assert row["forecast_close"] == 100.0
    assert row["realized_price"] == pytest.approx(108.0, rel=1e-12)
    assert row["price_error_pct"] == pytest.approx(100.0 * (108.0 / 104.0 - 1.0), rel=1e-12)
    assert row["price_error_pct"] == pytest.approx(3.846153846153846, rel=1e-12)
    # 108 is above the upper band 106
    assert row["inside_band"] is False
    assert row["partition_date"] == MAR[11]
    assert row["forecast_run_id"] == "forecast-run-AAA"
    assert row["bar_run_id"] == "bar-run-AAA-0311"
    assert row["bar_created_at"] == close_utc(MAR[11]) + timedelta(hours=1)
    # carried over from the forecast unchanged
    assert (row["p_bearish"], row["p_neutral"], row["p_bullish"]) == (0.2, 0.3, 0.5)
    assert (row["threshold_down"], row["threshold_up"]) == (-0.03, 0.03)
    assert row["model_version"] == "model-v1"
    assert row["calibration_version"] == "cal-v1"


def test_evaluate_dividend_inside_the_window() -> None:
    dividend = forecast(
        symbol="BBB",
        label="bearish",
        close=50.0,
        predicted_return=-0.01,
        target_price=49.5,
        lower_band=48.0,
        upper_band=51.0,
        threshold_down=-0.02,
        threshold_up=0.02,
    )
    evaluations, pending = evaluate(
        forecasts_frame(dividend), split_and_dividend_bars(), CLOSES_UTC
    )
    assert pending.is_empty()
    row = evaluations.row(0, named=True)
    # The 1.00 dividend ex on 5 March, previous close 50: factor 1 - 1 / 50 = 0.98; the as-of
    # close in ex-dividend terms is 50 * 0.98 = 49, so the return is 49.49 / 49 - 1 = 0.01
    # (the raw 49.49 / 50 - 1 = -0.0102 would be a loss).
    assert row["adjustment_factor"] == pytest.approx(0.98, rel=1e-12)
    assert row["realized_return"] == pytest.approx(0.01, rel=1e-9)
    # inside (-0.02, 0.02): neutral; predicted bearish: wrong label, wrong direction
    assert row["realized_label"] == "neutral"
    assert row["label_correct"] is False
    assert row["direction_correct"] is False
    # 50 * 1.01 = 50.5, inside [48, 51]; error 100 * (50.5 / 49.5 - 1) = 2.0202...
    assert row["realized_price"] == pytest.approx(50.5, rel=1e-9)
    assert row["price_error_pct"] == pytest.approx(100.0 / 49.5, rel=1e-9)
    assert row["inside_band"] is True


def test_evaluate_realized_price_is_in_the_forecasts_price_terms() -> None:
    # The forecast's close (200) differs from the raw as-of close (100): the realized return
    # (0.08, as in the split case) is applied to the forecast's close: 200 * 1.08 = 216.
    doubled = forecast(symbol="AAA", close=200.0, target_price=210.0, threshold_up=0.03)
    evaluations, _ = evaluate(forecasts_frame(doubled), split_and_dividend_bars(), CLOSES_UTC)
    row = evaluations.row(0, named=True)
    assert row["realized_return"] == pytest.approx(0.08, rel=1e-12)
    assert row["realized_price"] == pytest.approx(216.0, rel=1e-12)
    assert row["price_error_pct"] == pytest.approx(100.0 * (216.0 / 210.0 - 1.0), rel=1e-12)
    assert row["as_of_close"] == 100.0
    assert row["forecast_close"] == 200.0


def test_evaluate_events_on_the_as_of_day_are_outside_the_window() -> None:
    bars = split_and_dividend_bars()
    rows = [
        # as of the split day itself: its close (51) is already in post-split terms -> 52/51 - 1
        forecast(symbol="AAA", as_of=MAR[6], target=MAR[7], horizon="1D"),
        # the split on the target day is inside (as_of, target]: 51 / (101 * 0.5) - 1
        forecast(symbol="AAA", as_of=MAR[5], target=MAR[6], horizon="1D"),
        # after the split: no event -> 53 / 52 - 1
        forecast(symbol="AAA", as_of=MAR[7], target=MAR[8], horizon="1D"),
    ]
    evaluations, pending = evaluate(forecasts_frame(*rows), bars, CLOSES_UTC)
    assert pending.is_empty()
    got = {
        r["as_of_date"]: (r["adjustment_factor"], r["realized_return"])
        for r in evaluations.iter_rows(named=True)
    }
    assert got[MAR[6]] == pytest.approx((1.0, 52.0 / 51.0 - 1.0), rel=1e-12)
    assert got[MAR[5]] == pytest.approx((0.5, 51.0 / 50.5 - 1.0), rel=1e-12)
    assert got[MAR[7]] == pytest.approx((1.0, 53.0 / 52.0 - 1.0), rel=1e-12)


def test_evaluations_pass_the_table_contract() -> None:
    rows = [
        forecast(symbol="AAA", threshold_down=-0.03, threshold_up=0.03),
        forecast(symbol="BBB", close=50.0, target_price=49.5, lower_band=48.0, upper_band=51.0),
    ]
    evaluations, _ = evaluate(forecasts_frame(*rows), split_and_dividend_bars(), CLOSES_UTC)
    assert evaluations.height == 2
    evaluations_schema().validate(evaluations.select(EVALUATION_COLUMNS))


def test_window_factors_multiply_the_events_in_the_window_only() -> None:
    # CCC: a 2:1 split on 1 March (before every window), a 0.80 dividend ex on 5 March after a
    # close of 80 (factor 1 - 0.8 / 80 = 0.99), a 4:1 split on 7 March (factor 0.25) and a
    # 3:1 split on 12 March (after every window).
    # DDD: split 2 and dividend 1 (post-split terms) on the same day 6 March after a close of
    # 100: (1 / 2) * (1 - 1 * 2 / 100) = 0.49.
    bars = bars_frame(
        bar("CCC", date(2024, 2, 29), 150.0),
        bar("CCC", MAR[1], 76.0, split=2.0),
        bar("CCC", MAR[4], 80.0),
        bar("CCC", MAR[5], 79.0, dividend=0.8),
        bar("CCC", MAR[6], 79.5),
        bar("CCC", MAR[7], 20.0, split=4.0),
        bar("CCC", MAR[8], 20.1),
        bar("CCC", MAR[11], 20.2),
        bar("CCC", MAR[12], 7.0, split=3.0),
        bar("DDD", MAR[4], 99.0),
        bar("DDD", MAR[5], 100.0),
        bar("DDD", MAR[6], 49.0, split=2.0, dividend=1.0),
        bar("DDD", MAR[7], 49.5),
    )
    windows = pl.DataFrame(
        [
            ("CCC", MAR[4], MAR[11]),  # both events: 0.99 * 0.25
            ("CCC", MAR[4], MAR[5]),  # dividend on the target day: 0.99
            ("CCC", MAR[5], MAR[6]),  # dividend on the as-of day: none
            ("CCC", MAR[7], MAR[11]),  # split on the as-of day: none
            ("CCC", MAR[1], MAR[4]),  # the 1 March split is on the as-of day: none
            ("DDD", MAR[4], MAR[7]),  # 0.49
            ("EEE", MAR[4], MAR[7]),  # no bars at all: 1.0
        ],
        schema={"symbol": pl.String, "as_of_date": pl.Date, "target_date": pl.Date},
        orient="row",
    )
    factors = window_factors(windows, bars, MAR[11])
    assert factors.name == "adjustment_factor"
    assert factors.dtype == pl.Float64
    assert factors.to_list() == pytest.approx(
        [0.99 * 0.25, 0.99, 1.0, 1.0, 1.0, 0.49, 1.0], rel=1e-12
    )


def test_window_factors_without_events_are_one() -> None:
    bars = bars_frame(*series_bars("AAA", {4: 10.0, 5: 11.0, 6: 12.0}))
    windows = pl.DataFrame(
        {"symbol": ["AAA", "AAA"], "as_of_date": [MAR[4], MAR[5]], "target_date": [MAR[6]] * 2}
    )
    assert window_factors(windows, bars, MAR[6]).to_list() == [1.0, 1.0]


def test_evaluate_label_thresholds_are_the_forecasts_own() -> None:
    # No events: realized = target / (100 * 1.0) - 1 with the same IEEE operations as below,
    # so a threshold set to exactly that number is hit exactly.
    up = 102.0 / (100.0 * 1.0) - 1.0
    down = 98.0 / (100.0 * 1.0) - 1.0
    symbols = {"UPA": 102.0, "UPB": 102.0, "UPC": 102.0, "DNA": 98.0, "DNB": 98.0}
    bars = bars_frame(
        *(
            bar(s, day, c)
            for s, target in symbols.items()
            for day, c in ((MAR[4], 100.0), (MAR[5], target))
        )
    )
    rows = [
        # a return exactly equal to threshold_up is neutral (bullish is strictly above)
        forecast(symbol="UPA", target=MAR[5], horizon="1D", threshold_up=up),
        # one ulp below the return: bullish
        forecast(symbol="UPB", target=MAR[5], horizon="1D", threshold_up=math.nextafter(up, 0.0)),
        # the same return with a wider band of its own: neutral
        forecast(symbol="UPC", target=MAR[5], horizon="1D", threshold_up=0.05),
        # exactly threshold_down: neutral; one ulp above it: bearish
        forecast(symbol="DNA", target=MAR[5], horizon="1D", threshold_down=down),
        forecast(
            symbol="DNB", target=MAR[5], horizon="1D", threshold_down=math.nextafter(down, 0.0)
        ),
    ]
    evaluations, pending = evaluate(forecasts_frame(*rows), bars, CLOSES_UTC)
    assert pending.is_empty()
    labels = dict(evaluations.select("symbol", "realized_label").iter_rows())
    returns = dict(evaluations.select("symbol", "realized_return").iter_rows())
    assert returns["UPA"] == up
    assert returns["DNA"] == down
    assert labels == {
        "UPA": "neutral",
        "UPB": "bullish",
        "UPC": "neutral",
        "DNA": "neutral",
        "DNB": "bearish",
    }


def test_evaluate_band_edges_are_inside() -> None:
    # realized = 102 / (100 * 1.0) - 1 and realized_price = 100 * (1 + realized), the same IEEE
    # operations as the module's, so a band edge set to that number is hit exactly
    price = 100.0 * (1.0 + (102.0 / (100.0 * 1.0) - 1.0))
    bars = bars_frame(
        *(
            bar(s, day, c)
            for s in ("LOW", "UPP", "OUT")
            for day, c in ((MAR[4], 100.0), (MAR[5], 102.0))
        )
    )
    rows = [
        forecast(symbol="LOW", target=MAR[5], horizon="1D", lower_band=price, upper_band=110.0),
        forecast(symbol="UPP", target=MAR[5], horizon="1D", lower_band=90.0, upper_band=price),
        forecast(
            symbol="OUT",
            target=MAR[5],
            horizon="1D",
            lower_band=90.0,
            upper_band=math.nextafter(price, 0.0),
        ),
    ]
    evaluations, _ = evaluate(forecasts_frame(*rows), bars, CLOSES_UTC)
    assert dict(evaluations.select("symbol", "realized_price").iter_rows())["LOW"] == price
    assert dict(evaluations.select("symbol", "inside_band").iter_rows()) == {
        "LOW": True,
        "UPP": True,
        "OUT": False,
    }


def test_evaluate_direction_is_null_when_a_sign_is_zero() -> None:
    bars = bars_frame(
        *(bar("FLAT", d, 100.0) for d in (MAR[4], MAR[5])),
        *(bar(s, d, c) for s in ("MOVE", "MOV2") for d, c in ((MAR[4], 100.0), (MAR[5], 103.0))),
    )
    rows = [
        # realized exactly 0 -> neutral, direction undefined
        forecast(
            symbol="FLAT", target=MAR[5], horizon="1D", label="neutral", predicted_return=0.01
        ),
        # predicted exactly 0 -> direction undefined even though the price moved
        forecast(symbol="MOVE", target=MAR[5], horizon="1D", label="neutral", predicted_return=0.0),
        # a negative prediction against a rise -> wrong direction
        forecast(
            symbol="MOV2", target=MAR[5], horizon="1D", label="bearish", predicted_return=-0.02
        ),
    ]
    evaluations, _ = evaluate(forecasts_frame(*rows), bars, CLOSES_UTC)
    got = {
        (r["symbol"], r["horizon"]): (
            r["realized_return"],
            r["realized_label"],
            r["label_correct"],
            r["direction_correct"],
        )
        for r in evaluations.iter_rows(named=True)
    }
    assert got[("FLAT", "1D")] == (0.0, "neutral", True, None)
    assert got[("MOVE", "1D")][1:] == ("bullish", False, None)
    assert got[("MOV2", "1D")][1:] == ("bullish", False, False)
    assert evaluations.get_column("direction_correct").null_count() == 2


def test_evaluate_only_final_bars_count() -> None:
    target = MAR[11]
    partial_at = datetime(2024, 3, 11, 20, 30, 15, tzinfo=UTC)
    bars = bars_frame(
        # PART: the target bar was written 29m45s before the close
        bar("PART", MAR[4], 100.0),
        bar("PART", target, 101.0, created_at=partial_at),
        # EXACT: written at the very close -> final
        bar("EXCT", MAR[4], 100.0),
        bar("EXCT", target, 101.0, created_at=close_utc(target)),
        # MISS: no bar on the target day
        bar("MISS", MAR[4], 100.0),
        bar("MISS", MAR[8], 100.0),
        # NOAS: no bar on the as-of day
        bar("NOAS", target, 101.0),
        # HOUR: only an intraday bar on the target day
        bar("HOUR", MAR[4], 100.0),
        bar("HOUR", target, 101.0, timeframe="h1"),
    )
    symbols = ["PART", "EXCT", "MISS", "NOAS", "HOUR"]
    evaluations, pending = evaluate(
        forecasts_frame(*(forecast(symbol=s) for s in symbols)), bars, CLOSES_UTC
    )
    assert evaluations.get_column("symbol").to_list() == ["EXCT"]
    assert evaluations.row(0, named=True)["realized_return"] == pytest.approx(0.01, rel=1e-12)
    assert pending.columns == PENDING_COLUMNS
    reasons = dict(pending.select("symbol", "reason").iter_rows())
    assert reasons == {
        "PART": "the 2024-03-11 bar is partial: written at 2024-03-11 20:30:15 UTC, before the "
        "session's close at 2024-03-11 21:00 UTC",
        "MISS": "no d1 bar for 2024-03-11 yet",
        "NOAS": "no d1 bar for the as-of day 2024-03-04",
        "HOUR": "no d1 bar for 2024-03-11 yet",
    }
    assert pending.filter(pl.col("symbol") == "PART").row(0, named=True) == {
        "symbol": "PART",
        "as_of_date": MAR[4],
        "horizon": "1W",
        "target_date": target,
        "as_of": str(MAR[4]),
        "target": "2024-03-11",
        "reason": reasons["PART"],
    }


def test_evaluate_all_pending_and_no_forecasts() -> None:
    # a split in the bars but no target bar: nothing to evaluate, one pending row
    bars = bars_frame(bar("AAA", MAR[4], 100.0), bar("AAA", MAR[5], 50.0, split=2.0))
    evaluations, pending = evaluate(forecasts_frame(forecast(symbol="AAA")), bars, CLOSES_UTC)
    assert evaluations.height == 0
    assert evaluations.columns == list(EVALUATION_COLUMNS)
    assert pending.get_column("reason").to_list() == ["no d1 bar for 2024-03-11 yet"]
    evaluations, pending = evaluate(forecasts_frame(), bars, CLOSES_UTC)
    assert evaluations.height == 0
    assert pending.height == 0
    assert pending.columns == PENDING_COLUMNS
