"""The pure loops behind the forecasting assets: which versions are due, training them (with the
skip reasons), and which model and calibration serve which day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl
import pytest

from swiftbolt_assets.calendar import sessions_between
from swiftbolt_assets.forecasting.forecast import ConfidenceMap
from swiftbolt_assets.forecasting.retraining import due_versions
from swiftbolt_assets.forecasting.serving import (
    NO_FEATURES,
    input_skips,
    latest_before,
    serve_forecasts,
)
from swiftbolt_assets.forecasting.synthesizer import WEIGHT_SCHEMA
from swiftbolt_assets.forecasting.training import MIN_TRAIN_ROWS, train_versions
from swiftbolt_assets.forecasting.walk_forward import TrainingParams
from swiftbolt_assets_tests.test_forecast_models_pure import synthetic_frame


@pytest.fixture(scope="module")
def sessions() -> list[date]:
    return sessions_between("XNYS", date(2017, 1, 3), date(2022, 12, 30))


@dataclass(frozen=True)
class Entry:
    version_id: str
    horizon: str
    trained_through: date


@dataclass(frozen=True)
class Calibration:
    version_id: str
    horizon: str
    fitted_through: date
    mapping: ConfidenceMap


def test_due_versions_are_the_missing_ones_cutoff_by_cutoff(sessions: list[date]) -> None:
    existing = {("1D", date(2021, 12, 31)), ("1W", date(2022, 1, 31))}
    plan = due_versions(
        sessions, date(2022, 1, 10), date(2022, 2, 15), 1, keys=["1D", "1W"], existing=existing
    )
    # go-live in January: its cutoff is the last session of December; February's is January 31
    assert plan.cutoffs == [date(2021, 12, 31), date(2022, 1, 31)]
    assert plan.due == [(date(2021, 12, 31), "1W"), (date(2022, 1, 31), "1D")]
    everything = {(h, c) for c in plan.cutoffs for h in ("1D", "1W")}
    assert (
        due_versions(
            sessions,
            date(2022, 1, 10),
            date(2022, 2, 15),
            1,
            keys=["1D", "1W"],
            existing=everything,
        ).due
        == []
    )


def test_latest_before_never_serves_a_version_of_the_day_itself() -> None:
    entries = [
        Entry("1D-a", "1D", date(2022, 1, 31)),
        Entry("1W-a", "1W", date(2022, 2, 28)),
        Entry("1D-b", "1D", date(2022, 2, 28)),
    ]

    def through(e: Entry) -> date:
        return e.trained_through

    assert latest_before(entries, "1D", date(2022, 2, 28), through=through) == entries[0]
    assert latest_before(entries, "1D", date(2022, 3, 1), through=through) == entries[2]
    assert latest_before(entries, "1D", date(2022, 1, 31), through=through) is None
    assert latest_before(entries, "1M", date(2022, 3, 1), through=through) is None


def test_input_skips_name_the_missing_row_and_the_row_that_cannot_be_forecast() -> None:
    wanted = pl.DataFrame({"as_of_date": [date(2022, 3, 1)] * 3, "symbol": ["AAA", "BBB", "CCC"]})
    inputs = pl.DataFrame(
        {
            "as_of_date": [date(2022, 3, 1)] * 2,
            "symbol": ["AAA", "BBB"],
            "skip_reason": [None, "too little history: 12 daily sessions, 200 needed"],
        }
    )
    skips = pl.concat(input_skips(wanted, inputs)).sort("symbol")
    assert skips.get_column("symbol").to_list() == ["BBB", "CCC"]
    assert skips.get_column("horizon").to_list() == ["all", "all"]
    assert skips.get_column("reason").to_list() == [
        "too little history: 12 daily sessions, 200 needed",
        NO_FEATURES,
    ]


def test_without_a_promoted_model_every_row_is_skipped_with_its_reason() -> None:
    ready = pl.DataFrame(
        {
            "as_of_date": [date(2022, 3, 1), date(2022, 3, 2)],
            "symbol": ["AAA", "AAA"],
            "as_of_ts": [
                datetime(2022, 3, 1, 21, tzinfo=UTC),
                datetime(2022, 3, 2, 21, tzinfo=UTC),
            ],
        }
    )
    empty = pl.DataFrame(schema=WEIGHT_SCHEMA)
    loaded: list[str] = []
    run = serve_forecasts(
        ready,
        [],
        # trained through the second day: serves neither (a model serves the days after it)
        models=[Entry("1W-x", "1W", date(2022, 3, 2))],
        calibrations=[],
        weights=(empty, empty),
        load_model=lambda version: loaded.append(version) or pytest.fail("must not load"),  # type: ignore[func-returns-value]
        sessions=[date(2022, 3, 1), date(2022, 3, 2)],
    )
    assert run.forecasts.is_empty()
    assert run.model_versions == []
    assert loaded == []
    assert run.skips.height == 2 * 8  # every horizon of both days
    reasons = run.skips.filter(pl.col("horizon") == "1W").get_column("reason").to_list()
    assert reasons == [
        "no promoted 1W model trained before 2022-03-01",
        "no promoted 1W model trained before 2022-03-02",
    ]


@pytest.mark.usefixtures("single_thread_lightgbm")
def test_train_versions_trains_what_it_can_and_says_why_not_the_rest(sessions: list[date]) -> None:
    frame = synthetic_frame(sessions, 10, 400, seed=5, signal=True)
    params = TrainingParams(
        lgbm_rounds=10,
        rf_trees=5,
        min_child_samples=20,
        validation_sessions=50,
        stride=1,
        refit=True,
    )
    early, late = sessions[60], sessions[400]
    logged: list[str] = []
    warned: list[str] = []
    outcome = train_versions(
        frame,
        [(early, "1D"), (late, "1D")],
        params,
        max_skill_loss=0.02,
        run_id="run-1",
        log=logged.append,
        warn=warned.append,
    )
    assert [s["cutoff"] for s in outcome.skipped] == [str(early)]
    assert f"(need {MIN_TRAIN_ROWS})" in outcome.skipped[0]["reason"]
    assert len(warned) == 1
    [row] = outcome.rows
    assert row["version_id"].startswith(f"1D-{late:%Y%m%d}-")
    assert row["version_id"].endswith(row["artifact_sha256"][:10])
    assert (row["horizon_days"], row["trained_through"], row["run_id"]) == (1, late, "run-1")
    assert row["promoted"] is True  # the label follows a feature: the model has skill
    assert row["oos_metrics"]["ensemble"]["brier"] < row["oos_metrics"]["climatology"]["brier"]
    assert outcome.rejected == []
    assert logged[0] == f"binned 4000 rows through {late} once for its fits"
    assert "promoted" in logged[1]
