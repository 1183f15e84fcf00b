"""The Dagster resource through which assets reach the warehouse."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from swiftbolt_assets.settings import load_settings
from swiftbolt_assets.warehouse.database import engine_for, resolve_urls, with_driver


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[misc,type-arg]
    """PostgreSQL warehouse. ``database_url`` empty means: the configured or embedded server.

    The URL is resolved when a run first asks for the engine (never at import time), so step
    processes join the embedded server held by the process that launched them.
    """

    database_url: str = ""

    def url(self) -> str:
        if self.database_url:
            return with_driver(self.database_url, "psycopg")
        return resolve_urls(load_settings(), create=False).warehouse

    def engine(self) -> sa.Engine:
        return engine_for(self.url())
