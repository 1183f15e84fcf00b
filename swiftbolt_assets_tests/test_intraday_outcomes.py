"""Intraday evaluation and inputs, pure: a forecast is scored on the m15 bar that ends at its
target time (a 1h forecast four bars on, not the next bar), only once that bar is final; the
model's context of a bar is the last completed h1 bar and the previous session's d1 row."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from swiftbolt_assets.cadence import INTRADAY
from swiftbolt_assets.evaluation.outcomes import evaluate, evaluation_columns
from swiftbolt_assets.forecasting.bar_context import h1_context, previous_sessions
from swiftbolt_assets_tests.evaluation_frames import FORECAST_SCHEMA, forecast

DAY = date(2024, 3, 5)
OPEN = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)  # 09:30 New York
M15 = timedelta(minutes=15)


def intraday_forecast(symbol: str, as_of: datetime, horizon: str) -> dict[str, object]:
    row = forecast(symbol=symbol, as_of=DAY, target=DAY, horizon="1W")
    bars = INTRADAY.horizons[horizon]
    return row | {
        "horizon": horizon,
        "horizon_days": bars,
        "as_of_ts": as_of,
        "target_ts": as_of + bars * M15,
    }


def m15_bars(symbol: str, closes: list[float], written: dict[int, datetime]) -> list[dict]:
    """Bars from the open, each written a minute after its end unless ``written`` says."""
    return [
        {
            "symbol": symbol,
            "timeframe": "m15",
            "session_date": DAY,
            "ts": OPEN + i * M15,
            "close": close,
            "split_coefficient": 1.0,
            "dividend_amount": 0.0,
            "run_id": f"bars-{symbol}",
            "created_at": written.get(i, OPEN + (i + 1) * M15 + timedelta(minutes=1)),
        }
        for i, close in enumerate(closes)
    ]


def test_an_intraday_forecast_is_scored_on_the_final_bar_ending_at_its_target() -> None:
    closes = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    as_of = OPEN + 2 * M15  # the close of the second bar (index 1): 101.0
    forecasts = pl.DataFrame(
        [
            intraday_forecast("AAA", as_of, "1h"),
            intraday_forecast("AAA", as_of, "15m"),
            intraday_forecast("PRT", as_of, "1h"),
            intraday_forecast("GAP", as_of, "1h"),
        ],
        schema=FORECAST_SCHEMA
        | {"as_of_ts": pl.Datetime("us", "UTC"), "target_ts": pl.Datetime("us", "UTC")},
    )
    # PRT's target bar (index 5, ending 11:00 New York) was written while it was forming
    forming = OPEN + 5 * M15 + timedelta(minutes=7)
    bars = pl.DataFrame(
        [
            *m15_bars("AAA", closes, {}),
            *m15_bars("PRT", closes, {5: forming}),
            *m15_bars("GAP", closes[:5], {}),  # its target bar never came
        ]
    )
    closes_utc = pl.DataFrame(
        {"session_date": [DAY], "close_utc": [datetime(2024, 3, 5, 21, tzinfo=UTC)]}
    )
    evaluations, pending = evaluate(forecasts, bars, closes_utc, INTRADAY)

    scored = {r["horizon"]: r for r in evaluations.iter_rows(named=True)}
    assert set(evaluations.columns) == set(evaluation_columns(INTRADAY))
    assert evaluations.get_column("symbol").to_list() == ["AAA", "AAA"]
    # the 1h forecast: four bars on (105.0), not the next bar (102.0)
    assert scored["1h"]["target_close"] == 105.0
    assert scored["1h"]["realized_return"] == pytest.approx(105.0 / 101.0 - 1.0, rel=1e-12)
    assert scored["1h"]["target_ts"] - scored["1h"]["as_of_ts"] == timedelta(hours=1)
    assert scored["15m"]["target_close"] == 102.0
    assert {r["adjustment_factor"] for r in scored.values()} == {1.0}
    reasons = dict(pending.select("symbol", "reason").iter_rows())
    assert reasons == {
        "PRT": "the 2024-03-05 16:00 UTC bar is partial: written at 2024-03-05 15:52:00 UTC, "
        "before its end at 2024-03-05 16:00 UTC",
        "GAP": "no m15 bar for 2024-03-05 16:00 UTC yet",
    }
    assert set(pending.get_column("as_of")) == {"2024-03-05 15:00 UTC"}


def test_the_h1_context_is_the_last_hour_completed_by_the_bars_close() -> None:
    m15 = pl.DataFrame(
        {
            "symbol": ["AAA"] * 4,
            "ts": [OPEN + i * M15 for i in (2, 3, 4, 5)],  # ends 10:15, 10:30, 10:45, 11:00
        }
    )
    hour = timedelta(hours=1)
    h1 = pl.DataFrame(
        {
            "symbol": ["AAA", "AAA"],
            "ts": [OPEN, OPEN + hour],  # 09:30-10:30, 10:30-11:30
            "adj_close": [100.0, 100.0],
            **{c: [1.0, 2.0] for c in ("sma_20", "sma_50", "nearest_support")},
            "nearest_resistance": [1.0, 2.0],
            **{
                c: [10.0, 20.0]
                for c in (
                    "rsi_14",
                    "roc_5",
                    "roc_20",
                    "bb_pct_b_20",
                    "adx_14",
                    "hv_20",
                    "volume_ratio_20",
                )
            },
        }
    )
    joined = h1_context(m15, h1, M15).sort("ts")
    # the 10:15 bar knows no completed hour; from 10:30 on the 09:30 hour; 11:30's is unknown
    assert joined.get_column("h1_rsi_14").to_list() == [None, 10.0, 10.0, 10.0]


def test_the_previous_session_skips_weekends_and_holidays() -> None:
    sessions = [date(2024, 3, 28), date(2024, 4, 1), date(2024, 4, 2)]  # Good Friday closed
    days = pl.Series([date(2024, 4, 1), date(2024, 4, 2), date(2024, 3, 28)])
    assert previous_sessions(days, sessions).to_list() == [
        date(2024, 3, 28),
        date(2024, 4, 1),
        None,
    ]
