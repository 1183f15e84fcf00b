"""Warehouse reads of the intraday cadence's model inputs (training and forecasting).

An intraday row is the m15 ``features`` row of a bar with its context (``bar_context``): the
last completed h1 row and the previous session's d1 row and cross-section. Both training and
forecasting read them through ``intraday_rows``, so a forecast sees exactly what a training row
of the same bar saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl
import sqlalchemy as sa

from swiftbolt_assets.cadence import INTRADAY, CadenceSpec
from swiftbolt_assets.forecasting.bar_context import (
    D1_COLUMNS,
    H1_COLUMNS,
    h1_context,
    previous_sessions,
    prior_day_context,
)
from swiftbolt_assets.forecasting.dataset import REGIME_CODES, SOURCE_COLUMNS, model_inputs
from swiftbolt_assets.warehouse.slices import epoch_us, query_frame, with_timestamps


def read_feature_rows(
    engine: sa.Engine,
    timeframe: str,
    columns: Sequence[str],
    *,
    first: date,
    last: date,
    symbols: Sequence[str] | None = None,
) -> pl.DataFrame:
    """(symbol, session_date, ts, features_run_id, sector, ``columns``) of the ``features`` rows
    of ``timeframe`` whose session is in [first, last], of ``symbols`` (None: every symbol)."""
    selected = ", ".join(f'f."{c}"' for c in columns)
    where = "f.timeframe = %(timeframe)s AND f.session_date BETWEEN %(first)s AND %(last)s"
    if symbols is not None:
        where += " AND f.symbol = ANY(%(symbols)s)"
    query = (
        f"SELECT f.symbol, f.session_date, {epoch_us('f.ts')} AS ts_us, "
        f"f.run_id AS features_run_id, y.sector, {selected} FROM features f "
        f"JOIN symbols y ON y.symbol = f.symbol WHERE {where} ORDER BY f.symbol, f.ts"
    )
    schema: dict[str, pl.DataType] = {
        "symbol": pl.String(),
        "session_date": pl.Date(),
        "ts_us": pl.Int64(),
        "features_run_id": pl.String(),
        "sector": pl.String(),
        **{c: (pl.String() if c in REGIME_CODES else pl.Float64()) for c in columns},
    }
    params = {"timeframe": timeframe, "first": first, "last": last, "symbols": symbols}
    with engine.connect() as conn:
        frame = query_frame(conn, query, params, schema)
    return with_timestamps(frame, "ts")


def intraday_rows(
    engine: sa.Engine,
    sessions: list[date],
    *,
    first: date,
    last: date,
    symbols: Sequence[str] | None = None,
    spec: CadenceSpec = INTRADAY,
) -> pl.DataFrame:
    """Model inputs (``dataset.model_inputs`` of the cadence) of the m15 bars of ``symbols`` in
    the sessions [first, last], with ``features_run_id``: each bar with its h1 and
    previous-session context. The previous sessions' d1 rows are read for every symbol (the
    cross-section is relative to the whole universe)."""
    m15 = read_feature_rows(
        engine, spec.timeframe, SOURCE_COLUMNS, first=first, last=last, symbols=symbols
    )
    # the context reaches back one session before the first m15 row, not to ``first`` (a
    # training read starts in 1990: the d1 history before the intraday bars is not needed)
    start = m15.get_column("session_date").min() or first
    assert isinstance(start, date)
    earliest = previous_sessions(pl.Series([start]), sessions)[0] or start
    h1 = read_feature_rows(engine, "h1", H1_COLUMNS, first=earliest, last=last, symbols=symbols)
    d1 = read_feature_rows(engine, "d1", D1_COLUMNS, first=earliest, last=last)
    assert spec.bar_minutes is not None
    rows = prior_day_context(
        h1_context(m15.drop("sector"), h1, timedelta(minutes=spec.bar_minutes)), d1, sessions
    )
    return model_inputs(rows, spec).with_columns(rows.get_column("features_run_id"))


def read_intraday_closes(
    engine: sa.Engine, through: date, spec: CadenceSpec = INTRADAY
) -> pl.DataFrame:
    """(symbol, ts, label_close): the raw closes of the cadence's bars through ``through``.

    Raw, not adjusted: an intraday label never leaves its session and splits and dividends
    take effect between sessions, so both ends of every window share one adjustment."""
    query = (
        f"SELECT symbol, {epoch_us('ts')} AS ts_us, close AS label_close FROM ohlc_bars "
        "WHERE timeframe = %(timeframe)s AND session_date <= %(through)s"
    )
    schema = {"symbol": pl.String(), "ts_us": pl.Int64(), "label_close": pl.Float64()}
    with engine.connect() as conn:
        frame = query_frame(conn, query, {"through": through, "timeframe": spec.timeframe}, schema)
    return with_timestamps(frame, "ts")


def first_bars(engine: sa.Engine, symbols: Sequence[str], spec: CadenceSpec) -> pl.DataFrame:
    """(symbol, first_ts): each symbol's first bar of the cadence's timeframe."""
    query = (
        f"SELECT symbol, {epoch_us('min(ts)')} AS first_ts_us FROM ohlc_bars "
        "WHERE timeframe = %(timeframe)s AND symbol = ANY(%(symbols)s) GROUP BY symbol"
    )
    schema = {"symbol": pl.String(), "first_ts_us": pl.Int64()}
    with engine.connect() as conn:
        frame = query_frame(
            conn, query, {"timeframe": spec.timeframe, "symbols": list(symbols)}, schema
        )
    return with_timestamps(frame, "first_ts")
