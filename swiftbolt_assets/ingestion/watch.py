"""What changed in the drop folder since the last look, and which partitions it touches (pure).

The sensor keeps a cursor of ``relpath -> "mtime_ns:size"``: a file is read again only when it
is new or changed, so nothing is processed twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from swiftbolt_assets.calendar import with_partition_dates
from swiftbolt_assets.ingestion.parsing import parse_files
from swiftbolt_assets.ingestion.planning import PartitionRange, plan_ranges
from swiftbolt_assets.ingestion.sources import SourceFile
from swiftbolt_assets.ingestion.validation import split_bars, type_rows


@dataclass(frozen=True)
class DropFolderScan:
    """The outcome of one look at the drop folder."""

    changed_files: list[str]
    new_symbols: list[str]
    ranges: list[PartitionRange]
    cursor: str
    orphan_files: list[str]
    # files of symbols that are no partition and gave no valid bar: not registered, their rows
    # are quarantined by every run (like orphans)
    unregistered_files: list[str] = field(default_factory=list)
    # a changed file holds intraday bars (m1, m15, h1): the runs refresh the intraday assets too
    intraday: bool = False

    @property
    def touched_partitions(self) -> int:
        return len(self.ranges)


def _fingerprint(file: SourceFile) -> str:
    return f"{file.mtime_ns}:{file.size}"


def load_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    data = json.loads(cursor)
    files: dict[str, str] = data.get("files", {})
    return files


def symbols_with_a_valid_bar(rows: pl.DataFrame, exchange: str, sample: int = 64) -> set[str]:
    """The symbols of parsed ``rows`` of which at least one row is a valid bar.

    The first ``sample`` rows of each file are validated first, which decides almost every
    symbol; only the rows of symbols still undecided (garbage, all rows bad) are validated in
    full. A bar valid among a few rows is valid among all (only duplicates depend on other
    rows, and a duplicate's winner is a valid bar of the same symbol).
    """
    if rows.is_empty():
        return set()
    head = rows.group_by("source_file", maintain_order=True).head(sample)
    found = set(split_bars(head, exchange).bars["symbol"].unique().to_list())
    rest = rows.filter(~pl.col("symbol").is_in(list(found)))
    if not rest.is_empty():
        found.update(split_bars(rest, exchange).bars["symbol"].unique().to_list())
    return found


def scan_drop_folder(
    files: list[SourceFile],
    cursor: str | None,
    known_symbols: list[str],
    partition_dates: list[date],
    exchange: str,
) -> DropFolderScan:
    """Plan the runs that ingest new or changed ``files``.

    Rows are assigned to the partitions that hold their sessions; a readable file whose rows
    give no session (empty, unreadable, all timestamps bad) touches its symbol's latest
    partition so its rejects are recorded. A symbol becomes a partition only once one of its
    files gives a valid bar: a file of garbage must not register a symbol and run the graph.
    Files without a valid symbol ("orphans") and files of unregistered symbols are read by
    every ingestion run; if nothing else runs, the latest partition of the first known symbol
    is requested so they are reported.
    """
    seen = load_cursor(cursor)
    changed = [f for f in files if seen.get(f.relpath) != _fingerprint(f)]
    next_cursor = json.dumps({"files": {f.relpath: _fingerprint(f) for f in files}}, sort_keys=True)
    orphans = [f.relpath for f in changed if not f.has_valid_symbol]
    known = set(known_symbols)
    named = [f for f in changed if f.has_valid_symbol]
    if not changed or not partition_dates:
        return DropFolderScan([f.relpath for f in changed], [], [], next_cursor, orphans)

    parsed = parse_files(named)
    new_names = {f.symbol for f in named} - known
    # a new symbol's unchanged files count too (a changed garbage file beside a good one)
    named_paths = {f.relpath for f in named}
    unchanged = [f for f in files if f.symbol in new_names and f.relpath not in named_paths]
    candidates = pl.concat(
        [parsed.rows, parse_files(unchanged).rows] if unchanged else [parsed.rows]
    ).filter(pl.col("symbol").is_in(list(new_names)))
    keep = known | symbols_with_a_valid_bar(candidates, exchange)
    valid = [f for f in named if f.symbol in keep]
    unregistered = [f.relpath for f in named if f.symbol not in keep]
    latest = max(partition_dates)
    rows = parsed.rows.filter(pl.col("symbol").is_in(list(keep)))
    touched: set[tuple[date, str]] = set()
    if not rows.is_empty():
        typed = type_rows(rows).filter(pl.col("session_date").is_not_null())
        if not typed.is_empty():
            keyed = with_partition_dates(
                typed.select("symbol", "session_date"), partition_dates
            ).drop_nulls("partition_date")
            pairs = keyed.select("partition_date", "symbol").unique()
            touched.update(
                zip(pairs["partition_date"].to_list(), pairs["symbol"].to_list(), strict=True)
            )
    touched_symbols = {s for _, s in touched}
    for file in valid:
        if file.symbol not in touched_symbols:
            touched.add((latest, file.symbol))
            touched_symbols.add(file.symbol)

    new_symbols = sorted(touched_symbols - known)
    order = [*known_symbols, *new_symbols]
    if not touched and (orphans or unregistered) and order:
        touched.add((latest, order[0]))
    return DropFolderScan(
        changed_files=[f.relpath for f in changed],
        new_symbols=new_symbols,
        ranges=plan_ranges(touched, order),
        cursor=next_cursor,
        orphan_files=orphans,
        unregistered_files=unregistered,
        intraday=any(f.timeframe != "d1" for f in valid),
    )
