"""The replay report's per-horizon scores with block-bootstrap intervals (pure: a frame of
evaluation rows, no database)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import polars as pl

from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets.replay import scores_by_horizon

N_DATES, N_SYMBOLS = 250, 12


def evaluations(horizon: str, days: int, probs: np.ndarray | None, seed: int) -> pl.DataFrame:
    """Evaluation rows of one horizon whose realized class and forecast persist over ``days``
    dates per symbol (overlapping labels), forecast by ``probs`` (one row) or by a lean toward
    the truth."""
    rng = np.random.default_rng(seed)
    spells = -(-N_DATES // days)
    truth = np.repeat(rng.integers(0, 3, size=(spells, N_SYMBOLS)), days, axis=0)[:N_DATES]
    truth = truth.ravel()
    n = truth.size
    # the forecast persists over the spell too, as overlapping horizons' forecasts do
    told = np.repeat(rng.integers(0, 3, size=(spells, N_SYMBOLS)), days, axis=0)[:N_DATES]
    hits = np.repeat(rng.random(size=(spells, N_SYMBOLS)) < 0.5, days, axis=0)[:N_DATES]
    lean = np.eye(3)[np.where(hits.ravel(), truth, told.ravel())]
    p = np.tile(probs, (n, 1)) if probs is not None else 0.5 / 3 + 0.5 * lean
    dates = [date(2021, 1, 4) + timedelta(days=d) for d in range(N_DATES) for _ in range(N_SYMBOLS)]
    returns = (truth - 1) * 0.01 + rng.normal(0, 0.005, size=n)
    return pl.DataFrame(
        {
            "horizon": horizon,
            "horizon_days": days,
            "realized_label": np.asarray(CLASSES)[truth],
            "realized_return": returns,
            "p_bearish": p[:, 0],
            "p_neutral": p[:, 1],
            "p_bullish": p[:, 2],
            "label_correct": p.argmax(axis=1) == truth,
            "direction_correct": np.sign(p[:, 2] - p[:, 0]) == np.sign(returns),
            "inside_band": rng.random(n) < 0.8,
            "price_error_pct": rng.normal(0, 2, size=n),
            "as_of_date": dates,
        }
    )


def cell(text: str) -> tuple[float, float, float]:
    """(point, low, high) of a ``point [low, high]`` cell."""
    match = re.fullmatch(r"(-?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\]", text)
    assert match, text
    point, low, high = (float(g) for g in match.groups())
    return point, low, high


def test_scores_come_per_horizon_with_intervals_and_the_effective_sample() -> None:
    frame = pl.concat([evaluations("1W", 5, None, seed=1), evaluations("1D", 1, None, seed=2)])
    rows = scores_by_horizon(frame, n_boot=300)

    assert [r["horizon"] for r in rows] == ["1D", "1W"]  # ordered by length
    parts = [frame.filter(pl.col("horizon") == h) for h in ("1D", "1W")]
    for row, part in zip(rows, parts, strict=True):
        assert row["n"] == part.height == N_DATES * N_SYMBOLS
        assert row["as_of_days"] == N_DATES
        point, low, high = cell(row["accuracy"])
        assert point == round(float(part["label_correct"].mean()), 3)  # type: ignore[arg-type]
        assert low <= point <= high
        for name in ("balanced_accuracy", "brier", "skill_vs_shares", "ece", "rank_ic"):
            _, low, high = cell(row[name])
            assert low <= high, name
        assert cell(row["skill_vs_shares"])[1] > 0  # the lean toward the truth is skill
    daily, weekly = rows
    # a class that persists over 5 dates: far fewer independent outcomes than rows
    assert weekly["n_eff"] < weekly["n"] / 2
    assert daily["n_eff"] > daily["n"] / 2


def test_a_forecast_of_the_shares_has_no_skill_in_any_resample() -> None:
    frame = evaluations("1D", 1, None, seed=3)
    truth = frame["realized_label"].to_list()
    shares = np.array([truth.count(c) / len(truth) for c in CLASSES])
    rows = scores_by_horizon(evaluations("1D", 1, shares, seed=3), n_boot=200)
    assert cell(rows[0]["skill_vs_shares"]) == (0.0, 0.0, 0.0)
