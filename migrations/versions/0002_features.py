"""Features table: one row per (symbol, timeframe, ts) for d1, w1, h1 and m15.

Revision ID: 0002_features
Revises: 0001_ingestion
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002_features"
down_revision = "0001_ingestion"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE features (
            symbol         text NOT NULL,
            timeframe      text NOT NULL CHECK (timeframe IN ('m15', 'h1', 'd1', 'w1')),
            ts             timestamptz NOT NULL,
            session_date   date NOT NULL,
            partition_date date NOT NULL,
            is_synthetic   boolean NOT NULL,
            adj_factor double precision, adj_close double precision,
            sma_5 double precision, sma_10 double precision,
            sma_20 double precision, sma_50 double precision,
            sma_200 double precision, ema_12 double precision,
            ema_26 double precision, rsi_14 double precision,
            rsi_7 double precision, macd_12_26 double precision,
            macd_signal_12_26_9 double precision, macd_hist_12_26_9 double precision,
            atr_14 double precision, adx_14 double precision,
            plus_di_14 double precision, minus_di_14 double precision,
            bb_basis_20 double precision, bb_upper_20 double precision,
            bb_lower_20 double precision, bb_pct_b_20 double precision,
            bb_width_20 double precision, bb_basis_30 double precision,
            bb_upper_30 double precision, bb_lower_30 double precision,
            bb_pct_b_30 double precision, bb_width_30 double precision,
            kdj_rsv_9 double precision, kdj_k_9_3 double precision,
            kdj_d_9_3 double precision, kdj_j_9_3 double precision,
            rsi_cloud_lead double precision, rsi_cloud_base double precision,
            mfi_14 double precision, obv_252 double precision,
            volume_ratio_20 double precision, roc_5 double precision,
            roc_20 double precision, williams_r_14 double precision,
            cci_20 double precision, hv_20 double precision,
            hv_60 double precision, supertrend_10_3 double precision,
            supertrend_dir_10_3 double precision, st_ai_stop double precision,
            st_ai_ama double precision, st_ai_trend double precision,
            st_ai_perf_idx double precision, st_ai_factor double precision,
            st_ai_strength double precision, pivot_high_5 double precision,
            pivot_low_5 double precision, pivot_high_25 double precision,
            pivot_low_25 double precision, pivot_high_50 double precision,
            pivot_low_50 double precision, pivot_high_100 double precision,
            pivot_low_100 double precision, poly_support_50 double precision,
            poly_resistance_50 double precision, nearest_support double precision,
            nearest_resistance double precision, support_distance_atr double precision,
            resistance_distance_atr double precision, adx_14_prev_d1 double precision,
            rsi_14_w1 double precision, adx_14_w1 double precision,
            rsi_cloud_bull_cross boolean,
            rsi_cloud_bear_cross boolean,
            volatility_regime text CHECK (volatility_regime IN ('low', 'normal', 'high')),
            trend_regime      text CHECK (trend_regime IN ('downtrend', 'sideways', 'uptrend')),
            momentum_regime   text CHECK (momentum_regime IN ('ranging', 'trending', 'strong')),
            run_id         text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, timeframe, ts)
        );
        CREATE INDEX features_partition_idx ON features (partition_date, symbol);
        COMMENT ON TABLE features IS
            'Indicators once per bar on split- and dividend-adjusted prices as of the partition '
            'date (owner: asset features). Null = not yet defined (warm-up), never NaN or inf.';
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE features")
