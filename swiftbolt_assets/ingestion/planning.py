"""Turning touched (date, symbol) partitions into as few range runs as possible (pure).

A multi-partition range ``start..end`` covers the rectangle of dates between the two dates and
symbols between the two symbols in the dynamic partition order. Re-materializing a partition is
idempotent, so a rectangle may cover untouched dates between touched ones (one run for a
symbol's whole span) but should not cover untouched symbols.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, order=True)
class PartitionRange:
    """A rectangle of partitions: ``first_date..last_date`` × ``first_symbol..last_symbol``."""

    first_date: date
    last_date: date
    first_symbol: str
    last_symbol: str

    @property
    def start_key(self) -> str:
        return f"{self.first_date.isoformat()}|{self.first_symbol}"

    @property
    def end_key(self) -> str:
        return f"{self.last_date.isoformat()}|{self.last_symbol}"


def plan_ranges(
    touched: Iterable[tuple[date, str]], symbol_order: Sequence[str]
) -> list[PartitionRange]:
    """Group touched partitions into rectangles, fewest first.

    Each symbol's touched dates become one span (first to last touched date); symbols with the
    same span that are adjacent in ``symbol_order`` share a run.
    """
    position = {symbol: i for i, symbol in enumerate(symbol_order)}
    spans: dict[str, tuple[date, date]] = {}
    for day, symbol in touched:
        if symbol not in position:
            msg = f"symbol {symbol!r} is not a registered partition"
            raise ValueError(msg)
        first, last = spans.get(symbol, (day, day))
        spans[symbol] = (min(first, day), max(last, day))

    by_span: dict[tuple[date, date], list[str]] = defaultdict(list)
    for symbol, span in spans.items():
        by_span[span].append(symbol)

    ranges: list[PartitionRange] = []
    for (first, last), symbols in by_span.items():
        ordered = sorted(symbols, key=position.__getitem__)
        block = [ordered[0]]
        for symbol in ordered[1:]:
            if position[symbol] == position[block[-1]] + 1:
                block.append(symbol)
                continue
            ranges.append(PartitionRange(first, last, block[0], block[-1]))
            block = [symbol]
        ranges.append(PartitionRange(first, last, block[0], block[-1]))
    return sorted(ranges)
