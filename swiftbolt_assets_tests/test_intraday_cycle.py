"""The intraday half on real 15-minute bars (eqker, ``../shared/data/intraday``), through Dagster
on PostgreSQL: models trained weekly by ``forecast_models``, then the intraday job replayed
(``replay_intraday``: forecasts → evaluations → calibrated weights, then forecasts again with the
weights fitted at the earlier bar closes). Every intraday table fills; a 1h forecast is scored
one hour after its as-of bar, on the vendor's own close (read here from the CSV, not from the
warehouse); a partial or missing bar gives no row and a warning until it is final; calibrated
weights serve until the instant they expire, never at it; the daily tables get nothing.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from swiftbolt_assets.cadence import INTRADAY
from swiftbolt_assets.definitions import DAILY_CYCLE_JOB, INTRADAY_CYCLE_JOB, INTRADAY_TABLES
from swiftbolt_assets.forecasting.store import read_weights
from swiftbolt_assets.forecasting.synthesizer import DEFAULT_VERSION, resolve_weights
from swiftbolt_assets.warehouse.database import engine_for
from swiftbolt_assets_tests.conftest import (
    check_results,
    make_definitions,
    materialize_range,
    own_database,
    shared_path,
)

pytestmark = pytest.mark.postgres

NY = ZoneInfo("America/New_York")
GO_LIVE = date(2019, 1, 4)  # the first 15-minute session; its partition holds the d1 history
LAST = date(2019, 2, 15)
SYMBOLS = ["AAPL", "AMZN", "BAC", "JPM", "MSFT", "MU", "QQQ", "SBUX", "SPY", "TSLA", "V", "XLP"]
MODELS = {
    "horizons": [],  # the daily versions are the daily tests' (a year of d1 bars trains none)
    "lgbm_rounds": 20,
    "rf_trees": 10,
}
INTRADAY_STEPS = [dg.AssetKey(t) for t in INTRADAY_TABLES]


def _key(day: date, symbol: str) -> str:
    return f"{day.isoformat()}|{symbol}"


def replay_intraday(defs: dg.Definitions, instance: dg.DagsterInstance, first: date) -> None:
    """The intraday job over [first, LAST] for every symbol, twice: the first pass fits the
    weights of every bar close; the second forecasts with them (a forecast at a bar close uses
    weights fitted at earlier closes: what the schedule's run after each bar does)."""
    for _ in range(2):
        result = materialize_range(
            defs,
            instance,
            _key(first, SYMBOLS[0]),
            _key(LAST, SYMBOLS[-1]),
            job_name=INTRADAY_CYCLE_JOB,
            asset_selection=INTRADAY_STEPS,
        )
        assert result.success


@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The symbols' eqker 15-minute and daily files (the 1-minute files hold only a week)."""
    folder = tmp_path_factory.mktemp("intraday-drop") / "eqker"
    folder.mkdir()
    source = shared_path("data", "intraday", "eqker")
    for symbol in SYMBOLS:
        for kind in ("15min", "daily"):
            shutil.copy(source / f"{symbol}_{kind}.csv", folder / f"{symbol}_{kind}.csv")
    return folder.parent


@pytest.fixture(scope="module")
def cycled(admin_url: str, drop: Path, single_thread_module: None) -> Iterator[str]:
    """A warehouse after the daily cycle over the whole period (bars, features, the weekly
    intraday models) and the intraday replay."""
    with own_database(admin_url) as url, dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("symbols", SYMBOLS)
        defs = make_definitions(url, drop, GO_LIVE)
        daily = materialize_range(
            defs,
            instance,
            _key(GO_LIVE, SYMBOLS[0]),
            _key(LAST, SYMBOLS[-1]),
            run_config={"ops": {"forecast_models": {"config": MODELS}}},
        )
        assert daily.success
        replay_intraday(defs, instance, GO_LIVE)
        yield url


@pytest.fixture(scope="module")
def single_thread_module() -> Iterator[None]:
    """LightGBM on one thread for the module's fixture (``single_thread_lightgbm``'s reason)."""
    from swiftbolt_assets.forecasting import walk_forward

    common = walk_forward._common
    walk_forward._common = lambda seed: common(seed) | {"num_threads": 1}
    yield
    walk_forward._common = common


def frame(url: str, query: str) -> pl.DataFrame:
    with engine_for(url).connect() as conn:
        result = conn.execute(sa.text(query))
        return pl.DataFrame([dict(r._mapping) for r in result], infer_schema_length=None)


def test_the_replay_fills_every_intraday_table_and_no_daily_one(cycled: str) -> None:
    counts = {
        t: frame(cycled, f"SELECT count(*) AS n FROM {t}").item()
        for t in (*INTRADAY_TABLES, INTRADAY.tables.skips)
    }
    assert all(n > 0 for n in counts.values()), counts
    daily = frame(
        cycled,
        "SELECT (SELECT count(*) FROM ml_forecasts_daily) + "
        "(SELECT count(*) FROM forecast_evaluations_daily) + "
        "(SELECT count(*) FROM model_registry WHERE timeframe = 'd1') AS n",
    ).item()
    assert daily == 0
    versions = frame(
        cycled, "SELECT horizon, trained_through, promoted FROM model_registry ORDER BY 2, 1"
    )
    assert set(versions["horizon"]) == {"15m", "1h"}
    # weekly cutoffs: the last session of each week (Fridays here)
    assert {d.weekday() for d in versions["trained_through"]} == {4}


def test_forecasts_use_only_calibrated_weights_valid_at_their_bar_close(cycled: str) -> None:
    rows = frame(
        cycled,
        "SELECT f.as_of_ts, f.weights_source, w.valid_from, w.expires_at "
        "FROM ml_forecasts_intraday f LEFT JOIN calibrated_weights w ON "
        "w.symbol = f.symbol AND w.horizon = f.horizon AND w.version_id = f.weights_version",
    )
    calibrated = rows.filter(pl.col("weights_source") == "calibrated")
    assert calibrated.height > 0
    assert set(rows["weights_source"]) == {"calibrated", "default"}
    assert calibrated.select(
        (
            (pl.col("valid_from") < pl.col("as_of_ts"))
            & (pl.col("as_of_ts") < pl.col("expires_at"))
        ).all()
    ).item()
    # every version fitted the session before expired overnight: a session's first bar
    # forecasts with the defaults
    first_bar = rows.filter(
        pl.col("as_of_ts").dt.convert_time_zone("America/New_York").dt.strftime("%H:%M") == "09:45"
    )
    assert set(first_bar["weights_source"]) == {"default"}


def _eqker_closes(drop: Path, symbol: str) -> dict[datetime, float]:
    """The vendor's closes by bar end (UTC), read straight from its file (naive New York time,
    stamped at the bar's end)."""
    with (drop / "eqker" / f"{symbol}_15min.csv").open() as handle:
        return {
            datetime.fromisoformat(row["datetime"]).replace(tzinfo=NY).astimezone(UTC): float(
                row["close"]
            )
            for row in csv.DictReader(handle)
        }


def test_a_1h_forecast_is_scored_one_hour_after_its_bar_on_the_vendors_close(
    cycled: str, drop: Path
) -> None:
    evaluations = frame(
        cycled,
        "SELECT symbol, horizon, as_of_ts, target_ts, as_of_close, target_close, "
        "realized_return, realized_label, threshold_down, threshold_up "
        "FROM forecast_evaluations_intraday ORDER BY symbol, as_of_ts, horizon",
    )
    assert set(evaluations["horizon"]) == {"15m", "1h"}
    lengths = evaluations.group_by("horizon").agg(
        (pl.col("target_ts") - pl.col("as_of_ts")).unique().alias("spans")
    )
    assert dict(lengths.iter_rows()) == {
        "15m": [timedelta(minutes=15)],
        "1h": [timedelta(hours=1)],
    }
    sample = evaluations.filter(pl.col("horizon") == "1h").gather_every(97)
    assert sample.height >= 20
    closes = {s: _eqker_closes(drop, s) for s in set(sample["symbol"])}
    for row in sample.iter_rows(named=True):
        vendor = closes[row["symbol"]]
        as_of = vendor[row["as_of_ts"]]
        target = vendor[row["as_of_ts"] + timedelta(hours=1)]
        assert (row["as_of_close"], row["target_close"]) == (as_of, target)
        realized = target / as_of - 1.0
        assert row["realized_return"] == pytest.approx(realized, rel=1e-12, abs=1e-15)
        expected = (
            "bullish"
            if realized > row["threshold_up"]
            else "bearish"
            if realized < row["threshold_down"]
            else "neutral"
        )
        assert row["realized_label"] == expected


def test_no_forecast_reaches_past_the_close(cycled: str) -> None:
    late = frame(
        cycled,
        "SELECT horizon, max((target_ts AT TIME ZONE 'America/New_York')::time) AS last_target, "
        "max((as_of_ts AT TIME ZONE 'America/New_York')::time) AS last_as_of "
        "FROM ml_forecasts_intraday GROUP BY horizon ORDER BY horizon",
    )
    assert late.rows() == [
        ("15m", datetime(2000, 1, 1, 16).time(), datetime(2000, 1, 1, 15, 45).time()),
        ("1h", datetime(2000, 1, 1, 16).time(), datetime(2000, 1, 1, 15).time()),
    ]
    reasons = frame(
        cycled,
        "SELECT count(*) AS n FROM ml_forecast_skips_intraday "
        "WHERE reason LIKE '%after the session''s close%' AND horizon = '1h'",
    ).item()
    assert reasons > 0


def test_calibrated_weights_serve_until_the_instant_they_expire(cycled: str) -> None:
    """The last version fitted in the replay (at a session's close) has no successor before it
    expires: a forecast at its own fit instant gets the version before it, one just after or
    just before ``expires_at`` this one, one at ``expires_at`` the defaults (every older
    version has expired by then too)."""
    engine = engine_for(cycled)
    last = frame(
        cycled,
        "SELECT symbol, horizon, version_id, valid_from, expires_at FROM calibrated_weights "
        "WHERE method = 'fitted' ORDER BY valid_from DESC, symbol, horizon LIMIT 1",
    ).row(0, named=True)
    assert last["expires_at"] - last["valid_from"] == timedelta(hours=4)
    instants = [
        last["valid_from"],  # the fit's own bar: not yet valid
        last["valid_from"] + timedelta(microseconds=1),
        last["expires_at"] - timedelta(microseconds=1),
        last["expires_at"],  # expired
    ]
    requests = pl.DataFrame(
        {
            "symbol": [last["symbol"]] * len(instants),
            "horizon": [last["horizon"]] * len(instants),
            "as_of_ts": instants,
        },
        schema={"symbol": pl.String, "horizon": pl.String, "as_of_ts": pl.Datetime("us", "UTC")},
    )
    weights = read_weights(engine, [last["symbol"]], instants[0], instants[-1])
    resolved = resolve_weights(requests, *weights)
    chosen = resolved.select("weights_source", "weights_version").rows()
    assert chosen[0][0] == "calibrated"
    assert chosen[0][1] < last["version_id"]  # an earlier fit (versions sort by fit time)
    assert chosen[1:] == [
        ("calibrated", last["version_id"]),
        ("calibrated", last["version_id"]),
        ("default", DEFAULT_VERSION),
    ]


def test_a_partial_target_bar_gives_no_evaluation_until_it_is_final(
    admin_url: str, cycled: str, drop: Path
) -> None:
    with own_database(admin_url, template=cycled) as url, dg.DagsterInstance.ephemeral() as inst:
        inst.add_dynamic_partitions("symbols", SYMBOLS)
        defs = make_definitions(url, drop, GO_LIVE)
        target = frame(
            url,
            "SELECT symbol, target_ts, count(*) AS n FROM forecast_evaluations_intraday "
            f"WHERE partition_date = '{LAST}' AND symbol = 'AAPL' "
            "GROUP BY 1, 2 ORDER BY 2 DESC LIMIT 1",
        ).row(0, named=True)
        bar = (
            "UPDATE ohlc_bars SET created_at = {} WHERE symbol = 'AAPL' AND timeframe = 'm15' "
            "AND ts = :start"
        )
        start = target["target_ts"] - timedelta(minutes=15)
        with engine_for(url).begin() as conn:  # as if the vendor had sent the bar unfinished
            conn.execute(sa.text(bar.format(":written")), {"start": start, "written": start})

        def evaluate() -> dg.ExecuteInProcessResult:
            return materialize_range(
                defs,
                inst,
                _key(LAST, "AAPL"),
                _key(LAST, "AAPL"),
                job_name=INTRADAY_CYCLE_JOB,
                asset_selection=[dg.AssetKey(INTRADAY.tables.evaluations)],
            )

        partial = evaluate()
        check = f"{INTRADAY.tables.evaluations}_bars_are_final"
        assert check_results(partial)[check] is False
        [event] = partial.asset_materializations_for_node(INTRADAY.tables.evaluations)
        examples = list(event.metadata["pending_examples"].value)  # type: ignore[arg-type]
        assert len(examples) == target["n"]
        assert all(e.startswith("AAPL ") and "is partial: written at" in e for e in examples)
        remaining = frame(
            url,
            "SELECT count(*) AS n FROM forecast_evaluations_intraday "
            f"WHERE symbol = 'AAPL' AND target_ts = '{target['target_ts'].isoformat()}'",
        ).item()
        assert remaining == 0

        with engine_for(url).begin() as conn:  # the final bar arrives; the partition re-runs
            conn.execute(sa.text(bar.format("now()")), {"start": start})
        final = evaluate()
        assert check_results(final)[check] is True
        restored = frame(
            url,
            "SELECT count(*) AS n FROM forecast_evaluations_intraday "
            f"WHERE symbol = 'AAPL' AND target_ts = '{target['target_ts'].isoformat()}'",
        ).item()
        assert restored == target["n"]


def test_a_daily_cycle_and_an_intraday_run_at_once_block_and_corrupt_nothing(
    admin_url: str, cycled: str, drop: Path
) -> None:
    """Both jobs over the last session's partitions at the same moment, in two threads on one
    warehouse (the slice writer serializes the tables they share): both succeed, and what
    the intraday run wrote equals what the replay wrote for that session."""
    import threading

    query = (
        "SELECT symbol, as_of_ts, horizon, label, p_bullish, weights_version "
        f"FROM ml_forecasts_intraday WHERE partition_date = '{LAST}' ORDER BY 1, 2, 3"
    )
    with own_database(admin_url, template=cycled) as url:
        before = frame(url, query)
        results: dict[str, bool] = {}

        def run(job: str) -> None:
            with dg.DagsterInstance.ephemeral() as instance:
                instance.add_dynamic_partitions("symbols", SYMBOLS)
                defs = make_definitions(url, drop, GO_LIVE)
                result = materialize_range(
                    defs,
                    instance,
                    _key(LAST, SYMBOLS[0]),
                    _key(LAST, SYMBOLS[-1]),
                    job_name=job,
                    run_config=(
                        {"ops": {"forecast_models": {"config": MODELS}}}
                        if job == DAILY_CYCLE_JOB
                        else None
                    ),
                )
                results[job] = result.success

        threads = [
            threading.Thread(target=run, args=(j,)) for j in (DAILY_CYCLE_JOB, INTRADAY_CYCLE_JOB)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert results == {DAILY_CYCLE_JOB: True, INTRADAY_CYCLE_JOB: True}
        after = frame(url, query)
        assert after.height == before.height > 0
        assert after.equals(before)
