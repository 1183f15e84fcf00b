"""Applying the Alembic migrations in ``migrations/`` (the only place schema is defined)."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    if head is None:
        msg = f"no migrations found in {MIGRATIONS_DIR}"
        raise RuntimeError(msg)
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str) -> str:
    """Bring the warehouse at ``url`` to the newest revision; return it."""
    engine = sa.create_engine(url)
    try:
        # Serialize concurrent migrators (e.g. a run and the test suite) on one lock.
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('swiftbolt_migrations'))"))
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        revision = current_revision(engine)
    finally:
        engine.dispose()
    logger.info("warehouse schema at revision %s", revision)
    return revision or ""
