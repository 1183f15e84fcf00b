"""Frames and helpers the evaluation loop's pure tests share: weekday sessions, forecasts and
bars built by hand (``test_evaluation_outcomes``, ``test_evaluation_live``,
``test_calibration_weights``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.cadence import DAILY
from swiftbolt_assets.evaluation.outcomes import FORECAST_FIELDS
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

_STRING_FIELDS = {
    "symbol",
    "horizon",
    "model_version",
    "weights_source",
    "weights_version",
    "calibration_version",
}


def _field_type(name: str) -> pl.DataType:
    if name in _STRING_FIELDS:
        return pl.String()
    if name in {"as_of_date", "target_date"}:
        return pl.Date()
    return pl.Int32() if name == "horizon_days" else pl.Float64()


# the forecast rows an evaluation reads: the fields it carries over, plus the close and label
FORECAST_SCHEMA: dict[str, pl.DataType] = {
    **{name: _field_type(name) for name in FORECAST_FIELDS},
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


# --- the layer weights' evaluations (test_calibration_weights) -----------------------------

PROBABILITY_COLUMNS = [f"{layer}_p_{c}" for layer in LAYERS for c in CLASSES]


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
