"""Warehouse reads of the evaluation assets (their writes go through ``write_slices``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import polars as pl
import sqlalchemy as sa

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.evaluation.outcomes import FORECAST_FIELDS
from swiftbolt_assets.forecasting.forecast import LAYER_PROBABILITY_COLUMNS
from swiftbolt_assets.warehouse.slices import epoch_us, query_frame, stage_slice, with_timestamps

_STRINGS = {
    "symbol",
    "horizon",
    "label",
    "model_version",
    "weights_source",
    "weights_version",
    "calibration_version",
    "run_id",
    "predicted_label",
    "realized_label",
}
_DATES = {"as_of_date", "target_date", "partition_date"}
_INSTANTS = {"as_of_ts", "target_ts"}
_INTS = {"horizon_days"}
_BOOLS = {"label_correct", "direction_correct", "inside_band"}


def _select(columns: Iterable[str], alias: str = "") -> str:
    """The SQL select list of ``columns`` (instants as epoch microseconds: ``_schema``)."""
    return ", ".join(
        f"{epoch_us(alias + c)} AS {c}_us" if c in _INSTANTS else alias + c for c in columns
    )


def _schema(columns: Iterable[str]) -> dict[str, pl.DataType]:
    def dtype(c: str) -> pl.DataType:
        if c in _STRINGS:
            return pl.String()
        if c in _DATES:
            return pl.Date()
        if c in _INTS:
            return pl.Int32()
        if c in _BOOLS:
            return pl.Boolean()
        return pl.Float64()

    return {(f"{c}_us" if c in _INSTANTS else c): dtype(c) for c in columns}


def _instants(frame: pl.DataFrame) -> pl.DataFrame:
    return with_timestamps(frame, *(c for c in _INSTANTS if f"{c}_us" in frame.columns))


def read_forecasts_due(
    engine: sa.Engine, pairs: Iterable[tuple[date, str]], spec: CadenceSpec = DAILY
) -> pl.DataFrame:
    """The cadence's forecast rows whose (target_date, symbol) is one of ``pairs``."""
    columns = [*FORECAST_FIELDS, "close", "label", "run_id"]
    if spec.bar_minutes is not None:
        columns += sorted(_INSTANTS)
    query = (
        f"SELECT {_select(columns, 'f.')} FROM _run_slice s "
        f"JOIN {spec.tables.forecasts} f "
        "ON f.target_date = s.partition_date AND f.symbol = s.symbol "
        "ORDER BY f.symbol, f.target_date, f.horizon_days"
    )
    with engine.begin() as conn:
        stage_slice(conn, pairs)
        return _instants(query_frame(conn, query, {}, _schema(columns)))


def read_bars(
    engine: sa.Engine, symbols: list[str], first: date, last: date, spec: CadenceSpec = DAILY
) -> pl.DataFrame:
    """Raw bars of the cadence's timeframe of ``symbols`` with sessions in [first, last], with
    who wrote them when."""
    query = (
        f"SELECT symbol, timeframe, session_date, {epoch_us('ts')} AS ts_us, close, "
        "split_coefficient, "
        f"dividend_amount, run_id, {epoch_us('created_at')} AS created_at_us FROM ohlc_bars "
        "WHERE timeframe = %(timeframe)s AND symbol = ANY(%(symbols)s) "
        "AND session_date BETWEEN %(first)s AND %(last)s ORDER BY symbol, session_date"
    )
    schema = {
        "symbol": pl.String(),
        "timeframe": pl.String(),
        "session_date": pl.Date(),
        "ts_us": pl.Int64(),
        "close": pl.Float64(),
        "split_coefficient": pl.Float64(),
        "dividend_amount": pl.Float64(),
        "run_id": pl.String(),
        "created_at_us": pl.Int64(),
    }
    with engine.connect() as conn:
        frame = query_frame(
            conn,
            query,
            {"symbols": symbols, "first": first, "last": last, "timeframe": spec.timeframe},
            schema,
        )
    return with_timestamps(frame, "ts", "created_at")


LIVE_INPUTS = (
    "symbol",
    "horizon",
    "as_of_date",
    "target_date",
    "predicted_label",
    "realized_label",
    "p_bearish",
    "p_neutral",
    "p_bullish",
    "confidence",
    "raw_confidence",
    "label_correct",
    "direction_correct",
    "inside_band",
    "price_error_pct",
    *LAYER_PROBABILITY_COLUMNS,
)


def read_evaluations(
    engine: sa.Engine,
    symbols: list[str] | None,
    since: date,
    through: date,
    columns: Iterable[str] = LIVE_INPUTS,
    *,
    spec: CadenceSpec = DAILY,
) -> pl.DataFrame:
    """The cadence's evaluation rows (of ``symbols``, or all) with target dates in
    [since, through]."""
    wanted = list(columns)
    if spec.bar_minutes is not None and "target_ts" not in wanted:
        wanted.append("target_ts")  # the order of a session's evaluations
    # COPY's CSV writes booleans as t/f: read them as 0/1 and type them back
    select = ", ".join(f"{c}::int AS {c}" if c in _BOOLS else _select([c]) for c in wanted)
    schema = {c: (pl.Int8() if c in _BOOLS else t) for c, t in _schema(wanted).items()}
    where = "target_date BETWEEN %(since)s AND %(through)s"
    if symbols is not None:
        where += " AND symbol = ANY(%(symbols)s)"
    query = (
        f"SELECT {select} FROM {spec.tables.evaluations} WHERE {where} "
        "ORDER BY symbol, horizon, target_date"
    )
    with engine.connect() as conn:
        frame = query_frame(
            conn, query, {"symbols": symbols, "since": since, "through": through}, schema
        )
    return _instants(frame).with_columns(pl.col(c).cast(pl.Boolean) for c in wanted if c in _BOOLS)
