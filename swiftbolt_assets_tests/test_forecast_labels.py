"""Forecast labels (thresholds, classes, forward/past returns) and the retrain cadence, by hand."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from swiftbolt_assets.calendar import sessions_between
from swiftbolt_assets.forecasting.labels import (
    BEARISH,
    BULLISH,
    CLASSES,
    NEUTRAL,
    NEUTRAL_Z,
    add_labels,
    class_names,
    classify,
    threshold_exprs,
)
from swiftbolt_assets.forecasting.retraining import (
    cutoff_before,
    next_period_start,
    period_cutoffs,
    period_start,
)


@pytest.fixture(scope="module")
def xnys_sessions() -> list[date]:
    return sessions_between("XNYS", date(2020, 1, 2), date(2022, 12, 30))


# --- thresholds and classes ----------------------------------------------------------------


def test_thresholds_are_volatility_scaled_log_widths_as_simple_returns() -> None:
    down, up = threshold_exprs(pl.col("sigma"), 5)
    row = pl.DataFrame({"sigma": [0.02]}).select(down.alias("down"), up.alias("up")).row(0)
    width = 0.43 * 0.02 * math.sqrt(5)  # 0.0192302
    assert row[0] == pytest.approx(math.exp(-width) - 1.0, rel=1e-12)
    assert row[1] == pytest.approx(math.exp(width) - 1.0, rel=1e-12)
    assert row[1] == pytest.approx(0.0194163, abs=1e-7)
    assert row[0] == pytest.approx(-0.0190465, abs=1e-7)
    assert row[0] < 0.0 < row[1]


def test_thresholds_grow_with_the_square_root_of_the_horizon() -> None:
    frame = pl.DataFrame({"sigma": [0.01]})
    widths = {}
    for days in (1, 4, 16):
        _, up = threshold_exprs(pl.col("sigma"), days)
        widths[days] = math.log1p(frame.select(up).item())
    assert widths[1] == pytest.approx(NEUTRAL_Z * 0.01, rel=1e-12)
    assert widths[4] == pytest.approx(2 * widths[1], rel=1e-12)
    assert widths[16] == pytest.approx(4 * widths[1], rel=1e-12)


def test_classify_is_strict_at_the_thresholds_and_keeps_nulls() -> None:
    up = 0.0123
    down = -0.0121
    frame = pl.DataFrame(
        {
            "ret": [0.05, -0.05, 0.0, up, down, None, 0.05, 0.0123000001, -0.0121000001],
            "down": [down, down, down, down, down, down, None, down, down],
            "up": [up, up, up, up, up, up, up, up, up],
        },
        schema={"ret": pl.Float64, "down": pl.Float64, "up": pl.Float64},
    )
    labels = frame.select(classify(pl.col("ret"), pl.col("down"), pl.col("up")).alias("label"))
    assert labels.schema["label"] == pl.Int8
    assert labels.get_column("label").to_list() == [
        BULLISH,
        BEARISH,
        NEUTRAL,
        NEUTRAL,  # exactly the up threshold: not above it
        NEUTRAL,  # exactly the down threshold: not below it
        None,
        None,  # no threshold: no label
        BULLISH,
        BEARISH,
    ]
    assert (BEARISH, NEUTRAL, BULLISH) == (0, 1, 2)


def test_class_names_map_indices_to_the_contract_names() -> None:
    names = pl.DataFrame({"i": [2, 0, 1]}, schema={"i": pl.Int8}).select(class_names(pl.col("i")))
    assert names.to_series().to_list() == ["bullish", "bearish", "neutral"]
    assert CLASSES == ("bearish", "neutral", "bullish")


# --- add_labels ----------------------------------------------------------------------------

CLOSE_A = [100.0, 102.0, 101.0, 100.2, 110.0, 100.5]
CLOSE_B = [50.0, 49.0, 52.0, 51.0, 53.0, 55.0]
SIGMA = 0.01


def two_symbol_frame(sessions: list[date]) -> pl.DataFrame:
    """Symbol A on sessions 0..5 of ``sessions``, B on 2..7; rows deliberately shuffled."""
    rows = [("A", sessions[i], i, CLOSE_A[i]) for i in range(6)]
    rows += [("B", sessions[i + 2], i + 2, CLOSE_B[i]) for i in range(6)]
    order = [7, 0, 11, 3, 5, 9, 1, 10, 2, 6, 4, 8]
    return pl.DataFrame(
        [rows[i] for i in order],
        schema={
            "symbol": pl.String,
            "session_date": pl.Date,
            "bar_index": pl.Int32,
            "adj_close": pl.Float64,
        },
        orient="row",
    ).with_columns(pl.lit(SIGMA).alias("sigma"))


@pytest.fixture(scope="module")
def good_friday_sessions() -> list[date]:
    # 2021-03-29 .. 2021-04-09 spans Good Friday (2021-04-02, closed).
    return sessions_between("XNYS", date(2021, 3, 29), date(2021, 4, 9))


def test_add_labels_forward_returns_by_hand(good_friday_sessions: list[date]) -> None:
    labelled = add_labels(two_symbol_frame(good_friday_sessions), {"2D": 2, "1D": 1})
    a = labelled.filter(pl.col("symbol") == "A")
    b = labelled.filter(pl.col("symbol") == "B")
    assert a.get_column("session_date").to_list() == good_friday_sessions[:6]
    fwd_a = a.get_column("fwd_2D").to_list()
    assert fwd_a[0] == pytest.approx(101.0 / 100.0 - 1.0)
    assert fwd_a[1] == pytest.approx(100.2 / 102.0 - 1.0)
    assert fwd_a[3] == pytest.approx(100.5 / 100.2 - 1.0)
    assert b.get_column("fwd_2D").to_list()[1] == pytest.approx(51.0 / 49.0 - 1.0)
    assert a.get_column("fwd_1D").to_list()[4] == pytest.approx(100.5 / 110.0 - 1.0)
    # width = 0.43 * 0.01 * sqrt(2) = 0.00608: +1 %, -1.76 %, +8.9 %, +0.30 %
    assert a.get_column("label_2D").to_list() == [BULLISH, BEARISH, BULLISH, NEUTRAL, None, None]


def test_add_labels_nulls_the_last_rows_and_never_crosses_symbols(
    good_friday_sessions: list[date],
) -> None:
    labelled = add_labels(two_symbol_frame(good_friday_sessions), {"2D": 2, "1D": 1})
    for symbol in ("A", "B"):
        rows = labelled.filter(pl.col("symbol") == symbol)
        for name, days in (("2D", 2), ("1D", 1)):
            for column in (f"fwd_{name}", f"end_{name}", f"end_index_{name}", f"label_{name}"):
                values = rows.get_column(column).to_list()
                assert values[-days:] == [None] * days, (symbol, column)
                assert None not in values[:-days], (symbol, column)
            past = rows.get_column(f"past_label_{name}").to_list()
            assert past[:days] == [None] * days
            assert None not in past[days:]


def test_add_labels_end_dates_are_sessions_later_not_calendar_days(
    good_friday_sessions: list[date],
) -> None:
    labelled = add_labels(two_symbol_frame(good_friday_sessions), {"2D": 2, "1D": 1})
    a = labelled.filter(pl.col("symbol") == "A")
    b = labelled.filter(pl.col("symbol") == "B")
    # A's 2021-04-01 (index 3) + 1 session is 2021-04-05 (Good Friday 2021-04-02 is closed).
    assert a.get_column("session_date")[3] == date(2021, 4, 1)
    assert a.get_column("end_1D")[3] == date(2021, 4, 5)
    assert a.get_column("end_2D").to_list()[:4] == good_friday_sessions[2:6]
    assert b.get_column("end_2D").to_list()[:4] == good_friday_sessions[4:8]
    assert a.get_column("end_index_2D").to_list() == [2, 3, 4, 5, None, None]
    assert b.get_column("end_index_2D").to_list() == [4, 5, 6, 7, None, None]
    assert b.get_column("end_index_1D").to_list() == [3, 4, 5, 6, 7, None]


def test_add_labels_past_label_uses_the_previous_h_sessions(
    good_friday_sessions: list[date],
) -> None:
    labelled = add_labels(two_symbol_frame(good_friday_sessions), {"2D": 2})
    a = labelled.filter(pl.col("symbol") == "A")
    # 101/100 = +1 %, 100.2/102 = -1.8 %, 110/101 = +8.9 %, 100.5/100.2 = +0.3 % (width 0.61 %)
    assert a.get_column("past_label_2D").to_list() == [
        None,
        None,
        BULLISH,
        BEARISH,
        BULLISH,
        NEUTRAL,
    ]
    b = labelled.filter(pl.col("symbol") == "B")
    # 52/50 = +4 %, 51/49 = +4.1 %, 53/52 = +1.9 %, 55/51 = +7.8 %
    assert b.get_column("past_label_2D").to_list() == [None, None, 2, 2, 2, 2]
    width = NEUTRAL_Z * SIGMA * math.sqrt(2)
    assert a.get_column("up_2D").to_list() == pytest.approx([math.exp(width) - 1.0] * 6)
    assert a.get_column("down_2D").to_list() == pytest.approx([math.exp(-width) - 1.0] * 6)
    assert "past_2D" not in labelled.columns


def test_add_labels_without_bar_index_has_no_end_index(
    good_friday_sessions: list[date],
) -> None:
    frame = two_symbol_frame(good_friday_sessions).drop("bar_index")
    labelled = add_labels(frame, {"2D": 2})
    assert "end_index_2D" not in labelled.columns
    assert labelled.height == 12


def test_gaussian_returns_split_into_thirds_with_neutral_z() -> None:
    rng = np.random.default_rng(20240601)
    n = 20_000
    sigma = 0.013
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))
    frame = pl.DataFrame(
        {
            "symbol": ["X"] * n,
            "session_date": pl.date_range(
                date(1950, 1, 1), date(1950, 1, 1) + timedelta(days=n - 1), eager=True
            ),
            "adj_close": closes,
            "sigma": [sigma] * n,
        }
    )
    labels = add_labels(frame, {"1D": 1}).get_column("label_1D").drop_nulls()
    assert labels.len() == n - 1
    shares = labels.value_counts(normalize=True).sort("label_1D")
    assert shares.get_column("label_1D").to_list() == [BEARISH, NEUTRAL, BULLISH]
    for share in shares.get_column("proportion").to_list():
        assert share == pytest.approx(1.0 / 3.0, abs=0.03)


# --- cadence -------------------------------------------------------------------------------


def test_period_start_monthly_quarterly_yearly() -> None:
    day = date(2021, 5, 17)
    assert period_start(day, 1) == date(2021, 5, 1)
    assert period_start(day, 3) == date(2021, 4, 1)
    assert period_start(day, 12) == date(2021, 1, 1)
    assert period_start(day, 6) == date(2021, 1, 1)
    assert period_start(date(2021, 12, 31), 3) == date(2021, 10, 1)
    assert period_start(date(2021, 1, 1), 1) == date(2021, 1, 1)


@pytest.mark.parametrize("months", [0, 5, 7, -1, 24])
def test_period_start_rejects_cadences_that_do_not_divide_a_year(months: int) -> None:
    with pytest.raises(ValueError, match="divide a year"):
        period_start(date(2021, 5, 17), months)


def test_next_period_start_rolls_over_the_year() -> None:
    assert next_period_start(date(2021, 12, 1), 1) == date(2022, 1, 1)
    assert next_period_start(date(2021, 10, 1), 3) == date(2022, 1, 1)
    assert next_period_start(date(2021, 1, 1), 12) == date(2022, 1, 1)
    assert next_period_start(date(2021, 4, 1), 3) == date(2021, 7, 1)


def test_cutoff_before_is_the_last_session_strictly_before(xnys_sessions: list[date]) -> None:
    assert cutoff_before(xnys_sessions, date(2021, 4, 5)) == date(2021, 4, 1)
    assert cutoff_before(xnys_sessions, date(2021, 4, 1)) == date(2021, 3, 31)
    assert cutoff_before(xnys_sessions, xnys_sessions[0]) is None


def test_the_calendar_has_the_holidays_the_cutoffs_rely_on(xnys_sessions: list[date]) -> None:
    assert date(2021, 4, 2) not in xnys_sessions  # Good Friday
    assert date(2021, 4, 1) in xnys_sessions
    assert date(2021, 1, 29) in xnys_sessions  # a Friday; Jan 30/31 are a weekend
    assert date(2021, 2, 26) in xnys_sessions
    assert date(2021, 4, 30) in xnys_sessions
    assert date(2021, 5, 3) in xnys_sessions


def test_period_cutoffs_monthly_on_xnys(xnys_sessions: list[date]) -> None:
    cutoffs = period_cutoffs(xnys_sessions, date(2021, 2, 10), date(2021, 4, 21), 1)
    assert cutoffs == [date(2021, 1, 29), date(2021, 2, 26), date(2021, 3, 31)]


def test_period_cutoffs_include_the_next_period_once_its_cutoff_has_data(
    xnys_sessions: list[date],
) -> None:
    cutoffs = period_cutoffs(xnys_sessions, date(2021, 2, 10), date(2021, 4, 30), 1)
    assert cutoffs == [date(2021, 1, 29), date(2021, 2, 26), date(2021, 3, 31), date(2021, 4, 30)]
    # One session earlier the May cutoff has no data yet.
    earlier = period_cutoffs(xnys_sessions, date(2021, 2, 10), date(2021, 4, 29), 1)
    assert earlier == [date(2021, 1, 29), date(2021, 2, 26), date(2021, 3, 31)]


def test_period_cutoffs_quarterly_on_xnys(xnys_sessions: list[date]) -> None:
    cutoffs = period_cutoffs(xnys_sessions, date(2021, 2, 10), date(2021, 4, 21), 3)
    assert cutoffs == [date(2020, 12, 31), date(2021, 3, 31)]


def test_a_nan_return_or_threshold_gives_no_label_not_a_class() -> None:
    frame = pl.DataFrame(
        {
            "r": [float("nan"), 0.05, 0.05],
            "down": [-0.01, float("nan"), -0.01],
            "up": [0.01, 0.01, float("nan")],
        }
    )
    labels = frame.select(classify(pl.col("r"), pl.col("down"), pl.col("up"))).to_series()
    assert labels.to_list() == [None, None, None]
