"""The contract of a ``features`` row (pandera, polars backend) and the finiteness measure."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from swiftbolt_assets.features.regimes import (
    MOMENTUM_REGIMES,
    TREND_REGIMES,
    VOLATILITY_REGIMES,
)
from swiftbolt_assets.features.spec import (
    BOOLEAN_INDICATOR_COLUMNS,
    FEATURE_COLUMNS,
    FEATURE_TIMEFRAMES,
    KEY_COLUMNS,
    REGIME_COLUMNS,
)
from swiftbolt_assets.ingestion.sources import SYMBOL_PATTERN

BOOLEAN_COLUMNS = ("is_synthetic", *BOOLEAN_INDICATOR_COLUMNS)
REGIMES = dict(
    zip(REGIME_COLUMNS, (VOLATILITY_REGIMES, TREND_REGIMES, MOMENTUM_REGIMES), strict=True)
)
_KEYS = len(KEY_COLUMNS)
TABLE_COLUMNS = (*FEATURE_COLUMNS[:_KEYS], "partition_date", *FEATURE_COLUMNS[_KEYS:])


def numeric_columns() -> list[str]:
    skip = {*KEY_COLUMNS, *BOOLEAN_COLUMNS, *REGIMES}
    return [c for c in FEATURE_COLUMNS if c not in skip]


def features_schema() -> pa.DataFrameSchema:
    """Keys typed and unique; indicators Float64 and nullable (null = not yet defined)."""
    columns: dict[str, pa.Column] = {
        "symbol": pa.Column(str, pa.Check.str_matches(SYMBOL_PATTERN)),
        "timeframe": pa.Column(str, pa.Check.isin(list(FEATURE_TIMEFRAMES))),
        "ts": pa.Column(pl.Datetime("us", "UTC")),
        "session_date": pa.Column(pl.Date),
        "partition_date": pa.Column(pl.Date),
        "is_synthetic": pa.Column(pl.Boolean),
        **{name: pa.Column(pl.Boolean, nullable=True) for name in BOOLEAN_INDICATOR_COLUMNS},
        **{
            name: pa.Column(str, pa.Check.isin(list(values)), nullable=True)
            for name, values in REGIMES.items()
        },
        **{name: pa.Column(pl.Float64, nullable=True) for name in numeric_columns()},
    }
    return pa.DataFrameSchema(
        columns, unique=["symbol", "timeframe", "ts"], strict=True, name="features"
    )


def validate_features(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows in table order, validated (a failure here is a bug in the build: it raises)."""
    ordered = rows.select(TABLE_COLUMNS)
    validated: pl.DataFrame = features_schema().validate(ordered, lazy=True)
    return validated


def non_finite_counts(rows: pl.DataFrame) -> dict[str, int]:
    """Per numeric column, how many values are NaN or infinite (only non-zero counts)."""
    if rows.is_empty():
        return {}
    counts = rows.select(
        (pl.col(c).is_nan() | pl.col(c).is_infinite()).sum().alias(c) for c in numeric_columns()
    ).row(0, named=True)
    return {name: int(n) for name, n in counts.items() if n}
