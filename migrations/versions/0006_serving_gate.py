"""Never worse than the base rate: what each model version serves, and what each forecast was.

``model_registry`` records the version's cross-fitted validation skill against climatology with
its 95 % block-bootstrap interval, the weight it serves against climatology (``shrinkage``) and
whether it serves the model or climatology (with the reason). ``ml_forecasts_daily`` records
what each row served. Versions and forecasts from before this revision served the model as it
was: ``serves = 'model'``, ``shrinkage = 1``, no bound.

Revision ID: 0006_serving_gate
Revises: 0005_backtest_intervals
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0006_serving_gate"
down_revision = "0005_backtest_intervals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE model_registry
            ADD COLUMN serves text NOT NULL DEFAULT 'model'
                CHECK (serves IN ('model', 'climatology')),
            ADD COLUMN shrinkage double precision NOT NULL DEFAULT 1
                CHECK (shrinkage BETWEEN 0 AND 1),
            ADD COLUMN skill double precision,
            ADD COLUMN skill_low double precision,
            ADD COLUMN skill_high double precision,
            ADD COLUMN skill_n_eff double precision,
            ADD COLUMN serving_reason text,
            ADD CONSTRAINT model_registry_serves_with_a_reason
                CHECK ((serves = 'climatology') = (serving_reason IS NOT NULL));
        COMMENT ON COLUMN model_registry.skill_low IS
            'Lower end of the 95 % interval of the cross-fitted validation skill (Brier, against '
            'climatology) of the shrunk forecast; the version serves the model only if above 0.';
        ALTER TABLE ml_forecasts_daily
            ADD COLUMN served_by text NOT NULL DEFAULT 'model'
                CHECK (served_by IN ('model', 'climatology')),
            ADD COLUMN shrinkage double precision NOT NULL DEFAULT 1
                CHECK (shrinkage BETWEEN 0 AND 1),
            ADD COLUMN skill_low double precision;
        COMMENT ON COLUMN ml_forecasts_daily.served_by IS
            'model: the version''s probabilities shrunk toward climatology by shrinkage; '
            'climatology: the version''s training class frequencies (its skill was not shown).';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE ml_forecasts_daily
            DROP COLUMN served_by, DROP COLUMN shrinkage, DROP COLUMN skill_low;
        ALTER TABLE model_registry
            DROP CONSTRAINT model_registry_serves_with_a_reason,
            DROP COLUMN serves, DROP COLUMN shrinkage, DROP COLUMN skill,
            DROP COLUMN skill_low, DROP COLUMN skill_high, DROP COLUMN skill_n_eff,
            DROP COLUMN serving_reason;
        """
    )
