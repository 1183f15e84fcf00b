"""Intraday labels on the m15 bar slots: a horizon counts calendar bars and ends with its session.

Two sessions: 2026-11-25 (26 bars) and 2026-11-27 (the day after Thanksgiving, an early close:
14 bars), one symbol, one bar missing on the first day. By hand: a window that would leave the
session, or that spans the missing bar, has no label; the others are the close h bars later.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from swiftbolt_assets.cadence import INTRADAY, bar_slots
from swiftbolt_assets.calendar import sessions_table
from swiftbolt_assets.forecasting.labels import add_labels

DAYS = (date(2026, 11, 25), date(2026, 11, 27))
MISSING = 10  # the 11th bar of the first session has no row


@pytest.fixture(scope="module")
def labelled() -> pl.DataFrame:
    sessions = sessions_table("XNYS", date(2026, 12, 31)).filter(
        pl.col("session_date").is_in(list(DAYS))
    )
    slots = bar_slots(INTRADAY, sessions)
    bars = slots.with_columns(
        pl.lit("A").alias("symbol"),
        (100.0 + pl.col("slot_index").cast(pl.Float64) ** 1.5).alias("adj_close"),
        pl.lit(0.002).alias("sigma"),
    ).filter(~((pl.col("session_date") == DAYS[0]) & (pl.col("session_slot") == MISSING)))
    return add_labels(
        bars.sample(fraction=1.0, shuffle=True, seed=3),  # row order must not matter
        INTRADAY.horizons,
        order="slot_end",
        index="slot_index",
        within_session=True,
    ).sort("slot_index")


def _at(frame: pl.DataFrame, day: date, slot: int) -> dict[str, object]:
    rows = frame.filter((pl.col("session_date") == day) & (pl.col("session_slot") == slot))
    assert rows.height == 1
    return rows.row(0, named=True)


def test_the_sessions_have_their_calendar_bars(labelled: pl.DataFrame) -> None:
    counts = dict(labelled.group_by("session_date").len().iter_rows())
    assert counts == {DAYS[0]: 25, DAYS[1]: 14}  # 26 less the missing bar; the early close


def test_a_label_is_the_close_h_bars_later_and_ends_h_bars_later(labelled: pl.DataFrame) -> None:
    row, later = _at(labelled, DAYS[0], 0), _at(labelled, DAYS[0], 4)
    assert row["fwd_1h"] == pytest.approx(later["adj_close"] / row["adj_close"] - 1.0, rel=1e-12)
    assert row["end_1h"] == row["slot_end"] + timedelta(hours=1)
    assert row["end_index_1h"] == row["slot_index"] + 4
    assert row["label_1h"] is not None
    nxt = _at(labelled, DAYS[0], 1)
    assert row["fwd_15m"] == pytest.approx(nxt["adj_close"] / row["adj_close"] - 1.0, rel=1e-12)


def test_no_window_leaves_its_session(labelled: pl.DataFrame) -> None:
    for day, last in ((DAYS[0], 25), (DAYS[1], 13)):
        assert _at(labelled, day, last - 4)["label_1h"] is not None
        for slot in range(last - 3, last + 1):
            row = _at(labelled, day, slot)
            assert row["fwd_1h"] is None
            assert row["end_1h"] is None
            assert row["end_index_1h"] is None
        assert _at(labelled, day, last)["fwd_15m"] is None
        assert _at(labelled, day, last - 1)["fwd_15m"] is not None
    # the persistence label looks back inside the session only
    first = _at(labelled, DAYS[1], 0)
    assert first["past_label_15m"] is None
    assert _at(labelled, DAYS[1], 3)["past_label_1h"] is None
    assert _at(labelled, DAYS[1], 4)["past_label_1h"] is not None


def test_a_missing_bar_never_stretches_a_window(labelled: pl.DataFrame) -> None:
    for slot in range(MISSING - 4, MISSING):
        assert _at(labelled, DAYS[0], slot)["fwd_1h"] is None
    assert _at(labelled, DAYS[0], MISSING - 5)["fwd_1h"] is not None
    assert _at(labelled, DAYS[0], MISSING - 1)["fwd_15m"] is None
    assert _at(labelled, DAYS[0], MISSING + 1)["past_label_15m"] is None
    assert _at(labelled, DAYS[0], MISSING + 1)["fwd_1h"] is not None
