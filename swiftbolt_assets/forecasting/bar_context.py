"""What an intraday forecast knows at the close of an m15 bar, besides the bar's own features.
Pure.

An intraday row is the ``features`` row of an m15 bar (its indicators over m15 bars), plus:

- the last **completed h1 bar** at the m15 bar's close (``h1_*``): the h1 row whose hour ended
  at or before that close (an h1 bar that starts at 09:30 is known from 10:30 on; the session's
  last, shorter hour is used from the next session's first bar: conservative, never early);
- the **previous completed session's d1 row** (``d1_*``) and its **cross-section**
  (``cross_section.cross_sectional_inputs`` over the whole universe of that session), the same
  inputs the daily model reads, one session old: nothing of the current session's daily bar,
  which is not final before the close, enters an intraday row.

Bars are keyed by their start (``ts``, UTC) as ``features`` stores them; a row's close is
``ts + bar length``. Every value is of a bar that closed at or before the row's close, so the
inputs look at nothing later than the forecast's as-of instant.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from swiftbolt_assets.forecasting.cross_section import UNIVERSE_COLUMNS, cross_sectional_inputs

H1_BAR = timedelta(hours=1)
# h1 inputs: levels relative to the h1 close, oscillators as they are
H1_RELATIVE = ("sma_20", "sma_50", "nearest_support", "nearest_resistance")
H1_AS_IS = ("rsi_14", "roc_5", "roc_20", "bb_pct_b_20", "adx_14", "hv_20", "volume_ratio_20")
# previous session's d1 inputs
D1_RELATIVE = ("sma_20", "sma_50", "sma_200")
D1_AS_IS = ("rsi_14", "roc_5", "roc_20", "hv_20", "hv_60", "bb_pct_b_20", "adx_14")
H1_COLUMNS = tuple(dict.fromkeys(("adj_close", *H1_RELATIVE, *H1_AS_IS)))
D1_COLUMNS = tuple(dict.fromkeys(("adj_close", *D1_RELATIVE, *D1_AS_IS, *UNIVERSE_COLUMNS)))
CONTEXT_FEATURES: tuple[str, ...] = (
    *(f"h1_rel_{c}" for c in H1_RELATIVE),
    *(f"h1_{c}" for c in H1_AS_IS),
    *(f"d1_rel_{c}" for c in D1_RELATIVE),
    *(f"d1_{c}" for c in D1_AS_IS),
)


def previous_sessions(days: pl.Series, sessions: list[date]) -> pl.Series:
    """The session before each day of ``days`` in the calendar ``sessions`` (null for the
    calendar's first)."""
    calendar = pl.DataFrame({"_day": sessions}, schema={"_day": pl.Date}).with_columns(
        pl.col("_day").shift(1).alias("previous_session")
    )
    return (
        days.rename("_day")
        .to_frame()
        .join(calendar, on="_day", how="left", maintain_order="left")
        .get_column("previous_session")
    )


def h1_context(m15: pl.DataFrame, h1: pl.DataFrame, bar: timedelta) -> pl.DataFrame:
    """``m15`` (symbol, ts, …) plus the ``h1_*`` inputs of the last h1 bar that closed at or
    before each row's close (``ts + bar``); null where there is none."""
    hours = h1.select(
        "symbol",
        (pl.col("ts") + H1_BAR).alias("_h1_end"),
        *((pl.col(c) / pl.col("adj_close") - 1.0).alias(f"h1_rel_{c}") for c in H1_RELATIVE),
        *(pl.col(c).alias(f"h1_{c}") for c in H1_AS_IS),
    ).sort("symbol", "_h1_end")
    keyed = m15.with_columns((pl.col("ts") + bar).alias("_m15_end")).sort("symbol", "_m15_end")
    return keyed.join_asof(
        hours, left_on="_m15_end", right_on="_h1_end", by="symbol", strategy="backward"
    ).drop("_m15_end", "_h1_end")


def prior_day_context(
    m15: pl.DataFrame, d1_universe: pl.DataFrame, sessions: list[date]
) -> pl.DataFrame:
    """``m15`` (symbol, session_date, …) plus the ``d1_*`` inputs and the cross-sectional inputs
    of the symbol's d1 row on the previous session. ``d1_universe``: the d1 features rows
    (``D1_COLUMNS``, optionally ``sector``) of every symbol on those previous sessions."""
    daily = d1_universe.select(
        "symbol",
        pl.col("session_date").alias("previous_session"),
        *((pl.col(c) / pl.col("adj_close") - 1.0).alias(f"d1_rel_{c}") for c in D1_RELATIVE),
        *(pl.col(c).alias(f"d1_{c}") for c in D1_AS_IS),
    )
    section = cross_sectional_inputs(d1_universe).rename({"session_date": "previous_session"})
    return (
        m15.with_columns(previous_sessions(m15.get_column("session_date"), sessions))
        .join(daily, on=["symbol", "previous_session"], how="left")
        .join(section, on=["symbol", "previous_session"], how="left")
        .drop("previous_session")
    )
