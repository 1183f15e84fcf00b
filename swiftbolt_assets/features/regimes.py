"""Market regimes from the indicators (pure polars over (symbol, timeframe) groups).

- ``volatility_regime``: ``hv_20`` against its own 252-bar trailing mean: ``high`` above 1.25×,
  ``low`` below 0.8×, else ``normal``.
- ``trend_regime``: versus SMA 200 and its 20-bar slope: ``uptrend`` (close above a rising SMA
  200), ``downtrend`` (below a falling one), else ``sideways``.
- ``momentum_regime`` by ADX 14: ``ranging`` below 20, ``trending`` from 20, ``strong`` from 40.

Null where an input is still warming up.
"""

from __future__ import annotations

import polars as pl

from swiftbolt_assets.features.spec import REGIME_COLUMNS

GROUP = ("symbol", "timeframe")
VOLATILITY_REGIMES = ("low", "normal", "high")
TREND_REGIMES = ("downtrend", "sideways", "uptrend")
MOMENTUM_REGIMES = ("ranging", "trending", "strong")


def add_regimes(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the three regime columns; needs ``hv_20``, ``sma_200``, ``close``, ``adx_14``."""
    group = list(GROUP)
    hv_norm = pl.col("hv_20").rolling_mean(252, min_samples=252).over(group)
    ratio = pl.when(hv_norm > 0).then(pl.col("hv_20") / hv_norm)
    slope = pl.col("sma_200") - pl.col("sma_200").shift(20).over(group)
    adx = pl.col("adx_14")
    volatility_regime, trend_regime, momentum_regime = REGIME_COLUMNS
    return frame.with_columns(
        pl.when(ratio > 1.25)
        .then(pl.lit("high"))
        .when(ratio < 0.8)
        .then(pl.lit("low"))
        .when(ratio.is_not_null())
        .then(pl.lit("normal"))
        .alias(volatility_regime),
        pl.when(slope.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when((pl.col("close") > pl.col("sma_200")) & (slope > 0))
        .then(pl.lit("uptrend"))
        .when((pl.col("close") < pl.col("sma_200")) & (slope < 0))
        .then(pl.lit("downtrend"))
        .otherwise(pl.lit("sideways"))
        .alias(trend_regime),
        pl.when(adx >= 40)
        .then(pl.lit("strong"))
        .when(adx >= 20)
        .then(pl.lit("trending"))
        .when(adx.is_not_null())
        .then(pl.lit("ranging"))
        .alias(momentum_regime),
    )
