"""The Dagster resource through which assets reach the warehouse."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from swiftbolt_assets.warehouse.database import (
    WAREHOUSE_DATABASE,
    engine_for,
    start_embedded_server,
    with_database,
    with_driver,
)


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[misc,type-arg]
    """PostgreSQL warehouse: ``database_url``, or the embedded server of ``pgdata``.

    The URL is resolved when a run first asks for the engine (never at import time), so step
    processes join the embedded server held by the process that launched them.
    """

    database_url: str = Field("", description="the warehouse server (empty: the embedded one)")
    pgdata: str = Field(
        ".swiftbolt/pgdata", description="data folder of the embedded server (no database_url)"
    )

    def url(self) -> str:
        if self.database_url:
            return with_driver(self.database_url, "psycopg")
        server = start_embedded_server(Path(self.pgdata).expanduser().resolve())
        return with_driver(with_database(server, WAREHOUSE_DATABASE), "psycopg")

    def engine(self) -> sa.Engine:
        return engine_for(self.url())
