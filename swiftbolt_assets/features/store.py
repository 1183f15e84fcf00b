"""Reading the bars a feature build needs, and writing feature rows (one ``write_slices``
transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import polars as pl
import sqlalchemy as sa

from swiftbolt_assets.warehouse.slices import Partitions, SliceWrite, query_frame, write_slices

# COPY's CSV writes booleans as t/f and timestamps with an offset: the query sends plain
# numbers instead (epoch microseconds, 0/1) and read_bars types them back.
_WIRE_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "timeframe": pl.String(),
    "ts_us": pl.Int64(),
    "session_date": pl.Date(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "split_coefficient": pl.Float64(),
    "dividend_amount": pl.Float64(),
    "is_synthetic": pl.Int8(),
}

_BARS_QUERY = """
SELECT symbol, timeframe, (extract(epoch FROM ts) * 1000000)::bigint AS ts_us, session_date,
       open, high, low, close, volume, split_coefficient, dividend_amount,
       is_synthetic::int AS is_synthetic
FROM ohlc_bars
WHERE symbol = ANY(%(symbols)s)
  AND session_date <= %(through)s
  AND ((timeframe = 'd1' AND session_date >= %(daily_from)s)
       OR (timeframe <> 'd1' AND session_date >= %(intraday_from)s))
ORDER BY symbol, timeframe, ts
"""


def read_bars(
    engine: sa.Engine,
    symbols: list[str],
    through: date,
    daily_from: date,
    intraday_from: date,
) -> pl.DataFrame:
    """Raw bars of ``symbols`` in the lookback window ending at ``through``."""
    with engine.connect() as conn:
        frame = query_frame(
            conn,
            _BARS_QUERY,
            {
                "symbols": symbols,
                "through": through,
                "daily_from": daily_from,
                "intraday_from": intraday_from,
            },
            _WIRE_SCHEMA,
        )
    return frame.with_columns(
        pl.col("ts_us").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts"),
        pl.col("is_synthetic").cast(pl.Boolean),
    ).select(
        "symbol",
        "timeframe",
        "ts",
        *[c for c in _WIRE_SCHEMA if c not in ("symbol", "timeframe", "ts_us")],
    )


def write_features(
    engine: sa.Engine,
    chunks: Iterable[pl.DataFrame],
    pairs: frozenset[tuple[date, str]],
    run_id: str,
) -> tuple[int, int]:
    """Replace the run's slice of ``features`` in one transaction; return (deleted, written).

    ``chunks`` is consumed inside the transaction, so a caller can build the rows chunk by chunk
    (bounded memory) while readers still see the old slice or the new one, never a mix.
    """
    counts = write_slices(engine, [SliceWrite("features", chunks, Partitions(pairs))], run_id)
    return counts.deleted["features"], counts.written["features"]
