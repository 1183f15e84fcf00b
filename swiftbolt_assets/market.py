"""The exchange calendar as a Dagster resource: assets ask it for sessions and closes.

Configured once where the definitions are built (``SWIFTBOLT_EXCHANGE`` through ``dg.EnvVar``,
default ``XNYS``), so no asset reads the environment; the calendar math is ``calendar``'s.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
from pydantic import Field

from swiftbolt_assets import calendar
from swiftbolt_assets.settings import DEFAULT_EXCHANGE


class MarketCalendarResource(dg.ConfigurableResource):  # type: ignore[misc,type-arg]
    """The trading calendar of one exchange (exchange-calendars code)."""

    exchange: str = Field(DEFAULT_EXCHANGE, description="exchange-calendars code, e.g. XNYS")

    def sessions(self, through: date) -> list[date]:
        """Every session from 1990 through ``through``, and enough after it to reach the target
        of a forecast made on ``through``."""
        return calendar.trading_calendar(self.exchange, through)

    def sessions_table(self, through: date) -> pl.DataFrame:
        """(session_date, open_utc, close_utc) of every session to ``through``'s year + 2."""
        return calendar.sessions_table(self.exchange, through)

    def close_times(self, days: list[date]) -> pl.DataFrame:
        """(session_date, close_utc) of the sessions among ``days``."""
        return calendar.close_times(self.exchange, days)

    def is_session(self, day: date) -> bool:
        return calendar.is_session(self.exchange, day)
