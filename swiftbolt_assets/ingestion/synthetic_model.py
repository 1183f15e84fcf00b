"""The price and volume model of the synthetic generator, one symbol at a time. Pure.

The model, per symbol (every draw comes from a generator seeded by ``seed`` and the CRC-32 of the
symbol, so a symbol's bars do not depend on the other symbols asked for):

* prices follow a geometric random walk with a per-symbol drift and daily volatility (1-3 %),
  reflected at ``PRICE_FLOOR`` so that decades of history do not decay to fractions of a cent;
  part of each day's variance falls overnight, so a session opens away from the previous close;
* daily highs and lows are drawn from the exact extremes of a Brownian bridge between open and
  close; 15-minute bars are a Brownian bridge from the session open to its close, with more
  variance near the open and the close;
* volume reacts to the size of the day's move and is spread over the session in a U shape
  (heavy at the open and the close, light at midday); volumes are whole numbers;
* about a third of the symbols split once (2:1 or 3:1) inside the daily range: raw prices before
  the split date are ``ratio`` times the later level (and raw volumes ``1 / ratio`` times), as in
  unadjusted data, and the daily row of the split date carries ``split_coefficient = ratio``;
* about half of the symbols pay a small quarterly cash dividend: ``dividend_amount`` is set on the
  ex-date's daily row and the price opens lower by that amount;
* halted bars: each intraday session, with probability ``HALT_PROBABILITY``, misses one
  15-minute bar (never its first or last one). Which sessions and bars follow from the seed. The
  hourly bar of that hour and the daily bar then cover the bars present.

On sessions with intraday bars, the daily bar is the aggregate of the session's 15-minute bars
(first open, highest high, lowest low, last close, total volume) and each hourly bar is the
aggregate of the 15-minute bars of its hour, counted from the session open (09:30, 10:30, ...;
the last one may be shorter). Early closes give fewer bars. Lunch breaks are not modelled.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.ingestion.sources import OHLCV_FIELDS
from swiftbolt_assets.ingestion.synthetic_grid import BARS_PER_HOUR, IntradayGrid, segment_cumsum

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

COLUMNS = ("timestamp", *OHLCV_FIELDS)
SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.String(),
    **{name: pl.Float64() for name in COLUMNS[1:]},
}
HALT_PROBABILITY = 0.02
"""Chance that an intraday session misses one (inner) 15-minute bar."""
SPLIT_PROBABILITY = 1 / 3
DIVIDEND_PROBABILITY = 0.5
SESSIONS_PER_QUARTER = 63
PRICE_DECIMALS = 4
_TICK = 10.0**-PRICE_DECIMALS
_TRADING_DAYS_PER_YEAR = 252
_UINT64 = 2**64
PRICE_FLOOR = 2.0
"""Split-adjusted closes never fall below this: the walk is reflected there."""


@dataclass(frozen=True)
class _Params:
    """One symbol's model parameters."""

    first_price: float
    drift: float  # daily log drift
    sigma_overnight: float
    sigma_session: float
    base_volume: float  # shares per day at the post-split level
    split_index: int  # daily row of the split date, or -1
    split_ratio: float
    dividend_yield: float  # per quarter; 0 when the symbol pays none
    dividend_offset: int


@dataclass(frozen=True)
class _Bars:
    """Raw OHLCV arrays of one series."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def take(self, index: IntArray | BoolArray) -> _Bars:
        return _Bars(
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
        )


def _generators(seed: int, symbol: str) -> tuple[np.random.Generator, ...]:
    """Independent generators (parameters, daily path, intraday path) of one symbol."""
    root = np.random.SeedSequence([seed % _UINT64, zlib.crc32(symbol.encode("utf-8"))])
    return tuple(np.random.default_rng(child) for child in root.spawn(3))


def _draw_params(rng: np.random.Generator, sessions: int) -> _Params:
    # A fixed number of draws in a fixed order, so every parameter is stable.
    u = rng.random(10)
    sigma_daily = 0.01 + 0.02 * u[0]
    overnight_share = 0.15 + 0.2 * u[1]
    annual_return = min(max(0.07 + 0.08 * float(rng.standard_normal()), -0.05), 0.2)
    has_split = u[2] < SPLIT_PROBABILITY and sessions >= 2
    pays = u[4] < DIVIDEND_PROBABILITY
    return _Params(
        first_price=math.exp(math.log(10.0) + (math.log(400.0) - math.log(10.0)) * u[5]),
        drift=annual_return / _TRADING_DAYS_PER_YEAR - sigma_daily**2 / 2,
        sigma_overnight=sigma_daily * math.sqrt(overnight_share),
        sigma_session=sigma_daily * math.sqrt(1.0 - overnight_share),
        base_volume=math.exp(math.log(3e5) + (math.log(3e7) - math.log(3e5)) * u[6]),
        split_index=1 + int(u[3] * (sessions - 1)) if has_split else -1,
        split_ratio=2.0 if u[7] < 0.5 else 3.0,
        dividend_yield=0.002 + 0.008 * u[8] if pays else 0.0,
        dividend_offset=int(u[9] * SESSIONS_PER_QUARTER),
    )


def _bridge_extremes(
    start: FloatArray, move: FloatArray, variance: FloatArray, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Highest and lowest log price of Brownian bridges from ``start`` to ``start + move``.

    The maximum M of a bridge ending at ``move`` after ``variance`` has
    P(M > m) = exp(-2 m (m - move) / variance), inverted here; the minimum by symmetry.
    """
    u_high = 1.0 - rng.random(move.size)  # in (0, 1]: the log stays finite
    u_low = 1.0 - rng.random(move.size)
    high = (move + np.sqrt(move**2 - 2.0 * variance * np.log(u_high))) / 2.0
    low = (move - np.sqrt(move**2 - 2.0 * variance * np.log(u_low))) / 2.0
    return start + high, start + low


def _rounded(bars: _Bars) -> _Bars:
    """Prices rounded to ``PRICE_DECIMALS`` with the OHLC invariants kept after rounding."""
    open_ = np.maximum(np.round(bars.open, PRICE_DECIMALS), _TICK)
    close = np.maximum(np.round(bars.close, PRICE_DECIMALS), _TICK)
    high = np.maximum(np.round(bars.high, PRICE_DECIMALS), np.maximum(open_, close))
    low = np.maximum(
        np.minimum(np.round(bars.low, PRICE_DECIMALS), np.minimum(open_, close)), _TICK
    )
    return _Bars(open_, high, low, close, np.maximum(np.rint(bars.volume), 0.0))


def _aggregate(bars: _Bars, keys: IntArray) -> tuple[_Bars, IntArray]:
    """OHLCV of each run of equal ``keys``, and the index of each run's first bar."""
    firsts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    lasts = np.concatenate((firsts[1:] - 1, [keys.size - 1]))
    merged = _Bars(
        bars.open[firsts],
        np.maximum.reduceat(bars.high, firsts),
        np.minimum.reduceat(bars.low, firsts),
        bars.close[lasts],
        np.add.reduceat(bars.volume, firsts),
    )
    return merged, firsts


def _frame(
    timestamps: pl.Series, bars: _Bars, split: FloatArray, dividend: FloatArray
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "timestamp": timestamps,
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume,
            "split_coefficient": split,
            "dividend_amount": dividend,
        },
        schema=SCHEMA,
    )


def symbol_frames(
    symbol: str, seed: int, day_timestamps: pl.Series, grid: IntradayGrid | None
) -> dict[tuple[str, str], pl.DataFrame]:
    rng_params, rng_daily, rng_intraday = _generators(seed, symbol)
    n = day_timestamps.len()
    p = _draw_params(rng_params, n)
    index = np.arange(n)

    # Daily path in log prices (split-adjusted); a fixed draw order keeps it reproducible.
    z_overnight = rng_daily.standard_normal(n)
    z_session = rng_daily.standard_normal(n)
    jump = np.where(rng_daily.random(n) < 0.01, rng_daily.standard_normal(n) * 4.0, 0.0)
    z_volume = rng_daily.standard_normal(n)
    overnight = p.drift * 0.25 + p.sigma_overnight * (z_overnight + jump)
    session = p.drift * 0.75 + p.sigma_session * z_session
    overnight[0] = 0.0
    ex_dates = np.zeros(n, dtype=np.bool_)
    if p.dividend_yield > 0.0:
        ex_dates[p.dividend_offset :: SESSIONS_PER_QUARTER] = True
        ex_dates[0] = False  # an ex-date needs a previous close to be paid from
        overnight[ex_dates] += math.log(1.0 - p.dividend_yield)
    log_close = math.log(p.first_price) + np.cumsum(overnight + session)
    # Reflect the walk off the price floor (long histories would otherwise drift to pennies):
    # the push that keeps a close at the floor is part of that session's move.
    push = np.maximum.accumulate(np.maximum(math.log(PRICE_FLOOR) - log_close, 0.0))
    session += np.diff(push, prepend=0.0)
    log_close += push
    log_open = log_close - session
    log_high, log_low = _bridge_extremes(
        log_open, session, np.full(n, p.sigma_session**2), rng_daily
    )

    # Raw (unadjusted) level: before the split, prices are ratio times higher, volumes lower.
    factor = np.ones(n)
    split = np.ones(n)
    if p.split_index > 0:
        factor[: p.split_index] = p.split_ratio
        split[p.split_index] = p.split_ratio
    move = np.abs(overnight + session) / (p.sigma_overnight + p.sigma_session)
    volume = p.base_volume * np.exp(0.35 * z_volume - 0.06) * (0.6 + 0.4 * move) / factor
    daily = _Bars(
        np.exp(log_open) * factor,
        np.exp(log_high) * factor,
        np.exp(log_low) * factor,
        np.exp(log_close) * factor,
        volume,
    )
    dividend = np.zeros(n)
    if ex_dates.any():
        previous_close = np.exp(log_close[index[ex_dates] - 1]) * factor[ex_dates]
        dividend[ex_dates] = np.maximum(
            np.round(p.dividend_yield * previous_close, PRICE_DECIMALS), _TICK
        )
    d1 = _rounded(daily)

    frames: dict[tuple[str, str], pl.DataFrame] = {}
    if grid is not None:
        m15, h1, day_of_session = _intraday(grid, daily, p, rng_intraday)
        d1.open[grid.day_index] = day_of_session.open
        d1.high[grid.day_index] = day_of_session.high
        d1.low[grid.day_index] = day_of_session.low
        d1.close[grid.day_index] = day_of_session.close
        d1.volume[grid.day_index] = day_of_session.volume
        frames[(symbol, "h1")] = h1
        frames[(symbol, "m15")] = m15
    return {(symbol, "d1"): _frame(day_timestamps, d1, split, dividend), **frames}


def _intraday(
    grid: IntradayGrid, daily: _Bars, p: _Params, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame, _Bars]:
    """(m15 frame, h1 frame, rounded daily bars of the intraday sessions) of one symbol."""
    seg, starts, ends = grid.seg, grid.starts, grid.ends
    day_open = np.log(daily.open[grid.day_index])
    day_close = np.log(daily.close[grid.day_index])
    variance = grid.variance_share * p.sigma_session**2

    # Brownian bridge from the session open to its close, more variable near both ends.
    walk = segment_cumsum(rng.standard_normal(seg.size) * np.sqrt(variance), starts, grid.bars)
    path = (
        day_open[seg]
        + grid.elapsed * (day_close - day_open)[seg]
        + walk
        - grid.elapsed * walk[ends][seg]
    )
    path[ends] = day_close
    bar_open = np.concatenate(([0.0], path[:-1]))
    bar_open[starts] = day_open
    high, low = _bridge_extremes(bar_open, path - bar_open, variance, rng)
    noise = np.exp(0.25 * rng.standard_normal(seg.size) - 0.03125)
    volume = daily.volume[grid.day_index][seg] * grid.volume_share * noise

    # Halted bars: one inner bar of a few sessions is missing.
    halted = (rng.random(starts.size) < HALT_PROBABILITY) & (grid.bars >= 3)
    inner = 1 + (rng.random(starts.size) * (grid.bars - 2).clip(min=1)).astype(np.int64)
    keep = np.ones(seg.size, dtype=np.bool_)
    keep[(starts + inner)[halted]] = False

    m15 = _rounded(_Bars(np.exp(bar_open), np.exp(high), np.exp(low), np.exp(path), volume))
    m15 = m15.take(keep)
    kept_seg = seg[keep]
    ones = np.ones(kept_seg.size)
    zeros = np.zeros(kept_seg.size)
    m15_frame = _frame(grid.m15_timestamp.filter(pl.Series(keep)), m15, ones, zeros)

    hour = kept_seg * (int(grid.bars.max()) + 1) + grid.pos[keep] // BARS_PER_HOUR
    h1, h1_first = _aggregate(m15, hour)
    h1_times = grid.h1_timestamp.filter(pl.Series(keep)).gather(h1_first)
    h1_frame = _frame(h1_times, h1, np.ones(h1_first.size), np.zeros(h1_first.size))
    day_of_session, _ = _aggregate(m15, kept_seg)
    return m15_frame, h1_frame, day_of_session
