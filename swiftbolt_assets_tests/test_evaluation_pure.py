"""The evaluation loop's pure parts: scoring forecasts on final bars, rolling live scores and
the walk-forward layer weights, by hand and against naive reference implementations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from swiftbolt_assets.cadence import DAILY
from swiftbolt_assets.calibration.weights import (
    MIN_EVALUATIONS,
    MIN_TRAIN,
    WEIGHTS_COLUMNS,
    WeightFitParams,
    brier_of,
    fit_weights,
    simplex_grid,
)
from swiftbolt_assets.evaluation.live import ECE_BINS, LIVE_COLUMNS, LIVE_SCHEMA, live_scores
from swiftbolt_assets.evaluation.outcomes import (
    EVALUATION_COLUMNS,
    FORECAST_FIELDS,
    evaluate,
    window_factors,
)
from swiftbolt_assets.evaluation.schema import evaluations_schema
from swiftbolt_assets.forecasting.forecast import LAYER_PROBABILITY_COLUMNS
from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets.forecasting.synthesizer import DEFAULT_WEIGHTS, LAYERS

HORIZONS = DAILY.horizons

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CLOSE_TIME = time(21, 0)  # the sessions' close in UTC in these frames (16:00 New York, EST)
DEFAULT_TUPLE = tuple(DEFAULT_WEIGHTS[layer] for layer in LAYERS)


def weekdays(start: date, count: int) -> list[date]:
    """``count`` consecutive weekdays from ``start`` (the sessions of these tests: no holidays)."""
    days: list[date] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def close_utc(day: date) -> datetime:
    return datetime.combine(day, CLOSE_TIME, tzinfo=UTC)


# --- outcomes: frames ----------------------------------------------------------------------

FORECAST_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "as_of_date": pl.Date(),
    "horizon": pl.String(),
    "horizon_days": pl.Int32(),
    "target_date": pl.Date(),
    **{
        c: pl.Float64()
        for c in (
            "p_bearish",
            "p_neutral",
            "p_bullish",
            "confidence",
            "raw_confidence",
            "predicted_return",
            "target_price",
            "lower_band",
            "upper_band",
            "threshold_down",
            "threshold_up",
        )
    },
    **{c: pl.Float64() for c in LAYER_PROBABILITY_COLUMNS},
    "model_version": pl.String(),
    "weights_source": pl.String(),
    "weights_version": pl.String(),
    "calibration_version": pl.String(),
    "close": pl.Float64(),
    "label": pl.String(),
    "run_id": pl.String(),
}
BAR_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "timeframe": pl.String(),
    "session_date": pl.Date(),
    "close": pl.Float64(),
    "split_coefficient": pl.Float64(),
    "dividend_amount": pl.Float64(),
    "run_id": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
}

# March 2024: Fri 1, Mon 4 ... Fri 8, Mon 11.
MAR = {d: date(2024, 3, d) for d in (1, 4, 5, 6, 7, 8, 11, 12)}


def forecast(
    *,
    symbol: str = "AAA",
    as_of: date = MAR[4],
    target: date = MAR[11],
    horizon: str = "1W",
    label: str = "bullish",
    close: float = 100.0,
    predicted_return: float = 0.01,
    target_price: float = 101.0,
    lower_band: float = 95.0,
    upper_band: float = 105.0,
    threshold_down: float = -0.02,
    threshold_up: float = 0.02,
    probabilities: tuple[float, float, float] = (0.2, 0.3, 0.5),
) -> dict[str, object]:
    """One forecast row (FORECAST_FIELDS + close, label, run_id)."""
    return {
        "symbol": symbol,
        "as_of_date": as_of,
        "horizon": horizon,
        "horizon_days": HORIZONS[horizon],
        "target_date": target,
        "p_bearish": probabilities[0],
        "p_neutral": probabilities[1],
        "p_bullish": probabilities[2],
        "confidence": max(probabilities),
        "raw_confidence": max(probabilities),
        "predicted_return": predicted_return,
        "target_price": target_price,
        "lower_band": lower_band,
        "upper_band": upper_band,
        "threshold_down": threshold_down,
        "threshold_up": threshold_up,
        **dict.fromkeys(LAYER_PROBABILITY_COLUMNS, 1.0 / 3.0),
        "model_version": "model-v1",
        "weights_source": "default",
        "weights_version": "default-v1",
        "calibration_version": "cal-v1",
        "close": close,
        "label": label,
        "run_id": f"forecast-run-{symbol}",
    }


def forecasts_frame(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=FORECAST_SCHEMA)


def bar(
    symbol: str,
    day: date,
    close: float,
    *,
    split: float = 1.0,
    dividend: float = 0.0,
    created_at: datetime | None = None,
    timeframe: str = "d1",
) -> dict[str, object]:
    """One raw bar, by default written an hour after the session's close (final)."""
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "session_date": day,
        "close": close,
        "split_coefficient": split,
        "dividend_amount": dividend,
        "run_id": f"bar-run-{symbol}-{day:%m%d}",
        "created_at": created_at or close_utc(day) + timedelta(hours=1),
    }


def bars_frame(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=BAR_SCHEMA)


def series_bars(
    symbol: str,
    closes: dict[int, float],
    *,
    splits: dict[int, float] | None = None,
    dividends: dict[int, float] | None = None,
) -> list[dict[str, object]]:
    """Bars of ``symbol`` on March ``day`` with ``closes[day]`` and that day's events."""
    splits, dividends = splits or {}, dividends or {}
    return [
        bar(symbol, MAR[d], c, split=splits.get(d, 1.0), dividend=dividends.get(d, 0.0))
        for d, c in closes.items()
    ]


CLOSES_UTC = pl.DataFrame(
    {
        "session_date": weekdays(date(2024, 2, 26), 20),
        "close_utc": [close_utc(d) for d in weekdays(date(2024, 2, 26), 20)],
    },
    schema={"session_date": pl.Date(), "close_utc": pl.Datetime("us", "UTC")},
)


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
    assert pending.columns == ["symbol", "as_of_date", "horizon", "target_date", "reason"]
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
    assert pending.columns == ["symbol", "as_of_date", "horizon", "target_date", "reason"]


# --- live scores ---------------------------------------------------------------------------

LIVE_EVAL_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "horizon": pl.String(),
    "target_date": pl.Date(),
    "predicted_label": pl.String(),
    "realized_label": pl.String(),
    "p_bearish": pl.Float64(),
    "p_neutral": pl.Float64(),
    "p_bullish": pl.Float64(),
    "confidence": pl.Float64(),
    "label_correct": pl.Boolean(),
    "direction_correct": pl.Boolean(),
    "inside_band": pl.Boolean(),
    "price_error_pct": pl.Float64(),
}


@dataclass(frozen=True)
class LiveRow:
    """One evaluation as ``live_scores`` reads it."""

    target: date
    probabilities: tuple[float, float, float]
    predicted: str
    realized: str
    confidence: float
    direction: bool | None
    inside: bool
    error: float
    symbol: str = "AAA"
    horizon: str = "1D"

    def record(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "horizon": self.horizon,
            "target_date": self.target,
            "predicted_label": self.predicted,
            "realized_label": self.realized,
            **{f"p_{c}": p for c, p in zip(CLASSES, self.probabilities, strict=True)},
            "confidence": self.confidence,
            "label_correct": self.predicted == self.realized,
            "direction_correct": self.direction,
            "inside_band": self.inside,
            "price_error_pct": self.error,
        }


def live_frame(rows: Sequence[LiveRow]) -> pl.DataFrame:
    return pl.DataFrame([r.record() for r in rows], schema=LIVE_EVAL_SCHEMA)


def live_requests(pairs: Sequence[tuple[str, date]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(d, s) for s, d in pairs],
        schema={"partition_date": pl.Date, "symbol": pl.String},
        orient="row",
    )


def test_live_scores_by_hand() -> None:
    t1, t2, t3 = MAR[4], MAR[6], MAR[8]
    rows = [
        LiveRow(
            target=t1,
            probabilities=(0.2, 0.3, 0.5),
            predicted="bullish",
            realized="bullish",
            confidence=0.5,
            direction=True,
            inside=True,
            error=1.0,
        ),
        LiveRow(
            target=t2,
            probabilities=(0.6, 0.3, 0.1),
            predicted="bearish",
            realized="neutral",
            confidence=0.6,
            direction=None,
            inside=False,
            error=-3.0,
        ),
        LiveRow(
            target=t3,
            probabilities=(0.1, 0.7, 0.2),
            predicted="neutral",
            realized="neutral",
            confidence=0.7,
            direction=False,
            inside=True,
            error=2.0,
        ),
    ]
    requests = live_requests([("AAA", MAR[1]), ("AAA", MAR[5]), ("AAA", t3)])
    scores = live_scores(live_frame(rows[::-1]), requests, windows=(2, 20))
    assert scores.columns == list(LIVE_COLUMNS)
    assert scores.schema == pl.Schema(LIVE_SCHEMA)
    # 1 March is before every target date: no row
    assert scores.get_column("partition_date").unique().sort().to_list() == [MAR[5], t3]
    # 5 March, either window: only the first evaluation
    early = scores.filter(pl.col("partition_date") == MAR[5])
    assert early.get_column("window_size").to_list() == [2, 20]
    for r in early.iter_rows(named=True):
        assert (r["n"], r["first_target_date"], r["last_target_date"]) == (1, t1, t1)
        # (0.2 - 0)^2 + (0.3 - 0)^2 + (0.5 - 1)^2 = 0.04 + 0.09 + 0.25
        assert r["brier"] == pytest.approx(0.38)
        # bin 5: |0.5 - 1|
        assert r["ece"] == pytest.approx(0.5)
        assert (r["hit_rate_bullish"], r["hit_rate_bearish"], r["hit_rate_neutral"]) == (
            1.0,
            None,
            None,
        )
    last2 = scores.filter((pl.col("partition_date") == t3) & (pl.col("window_size") == 2)).row(
        0, named=True
    )
    identity = ("symbol", "horizon", "partition_date", "window_size", "n")
    dates = ("first_target_date", "last_target_date")
    assert {k: last2.pop(k) for k in (*identity, *dates)} == {
        "symbol": "AAA",
        "horizon": "1D",
        "partition_date": t3,
        "window_size": 2,
        "n": 2,
        "first_target_date": t2,
        "last_target_date": t3,
    }
    assert last2 == pytest.approx(
        {
            "accuracy": 0.5,
            # only the third has a direction, and it is wrong
            "directional_accuracy": 0.0,
            "n_directional": 1,
            # (0.36 + 0.49 + 0.01 = 0.86 and 0.01 + 0.09 + 0.04 = 0.14) / 2
            "brier": 0.5,
            # bins 6 and 7, one row each: (|0.6 - 0| + |0.7 - 1|) / 2
            "ece": 0.45,
            "mean_confidence": 0.65,
            "inside_band_rate": 0.5,
            "mean_abs_price_error_pct": 2.5,
            "n_bearish": 1,
            "n_neutral": 1,
            "n_bullish": 0,
            "hit_rate_bearish": 0.0,
            "hit_rate_neutral": 1.0,
            "hit_rate_bullish": None,
        }
    )
    all3 = scores.filter((pl.col("partition_date") == t3) & (pl.col("window_size") == 20)).row(
        0, named=True
    )
    assert (all3["n"], all3["first_target_date"], all3["n_directional"]) == (3, t1, 2)
    assert all3["accuracy"] == pytest.approx(2 / 3)
    assert all3["directional_accuracy"] == pytest.approx(0.5)
    assert all3["brier"] == pytest.approx((0.38 + 0.86 + 0.14) / 3)
    # bins 5, 6 and 7 one row each: (0.5 + 0.6 + 0.3) / 3
    assert all3["ece"] == pytest.approx(1.4 / 3)


def test_live_scores_empty_inputs() -> None:
    empty = live_scores(live_frame([]), live_requests([("AAA", MAR[4])]))
    assert empty.is_empty()
    assert empty.schema == pl.Schema(LIVE_SCHEMA)
    row = LiveRow(
        target=MAR[4],
        probabilities=(0.2, 0.3, 0.5),
        predicted="bullish",
        realized="bullish",
        confidence=0.5,
        direction=True,
        inside=True,
        error=1.0,
    )
    assert live_scores(live_frame([row]), live_requests([])).is_empty()


def random_live_evaluations(
    rng: np.random.Generator, days: list[date], sizes: dict[tuple[str, str], int]
) -> list[LiveRow]:
    """``sizes[(symbol, horizon)]`` evaluations on distinct random target days (gaps), with
    random probabilities, labels, directions (some null) and confidences (some exactly on bin
    edges, 0 and 1). NOB never predicts bearish; NOD never has a direction."""
    rows: list[LiveRow] = []
    edges = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
    for (symbol, horizon), size in sizes.items():
        picked = sorted(rng.choice(len(days), size=size, replace=False).tolist())
        for index in picked:
            p = rng.dirichlet(np.ones(3))
            choices = CLASSES[1:] if symbol == "NOB" else CLASSES
            confidence = (
                float(rng.choice(edges)) if rng.random() < 0.2 else float(rng.uniform(0.0, 1.0))
            )
            direction = [None, True, False][int(rng.integers(3))]
            rows.append(
                LiveRow(
                    symbol=symbol,
                    horizon=horizon,
                    target=days[index],
                    probabilities=(float(p[0]), float(p[1]), float(p[2])),
                    predicted=str(rng.choice(choices)),
                    realized=str(rng.choice(CLASSES)),
                    confidence=confidence,
                    direction=None if symbol == "NOD" else direction,
                    inside=bool(rng.random() < 0.6),
                    error=float(rng.normal(0.0, 3.0)),
                )
            )
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def reference_scores(last: Sequence[LiveRow]) -> dict[str, object]:
    """The live scores of the evaluations ``last`` (oldest first), by their definitions."""
    n = len(last)
    correct = [r.predicted == r.realized for r in last]
    directional = [r.direction for r in last if r.direction is not None]
    brier = sum(
        (p - (1.0 if r.realized == c else 0.0)) ** 2
        for r in last
        for c, p in zip(CLASSES, r.probabilities, strict=True)
    )
    # ECE: sum over the 10 equal-width bins of (bin share) * |mean confidence - accuracy|;
    # a confidence of exactly 1.0 goes to the last bin
    ece = 0.0
    for b in range(ECE_BINS):
        members = [
            i for i, r in enumerate(last) if min(math.floor(r.confidence * ECE_BINS), 9) == b
        ]
        if members:
            mean_conf = sum(last[i].confidence for i in members) / len(members)
            accuracy = sum(correct[i] for i in members) / len(members)
            ece += len(members) / n * abs(mean_conf - accuracy)
    scores: dict[str, object] = {
        "n": n,
        "first_target_date": last[0].target,
        "last_target_date": last[-1].target,
        "accuracy": sum(correct) / n,
        "directional_accuracy": (sum(directional) / len(directional) if directional else None),
        "n_directional": len(directional),
        "brier": brier / n,
        "ece": ece,
        "mean_confidence": sum(r.confidence for r in last) / n,
        "inside_band_rate": sum(r.inside for r in last) / n,
        "mean_abs_price_error_pct": sum(abs(r.error) for r in last) / n,
    }
    for c in CLASSES:
        hits = [right for right, r in zip(correct, last, strict=True) if r.predicted == c]
        scores[f"n_{c}"] = len(hits)
        scores[f"hit_rate_{c}"] = sum(hits) / len(hits) if hits else None
    return scores


def reference_live(
    rows: Sequence[LiveRow], pairs: Sequence[tuple[str, date]], windows: Sequence[int]
) -> dict[tuple[str, str, date, int], dict[str, object]]:
    """Per (symbol, horizon, day, window): the scores of the last ``window`` evaluations with a
    target date on or before the day; nothing when there is none."""
    out: dict[tuple[str, str, date, int], dict[str, object]] = {}
    for symbol, day in set(pairs):
        for horizon in {r.horizon for r in rows if r.symbol == symbol}:
            known = sorted(
                (r for r in rows if (r.symbol, r.horizon) == (symbol, horizon) and r.target <= day),
                key=lambda r: r.target,
            )
            for window in windows if known else ():
                out[(symbol, horizon, day, window)] = reference_scores(known[-window:])
    return out


@pytest.mark.parametrize("windows", [(20, 60), (1, 7)])
def test_live_scores_match_the_reference_on_random_data(windows: tuple[int, ...]) -> None:
    rng = np.random.default_rng(20240311)
    days = weekdays(date(2023, 1, 2), 160)
    sizes = {
        ("AAA", "1D"): 120,
        ("AAA", "1W"): 45,
        ("AAA", "1M"): 8,  # fewer than any window of 20
        ("BBB", "1D"): 70,
        ("BBB", "3M"): 1,
        ("NOB", "1W"): 40,  # never predicts bearish
        ("NOD", "1D"): 25,  # never has a direction
    }
    rows = random_live_evaluations(rng, days, sizes)
    symbols = ["AAA", "BBB", "NOB", "NOD", "ZZZ"]  # ZZZ has no evaluations at all
    request_days = sorted(
        {
            days[0] - timedelta(days=3),  # before every evaluation
            days[0],
            days[-1],
            days[-1] + timedelta(days=10),  # after every evaluation
            *(days[int(i)] for i in rng.choice(len(days), size=25, replace=False)),
            date(2023, 1, 7),  # a Saturday
        }
    )
    pairs = [(s, d) for s in symbols for d in request_days]
    scores = live_scores(live_frame(rows), live_requests(pairs + pairs[:5]), windows)
    expected = reference_live(rows, pairs, windows)

    assert scores.schema == pl.Schema(LIVE_SCHEMA)
    got = {
        (r["symbol"], r["horizon"], r["partition_date"], r["window_size"]): r
        for r in scores.iter_rows(named=True)
    }
    assert len(got) == scores.height  # one row per (symbol, horizon, day, window)
    assert set(got) == set(expected)
    for key, want in expected.items():
        exact = {k: v for k, v in want.items() if not isinstance(v, float)}
        close = {k: v for k, v in want.items() if isinstance(v, float)}
        assert {k: got[key][k] for k in exact} == exact, key
        assert {k: got[key][k] for k in close} == pytest.approx(close, rel=1e-9, abs=1e-12), key
    # the sorted output order
    assert scores.select("partition_date", "symbol", "horizon", "window_size").rows() == sorted(
        (d, s, h, w) for s, h, d, w in got
    )
    # some hand-known properties of this data set
    assert not any(key[0] == "ZZZ" for key in got)
    assert all(
        r["hit_rate_bearish"] is None and r["n_bearish"] == 0
        for k, r in got.items()
        if k[0] == "NOB"
    )
    assert all(
        r["directional_accuracy"] is None and r["n_directional"] == 0
        for k, r in got.items()
        if k[0] == "NOD"
    )
    small = got[("AAA", "1M", days[-1], windows[-1])]
    assert small["n"] == min(8, windows[-1])


def test_live_scores_are_point_in_time() -> None:
    rng = np.random.default_rng(7)
    days = weekdays(date(2023, 1, 2), 120)
    rows = random_live_evaluations(rng, days, {("AAA", "1D"): 80, ("AAA", "1W"): 60})
    day = days[70]
    past = [r for r in rows if r.target <= day]
    requests = live_requests([("AAA", day)])
    # the same rows; floats up to rounding (the prefix sums run over every row of the input)
    assert_frame_equal(
        live_scores(live_frame(past), requests),
        live_scores(live_frame(rows), requests),
        rel_tol=1e-12,
        abs_tol=1e-12,
    )
    # one request at a time gives the same rows as all at once
    many = [days[10], days[40], day, days[-1]]
    together = live_scores(live_frame(rows), live_requests([("AAA", d) for d in many]))
    for d in many:
        alone = live_scores(live_frame(rows), live_requests([("AAA", d)]))
        assert_frame_equal(
            together.filter(pl.col("partition_date") == d), alone, rel_tol=1e-12, abs_tol=1e-12
        )


# --- weights -------------------------------------------------------------------------------

PROBABILITY_COLUMNS = [f"{layer}_p_{c}" for layer in LAYERS for c in CLASSES]


def direct_brier(weights: Sequence[float], probs: FloatArray, truth: IntArray) -> float:
    """Mean over rows of sum over classes of (blended p - one-hot)^2; probs (rows, layers, 3)."""
    blended = np.einsum("l,nlc->nc", np.asarray(weights, dtype=np.float64), probs)
    onehot = np.eye(len(CLASSES))[truth]
    return float(np.mean(np.sum((blended - onehot) ** 2, axis=1)))


def window_terms(probs: FloatArray, truth: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(gram (1, 6), linear (1, 3), n (1,)) of one window: the unique Gram entries G[i, j],
    i <= j in row-major order, sum over rows of P_i . P_j; linear[l] = sum of P_l[y]."""
    pairs = [(i, j) for i in range(len(LAYERS)) for j in range(i, len(LAYERS))]
    gram = np.asarray([[np.sum(probs[:, i] * probs[:, j]) for i, j in pairs]])
    linear = np.asarray(
        [[np.sum(probs[np.arange(truth.size), layer, truth]) for layer in range(len(LAYERS))]]
    )
    return gram, linear, np.asarray([float(truth.size)])


def weight_evaluations(
    *,
    symbol: str,
    horizon: str,
    targets: Sequence[date],
    as_ofs: Sequence[date],
    probs: FloatArray,
    truth: IntArray,
) -> pl.DataFrame:
    """Evaluations (the columns ``fit_weights`` reads) with layer probabilities ``probs``
    (rows, layers, classes) and realized class indices ``truth``."""
    flat = probs.reshape(len(targets), len(LAYERS) * len(CLASSES))
    return pl.DataFrame(
        {
            "symbol": [symbol] * len(targets),
            "horizon": [horizon] * len(targets),
            "as_of_date": list(as_ofs),
            "target_date": list(targets),
            "realized_label": [CLASSES[int(t)] for t in truth],
            **{c: flat[:, k] for k, c in enumerate(PROBABILITY_COLUMNS)},
        },
        schema_overrides={"as_of_date": pl.Date, "target_date": pl.Date},
    )


def weight_requests(pairs: Sequence[tuple[str, date]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(d, s) for s, d in pairs],
        schema={"partition_date": pl.Date, "symbol": pl.String},
        orient="row",
    )


def noise(rng: np.random.Generator, n: int) -> FloatArray:
    probs: FloatArray = rng.dirichlet(np.ones(len(CLASSES)), size=(n, len(LAYERS)))
    return probs


def walk(
    rng: np.random.Generator,
    *,
    horizon: str,
    n: int,
    first_target: date = date(2023, 2, 1),
    symbol: str = "AAA",
    probs: FloatArray | None = None,
    truth: IntArray | None = None,
) -> tuple[pl.DataFrame, list[date], FloatArray, IntArray]:
    """``n`` evaluations of ``horizon`` on consecutive weekday targets from ``first_target``,
    each made ``horizon_days`` weekdays before its target."""
    h = HORIZONS[horizon]
    calendar = weekdays(first_target - timedelta(days=2 * h + 7), 3 * h + n + 14)
    offset = calendar.index(first_target)
    assert offset >= h
    targets = calendar[offset : offset + n]
    as_ofs = calendar[offset - h : offset - h + n]
    probs = noise(rng, n) if probs is None else probs
    truth = rng.integers(0, len(CLASSES), size=n) if truth is None else truth
    frame = weight_evaluations(
        symbol=symbol, horizon=horizon, targets=targets, as_ofs=as_ofs, probs=probs, truth=truth
    )
    return frame, targets, probs, truth


def test_simplex_grid() -> None:
    grid = simplex_grid(0.05)
    assert grid.shape == (21 * 22 // 2, 3)
    assert np.allclose(grid.sum(axis=1), 1.0)
    assert grid.min() >= 0.0
    assert np.allclose(grid * 20, np.round(grid * 20))
    assert len({tuple(np.round(row * 20).astype(int)) for row in grid}) == grid.shape[0]
    assert any(np.allclose(row, DEFAULT_TUPLE) for row in grid)
    coarse = simplex_grid(0.5)
    assert sorted(map(tuple, coarse.tolist())) == sorted(
        [
            (0.0, 0.0, 1.0),
            (0.0, 0.5, 0.5),
            (0.0, 1.0, 0.0),
            (0.5, 0.0, 0.5),
            (0.5, 0.5, 0.0),
            (1.0, 0.0, 0.0),
        ]
    )


def test_brier_of_is_the_brier_of_the_blend() -> None:
    rng = np.random.default_rng(11)
    probs = noise(rng, 50)
    truth = rng.integers(0, 3, size=50)
    # two windows (rows 0..29 and 30..49) and an empty one
    first = window_terms(probs[:30], truth[:30])
    second = window_terms(probs[30:], truth[30:])
    gram = np.vstack([first[0], second[0], np.zeros((1, 6))])
    linear = np.vstack([first[1], second[1], np.zeros((1, 3))])
    n = np.asarray([30.0, 20.0, 0.0])
    weights = np.vstack(
        [
            rng.dirichlet(np.ones(3), size=8),
            np.asarray([DEFAULT_TUPLE, (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)]),
            rng.normal(size=(3, 3)),  # the quadratic form holds off the simplex too
        ]
    )
    scores = brier_of(weights, gram, linear, n)
    assert scores.shape == (weights.shape[0], 3)
    for k, w in enumerate(weights):
        assert scores[k, 0] == pytest.approx(direct_brier(w, probs[:30], truth[:30]), rel=1e-10)
        assert scores[k, 1] == pytest.approx(direct_brier(w, probs[30:], truth[30:]), rel=1e-10)
    assert np.isnan(scores[:, 2]).all()


def test_fit_weights_embargo_and_grid_argmin_by_brute_force() -> None:
    """60 evaluations per horizon on consecutive weekdays, each made h sessions before its
    target. As of the last target day: n = 60, validation = max(10, round(0.25 * 60)) = 15
    (indices 45..59); the first validation forecast (index 45) was made at the target date of
    index 45 - h, so training is indices 0 .. 44 - h: n_train = 45 - h (44, 40 and 24 for
    1D, 1W and 1M)."""
    rng = np.random.default_rng(3)
    first_target = date(2023, 3, 1)
    parts = {h: walk(rng, horizon=h, n=60, first_target=first_target) for h in ("1D", "1W", "1M")}
    targets = parts["1D"][1]
    assert all(p[1] == targets for p in parts.values())  # the same 60 target days
    evaluations = pl.concat([p[0] for p in parts.values()])
    day = targets[-1]
    out = fit_weights(
        evaluations.sample(fraction=1.0, shuffle=True, seed=1), weight_requests([("AAA", day)])
    )
    assert out.columns == list(WEIGHTS_COLUMNS)
    assert sorted(out.get_column("horizon")) == sorted(HORIZONS)
    rows = {r["horizon"]: r for r in out.iter_rows(named=True)}
    grid = simplex_grid(0.05)
    for horizon, n_train in (("1D", 44), ("1W", 40), ("1M", 24)):
        row = rows[horizon]
        _, _, probs, truth = parts[horizon]
        assert (row["n_evaluations"], row["n_train"], row["n_validation"]) == (60, n_train, 15)
        assert row["partition_date"] == day
        train = [direct_brier(w, probs[:n_train], truth[:n_train]) for w in grid]
        best = grid[int(np.argmin(train))]
        assert row["train_brier"] == pytest.approx(min(train), rel=1e-10)
        assert row["validation_brier_fitted"] == pytest.approx(
            direct_brier(best, probs[45:], truth[45:]), rel=1e-10
        )
        assert row["validation_brier_default"] == pytest.approx(
            direct_brier(DEFAULT_TUPLE, probs[45:], truth[45:]), rel=1e-10
        )
        assert row["validation_brier_ensemble"] == pytest.approx(
            direct_brier((0.0, 0.0, 1.0), probs[45:], truth[45:]), rel=1e-10
        )
        gain = row["validation_brier_fitted"] < row["validation_brier_default"]
        assert row["method"] == ("fitted" if gain else "fallback_no_gain")
        weights = (row["w_supertrend"], row["w_sr"], row["w_ensemble"])
        if gain:
            everything = [direct_brier(w, probs, truth) for w in grid]
            assert weights == tuple(grid[int(np.argmin(everything))].tolist())
            assert row["fallback_reason"] is None
        else:
            assert weights == DEFAULT_TUPLE
    for horizon in ("2M", "3M", "4M", "5M", "6M"):
        assert rows[horizon]["n_evaluations"] == 0
        assert rows[horizon]["method"] == "fallback_few_evaluations"


def test_fit_weights_embargo_can_leave_too_little_training() -> None:
    # 1M (21 sessions), n = 40 = MIN_EVALUATIONS: validation max(10, round(10)) = 10 (indices
    # 30..39); the first validation forecast was made at target 30 - 21 = 9, so n_train = 9 < 20.
    rng = np.random.default_rng(5)
    evaluations, targets, _, _ = walk(rng, horizon="1M", n=MIN_EVALUATIONS)
    row = (
        fit_weights(evaluations, weight_requests([("AAA", targets[-1])]))
        .filter(pl.col("horizon") == "1M")
        .row(0, named=True)
    )
    assert (row["n_evaluations"], row["n_train"]) == (40, 9)
    assert row["method"] == "fallback_few_evaluations"
    assert (row["w_supertrend"], row["w_sr"], row["w_ensemble"]) == DEFAULT_TUPLE
    assert row["fallback_reason"] == (
        f"too few evaluations: 40 known, 9 before the embargo (need {MIN_EVALUATIONS} and "
        f"{MIN_TRAIN})"
    )
    assert row["n_validation"] == 0
    assert row["train_brier"] is None
    assert row["validation_brier_default"] is None


def test_fit_weights_lookback_and_rounding_of_the_validation_size() -> None:
    # lookback 50 of 80 evaluations (1D): n = 50, validation round(12.5) = 12 (half to even),
    # indices 38..49 of the window, first validation forecast made at window index 37:
    # n_train = 37.
    rng = np.random.default_rng(6)
    evaluations, targets, probs, truth = walk(rng, horizon="1D", n=80)
    params = WeightFitParams(lookback=50)
    row = (
        fit_weights(evaluations, weight_requests([("AAA", targets[-1])]), params)
        .filter(pl.col("horizon") == "1D")
        .row(0, named=True)
    )
    assert (row["n_evaluations"], row["n_train"], row["n_validation"]) == (50, 37, 12)
    window_probs, window_truth = probs[30:], truth[30:]
    train = [direct_brier(w, window_probs[:37], window_truth[:37]) for w in simplex_grid(0.05)]
    assert row["train_brier"] == pytest.approx(min(train), rel=1e-10)
    assert row["validation_brier_default"] == pytest.approx(
        direct_brier(DEFAULT_TUPLE, window_probs[38:], window_truth[38:]), rel=1e-10
    )


def test_fit_weights_validation_has_at_least_min_validation_rows() -> None:
    # 24 evaluations (1D) with min_evaluations 20: round(0.25 * 24) = 6 < 10, so validation is
    # the last 10 (indices 14..23); the first of them was made at target 13: n_train = 13.
    rng = np.random.default_rng(13)
    evaluations, targets, probs, truth = walk(rng, horizon="1D", n=24)
    params = WeightFitParams(min_evaluations=20, min_train=5)
    row = (
        fit_weights(evaluations, weight_requests([("AAA", targets[-1])]), params)
        .filter(pl.col("horizon") == "1D")
        .row(0, named=True)
    )
    assert (row["n_evaluations"], row["n_train"], row["n_validation"]) == (24, 13, 10)
    assert row["method"] in {"fitted", "fallback_no_gain"}
    assert row["validation_brier_default"] == pytest.approx(
        direct_brier(DEFAULT_TUPLE, probs[14:], truth[14:]), rel=1e-10
    )


def test_fit_weights_few_evaluations_fall_back_with_the_counts() -> None:
    rng = np.random.default_rng(8)
    evaluations, targets, _, _ = walk(rng, horizon="1D", n=MIN_EVALUATIONS - 1)
    # evaluations without layer probabilities (older forecasts) do not count
    after = weekdays(targets[-1] + timedelta(days=1), 1)[0]
    extra, _, _, _ = walk(rng, horizon="1D", n=5, first_target=after)
    extra = extra.with_columns(pl.lit(None, dtype=pl.Float64).alias("sr_p_neutral"))
    day = targets[-1] + timedelta(days=10)
    out = fit_weights(
        pl.concat([evaluations, extra]), weight_requests([("AAA", day), ("ZZZ", day)])
    )
    assert out.height == 2 * len(HORIZONS)
    assert sorted(out.select("symbol", "horizon").rows()) == sorted(
        (s, h) for s in ("AAA", "ZZZ") for h in HORIZONS
    )
    assert set(out.get_column("method")) == {"fallback_few_evaluations"}
    for r in out.iter_rows(named=True):
        assert (r["w_supertrend"], r["w_sr"], r["w_ensemble"]) == DEFAULT_TUPLE
        assert r["n_validation"] == 0
        assert r["train_brier"] is None
        assert r["validation_brier_fitted"] is None
        assert r["validation_brier_ensemble"] is None
    row = out.filter((pl.col("symbol") == "AAA") & (pl.col("horizon") == "1D")).row(0, named=True)
    # 39 known; validation 10 (indices 29..38) from the forecast made at target 28: train 28
    assert (row["n_evaluations"], row["n_train"]) == (39, 28)
    assert row["fallback_reason"] == (
        "too few evaluations: 39 known, 28 before the embargo (need 40 and 20)"
    )
    for r in out.filter(pl.col("n_evaluations") == 0).iter_rows(named=True):
        assert r["n_train"] == 0
        assert r["fallback_reason"] == (
            "too few evaluations: 0 known, 0 before the embargo (need 40 and 20)"
        )
    assert out.filter(pl.col("n_evaluations") == 0).height == 2 * len(HORIZONS) - 1


def test_fit_weights_finds_the_informative_layer() -> None:
    # supertrend puts 0.8 on the realized class; sr and the ensemble are noise
    rng = np.random.default_rng(9)
    n = 150
    truth = rng.integers(0, 3, size=n)
    probs = noise(rng, n)
    probs[:, 0, :] = 0.1
    probs[np.arange(n), 0, truth] = 0.8
    evaluations, targets, _, _ = walk(rng, horizon="1W", n=n, probs=probs, truth=truth)
    row = (
        fit_weights(evaluations, weight_requests([("AAA", targets[-1])]))
        .filter(pl.col("horizon") == "1W")
        .row(0, named=True)
    )
    assert row["method"] == "fitted"
    assert row["fallback_reason"] is None
    assert row["w_supertrend"] >= 0.8
    assert row["w_supertrend"] + row["w_sr"] + row["w_ensemble"] == pytest.approx(1.0)
    assert row["validation_brier_fitted"] < row["validation_brier_default"]
    assert row["validation_brier_fitted"] < row["validation_brier_ensemble"]
    # the informative layer alone: 0.1^2 + 0.1^2 + 0.2^2 = 0.06
    assert row["train_brier"] <= 0.06 + 1e-12


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param(10, id="seed10"),
        # seeds 15 and 31 once came out "fitted": some grid point beat the defaults by one unit
        # in the last place (0.7586015669969466 < 0.7586015669969467), before the comparison
        # required a real gain (weights.GAIN_TOLERANCE)
        pytest.param(15, id="seed15-one-ulp"),
        pytest.param(31, id="seed31-one-ulp"),
    ],
)
def test_fit_weights_identical_layers_cannot_beat_the_defaults(seed: int) -> None:
    # every layer carries the same noise: every weight vector blends to the same probabilities,
    # so no fitted weights can be better than the defaults on validation
    rng = np.random.default_rng(seed)
    n = 120
    single = rng.dirichlet(np.ones(3), size=n)
    probs = np.repeat(single[:, None, :], len(LAYERS), axis=1)
    evaluations, targets, _, _ = walk(rng, horizon="1D", n=n, probs=probs)
    row = (
        fit_weights(evaluations, weight_requests([("AAA", targets[-1])]))
        .filter(pl.col("horizon") == "1D")
        .row(0, named=True)
    )
    assert row["n_evaluations"] == n
    assert row["validation_brier_fitted"] == pytest.approx(
        row["validation_brier_default"], rel=1e-12
    )
    assert (row["method"], row["w_supertrend"], row["w_sr"], row["w_ensemble"]) == (
        "fallback_no_gain",
        *DEFAULT_TUPLE,
    )
    assert row["fallback_reason"] == (
        "weights fitted on the earlier evaluations did not beat the defaults on the later ones"
    )


def fit_sorted(
    evaluations: pl.DataFrame, requests: pl.DataFrame, params: WeightFitParams
) -> pl.DataFrame:
    """``fit_weights`` rows in a fixed order (the function does not promise one)."""
    return fit_weights(evaluations, requests, params).sort("partition_date", "symbol", "horizon")


def test_fit_weights_is_point_in_time() -> None:
    rng = np.random.default_rng(12)
    params = WeightFitParams(lookback=60, min_evaluations=20, min_train=10)
    frames = []
    for symbol in ("AAA", "BBB"):
        for horizon in ("1D", "1W"):
            n = int(rng.integers(30, 90))
            frame, _, _, _ = walk(rng, horizon=horizon, n=n, symbol=symbol)
            # gaps: drop a fifth of the rows
            frames.append(frame.filter(pl.Series(rng.random(n) > 0.2)))
    evaluations = pl.concat(frames)
    days = sorted(set(evaluations.get_column("target_date").to_list()))
    methods: set[str] = set()
    for day in (days[15], days[40], days[len(days) // 2], days[-1]):
        requests = weight_requests([("AAA", day), ("BBB", day)])
        known = evaluations.filter(pl.col("target_date") <= day)
        with_future = fit_sorted(evaluations, requests, params)
        # identical methods, weights and counts; Brier scores up to rounding (the prefix sums
        # run over every row of the input)
        assert_frame_equal(
            fit_sorted(known, requests, params), with_future, rel_tol=1e-12, abs_tol=1e-12
        )
        assert set(with_future.get_column("partition_date")) == {day}
        methods |= set(with_future.get_column("method"))
    # the days checked cover every outcome
    assert methods == {"fitted", "fallback_no_gain", "fallback_few_evaluations"}
    # all days at once == one day at a time
    some = [days[15], days[40], days[-1]]
    together = fit_sorted(
        evaluations, weight_requests([(s, d) for s in ("AAA", "BBB") for d in some]), params
    )
    for d in some:
        alone = fit_sorted(evaluations, weight_requests([("AAA", d), ("BBB", d)]), params)
        assert_frame_equal(
            together.filter(pl.col("partition_date") == d), alone, rel_tol=1e-12, abs_tol=1e-12
        )
