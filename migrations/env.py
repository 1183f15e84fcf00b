"""Alembic environment: migrations run on the connection or URL the caller gives.

`python -m swiftbolt_assets.cli migrate` (and `make migrate`) resolves the warehouse URL, starting
the embedded server if needed, and passes it here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, transaction_per_migration=False)
        context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(url or "")
    with engine.begin() as conn:
        context.configure(connection=conn)
        context.run_migrations()
    engine.dispose()


run()
