"""Forecast metrics: Brier, skill, accuracy, calibration, rank IC, plots and tables by hand."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from datetime import date

import numpy as np
import polars as pl
import pytest

from swiftbolt_assets.forecasting.metrics import (
    CLASSES,
    accuracy,
    balanced_accuracy,
    brier_skill_score,
    climatology_probs,
    directional_accuracy,
    expected_calibration_error,
    multiclass_brier,
    one_hot,
    rank_ic,
    reliability_curve,
    reliability_diagram_png,
    score_all,
)
from swiftbolt_assets.metadata import markdown_table

# A 5-row forecast whose every score is worked out by hand in test_score_all_hand_values.
PROBS_5 = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.1, 0.2, 0.7],
        [0.2, 0.5, 0.3],
        [0.6, 0.3, 0.1],
        [0.1, 0.3, 0.6],
    ]
)
LABELS_5 = np.array([0, 2, 1, 2, 0])
RETURNS_5 = np.array([-0.02, 0.03, 0.001, 0.04, -0.01])


def check_png_size(png: bytes, width: int, height: int) -> None:
    """Assert the PNG IHDR chunk declares the expected pixel size."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (width, height)


def test_class_order_is_bearish_neutral_bullish() -> None:
    assert CLASSES == ("bearish", "neutral", "bullish")


def test_one_hot_places_a_single_one_per_row() -> None:
    expected = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    encoded = one_hot(np.array([2, 0, 1, 2]))
    assert encoded.dtype == np.float64
    np.testing.assert_array_equal(encoded, expected)


def test_one_hot_rejects_out_of_range_labels() -> None:
    with pytest.raises(ValueError, match="labels"):
        one_hot(np.array([0, 3]))
    with pytest.raises(ValueError, match="labels"):
        one_hot(np.array([0, -1]))


def test_brier_perfect_forecast_is_zero_and_confident_wrong_is_two() -> None:
    labels = np.array([0, 1, 2, 2, 1])
    assert multiclass_brier(one_hot(labels), labels) == 0.0
    wrong = one_hot((labels + 1) % 3)
    assert multiclass_brier(wrong, labels) == pytest.approx(2.0)


@pytest.mark.parametrize("labels", [[0, 0, 0], [2, 1, 0, 1], [1]])
def test_brier_of_uniform_forecast_is_two_thirds_on_any_labels(labels: list[int]) -> None:
    y = np.array(labels)
    uniform = np.full((y.shape[0], 3), 1.0 / 3.0)
    # (2/3)^2 + 2 * (1/3)^2 = 4/9 + 2/9 = 2/3 per row, whatever the label
    assert multiclass_brier(uniform, y) == pytest.approx(2.0 / 3.0)


def test_brier_three_row_worked_example() -> None:
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])
    labels = np.array([2, 0, 2])
    # row 0: .04+.09+.25=.38, row 1: .16+.09+.01=.26, row 2: .01+.64+.81=1.46 -> 2.10 / 3
    assert multiclass_brier(probs, labels) == pytest.approx(0.7)


def test_brier_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        multiclass_brier(np.ones((3, 2)), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="rows"):
        multiclass_brier(np.full((3, 3), 1 / 3), np.array([0, 1]))


def test_brier_skill_score_against_reference() -> None:
    assert brier_skill_score(0.5, 0.5) == 0.0
    assert brier_skill_score(0.25, 0.5) == pytest.approx(0.5)
    assert brier_skill_score(0.75, 0.5) == pytest.approx(-0.5)
    assert math.isnan(brier_skill_score(0.3, 0.0))


def test_brier_skill_of_climatology_reference_is_zero() -> None:
    labels = np.array([0, 0, 1, 2, 2, 2, 1, 0])
    reference = np.tile(climatology_probs(labels), (labels.shape[0], 1))
    ref_brier = multiclass_brier(reference, labels)
    assert brier_skill_score(multiclass_brier(reference, labels), ref_brier) == 0.0
    assert brier_skill_score(multiclass_brier(one_hot(labels), labels), ref_brier) == 1.0


def test_accuracy_and_balanced_accuracy_differ_on_imbalanced_labels() -> None:
    # six bearish, three neutral, one bullish
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 0, 0, 0, 0, 1, 1, 0, 0, 0])
    probs = one_hot(predicted) * 0.6 + 0.4 / 3
    # accuracy: (5 + 1 + 0) / 10; balanced: (5/6 + 1/3 + 0/1) / 3 = 7/18
    assert accuracy(probs, labels) == pytest.approx(0.6)
    assert balanced_accuracy(probs, labels) == pytest.approx(7.0 / 18.0)


def test_balanced_accuracy_averages_only_classes_present() -> None:
    labels = np.array([0, 0, 0, 2])
    probs = one_hot(np.array([0, 0, 1, 2]))
    # bearish recall 2/3, bullish recall 1, neutral absent -> (2/3 + 1) / 2
    assert balanced_accuracy(probs, labels) == pytest.approx(5.0 / 6.0)
    assert accuracy(probs, labels) == pytest.approx(0.75)


def test_accuracy_breaks_ties_towards_the_first_class() -> None:
    probs = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4]])
    assert accuracy(probs, np.array([0, 1])) == 1.0
    assert accuracy(probs, np.array([1, 2])) == 0.0


def test_directional_accuracy_ignores_rows_with_a_zero() -> None:
    score = np.array([0.2, -0.1, 0.0, 0.3, -0.4, 0.5])
    realized = np.array([0.01, 0.02, 0.05, 0.0, -0.03, 0.01])
    # counted rows 0 (hit), 1 (miss), 4 (hit), 5 (hit); rows 2 and 3 have a zero
    assert directional_accuracy(score, realized) == pytest.approx(0.75)


def test_directional_accuracy_is_nan_without_non_zero_pairs() -> None:
    assert math.isnan(directional_accuracy(np.array([0.0, 0.1]), np.array([0.2, 0.0])))
    assert math.isnan(directional_accuracy(np.array([]), np.array([])))


def test_ece_is_zero_for_perfectly_calibrated_bins() -> None:
    confidence = np.array([0.25] * 4 + [0.75] * 4)
    correct = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.0, abs=1e-12)


def test_ece_hand_built_case() -> None:
    confidence = np.array([0.95, 0.95, 0.95, 0.95, 0.55, 0.55])
    correct = np.array([1, 1, 0, 0, 1, 0])
    # bin 9: 4/6 * |0.5 - 0.95| = 0.3; bin 5: 2/6 * |0.5 - 0.55| = 1/60
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.3 + 1 / 60)


def test_ece_depends_on_bin_count() -> None:
    confidence = np.array([0.55, 0.65])
    correct = np.array([1, 0])
    # ten bins: 0.5 * 0.45 + 0.5 * 0.65 = 0.55; one bin: |0.5 - 0.6| = 0.1
    assert expected_calibration_error(confidence, correct, bins=10) == pytest.approx(0.55)
    assert expected_calibration_error(confidence, correct, bins=1) == pytest.approx(0.1)


def test_reliability_curve_keeps_non_empty_bins_and_puts_one_in_the_last_bin() -> None:
    confidence = np.array([0.05, 0.15, 0.12, 0.9, 1.0])
    correct = np.array([0, 1, 0, 1, 0])
    mean_conf, freq, counts = reliability_curve(confidence, correct)
    np.testing.assert_allclose(mean_conf, [0.05, 0.135, 0.95])
    np.testing.assert_allclose(freq, [0.0, 0.5, 0.5])
    np.testing.assert_array_equal(counts, [1, 2, 2])


def rank_frame(per_date: dict[date, tuple[list[float], list[float]]]) -> pl.DataFrame:
    """Long frame of (date, score, ret) rows from per-date lists."""
    return pl.DataFrame(
        [
            {"date": day, "score": s, "ret": r}
            for day, (scores, rets) in per_date.items()
            for s, r in zip(scores, rets, strict=True)
        ]
    )


def test_rank_ic_is_one_for_monotone_and_minus_one_for_reversed_scores() -> None:
    rng = np.random.default_rng(7)
    days = [date(2026, 3, d) for d in (2, 3, 4)]
    rets = {day: rng.normal(size=8).tolist() for day in days}
    monotone = rank_frame({d: ([math.exp(3 * r) for r in rets[d]], rets[d]) for d in days})
    reversed_ = rank_frame({d: ([-r for r in rets[d]], rets[d]) for d in days})
    assert rank_ic(monotone["date"], monotone["score"], monotone["ret"]) == pytest.approx(1.0)
    assert rank_ic(reversed_["date"], reversed_["score"], reversed_["ret"]) == pytest.approx(-1.0)


def test_rank_ic_averages_dates_and_skips_small_or_constant_dates() -> None:
    frame = rank_frame(
        {
            date(2026, 3, 2): ([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]),  # rho = 1
            # ret ranks [2, 1, 3, 4, 5]: sum d^2 = 2, rho = 1 - 6*2/(5*24) = 0.9
            date(2026, 3, 3): ([1, 2, 3, 4, 5], [0.2, 0.1, 0.3, 0.4, 0.5]),
            date(2026, 3, 4): ([1, 2, 3, 4], [4, 3, 2, 1]),  # 4 rows: skipped
            date(2026, 3, 5): ([1, 1, 1, 1, 1], [1, 2, 3, 4, 5]),  # constant score: skipped
        }
    )
    assert rank_ic(frame["date"], frame["score"], frame["ret"]) == pytest.approx(0.95)
    # same rows shuffled and dates as a numpy array of strings
    order = np.random.default_rng(0).permutation(frame.height)
    shuffled = frame[order.tolist()]
    dates = np.array([d.isoformat() for d in shuffled["date"].to_list()])
    assert rank_ic(dates, shuffled["score"], shuffled["ret"]) == pytest.approx(0.95)


def test_rank_ic_uses_average_ranks_for_ties() -> None:
    from scipy.stats import spearmanr

    score = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 4.0])
    ret = np.array([0.1, 0.3, 0.2, 0.2, 0.5, 0.4])
    expected = float(spearmanr(score, ret).statistic)
    assert not math.isclose(expected, 1.0)
    assert rank_ic([date(2026, 3, 2)] * 6, score, ret) == pytest.approx(expected)


def test_rank_ic_is_nan_when_no_date_qualifies() -> None:
    assert math.isnan(rank_ic(["a"] * 4, [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]))


def test_climatology_is_laplace_smoothed_frequency() -> None:
    labels = np.array([0, 0, 0, 1, 0, 1, 0])
    # counts (5, 2, 0) -> (6, 3, 1) / 10
    np.testing.assert_allclose(climatology_probs(labels), [0.6, 0.3, 0.1])
    np.testing.assert_allclose(climatology_probs(np.array([], dtype=int)), [1 / 3] * 3)


def test_score_all_hand_values() -> None:
    scores = score_all(PROBS_5, LABELS_5, RETURNS_5, [date(2026, 3, 2)] * 5)
    assert set(scores) == {
        "n",
        "accuracy",
        "balanced_accuracy",
        "directional_accuracy",
        "brier",
        "ece",
        "rank_ic",
    }
    assert scores["n"] == 5
    # argmax 0,2,1,0,2 vs labels 0,2,1,2,0
    assert scores["accuracy"] == pytest.approx(0.6)
    assert scores["balanced_accuracy"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    # p_bull - p_bear = -.6, .6, .1, -.5, .5 against returns -, +, +, +, -
    assert scores["directional_accuracy"] == pytest.approx(0.6)
    # .14 + .14 + .38 + (.36+.09+.81) + (.81+.09+.36) = 3.18
    assert scores["brier"] == pytest.approx(3.18 / 5)
    # bins 7: 2/5*|1-.7|, 5: 1/5*|1-.5|, 6: 2/5*|0-.6|
    assert scores["ece"] == pytest.approx(0.12 + 0.1 + 0.24)
    # score ranks [1,5,3,2,4], return ranks [1,4,3,5,2]: sum d^2 = 14 -> 1 - 84/120
    assert scores["rank_ic"] == pytest.approx(0.3)


def test_reliability_diagram_is_a_png_of_600_by_450() -> None:
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.34, 1.0, size=400)
    correct = (rng.uniform(size=400) < confidence).astype(float)
    png = reliability_diagram_png(
        {"model": (confidence, correct), "climatology": (np.full(400, 0.4), correct)},
        "Reliability: test",
    )
    assert png.startswith(b"\x89PNG")
    assert len(png) > 1024
    check_png_size(png, 600, 450)
    other = reliability_diagram_png({"model": (confidence, 1 - correct)}, "Reliability: test")
    assert other != png


def test_reliability_diagram_does_not_import_pyplot() -> None:
    code = (
        "import sys, numpy as np\n"
        "from swiftbolt_assets.forecasting.metrics import reliability_diagram_png\n"
        "png = reliability_diagram_png({'m': (np.array([0.5, 0.9]), np.array([1.0, 0.0]))}, 't')\n"
        "assert png.startswith(b'\\x89PNG')\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "False"


def test_markdown_table_formats_floats_ints_and_nan() -> None:
    rows = [
        {"model": "lgbm", "n": 120, "brier": 0.51234, "rank_ic": math.nan},
        {"model": "climatology", "n": np.int64(120), "brier": np.float64(0.6666), "rank_ic": 0.02},
    ]
    table = markdown_table(rows, ["model", "n", "brier", "rank_ic"])
    assert table.splitlines() == [
        "| model | n | brier | rank_ic |",
        "| --- | --- | --- | --- |",
        "| lgbm | 120 | 0.512 | – |",
        "| climatology | 120 | 0.667 | 0.020 |",
    ]


def test_markdown_table_follows_column_order_and_marks_missing_cells() -> None:
    table = markdown_table([{"a": 1.0, "b": "x"}], ["b", "c", "a"])
    assert table.splitlines()[2] == "| x | – | 1.000 |"
