"""Intervals and n_eff of the rolling live scores (evaluation/live.py, live_intervals.py): they
hold the point, narrow with n, widen under overlapping outcomes, are null without 4 blocks, equal
score_intervals on the same rows, and never mix windows."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from swiftbolt_assets.evaluation import live_intervals
from swiftbolt_assets.evaluation.live import INTERVAL_SCORES, LIVE_SCHEMA, live_scores
from swiftbolt_assets.forecasting.intervals import score_intervals
from swiftbolt_assets.forecasting.labels import CLASSES
from swiftbolt_assets_tests.evaluation_frames import HORIZONS, weekdays

DAYS = weekdays(date(2023, 1, 2), 200)
BOUNDS = [f"{s}_{side}" for s in INTERVAL_SCORES for side in ("low", "high")]
N_BOOT = 400


def evaluations(
    rng: np.random.Generator,
    symbols: list[str],
    horizon: str,
    days: list[date],
    persist: int | None = None,
) -> pl.DataFrame:
    """One evaluation per symbol and day, each drawing its own probabilities and label; with
    ``persist``, each symbol's forecast is fixed and its realized label is drawn once per run of
    ``persist`` consecutive target dates (random phase): with 1 iid outcomes, with the horizon
    the outcomes of labels overlapping it."""
    n_days = len(days)
    frames = []
    for symbol in symbols:
        if persist is not None:
            probs = np.tile(rng.dirichlet([3.0, 3.0, 3.0]), (n_days, 1))
            run = (np.arange(n_days) + rng.integers(0, persist)) // persist
            realized = rng.integers(0, 3, n_days // persist + 2)[run]
        else:
            probs = rng.dirichlet([2.0, 2.0, 2.0], size=n_days)
            realized = rng.integers(0, 3, n_days)
        predicted = probs.argmax(axis=1)
        directional = (predicted != 1) & (realized != 1)
        frames.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "horizon": horizon,
                    "target_date": days,
                    "predicted_label": np.array(CLASSES)[predicted],
                    "realized_label": np.array(CLASSES)[realized],
                    **{f"p_{c}": probs[:, i] for i, c in enumerate(CLASSES)},
                    "confidence": probs.max(axis=1),
                    "label_correct": predicted == realized,
                    "direction_correct": pl.Series(predicted == realized).set(
                        pl.Series(~directional), None
                    ),
                    "inside_band": rng.random(n_days) < 0.6,
                    "price_error_pct": rng.normal(0.0, 3.0, n_days),
                }
            )
        )
    return pl.concat(frames)


def requests(symbols: list[str], days: list[date]) -> pl.DataFrame:
    return pl.DataFrame(
        {"partition_date": [d for d in days for _ in symbols], "symbol": symbols * len(days)}
    )


def width(scores: pl.DataFrame, score: str) -> float:
    return float(scores.select((pl.col(f"{score}_high") - pl.col(f"{score}_low")).mean()).item())


def test_the_interval_holds_the_point_and_n_eff_is_at_most_n() -> None:
    rng = np.random.default_rng(1)
    symbols = [f"S{i}" for i in range(6)]
    frame = pl.concat(
        [evaluations(rng, symbols, "1D", DAYS[:90]), evaluations(rng, symbols, "1W", DAYS[:90])]
    )
    scores = live_scores(frame, requests(symbols, DAYS[10:90:7]), n_boot=N_BOOT)
    assert scores.schema == pl.Schema(LIVE_SCHEMA)
    bounded = scores.filter(pl.col("n_eff").is_not_null())
    # every 1D window from 8 evaluations on (4 blocks of 2), 1W only in full 60-windows
    assert (
        bounded.filter(pl.col("horizon") == "1D").height
        == scores.filter((pl.col("horizon") == "1D") & (pl.col("n") >= 8)).height
    )
    assert set(bounded.filter(pl.col("horizon") == "1W").get_column("window_size")) == {60}
    assert bounded.height > 60
    for score in INTERVAL_SCORES:
        rows = bounded.drop_nulls(f"{score}_low")
        assert rows.height > 60, score
        inside = (pl.col(f"{score}_low") <= pl.col(score)) & (
            pl.col(score) <= pl.col(f"{score}_high")
        )
        # a percentile interval of a biased score (ECE over 10 bins on a few rows) need not
        # hold its point (see live_schema): only the means are asserted inside
        if score != "ece":
            assert rows.filter(~inside).is_empty(), score
        assert (rows.get_column(f"{score}_low") < rows.get_column(f"{score}_high")).all(), score
    assert (bounded.get_column("n_eff") <= bounded.get_column("n")).all()
    assert (bounded.get_column("n_eff") > 0).all()


def test_iid_intervals_narrow_like_one_over_the_root_of_n() -> None:
    rng = np.random.default_rng(2)
    symbols = [f"S{i}" for i in range(150)]
    frame = evaluations(rng, symbols, "1D", DAYS[:64])
    scores = live_scores(frame, requests(symbols, [DAYS[63]]), windows=(16, 64), n_boot=N_BOOT)
    short, long = (scores.filter(pl.col("window_size") == w) for w in (16, 64))
    assert set(short.get_column("n")) == {16}
    assert set(long.get_column("n")) == {64}
    for score in ("accuracy", "brier"):
        # 4 times the evaluations: about half the width
        ratio = width(short, score) / width(long, score)
        assert 1.6 < ratio < 2.4, (score, ratio)
    # the ECE of 16 rows in 10 bins is mostly bias, which shrinks with n too: narrower, less so
    assert width(short, "ece") > 1.3 * width(long, "ece")
    # iid outcomes: n_eff close to n
    assert long.get_column("n_eff").mean() > 0.75 * 64  # type: ignore[operator]


def test_overlapping_outcomes_give_wider_intervals_and_smaller_n_eff_than_iid() -> None:
    rng = np.random.default_rng(3)
    symbols = [f"S{i}" for i in range(150)]
    asked = requests(symbols, [DAYS[59]])
    iid = live_scores(evaluations(rng, symbols, "1W", DAYS[:60], persist=1), asked, n_boot=N_BOOT)
    overlapping = live_scores(
        evaluations(rng, symbols, "1W", DAYS[:60], persist=HORIZONS["1W"]), asked, n_boot=N_BOOT
    )
    iid, overlapping = (s.filter(pl.col("window_size") == 60) for s in (iid, overlapping))
    assert set(iid.get_column("n")) == set(overlapping.get_column("n")) == {60}
    for score in ("accuracy", "brier"):
        assert width(overlapping, score) > 1.5 * width(iid, score), score
    assert overlapping.get_column("n_eff").mean() < 0.45 * 60  # type: ignore[operator]
    assert iid.get_column("n_eff").mean() > 0.75 * 60  # type: ignore[operator]


@pytest.mark.parametrize(
    ("horizon", "known", "window", "bounded"),
    [
        ("1D", 7, 20, False),  # 3.5 blocks of 2
        ("1D", 8, 20, True),  # 4 blocks
        ("1W", 60, 20, False),  # 2 blocks of 10
        ("1W", 39, 60, False),  # 3.9 blocks
        ("1W", 40, 60, True),
        ("1M", 60, 60, False),  # 60 / 42: 1.4 blocks
        ("6M", 60, 60, False),
    ],
)
def test_a_window_of_fewer_than_four_blocks_has_null_bounds(
    horizon: str, known: int, window: int, bounded: bool
) -> None:
    rng = np.random.default_rng(4)
    frame = evaluations(rng, ["AAA"], horizon, DAYS[:known])
    scores = live_scores(frame, requests(["AAA"], [DAYS[known - 1]]), windows=(window,))
    row = scores.row(0, named=True)
    assert row["n"] == min(known, window)
    assert row["accuracy"] is not None  # the points stay
    assert row["brier"] is not None
    interval_columns = [c for c in BOUNDS if not c.startswith("directional")] + ["n_eff"]
    assert [row[c] is not None for c in interval_columns] == [bounded] * len(interval_columns)


def test_bounds_equal_score_intervals_on_the_window_rows() -> None:
    rng = np.random.default_rng(5)
    frame = evaluations(rng, ["AAA"], "1W", DAYS[:80])
    scores = live_scores(frame, requests(["AAA"], [DAYS[79]]), windows=(50,), n_boot=N_BOOT)
    row = scores.row(0, named=True)
    last = frame.tail(50)
    labels = last.get_column("realized_label").replace_strict(list(CLASSES), [0, 1, 2]).to_numpy()
    expected = score_intervals(
        last.select(f"p_{c}" for c in CLASSES).to_numpy(),
        labels,
        last.get_column("target_date"),
        np.zeros(50),
        np.full(3, 1 / 3),
        block_length=2 * HORIZONS["1W"],
        n_boot=N_BOOT,
    )
    for score in ("accuracy", "brier", "ece"):  # the same definitions on these rows
        interval = expected.intervals[score]
        assert row[score] == pytest.approx(interval.point, abs=1e-12)
        assert row[f"{score}_low"] == pytest.approx(interval.low, abs=1e-12), score
        assert row[f"{score}_high"] == pytest.approx(interval.high, abs=1e-12), score
    assert row["n_eff"] == pytest.approx(expected.n_eff, rel=1e-9)


def test_windows_computed_together_equal_windows_computed_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(6)
    symbols = ["AAA", "BBB", "CCC"]
    frame = pl.concat(
        [
            evaluations(rng, symbols, "1D", DAYS[:100]),
            evaluations(rng, symbols[:2], "1W", DAYS[20:110], persist=5),
            evaluations(rng, symbols[1:], "1M", DAYS[:100]),
        ]
    )
    frame = frame.sample(fraction=1.0, shuffle=True, seed=6)  # input order does not matter
    days = [DAYS[30], DAYS[64], DAYS[99], DAYS[109]]
    # small chunks: the windows of one shape are split over several matrix products
    monkeypatch.setattr(live_intervals, "MAX_VALUES", 7 * N_BOOT * 16)
    together = live_scores(frame, requests(symbols, days), n_boot=N_BOOT)
    assert together.filter(pl.col("n_eff").is_not_null()).height > 20
    for symbol in symbols:
        for day in days:
            alone = live_scores(
                frame.filter(pl.col("symbol") == symbol), requests([symbol], [day]), n_boot=N_BOOT
            )
            mine = together.filter((pl.col("symbol") == symbol) & (pl.col("partition_date") == day))
            assert mine.height == alone.height
            assert mine.select(BOUNDS, "n_eff").rows() == alone.select(BOUNDS, "n_eff").rows()


def test_a_window_whose_rows_all_score_the_same_has_n_eff_n_and_a_point_interval() -> None:
    rng = np.random.default_rng(7)
    # one forecast, one realized label throughout: every row has the same Brier and outcome
    frame = evaluations(rng, ["AAA", "BBB"], "1D", DAYS[:30], persist=1000)
    scores = live_scores(frame, requests(["AAA", "BBB"], [DAYS[29]]), n_boot=N_BOOT)
    assert scores.height == 4
    for row in scores.iter_rows(named=True):
        assert row["n_eff"] == row["n"]
        for score in ("accuracy", "brier", "ece"):
            assert row[f"{score}_low"] == pytest.approx(row[score], abs=1e-12), score
            assert row[f"{score}_high"] == pytest.approx(row[score], abs=1e-12), score
