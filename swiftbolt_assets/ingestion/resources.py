"""The drop folder as a Dagster resource."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from swiftbolt_assets.ingestion.sources import DEFAULT_SOURCES, SourceFile, discover_files
from swiftbolt_assets.settings import load_settings


class DropFolderResource(dg.ConfigurableResource):  # type: ignore[misc,type-arg]
    """CSV drop folder; ``path`` empty means ``SWIFTBOLT_DROP_DIR`` (default ``.swiftbolt/drop``).

    Sub-folders select the format: ``tradingview/`` (TradingView chart exports),
    ``sp500/`` (``DA-<SYMBOL>-T-<date>.csv`` daily files), ``csv/`` and ``synthetic/``
    (``<SYMBOL>_<timeframe>.csv`` with ``timestamp,open,high,low,close,volume`` and optional
    ``split_coefficient,dividend_amount``).
    """

    path: str = ""

    def directory(self) -> Path:
        return Path(self.path).resolve() if self.path else load_settings().drop_dir

    def files(self) -> list[SourceFile]:
        return discover_files(self.directory(), DEFAULT_SOURCES)
