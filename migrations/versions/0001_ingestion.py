"""Ingestion tables: symbols, ohlc_bars, ohlc_rejects.

Revision ID: 0001_ingestion
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0001_ingestion"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE symbols (
            symbol        text PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9][A-Z0-9.\\-]{0,11}$'),
            is_synthetic  boolean NOT NULL,
            first_session date NOT NULL,
            last_session  date NOT NULL,
            bar_count     bigint NOT NULL,
            sources       text NOT NULL,
            run_id        text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE symbols IS
            'Symbols seen by ingestion (owner: asset ohlc_bars). '
            'Dagster dynamic partitions mirror it.';

        CREATE TABLE ohlc_bars (
            symbol            text NOT NULL,
            timeframe         text NOT NULL CHECK (timeframe IN ('m15', 'h1', 'd1')),
            ts                timestamptz NOT NULL,
            session_date      date NOT NULL,
            partition_date    date NOT NULL,
            open              double precision NOT NULL CHECK (open > 0),
            high              double precision NOT NULL,
            low               double precision NOT NULL CHECK (low > 0),
            close             double precision NOT NULL CHECK (close > 0),
            volume            double precision NOT NULL CHECK (volume >= 0),
            split_coefficient double precision NOT NULL DEFAULT 1 CHECK (split_coefficient > 0),
            dividend_amount   double precision NOT NULL DEFAULT 0 CHECK (dividend_amount >= 0),
            is_synthetic      boolean NOT NULL,
            source_name       text NOT NULL,
            source_file       text NOT NULL,
            source_line       integer NOT NULL,
            run_id            text NOT NULL,
            created_at        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, timeframe, ts),
            CHECK (high >= greatest(open, close) AND low <= least(open, close))
        );
        CREATE INDEX ohlc_bars_partition_idx ON ohlc_bars (partition_date, symbol);
        COMMENT ON TABLE ohlc_bars IS
            'Raw OHLCV bars with split/dividend events (owner: asset ohlc_bars). '
            'ts is the bar open in UTC; d1 bars use the session date at 00:00 America/New_York.';

        CREATE TABLE ohlc_rejects (
            reject_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            partition_date date,
            symbol         text,
            timeframe      text,
            session_date   date,
            source_file    text NOT NULL,
            source_line    integer,
            reason         text NOT NULL,
            raw_record     text,
            run_id         text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ohlc_rejects_partition_idx ON ohlc_rejects (partition_date, symbol);
        CREATE INDEX ohlc_rejects_file_idx ON ohlc_rejects (source_file);
        COMMENT ON TABLE ohlc_rejects IS
            'Quarantined input rows and unreadable files with the reason (owner: asset ohlc_bars). '
            'source_line is null for a file-level problem; partition_date is null when the row has '
            'no usable session date or no valid symbol.';
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE ohlc_rejects; DROP TABLE ohlc_bars; DROP TABLE symbols;")
