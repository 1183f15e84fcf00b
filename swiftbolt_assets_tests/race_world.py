"""The world of the race tests: every warehouse table filled once by a real cycle, and the writer
of each table, fed the rows the cycle wrote.

``build_world`` runs the daily cycle over a few days (bars, features, models, forecasts,
evaluations, live scores, layer weights), the intraday job over them (intraday forecasts,
their evaluations, live scores and calibrated weights) and the research job (backtest,
confidence calibration) once, then saves every table as parquet. A test case restores those
tables and lets writer processes rewrite one slice with the very rows the cycle wrote, through
the function the asset writes with: whatever order the writers run in, the result must be the
cycle's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import sqlalchemy as sa

from swiftbolt_assets.cadence import INTRADAY
from swiftbolt_assets.calibration.store import insert_calibrations
from swiftbolt_assets.definitions import INTRADAY_CYCLE_JOB, INTRADAY_TABLES, RESEARCH_JOB
from swiftbolt_assets.features.store import write_features
from swiftbolt_assets.forecasting.store import insert_registry_rows, write_backtest, write_forecasts
from swiftbolt_assets.ingestion.batch import REJECT_COLUMNS, IngestionBatch
from swiftbolt_assets.ingestion.store import BAR_COLUMNS, write_batch
from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files
from swiftbolt_assets.warehouse.slices import Partitions, SliceWrite, copy_frame, write_slices
from swiftbolt_assets_tests.conftest import make_definitions, materialize_range
from swiftbolt_assets_tests.forecast_fixtures import BACKTEST_MODELS, SMALL_MODELS

# Six symbols of daily bars and 24 sessions of intraday bars; one daily cycle over 10-26..10-28
# (the intraday version trained through Friday 10-23 serves the week), then the intraday job.
# The raced slice of the partitioned tables is 10-28 × the six symbols (the 1D forecasts of
# 10-27 are due that day; the intraday forecasts of 10-28 are scored that day).
GO_LIVE = date(2026, 10, 26)
# enough m15 rows before 10-23 for the intraday version (1,000 training rows after validation)
INTRADAY_SESSIONS = 24
RACED_DATE = date(2026, 10, 28)
SYMBOLS = demo_symbols(6)
PAIRS = frozenset((RACED_DATE, s) for s in SYMBOLS)
IN_SLICE = f"partition_date = DATE '{RACED_DATE}'"
BOOKKEEPING = ("run_id", "created_at", "updated_at", "reject_id")

_TYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "jsonb": pl.String(),
    "double precision": pl.Float64(),
    "integer": pl.Int32(),
    "bigint": pl.Int64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "timestamp with time zone": pl.Datetime("us", "UTC"),
    "bytea": pl.Binary(),
    "ARRAY": pl.List(pl.Float64()),  # the only arrays: confidence_calibration's x and y
}


def table_columns(engine: sa.Engine) -> dict[str, dict[str, pl.DataType]]:
    """Every warehouse table's columns (but the identity reject_id) with their polars types."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name <> 'alembic_version' "
                "AND column_name <> 'reject_id' ORDER BY table_name, ordinal_position"
            )
        ).all()
    tables: dict[str, dict[str, pl.DataType]] = {}
    for table, column, kind in rows:
        tables.setdefault(table, {})[column] = _TYPES[kind]
    return tables


def read_table(engine: sa.Engine, table: str, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    select = ", ".join(f'"{c}"::text' if c in JSONB else f'"{c}"' for c in schema)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text(f"SELECT {select} FROM {table}"))]
    return pl.DataFrame(rows, schema=dict(schema), orient="row")


JSONB = {"feature_list", "hyperparameters", "oos_metrics"}


def build_world(database_url: str, engine: sa.Engine, drop_dir: Path, data_dir: Path) -> None:
    """Run the daily cycle and the research job once; save every table under ``data_dir``."""
    frames = generate_bars(
        SYMBOLS,
        start=date(2022, 9, 1),
        end=RACED_DATE,
        seed=11,
        intraday_sessions=INTRADAY_SESSIONS,
    )
    write_drop_files(drop_dir, frames)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("symbols", SYMBOLS)
        defs = make_definitions(database_url, drop_dir, GO_LIVE)
        models = SMALL_MODELS | {"intraday": True}
        config: dict[str, object] = {"ops": {"forecast_models": {"config": models}}}
        keys = (f"{GO_LIVE}|{SYMBOLS[0]}", f"{RACED_DATE}|{SYMBOLS[-1]}")
        assert materialize_range(defs, instance, *keys, run_config=config).success
        intraday = [dg.AssetKey(t) for t in INTRADAY_TABLES]
        assert materialize_range(
            defs, instance, *keys, job_name=INTRADAY_CYCLE_JOB, asset_selection=intraday
        ).success
        backtest = {"years": 1, "cadence_months": 6, "horizons": ["1D"]}
        backtest |= BACKTEST_MODELS
        research = defs.resolve_job_def(RESEARCH_JOB).execute_in_process(
            instance=instance,
            run_config={"ops": {"run_forecast_backtest": {"config": backtest}}},
        )
        assert research.success
    for table, schema in table_columns(engine).items():
        read_table(engine, table, schema).write_parquet(data_dir / f"{table}.parquet")


def load_world(data_dir: Path) -> dict[str, pl.DataFrame]:
    return {p.stem: pl.read_parquet(p) for p in sorted(data_dir.glob("*.parquet"))}


def restore(engine: sa.Engine, world: Mapping[str, pl.DataFrame]) -> None:
    """Put every saved table back (bookkeeping included) into the emptied warehouse."""
    with engine.begin() as conn:
        # the one foreign key: ml_forecasts_daily.model_version → model_registry
        for table in sorted(world, key=lambda t: t != "model_registry"):
            frame = world[table]
            copy_frame(conn, table, frame, JSONB & set(frame.columns))


# --- the writers ---------------------------------------------------------------------------------


def rows(frame: pl.DataFrame, *, in_slice: bool = True) -> pl.DataFrame:
    """``frame`` without its bookkeeping columns (the writer adds run_id), the raced slice only
    when the table is partitioned."""
    if in_slice and "partition_date" in frame.columns:
        frame = frame.filter(pl.col("partition_date") == RACED_DATE)
    return frame.drop([c for c in BOOKKEEPING if c in frame.columns])


Write = Callable[[sa.Engine, Mapping[str, pl.DataFrame], str], object]


def _ingestion(engine: sa.Engine, w: Mapping[str, pl.DataFrame], run_id: str) -> object:
    bars = rows(w["ohlc_bars"]).select(BAR_COLUMNS)
    batch = IngestionBatch(
        bars=bars,
        rejects=rows(w["ohlc_rejects"]).select(REJECT_COLUMNS),
        scanned_files=sorted(set(bars.get_column("source_file"))),
    )
    return write_batch(engine, batch, PAIRS, run_id)


def _features(engine: sa.Engine, w: Mapping[str, pl.DataFrame], run_id: str) -> object:
    frame = rows(w["features"])
    chunks = (frame.filter(pl.col("symbol").is_in(part)) for part in (SYMBOLS[:3], SYMBOLS[3:]))
    return write_features(engine, chunks, PAIRS, run_id)


def _forecasts(engine: sa.Engine, w: Mapping[str, pl.DataFrame], run_id: str) -> object:
    return write_forecasts(
        engine, rows(w["ml_forecasts_daily"]), rows(w["ml_forecast_skips"]), PAIRS, run_id
    )


def _intraday_forecasts(engine: sa.Engine, w: Mapping[str, pl.DataFrame], run_id: str) -> object:
    tables = INTRADAY.tables
    forecasts, skips = rows(w[tables.forecasts]), rows(w[tables.skips])
    return write_forecasts(engine, forecasts, skips, PAIRS, run_id, spec=INTRADAY)


def _registry(engine: sa.Engine, w: Mapping[str, pl.DataFrame], run_id: str) -> object:
    return insert_registry_rows(engine, rows(w["model_registry"]).to_dicts(), run_id)


def _calibration(engine: sa.Engine, w: Mapping[str, pl.DataFrame], run_id: str) -> object:
    return insert_calibrations(engine, rows(w["confidence_calibration"]), run_id)


def _backtest(engine: sa.Engine, w: Mapping[str, pl.DataFrame], run_id: str) -> object:
    predictions = rows(w["forecast_backtest_predictions"])
    return write_backtest(engine, rows(w["forecast_backtest"]), predictions, run_id)


def _slice_of(table: str) -> Write:
    """The writer of an asset that calls ``write_slices`` itself (evaluations, live, weights)."""

    def write(engine: sa.Engine, w: Mapping[str, pl.DataFrame], run_id: str) -> object:
        return write_slices(engine, [SliceWrite(table, rows(w[table]), Partitions(PAIRS))], run_id)

    return write


@dataclass(frozen=True)
class Writer:
    """One table's writer. ``tables``: what it writes in its transaction (``table`` first: the
    gate parks the writer in that table's COPY); ``newest``: for an append-only table, the column
    whose latest value marks the raced rows (the baseline lacks them; history is never
    rewritten), else None (the raced slice is replaced)."""

    id: str
    tables: tuple[str, ...]
    key: str
    write: Write
    newest: str | None = None
    partitioned: bool = True
    also_won: tuple[str, ...] = ()
    # rows that refer to the raced rows, dropped with them from the baseline ({raced}: the
    # predicate of the raced rows)
    referring: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        return self.tables[0]

    @property
    def append_only(self) -> bool:
        return self.newest is not None

    def raced(self, world: Mapping[str, pl.DataFrame]) -> str:
        """The predicate of the raced rows of ``table``."""
        if self.newest is not None:
            latest = world[self.table].get_column(self.newest).max()
            assert isinstance(latest, date)
            return f"{self.newest} = DATE '{latest}'"
        return IN_SLICE if self.partitioned else "true"


WRITERS = {
    w.id: w
    for w in (
        Writer(
            "ohlc_bars",
            ("ohlc_bars", "ohlc_rejects"),
            "symbol, timeframe, ts",
            _ingestion,
            also_won=("SELECT DISTINCT run_id FROM symbols",),
        ),
        Writer("features", ("features",), "symbol, timeframe, ts", _features),
        Writer(
            "ml_forecasts_daily",
            ("ml_forecasts_daily", "ml_forecast_skips"),
            "symbol, as_of_date, horizon",
            _forecasts,
        ),
        Writer(
            "model_registry",
            ("model_registry",),
            "horizon, trained_through",
            _registry,
            newest="trained_through",
            referring=tuple(
                f"DELETE FROM {table} WHERE model_version IN "
                "(SELECT version_id FROM model_registry WHERE {raced})"
                for table in ("ml_forecasts_daily", "ml_forecasts_intraday")
            ),
        ),
        Writer(
            "forecast_evaluations_daily",
            ("forecast_evaluations_daily",),
            "symbol, as_of_date, horizon",
            _slice_of("forecast_evaluations_daily"),
        ),
        Writer(
            "live_predictions_daily",
            ("live_predictions_daily",),
            "symbol, partition_date, horizon, window_size",
            _slice_of("live_predictions_daily"),
        ),
        Writer(
            "symbol_model_weights",
            ("symbol_model_weights",),
            "symbol, horizon, version_id",
            _slice_of("symbol_model_weights"),
        ),
        Writer(
            "ml_forecasts_intraday",
            ("ml_forecasts_intraday", "ml_forecast_skips_intraday"),
            "symbol, as_of_ts, horizon",
            _intraday_forecasts,
        ),
        Writer(
            "forecast_evaluations_intraday",
            ("forecast_evaluations_intraday",),
            "symbol, as_of_ts, horizon",
            _slice_of("forecast_evaluations_intraday"),
        ),
        Writer(
            "live_predictions_intraday",
            ("live_predictions_intraday",),
            "symbol, partition_date, horizon, window_size",
            _slice_of("live_predictions_intraday"),
        ),
        Writer(
            "calibrated_weights",
            ("calibrated_weights",),
            "symbol, horizon, version_id",
            _slice_of("calibrated_weights"),
        ),
        Writer(
            "confidence_calibration",
            ("confidence_calibration",),
            "horizon, fitted_through",
            _calibration,
            newest="fitted_through",
        ),
        Writer(
            "forecast_backtest",
            ("forecast_backtest_predictions", "forecast_backtest"),
            "symbol, as_of_date, horizon",
            _backtest,
            partitioned=False,
        ),
    )
}
