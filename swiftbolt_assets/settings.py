"""Typed settings, read from the environment when asked for (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_PARTITION_START = "2026-11-02"
DEFAULT_EXCHANGE = "XNYS"
EXCHANGE_TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class Settings:
    """Where state lives and how the partitions are laid out.

    Attributes:
        home: the project's state folder (embedded PostgreSQL data, drop folder, Dagster home).
        database_url: the warehouse server; ``None`` starts the embedded server.
        dagster_storage_url: Dagster's run/event storage; ``None`` derives it from the warehouse.
        drop_dir: the CSV drop folder watched by ``new_ohlc_bars_sensor``.
        partition_start: the first trading-day partition (go-live); it holds all earlier history.
        exchange: exchange-calendars code of the trading calendar.
        partition_end: the last trading-day partition, for a replay of history (``None``: the
            partitions run through today, as in production).
    """

    home: Path
    database_url: str | None
    dagster_storage_url: str | None
    drop_dir: Path
    partition_start: date
    exchange: str = DEFAULT_EXCHANGE
    partition_end: date | None = None

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (default: the process environment), at call time."""
    env = os.environ if environ is None else environ
    home = Path(env.get("SWIFTBOLT_HOME", ".swiftbolt")).expanduser().resolve()
    drop_dir = Path(env.get("SWIFTBOLT_DROP_DIR", str(home / "drop"))).expanduser().resolve()
    start_text = env.get("SWIFTBOLT_PARTITION_START", DEFAULT_PARTITION_START)
    try:
        start = date.fromisoformat(start_text)
    except ValueError as err:
        msg = f"SWIFTBOLT_PARTITION_START={start_text!r} is not an ISO date (YYYY-MM-DD)"
        raise ValueError(msg) from err
    end_text = env.get("SWIFTBOLT_PARTITION_END") or None
    try:
        end = date.fromisoformat(end_text) if end_text else None
    except ValueError as err:
        msg = f"SWIFTBOLT_PARTITION_END={end_text!r} is not an ISO date (YYYY-MM-DD)"
        raise ValueError(msg) from err
    if end is not None and end < start:
        msg = f"SWIFTBOLT_PARTITION_END={end} is before SWIFTBOLT_PARTITION_START={start}"
        raise ValueError(msg)
    return Settings(
        home=home,
        database_url=env.get("SWIFTBOLT_DATABASE_URL") or None,
        dagster_storage_url=env.get("SWIFTBOLT_DAGSTER_STORAGE_URL") or None,
        drop_dir=drop_dir,
        partition_start=start,
        exchange=env.get("SWIFTBOLT_EXCHANGE", DEFAULT_EXCHANGE),
        partition_end=end,
    )
