"""Daily forecasting tables: model_registry, ml_forecasts_daily (+ skips), the backtest, the
confidence calibration, and the two weight tables the synthesizer reads by precedence
(symbol_model_weights, calibrated_weights: created now, filled by the evaluation and intraday
calibration work).

Revision ID: 0003_forecasting
Revises: 0002_features
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0003_forecasting"
down_revision = "0002_features"
branch_labels = None
depends_on = None

HORIZONS = "('1D', '1W', '1M', '2M', '3M', '4M', '5M', '6M')"
LABELS = "('bearish', 'neutral', 'bullish')"
WEIGHTS = """
            w_supertrend double precision NOT NULL CHECK (w_supertrend >= 0),
            w_sr         double precision NOT NULL CHECK (w_sr >= 0),
            w_ensemble   double precision NOT NULL CHECK (w_ensemble >= 0),
            CHECK (w_supertrend + w_sr + w_ensemble > 0),"""


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE model_registry (
            version_id       text PRIMARY KEY,
            horizon          text NOT NULL CHECK (horizon IN {HORIZONS}),
            horizon_days     integer NOT NULL CHECK (horizon_days > 0),
            trained_through  date NOT NULL,
            feature_list     jsonb NOT NULL,
            hyperparameters  jsonb NOT NULL,
            lgbm_weight      double precision NOT NULL CHECK (lgbm_weight BETWEEN 0 AND 1),
            oos_metrics      jsonb NOT NULL,
            n_train          integer NOT NULL,
            n_validation     integer NOT NULL,
            promoted         boolean NOT NULL,
            rejection_reason text,
            train_seconds    double precision NOT NULL,
            artifact         bytea NOT NULL,
            artifact_sha256  text NOT NULL,
            run_id           text NOT NULL,
            created_at       timestamptz NOT NULL DEFAULT now(),
            UNIQUE (horizon, trained_through),
            CHECK (promoted = (rejection_reason IS NULL))
        );
        COMMENT ON TABLE model_registry IS
            'One row per trained (horizon, cutoff): every training label ended on or before '
            'trained_through. Only promoted rows serve forecasts (owner: asset forecast_models).';

        CREATE TABLE ml_forecasts_daily (
            symbol              text NOT NULL,
            as_of_date          date NOT NULL,
            horizon             text NOT NULL CHECK (horizon IN {HORIZONS}),
            horizon_days        integer NOT NULL,
            target_date         date NOT NULL,
            partition_date      date NOT NULL,
            close               double precision NOT NULL CHECK (close > 0),
            label               text NOT NULL CHECK (label IN {LABELS}),
            p_bearish           double precision NOT NULL CHECK (p_bearish BETWEEN 0 AND 1),
            p_neutral           double precision NOT NULL CHECK (p_neutral BETWEEN 0 AND 1),
            p_bullish           double precision NOT NULL CHECK (p_bullish BETWEEN 0 AND 1),
            confidence          double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
            raw_confidence      double precision NOT NULL CHECK (raw_confidence BETWEEN 0 AND 1),
            predicted_return    double precision NOT NULL,
            target_price        double precision NOT NULL CHECK (target_price > 0),
            lower_band          double precision NOT NULL,
            upper_band          double precision NOT NULL,
            threshold_down      double precision NOT NULL CHECK (threshold_down < 0),
            threshold_up        double precision NOT NULL CHECK (threshold_up > 0),
            sigma_daily         double precision NOT NULL CHECK (sigma_daily > 0),
            supertrend_component double precision NOT NULL,
            sr_component        double precision NOT NULL,
            ensemble_component  double precision NOT NULL,
            w_supertrend        double precision NOT NULL,
            w_sr                double precision NOT NULL,
            w_ensemble          double precision NOT NULL,
            model_version       text NOT NULL REFERENCES model_registry (version_id),
            weights_source      text NOT NULL CHECK (weights_source IN
                                    ('calibrated', 'symbol', 'default')),
            weights_version     text NOT NULL,
            calibration_version text,
            feature_ts          timestamptz NOT NULL,
            features_run_id     text NOT NULL,
            run_id              text NOT NULL,
            created_at          timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, as_of_date, horizon),
            CHECK (lower_band <= target_price AND target_price <= upper_band),
            CHECK (p_bearish + p_neutral + p_bullish BETWEEN 0.999999 AND 1.000001)
        );
        CREATE INDEX ml_forecasts_daily_partition_idx
            ON ml_forecasts_daily (partition_date, symbol);
        CREATE INDEX ml_forecasts_daily_target_idx ON ml_forecasts_daily (target_date, symbol);
        COMMENT ON TABLE ml_forecasts_daily IS
            'Daily forecasts as of the close of as_of_date (owner: asset ml_forecasts_daily). '
            'feature_ts keys the features row (symbol, d1, feature_ts) the inputs came from.';

        CREATE TABLE ml_forecast_skips (
            symbol         text NOT NULL,
            as_of_date     date NOT NULL,
            horizon        text NOT NULL CHECK (horizon IN {HORIZONS} OR horizon = 'all'),
            reason         text NOT NULL,
            partition_date date NOT NULL,
            run_id         text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, as_of_date, horizon)
        );
        CREATE INDEX ml_forecast_skips_partition_idx ON ml_forecast_skips (partition_date, symbol);
        COMMENT ON TABLE ml_forecast_skips IS
            '(symbol, day, horizon) that got no forecast, with the reason '
            '(owner: asset ml_forecast_skips).';

        CREATE TABLE symbol_model_weights (
            symbol        text NOT NULL,
            horizon       text NOT NULL CHECK (horizon IN {HORIZONS}),
            version_id    text NOT NULL,
            valid_from    timestamptz NOT NULL,
            valid_until   timestamptz NOT NULL,{WEIGHTS}
            n_evaluations integer,
            diagnostics   jsonb,
            partition_date date NOT NULL,
            run_id        text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, horizon, version_id),
            CHECK (valid_until > valid_from)
        );
        CREATE INDEX symbol_model_weights_lookup_idx
            ON symbol_model_weights (symbol, horizon, valid_from);
        COMMENT ON TABLE symbol_model_weights IS
            'Daily layer weights per (symbol, horizon), valid one trading day; read by the '
            'synthesizer after calibrated_weights, before the defaults.';

        CREATE TABLE calibrated_weights (
            symbol        text NOT NULL,
            horizon       text NOT NULL CHECK (horizon IN {HORIZONS}),
            version_id    text NOT NULL,
            valid_from    timestamptz NOT NULL,
            expires_at    timestamptz NOT NULL,{WEIGHTS}
            n_evaluations integer,
            diagnostics   jsonb,
            partition_date date NOT NULL,
            run_id        text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, horizon, version_id),
            CHECK (expires_at > valid_from)
        );
        CREATE INDEX calibrated_weights_lookup_idx
            ON calibrated_weights (symbol, horizon, valid_from);
        COMMENT ON TABLE calibrated_weights IS
            'Intraday-calibrated layer weights (expire after hours); first in the synthesizer''s '
            'precedence. Never used once expired.';

        CREATE TABLE confidence_calibration (
            version_id     text PRIMARY KEY,
            horizon        text NOT NULL CHECK (horizon IN {HORIZONS}),
            fitted_through date NOT NULL,
            method         text NOT NULL,
            source         text NOT NULL CHECK (source IN ('backtest', 'live')),
            n_samples      integer NOT NULL,
            n_holdout      integer NOT NULL,
            ece_before     double precision,
            ece_after      double precision,
            x              double precision[] NOT NULL,
            y              double precision[] NOT NULL,
            run_id         text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            UNIQUE (horizon, fitted_through, source)
        );
        COMMENT ON TABLE confidence_calibration IS
            'Isotonic maps raw -> calibrated confidence per horizon; every outcome used ended on '
            'or before fitted_through (owner: asset confidence_calibration).';

        CREATE TABLE forecast_backtest_predictions (
            symbol         text NOT NULL,
            as_of_date     date NOT NULL,
            horizon        text NOT NULL CHECK (horizon IN {HORIZONS}),
            label_end_date date NOT NULL,
            model_cutoff   date NOT NULL,
            p_bearish      double precision NOT NULL,
            p_neutral      double precision NOT NULL,
            p_bullish      double precision NOT NULL,
            ens_bearish    double precision NOT NULL,
            ens_neutral    double precision NOT NULL,
            ens_bullish    double precision NOT NULL,
            realized_return double precision NOT NULL,
            realized_label text NOT NULL CHECK (realized_label IN {LABELS}),
            threshold_down double precision NOT NULL,
            threshold_up   double precision NOT NULL,
            run_id         text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, as_of_date, horizon)
        );
        COMMENT ON TABLE forecast_backtest_predictions IS
            'Walk-forward out-of-sample predictions (synthesized with default weights, and the '
            'ensemble alone) with realized outcomes (owner: asset forecast_backtest_predictions).';

        CREATE TABLE forecast_backtest (
            horizon             text NOT NULL CHECK (horizon IN {HORIZONS}),
            method              text NOT NULL,
            n                   integer NOT NULL,
            accuracy            double precision,
            balanced_accuracy   double precision,
            directional_accuracy double precision,
            brier               double precision,
            brier_skill_score   double precision,
            ece                 double precision,
            rank_ic             double precision,
            log_loss            double precision,
            period_start        date NOT NULL,
            period_end          date NOT NULL,
            retrains            integer NOT NULL,
            run_id              text NOT NULL,
            created_at          timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (horizon, method)
        );
        COMMENT ON TABLE forecast_backtest IS
            'Out-of-sample metrics per horizon for the forecast and the baselines '
            '(owner: asset forecast_backtest).';
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE forecast_backtest, forecast_backtest_predictions, confidence_calibration, "
        "calibrated_weights, symbol_model_weights, ml_forecast_skips, ml_forecasts_daily, "
        "model_registry"
    )
