"""Indicators' behaviour on edge cases: output shape and types, warm-up lengths (nulls, never
zeros), constant prices, series kept apart, no look-ahead, the public helpers, bad input.

The oracle comparisons (TradingView, TA-Lib) are in ``test_indicator_oracles``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from swiftbolt_assets.features.expressions import cci, ema, rma, rsi, sma, true_range
from swiftbolt_assets.features.indicators import add_indicators
from swiftbolt_assets.features.spec import BOOLEAN_INDICATOR_COLUMNS, INDICATOR_COLUMNS
from swiftbolt_assets_tests.indicator_frames import float_column


def _random_bars(
    n: int, *, seed: int, symbol: str = "RW", timeframe: str = "d1", start: float = 100.0
) -> pl.DataFrame:
    """A geometric random walk with consistent OHLC and random volume."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.015, n)))
    open_ = np.concatenate([[start], close[:-1]]) * np.exp(rng.normal(0.0, 0.003, n))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.01, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.01, n))
    origin = datetime(2020, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "symbol": [symbol] * n,
            "timeframe": [timeframe] * n,
            "ts": [origin + timedelta(days=i) for i in range(n)],
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(1_000, 1_000_000, n).astype(np.float64),
        }
    )


# index of the first defined value of each column (TA-Lib's lookbacks where TA-Lib has one)
FIRST_VALUE = {
    "sma_5": 4,
    "sma_10": 9,
    "sma_20": 19,
    "sma_50": 49,
    "sma_200": 199,
    "ema_12": 11,
    "ema_26": 25,
    "rsi_14": 14,
    "rsi_7": 7,
    "macd_12_26": 25,
    "macd_signal_12_26_9": 33,
    "macd_hist_12_26_9": 33,
    "atr_14": 14,
    "adx_14": 27,
    "plus_di_14": 14,
    "minus_di_14": 14,
    **{f"bb_{part}_20": 19 for part in ("basis", "upper", "lower", "pct_b", "width")},
    **{f"bb_{part}_30": 29 for part in ("basis", "upper", "lower", "pct_b", "width")},
    "kdj_rsv_9": 8,
    "kdj_k_9_3": 10,
    "kdj_d_9_3": 12,
    "kdj_j_9_3": 12,
    "rsi_cloud_lead": 9,
    "rsi_cloud_base": 27,
    "rsi_cloud_bull_cross": 27,
    "rsi_cloud_bear_cross": 27,
    "mfi_14": 14,
    "obv_252": 251,
    "volume_ratio_20": 19,
    "roc_5": 5,
    "roc_20": 20,
    "roc_252": 252,
    "williams_r_14": 13,
    "cci_20": 19,
    "hv_20": 20,
    "hv_60": 60,
}


def test_output_shape_order_and_types() -> None:
    bars = pl.concat([_random_bars(260, seed=1, symbol="B"), _random_bars(240, seed=2, symbol="C")])
    out = add_indicators(bars)
    assert set(FIRST_VALUE) == set(INDICATOR_COLUMNS)
    assert len(INDICATOR_COLUMNS) == len(set(INDICATOR_COLUMNS)) == 44
    assert out.columns == [*bars.columns, *INDICATOR_COLUMNS]
    assert_frame_equal(out.select(bars.columns), bars)
    for column in INDICATOR_COLUMNS:
        expected = pl.Boolean if column in BOOLEAN_INDICATOR_COLUMNS else pl.Float64
        assert out.schema[column] == expected, column


def test_warm_up_lengths_and_nulls_never_zeros() -> None:
    out = add_indicators(_random_bars(300, seed=3))
    for column, first in FIRST_VALUE.items():
        values = out[column]
        assert values[:first].null_count() == first, f"{column}: defined before bar {first}"
        assert values[first:].null_count() == 0, f"{column}: gaps after bar {first}"

    short = add_indicators(_random_bars(10, seed=4))
    assert short["sma_20"].null_count() == 10
    for column, first in FIRST_VALUE.items():
        assert short[column].null_count() == min(first, 10), column


def test_constant_prices_give_defined_values() -> None:
    bars = _random_bars(120, seed=5).with_columns(
        *(pl.lit(42.5).alias(name) for name in ("open", "high", "low", "close")),
        pl.lit(1_000.0).alias("volume"),
    )
    zero_volume = bars.with_columns(pl.lit(0.0).alias("volume"), pl.lit("Z").alias("symbol"))
    out = add_indicators(pl.concat([bars, zero_volume]))
    floats = [name for name in INDICATOR_COLUMNS if name not in BOOLEAN_INDICATOR_COLUMNS]
    assert (
        out.select(
            pl.all_horizontal(pl.col(name).is_finite() | pl.col(name).is_null() for name in floats)
        )
        .to_series()
        .all()
    )

    expected = {
        "sma_20": 42.5,
        "ema_26": 42.5,
        "rsi_14": 50.0,
        "rsi_7": 50.0,
        "macd_12_26": 0.0,
        "macd_signal_12_26_9": 0.0,
        "atr_14": 0.0,
        "plus_di_14": 0.0,
        "minus_di_14": 0.0,
        "adx_14": 0.0,
        "bb_basis_20": 42.5,
        "bb_upper_30": 42.5,
        "bb_pct_b_20": 0.5,
        "bb_pct_b_30": 0.5,
        "bb_width_20": 0.0,
        "bb_width_30": 0.0,
        "kdj_rsv_9": 50.0,
        "kdj_k_9_3": 50.0,
        "kdj_d_9_3": 50.0,
        "kdj_j_9_3": 50.0,
        "rsi_cloud_lead": 50.0,
        "rsi_cloud_base": 50.0,
        "mfi_14": 50.0,
        "obv_252": 0.0,
        "roc_5": 0.0,
        "williams_r_14": -50.0,
        "cci_20": 0.0,
        "hv_20": 0.0,
        "hv_60": 0.0,
    }
    for symbol in ("RW", "Z"):
        rows = out.filter(pl.col("symbol") == symbol)[FIRST_VALUE["hv_60"] :]
        for column, value in expected.items():
            assert (rows[column] == value).all(), f"{symbol} {column}: {rows[column].unique()}"
        assert not rows["rsi_cloud_bull_cross"].any()
        assert not rows["rsi_cloud_bear_cross"].any()
    assert (out.filter(pl.col("symbol") == "RW")["volume_ratio_20"][19:] == 1.0).all()
    # no volume at all: the ratio is undefined (null), not inf or 0
    assert out.filter(pl.col("symbol") == "Z")["volume_ratio_20"].null_count() == 120


def test_series_do_not_bleed_into_each_other() -> None:
    a = _random_bars(250, seed=6, symbol="AAA")
    a_hourly = _random_bars(90, seed=7, symbol="AAA", timeframe="h1", start=5.0)
    b = _random_bars(230, seed=8, symbol="BBB", start=3_000.0)
    together = add_indicators(pl.concat([a, a_hourly, b]))
    for alone in (a, a_hourly, b):
        key = (pl.col("symbol") == alone["symbol"][0]) & (
            pl.col("timeframe") == alone["timeframe"][0]
        )
        assert_frame_equal(together.filter(key), add_indicators(alone), check_exact=True)


def test_no_look_ahead() -> None:
    bars = _random_bars(400, seed=9)
    full = add_indicators(bars)
    for k in (1, 15, 40, 123, 250, 399):
        prefix = add_indicators(bars.head(k))
        assert_frame_equal(prefix, full.head(k), check_exact=False, rel_tol=0.0, abs_tol=1e-12)
    # and a change in the last bar leaves every earlier row untouched
    shocked = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 399)
        .then(pl.col(name) * 1.5)
        .otherwise(pl.col(name))
        .alias(name)
        for name in ("open", "high", "low", "close", "volume")
    )
    changed = add_indicators(shocked)
    assert_frame_equal(changed.head(399), full.head(399), check_exact=True)
    assert changed["rsi_14"][399] != full["rsi_14"][399]


def test_helpers_work_over_symbol_and_timeframe() -> None:
    """The public helpers, evaluated with their default .over(["symbol", "timeframe"])."""
    bars = pl.concat([_random_bars(150, seed=10, symbol="H"), _random_bars(80, seed=11)])
    out = add_indicators(bars)
    close = pl.col("close")
    helpers = bars.select(
        sma(close, 20).alias("sma_20"),
        ema(close, 12).alias("ema_12"),
        rsi(close, 14).alias("rsi_14"),
        rma(true_range(), 14).alias("atr_14"),
        cci(20).alias("cci_20"),
    )
    assert_frame_equal(
        helpers, out.select(helpers.columns), check_exact=False, rel_tol=0.0, abs_tol=1e-12
    )
    # the series-local form composes inside one window
    local = bars.select(ema(rsi(close, 7, by=None), 3, by=None).over("symbol", "timeframe"))
    np.testing.assert_allclose(
        local.to_series().to_numpy()[9:150],
        float_column(out, "rsi_cloud_lead")[9:150],
        rtol=1e-14,
    )


def test_rejects_unsorted_or_mistyped_input() -> None:
    bars = pl.concat([_random_bars(30, seed=12, symbol="X"), _random_bars(30, seed=13, symbol="Y")])
    with pytest.raises(ValueError, match="sorted"):
        add_indicators(bars.reverse())
    interleaved = bars.sort("ts", "symbol")
    with pytest.raises(ValueError, match="sorted"):
        add_indicators(interleaved)
    with pytest.raises(TypeError, match="Float64"):
        add_indicators(bars.with_columns(pl.col("volume").cast(pl.Int64)))
    with pytest.raises(ValueError, match="missing"):
        add_indicators(bars.drop("timeframe"))
    empty = add_indicators(bars.head(0))
    assert empty.height == 0
    assert empty.columns == [*bars.columns, *INDICATOR_COLUMNS]
