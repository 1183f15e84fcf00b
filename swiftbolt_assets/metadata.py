"""Materialization metadata shown in the Dagster UI, and the markdown tables it (and the replay
report) is made of."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from swiftbolt_assets.cadence import CadenceSpec


def markdown(rows: Sequence[dict[str, Any]], columns: list[str]) -> dg.MetadataValue:
    """``rows`` as a markdown table of ``columns`` (``(none)`` when empty)."""
    return dg.MetadataValue.md(markdown_table(list(rows), columns) if rows else "(none)")


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
    return dg.MetadataValue.md(markdown_table(rows, list(rows[0])))


def with_intervals(row: Mapping[str, object], names: Sequence[str]) -> dict[str, object]:
    """``row`` with each of ``names`` shown as ``point [low, high]`` (its ``_low`` and ``_high``
    columns), for a markdown table; other cells unchanged."""
    shown = dict(row)
    for name in names:
        ends = (row.get(f"{name}_low"), row.get(f"{name}_high"))
        if all(isinstance(e, float | int) and not math.isnan(float(e)) for e in ends):
            shown[name] = f"{_cell(row.get(name))} [{_cell(ends[0])}, {_cell(ends[1])}]"
    return shown


def _cell(value: object) -> str:
    """Format one markdown cell: floats to 3 decimals, nan/None as an en dash, ints as is."""
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "–" if math.isnan(float(value)) else f"{float(value):.3f}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """GitHub markdown table of ``rows`` over ``columns`` (missing cells shown as an en dash)."""
    header = "| " + " | ".join(columns) + " |"
    separator = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(_cell(row.get(col)) for col in columns) + " |" for row in rows]
    return "\n".join([header, separator, *body])
