"""Touched partitions become as few contiguous range runs as possible."""

from __future__ import annotations

from datetime import date

import pytest

from swiftbolt_assets.ingestion.planning import PartitionRange, plan_ranges

D1, D2, D3 = date(2026, 11, 20), date(2026, 11, 23), date(2026, 11, 24)
ORDER = ["AAA", "BBB", "CCC", "DDD"]


def test_a_new_day_for_every_symbol_is_one_run() -> None:
    touched = {(D3, s) for s in ORDER}
    assert plan_ranges(touched, ORDER) == [PartitionRange(D3, D3, "AAA", "DDD")]


def test_a_symbol_touched_on_several_days_is_one_run_over_its_span() -> None:
    ranges = plan_ranges({(D1, "BBB"), (D3, "BBB")}, ORDER)
    assert ranges == [PartitionRange(D1, D3, "BBB", "BBB")]
    assert ranges[0].start_key == "2026-11-20|BBB"
    assert ranges[0].end_key == "2026-11-24|BBB"


def test_symbols_are_not_bridged_over_an_untouched_one() -> None:
    ranges = plan_ranges({(D2, "AAA"), (D2, "CCC"), (D2, "DDD")}, ORDER)
    assert ranges == [PartitionRange(D2, D2, "AAA", "AAA"), PartitionRange(D2, D2, "CCC", "DDD")]


def test_different_spans_get_different_runs() -> None:
    ranges = plan_ranges({(D1, "AAA"), (D2, "AAA"), (D2, "BBB")}, ORDER)
    assert ranges == [PartitionRange(D1, D2, "AAA", "AAA"), PartitionRange(D2, D2, "BBB", "BBB")]


def test_an_unregistered_symbol_is_an_error() -> None:
    with pytest.raises(ValueError, match="'ZZZ' is not a registered partition"):
        plan_ranges({(D1, "ZZZ")}, ORDER)
