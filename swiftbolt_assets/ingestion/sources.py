"""What the drop folder holds: source specs (format + file-name pattern + column mapping).

Pure: no Dagster. The symbol and timeframe of a file come from its name, so a run can pick the
files of its symbols without opening the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

TIMEFRAMES = ("m15", "h1", "d1")
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
    """

    name: str
    glob: str
    filename_pattern: str
    columns: ColumnMapping = field(default_factory=ColumnMapping)
    timeframe: str | None = None
    naive_timezone: str | None = None
    synthetic: bool = False


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
DEFAULT_SOURCES: tuple[SourceSpec, ...] = (TRADINGVIEW, SP500_DAILY, GENERIC, SYNTHETIC)


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
            timeframe = spec.timeframe or groups.get("timeframe") or ""
            found[relpath] = SourceFile(
                path=path,
                relpath=relpath,
                spec=spec,
                symbol=groups["symbol"].strip().upper(),
                timeframe=timeframe.strip().lower(),
                mtime_ns=stat.st_mtime_ns,
                size=stat.st_size,
            )
    return [found[k] for k in sorted(found)]
