"""What the indicator tests share: a column read back as float64 numpy (``test_indicators``,
``test_indicator_oracles``)."""

from __future__ import annotations

import numpy as np
import polars as pl

Array = np.ndarray


def float_column(frame: pl.DataFrame, name: str) -> Array:
    """A column as float64 numpy (null -> NaN)."""
    return frame[name].cast(pl.Float64).to_numpy()
