"""What the drop folder holds: source specs (format + file-name pattern + column mapping).

Pure: no Dagster. The symbol and timeframe of a file come from its name, so a run can pick the
files of its symbols without opening the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

TIMEFRAMES = ("m15", "h1", "d1")
# What a file may hold besides: 1-minute bars, resampled to m15 and h1 by the ingestion
# (``ingestion/resample.py``), never stored themselves.
MINUTE_TIMEFRAME = "m1"
READABLE_TIMEFRAMES = (*TIMEFRAMES, MINUTE_TIMEFRAME)
# How file names spell the timeframes (``SPY_15min.csv``, ``SPY_hourly.csv``, ``SPY_daily.csv``)
TIMEFRAME_ALIASES = {
    "1min": "m1",
    "15min": "m15",
    "60min": "h1",
    "1h": "h1",
    "hourly": "h1",
    "1d": "d1",
    "daily": "d1",
}
BAR_MINUTES = {"m1": 1, "m15": 15, "h1": 60}
# The canonical numeric fields of a bar, in file and table order.
OHLCV_FIELDS = ("open", "high", "low", "close", "volume", "split_coefficient", "dividend_amount")
INTRADAY_TIMEFRAMES = ("m15", "h1")
SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9.\-]{0,11}$"
_SYMBOL_RE = re.compile(SYMBOL_PATTERN)
# the symbols' sectors (``sectors``), wherever it lies: never a bar file
SECTORS_FILE = "constituents.csv"


def is_valid_symbol(symbol: str) -> bool:
    """Whether ``symbol`` can be a partition key (``|`` and ``,`` break Dagster keys)."""
    return bool(_SYMBOL_RE.match(symbol))


@dataclass(frozen=True)
class ColumnMapping:
    """Header names (case and surrounding spaces ignored) of the canonical OHLCV fields."""

    ts: str = "timestamp"
    open: str = "open"
    high: str = "high"
    low: str = "low"
    close: str = "close"
    volume: str | None = "volume"
    split_coefficient: str | None = None
    dividend_amount: str | None = None
    # a column whose true value marks a row as a filler copy, not a traded bar (quarantined)
    gap_flag: str | None = None

    def required(self) -> dict[str, str]:
        return {
            "ts": self.ts,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
        }

    def optional(self) -> dict[str, str | None]:
        return {
            "volume": self.volume,
            "split_coefficient": self.split_coefficient,
            "dividend_amount": self.dividend_amount,
            "gap": self.gap_flag,
        }


@dataclass(frozen=True)
class SourceSpec:
    """One kind of file in the drop folder.

    Attributes:
        name: the source's name, stored on every row it produces.
        glob: files of this source, relative to the drop folder.
        filename_pattern: regex over the file name with a ``symbol`` group and, unless
            ``timeframe`` is fixed, a ``timeframe`` group.
        columns: which header holds which field; any other column is ignored.
        timeframe: the timeframe of every file, when the name does not say it.
        naive_timezone: the zone of timestamps that carry no UTC offset; ``None`` rejects them
            (date-only values of daily bars need no zone: they name the session).
        synthetic: rows come from the synthetic generator and are labelled so everywhere.
        stamp: whether an intraday timestamp marks the bar's ``start`` (stored as is) or its
            ``end`` (moved back by the bar's length: ``ts`` is always the bar's start).
        separator: the field separator.
        header: the column names of files that have no header line (``None``: the first line
            is the header).
    """

    name: str
    glob: str
    filename_pattern: str
    columns: ColumnMapping = field(default_factory=ColumnMapping)
    timeframe: str | None = None
    naive_timezone: str | None = None
    synthetic: bool = False
    stamp: str = "start"
    separator: str = ","
    header: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.stamp not in {"start", "end"}:
            msg = f"source {self.name}: stamp must be 'start' or 'end', not {self.stamp!r}"
            raise ValueError(msg)


SYMBOL_TIMEFRAME_NAME = r"^(?P<symbol>.+)_(?P<timeframe>[A-Za-z0-9]+)\.csv$"
WITH_EVENTS = ColumnMapping(
    ts="timestamp",
    volume="volume",
    split_coefficient="split_coefficient",
    dividend_amount="dividend_amount",
)

TRADINGVIEW = SourceSpec(
    name="tradingview",
    glob="tradingview/*.csv",
    filename_pattern=SYMBOL_TIMEFRAME_NAME,
    columns=ColumnMapping(ts="time", volume="volume"),
)
SP500_DAILY = SourceSpec(
    name="sp500",
    glob="sp500/*.csv",
    filename_pattern=r"^DA-(?P<symbol>.+)-T-\d{4}-\d{2}-\d{2}\.csv$",
    columns=WITH_EVENTS,
    timeframe="d1",
)
GENERIC = SourceSpec(
    name="csv", glob="csv/*.csv", filename_pattern=SYMBOL_TIMEFRAME_NAME, columns=WITH_EVENTS
)
SYNTHETIC = SourceSpec(
    name="synthetic",
    glob="synthetic/*.csv",
    filename_pattern=SYMBOL_TIMEFRAME_NAME,
    columns=WITH_EVENTS,
    synthetic=True,
)
# Real intraday layouts (see ../shared/data/README.md and the README's "Drop folder" section)
EQKER = SourceSpec(  # SPY_15min.csv, SPY_1min.csv, SPY_daily.csv: naive New York, bar end
    name="eqker",
    glob="eqker/*.csv",
    filename_pattern=SYMBOL_TIMEFRAME_NAME,
    columns=ColumnMapping(ts="datetime"),
    naive_timezone="America/New_York",
    stamp="end",
)
HOURLY = SourceSpec(  # SPY_hourly.csv: offsets, bar start, IsGap marks forward-filled copies
    name="hourly",
    glob="hourly/*.csv",
    filename_pattern=SYMBOL_TIMEFRAME_NAME,
    columns=ColumnMapping(ts="Datetime", gap_flag="IsGap"),
)
NINJATRADER = SourceSpec(  # nt-spy-minute-2011.csv: no header, semicolons, UTC, bar end
    name="ninjatrader",
    glob="ninjatrader/*.csv",
    filename_pattern=r"^nt-(?P<symbol>[A-Za-z0-9.]+)-minute.*\.csv$",
    timeframe=MINUTE_TIMEFRAME,
    naive_timezone="UTC",
    stamp="end",
    separator=";",
    header=("timestamp", "open", "high", "low", "close", "volume"),
)
DEFAULT_SOURCES: tuple[SourceSpec, ...] = (
    TRADINGVIEW,
    SP500_DAILY,
    GENERIC,
    SYNTHETIC,
    EQKER,
    HOURLY,
    NINJATRADER,
)


@dataclass(frozen=True)
class SourceFile:
    """A file found in the drop folder, with what its name says.

    ``symbol`` is upper-cased and may be invalid (it is then rejected, with its rows, by the
    validation); ``name_error`` is set when the name does not match the source's pattern.
    """

    path: Path
    relpath: str
    spec: SourceSpec
    symbol: str
    timeframe: str
    mtime_ns: int
    size: int
    name_error: str | None = None

    @property
    def has_valid_symbol(self) -> bool:
        return self.name_error is None and is_valid_symbol(self.symbol)


def discover_files(
    drop_dir: Path, specs: tuple[SourceSpec, ...] = DEFAULT_SOURCES
) -> list[SourceFile]:
    """Every file of every source under ``drop_dir``, sorted by relative path."""
    found: dict[str, SourceFile] = {}
    if not drop_dir.is_dir():
        return []
    for spec in specs:
        pattern = re.compile(spec.filename_pattern)
        for path in sorted(drop_dir.glob(spec.glob)):
            if not path.is_file() or path.name == SECTORS_FILE:
                continue
            relpath = path.relative_to(drop_dir).as_posix()
            if relpath in found:
                continue
            stat = path.stat()
            match = pattern.match(path.name)
            if match is None:
                found[relpath] = SourceFile(
                    path=path,
                    relpath=relpath,
                    spec=spec,
                    symbol="",
                    timeframe=spec.timeframe or "",
                    mtime_ns=stat.st_mtime_ns,
                    size=stat.st_size,
                    name_error=(
                        f"file name {path.name!r} does not match the {spec.name} pattern "
                        f"{spec.filename_pattern!r}"
                    ),
                )
                continue
            groups = match.groupdict()
            timeframe = (spec.timeframe or groups.get("timeframe") or "").strip().lower()
            found[relpath] = SourceFile(
                path=path,
                relpath=relpath,
                spec=spec,
                symbol=groups["symbol"].strip().upper(),
                timeframe=TIMEFRAME_ALIASES.get(timeframe, timeframe),
                mtime_ns=stat.st_mtime_ns,
                size=stat.st_size,
            )
    return [found[k] for k in sorted(found)]
