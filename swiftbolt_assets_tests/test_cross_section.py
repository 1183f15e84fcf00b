"""Cross-sectional model inputs (``forecasting/cross_section``), pure: ranks and means over the
date's whole universe, market context, 12-1 momentum, optional sectors, no look-ahead and no
dependence on which symbols share a run."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from swiftbolt_assets.forecasting.cross_section import (
    CROSS_SECTIONAL_FEATURES,
    MIN_UNIVERSE,
    UNIVERSE_COLUMNS,
    cross_sectional_inputs,
    with_cross_section,
)
from swiftbolt_assets.forecasting.dataset import MODEL_FEATURES

DAY = date(2021, 3, 1)


def universe(n_symbols: int = 40, n_dates: int = 30, seed: int = 0) -> pl.DataFrame:
    """Random features rows of ``n_symbols`` symbols on ``n_dates`` dates, a few nulls."""
    rng = np.random.default_rng(seed)
    n = n_symbols * n_dates
    close = rng.uniform(20.0, 200.0, n)
    frame = pl.DataFrame(
        {
            "symbol": [f"S{i:03d}" for _ in range(n_dates) for i in range(n_symbols)],
            "session_date": [
                DAY + timedelta(days=d) for d in range(n_dates) for _ in range(n_symbols)
            ],
            "adj_close": close,
            "sma_50": close * rng.uniform(0.9, 1.1, n),
            "sma_200": close * rng.uniform(0.8, 1.2, n),
            "roc_5": rng.normal(0.0, 3.0, n),
            "roc_20": rng.normal(0.0, 6.0, n),
            "roc_252": rng.normal(10.0, 30.0, n),
            "hv_20": rng.uniform(0.1, 0.6, n),
            "hv_60": rng.uniform(0.1, 0.6, n),
            "rsi_14": rng.uniform(10.0, 90.0, n),
            "volume_ratio_20": rng.uniform(0.3, 3.0, n),
        }
    )
    # a few warm-up nulls, as young symbols have
    return frame.with_columns(
        pl.when(pl.col("symbol") == "S000").then(None).otherwise(pl.col("roc_252")).alias("roc_252")
    )


def test_every_cross_sectional_input_is_a_model_input() -> None:
    out = cross_sectional_inputs(universe())
    assert out.columns == ["symbol", "session_date", *CROSS_SECTIONAL_FEATURES]
    assert set(CROSS_SECTIONAL_FEATURES) <= set(MODEL_FEATURES)
    assert all(out.schema[c] == pl.Float32 for c in CROSS_SECTIONAL_FEATURES)


def test_ranks_are_centred_percentiles_over_the_date_with_ties_and_nulls() -> None:
    rows = universe(n_symbols=25, n_dates=1)
    values = [float(i % 20) for i in range(25)]  # ties: 0..19, then 0..4 again
    values[7] = None  # type: ignore[call-overload]
    out = cross_sectional_inputs(rows.with_columns(pl.Series("roc_5", values)))
    ranks = dict(zip(out["symbol"], out["xs_rank_roc_5"], strict=True))
    assert ranks["S007"] is None  # a null value has no rank
    ranked = [r for r in ranks.values() if r is not None]
    assert max(ranked) == pytest.approx(0.5)  # 19 is the largest value, alone
    assert ranks["S000"] == ranks["S020"]  # tied values share their rank
    # 24 values: the two zeros share ranks 1 and 2 -> 1.5 -> (1.5 - 1) / 23 - 0.5
    assert min(ranked) == ranks["S000"]
    assert ranks["S000"] == pytest.approx(0.5 / 23 - 0.5, abs=1e-6)
    # the same for every ranked input: uniform over [-0.5, 0.5], mean 0 on each date
    wide = cross_sectional_inputs(universe())
    means = wide.group_by("session_date").agg(pl.col("xs_rank_rsi_14").mean())
    assert (means["xs_rank_rsi_14"].abs() < 1e-6).all()


def test_demeaned_values_and_market_context_are_those_of_the_date() -> None:
    rows = universe()
    out = cross_sectional_inputs(rows).join(rows, on=["symbol", "session_date"])
    day = out.filter(pl.col("session_date") == DAY)
    raw = rows.filter(pl.col("session_date") == DAY)
    assert day["xs_dm_roc_20"].to_numpy() == pytest.approx(
        (day["roc_20"] - raw["roc_20"].mean()).to_numpy(), abs=1e-4
    )
    # the market's context, as coarse regimes (a tree must not single out one date)
    assert day["mkt_roc_20"].n_unique() == 1
    mean = raw["roc_20"].mean()
    assert isinstance(mean, float)
    assert day["mkt_roc_20"][0] == sum(mean >= e for e in (-5.0, -1.5, 1.5, 5.0)) - 2
    median = raw["hv_20"].median()
    assert isinstance(median, float)
    assert day["mkt_hv_20"][0] == sum(median >= e for e in (0.15, 0.25, 0.40))
    above = (raw["adj_close"] > raw["sma_50"]).mean()
    assert day["mkt_breadth_50"][0] == pytest.approx(min(0.8, (above // 0.2) * 0.2), abs=1e-6)
    fifths = out["mkt_breadth_50"].drop_nulls() * 5.0
    assert ((fifths - fifths.round(0)).abs() < 1e-5).all()
    assert fifths.max() <= 4.0 + 1e-5  # type: ignore[operator]
    assert set(out["mkt_roc_5"].unique()) <= {-2.0, -1.0, 0.0, 1.0, 2.0}


def test_12_1_momentum_is_the_return_from_252_to_20_sessions_ago() -> None:
    close = np.exp(np.cumsum(np.random.default_rng(3).normal(0.0, 0.01, 400)))
    t = 399
    roc = {n: 100.0 * (close[t] / close[t - n] - 1.0) for n in (20, 252)}
    rows = universe(n_symbols=25, n_dates=1).with_columns(
        pl.lit(roc[20]).alias("roc_20"), pl.lit(roc[252]).alias("roc_252")
    )
    momentum = cross_sectional_inputs(rows)["mom_12_1"][0]
    assert momentum == pytest.approx(close[t - 20] / close[t - 252] - 1.0, rel=1e-5)


def test_a_small_universe_gives_no_ranks_and_no_context() -> None:
    out = cross_sectional_inputs(universe(n_symbols=MIN_UNIVERSE - 1, n_dates=2))
    relative = [c for c in CROSS_SECTIONAL_FEATURES if c != "mom_12_1"]
    assert out.select(pl.col(relative).is_null().all()).row(0) == (True,) * len(relative)
    assert out["mom_12_1"].is_not_null().any()  # the symbol's own momentum needs no universe
    # an input with too few values on a date is null even in a large universe
    sparse = universe().with_columns(
        pl.when(pl.col("symbol") < "S030").then(None).otherwise(pl.col("rsi_14")).alias("rsi_14")
    )
    assert cross_sectional_inputs(sparse)["xs_rank_rsi_14"].is_null().all()


def test_sectors_are_optional_and_small_sectors_give_nothing() -> None:
    rows = universe(n_dates=2)
    assert cross_sectional_inputs(rows)["sec_dm_roc_20"].is_null().all()
    sectors = ["Energy" if i < 30 else "Utilities" if i < 33 else None for i in range(40)]
    with_sectors = rows.with_columns(
        pl.col("symbol")
        .str.slice(1)
        .cast(pl.Int64)
        .map_elements(lambda i: sectors[i], return_dtype=pl.String)
        .alias("sector")
    )
    out = cross_sectional_inputs(with_sectors).join(with_sectors, on=["symbol", "session_date"])
    day = out.filter(pl.col("session_date") == DAY)
    energy = day.filter(pl.col("sector") == "Energy")
    assert energy["sec_dm_roc_20"].to_numpy() == pytest.approx(
        (energy["roc_20"] - energy["roc_20"].mean()).to_numpy(), abs=1e-4
    )
    # three utilities are too few for a sector mean; no sector, no value
    assert day.filter(pl.col("sector") == "Utilities")["sec_dm_roc_20"].is_null().all()
    assert day.filter(pl.col("sector").is_null())["sec_dm_roc_20"].is_null().all()


def test_no_look_ahead_a_date_depends_on_its_own_rows_only() -> None:
    rows = universe()
    full = cross_sectional_inputs(rows)
    cut = DAY + timedelta(days=10)
    # later dates removed, or rewritten with anything: the earlier rows do not change
    past = cross_sectional_inputs(rows.filter(pl.col("session_date") <= cut))
    rewritten = cross_sectional_inputs(
        rows.with_columns(
            pl.when(pl.col("session_date") > cut)
            .then(pl.col(c) * 3.0 + 1.0)
            .otherwise(pl.col(c))
            .alias(c)
            for c in UNIVERSE_COLUMNS
        )
    )
    early = pl.col("session_date") <= cut
    assert_frame_equal(
        full.filter(early), past.sort("session_date", "symbol"), check_row_order=False
    )
    assert_frame_equal(full.filter(early), rewritten.filter(early))
    assert not full.filter(~early).equals(rewritten.filter(~early))  # the rewrite did change D+1


def test_a_row_does_not_depend_on_the_symbols_sharing_its_run() -> None:
    rows = universe()
    together = with_cross_section(rows, rows)
    # a run of three symbols reads the same universe: its rows are the same values
    some = rows.filter(pl.col("symbol").is_in(["S001", "S017", "S033"]))
    alone = with_cross_section(some, rows)
    assert_frame_equal(together.filter(pl.col("symbol").is_in(["S001", "S017", "S033"])), alone)
    # computed only over the run's symbols, the values would differ: the universe matters
    assert not with_cross_section(some, some, min_universe=2).equals(alone)
