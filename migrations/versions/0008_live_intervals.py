"""Intervals on the live scores: the 95 % interval of accuracy, directional accuracy, Brier and
ECE of each rolling window (a moving-block bootstrap of its target dates, blocks of 2 x the
horizon in sessions), and the window's effective sample size beside ``n``. Null where the window
holds fewer than 4 blocks (every window from 1M on, the 20-window at 1W); rows written before
this revision have none.

Revision ID: 0008_live_intervals
Revises: 0007_cross_section
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0008_live_intervals"
down_revision = "0007_cross_section"
branch_labels = None
depends_on = None

SCORES = {
    "accuracy": "accuracy",
    "directional_accuracy": "directional accuracy",
    "brier": "Brier score",
    "ece": "expected calibration error",
}
BLOCKS = (
    "moving-block bootstrap of the window''s target dates (blocks of 2 x the horizon in "
    "sessions); null where the window holds fewer than 4 blocks"
)

NO_DIRECTION = ", or where no evaluation in it has a direction"


def upgrade() -> None:
    adds = ",\n".join(
        f"ADD COLUMN {score}_{end} double precision" for score in SCORES for end in ("low", "high")
    )
    checks = ",\n".join(
        f"ADD CONSTRAINT live_predictions_daily_{score}_bounds_ordered "
        f"CHECK ({score}_low <= {score}_high)"
        for score in SCORES
    )
    comments = "\n".join(
        f"COMMENT ON COLUMN live_predictions_daily.{score}_{end} IS "
        f"'{'Lower' if end == 'low' else 'Upper'} end of the 95 % interval of the window''s "
        f"{label}: {BLOCKS}{NO_DIRECTION if score == 'directional_accuracy' else ''}.';"
        for score, label in SCORES.items()
        for end in ("low", "high")
    )
    op.execute(
        f"""
        ALTER TABLE live_predictions_daily
            ADD COLUMN n_eff double precision CHECK (n_eff > 0 AND n_eff <= n),
            {adds},
            {checks};
        COMMENT ON COLUMN live_predictions_daily.n_eff IS
            'Effective sample size of the window: n over the design effect of overlapping '
            'labels (block-bootstrap variance of the mean Brier against the iid one), at most n; '
            'null where the window holds fewer than 4 blocks of 2 x the horizon.';
        {comments}
        """
    )


def downgrade() -> None:
    drops = ",\n".join(
        ["DROP COLUMN n_eff"]
        + [f"DROP COLUMN {score}_{end}" for score in SCORES for end in ("low", "high")]
    )
    op.execute(f"ALTER TABLE live_predictions_daily {drops};")
