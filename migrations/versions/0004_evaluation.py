"""The evaluation loop: forecast_evaluations_daily, live_predictions_daily, the writer's columns
of symbol_model_weights, and the layer probabilities on ml_forecasts_daily that the weight fit
needs.

Revision ID: 0004_evaluation
Revises: 0003_forecasting
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0004_evaluation"
down_revision = "0003_forecasting"
branch_labels = None
depends_on = None

HORIZONS = "('1D', '1W', '1M', '2M', '3M', '4M', '5M', '6M')"
LABELS = "('bearish', 'neutral', 'bullish')"
LAYER_PROBABILITIES = [
    f"{layer}_p_{label}"
    for layer in ("supertrend", "sr", "ensemble")
    for label in ("bearish", "neutral", "bullish")
]
WEIGHT_METHODS = "('fitted', 'fallback_few_evaluations', 'fallback_no_gain')"


def _probability_columns(nullable: bool) -> str:
    null = "" if nullable else " NOT NULL"
    return ",\n".join(
        f"            {c} double precision{null} CHECK ({c} BETWEEN 0 AND 1)"
        for c in LAYER_PROBABILITIES
    )


def upgrade() -> None:
    # Forecasts written before this revision have no layer probabilities (null); the weight fit
    # skips them.
    adds = ",\n".join(
        f"ADD COLUMN {c} double precision CHECK ({c} BETWEEN 0 AND 1)" for c in LAYER_PROBABILITIES
    )
    op.execute(f"ALTER TABLE ml_forecasts_daily {adds}")
    op.execute(
        "COMMENT ON TABLE ml_forecast_skips IS '(symbol, day, horizon) that got no forecast, "
        "with the reason (owner: asset ml_forecasts_daily, same transaction as the forecasts).'"
    )
    op.execute(
        f"""
        CREATE TABLE forecast_evaluations_daily (
            symbol            text NOT NULL,
            as_of_date        date NOT NULL,
            horizon           text NOT NULL CHECK (horizon IN {HORIZONS}),
            horizon_days      integer NOT NULL CHECK (horizon_days > 0),
            target_date       date NOT NULL,
            partition_date    date NOT NULL,
            predicted_label   text NOT NULL CHECK (predicted_label IN {LABELS}),
            p_bearish         double precision NOT NULL,
            p_neutral         double precision NOT NULL,
            p_bullish         double precision NOT NULL,
            confidence        double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
            raw_confidence    double precision NOT NULL CHECK (raw_confidence BETWEEN 0 AND 1),
            predicted_return  double precision NOT NULL,
            target_price      double precision NOT NULL CHECK (target_price > 0),
            lower_band        double precision NOT NULL,
            upper_band        double precision NOT NULL,
            threshold_down    double precision NOT NULL CHECK (threshold_down < 0),
            threshold_up      double precision NOT NULL CHECK (threshold_up > 0),
            forecast_close    double precision NOT NULL CHECK (forecast_close > 0),
            as_of_close       double precision NOT NULL CHECK (as_of_close > 0),
            target_close      double precision NOT NULL CHECK (target_close > 0),
            adjustment_factor double precision NOT NULL CHECK (adjustment_factor > 0),
            realized_return   double precision NOT NULL,
            realized_price    double precision NOT NULL CHECK (realized_price > 0),
            realized_label    text NOT NULL CHECK (realized_label IN {LABELS}),
            label_correct     boolean NOT NULL,
            direction_correct boolean,
            price_error_pct   double precision NOT NULL,
            inside_band       boolean NOT NULL,
{_probability_columns(nullable=True)},
            model_version     text NOT NULL,
            weights_source    text NOT NULL,
            weights_version   text NOT NULL,
            calibration_version text,
            forecast_run_id   text NOT NULL,
            bar_run_id        text NOT NULL,
            bar_created_at    timestamptz NOT NULL,
            run_id            text NOT NULL,
            created_at        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, as_of_date, horizon),
            CHECK (target_date = partition_date AND target_date > as_of_date)
        );
        CREATE INDEX forecast_evaluations_daily_partition_idx
            ON forecast_evaluations_daily (partition_date, symbol);
        CREATE INDEX forecast_evaluations_daily_history_idx
            ON forecast_evaluations_daily (symbol, horizon, target_date);
        COMMENT ON TABLE forecast_evaluations_daily IS
            'Each daily forecast scored on the final d1 bar of its target date (owner: asset '
            'forecast_evaluations_daily; partition = target date). realized_return is the '
            'split/dividend-adjusted return from the as-of close to the target close; '
            'realized_price is that return in the forecast''s price terms.';

        CREATE TABLE live_predictions_daily (
            symbol            text NOT NULL,
            horizon           text NOT NULL CHECK (horizon IN {HORIZONS}),
            partition_date    date NOT NULL,
            window_size       integer NOT NULL CHECK (window_size > 0),
            n                 integer NOT NULL CHECK (n > 0 AND n <= window_size),
            first_target_date date NOT NULL,
            last_target_date  date NOT NULL,
            accuracy          double precision NOT NULL,
            directional_accuracy double precision,
            n_directional     integer NOT NULL,
            brier             double precision NOT NULL,
            ece               double precision NOT NULL,
            mean_confidence   double precision NOT NULL,
            inside_band_rate  double precision NOT NULL,
            mean_abs_price_error_pct double precision NOT NULL,
            n_bullish         integer NOT NULL,
            n_neutral         integer NOT NULL,
            n_bearish         integer NOT NULL,
            hit_rate_bullish  double precision,
            hit_rate_neutral  double precision,
            hit_rate_bearish  double precision,
            run_id            text NOT NULL,
            created_at        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, partition_date, horizon, window_size),
            CHECK (first_target_date <= last_target_date AND last_target_date <= partition_date)
        );
        CREATE INDEX live_predictions_daily_partition_idx
            ON live_predictions_daily (partition_date, symbol);
        COMMENT ON TABLE live_predictions_daily IS
            'Rolling live scores per (symbol, horizon) over the last window_size evaluations whose '
            'target date is on or before partition_date (owner: asset live_predictions_daily). '
            'hit_rate_<label>: share of the forecasts with that label that were right.';

        -- The writer's fit diagnostics as typed columns (queried and charted, unlike a JSON
        -- blob); the table had no writer before this revision, so it is empty here.
        ALTER TABLE symbol_model_weights
            DROP COLUMN diagnostics,
            ADD COLUMN method text NOT NULL CHECK (method IN {WEIGHT_METHODS}),
            ADD COLUMN fitted_through date NOT NULL,
            ADD COLUMN n_train integer,
            ADD COLUMN n_validation integer,
            ADD COLUMN train_brier double precision,
            ADD COLUMN validation_brier_fitted double precision,
            ADD COLUMN validation_brier_default double precision,
            ADD COLUMN validation_brier_ensemble double precision,
            ADD COLUMN fallback_reason text,
            ADD CONSTRAINT symbol_model_weights_fitted_check
                CHECK (fitted_through = partition_date),
            ADD CONSTRAINT symbol_model_weights_fallback_check
                CHECK ((method = 'fitted') = (fallback_reason IS NULL));
        CREATE INDEX symbol_model_weights_partition_idx
            ON symbol_model_weights (partition_date, symbol);
        COMMENT ON TABLE symbol_model_weights IS
            'Daily layer weights per (symbol, horizon), fitted at the close of partition_date on '
            'the evaluations known then; valid from that close (exclusive) to the next '
            'session''s close (inclusive). method says whether they were fitted or are the '
            'recorded fallback to the defaults (owner: asset symbol_model_weights).';
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE live_predictions_daily, forecast_evaluations_daily")
    op.execute(
        "ALTER TABLE symbol_model_weights DROP COLUMN method, DROP COLUMN fitted_through, "
        "DROP COLUMN n_train, DROP COLUMN n_validation, DROP COLUMN train_brier, "
        "DROP COLUMN validation_brier_fitted, DROP COLUMN validation_brier_default, "
        "DROP COLUMN validation_brier_ensemble, DROP COLUMN fallback_reason, "
        "ADD COLUMN diagnostics jsonb"
    )
    op.execute("DROP INDEX IF EXISTS symbol_model_weights_partition_idx")
    drops = ", ".join(f"DROP COLUMN {c}" for c in LAYER_PROBABILITIES)
    op.execute(f"ALTER TABLE ml_forecasts_daily {drops}")
