"""Cross-sectional model inputs: each row relative to the whole universe on its date. Pure.

The universe of a date is every symbol with a d1 features row in the warehouse on that date,
never the symbols that happen to share a run: a forecast reads the universe's rows of its as-of
date (``store.read_universe``), training reads every row anyway, and both pass them through
``cross_sectional_inputs``. Every value of date D is a function of the features rows of D alone
(themselves computed as of D), so nothing here looks ahead, and a forecast is the same however
runs are split, given the same features rows of its date in the warehouse (a run that
forecasts D before another run has written the features of D's other symbols sees a smaller
universe: ``ml_forecasts_daily`` reports such dates). Daily rows only (keyed by session date).

``sector`` is the symbol's sector as ``symbols.sector`` holds it now (the drop folder's
``constituents.csv``), applied to every date: a reclassification is not point in time.

Inputs (``CROSS_SECTIONAL_FEATURES``):

- ``mom_12_1``: 12-1 momentum, the return from 252 to 20 sessions ago (``roc_252`` and
  ``roc_20`` of the features row: the last month is left out, where short-term reversal lives);
- ``xs_rank_<x>``: the row's percentile rank of ``x`` among the date's universe, centred
  (-0.5 lowest … +0.5 highest; ties share their mean rank), for the 5-session return (short-term
  reversal), the 20-session return, 12-1 momentum, 60-session volatility, RSI 14, the volume
  ratio and the distance to the 200-session SMA;
- ``xs_dm_<x>``: ``x`` minus the universe's mean on the date, for the 5- and 20-session returns
  (percent, as ``roc_*``) and 12-1 momentum (a fraction, as ``mom_12_1``);
- market context, the same for every row of a date, as coarse regimes: ``mkt_breadth_50`` and
  ``mkt_breadth_200`` (share of the universe above its 50- and 200-session SMA, floored to
  0.2 steps), ``mkt_roc_5`` and ``mkt_roc_20`` (the universe's mean return, its trend, coded -2…2
  at ±0.75/±2.5 % and ±1.5/±5 %), ``mkt_hv_20`` (its median 20-session volatility, coded 0…3 at
  15/25/40 %). Coarse on purpose: in a pooled model a date-level value that is nearly unique per
  date lets a tree put one date's ~500 rows in a leaf and learn that day's market move (seen in
  the sp500 backtest with exact values: LightGBM's 1D skill fell to -0.023);
- ``sec_dm_roc_20``: the 20-session return minus its sector's mean on the date, where the
  symbol's sector is known and at least ``MIN_SECTOR`` symbols share it; null otherwise (sectors
  are optional: nothing requires them).

A date with fewer than ``MIN_UNIVERSE`` values of an input gets null ranks and means for it: a
rank among a handful of symbols says little, and a pooled model must not mix that with a rank
among 500.
"""

from __future__ import annotations

import polars as pl

MIN_UNIVERSE = 20
MIN_SECTOR = 5
# columns of a features row the cross section reads (``sector`` is optional)
UNIVERSE_COLUMNS = (
    "adj_close",
    "sma_50",
    "sma_200",
    "roc_5",
    "roc_20",
    "roc_252",
    "hv_20",
    "hv_60",
    "rsi_14",
    "volume_ratio_20",
)
RANKED = (
    "roc_5",
    "roc_20",
    "mom_12_1",
    "hv_60",
    "rsi_14",
    "volume_ratio_20",
    "dist_sma_200",
)
DEMEANED = ("roc_5", "roc_20", "mom_12_1")
MARKET = ("mkt_breadth_50", "mkt_breadth_200", "mkt_roc_5", "mkt_roc_20", "mkt_hv_20")
CROSS_SECTIONAL_FEATURES: tuple[str, ...] = (
    "mom_12_1",
    *(f"xs_rank_{c}" for c in RANKED),
    *(f"xs_dm_{c}" for c in DEMEANED),
    *MARKET,
    "sec_dm_roc_20",
)
_DATE = "session_date"


def _floor_to(value: pl.Expr, step: float, top: float) -> pl.Expr:
    """``value`` floored to multiples of ``step``, at most ``top`` (null stays null)."""
    return ((value / step).floor() * step).clip(upper_bound=top)


def _code(value: pl.Expr, edges: tuple[float, ...], first: int) -> pl.Expr:
    """``first`` below ``edges[0]``, ``first + 1`` from it to ``edges[1]``, … (null stays
    null)."""
    coded: pl.Expr = pl.lit(float(first + len(edges)))
    for i, edge in reversed(list(enumerate(edges))):
        coded = pl.when(value < edge).then(pl.lit(float(first + i))).otherwise(coded)
    return pl.when(value.is_not_null()).then(coded)


def _enough(column: str, over: str | list[str], minimum: int) -> pl.Expr:
    return pl.col(column).count().over(over) >= minimum


def cross_sectional_inputs(
    universe: pl.DataFrame, min_universe: int = MIN_UNIVERSE
) -> pl.DataFrame:
    """(symbol, session_date, *CROSS_SECTIONAL_FEATURES as Float32) of every row of
    ``universe``: the features rows (``UNIVERSE_COLUMNS``, optionally ``sector``) of every
    symbol on each of its dates."""
    has_sector = "sector" in universe.columns
    base = universe.select(
        "symbol",
        _DATE,
        (pl.col("sector") if has_sector else pl.lit(None, dtype=pl.String)).alias("sector"),
        *(pl.col(c).cast(pl.Float64) for c in UNIVERSE_COLUMNS),
    ).with_columns(
        ((1.0 + pl.col("roc_252") / 100.0) / (1.0 + pl.col("roc_20") / 100.0) - 1.0).alias(
            "mom_12_1"
        ),
        (pl.col("adj_close") / pl.col("sma_200") - 1.0).alias("dist_sma_200"),
    )
    base = base.with_columns(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c)
        for c in {*RANKED, *DEMEANED, *UNIVERSE_COLUMNS}
    )

    def centred_rank(column: str) -> pl.Expr:
        rank = pl.col(column).rank("average").over(_DATE)
        count = pl.col(column).count().over(_DATE)
        return (
            pl.when(_enough(column, _DATE, min_universe))
            .then((rank - 1.0) / (count - 1.0) - 0.5)
            .alias(f"xs_rank_{column}")
        )

    def demeaned(column: str, over: str | list[str], name: str, minimum: int) -> pl.Expr:
        return (
            pl.when(_enough(column, over, minimum))
            .then(pl.col(column) - pl.col(column).mean().over(over))
            .alias(name)
        )

    def above(level: str) -> pl.Expr:
        above = pl.when(pl.col(level).is_not_null() & pl.col("adj_close").is_not_null()).then(
            (pl.col("adj_close") > pl.col(level)).cast(pl.Float64)
        )
        return pl.when(above.count().over(_DATE) >= min_universe).then(above.mean().over(_DATE))

    def market(column: str, stat: pl.Expr) -> pl.Expr:
        return pl.when(_enough(column, _DATE, min_universe)).then(stat.over(_DATE))

    sector_known = pl.col("sector").is_not_null()
    out = base.select(
        "symbol",
        _DATE,
        pl.col("mom_12_1"),
        *(centred_rank(c) for c in RANKED),
        *(demeaned(c, _DATE, f"xs_dm_{c}", min_universe) for c in DEMEANED),
        _floor_to(above("sma_50"), 0.2, 0.8).alias("mkt_breadth_50"),
        _floor_to(above("sma_200"), 0.2, 0.8).alias("mkt_breadth_200"),
        _code(market("roc_5", pl.col("roc_5").mean()), (-2.5, -0.75, 0.75, 2.5), -2).alias(
            "mkt_roc_5"
        ),
        _code(market("roc_20", pl.col("roc_20").mean()), (-5.0, -1.5, 1.5, 5.0), -2).alias(
            "mkt_roc_20"
        ),
        _code(market("hv_20", pl.col("hv_20").median()), (0.15, 0.25, 0.40), 0).alias("mkt_hv_20"),
        pl.when(sector_known)
        .then(demeaned("roc_20", [_DATE, "sector"], "sec_dm_roc_20", MIN_SECTOR))
        .alias("sec_dm_roc_20"),
    )
    return out.select(
        "symbol", _DATE, *(pl.col(c).cast(pl.Float32) for c in CROSS_SECTIONAL_FEATURES)
    )


def with_cross_section(
    rows: pl.DataFrame, universe: pl.DataFrame, min_universe: int = MIN_UNIVERSE
) -> pl.DataFrame:
    """``rows`` (keyed by symbol, session_date) with the cross-sectional inputs computed over
    ``universe`` (which must hold every symbol's row on the dates of ``rows``); a row whose
    (symbol, date) is not in the universe gets nulls."""
    inputs = cross_sectional_inputs(universe, min_universe)
    return rows.join(inputs, on=["symbol", _DATE], how="left")
