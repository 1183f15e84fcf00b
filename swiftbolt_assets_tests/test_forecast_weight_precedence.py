"""The synthesizer's weight precedence (``resolve_weights``): a valid calibrated row over a
valid symbol row over the defaults, validity (valid_from, valid_until], the latest valid_from
winning, rows of other symbols and horizons ignored, order and count kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from swiftbolt_assets.forecasting.synthesizer import (
    DEFAULT_VERSION,
    DEFAULT_WEIGHTS,
    LAYERS,
    WEIGHT_COLUMNS,
    WEIGHT_SCHEMA,
    resolve_weights,
)

T0 = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
DAY = timedelta(days=1)
DEFAULT_TUPLE = tuple(DEFAULT_WEIGHTS[layer] for layer in LAYERS)


WeightRow = tuple[str, str, str, datetime, datetime, tuple[float, ...]]


def weight_rows(*rows: WeightRow) -> pl.DataFrame:
    """Weight rows (symbol, horizon, version, valid_from, valid_until, weights) in WEIGHT_SCHEMA."""
    return pl.DataFrame(
        [(s, h, v, start, until, *w) for s, h, v, start, until, w in rows],
        schema=WEIGHT_SCHEMA,
        orient="row",
    )


NO_ROWS = pl.DataFrame(schema=WEIGHT_SCHEMA)


def requests(*rows: tuple[str, str, datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        list(rows),
        schema={"symbol": pl.String, "horizon": pl.String, "as_of_ts": pl.Datetime("us", "UTC")},
        orient="row",
    )


def resolved(frame: pl.DataFrame) -> list[tuple[str, str, tuple[float, ...]]]:
    """(source, version, weights) per resolved request."""
    return [
        (row["weights_source"], row["weights_version"], tuple(row[c] for c in WEIGHT_COLUMNS))
        for row in frame.iter_rows(named=True)
    ]


def test_resolve_weights_defaults_without_rows() -> None:
    out = resolve_weights(requests(("AAPL", "1D", T0)), NO_ROWS, NO_ROWS)
    assert resolved(out) == [("default", DEFAULT_VERSION, DEFAULT_TUPLE)]
    assert DEFAULT_TUPLE == (0.15, 0.15, 0.70)
    assert out.columns == [
        "symbol",
        "horizon",
        "as_of_ts",
        *WEIGHT_COLUMNS,
        "weights_version",
        "weights_source",
    ]


def test_resolve_weights_uses_a_valid_symbol_row() -> None:
    symbol = weight_rows(("AAPL", "1D", "sym-1", T0 - DAY, T0 + DAY, (0.2, 0.3, 0.5)))
    out = resolve_weights(requests(("AAPL", "1D", T0)), NO_ROWS, symbol)
    assert resolved(out) == [("symbol", "sym-1", (0.2, 0.3, 0.5))]


def test_resolve_weights_calibrated_beats_symbol() -> None:
    symbol = weight_rows(("AAPL", "1D", "sym-1", T0 - DAY, T0 + DAY, (0.2, 0.3, 0.5)))
    calibrated = weight_rows(("AAPL", "1D", "cal-1", T0 - DAY, T0 + DAY, (0.1, 0.1, 0.8)))
    out = resolve_weights(requests(("AAPL", "1D", T0)), calibrated, symbol)
    assert resolved(out) == [("calibrated", "cal-1", (0.1, 0.1, 0.8))]


def test_resolve_weights_expired_calibrated_falls_back_to_symbol() -> None:
    symbol = weight_rows(("AAPL", "1D", "sym-1", T0 - 5 * DAY, T0 + DAY, (0.2, 0.3, 0.5)))
    calibrated = weight_rows(("AAPL", "1D", "cal-1", T0 - 5 * DAY, T0 - DAY, (0.1, 0.1, 0.8)))
    out = resolve_weights(requests(("AAPL", "1D", T0)), calibrated, symbol)
    assert resolved(out) == [("symbol", "sym-1", (0.2, 0.3, 0.5))]


def test_resolve_weights_expired_symbol_row_alone_gives_default() -> None:
    symbol = weight_rows(("AAPL", "1D", "sym-1", T0 - 5 * DAY, T0 - DAY, (0.2, 0.3, 0.5)))
    out = resolve_weights(requests(("AAPL", "1D", T0)), NO_ROWS, symbol)
    assert resolved(out) == [("default", DEFAULT_VERSION, DEFAULT_TUPLE)]


def test_resolve_weights_ignores_rows_not_yet_valid() -> None:
    symbol = weight_rows(("AAPL", "1D", "sym-1", T0 + DAY, T0 + 5 * DAY, (0.2, 0.3, 0.5)))
    calibrated = weight_rows(
        ("AAPL", "1D", "cal-1", T0 + timedelta(microseconds=1), T0 + DAY, (0.1, 0.1, 0.8))
    )
    out = resolve_weights(requests(("AAPL", "1D", T0)), calibrated, symbol)
    assert resolved(out) == [("default", DEFAULT_VERSION, DEFAULT_TUPLE)]


def test_resolve_weights_validity_runs_from_after_the_fit_through_the_expiry() -> None:
    # symbol rows: (valid_from, valid_until]: valid_until == as_of_ts is still valid (the
    # forecast at the next close uses the weights fitted at the previous one); valid_from ==
    # as_of_ts is not yet valid (weights fitted at a close never serve that close's forecast).
    # calibrated rows: (valid_from, expires_at): at expires_at the row has expired.
    ending = weight_rows(("AAPL", "1D", "cal-end", T0 - DAY, T0, (0.1, 0.1, 0.8)))
    starting = weight_rows(("AAPL", "1D", "sym-start", T0, T0 + DAY, (0.2, 0.3, 0.5)))
    ending_symbol = weight_rows(("AAPL", "1D", "sym-end", T0 - DAY, T0, (0.2, 0.3, 0.5)))
    req = requests(("AAPL", "1D", T0))
    just_before = requests(("AAPL", "1D", T0 - timedelta(microseconds=1)))
    assert resolved(resolve_weights(just_before, ending, starting)) == [
        ("calibrated", "cal-end", (0.1, 0.1, 0.8))
    ]
    assert resolved(resolve_weights(req, ending, ending_symbol)) == [
        ("symbol", "sym-end", (0.2, 0.3, 0.5))
    ]
    assert resolved(resolve_weights(req, ending, starting)) == [
        ("default", DEFAULT_VERSION, DEFAULT_TUPLE)
    ]
    assert resolved(resolve_weights(req, NO_ROWS, ending_symbol)) == [
        ("symbol", "sym-end", (0.2, 0.3, 0.5))
    ]
    assert resolved(resolve_weights(req, starting, NO_ROWS)) == [
        ("default", DEFAULT_VERSION, DEFAULT_TUPLE)
    ]
    just_after = requests(("AAPL", "1D", T0 + timedelta(microseconds=1)))
    assert resolved(resolve_weights(just_after, NO_ROWS, ending_symbol)) == [
        ("default", DEFAULT_VERSION, DEFAULT_TUPLE)
    ]
    assert resolved(resolve_weights(just_after, ending, starting)) == [
        ("symbol", "sym-start", (0.2, 0.3, 0.5))
    ]


def test_resolve_weights_latest_valid_from_wins() -> None:
    symbol = weight_rows(
        ("AAPL", "1D", "sym-new", T0 - DAY, T0 + DAY, (0.3, 0.3, 0.4)),
        ("AAPL", "1D", "sym-old", T0 - 9 * DAY, T0 + 9 * DAY, (0.2, 0.3, 0.5)),
        ("AAPL", "1D", "sym-mid", T0 - 3 * DAY, T0 + 3 * DAY, (0.5, 0.3, 0.2)),
    )
    calibrated = weight_rows(
        ("AAPL", "1D", "cal-old", T0 - 9 * DAY, T0 + 9 * DAY, (0.1, 0.1, 0.8)),
        ("AAPL", "1D", "cal-new", T0 - 2 * DAY, T0 + 9 * DAY, (0.0, 0.5, 0.5)),
    )
    req = requests(("AAPL", "1D", T0))
    assert resolved(resolve_weights(req, NO_ROWS, symbol)) == [
        ("symbol", "sym-new", (0.3, 0.3, 0.4))
    ]
    assert resolved(resolve_weights(req, calibrated, symbol)) == [
        ("calibrated", "cal-new", (0.0, 0.5, 0.5))
    ]
    # Once the newest symbol row expires, the next latest still-valid one is used.
    later = requests(("AAPL", "1D", T0 + 2 * DAY))
    assert resolved(resolve_weights(later, NO_ROWS, symbol)) == [
        ("symbol", "sym-mid", (0.5, 0.3, 0.2))
    ]


def test_resolve_weights_ignores_other_symbols_and_horizons() -> None:
    symbol = weight_rows(
        ("MSFT", "1D", "sym-msft", T0 - DAY, T0 + DAY, (0.2, 0.3, 0.5)),
        ("AAPL", "1W", "sym-1w", T0 - DAY, T0 + DAY, (0.3, 0.3, 0.4)),
    )
    calibrated = weight_rows(
        ("MSFT", "1D", "cal-msft", T0 - DAY, T0 + DAY, (0.1, 0.1, 0.8)),
        ("AAPL", "1M", "cal-1m", T0 - DAY, T0 + DAY, (0.0, 0.5, 0.5)),
    )
    out = resolve_weights(
        requests(("AAPL", "1D", T0), ("AAPL", "1W", T0), ("MSFT", "1D", T0), ("AAPL", "1M", T0)),
        calibrated,
        symbol,
    )
    assert resolved(out) == [
        ("default", DEFAULT_VERSION, DEFAULT_TUPLE),
        ("symbol", "sym-1w", (0.3, 0.3, 0.4)),
        ("calibrated", "cal-msft", (0.1, 0.1, 0.8)),
        ("calibrated", "cal-1m", (0.0, 0.5, 0.5)),
    ]


def expected_resolution(
    request: tuple[str, str, datetime], calibrated: list[WeightRow], symbol: list[WeightRow]
) -> tuple[str, str, tuple[float, ...]]:
    """Reference precedence, one request at a time (a calibrated row has expired at its end)."""
    name, horizon, ts = request
    for source, rows in (("calibrated", calibrated), ("symbol", symbol)):
        valid = [
            r
            for r in rows
            if r[0] == name
            and r[1] == horizon
            and r[3] < ts
            and (ts < r[4] if source == "calibrated" else ts <= r[4])
        ]
        if valid:
            best = max(valid, key=lambda r: r[3])
            return source, best[2], best[5]
    return "default", DEFAULT_VERSION, DEFAULT_TUPLE


def test_resolve_weights_keeps_order_and_count_of_many_requests() -> None:
    rng = np.random.default_rng(11)
    symbols, horizons = ["AAPL", "MSFT", "NVDA"], ["1D", "1W"]

    def random_rows(prefix: str, count: int) -> list[WeightRow]:
        rows: list[WeightRow] = []
        for i in range(count):
            start = T0 + int(rng.integers(-20, 20)) * DAY
            w = rng.dirichlet(np.ones(3))
            rows.append(
                (
                    str(rng.choice(symbols)),
                    str(rng.choice(horizons)),
                    f"{prefix}-{i}",
                    start,
                    start + int(rng.integers(1, 10)) * DAY,
                    tuple(float(x) for x in w),
                )
            )
        return rows

    calibrated, symbol = random_rows("cal", 15), random_rows("sym", 25)
    reqs = [
        (str(rng.choice(symbols)), str(rng.choice(horizons)), T0 + int(rng.integers(-25, 25)) * DAY)
        for _ in range(300)
    ]
    reqs += reqs[:10]  # duplicated requests stay separate rows
    out = resolve_weights(requests(*reqs), weight_rows(*calibrated), weight_rows(*symbol))
    assert out.height == len(reqs)
    assert out.select("symbol", "horizon", "as_of_ts").rows() == reqs
    expected = [expected_resolution(r, calibrated, symbol) for r in reqs]
    assert resolved(out) == expected
    assert {source for source, _, _ in expected} == {"calibrated", "symbol", "default"}
