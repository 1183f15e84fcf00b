"""Feature rows from raw bars, as of a date: one vectorized pass over all symbols. Pure.

Pipeline: adjust prices as of the date (`adjust`) → derive weekly bars (`resample`) →
vectorized indicators (`indicators`, polars group-wise) → path-dependent indicators
(`levels`, compiled numba kernels) → nearest support/resistance → regimes (`regimes`) →
multi-timeframe values. Every step uses only bars at or before each row (no look-ahead); the
multi-timeframe values come from the previous completed day or week.

Lookback (what one day's build must read so its values equal a full-history build):
``DAILY_LOOKBACK_SESSIONS`` d1 sessions (the weekly ADX is the slowest to forget its start:
Wilder smoothing keeps (13/14)^k of the initial error after k weeks, and 1,600 sessions give
about 300 weeks) and ``INTRADAY_LOOKBACK_SESSIONS`` sessions of m15/h1 bars.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import polars as pl

from swiftbolt_assets.features.adjust import adjust_as_of
from swiftbolt_assets.features.indicators import add_indicators
from swiftbolt_assets.features.levels import add_path_indicators
from swiftbolt_assets.features.regimes import add_regimes
from swiftbolt_assets.features.resample import weekly_bars
from swiftbolt_assets.features.spec import (
    ADX_COLUMN,
    ATR_COLUMN,
    FEATURE_COLUMNS,
    KEY_COLUMNS,
    LEVEL_COLUMNS,
    MTF_COLUMNS,
    RESISTANCE_CANDIDATES,
    RSI_COLUMN,
    SUPPORT_CANDIDATES,
)

DAILY_LOOKBACK_SESSIONS = 1600
INTRADAY_LOOKBACK_SESSIONS = 60


def add_nearest_levels(frame: pl.DataFrame) -> pl.DataFrame:
    """The nearest support below and resistance above the close, and distances in ATR units.

    Candidates are the pivot levels and the regression levels; a level on the close counts on
    both sides. Null when no candidate lies on that side or the ATR is not positive.
    """
    close = pl.col("close")
    support = pl.max_horizontal(
        pl.when(pl.col(c) <= close).then(pl.col(c)) for c in SUPPORT_CANDIDATES
    )
    resistance = pl.min_horizontal(
        pl.when(pl.col(c) >= close).then(pl.col(c)) for c in RESISTANCE_CANDIDATES
    )
    atr = pl.col(ATR_COLUMN)
    nearest_support, nearest_resistance, support_distance, resistance_distance = LEVEL_COLUMNS
    return frame.with_columns(
        support.alias(nearest_support), resistance.alias(nearest_resistance)
    ).with_columns(
        pl.when(atr > 0).then((close - pl.col(nearest_support)) / atr).alias(support_distance),
        pl.when(atr > 0)
        .then((pl.col(nearest_resistance) - close) / atr)
        .alias(resistance_distance),
    )


def add_multi_timeframe(frame: pl.DataFrame) -> pl.DataFrame:
    """``adx_14_prev_d1`` on d1/h1/m15 rows: the daily ADX of the previous completed session;
    ``rsi_14_w1``/``adx_14_w1`` on d1 rows: the weekly values of the last completed week."""
    adx_prev_d1, rsi_w1, adx_w1 = MTF_COLUMNS
    daily = (
        frame.filter(pl.col("timeframe") == "d1")
        .select(
            "symbol",
            pl.col("session_date").alias("d1_date"),
            pl.col(ADX_COLUMN).alias(adx_prev_d1),
        )
        .sort("d1_date")
    )
    weekly = (
        frame.filter(pl.col("timeframe") == "w1")
        .select(
            "symbol",
            pl.col("session_date").alias("w1_last"),
            pl.col(RSI_COLUMN).alias(rsi_w1),
            pl.col(ADX_COLUMN).alias(adx_w1),
        )
        .sort("w1_last")
    )
    ordered = frame.with_row_index("__order").sort("session_date")
    joined = ordered.join_asof(
        daily,
        left_on="session_date",
        right_on="d1_date",
        by="symbol",
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    ).join_asof(
        weekly,
        left_on="session_date",
        right_on="w1_last",
        by="symbol",
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    return (
        joined.sort("__order")
        .drop("__order", "d1_date", "w1_last")
        .with_columns(
            pl.when(pl.col("timeframe") != "w1").then(pl.col(adx_prev_d1)).alias(adx_prev_d1),
            pl.when(pl.col("timeframe") == "d1").then(pl.col(rsi_w1)).alias(rsi_w1),
            pl.when(pl.col("timeframe") == "d1").then(pl.col(adx_w1)).alias(adx_w1),
        )
    )


def build_features(bars: pl.DataFrame, as_of: date, exchange: str) -> pl.DataFrame:
    """Feature rows of every bar in ``bars`` (raw, many symbols and timeframes) as of ``as_of``.

    ``bars`` needs symbol, timeframe, ts, session_date, open, high, low, close, volume,
    split_coefficient, dividend_amount, is_synthetic. Bars after ``as_of`` are ignored.
    """
    adjusted = adjust_as_of(bars, as_of)
    daily = adjusted.filter(pl.col("timeframe") == "d1")
    columns = [*KEY_COLUMNS, "open", "high", "low", "close", "volume", "adj_factor", "is_synthetic"]
    weekly = weekly_bars(daily.select(columns), as_of, exchange)
    base = pl.concat([adjusted.select(columns), weekly.select(columns)], how="vertical").sort(
        "symbol", "timeframe", "ts"
    )
    features = add_regimes(add_nearest_levels(add_path_indicators(add_indicators(base))))
    features = add_multi_timeframe(features).with_columns(pl.col("close").alias("adj_close"))
    return features.select(FEATURE_COLUMNS)


def plan_as_of(
    run_pairs: frozenset[tuple[date, str]], event_dates: dict[str, list[date]]
) -> dict[date, set[tuple[date, str]]]:
    """Which as-of date serves each (partition date, symbol) of a range run.

    Partition D must be computed as of D; but D and a later run date D' give identical rows when
    the symbol has no split or dividend in (D, D'] (every indicator is causal). So each pair is
    served by the last run date before the symbol's next event: one build per distinct as-of
    date, over all symbols that share it.
    """
    dates = sorted({d for d, _ in run_pairs})
    plan: dict[date, set[tuple[date, str]]] = defaultdict(set)
    for day, symbol in run_pairs:
        events = [e for e in event_dates.get(symbol, []) if e > day]
        next_event = min(events) if events else None
        candidates = [d for d in dates if d >= day and (next_event is None or d < next_event)]
        plan[max(candidates)].add((day, symbol))
    return dict(plan)
