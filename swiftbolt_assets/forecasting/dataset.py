"""Model inputs from one ``features`` d1 row and its date's universe, and the training and
inference frames. Pure.

Every model input is a function of the features row of (symbol, D), computed as of D, and of
the features rows of the whole universe in the warehouse on D (``cross_section``), so a
forecast cannot depend on which symbols share its run. Price levels enter as distances relative
to the adjusted close (scale-free, so one pooled model serves every symbol); oscillators enter
as they are; regimes as ordinal codes; cross-sectional inputs as ranks, demeaned values and the
market's context.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.forecasting.bar_context import CONTEXT_FEATURES
from swiftbolt_assets.forecasting.cross_section import CROSS_SECTIONAL_FEATURES, UNIVERSE_COLUMNS
from swiftbolt_assets.forecasting.labels import bar_sigma

# Levels expressed as (level / adj_close - 1).
RELATIVE_LEVELS = (
    "sma_5",
    "sma_10",
    "sma_20",
    "sma_50",
    "sma_200",
    "ema_12",
    "ema_26",
    "supertrend_10_3",
    "st_ai_stop",
    "st_ai_ama",
    "nearest_support",
    "nearest_resistance",
    "poly_support_50",
    "poly_resistance_50",
)
# Price differences expressed as a fraction of the adjusted close.
RELATIVE_SPREADS = ("macd_12_26", "macd_signal_12_26_9", "macd_hist_12_26_9", "atr_14")
AS_IS = (
    "rsi_14",
    "rsi_7",
    "adx_14",
    "plus_di_14",
    "minus_di_14",
    "bb_pct_b_20",
    "bb_width_20",
    "bb_pct_b_30",
    "bb_width_30",
    "kdj_k_9_3",
    "kdj_d_9_3",
    "kdj_j_9_3",
    "mfi_14",
    "volume_ratio_20",
    "roc_5",
    "roc_20",
    "williams_r_14",
    "cci_20",
    "hv_20",
    "hv_60",
    "supertrend_dir_10_3",
    "st_ai_trend",
    "st_ai_perf_idx",
    "st_ai_factor",
    "st_ai_strength",
    "support_distance_atr",
    "resistance_distance_atr",
    "adx_14_prev_d1",
    "rsi_14_w1",
    "adx_14_w1",
)
REGIME_CODES: dict[str, tuple[str, ...]] = {
    "volatility_regime": ("low", "normal", "high"),
    "trend_regime": ("downtrend", "sideways", "uptrend"),
    "momentum_regime": ("ranging", "trending", "strong"),
}
# Columns of ``features`` a forecast reads (besides the keys).
SOURCE_COLUMNS = tuple(
    dict.fromkeys(
        (
            "adj_close",
            "hv_60",
            "nearest_support",
            "nearest_resistance",
            *RELATIVE_LEVELS,
            *RELATIVE_SPREADS,
            *AS_IS,
            "rsi_cloud_lead",
            "rsi_cloud_base",
            *REGIME_CODES,
            *UNIVERSE_COLUMNS,
        )
    )
)
MODEL_FEATURES: tuple[str, ...] = (
    *(f"rel_{c}" for c in RELATIVE_LEVELS),
    *(f"rel_{c}" for c in RELATIVE_SPREADS),
    *AS_IS,
    "rsi_cloud_spread",
    *(f"code_{c}" for c in REGIME_CODES),
    *CROSS_SECTIONAL_FEATURES,
)


def model_features(spec: CadenceSpec = DAILY) -> tuple[str, ...]:
    """The model inputs of a cadence: an intraday row adds its h1 and previous-session d1
    context (``bar_context``) to the inputs of its own bar."""
    return MODEL_FEATURES if spec.bar_minutes is None else (*MODEL_FEATURES, *CONTEXT_FEATURES)


# A features row needs this much history (bars of its timeframe: sessions for daily) before its
# inputs mean anything: the 200-bar SMA and the 60-bar volatility behind the thresholds.
MIN_HISTORY_SESSIONS = 200


# Carried beside the model inputs: keys, traceability, thresholds and the target's levels.
CONTEXT_COLUMNS = (
    "symbol",
    "session_date",
    "ts",
    "adj_close",
    "sigma",
    "nearest_support",
    "nearest_resistance",
)


def model_inputs(rows: pl.DataFrame, spec: CadenceSpec = DAILY) -> pl.DataFrame:
    """``CONTEXT_COLUMNS`` plus every column of ``model_features(spec)`` (Float32) of ``rows``.

    ``rows`` are features rows of the cadence's timeframe with their cross-sectional inputs
    (``cross_section.with_cross_section``; an intraday row: its ``bar_context`` instead, which
    brings the previous session's cross-section); ``sigma`` is the per-bar volatility. Inputs are
    stored as Float32 (half the memory over 2.4 M rows; the trees bin them anyway), the same for
    training and inference.
    """
    close = pl.col("adj_close")
    return rows.select(
        *(c for c in CONTEXT_COLUMNS if c != "sigma"),
        bar_sigma(pl.col(spec.volatility_column), spec.periods_per_year).alias("sigma"),
        *((pl.col(c) / close - 1.0).cast(pl.Float32).alias(f"rel_{c}") for c in RELATIVE_LEVELS),
        *((pl.col(c) / close).cast(pl.Float32).alias(f"rel_{c}") for c in RELATIVE_SPREADS),
        *(pl.col(c).cast(pl.Float32) for c in AS_IS),
        (pl.col("rsi_cloud_lead") - pl.col("rsi_cloud_base"))
        .cast(pl.Float32)
        .alias("rsi_cloud_spread"),
        *(
            pl.col(c)
            .replace_strict(list(values), list(range(len(values))), default=None)
            .cast(pl.Float32)
            .alias(f"code_{c}")
            for c, values in REGIME_CODES.items()
        ),
        *(pl.col(c).cast(pl.Float32) for c in CROSS_SECTIONAL_FEATURES),
        *(pl.col(c).cast(pl.Float32) for c in model_features(spec)[len(MODEL_FEATURES) :]),
    )


def design_matrix(
    rows: pl.DataFrame, features: list[str] | tuple[str, ...]
) -> npt.NDArray[np.float64]:
    """The model inputs as a float matrix (nulls become NaN, which LightGBM treats as missing)."""
    return rows.select(pl.col(c).cast(pl.Float64).fill_null(np.nan) for c in features).to_numpy()


def with_bar_index(frame: pl.DataFrame, sessions: list[date]) -> pl.DataFrame:
    """Add ``bar_index`` to daily rows: the position of ``session_date`` in the trading calendar
    (an intraday row's is its m15 slot's: ``training.training_frame``)."""
    calendar = pl.DataFrame(
        {"session_date": sessions, "bar_index": list(range(len(sessions)))},
        schema={"session_date": pl.Date, "bar_index": pl.Int32},
    )
    return frame.join(calendar, on="session_date", how="left")


def with_sessions_seen(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (every features row of its symbols since their first bar, with
    ``bar_index``) plus ``sessions_seen``: sessions from the symbol's first row through the
    row's date, both included (what ``skip_reasons`` requires, as live forecasting counts it)."""
    index = pl.col("bar_index")
    return frame.with_columns(
        (index - index.min().over("symbol") + 1).cast(pl.Int64).alias("sessions_seen")
    )


def skip_reasons(frame: pl.DataFrame, spec: CadenceSpec = DAILY) -> pl.DataFrame:
    """``frame`` (with ``sessions_seen``: bars of the cadence's timeframe seen, ``sigma``,
    ``adj_close``) plus ``skip_reason``."""
    close, sigma = pl.col("adj_close"), pl.col("sigma")
    history = (
        "too little history: {} daily sessions, {} needed (200-session SMA, 60-session volatility)"
        if spec.bar_minutes is None
        else f"too little history: {{}} {spec.timeframe} bars, {{}} needed (200-bar SMA, 60-bar "
        "volatility)"
    )
    return frame.with_columns(
        pl.when(close.is_null() | (close <= 0))
        .then(pl.lit("no adjusted close on the as-of date"))
        .when(pl.col("sessions_seen") < MIN_HISTORY_SESSIONS)
        .then(pl.format(history, pl.col("sessions_seen"), pl.lit(MIN_HISTORY_SESSIONS)))
        .when(sigma.is_null() | (sigma <= 0) | sigma.is_nan())
        .then(
            pl.lit(
                f"volatility ({spec.volatility_column}) undefined or zero on the as-of bar"
                if spec.bar_minutes
                else "volatility (hv_60) undefined or zero on the as-of date"
            )
        )
        .otherwise(None)
        .alias("skip_reason")
    )
