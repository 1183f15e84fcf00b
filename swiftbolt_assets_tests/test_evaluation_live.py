"""Rolling live scores (evaluation/live.py): by hand and against a naive reference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from swiftbolt_assets.evaluation.live import ECE_BINS, LIVE_COLUMNS, LIVE_SCHEMA, live_scores
from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets_tests.evaluation_frames import (
    MAR,
    weekdays,
)

# --- live scores ---------------------------------------------------------------------------

LIVE_EVAL_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "horizon": pl.String(),
    "target_date": pl.Date(),
    "predicted_label": pl.String(),
    "realized_label": pl.String(),
    "p_bearish": pl.Float64(),
    "p_neutral": pl.Float64(),
    "p_bullish": pl.Float64(),
    "confidence": pl.Float64(),
    "label_correct": pl.Boolean(),
    "direction_correct": pl.Boolean(),
    "inside_band": pl.Boolean(),
    "price_error_pct": pl.Float64(),
}


@dataclass(frozen=True)
class LiveRow:
    """One evaluation as ``live_scores`` reads it."""

    target: date
    probabilities: tuple[float, float, float]
    predicted: str
    realized: str
    confidence: float
    direction: bool | None
    inside: bool
    error: float
    symbol: str = "AAA"
    horizon: str = "1D"

    def record(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "horizon": self.horizon,
            "target_date": self.target,
            "predicted_label": self.predicted,
            "realized_label": self.realized,
            **{f"p_{c}": p for c, p in zip(CLASSES, self.probabilities, strict=True)},
            "confidence": self.confidence,
            "label_correct": self.predicted == self.realized,
            "direction_correct": self.direction,
            "inside_band": self.inside,
            "price_error_pct": self.error,
        }


def live_frame(rows: Sequence[LiveRow]) -> pl.DataFrame:
    return pl.DataFrame([r.record() for r in rows], schema=LIVE_EVAL_SCHEMA)


def live_requests(pairs: Sequence[tuple[str, date]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(d, s) for s, d in pairs],
        schema={"partition_date": pl.Date, "symbol": pl.String},
        orient="row",
    )


def test_live_scores_by_hand() -> None:
    t1, t2, t3 = MAR[4], MAR[6], MAR[8]
    rows = [
        LiveRow(
            target=t1,
            probabilities=(0.2, 0.3, 0.5),
            predicted="bullish",
            realized="bullish",
            confidence=0.5,
            direction=True,
            inside=True,
            error=1.0,
        ),
        LiveRow(
            target=t2,
            probabilities=(0.6, 0.3, 0.1),
            predicted="bearish",
            realized="neutral",
            confidence=0.6,
            direction=None,
            inside=False,
            error=-3.0,
        ),
        LiveRow(
            target=t3,
            probabilities=(0.1, 0.7, 0.2),
            predicted="neutral",
            realized="neutral",
            confidence=0.7,
            direction=False,
            inside=True,
            error=2.0,
        ),
    ]
    requests = live_requests([("AAA", MAR[1]), ("AAA", MAR[5]), ("AAA", t3)])
    scores = live_scores(live_frame(rows[::-1]), requests, windows=(2, 20))
    assert scores.columns == list(LIVE_COLUMNS)
    assert scores.schema == pl.Schema(LIVE_SCHEMA)
    # 1 March is before every target date: no row
    assert scores.get_column("partition_date").unique().sort().to_list() == [MAR[5], t3]
    # 5 March, either window: only the first evaluation
    early = scores.filter(pl.col("partition_date") == MAR[5])
    assert early.get_column("window_size").to_list() == [2, 20]
    for r in early.iter_rows(named=True):
        assert (r["n"], r["first_target_date"], r["last_target_date"]) == (1, t1, t1)
        # (0.2 - 0)^2 + (0.3 - 0)^2 + (0.5 - 1)^2 = 0.04 + 0.09 + 0.25
        assert r["brier"] == pytest.approx(0.38)
        # bin 5: |0.5 - 1|
        assert r["ece"] == pytest.approx(0.5)
        assert (r["hit_rate_bullish"], r["hit_rate_bearish"], r["hit_rate_neutral"]) == (
            1.0,
            None,
            None,
        )
    last2 = scores.filter((pl.col("partition_date") == t3) & (pl.col("window_size") == 2)).row(
        0, named=True
    )
    identity = ("symbol", "horizon", "partition_date", "window_size", "n")
    dates = ("first_target_date", "last_target_date")
    # 2 evaluations of 1D are 1 block of 2: no interval (test_evaluation_live_intervals)
    intervals = [c for c in LIVE_COLUMNS if c == "n_eff" or c.endswith(("_low", "_high"))]
    assert {last2.pop(c) for c in intervals} == {None}
    assert {k: last2.pop(k) for k in (*identity, *dates)} == {
        "symbol": "AAA",
        "horizon": "1D",
        "partition_date": t3,
        "window_size": 2,
        "n": 2,
        "first_target_date": t2,
        "last_target_date": t3,
    }
    assert last2 == pytest.approx(
        {
            "accuracy": 0.5,
            # only the third has a direction, and it is wrong
            "directional_accuracy": 0.0,
            "n_directional": 1,
            # (0.36 + 0.49 + 0.01 = 0.86 and 0.01 + 0.09 + 0.04 = 0.14) / 2
            "brier": 0.5,
            # bins 6 and 7, one row each: (|0.6 - 0| + |0.7 - 1|) / 2
            "ece": 0.45,
            "mean_confidence": 0.65,
            "inside_band_rate": 0.5,
            "mean_abs_price_error_pct": 2.5,
            "n_bearish": 1,
            "n_neutral": 1,
            "n_bullish": 0,
            "hit_rate_bearish": 0.0,
            "hit_rate_neutral": 1.0,
            "hit_rate_bullish": None,
        }
    )
    all3 = scores.filter((pl.col("partition_date") == t3) & (pl.col("window_size") == 20)).row(
        0, named=True
    )
    assert (all3["n"], all3["first_target_date"], all3["n_directional"]) == (3, t1, 2)
    assert all3["accuracy"] == pytest.approx(2 / 3)
    assert all3["directional_accuracy"] == pytest.approx(0.5)
    assert all3["brier"] == pytest.approx((0.38 + 0.86 + 0.14) / 3)
    # bins 5, 6 and 7 one row each: (0.5 + 0.6 + 0.3) / 3
    assert all3["ece"] == pytest.approx(1.4 / 3)


def test_live_scores_empty_inputs() -> None:
    empty = live_scores(live_frame([]), live_requests([("AAA", MAR[4])]))
    assert empty.is_empty()
    assert empty.schema == pl.Schema(LIVE_SCHEMA)
    row = LiveRow(
        target=MAR[4],
        probabilities=(0.2, 0.3, 0.5),
        predicted="bullish",
        realized="bullish",
        confidence=0.5,
        direction=True,
        inside=True,
        error=1.0,
    )
    assert live_scores(live_frame([row]), live_requests([])).is_empty()


def random_live_evaluations(
    rng: np.random.Generator, days: list[date], sizes: dict[tuple[str, str], int]
) -> list[LiveRow]:
    """``sizes[(symbol, horizon)]`` evaluations on distinct random target days (gaps), with
    random probabilities, labels, directions (some null) and confidences (some exactly on bin
    edges, 0 and 1). NOB never predicts bearish; NOD never has a direction."""
    rows: list[LiveRow] = []
    edges = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
    for (symbol, horizon), size in sizes.items():
        picked = sorted(rng.choice(len(days), size=size, replace=False).tolist())
        for index in picked:
            p = rng.dirichlet(np.ones(3))
            choices = CLASSES[1:] if symbol == "NOB" else CLASSES
            confidence = (
                float(rng.choice(edges)) if rng.random() < 0.2 else float(rng.uniform(0.0, 1.0))
            )
            direction = [None, True, False][int(rng.integers(3))]
            rows.append(
                LiveRow(
                    symbol=symbol,
                    horizon=horizon,
                    target=days[index],
                    probabilities=(float(p[0]), float(p[1]), float(p[2])),
                    predicted=str(rng.choice(choices)),
                    realized=str(rng.choice(CLASSES)),
                    confidence=confidence,
                    direction=None if symbol == "NOD" else direction,
                    inside=bool(rng.random() < 0.6),
                    error=float(rng.normal(0.0, 3.0)),
                )
            )
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def reference_scores(last: Sequence[LiveRow]) -> dict[str, object]:
    """The live scores of the evaluations ``last`` (oldest first), by their definitions."""
    n = len(last)
    correct = [r.predicted == r.realized for r in last]
    directional = [r.direction for r in last if r.direction is not None]
    brier = sum(
        (p - (1.0 if r.realized == c else 0.0)) ** 2
        for r in last
        for c, p in zip(CLASSES, r.probabilities, strict=True)
    )
    # ECE: sum over the 10 equal-width bins of (bin share) * |mean confidence - accuracy|;
    # a confidence of exactly 1.0 goes to the last bin
    ece = 0.0
    for b in range(ECE_BINS):
        members = [
            i for i, r in enumerate(last) if min(math.floor(r.confidence * ECE_BINS), 9) == b
        ]
        if members:
            mean_conf = sum(last[i].confidence for i in members) / len(members)
            accuracy = sum(correct[i] for i in members) / len(members)
            ece += len(members) / n * abs(mean_conf - accuracy)
    scores: dict[str, object] = {
        "n": n,
        "first_target_date": last[0].target,
        "last_target_date": last[-1].target,
        "accuracy": sum(correct) / n,
        "directional_accuracy": (sum(directional) / len(directional) if directional else None),
        "n_directional": len(directional),
        "brier": brier / n,
        "ece": ece,
        "mean_confidence": sum(r.confidence for r in last) / n,
        "inside_band_rate": sum(r.inside for r in last) / n,
        "mean_abs_price_error_pct": sum(abs(r.error) for r in last) / n,
    }
    for c in CLASSES:
        hits = [right for right, r in zip(correct, last, strict=True) if r.predicted == c]
        scores[f"n_{c}"] = len(hits)
        scores[f"hit_rate_{c}"] = sum(hits) / len(hits) if hits else None
    return scores


def reference_live(
    rows: Sequence[LiveRow], pairs: Sequence[tuple[str, date]], windows: Sequence[int]
) -> dict[tuple[str, str, date, int], dict[str, object]]:
    """Per (symbol, horizon, day, window): the scores of the last ``window`` evaluations with a
    target date on or before the day; nothing when there is none."""
    out: dict[tuple[str, str, date, int], dict[str, object]] = {}
    for symbol, day in set(pairs):
        for horizon in {r.horizon for r in rows if r.symbol == symbol}:
            known = sorted(
                (r for r in rows if (r.symbol, r.horizon) == (symbol, horizon) and r.target <= day),
                key=lambda r: r.target,
            )
            for window in windows if known else ():
                out[(symbol, horizon, day, window)] = reference_scores(known[-window:])
    return out


@pytest.mark.parametrize("windows", [(20, 60), (1, 7)])
def test_live_scores_match_the_reference_on_random_data(windows: tuple[int, ...]) -> None:
    rng = np.random.default_rng(20240311)
    days = weekdays(date(2023, 1, 2), 160)
    sizes = {
        ("AAA", "1D"): 120,
        ("AAA", "1W"): 45,
        ("AAA", "1M"): 8,  # fewer than any window of 20
        ("BBB", "1D"): 70,
        ("BBB", "3M"): 1,
        ("NOB", "1W"): 40,  # never predicts bearish
        ("NOD", "1D"): 25,  # never has a direction
    }
    rows = random_live_evaluations(rng, days, sizes)
    symbols = ["AAA", "BBB", "NOB", "NOD", "ZZZ"]  # ZZZ has no evaluations at all
    request_days = sorted(
        {
            days[0] - timedelta(days=3),  # before every evaluation
            days[0],
            days[-1],
            days[-1] + timedelta(days=10),  # after every evaluation
            *(days[int(i)] for i in rng.choice(len(days), size=25, replace=False)),
            date(2023, 1, 7),  # a Saturday
        }
    )
    pairs = [(s, d) for s in symbols for d in request_days]
    scores = live_scores(live_frame(rows), live_requests(pairs + pairs[:5]), windows)
    expected = reference_live(rows, pairs, windows)

    assert scores.schema == pl.Schema(LIVE_SCHEMA)
    got = {
        (r["symbol"], r["horizon"], r["partition_date"], r["window_size"]): r
        for r in scores.iter_rows(named=True)
    }
    assert len(got) == scores.height  # one row per (symbol, horizon, day, window)
    assert set(got) == set(expected)
    for key, want in expected.items():
        exact = {k: v for k, v in want.items() if not isinstance(v, float)}
        close = {k: v for k, v in want.items() if isinstance(v, float)}
        assert {k: got[key][k] for k in exact} == exact, key
        assert {k: got[key][k] for k in close} == pytest.approx(close, rel=1e-9, abs=1e-12), key
    # the sorted output order
    assert scores.select("partition_date", "symbol", "horizon", "window_size").rows() == sorted(
        (d, s, h, w) for s, h, d, w in got
    )
    # some hand-known properties of this data set
    assert not any(key[0] == "ZZZ" for key in got)
    assert all(
        r["hit_rate_bearish"] is None and r["n_bearish"] == 0
        for k, r in got.items()
        if k[0] == "NOB"
    )
    assert all(
        r["directional_accuracy"] is None and r["n_directional"] == 0
        for k, r in got.items()
        if k[0] == "NOD"
    )
    small = got[("AAA", "1M", days[-1], windows[-1])]
    assert small["n"] == min(8, windows[-1])


def test_live_scores_are_point_in_time() -> None:
    rng = np.random.default_rng(7)
    days = weekdays(date(2023, 1, 2), 120)
    rows = random_live_evaluations(rng, days, {("AAA", "1D"): 80, ("AAA", "1W"): 60})
    day = days[70]
    past = [r for r in rows if r.target <= day]
    requests = live_requests([("AAA", day)])
    # the same rows; floats up to rounding (the prefix sums run over every row of the input)
    assert_frame_equal(
        live_scores(live_frame(past), requests),
        live_scores(live_frame(rows), requests),
        rel_tol=1e-12,
        abs_tol=1e-12,
    )
    # one request at a time gives the same rows as all at once
    many = [days[10], days[40], day, days[-1]]
    together = live_scores(live_frame(rows), live_requests([("AAA", d) for d in many]))
    for d in many:
        alone = live_scores(live_frame(rows), live_requests([("AAA", d)]))
        assert_frame_equal(
            together.filter(pl.col("partition_date") == d), alone, rel_tol=1e-12, abs_tol=1e-12
        )
