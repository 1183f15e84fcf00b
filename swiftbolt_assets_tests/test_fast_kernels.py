"""The numba kernels behind the TA-Lib-shared indicator columns: TA-Lib as the oracle, then the
conventions (warm-up, degenerate values, series independence, no look-ahead) on edge cases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from swiftbolt_assets.features.indicators import add_indicators, compute_talib_shared
from swiftbolt_assets.features.kernels.shared import shared_indicators
from swiftbolt_assets.features.spec import KERNEL_COLUMNS
from swiftbolt_assets_tests.test_indicators import FIRST_VALUE as ALL_FIRST_VALUES

SP500 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sp500_daily"

Array = np.ndarray


def _walk(n: int, *, seed: int, start: float = 100.0) -> dict[str, Array]:
    """A geometric random walk with consistent OHLC and random volume."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.015, n)))
    open_ = np.concatenate([[start], close[:-1]]) * np.exp(rng.normal(0.0, 0.003, n))
    return {
        "open": open_,
        "high": np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.01, n)),
        "low": np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.01, n)),
        "close": close,
        "volume": rng.integers(1_000, 1_000_000, n).astype(np.float64),
    }


def _frame(series: dict[str, dict[str, Array]]) -> pl.DataFrame:
    """Bars of several daily series (one per symbol), sorted as add_indicators wants them."""
    origin = datetime(2020, 1, 1, tzinfo=UTC)
    frames = [
        pl.DataFrame(
            {
                "symbol": [symbol] * len(ohlcv["close"]),
                "timeframe": ["d1"] * len(ohlcv["close"]),
                "ts": [origin + timedelta(days=i) for i in range(len(ohlcv["close"]))],
                **{name: np.asarray(ohlcv[name], dtype=np.float64) for name in ohlcv},
            },
            schema_overrides={"ts": pl.Datetime("us", "UTC")},
        )
        for symbol, ohlcv in series.items()
    ]
    return pl.concat(frames)


def _kernel(ohlcv: dict[str, Array], starts: list[int] | None = None) -> dict[str, Array]:
    """The kernel's columns by name (NaN where undefined)."""
    rows = shared_indicators(
        *(np.ascontiguousarray(ohlcv[name]) for name in ("high", "low", "close", "volume")),
        np.asarray(starts if starts is not None else [0], dtype=np.int64),
    )
    return dict(zip(KERNEL_COLUMNS, rows, strict=True))


def _talib() -> Any:
    return pytest.importorskip("talib", reason="ta-lib (the test-only oracle) is not installed")


def test_kernel_columns_are_the_indicator_columns() -> None:
    bars = _frame({"A": _walk(300, seed=1), "B": _walk(40, seed=2)})
    shared = compute_talib_shared(bars)
    assert shared.columns == list(KERNEL_COLUMNS)
    assert all(dtype == pl.Float64 for dtype in shared.dtypes)
    assert_frame_equal(shared, add_indicators(bars).select(KERNEL_COLUMNS), check_exact=True)


# --- TA-Lib ------------------------------------------------------------------------------

# column -> (TA-Lib output from (talib, high, low, close, volume), rtol, atol, first compared bar)
TalibCall = Callable[[Any, Array, Array, Array, Array], Array]


def _sma(n: int) -> TalibCall:
    return lambda t, h, lo, c, v: t.SMA(c, n)


def _band(n: int, output: int) -> TalibCall:
    return lambda t, h, lo, c, v: t.BBANDS(c, n, 2, 2, 0)[output]


TALIB: dict[str, tuple[TalibCall, float, float, int]] = {
    **{f"sma_{n}": (_sma(n), 1e-13, 0.0, 0) for n in (5, 10, 20, 50, 200)},
    "ema_12": (lambda t, h, lo, c, v: t.EMA(c, 12), 1e-13, 0.0, 0),
    "ema_26": (lambda t, h, lo, c, v: t.EMA(c, 26), 1e-13, 0.0, 0),
    "rsi_14": (lambda t, h, lo, c, v: t.RSI(c, 14), 1e-12, 0.0, 0),
    "rsi_7": (lambda t, h, lo, c, v: t.RSI(c, 7), 1e-12, 0.0, 0),
    # TA-Lib's MACD seeds its fast EMA later (to start with the signal): compare once decayed
    "macd_12_26": (lambda t, h, lo, c, v: t.MACD(c, 12, 26, 9)[0], 0.0, 1e-12, 200),
    "macd_signal_12_26_9": (lambda t, h, lo, c, v: t.MACD(c, 12, 26, 9)[1], 0.0, 1e-12, 200),
    "macd_hist_12_26_9": (lambda t, h, lo, c, v: t.MACD(c, 12, 26, 9)[2], 0.0, 1e-12, 200),
    "atr_14": (lambda t, h, lo, c, v: t.ATR(h, lo, c, 14), 1e-13, 0.0, 0),
    # TA-Lib seeds its DM/TR sums differently (not an SMA): compare once the seed has decayed
    "plus_di_14": (lambda t, h, lo, c, v: t.PLUS_DI(h, lo, c, 14), 1e-8, 0.0, 300),
    "minus_di_14": (lambda t, h, lo, c, v: t.MINUS_DI(h, lo, c, 14), 1e-8, 0.0, 300),
    "adx_14": (lambda t, h, lo, c, v: t.ADX(h, lo, c, 14), 1e-7, 0.0, 300),
    **{
        f"bb_{part}_{n}": (
            _band(n, k),
            1e-11,
            0.0,
            0,
        )
        for n in (20, 30)
        for part, k in (("upper", 0), ("basis", 1), ("lower", 2))
    },
    "williams_r_14": (lambda t, h, lo, c, v: t.WILLR(h, lo, c, 14), 1e-13, 0.0, 0),
    "cci_20": (lambda t, h, lo, c, v: t.CCI(h, lo, c, 20), 0.0, 1e-9, 0),
    # TA-Lib's running flow sums leave a residue (~1e-13) where a window has no flow of a kind
    "mfi_14": (lambda t, h, lo, c, v: t.MFI(h, lo, c, v, 14), 1e-12, 1e-10, 0),
    "roc_5": (lambda t, h, lo, c, v: t.ROC(c, 5), 0.0, 1e-12, 0),
    "roc_20": (lambda t, h, lo, c, v: t.ROC(c, 20), 0.0, 1e-12, 0),
    "roc_252": (lambda t, h, lo, c, v: t.ROC(c, 252), 0.0, 1e-12, 0),
}


def check_against_talib(ours: dict[str, Array], ohlcv: dict[str, Array], label: str) -> None:
    talib = _talib()
    h, lo, c, v = (ohlcv[name] for name in ("high", "low", "close", "volume"))
    scale = max(1.0, float(c.max()) / 100.0)  # absolute tolerances are for prices up to ~100
    for column, (call, rtol, atol, first) in TALIB.items():
        reference = np.asarray(call(talib, h, lo, c, v), dtype=np.float64)
        mine = ours[column]
        # same warm-up: the first defined bar is TA-Lib's (whose MACD line waits for the signal)
        if column != "macd_12_26":
            np.testing.assert_array_equal(
                np.isnan(mine), np.isnan(reference), err_msg=f"{label} {column} warm-up"
            )
        keep = ~np.isnan(reference)
        keep[:first] = False
        np.testing.assert_allclose(
            mine[keep], reference[keep], rtol=rtol, atol=atol * scale, err_msg=f"{label} {column}"
        )
    # obv_252 = OBV(t) - OBV(t - 252), TA-Lib's cumulative OBV over a bounded window
    obv = talib.OBV(c, v)
    assert np.isnan(ours["obv_252"][:251]).all()
    np.testing.assert_allclose(
        ours["obv_252"][252:], obv[252:] - obv[:-252], rtol=1e-9, atol=1e-6 * v.max()
    )


def test_matches_talib_on_random_walks() -> None:
    walks = [_walk(1_500, seed=20), _walk(700, seed=21, start=3.0), _walk(400, seed=22, start=9e3)]
    together = {name: np.concatenate([w[name] for w in walks]) for name in walks[0]}
    starts = np.cumsum([0] + [len(w["close"]) for w in walks[:-1]]).tolist()
    ours = _kernel(together, starts)
    for k, walk in enumerate(walks):
        part = slice(starts[k], starts[k] + len(walk["close"]))
        check_against_talib({name: col[part] for name, col in ours.items()}, walk, f"walk {k}")


def test_matches_talib_on_real_daily_bars() -> None:
    if not SP500.is_dir():
        pytest.skip(f"oracle data not available: {SP500} is absent")
    series = {}
    for symbol in ("AAPL", "XOM", "KO"):
        (path,) = sorted(SP500.glob(f"DA-{symbol}-T-*.csv"))
        raw = pl.read_csv(path)
        factor = (raw["adjusted_close"] / raw["close"]).to_numpy()
        series[symbol] = {
            **{name: raw[name].cast(pl.Float64).to_numpy() * factor for name in ("high", "low")},
            "close": raw["close"].cast(pl.Float64).to_numpy() * factor,
            "volume": raw["volume"].cast(pl.Float64).to_numpy(),
        }
    for symbol, ohlcv in series.items():
        check_against_talib(_kernel(ohlcv), ohlcv, symbol)


# --- conventions -------------------------------------------------------------------------

# first defined bar of each kernel column: the kernel's share of the table that
# test_indicators checks for all 43 columns
FIRST_VALUE = {c: bar for c, bar in ALL_FIRST_VALUES.items() if c in KERNEL_COLUMNS}


@pytest.mark.parametrize("length", [1, 2, 13, 14, 15, 200, 201, 300])
def test_warm_up_of_short_series(length: int) -> None:
    assert set(FIRST_VALUE) == set(KERNEL_COLUMNS)
    ours = _kernel(_walk(length, seed=length))
    for column, first in FIRST_VALUE.items():
        defined = ~np.isnan(ours[column])
        assert not defined[:first].any(), f"{column}: defined before bar {first}"
        assert defined[first:].all(), f"{column}: gaps after bar {first}"


def test_series_alone_equal_series_together_bit_for_bit() -> None:
    lengths = [1, 2, 13, 14, 15, 200, 201, 260, 30]
    walks = [_walk(n, seed=100 + n, start=10.0 + n) for n in lengths]
    together = {name: np.concatenate([w[name] for w in walks]) for name in walks[0]}
    starts = np.cumsum([0, *lengths[:-1]]).tolist()
    ours = _kernel(together, starts)
    for k, walk in enumerate(walks):
        alone = _kernel(walk)
        part = slice(starts[k], starts[k] + lengths[k])
        for column in KERNEL_COLUMNS:
            np.testing.assert_array_equal(ours[column][part], alone[column], err_msg=column)


def test_no_look_ahead() -> None:
    walk = _walk(400, seed=7)
    full = _kernel(walk)
    for k in (1, 14, 15, 34, 252, 399):
        prefix = _kernel({name: values[:k] for name, values in walk.items()})
        for column in KERNEL_COLUMNS:
            np.testing.assert_array_equal(prefix[column], full[column][:k], err_msg=column)


def test_constant_series_and_zero_volume() -> None:
    n = 300
    flat = {name: np.full(n, 42.5) for name in ("open", "high", "low", "close")}
    expected = {
        "sma_200": 42.5,
        "ema_26": 42.5,
        "rsi_14": 50.0,
        "rsi_7": 50.0,
        "macd_12_26": 0.0,
        "macd_signal_12_26_9": 0.0,
        "macd_hist_12_26_9": 0.0,
        "atr_14": 0.0,
        "adx_14": 0.0,
        "plus_di_14": 0.0,
        "minus_di_14": 0.0,
        "bb_basis_20": 42.5,
        "bb_upper_20": 42.5,
        "bb_lower_30": 42.5,
        "bb_pct_b_20": 0.5,
        "bb_pct_b_30": 0.5,
        "bb_width_20": 0.0,
        "bb_width_30": 0.0,
        "mfi_14": 50.0,
        "obv_252": 0.0,
        "roc_5": 0.0,
        "roc_20": 0.0,
        "roc_252": 0.0,
        "williams_r_14": -50.0,
        "cci_20": 0.0,
    }
    for volume in (1_000.0, 0.0):
        ours = _kernel({**flat, "volume": np.full(n, volume)})
        for column, value in expected.items():
            values = ours[column][FIRST_VALUE[column] :]
            assert (values == value).all(), f"volume {volume} {column}: {np.unique(values)}"

    # prices that move but no volume at all: no money flow either way, OBV 0
    walk = {**_walk(100, seed=8), "volume": np.zeros(100)}
    ours = _kernel(walk)
    assert (ours["mfi_14"][14:] == 50.0).all()
    assert (ours["obv_252"][np.isfinite(ours["obv_252"])] == 0.0).all()


def test_degenerate_values_are_null_not_inf() -> None:
    """ROC undefined when the earlier close is 0, Bollinger width when the basis is 0."""
    n = 60
    close = np.zeros(n)
    close[40:] = 5.0
    bars = {"open": close, "high": close, "low": close, "close": close, "volume": np.ones(n)}
    ours = _kernel(bars)
    assert np.isnan(ours["roc_5"][5:45]).all()
    assert (ours["roc_5"][45:] == 0.0).all()
    assert np.isnan(ours["bb_width_20"][19:40]).all()
    assert (ours["bb_pct_b_20"][19:40] == 0.5).all()
    assert np.isfinite(ours["bb_width_20"][40:]).all()
    shared = compute_talib_shared(_frame({"Z": bars}))
    assert shared["roc_5"].null_count() == 45
    assert not any(shared.select(pl.all().is_infinite().any()).row(0))
