"""Retraining plan: which training cutoffs exist, and which versions are due. Pure.

Periods are calendar months grouped by ``months`` (1 = monthly, 3 = quarterly, 12 = yearly,
aligned on January), or weeks (Monday to Sunday: ``weekly``, the intraday models' cadence).
The model (or calibration) of a period is trained with every label ending
on or before the period's cutoff: the last session before the period starts. So a forecast for
any day of the period uses only outcomes known before the period began.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta


def period_start(day: date, months: int, weekly: bool = False) -> date:
    """First day of the cadence period that contains ``day`` (its Monday when ``weekly``)."""
    if weekly:
        return day - timedelta(days=day.weekday())
    if months < 1 or 12 % months:
        msg = f"cadence of {months} months must divide a year (1, 2, 3, 4, 6 or 12)"
        raise ValueError(msg)
    month = (day.month - 1) // months * months + 1
    return date(day.year, month, 1)


def next_period_start(start: date, months: int, weekly: bool = False) -> date:
    if weekly:
        return start + timedelta(days=7)
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def cutoff_before(sessions: list[date], start: date) -> date | None:
    """The last session strictly before ``start`` (None if the calendar has none)."""
    position = bisect.bisect_left(sessions, start)
    return sessions[position - 1] if position else None


def period_cutoffs(
    sessions: list[date], first_day: date, last_data: date, months: int, weekly: bool = False
) -> list[date]:
    """Cutoffs of the periods from the one containing ``first_day`` to the one containing the
    session after ``last_data``, keeping those whose cutoff has data (<= ``last_data``)."""
    cutoffs: list[date] = []
    start = period_start(first_day, months, weekly)
    after = sessions[bisect.bisect_right(sessions, last_data)] if sessions[-1] > last_data else None
    end = period_start(after or last_data, months, weekly)
    while start <= end:
        cutoff = cutoff_before(sessions, start)
        if cutoff is not None and cutoff <= last_data and cutoff not in cutoffs:
            cutoffs.append(cutoff)
        start = next_period_start(start, months, weekly)
    return cutoffs


@dataclass(frozen=True)
class DuePlan:
    """The cutoffs of a cadence and the (cutoff, key) versions not written yet, in order."""

    cutoffs: list[date]
    due: list[tuple[date, str]]


def due_versions(
    sessions: list[date],
    first_day: date,
    last_data: date,
    months: int,
    *,
    keys: Iterable[str],
    existing: Collection[tuple[str, date]],
    weekly: bool = False,
) -> DuePlan:
    """Every (cutoff, key) of the periods from ``first_day``'s through the one after
    ``last_data`` (``period_cutoffs``) that ``existing`` (key, cutoff) pairs lack: cutoffs in
    order, keys (e.g. horizons) in the given order within a cutoff. A version is written once."""
    cutoffs = period_cutoffs(sessions, first_day, last_data, months, weekly)
    wanted = list(keys)
    return DuePlan(cutoffs, [(c, k) for c in cutoffs for k in wanted if (k, c) not in existing])
