"""Reading drop-folder CSV files into one frame of raw text fields.

Pure: no Dagster. Headers are read robustly (byte-order mark, spaces, case, repeated names);
columns are then taken by position, so extra columns (TradingView's indicator plots) are ignored.
A file that cannot be read becomes a file-level error naming the file and the parser's reason;
the other files go on. Values stay text here; `validation` turns them into typed bars or rejects.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from dataclasses import dataclass

import polars as pl

from swiftbolt_assets.ingestion.sources import OHLCV_FIELDS, SourceFile

logger = logging.getLogger(__name__)

RAW_FIELDS = ("ts", *OHLCV_FIELDS, "gap")
# The raw frame: one row per data line of every file read.
RAW_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_name": pl.String(),
    "source_line": pl.Int32(),
    "symbol": pl.String(),
    "timeframe": pl.String(),
    "is_synthetic": pl.Boolean(),
    "naive_timezone": pl.String(),
    "stamp": pl.String(),
    "file_mtime_ns": pl.Int64(),
    **{f"{name}_raw": pl.String() for name in RAW_FIELDS},
}
FILE_ERROR_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "symbol": pl.String(),
    "timeframe": pl.String(),
    "reason": pl.String(),
}


@dataclass(frozen=True)
class ParsedFiles:
    """Raw rows of every readable file, and one error row per unreadable file."""

    rows: pl.DataFrame
    file_errors: pl.DataFrame
    files_read: int


def _normalize(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


def _read_header(file: SourceFile) -> list[str]:
    """The file's column names: its first line, or its source's names for header-less files."""
    if file.spec.header is not None:
        return [_normalize(cell) for cell in file.spec.header]
    with file.path.open("rb") as handle:
        first = handle.readline()
    text = first.decode("utf-8-sig", errors="strict").rstrip("\r\n")
    reader = csv.reader(io.StringIO(text), delimiter=file.spec.separator)
    return [_normalize(cell) for cell in next(reader, [])]


def _column_positions(file: SourceFile, header: list[str]) -> tuple[dict[str, int], str | None]:
    """Position of each canonical field in ``header``, or the reason the header is unusable."""
    positions: dict[str, int] = {}
    missing: list[str] = []
    mapping = file.spec.columns
    wanted: dict[str, str | None] = {**mapping.required(), **mapping.optional()}
    for canonical, column in wanted.items():
        if column is None:
            continue
        name = _normalize(column)
        if name in header:
            positions[canonical] = header.index(name)
        elif canonical in mapping.required() or canonical == "volume":
            missing.append(column)
    if missing:
        return positions, (
            f"header lacks required column(s) {', '.join(missing)}; header is {header}"
        )
    return positions, None


def _file_error(file: SourceFile, reason: str) -> dict[str, str]:
    return {
        "source_file": file.relpath,
        "symbol": file.symbol,
        "timeframe": file.timeframe,
        "reason": reason,
    }


def _read_group(files: list[SourceFile], positions: dict[str, int], width: int) -> pl.DataFrame:
    """Read files that share a header layout (``width`` columns) in one multi-file scan."""
    order = sorted(positions, key=positions.__getitem__)
    header_lines = 0 if files[0].spec.header is not None else 1  # header-less sources: 0
    scan = pl.scan_csv(
        [f.path for f in files],
        has_header=False,
        skip_rows=header_lines,
        separator=files[0].spec.separator,
        infer_schema=False,
        truncate_ragged_lines=True,
        include_file_paths="__path",
        schema={f"c{i}": pl.String() for i in range(width)},
        encoding="utf8",
    )
    by_path = {str(f.path): f for f in files}
    meta = pl.DataFrame(
        {
            "__path": list(by_path),
            "source_file": [f.relpath for f in by_path.values()],
            "source_name": [f.spec.name for f in by_path.values()],
            "symbol": [f.symbol for f in by_path.values()],
            "timeframe": [f.timeframe for f in by_path.values()],
            "is_synthetic": [f.spec.synthetic for f in by_path.values()],
            "naive_timezone": [f.spec.naive_timezone for f in by_path.values()],
            "stamp": [f.spec.stamp for f in by_path.values()],
            "file_mtime_ns": [f.mtime_ns for f in by_path.values()],
        },
        schema_overrides={"naive_timezone": pl.String(), "file_mtime_ns": pl.Int64()},
    )
    frame = (
        scan.select(
            pl.col("__path"),
            *[pl.col(f"c{positions[name]}").alias(f"{name}_raw") for name in order],
        )
        .with_columns(
            (pl.int_range(pl.len(), dtype=pl.Int32).over("__path") + header_lines + 1).alias(
                "source_line"
            )
        )
        .collect()
    )
    frame = frame.join(meta, on="__path", how="left").drop("__path")
    missing = [c for c in RAW_SCHEMA if c not in frame.columns]
    frame = frame.with_columns(pl.lit(None, dtype=RAW_SCHEMA[c]).alias(c) for c in missing)
    return frame.select(list(RAW_SCHEMA)).cast(RAW_SCHEMA)  # type: ignore[arg-type]


def parse_files(files: list[SourceFile]) -> ParsedFiles:
    """Read ``files`` into raw text rows; unreadable files become file-level errors.

    Files with the same source and header are read in one multi-file scan; if a scan fails,
    its files are read one by one so the failure names the bad file and the others go on.
    """
    errors: list[dict[str, str]] = []
    groups: dict[tuple[str, int, tuple[tuple[str, int], ...]], list[SourceFile]] = defaultdict(list)
    layouts: dict[tuple[str, int, tuple[tuple[str, int], ...]], dict[str, int]] = {}
    for file in files:
        if file.name_error is not None:
            errors.append(_file_error(file, file.name_error))
            continue
        if file.size == 0:
            errors.append(_file_error(file, "file is empty (0 bytes)"))
            continue
        try:
            header = _read_header(file)
        except (UnicodeDecodeError, csv.Error, OSError) as err:
            errors.append(_file_error(file, f"header cannot be read: {err}"))
            continue
        positions, problem = _column_positions(file, header)
        if problem is not None:
            errors.append(_file_error(file, problem))
            continue
        key = (file.spec.name, len(header), tuple(sorted(positions.items())))
        groups[key].append(file)
        layouts[key] = positions

    frames: list[pl.DataFrame] = []
    files_read = 0
    for key, group in groups.items():
        try:
            frames.append(_read_group(group, layouts[key], key[1]))
            files_read += len(group)
            continue
        except (pl.exceptions.PolarsError, OSError) as err:
            logger.warning(
                "multi-file read of %d files failed (%s); reading one by one", len(group), err
            )
        for file in group:
            try:
                frames.append(_read_group([file], layouts[key], key[1]))
                files_read += 1
            except (pl.exceptions.PolarsError, OSError) as err:
                errors.append(_file_error(file, f"CSV parser failed: {err}"))

    rows = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=RAW_SCHEMA)
    read_files = set(rows["source_file"].unique().to_list())
    for key, group in groups.items():
        del key
        for file in group:
            if file.relpath not in read_files and not any(
                e["source_file"] == file.relpath for e in errors
            ):
                errors.append(_file_error(file, "file has a header but no data rows"))
    return ParsedFiles(
        rows=rows,
        file_errors=pl.DataFrame(errors, schema=FILE_ERROR_SCHEMA),
        files_read=files_read,
    )
