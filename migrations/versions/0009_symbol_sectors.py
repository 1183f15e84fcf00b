"""Each symbol's sector, from the drop folder's ``constituents.csv`` (optional).

``symbols.sector`` is written by ``ohlc_bars`` (the table's owner) for the symbols of each run:
the sector the drop folder's ``constituents.csv`` names for the symbol, null where none does.
The forecasts' sector-relative input (``forecasting/cross_section.py``) reads it; rows rejected
from the file are in ``ohlc_rejects`` with their file, line and reason.

Revision ID: 0009_symbol_sectors
Revises: 0008_live_intervals
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0009_symbol_sectors"
down_revision = "0008_live_intervals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE symbols ADD COLUMN sector text CHECK (sector <> '');
        COMMENT ON COLUMN symbols.sector IS
            'Sector named for the symbol by the drop folder''s constituents.csv (Symbol, Sector '
            'columns), null where no file names it. Optional: only the sector-relative forecast '
            'input uses it.';
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE symbols DROP COLUMN sector")
