"""The cli's small commands against a real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from swiftbolt_assets.cli import print_summary
from swiftbolt_assets.warehouse.database import DatabaseUrls

pytestmark = pytest.mark.postgres


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
