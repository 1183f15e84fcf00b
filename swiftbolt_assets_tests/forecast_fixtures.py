"""The forecasting tests' shared world on PostgreSQL: seven synthetic symbols, the definitions
with go-live 2026-10-26, a run helper with small models, and the models trained once per session.

A plugin (``-p`` in pyproject's pytest ``addopts``), not a test module: the fixtures
here are registered once, so the session-scoped ``trained`` trains the models once however many
modules use them (``test_forecast_assets``, ``test_forecast_backtest``). Test modules import the
plain helpers and constants by name (``SMALL_MODELS`` too, for the evaluation and race tests);
they never import the fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.cadence import DAILY
from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files
from swiftbolt_assets_tests.conftest import (
    copy_models,
    make_definitions,
    materialize_range,
    own_database,
)

GO_LIVE = date(2026, 10, 26)
FIRST_END = date(2026, 10, 28)  # the first runs see bars through here
LAST = date(2026, 11, 6)
OCTOBER = date(2026, 9, 30)  # the cutoff of the models that serve go-live's month
SMALL_MODELS = {
    "stride": 1,
    "validation_sessions": 126,
    "lgbm_rounds": 20,
    "rf_trees": 10,
    "min_child_samples": 50,
    # synthetic random walks: nothing to learn, so a tiny model is near climatology at best;
    # a lenient floor promotes them here (the default 0.02 rejects some: see the gate test)
    "max_skill_loss": 1.0,
    # the daily half's tests: the intraday versions are test_intraday_cycle's
    "intraday": False,
}
# the same model sizes for the research job's backtest (its config has no gate floor and no
# intraday switch: the backtest is the daily cadence's)
BACKTEST_MODELS = {k: v for k, v in SMALL_MODELS.items() if k not in {"max_skill_loss", "intraday"}}
# Everything but the bookkeeping columns (run_id and created_at differ between runs).
STABLE = (
    "symbol, as_of_date, horizon, target_date, close, label, p_bearish, p_neutral, p_bullish, "
    "confidence, raw_confidence, predicted_return, target_price, lower_band, upper_band, "
    "threshold_down, threshold_up, supertrend_component, sr_component, ensemble_component, "
    "w_supertrend, w_sr, w_ensemble, model_version, served_by, shrinkage, skill_low, "
    "weights_source, weights_version"
)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def write_symbols(drop_dir: Path) -> list[str]:
    """Six symbols with four years of history and one listed in June (too little history)."""
    names = demo_symbols(7)
    frames = generate_bars(names[:6], start=date(2022, 9, 1), end=LAST, seed=11)
    frames |= generate_bars(names[6:], start=date(2026, 6, 1), end=LAST, seed=12)
    write_drop_files(drop_dir, frames)
    return names


@pytest.fixture
def symbols(drop_dir: Path) -> list[str]:
    return write_symbols(drop_dir)


@pytest.fixture
def defs(
    database_url: str, drop_dir: Path, instance: dg.DagsterInstance, symbols: list[str]
) -> dg.Definitions:
    """The definitions with go-live 2026-10-26 and the seven symbols registered."""
    instance.add_dynamic_partitions("symbols", symbols)
    return make_definitions(database_url, drop_dir, GO_LIVE)


@pytest.fixture(scope="session")
def trained(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own whose models are trained once per session (whichever module asks
    first), by the runs the tests make: October's (cutoff 09-30) by a run through FIRST_END,
    November's (10-30) by one through LAST, all promoted (SMALL_MODELS' lenient floor). A test
    that is not about training copies them (``copy_models``) so that its own runs train
    nothing."""
    drop_dir = tmp_path_factory.mktemp("forecast-drop")
    with own_database(admin_url) as url, dg.DagsterInstance.ephemeral() as instance:
        names = write_symbols(drop_dir)
        instance.add_dynamic_partitions("symbols", names)
        defs = make_definitions(url, drop_dir, GO_LIVE)
        assert run(defs, instance, names, GO_LIVE, FIRST_END).success
        assert run(defs, instance, names, date(2026, 10, 29), LAST).success
        yield url


@pytest.fixture
def october_models(engine: sa.Engine, database_url: str, trained: str) -> None:
    """The emptied warehouse holds the session's October models: those the test's own runs
    through FIRST_END would train on the same bars."""
    assert copy_models(trained, database_url, through=OCTOBER) == len(DAILY.horizons)


@pytest.fixture
def all_models(engine: sa.Engine, database_url: str, trained: str) -> None:
    """The emptied warehouse holds the session's October and November models (all promoted): those
    the test's own run through LAST would train on the same bars."""
    assert copy_models(trained, database_url) == 2 * len(DAILY.horizons)


def run(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    symbols: list[str],
    first: date,
    last: date,
    **model_config: object,
) -> dg.ExecuteInProcessResult:
    config = {"ops": {"forecast_models": {"config": SMALL_MODELS | model_config}}}
    return materialize_range(
        defs, instance, f"{first}|{symbols[0]}", f"{last}|{symbols[-1]}", run_config=config
    )


def forecasts(engine: sa.Engine, where: str = "true") -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(f"SELECT {STABLE} FROM ml_forecasts_daily WHERE {where} ORDER BY 1, 2, 3")
        )
        return pl.DataFrame([tuple(r) for r in rows], schema=list(rows.keys()), orient="row")


def registry(engine: sa.Engine) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT version_id, horizon, trained_through, promoted, rejection_reason, "
                "n_train, lgbm_weight FROM model_registry ORDER BY trained_through, horizon"
            )
        )
        return pl.DataFrame([tuple(r) for r in rows], schema=list(rows.keys()), orient="row")
