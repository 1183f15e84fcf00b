"""Deterministic synthetic OHLCV bars for demos and benchmarks.

Pure: no Dagster, no clock, no global random state. ``generate_bars`` returns, per symbol, a daily
history over the exchange sessions of a date range and 15-minute and hourly bars for its last
sessions, in the layout of the ``synthetic`` drop-folder source (``sources.SYNTHETIC``);
``write_drop_files`` writes them where that source looks for them.

The price and volume model is `synthetic_model` (splits, dividends, halted bars: see there);
the intraday bar layout shared by every symbol is `synthetic_grid`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import polars as pl

from swiftbolt_assets.calendar import sessions_table
from swiftbolt_assets.ingestion.sources import (
    SYMBOL_PATTERN,
    SYNTHETIC,
    TIMEFRAMES,
    is_valid_symbol,
)
from swiftbolt_assets.ingestion.synthetic_grid import intraday_grid
from swiftbolt_assets.ingestion.synthetic_model import symbol_frames

logger = logging.getLogger(__name__)

SYMBOL_PREFIX = "SYN-"


def demo_symbols(count: int) -> list[str]:
    """``count`` demo tickers: ``SYN-A`` ... ``SYN-Z``, then ``SYN-AA``, ``SYN-AB``, ..."""
    if count < 0:
        msg = f"count must be >= 0, got {count}"
        raise ValueError(msg)
    names: list[str] = []
    for number in range(1, count + 1):
        letters = ""
        rest = number
        while rest > 0:
            rest, digit = divmod(rest - 1, 26)
            letters = chr(ord("A") + digit) + letters
        names.append(SYMBOL_PREFIX + letters)
    return names


def generate_bars(
    symbols: Sequence[str],
    *,
    start: date,
    end: date,
    seed: int,
    intraday_sessions: int = 20,
    exchange: str = "XNYS",
) -> dict[tuple[str, str], pl.DataFrame]:
    """Synthetic bars of ``symbols``, keyed by (symbol, timeframe); see the module docstring.

    ``d1`` has one row per session of ``exchange`` in ``[start, end]`` (``timestamp`` is the
    session date, ``YYYY-MM-DD``); ``m15`` and ``h1`` cover the last ``intraday_sessions`` of
    those sessions (``timestamp`` is the bar open time in New York with its UTC offset, e.g.
    ``2026-11-20T09:30:00-05:00``). With ``intraday_sessions=0`` there are no intraday keys.
    Frames are oldest first, with the columns of ``synthetic_model.COLUMNS``. The same arguments
    always give the same frames. The trading calendar starts on 1990-01-02: earlier dates have
    no session.

    Raises:
        ValueError: an invalid or repeated symbol, ``end`` before ``start``, a negative
            ``intraday_sessions``, or no session in the range.
    """
    _check_arguments(symbols, start, end, intraday_sessions)
    table = sessions_table(exchange, end).filter(pl.col("session_date").is_between(start, end))
    if table.is_empty():
        msg = f"no {exchange} session between {start} and {end}"
        raise ValueError(msg)
    day_timestamps = table["session_date"].dt.strftime("%Y-%m-%d").alias("timestamp")
    grid = intraday_grid(table, intraday_sessions) if intraday_sessions > 0 else None

    frames: dict[tuple[str, str], pl.DataFrame] = {}
    for symbol in symbols:
        frames.update(symbol_frames(symbol, seed, day_timestamps, grid))
    logger.info(
        "generated synthetic bars: %d symbols, %d sessions (%s..%s), %d intraday sessions, %d rows",
        len(symbols),
        table.height,
        start,
        end,
        0 if grid is None else grid.bars.size,
        sum(frame.height for frame in frames.values()),
    )
    return frames


def write_drop_files(drop_dir: Path, frames: Mapping[tuple[str, str], pl.DataFrame]) -> list[Path]:
    """Write each frame to ``drop_dir/synthetic/{symbol}_{timeframe}.csv``; return paths, sorted.

    Each file is written beside its target under a temporary name and then renamed into place,
    so a watcher of the drop folder never reads a half-written file.

    Raises:
        ValueError: a key whose symbol is not a valid ticker or whose timeframe is unknown.
    """
    folder = drop_dir / SYNTHETIC.glob.split("/", 1)[0]
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for (symbol, timeframe), frame in frames.items():
        if not is_valid_symbol(symbol) or timeframe not in TIMEFRAMES:
            msg = f"cannot name a drop file after symbol {symbol!r}, timeframe {timeframe!r}"
            raise ValueError(msg)
        path = folder / f"{symbol}_{timeframe}.csv"
        partial = folder / f".{path.name}.partial"
        frame.write_csv(partial)
        os.replace(partial, path)
        paths.append(path)
    logger.info("wrote %d synthetic files to %s", len(paths), folder)
    return sorted(paths)


def _check_arguments(
    symbols: Sequence[str], start: date, end: date, intraday_sessions: int
) -> None:
    invalid = [s for s in symbols if not is_valid_symbol(s)]
    if invalid:
        msg = f"invalid symbol(s) {invalid}: a symbol must match {SYMBOL_PATTERN}"
        raise ValueError(msg)
    if len(set(symbols)) != len(symbols):
        msg = "symbols must not repeat"
        raise ValueError(msg)
    if end < start:
        msg = f"end {end} is before start {start}"
        raise ValueError(msg)
    if intraday_sessions < 0:
        msg = f"intraday_sessions must be >= 0, got {intraday_sessions}"
        raise ValueError(msg)
