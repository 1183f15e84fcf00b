"""Materialization metadata shown in the Dagster UI: markdown tables of per-horizon numbers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg
import polars as pl

from swiftbolt_assets.cadence import CadenceSpec
from swiftbolt_assets.forecasting import metrics


def markdown(rows: Sequence[dict[str, Any]], columns: list[str]) -> dg.MetadataValue:
    """``rows`` as a markdown table of ``columns`` (``(none)`` when empty)."""
    return dg.MetadataValue.md(metrics.markdown_table(list(rows), columns) if rows else "(none)")


def by_horizon(frame: pl.DataFrame, spec: CadenceSpec, *aggregations: pl.Expr) -> dg.MetadataValue:
    """A markdown table of ``aggregations`` per horizon, in the cadence's horizon order."""
    if frame.is_empty():
        return dg.MetadataValue.md("(none)")
    order = pl.DataFrame({"horizon": list(spec.horizons), "_order": range(len(spec.horizons))})
    rows = (
        frame.group_by("horizon")
        .agg(*aggregations)
        .join(order, on="horizon")
        .sort("_order")
        .drop("_order")
        .to_dicts()
    )
    return dg.MetadataValue.md(metrics.markdown_table(rows, list(rows[0])))
