"""Path-dependent indicator kernels and their polars wrapper.

The SuperTrend AI is checked against TradingView's own values (``../shared/fixtures/
tradingview``: Heikin-Ashi OHLC fed in exactly as exported, columns read by position); the
classic SuperTrend against a small pure-Python transcription of Pine's ``ta.supertrend``; pivots
and the polynomial levels against naive re-computations, and every column for look-ahead and
for state leaking between series.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from swiftbolt_assets.features.kernels.price_levels import pivot_levels, poly_regression_levels
from swiftbolt_assets.features.kernels.supertrend import supertrend
from swiftbolt_assets.features.levels import add_path_indicators
from swiftbolt_assets.features.spec import PATH_INDICATOR_COLUMNS, PIVOT_PERIODS

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
TRADINGVIEW = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "tradingview"
# columns by position (0-based) in the TradingView exports
TV_OPEN, TV_HIGH, TV_LOW, TV_CLOSE, TV_STOP, TV_AMA = 1, 2, 3, 4, 9, 10
TV_FIRST_ROW = 120  # compare after the warm-up (the exports carry state from earlier history)


# ---------------------------------------------------------------------------------------------
# helpers


def random_walk(n: int, seed: int, start: float = 100.0) -> dict[str, FloatArray]:
    """OHLC of a geometric random walk (open = previous close, wicks around the body)."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.012, n)))
    open_ = np.concatenate(([start], close[:-1]))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.004, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.004, n)))
    return {"open": open_, "high": high, "low": low, "close": close}


def bars(symbol: str, ohlc: dict[str, FloatArray], timeframe: str = "d1") -> pl.DataFrame:
    """A frame of bars for one (symbol, timeframe) with an integer ``ts``."""
    n = ohlc["close"].shape[0]
    return pl.DataFrame(
        {
            "symbol": [symbol] * n,
            "timeframe": [timeframe] * n,
            "ts": np.arange(n, dtype=np.int64),
            **{k: ohlc[k] for k in ("open", "high", "low", "close")},
        },
        schema_overrides=dict.fromkeys(("open", "high", "low", "close"), pl.Float64),
    )


def load_tradingview(name: str) -> dict[str, FloatArray]:
    """One TradingView export, read by column position; skip when the fixtures are absent."""
    path = TRADINGVIEW / f"{name}.csv"
    if not path.exists():
        pytest.skip(f"TradingView fixtures not available: {path} is absent (../shared/fixtures)")
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]

    def column(position: int) -> FloatArray:
        return np.array([float(r[position]) if r[position] else math.nan for r in rows])

    return {
        "open": column(TV_OPEN),
        "high": column(TV_HIGH),
        "low": column(TV_LOW),
        "close": column(TV_CLOSE),
        "stop": column(TV_STOP),
        "ama": column(TV_AMA),
    }


def agreement(ours: FloatArray, reference: FloatArray, tol: float = 1e-6) -> tuple[float, float]:
    """(share of rows within ``tol`` relative, max relative error) over the given rows."""
    rel = np.abs(ours - reference) / np.abs(reference)
    rel = np.where(np.isnan(rel), np.inf, rel)
    return float(np.mean(rel <= tol)), float(np.max(rel))


def reference_supertrend(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, factor: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Pine's ``ta.supertrend`` transcribed bar by bar: (line, direction +1 up / −1 down, atr)."""
    n = close.shape[0]
    nan = math.nan
    atr = [nan] * n
    true_ranges: list[float] = []
    alpha = 1.0 / period
    for i in range(n):
        if i == 0:
            tr = high[i] - low[i]
        else:
            tr = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        true_ranges.append(tr)
        if i == period - 1:
            total = 0.0
            for value in true_ranges:
                total += value
            atr[i] = total / period
        elif i >= period:
            atr[i] = alpha * tr + (1.0 - alpha) * atr[i - 1]
    line = [nan] * n
    direction = [nan] * n
    upper_hist = [nan] * n
    lower_hist = [nan] * n
    st_hist = [nan] * n
    for i in range(n):
        src = (high[i] + low[i]) / 2.0
        upper = src + factor * atr[i]
        lower = src - factor * atr[i]
        prev_lower = 0.0 if i == 0 or math.isnan(lower_hist[i - 1]) else lower_hist[i - 1]
        prev_upper = 0.0 if i == 0 or math.isnan(upper_hist[i - 1]) else upper_hist[i - 1]
        prev_close = close[i - 1] if i > 0 else nan
        lower = lower if (lower > prev_lower or prev_close < prev_lower) else prev_lower
        upper = upper if (upper < prev_upper or prev_close > prev_upper) else prev_upper
        if i == 0 or math.isnan(atr[i - 1]):
            pine_direction = 1
        elif st_hist[i - 1] == prev_upper:
            pine_direction = -1 if close[i] > upper else 1
        else:
            pine_direction = 1 if close[i] < lower else -1
        st_hist[i] = lower if pine_direction == -1 else upper
        upper_hist[i] = upper
        lower_hist[i] = lower
        if not math.isnan(atr[i]):
            line[i] = st_hist[i]
            direction[i] = -float(pine_direction)
    return np.array(line), np.array(direction), np.array(atr)


def reference_pivots(values: FloatArray, period: int, highs: bool) -> FloatArray:
    """Last pivot known at each bar, by brute force over each full window."""
    n = values.shape[0]
    out = np.full(n, np.nan)
    current = math.nan
    for j in range(n):
        c = j - period
        if c - period >= 0:
            window = values[c - period : j + 1]
            extreme = window.max() if highs else window.min()
            if values[c] == extreme:
                current = float(values[c])
        out[j] = current
    return out


# ---------------------------------------------------------------------------------------------
# SuperTrend AI against TradingView


@pytest.mark.parametrize("name", ["AAPL_d1", "NVDA_d1"])
def test_supertrend_ai_matches_tradingview_daily(name: str) -> None:
    tv = load_tradingview(name)
    out = add_path_indicators(bars(name, tv))
    rows = slice(TV_FIRST_ROW, None)
    for column, reference in (("st_ai_stop", tv["stop"]), ("st_ai_ama", tv["ama"])):
        ours = out.get_column(column).to_numpy().astype(np.float64)
        share, max_rel = agreement(ours[rows], reference[rows])
        logger.info("%s %s: %.1f%% within 1e-6 rel, max %.2e", name, column, 100 * share, max_rel)
        assert share >= 0.95, f"{name} {column}: only {share:.1%} within 1e-6 (max {max_rel:.2e})"


def test_supertrend_ai_tradingview_intraday_soft() -> None:
    """AAPL_h1: TradingView's instance states differ until about bar 156 (warm-up), then agree."""
    tv = load_tradingview("AAPL_h1")
    out = add_path_indicators(bars("AAPL", tv, timeframe="h1"))
    for column, reference in (("st_ai_stop", tv["stop"]), ("st_ai_ama", tv["ama"])):
        ours = out.get_column(column).to_numpy().astype(np.float64)
        share, max_rel = agreement(ours[TV_FIRST_ROW:], reference[TV_FIRST_ROW:])
        logger.info("AAPL_h1 %s: %.1f%% within 1e-6 rel, max %.2e", column, 100 * share, max_rel)
        assert share >= 0.5, f"AAPL_h1 {column}: only {share:.1%} within 1e-6"


def test_supertrend_ai_columns_are_consistent() -> None:
    ohlc = random_walk(600, seed=7)
    out = add_path_indicators(bars("X", ohlc))
    defined = out.filter(pl.col("st_ai_stop").is_not_null())
    assert defined.height > 500
    trend = defined.get_column("st_ai_trend")
    assert set(trend.unique().to_list()) <= {1.0, -1.0}
    # the stop is under the close in an up trend and above it in a down trend, bar by bar
    up = defined.filter(pl.col("st_ai_trend") == 1.0)
    down = defined.filter(pl.col("st_ai_trend") == -1.0)
    assert (up.get_column("st_ai_stop") <= up.get_column("close")).all()
    assert (down.get_column("st_ai_stop") >= down.get_column("close")).all()
    factor = defined.get_column("st_ai_factor").to_numpy()
    assert factor.min() >= 1.0
    assert factor.max() <= 5.0
    strength = out.get_column("st_ai_strength").drop_nulls().to_numpy()
    assert strength.min() >= 0.0
    assert strength.max() <= 10.0
    assert (strength == np.round(strength)).all()
    perf_idx = out.get_column("st_ai_perf_idx").drop_nulls().to_numpy()
    assert perf_idx.min() >= 0.0


# ---------------------------------------------------------------------------------------------
# classic SuperTrend


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_supertrend_equals_pine_transcription(seed: int) -> None:
    ohlc = random_walk(1500, seed=seed)
    starts = np.array([0], dtype=np.int64)
    line, direction = supertrend(ohlc["high"], ohlc["low"], ohlc["close"], starts, 10, 3.0)
    ref_line, ref_direction, _ = reference_supertrend(
        ohlc["high"], ohlc["low"], ohlc["close"], 10, 3.0
    )
    np.testing.assert_array_equal(line, ref_line)
    np.testing.assert_array_equal(direction, ref_direction)
    assert np.isnan(line[:9]).all()
    assert not np.isnan(line[9:]).any()
    assert len(np.flatnonzero(np.diff(direction[9:]))) > 10  # the walk does flip


def test_supertrend_flips_exactly_when_close_crosses_the_band() -> None:
    ohlc = random_walk(2000, seed=11)
    high, low, close = ohlc["high"], ohlc["low"], ohlc["close"]
    out = add_path_indicators(bars("X", ohlc))
    line = out.get_column("supertrend_10_3").to_numpy().astype(np.float64)
    direction = out.get_column("supertrend_dir_10_3").to_numpy().astype(np.float64)
    _, _, atr = reference_supertrend(high, low, close, 10, 3.0)
    flips = 0
    for j in range(10, close.shape[0]):
        hl2 = (high[j] + low[j]) / 2.0
        if direction[j - 1] == -1.0:  # down: the line is the upper band, which only ratchets down
            band = min(hl2 + 3.0 * atr[j], line[j - 1])
            crossed = close[j] > band
        else:  # up: the line is the lower band, which only ratchets up
            band = max(hl2 - 3.0 * atr[j], line[j - 1])
            crossed = close[j] < band
        assert (direction[j] != direction[j - 1]) == crossed, f"bar {j}"
        if not crossed:
            assert line[j] == band, f"bar {j}"
        flips += int(crossed)
    assert flips > 10


# ---------------------------------------------------------------------------------------------
# pivots


def test_pivot_kernel_matches_brute_force_with_ties() -> None:
    parts = [random_walk(n, seed=s) for n, s in ((700, 21), (15, 22), (400, 23))]
    # prices on a coarse grid make equal highs (ties count as pivots)
    high = np.concatenate([np.round(p["high"] * 2.0) / 2.0 for p in parts])
    low = np.concatenate([np.round(p["low"] * 2.0) / 2.0 for p in parts])
    starts = np.array([0, 700, 715], dtype=np.int64)
    periods = np.array(PIVOT_PERIODS, dtype=np.int64)
    out_high, out_low = pivot_levels(high, low, starts, periods)
    bounds = [*starts.tolist(), high.shape[0]]
    for r, p in enumerate(PIVOT_PERIODS):
        for s, e in itertools.pairwise(bounds):
            np.testing.assert_array_equal(out_high[r, s:e], reference_pivots(high[s:e], p, True))
            np.testing.assert_array_equal(out_low[r, s:e], reference_pivots(low[s:e], p, False))


def test_pivot_is_known_only_p_bars_later() -> None:
    i = np.arange(61, dtype=np.float64)
    high = 100.0 - np.abs(i - 30.0)  # one peak, at bar 30
    low = high - 1.0  # no interior trough
    ohlc = {"open": high - 0.5, "high": high, "low": low, "close": high - 0.5}
    out = add_path_indicators(bars("SPIKE", ohlc))
    pivot_5 = out.get_column("pivot_high_5")
    assert pivot_5[:35].is_null().all()
    assert (pivot_5[35:] == 100.0).all()
    pivot_25 = out.get_column("pivot_high_25")
    assert pivot_25[:55].is_null().all()
    assert (pivot_25[55:] == 100.0).all()
    assert out.get_column("pivot_high_50").is_null().all()  # bar 30 lacks 50 bars on its left
    for p in PIVOT_PERIODS:
        assert out.get_column(f"pivot_low_{p}").is_null().all()


# ---------------------------------------------------------------------------------------------
# polynomial regression levels


def test_poly_regression_reproduces_an_exact_quadratic() -> None:
    i = np.arange(300, dtype=np.float64)
    low = 50.0 + 0.3 * i - 0.002 * i**2
    high = 60.0 - 0.1 * i + 0.001 * i**2
    ohlc = {"open": (low + high) / 2, "high": high, "low": low, "close": (low + high) / 2}
    out = add_path_indicators(bars("QUAD", ohlc))
    support = out.get_column("poly_support_50")
    resistance = out.get_column("poly_resistance_50")
    assert support[:49].is_null().all()
    assert resistance[:49].is_null().all()
    np.testing.assert_allclose(support[49:].to_numpy(), low[49:], rtol=0, atol=1e-8)
    np.testing.assert_allclose(resistance[49:].to_numpy(), high[49:], rtol=0, atol=1e-8)


def test_poly_regression_matches_polyfit() -> None:
    ohlc = random_walk(400, seed=5)
    starts = np.array([0], dtype=np.int64)
    support, resistance = poly_regression_levels(ohlc["low"], ohlc["high"], starts, 50)
    x = np.arange(50, dtype=np.float64)
    for j in (49, 50, 123, 399):
        for ours, values in ((support, ohlc["low"]), (resistance, ohlc["high"])):
            expected = np.polyval(np.polyfit(x, values[j - 49 : j + 1], 2), 49.0)
            assert ours[j] == pytest.approx(expected, rel=1e-10)


# ---------------------------------------------------------------------------------------------
# the wrapper: look-ahead, series independence, degenerate input


def test_no_column_looks_ahead() -> None:
    frame = bars("X", random_walk(900, seed=3))
    full = add_path_indicators(frame)
    for k in (1, 9, 10, 11, 49, 50, 120, 201, 333, 899):
        head = add_path_indicators(frame.head(k))
        assert_frame_equal(head, full.head(k))


def test_series_are_independent() -> None:
    a = bars("AAA", random_walk(700, seed=31, start=50.0))
    b = bars("BBB", random_walk(450, seed=32, start=900.0))
    b_h1 = bars("BBB", random_walk(130, seed=33, start=20.0), timeframe="h1")
    together = add_path_indicators(pl.concat([a, b, b_h1]))
    for part in (a, b, b_h1):
        key = (pl.col("symbol") == part["symbol"][0]) & (
            pl.col("timeframe") == part["timeframe"][0]
        )
        assert_frame_equal(together.filter(key), add_path_indicators(part))


def test_short_series_are_null_and_constant_series_finite() -> None:
    short = bars("SHORT", random_walk(5, seed=41))
    one = bars("ONE", random_walk(1, seed=42))
    flat_values = np.full(200, 42.0)
    flat = bars("FLAT", dict.fromkeys(("open", "high", "low", "close"), flat_values))
    out = add_path_indicators(pl.concat([short, one, flat]))
    assert out.columns == [*short.columns, *PATH_INDICATOR_COLUMNS]
    assert all(out.schema[c] == pl.Float64 for c in PATH_INDICATOR_COLUMNS)
    warm = out.filter(pl.col("symbol") != "FLAT")
    for column in PATH_INDICATOR_COLUMNS:
        assert warm.get_column(column).is_null().all(), column
    flat_out = out.filter(pl.col("symbol") == "FLAT")
    for column in PATH_INDICATOR_COLUMNS:
        values = flat_out.get_column(column)
        assert (values.is_null() | values.is_finite()).all(), column
    assert (flat_out.get_column("supertrend_10_3").drop_nulls() == 42.0).all()
    support = flat_out.get_column("poly_support_50").drop_nulls().to_numpy()
    assert np.abs(support - 42.0).max() < 1e-9


def test_empty_frame_and_unsorted_frame() -> None:
    frame = bars("X", random_walk(30, seed=51))
    empty = add_path_indicators(frame.head(0))
    assert empty.height == 0
    assert empty.columns == [*frame.columns, *PATH_INDICATOR_COLUMNS]
    split = pl.concat([frame.head(10), bars("Y", random_walk(5, seed=52)), frame.tail(20)])
    with pytest.raises(ValueError, match="sorted"):
        add_path_indicators(split)
    with pytest.raises(ValueError, match="sorted"):
        add_path_indicators(frame.reverse())
    with pytest.raises(ValueError, match="needs columns"):
        add_path_indicators(frame.drop("close"))
