"""The intraday bar grid of the synthetic generator, shared by every symbol. Pure.

`intraday_grid` lays the 15-minute bars of the last sessions of a sessions table end to end:
each bar's session and place in it, the share of the session's variance and volume it carries
(U shapes: heavy at the open and the close, light at midday) and its local timestamps, as the
bar and as its hour bucket counted from the session open (09:30, 10:30, ...; the last one may be
shorter). Early closes give fewer bars. Lunch breaks are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.settings import EXCHANGE_TIMEZONE

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BAR_US = 15 * 60 * 1_000_000
BARS_PER_HOUR = 4


@dataclass(frozen=True)
class IntradayGrid:
    """Layout of the intraday bars, shared by every symbol (halted bars aside).

    Bars of all intraday sessions are laid end to end: ``seg`` is each bar's session (0..S-1),
    ``pos`` its place in the session; ``starts``/``ends`` the first/last bar of each session.
    """

    day_index: IntArray  # daily row of each intraday session (S,)
    bars: IntArray  # bars per session (S,)
    starts: IntArray
    ends: IntArray
    seg: IntArray  # (N,)
    pos: IntArray  # (N,)
    elapsed: FloatArray  # share of the session's variance up to each bar's close (N,)
    variance_share: FloatArray  # share of the session's variance in each bar (N,)
    volume_share: FloatArray  # share of the session's volume in each bar (N,)
    m15_timestamp: pl.Series  # local bar open time with its offset (N,)
    h1_timestamp: pl.Series  # local open time of the bar's hour bucket (N,)


def _segment_sums(values: FloatArray, starts: IntArray) -> FloatArray:
    return np.add.reduceat(values, starts)


def segment_cumsum(values: FloatArray, starts: IntArray, bars: IntArray) -> FloatArray:
    """Running sums that restart at each segment start."""
    total = np.cumsum(values)
    before = total[starts] - values[starts]
    return total - np.repeat(before, bars)


def _local_timestamps(epoch_us: IntArray) -> pl.Series:
    return (
        pl.from_epoch(pl.Series("timestamp", epoch_us), time_unit="us")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(EXCHANGE_TIMEZONE)
        .dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
    )


def intraday_grid(table: pl.DataFrame, intraday_sessions: int) -> IntradayGrid:
    """The bar layout of the last ``intraday_sessions`` sessions of ``table``."""
    first = max(table.height - intraday_sessions, 0)
    recent = table.slice(first)
    opens = recent["open_utc"].dt.epoch("us").to_numpy().astype(np.int64)
    closes = recent["close_utc"].dt.epoch("us").to_numpy().astype(np.int64)
    bars = np.maximum(-((opens - closes) // BAR_US), 1)  # ceil: a short last bar still counts
    ends = np.cumsum(bars) - 1
    starts = ends - bars + 1
    seg = np.repeat(np.arange(bars.size, dtype=np.int64), bars)
    pos = np.arange(int(bars.sum()), dtype=np.int64) - np.repeat(starts, bars)

    # Time of day as a share of the session, at each bar's middle: drives the U shapes.
    when = (pos + 0.5) / bars[seg]
    activity = 0.6 + 1.8 * np.exp(-when / 0.08) + 0.8 * np.exp(-(1.0 - when) / 0.08)
    variance_share = activity / np.repeat(_segment_sums(activity, starts), bars)
    elapsed = segment_cumsum(variance_share, starts, bars)
    elapsed[ends] = 1.0
    crowd = 0.5 + 2.5 * np.exp(-when / 0.07) + 2.0 * np.exp(-(1.0 - when) / 0.05)
    volume_share = crowd / np.repeat(_segment_sums(crowd, starts), bars)

    bar_open = opens[seg] + pos * BAR_US
    hour_open = opens[seg] + (pos // BARS_PER_HOUR) * BARS_PER_HOUR * BAR_US
    return IntradayGrid(
        day_index=np.arange(first, table.height, dtype=np.int64),
        bars=bars,
        starts=starts,
        ends=ends,
        seg=seg,
        pos=pos,
        elapsed=elapsed,
        variance_share=variance_share,
        volume_share=volume_share,
        m15_timestamp=_local_timestamps(bar_open),
        h1_timestamp=_local_timestamps(hour_open),
    )
