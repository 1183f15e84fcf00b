"""A snapshot of the asset graph: keys, groups, partitions, checks, sensors, schedules, owners."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

import swiftbolt_assets
from swiftbolt_assets.definitions import build_definitions
from swiftbolt_assets.market import MarketCalendarResource
from swiftbolt_assets.settings import load_settings
from swiftbolt_assets.warehouse.resources import WarehouseResource


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions(replace(load_settings({}), partition_start=date(2026, 11, 2)))


def test_asset_keys_groups_and_partitions(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups == {
        "ohlc_bars": "ingestion",
        "ohlc_rejects": "ingestion",
        "features": "features",
        **dict.fromkeys(
            [
                "forecast_models",
                "ml_forecasts_daily",
                "ml_forecasts_intraday",
                "forecast_backtest",
                "forecast_backtest_predictions",
            ],
            "forecasting",
        ),
        "forecast_evaluations_daily": "evaluation",
        "live_predictions_daily": "evaluation",
        "forecast_evaluations_intraday": "evaluation",
        "live_predictions_intraday": "evaluation",
        "symbol_model_weights": "calibration",
        "calibrated_weights": "calibration",
        "confidence_calibration": "calibration",
    }
    # pooled research over all history is one unpartitioned table each; the rest is date × symbol
    unpartitioned = {
        "forecast_models",
        "forecast_backtest",
        "forecast_backtest_predictions",
        "confidence_calibration",
    }
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.to_user_string() in unpartitioned:
            assert node.partitions_def is None
            continue
        partitions = node.partitions_def
        assert isinstance(partitions, dg.MultiPartitionsDefinition)
        assert [d.name for d in partitions.partitions_defs] == ["date", "symbol"]
        assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_checks_are_yes_no_statements_and_accounting_blocks(defs: dg.Definitions) -> None:
    specs = {
        spec.name: spec
        for assets_def in defs.resolve_asset_graph().assets_defs
        for spec in assets_def.check_specs
    }
    assert sorted(specs) == [
        "features_have_no_infinite_values",
        "forecast_evaluations_daily_bars_are_final",
        "forecast_evaluations_intraday_bars_are_final",
        "forecast_models_pass_the_promotion_gate",
        "ml_forecasts_daily_labels_agree_with_targets",
        "ml_forecasts_daily_saw_the_whole_universe",
        "ml_forecasts_intraday_labels_agree_with_targets",
        "ohlc_bars_has_no_missing_sessions",
        "ohlc_bars_intraday_sessions_are_complete",
        "ohlc_bars_is_fresh",
        "ohlc_bars_rows_add_up",
        "ohlc_rejects_has_no_rejected_rows",
    ]
    assert sorted(name for name, spec in specs.items() if spec.blocking) == [
        "features_have_no_infinite_values",
        "ml_forecasts_daily_labels_agree_with_targets",
        "ml_forecasts_intraday_labels_agree_with_targets",
        "ohlc_bars_rows_add_up",
    ]


def test_features_depend_on_the_bars(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("features")).parent_keys == {dg.AssetKey("ohlc_bars")}


def test_evaluation_waits_for_the_bars_and_the_forecasts_it_scores(
    defs: dg.Definitions,
) -> None:
    graph = defs.resolve_asset_graph()
    evaluations = dg.AssetKey("forecast_evaluations_daily")
    assert graph.get(evaluations).parent_keys == {
        dg.AssetKey("ohlc_bars"),
        dg.AssetKey("ml_forecasts_daily"),
    }
    # (D, S) reads the forecasts written by the partitions D-126 … D-1 of the same symbol
    mapping = graph.get_partition_mapping(evaluations, dg.AssetKey("ml_forecasts_daily"))
    assert isinstance(mapping, dg.MultiPartitionMapping)
    by_date = mapping.downstream_mappings_by_upstream_dimension["date"].partition_mapping
    assert isinstance(by_date, dg.TimeWindowPartitionMapping)
    assert (by_date.start_offset, by_date.end_offset) == (-126, -1)
    for child in ("live_predictions_daily", "symbol_model_weights", "confidence_calibration"):
        assert evaluations in graph.get(dg.AssetKey(child)).parent_keys
    # the loop back into the forecasts is cut at the warehouse, not in the graph
    assert graph.get(dg.AssetKey("ml_forecasts_daily")).parent_keys == {
        dg.AssetKey("features"),
        dg.AssetKey("forecast_models"),
    }
    # so one run of the daily cycle executes them in this order
    order = [k.to_user_string() for k in graph.toposorted_asset_keys]
    chain = [
        "ohlc_bars",
        "features",
        "forecast_models",
        "ml_forecasts_daily",
        "forecast_evaluations_daily",
        "symbol_model_weights",
    ]
    assert [order.index(k) for k in chain] == sorted(order.index(k) for k in chain)


def test_automation(defs: dg.Definitions) -> None:
    sensor = defs.resolve_sensor_def("new_ohlc_bars_sensor")
    selection = sensor.asset_selection
    assert selection is not None
    assert selection.resolve(defs.resolve_asset_graph()) == {
        dg.AssetKey("ohlc_bars"),
        dg.AssetKey("ohlc_rejects"),
        dg.AssetKey("features"),
        dg.AssetKey("forecast_models"),
        dg.AssetKey("ml_forecasts_daily"),
        dg.AssetKey("forecast_evaluations_daily"),
        dg.AssetKey("live_predictions_daily"),
        dg.AssetKey("symbol_model_weights"),
        dg.AssetKey("confidence_calibration"),
        # run only when a changed file holds intraday bars (test_sensor_schedule)
        dg.AssetKey("ml_forecasts_intraday"),
        dg.AssetKey("forecast_evaluations_intraday"),
        dg.AssetKey("live_predictions_intraday"),
        dg.AssetKey("calibrated_weights"),
    }
    schedule = defs.resolve_schedule_def("daily_cycle_schedule")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert schedule.cron_schedule == "30 17 * * 1-5"
    assert schedule.execution_timezone == "America/New_York"
    assert defs.resolve_job_def("daily_cycle_job").name == "daily_cycle_job"


def table_owners(defs: dg.Definitions) -> dict[str, list[str]]:
    """Warehouse table -> the assets that declare they write it."""
    owners: dict[str, list[str]] = {}
    graph = defs.resolve_asset_graph()
    for key in sorted(graph.get_all_asset_keys()):
        for table in str(graph.get(key).metadata["warehouse_tables"]).split(", "):
            owners.setdefault(table, []).append(key.to_user_string())
    return owners


def test_every_warehouse_table_has_exactly_one_owning_asset(defs: dg.Definitions) -> None:
    assert table_owners(defs) == {
        "features": ["features"],
        "ohlc_bars": ["ohlc_bars"],
        "symbols": ["ohlc_bars"],
        "ohlc_rejects": ["ohlc_rejects"],
        "model_registry": ["forecast_models"],
        "ml_forecasts_daily": ["ml_forecasts_daily"],
        "ml_forecast_skips": ["ml_forecasts_daily"],
        "forecast_backtest": ["forecast_backtest"],
        "forecast_backtest_predictions": ["forecast_backtest_predictions"],
        "confidence_calibration": ["confidence_calibration"],
        "forecast_evaluations_daily": ["forecast_evaluations_daily"],
        "live_predictions_daily": ["live_predictions_daily"],
        "symbol_model_weights": ["symbol_model_weights"],
        "ml_forecasts_intraday": ["ml_forecasts_intraday"],
        "ml_forecast_skips_intraday": ["ml_forecasts_intraday"],
        "forecast_evaluations_intraday": ["forecast_evaluations_intraday"],
        "live_predictions_intraday": ["live_predictions_intraday"],
        "calibrated_weights": ["calibrated_weights"],
    }


def test_importing_the_package_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    monkeypatch.setenv("SWIFTBOLT_PARTITION_START", "not-a-date")
    for name in [m for m in sys.modules if m.startswith("swiftbolt_assets.") and "tests" not in m]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module("swiftbolt_assets.definitions")
    with pytest.raises(ValueError, match="not an ISO date"):
        module.build_definitions()


# Where the environment may be read: settings (at call time), the assembly point, the command
# lines, and the Dagster instance's home (DAGSTER_HOME is Dagster's, not an asset's, setting).
READS_ENVIRONMENT = {
    "settings.py",
    "definitions.py",
    "cli.py",
    "replay_intraday.py",  # a command line of its own (make replay-intraday)
    "instance.py",
    "ingestion/resources.py",  # DropFolderResource() without a path: the configured folder
}


def test_no_asset_module_reads_the_environment() -> None:
    package = Path(swiftbolt_assets.__file__).parent
    readers = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
            if name in {"load_settings", "environ", "getenv"}:
                readers.add(path.relative_to(package).as_posix())
    assert readers <= READS_ENVIRONMENT, sorted(readers - READS_ENVIRONMENT)
    assert "replay.py" not in readers  # the replay passes its settings, never edits os.environ


def test_settings_reach_the_assets_through_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWIFTBOLT_EXCHANGE", "XLON")
    monkeypatch.delenv("SWIFTBOLT_DATABASE_URL", raising=False)
    settings = replace(
        load_settings(), partition_start=date(2026, 11, 2), database_url="postgresql://h/db"
    )
    resources = build_definitions(settings).resources
    market, warehouse = resources["market"], resources["warehouse"]
    assert isinstance(market, MarketCalendarResource)
    assert isinstance(warehouse, WarehouseResource)
    # from the environment: the UI shows the variable; from code (a replay): the value itself
    assert market.exchange == dg.EnvVar("SWIFTBOLT_EXCHANGE")
    assert warehouse.database_url == "postgresql://h/db"
    assert warehouse.pgdata == str(settings.pgdata)
    overridden = build_definitions(settings, resources={"market": MarketCalendarResource()})
    assert overridden.resources["market"].exchange == "XNYS"
    assert isinstance(overridden.resources["warehouse"], WarehouseResource)
