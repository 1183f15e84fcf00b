"""The intraday cadence's tables: the daily tables' row contracts keyed by bar instants.

- ``model_registry.timeframe``: the bars a version was trained on (``d1`` or ``m15``); the
  intraday horizons join the daily ones in its horizon check.
- ``ml_forecasts_intraday``, ``ml_forecast_skips_intraday``, ``forecast_evaluations_intraday``
  and ``live_predictions_intraday``: the columns, defaults and checks of their daily tables
  (``CREATE TABLE … LIKE``), with ``as_of_ts`` (the close of the as-of m15 bar) and, for
  forecasts and evaluations, ``target_ts`` (the close of the bar the horizon ends on), keyed
  by (symbol, as_of_ts, horizon). ``as_of_date``/``target_date`` stay: the sessions of those
  bars (the same session: an intraday horizon never crosses the close).
- ``calibrated_weights`` had no writer: it is rebuilt with the columns of
  ``symbol_model_weights`` (method, fit diagnostics, fallback reason), its end of validity
  named ``expires_at``.

Revision ID: 0010_intraday
Revises: 0009_symbol_sectors
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0010_intraday"
down_revision = "0009_symbol_sectors"
branch_labels = None
depends_on = None

DAILY_HORIZONS = "('1D', '1W', '1M', '2M', '3M', '4M', '5M', '6M')"
INTRADAY_HORIZONS = "('15m', '1h')"
COPIED = {
    "ml_forecasts_intraday": "ml_forecasts_daily",
    "ml_forecast_skips_intraday": "ml_forecast_skips",
    "forecast_evaluations_intraday": "forecast_evaluations_daily",
    "live_predictions_intraday": "live_predictions_daily",
    "calibrated_weights": "symbol_model_weights",
}


def _drop_checks(table: str, mentioning: str) -> str:
    """SQL dropping the CHECK constraints of ``table`` whose definition mentions a word (the
    copies of the daily horizon and target-date rules)."""
    return f"""
        DO $$
        DECLARE c record;
        BEGIN
          FOR c IN SELECT conname FROM pg_constraint
                   WHERE conrelid = '{table}'::regclass AND contype = 'c'
                     AND pg_get_constraintdef(oid) LIKE '%{mentioning}%'
          LOOP
            EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', c.conname);
          END LOOP;
        END $$;
    """


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE model_registry
            ADD COLUMN timeframe text NOT NULL DEFAULT 'd1' CHECK (timeframe IN ('d1', 'm15'));
        {_drop_checks("model_registry", "horizon")}
        ALTER TABLE model_registry ADD CONSTRAINT model_registry_horizon_check
            CHECK ((timeframe = 'd1' AND horizon IN {DAILY_HORIZONS})
                   OR (timeframe = 'm15' AND horizon IN {INTRADAY_HORIZONS}));
        COMMENT ON COLUMN model_registry.timeframe IS
            'The bars the version was trained on and forecasts on: d1 (daily cadence) or m15 '
            '(intraday); horizon_days then counts sessions or 15-minute bars.';
        DROP TABLE calibrated_weights;
        """
    )
    for table, like in COPIED.items():
        op.execute(
            f"CREATE TABLE {table} (LIKE {like} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING COMMENTS)"
        )
        op.execute(_drop_checks(table, "horizon"))
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_horizon_check "
            f"CHECK (horizon IN {INTRADAY_HORIZONS}"
            + (" OR horizon = 'all')" if "skips" in table else ")")
        )
    op.execute(_drop_checks("forecast_evaluations_intraday", "target_date"))
    op.execute(
        """
        ALTER TABLE ml_forecasts_intraday
            ADD COLUMN as_of_ts timestamptz NOT NULL,
            ADD COLUMN target_ts timestamptz NOT NULL,
            ADD PRIMARY KEY (symbol, as_of_ts, horizon),
            ADD FOREIGN KEY (model_version) REFERENCES model_registry (version_id),
            ADD CONSTRAINT ml_forecasts_intraday_target_check
                CHECK (target_ts > as_of_ts AND target_date = as_of_date);
        CREATE INDEX ml_forecasts_intraday_partition_idx
            ON ml_forecasts_intraday (partition_date, symbol);
        COMMENT ON TABLE ml_forecasts_intraday IS
            'Intraday forecasts at the close of every m15 bar of the regular session (as_of_ts), '
            'for the close of the bar horizon_days bars later (target_ts), never past the '
            'session''s close (owner: asset ml_forecasts_intraday). feature_ts keys the m15 '
            'features row the inputs came from.';

        ALTER TABLE ml_forecast_skips_intraday
            ADD COLUMN as_of_ts timestamptz;
        CREATE UNIQUE INDEX ml_forecast_skips_intraday_key
            ON ml_forecast_skips_intraday
               (symbol, as_of_date, coalesce(as_of_ts, '-infinity'), horizon);
        CREATE INDEX ml_forecast_skips_intraday_partition_idx
            ON ml_forecast_skips_intraday (partition_date, symbol);
        COMMENT ON TABLE ml_forecast_skips_intraday IS
            '(symbol, m15 bar or whole day when as_of_ts is null, horizon) that got no intraday '
            'forecast, with the reason (owner: asset ml_forecasts_intraday).';

        ALTER TABLE forecast_evaluations_intraday
            ADD COLUMN as_of_ts timestamptz NOT NULL,
            ADD COLUMN target_ts timestamptz NOT NULL,
            ADD PRIMARY KEY (symbol, as_of_ts, horizon),
            ADD CONSTRAINT forecast_evaluations_intraday_target_check
                CHECK (target_date = partition_date AND target_date = as_of_date
                       AND target_ts > as_of_ts AND bar_created_at >= target_ts);
        CREATE INDEX forecast_evaluations_intraday_partition_idx
            ON forecast_evaluations_intraday (partition_date, symbol);
        CREATE INDEX forecast_evaluations_intraday_history_idx
            ON forecast_evaluations_intraday (symbol, horizon, target_ts);
        COMMENT ON TABLE forecast_evaluations_intraday IS
            'Each intraday forecast scored on the final m15 bar that ends at its target_ts '
            '(owner: asset forecast_evaluations_intraday; partition = the session).';

        ALTER TABLE live_predictions_intraday
            ADD PRIMARY KEY (symbol, partition_date, horizon, window_size);
        CREATE INDEX live_predictions_intraday_partition_idx
            ON live_predictions_intraday (partition_date, symbol);
        COMMENT ON TABLE live_predictions_intraday IS
            'Rolling live scores per (symbol, intraday horizon) over the last window_size '
            'evaluations through the session partition_date (owner: asset '
            'live_predictions_intraday).';

        ALTER TABLE calibrated_weights RENAME COLUMN valid_until TO expires_at;
        ALTER TABLE calibrated_weights
            ADD PRIMARY KEY (symbol, horizon, version_id);
        CREATE INDEX calibrated_weights_lookup_idx
            ON calibrated_weights (symbol, horizon, valid_from);
        CREATE INDEX calibrated_weights_partition_idx
            ON calibrated_weights (partition_date, symbol);
        COMMENT ON TABLE calibrated_weights IS
            'Intraday layer weights per (symbol, horizon), fitted at valid_from on the intraday '
            'evaluations known then; they serve forecasts made in (valid_from, expires_at], '
            'expires_at = valid_from + 4 hours, first in the synthesizer''s precedence and never '
            'once expired (owner: asset calibrated_weights).';
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DROP TABLE live_predictions_intraday, forecast_evaluations_intraday,
            ml_forecast_skips_intraday, ml_forecasts_intraday, calibrated_weights;
        CREATE TABLE calibrated_weights (
            symbol        text NOT NULL,
            horizon       text NOT NULL CHECK (horizon IN {DAILY_HORIZONS}),
            version_id    text NOT NULL,
            valid_from    timestamptz NOT NULL,
            expires_at    timestamptz NOT NULL,
            w_supertrend  double precision NOT NULL CHECK (w_supertrend >= 0),
            w_sr          double precision NOT NULL CHECK (w_sr >= 0),
            w_ensemble    double precision NOT NULL CHECK (w_ensemble >= 0),
            CHECK (w_supertrend + w_sr + w_ensemble > 0),
            n_evaluations integer,
            diagnostics   jsonb,
            partition_date date NOT NULL,
            run_id        text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, horizon, version_id),
            CHECK (expires_at > valid_from)
        );
        DELETE FROM model_registry WHERE timeframe <> 'd1';
        ALTER TABLE model_registry DROP CONSTRAINT model_registry_horizon_check;
        ALTER TABLE model_registry DROP COLUMN timeframe;
        ALTER TABLE model_registry ADD CONSTRAINT model_registry_horizon_check
            CHECK (horizon IN {DAILY_HORIZONS});
        """
    )
