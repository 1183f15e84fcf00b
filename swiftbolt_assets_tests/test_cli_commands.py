"""The cli's small commands against a real PostgreSQL: the summary and ``sql``."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa

from swiftbolt_assets.cli import check_verdict, print_summary, quiet_library_warnings
from swiftbolt_assets.ingestion.assets import FRESH, INTRADAY_COMPLETE
from swiftbolt_assets.warehouse.database import DatabaseUrls

pytestmark = pytest.mark.postgres
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_the_summary_counts_every_reject_not_only_the_top_reasons(
    engine: sa.Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    reasons = ["high < low", "abc: not a number", "missing field", "not-a-date", "Saturday"]
    reasons += ["close <= 0", "close <= 0"]  # 7 rejects in 6 reason groups
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ohlc_rejects (symbol, source_file, source_line, reason, run_id) "
                "VALUES ('AAA', 'tradingview/AAA_d1.csv', :line, :reason, 'r')"
            ),
            [{"line": i + 2, "reason": r} for i, r in enumerate(reasons)],
        )

    print_summary(DatabaseUrls(warehouse=database_url, dagster_storage="", embedded=False))

    out = capsys.readouterr().out
    assert "ohlc_rejects: 7" in out
    assert "2 × close <= 0" in out


def run_sql(database_url: str, tmp_path: Path, query: str) -> subprocess.CompletedProcess[str]:
    """``python -m swiftbolt_assets.cli sql -c QUERY`` against ``database_url``, in a clean
    environment (no SWIFTBOLT_/DAGSTER_ variables of the caller)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SWIFTBOLT_", "DAGSTER_"))},
        "SWIFTBOLT_HOME": str(tmp_path / "state"),
        "SWIFTBOLT_DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "swiftbolt_assets.cli", "sql", "-c", query],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sql_runs_a_query_against_the_warehouse(database_url: str, tmp_path: Path) -> None:
    done = run_sql(database_url, tmp_path, "select 1 AS one")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert "one" in lines
    assert "1" in lines


def test_sql_reports_a_bad_query_with_a_failing_status(database_url: str, tmp_path: Path) -> None:
    done = run_sql(database_url, tmp_path, "select * from no_such")
    assert done.returncode != 0
    assert "no_such" in done.stdout + done.stderr


def test_the_demo_s_deliberate_check_warnings_are_labelled_expected() -> None:
    examples = ["SYN-A m15 2026-11-17: 25 of 26 bars"]
    halted = check_verdict(INTRADAY_COMPLETE, False, "WARN", 6, examples, demo_only=True)
    assert halted.startswith("WARN (expected: the synthetic demo data halts")
    assert "6 found, e.g. ['SYN-A m15 2026-11-17: 25 of 26 bars']" in halted
    # on real data the same finding is a plain failure, and other checks are never expected
    assert check_verdict(INTRADAY_COMPLETE, False, "WARN", 6, examples, demo_only=False).startswith(
        "FAIL (warn)"
    )
    assert check_verdict(FRESH, False, "WARN", 1, [], demo_only=True).startswith("FAIL (warn)")
    assert check_verdict(FRESH, True, "WARN", 0, [], demo_only=True) == "pass"


def test_library_warnings_are_quiet_and_others_still_show() -> None:
    import dagster as dg

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_library_warnings()
        warnings.warn("beta", dg.BetaWarning, stacklevel=1)
        warnings.warn("preview", dg.PreviewWarning, stacklevel=1)
        warnings.warn("ours", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["ours"]
