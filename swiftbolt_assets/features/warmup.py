"""Compile the indicator kernels once, at install time, into numba's disk cache.

The kernels are compiled with ``cache=True``: the first process that calls them compiles them
(about 12 s on the 2-core CI machine) and writes machine code next to them in ``__pycache__``;
every later process loads it in well under a second. ``make install`` runs this module so that
the compile is part of the install, not of a user's first ``make run`` or of the first tests.

It builds the features of two synthetic symbols through the same path the assets take (drop
files → parsing → validation → ``build_features``), so every kernel is compiled with the argument
types the assets pass. Run it by hand with ``python -m swiftbolt_assets.features.warmup``.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

from swiftbolt_assets.features.build import build_features
from swiftbolt_assets.ingestion.parsing import parse_files
from swiftbolt_assets.ingestion.resources import DropFolderResource
from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files
from swiftbolt_assets.ingestion.validation import split_bars
from swiftbolt_assets.settings import DEFAULT_EXCHANGE

_START, _END = date(2024, 1, 2), date(2025, 6, 30)


def warm_kernels() -> tuple[int, float]:
    """Build the features of two synthetic symbols (d1, w1, h1, m15); return (rows, seconds)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="swiftbolt-warmup-") as folder:
        frames = generate_bars(demo_symbols(2), start=_START, end=_END, seed=1)
        write_drop_files(Path(folder), frames)
        files = DropFolderResource(path=folder).files()
        bars = split_bars(parse_files(files).rows, DEFAULT_EXCHANGE).bars
    features = build_features(bars, _END, DEFAULT_EXCHANGE)
    return features.height, time.perf_counter() - started


def main() -> None:
    rows, seconds = warm_kernels()
    print(f"indicator kernels compiled and cached ({rows} feature rows built in {seconds:.1f}s)")


if __name__ == "__main__":
    main()
