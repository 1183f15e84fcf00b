"""The 252-session rate of change in ``features`` (12-1 momentum, a cross-sectional input).

``roc_252`` is the percent change of the adjusted close over 252 bars of the row's timeframe
(null for the first 252 bars). The forecasts' cross-sectional inputs (``forecasting/
cross_section.py``) read it with ``roc_20`` for 12-1 momentum. Rows written before this revision
have it null until their partition is materialized again.

Revision ID: 0007_cross_section
Revises: 0006_serving_gate
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0007_cross_section"
down_revision = "0006_serving_gate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE features ADD COLUMN roc_252 double precision;
        COMMENT ON COLUMN features.roc_252 IS
            'Rate of change over 252 bars, percent: 100 * (close / close 252 bars earlier - 1) '
            'on adjusted prices; null for the first 252 bars.';
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE features DROP COLUMN roc_252")
