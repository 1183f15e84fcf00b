"""Intervals on the backtest's scores: the low and high ends of each score's 95 % block-bootstrap
interval (by date), the effective sample size beside ``n``, and the period and number of fits of
each horizon (a long horizon has fewer fits than a short one).

Revision ID: 0005_backtest_intervals
Revises: 0004_evaluation
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0005_backtest_intervals"
down_revision = "0004_evaluation"
branch_labels = None
depends_on = None

SCORES = (
    "accuracy",
    "balanced_accuracy",
    "directional_accuracy",
    "brier",
    "brier_skill_score",
    "ece",
    "rank_ic",
)
COLUMNS = [f"{score}_{end}" for score in SCORES for end in ("low", "high")]


def upgrade() -> None:
    adds = ",\n".join(f"ADD COLUMN {c} double precision" for c in COLUMNS)
    op.execute(
        f"""
        ALTER TABLE forecast_backtest
            {adds},
            ADD COLUMN n_eff double precision,
            ADD COLUMN block_sessions integer;
        COMMENT ON COLUMN forecast_backtest.n_eff IS
            'Effective sample size: n over the design effect of overlapping labels (block '
            'bootstrap variance of the mean Brier against the iid one).';
        COMMENT ON COLUMN forecast_backtest.block_sessions IS
            'Length in sessions of the date blocks the intervals resample (2 x the horizon).';
        COMMENT ON COLUMN forecast_backtest.retrains IS
            'Models fitted for this horizon in the walk-forward (one per cadence period with an '
            'out-of-sample outcome).';
        """
    )


def downgrade() -> None:
    drops = ",\n".join(f"DROP COLUMN {c}" for c in [*COLUMNS, "n_eff", "block_sessions"])
    op.execute(f"ALTER TABLE forecast_backtest {drops};")
