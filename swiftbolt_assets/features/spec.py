"""The feature set in one place: every indicator's lengths and every column's name and order.

Pure constants, read by `indicators` (polars), the numba kernels of `kernels`, `levels`,
`regimes`, `build` and `schema`; nothing else defines a period or a feature column. A column
name carries its lengths (``sma_200``, ``macd_signal_12_26_9``), so the names are built from
the lengths below: changing a length renames its column, which the ``features`` table (see the
migrations) must follow.

Order matters: `INDICATOR_COLUMNS` is the order `indicators.add_indicators` appends its columns
in, `KERNEL_COLUMNS` (a subsequence of it) the order of the rows of the shared numba kernel, and
`FEATURE_COLUMNS` the order of a feature row.
"""

from __future__ import annotations

from typing import Final

# --- indicator lengths (periods, in bars of the series' own timeframe) -----------------------

SMA_LENGTHS: Final[tuple[int, ...]] = (5, 10, 20, 50, 200)
EMA_LENGTHS: Final[tuple[int, ...]] = (12, 26)
RSI_LENGTHS: Final[tuple[int, ...]] = (14, 7)
MACD_FAST: Final = 12
MACD_SLOW: Final = 26
MACD_SIGNAL: Final = 9
DMI_LENGTH: Final = 14  # ATR, ADX, +DI, -DI
BOLLINGER_LENGTHS: Final[tuple[int, ...]] = (20, 30)
BOLLINGER_WIDTH: Final = 2.0  # standard deviations
KDJ_LENGTH: Final = 9
KDJ_SMOOTHING: Final = 3
RSI_CLOUD_LEAD_RSI: Final = 7  # the lead line is an EMA of this RSI ...
RSI_CLOUD_LEAD_LENGTH: Final = 3  # ... over this many bars
RSI_CLOUD_BASE_RSI: Final = 14
RSI_CLOUD_BASE_LENGTH: Final = 14
MFI_LENGTH: Final = 14
OBV_LENGTH: Final = 252
VOLUME_RATIO_LENGTH: Final = 20
ROC_LENGTHS: Final[tuple[int, ...]] = (5, 20, 252)  # 252: 12-1 momentum (with 20)
WILLIAMS_R_LENGTH: Final = 14
CCI_LENGTH: Final = 20
CCI_CONSTANT: Final = 0.015  # Lambert's constant
HV_LENGTHS: Final[tuple[int, ...]] = (20, 60)
TRADING_DAYS_PER_YEAR: Final = 252  # annualizes the historical volatility

# path-dependent indicators (`levels`, numba kernels)
SUPERTREND_ATR_LENGTH: Final = 10
SUPERTREND_FACTOR: Final = 3.0
# LuxAlgo "SuperTrend AI (Clustering)" defaults
ST_AI_ATR_LENGTH: Final = 10
ST_AI_MIN_FACTOR: Final = 1.0
ST_AI_MAX_FACTOR: Final = 5.0
ST_AI_FACTOR_STEP: Final = 0.5
ST_AI_PERF_MEMORY: Final = 10.0
ST_AI_MAX_ITER: Final = 1000
ST_AI_CLUSTER_BEST: Final = 2  # 'Best' = 2, 'Average' = 1, 'Worst' = 0 (sorted centroids)
ST_AI_STRENGTH_MAX: Final = 10.0
PIVOT_PERIODS: Final[tuple[int, ...]] = (5, 25, 50, 100)
POLY_WINDOW: Final = 50

# --- columns ---------------------------------------------------------------------------------

ATR_COLUMN: Final = f"atr_{DMI_LENGTH}"
ADX_COLUMN: Final = f"adx_{DMI_LENGTH}"
RSI_COLUMN: Final = f"rsi_{RSI_CLOUD_BASE_RSI}"  # the RSI the weekly multi-timeframe value uses
_MACD: Final = f"{MACD_FAST}_{MACD_SLOW}"
_KDJ: Final = f"{KDJ_LENGTH}_{KDJ_SMOOTHING}"

# `indicators.add_indicators`, in order
INDICATOR_COLUMNS: Final[tuple[str, ...]] = (
    *(f"sma_{n}" for n in SMA_LENGTHS),
    *(f"ema_{n}" for n in EMA_LENGTHS),
    *(f"rsi_{n}" for n in RSI_LENGTHS),
    f"macd_{_MACD}",
    f"macd_signal_{_MACD}_{MACD_SIGNAL}",
    f"macd_hist_{_MACD}_{MACD_SIGNAL}",
    ATR_COLUMN,
    ADX_COLUMN,
    f"plus_di_{DMI_LENGTH}",
    f"minus_di_{DMI_LENGTH}",
    *(
        f"bb_{part}_{n}"
        for n in BOLLINGER_LENGTHS
        for part in ("basis", "upper", "lower", "pct_b", "width")
    ),
    f"kdj_rsv_{KDJ_LENGTH}",
    f"kdj_k_{_KDJ}",
    f"kdj_d_{_KDJ}",
    f"kdj_j_{_KDJ}",
    "rsi_cloud_lead",
    "rsi_cloud_base",
    "rsi_cloud_bull_cross",
    "rsi_cloud_bear_cross",
    f"mfi_{MFI_LENGTH}",
    f"obv_{OBV_LENGTH}",
    f"volume_ratio_{VOLUME_RATIO_LENGTH}",
    *(f"roc_{n}" for n in ROC_LENGTHS),
    f"williams_r_{WILLIAMS_R_LENGTH}",
    f"cci_{CCI_LENGTH}",
    *(f"hv_{n}" for n in HV_LENGTHS),
)
BOOLEAN_INDICATOR_COLUMNS: Final[tuple[str, ...]] = (
    "rsi_cloud_bull_cross",
    "rsi_cloud_bear_cross",
)
# the indicators TA-Lib also has, computed by the shared numba kernel (`kernels.shared`), in the
# order of INDICATOR_COLUMNS (and of the kernel's rows); the others are polars expressions
KERNEL_COLUMNS: Final[tuple[str, ...]] = tuple(
    name
    for name in INDICATOR_COLUMNS
    if not name.startswith(("kdj_", "rsi_cloud_", "volume_ratio_", "hv_"))
)

# `levels.add_path_indicators`, in order
PATH_INDICATOR_COLUMNS: Final[tuple[str, ...]] = (
    f"supertrend_{SUPERTREND_ATR_LENGTH}_{SUPERTREND_FACTOR:g}",
    f"supertrend_dir_{SUPERTREND_ATR_LENGTH}_{SUPERTREND_FACTOR:g}",
    "st_ai_stop",
    "st_ai_ama",
    "st_ai_trend",
    "st_ai_perf_idx",
    "st_ai_factor",
    "st_ai_strength",
    *(f"pivot_{side}_{p}" for p in PIVOT_PERIODS for side in ("high", "low")),
    f"poly_support_{POLY_WINDOW}",
    f"poly_resistance_{POLY_WINDOW}",
)
SUPPORT_CANDIDATES: Final[tuple[str, ...]] = (
    *(f"pivot_low_{p}" for p in PIVOT_PERIODS),
    f"poly_support_{POLY_WINDOW}",
)
RESISTANCE_CANDIDATES: Final[tuple[str, ...]] = (
    *(f"pivot_high_{p}" for p in PIVOT_PERIODS),
    f"poly_resistance_{POLY_WINDOW}",
)

# `build.build_features`
FEATURE_TIMEFRAMES: Final[tuple[str, ...]] = ("m15", "h1", "d1", "w1")
KEY_COLUMNS: Final[tuple[str, ...]] = ("symbol", "timeframe", "ts", "session_date")
BASE_COLUMNS: Final[tuple[str, ...]] = ("adj_factor", "adj_close", "is_synthetic")
LEVEL_COLUMNS: Final[tuple[str, ...]] = (
    "nearest_support",
    "nearest_resistance",
    "support_distance_atr",
    "resistance_distance_atr",
)
REGIME_COLUMNS: Final[tuple[str, ...]] = ("volatility_regime", "trend_regime", "momentum_regime")
MTF_COLUMNS: Final[tuple[str, ...]] = (
    f"{ADX_COLUMN}_prev_d1",
    f"{RSI_COLUMN}_w1",
    f"{ADX_COLUMN}_w1",
)

# a feature row, in table order (bookkeeping columns aside)
FEATURE_COLUMNS: Final[tuple[str, ...]] = (
    *KEY_COLUMNS,
    *BASE_COLUMNS,
    *INDICATOR_COLUMNS,
    *PATH_INDICATOR_COLUMNS,
    *LEVEL_COLUMNS,
    *REGIME_COLUMNS,
    *MTF_COLUMNS,
)
