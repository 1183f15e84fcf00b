"""Tests of the synthetic OHLCV generator (swiftbolt_assets.ingestion.synthetic)."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from swiftbolt_assets.calendar import sessions_table
from swiftbolt_assets.ingestion.parsing import parse_files
from swiftbolt_assets.ingestion.sources import SYMBOL_PATTERN, discover_files
from swiftbolt_assets.ingestion.synthetic import demo_symbols, generate_bars, write_drop_files
from swiftbolt_assets.ingestion.synthetic_model import COLUMNS, PRICE_DECIMALS
from swiftbolt_assets.ingestion.validation import split_bars

# exchange-calendars 4.13 reads ``Series.values`` of tz-aware columns when it builds a calendar,
# which pandas 3.1 deprecates; the warning is raised inside the library, not by this project.
START = date(2024, 6, 3)
END = date(2024, 12, 31)
INTRADAY = 45  # 2024-10-28 .. 2024-12-31: spans the end of DST and two early closes
SEED = 20240603
SYMBOLS = demo_symbols(12)
EARLY_CLOSE = date(2024, 11, 29)
FULL_DAY = date(2024, 12, 2)
Frames = dict[tuple[str, str], pl.DataFrame]


@pytest.fixture(scope="module")
def frames() -> Frames:
    return generate_bars(SYMBOLS, start=START, end=END, seed=SEED, intraday_sessions=INTRADAY)


def _sessions(first: date, last: date) -> pl.DataFrame:
    return sessions_table("XNYS", last).filter(pl.col("session_date").is_between(first, last))


def _intraday(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its timestamp parsed (UTC) and the New York session date of each bar."""
    return frame.with_columns(
        pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_zone="UTC").alias("ts")
    ).with_columns(
        pl.col("ts").dt.convert_time_zone("America/New_York").dt.date().alias("session_date")
    )


def _aggregate(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """OHLCV of the runs of ``frame`` (oldest first) with equal ``by``."""
    return frame.group_by(by, maintain_order=True).agg(
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        pl.col("volume").sum(),
    )


def test_demo_symbols_are_valid_distinct_tickers() -> None:
    names = demo_symbols(800)
    assert names[:3] == ["SYN-A", "SYN-B", "SYN-C"]
    assert names[25] == "SYN-Z"
    assert names[26:29] == ["SYN-AA", "SYN-AB", "SYN-AC"]
    assert names[26 + 26 * 26] == "SYN-AAA"
    assert len(set(names)) == len(names)
    assert all(re.match(SYMBOL_PATTERN, name) for name in names)
    assert demo_symbols(0) == []
    with pytest.raises(ValueError, match="count"):
        demo_symbols(-1)


def test_keys_columns_and_order(frames: Frames) -> None:
    assert set(frames) == {(s, tf) for s in SYMBOLS for tf in ("d1", "h1", "m15")}
    for frame in frames.values():
        assert frame.columns == list(COLUMNS)
        assert frame.schema["timestamp"] == pl.String
        assert all(frame.schema[c] == pl.Float64 for c in COLUMNS[1:])
    for symbol in SYMBOLS:
        d1 = frames[(symbol, "d1")]
        assert d1["timestamp"].is_sorted()
        assert d1["timestamp"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
        for timeframe in ("h1", "m15"):
            parsed = _intraday(frames[(symbol, timeframe)])
            assert parsed["ts"].null_count() == 0
            assert parsed["ts"].is_sorted()
            assert parsed["ts"].is_unique().all()


def test_same_seed_same_bars_other_seed_other_bars(frames: Frames) -> None:
    again = generate_bars(SYMBOLS, start=START, end=END, seed=SEED, intraday_sessions=INTRADAY)
    assert again.keys() == frames.keys()
    assert all(again[key].equals(frames[key]) for key in frames)

    other = generate_bars(SYMBOLS, start=START, end=END, seed=SEED + 1, intraday_sessions=INTRADAY)
    assert all(not other[key].equals(frames[key]) for key in frames)

    # A symbol's bars depend on the seed and its own name, not on the other symbols asked for.
    alone = generate_bars(["SYN-E"], start=START, end=END, seed=SEED, intraday_sessions=INTRADAY)
    assert all(alone[key].equals(frames[key]) for key in alone)


def test_every_bar_satisfies_the_ohlc_invariants(frames: Frames) -> None:
    scale = 10**PRICE_DECIMALS
    for key, frame in frames.items():
        checks = frame.select(
            positive=pl.min_horizontal("open", "high", "low", "close") > 0,
            high_ok=pl.col("high") >= pl.max_horizontal("open", "close"),
            low_ok=pl.col("low") <= pl.min_horizontal("open", "close"),
            volume_ok=(pl.col("volume") >= 0) & (pl.col("volume") == pl.col("volume").round()),
            rounded=pl.all_horizontal(
                ((pl.col(c) * scale).round() - pl.col(c) * scale).abs() < 1e-6
                for c in ("open", "high", "low", "close")
            ),
            finite=pl.all_horizontal(
                pl.col(c).is_finite() for c in ("open", "high", "low", "close", "volume")
            ),
        )
        failing = {name: int((~checks[name]).sum()) for name in checks.columns}
        assert not any(failing.values()), (key, failing)


def test_daily_volatility_and_overnight_gaps_are_realistic(frames: Frames) -> None:
    for symbol in SYMBOLS:
        d1 = (
            frames[(symbol, "d1")]
            .with_columns(
                (pl.col("close") / pl.col("close").shift(1)).log().alias("ret"),
                (pl.col("open") != pl.col("close").shift(1)).alias("gap"),
            )
            .filter(pl.col("split_coefficient") == 1.0)
            .drop_nulls()
        )
        assert 0.005 < d1["ret"].std() < 0.05  # type: ignore[operator]
        assert d1["gap"].mean() > 0.9  # type: ignore[operator]


def test_d1_rows_are_the_exchange_sessions(frames: Frames) -> None:
    expected = _sessions(START, END)["session_date"].dt.strftime("%Y-%m-%d")
    for symbol in SYMBOLS:
        assert frames[(symbol, "d1")]["timestamp"].to_list() == expected.to_list()


def test_intraday_bars_follow_the_session_hours(frames: Frames) -> None:
    recent = _sessions(START, END).tail(INTRADAY)
    assert recent["session_date"][0] == date(2024, 10, 28)
    assert EARLY_CLOSE in recent["session_date"].to_list()
    expected = recent.select(
        "session_date",
        bars=((pl.col("close_utc") - pl.col("open_utc")).dt.total_minutes() // 15),
        hours=((pl.col("close_utc") - pl.col("open_utc")).dt.total_minutes() / 60).ceil(),
    )
    by_day = {row["session_date"]: row for row in expected.iter_rows(named=True)}
    assert by_day[FULL_DAY]["bars"] == 26
    assert by_day[EARLY_CLOSE]["bars"] == 14
    halted = 0
    for symbol in SYMBOLS:
        m15 = _intraday(frames[(symbol, "m15")])
        h1 = _intraday(frames[(symbol, "h1")])
        counts = m15.group_by("session_date").len()
        assert sorted(counts["session_date"].to_list()) == sorted(by_day)
        for day, count in counts.iter_rows():
            # at most one halted bar per session
            assert by_day[day]["bars"] - 1 <= count <= by_day[day]["bars"], (symbol, day)
            halted += by_day[day]["bars"] - count
        hours = dict(h1.group_by("session_date").len().iter_rows())
        assert all(hours[day] == by_day[day]["hours"] for day in by_day)
        # bars start at the open (09:30 local) and step by 15 minutes (an hour for h1)
        for frame, step in ((m15, 15), (h1, 60)):
            minutes = frame.select(
                "session_date",
                offset=(
                    pl.col("ts") - pl.col("ts").first().over("session_date")
                ).dt.total_minutes(),
            )
            assert (minutes["offset"] % step == 0).all()
        firsts = m15.group_by("session_date").agg(pl.col("timestamp").first())
        assert firsts["timestamp"].str.contains(r"T09:30:00-0[45]:00$").all()
    assert halted > 0  # HALT_PROBABILITY is small, but 540 sessions give some

    m15_times = frames[(SYMBOLS[0], "m15")]["timestamp"]
    # the offset follows daylight saving time, and an early close ends at 13:00
    assert "2024-11-01T09:30:00-04:00" in m15_times.to_list()
    assert "2024-11-04T09:30:00-05:00" in m15_times.to_list()
    early = m15_times.filter(m15_times.str.starts_with(EARLY_CLOSE.isoformat()))
    assert early[-1] == "2024-11-29T12:45:00-05:00"
    h1_times = frames[(SYMBOLS[0], "h1")]["timestamp"]
    early_hours = h1_times.filter(h1_times.str.starts_with(EARLY_CLOSE.isoformat())).to_list()
    assert [t[11:16] for t in early_hours] == ["09:30", "10:30", "11:30", "12:30"]


def test_halted_bars_are_inner_bars_and_deterministic(frames: Frames) -> None:
    recent = _sessions(START, END).tail(INTRADAY)
    for symbol in SYMBOLS:
        m15 = _intraday(frames[(symbol, "m15")]).join(recent, on="session_date")
        # the first and the last bar of every session are always there
        edges = m15.group_by("session_date").agg(
            (pl.col("ts").first() == pl.col("open_utc").first()).alias("opens"),
            (pl.col("ts").last() == pl.col("close_utc").first() - timedelta(minutes=15)).alias(
                "closes"
            ),
        )
        assert edges["opens"].all()
        assert edges["closes"].all()


def test_d1_is_the_aggregate_of_m15_on_intraday_sessions(frames: Frames) -> None:
    for symbol in SYMBOLS:
        m15 = _intraday(frames[(symbol, "m15")]).with_columns(
            pl.col("session_date").dt.strftime("%Y-%m-%d").alias("timestamp")
        )
        expected = _aggregate(m15, "timestamp")
        d1 = frames[(symbol, "d1")]
        got = d1.filter(pl.col("timestamp").is_in(expected["timestamp"].implode()))
        assert got.height == INTRADAY
        assert got["timestamp"].to_list() == d1["timestamp"].tail(INTRADAY).to_list()
        assert got.select(expected.columns).equals(expected)


def test_h1_is_the_aggregate_of_m15_by_hour_from_the_open(frames: Frames) -> None:
    for symbol in SYMBOLS:
        m15 = _intraday(frames[(symbol, "m15")])
        # hour buckets counted from the session open (09:30 local; the first bar is never halted)
        opened = pl.col("ts").first().over("session_date")
        hours = (pl.col("ts") - opened).dt.total_minutes() // 60
        keyed = m15.with_columns(
            (opened + pl.duration(hours=hours))
            .dt.convert_time_zone("America/New_York")
            .dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
            .alias("timestamp")
        )
        expected = _aggregate(keyed, "timestamp")
        h1 = frames[(symbol, "h1")]
        assert h1.height == expected.height
        assert h1.select(expected.columns).equals(expected)


def test_splits_show_as_raw_price_drops(frames: Frames) -> None:
    found = 0
    for symbol in SYMBOLS:
        d1 = frames[(symbol, "d1")].with_columns(pl.col("close").shift(1).alias("prev_close"))
        splits = d1.filter(pl.col("split_coefficient") != 1.0)
        assert splits.height <= 1
        for frame in (frames[(symbol, "h1")], frames[(symbol, "m15")]):
            assert (frame["split_coefficient"] == 1.0).all()
        if splits.is_empty():
            continue
        found += 1
        row = splits.row(0, named=True)
        assert row["split_coefficient"] in (2.0, 3.0)
        assert row["timestamp"] > d1["timestamp"][0]
        # the raw open drops by about the ratio (an overnight move of a few % aside)
        drop = row["prev_close"] / row["open"]
        assert abs(math.log(drop / row["split_coefficient"])) < 0.15, (symbol, drop)
        # no other day moves like that
        others = d1.filter(pl.col("split_coefficient") == 1.0).drop_nulls("prev_close")
        assert (others["prev_close"] / others["open"]).max() < 1.3  # type: ignore[operator]
    assert 1 <= found <= 8  # about a third of 12


def test_dividends_are_small_and_quarterly(frames: Frames) -> None:
    payers = 0
    for symbol in SYMBOLS:
        d1 = (
            frames[(symbol, "d1")]
            .with_row_index()
            .with_columns(pl.col("close").shift(1).alias("prev_close"))
        )
        paid = d1.filter(pl.col("dividend_amount") > 0)
        assert (d1["dividend_amount"] >= 0).all()
        for frame in (frames[(symbol, "h1")], frames[(symbol, "m15")]):
            assert (frame["dividend_amount"] == 0.0).all()
        if paid.is_empty():
            continue
        payers += 1
        assert paid.height >= 2
        assert (paid["index"].diff().drop_nulls() == 63).all()
        yield_ = paid["dividend_amount"] / paid["prev_close"]
        assert ((yield_ > 0.001) & (yield_ < 0.011)).all()
    assert 2 <= payers <= 10  # about half of 12


def test_volume_is_u_shaped_over_the_day(frames: Frames) -> None:
    for symbol in SYMBOLS:
        m15 = _intraday(frames[(symbol, "m15")]).filter(
            pl.col("session_date") != EARLY_CLOSE, pl.col("session_date") != date(2024, 12, 24)
        )
        by_time = (
            m15.with_columns(pl.col("timestamp").str.slice(11, 5).alias("clock"))
            .group_by("clock")
            .agg(pl.col("volume").mean())
        )
        volume = dict(by_time.iter_rows())
        assert volume["09:30"] > 2 * volume["12:30"]
        assert volume["15:45"] > 2 * volume["12:30"]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid symbol"):
        generate_bars(["bad symbol"], start=START, end=END, seed=1)
    with pytest.raises(ValueError, match="repeat"):
        generate_bars(["SYN-A", "SYN-A"], start=START, end=END, seed=1)
    with pytest.raises(ValueError, match="before start"):
        generate_bars(["SYN-A"], start=END, end=START, seed=1)
    with pytest.raises(ValueError, match="intraday_sessions"):
        generate_bars(["SYN-A"], start=START, end=END, seed=1, intraday_sessions=-1)
    with pytest.raises(ValueError, match="no XNYS session"):
        generate_bars(["SYN-A"], start=date(2024, 12, 25), end=date(2024, 12, 25), seed=1)


def test_no_intraday_sessions_gives_daily_bars_only() -> None:
    frames = generate_bars(["SYN-A"], start=START, end=END, seed=3, intraday_sessions=0)
    assert list(frames) == [("SYN-A", "d1")]
    assert frames[("SYN-A", "d1")].height == _sessions(START, END).height


def test_write_drop_files_writes_parseable_csv(tmp_path: Path, frames: Frames) -> None:
    some = {key: frames[key] for key in frames if key[0] in SYMBOLS[:2]}
    paths = write_drop_files(tmp_path, some)
    assert paths == sorted(paths)
    assert [p.name for p in paths] == sorted(f"{s}_{tf}.csv" for s, tf in some)
    assert all(p.parent == tmp_path / "synthetic" for p in paths)
    assert sorted(p.name for p in (tmp_path / "synthetic").iterdir()) == [p.name for p in paths]
    for path in paths:
        symbol, timeframe = path.stem.rsplit("_", 1)
        assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
        back = pl.read_csv(path, schema_overrides={"timestamp": pl.String})
        assert back.equals(some[(symbol, timeframe)])


def test_write_drop_files_refuses_bad_names(tmp_path: Path, frames: Frames) -> None:
    with pytest.raises(ValueError, match="cannot name"):
        write_drop_files(tmp_path, {("../X", "d1"): frames[(SYMBOLS[0], "d1")]})
    with pytest.raises(ValueError, match="cannot name"):
        write_drop_files(tmp_path, {("SYN-A", "w1"): frames[(SYMBOLS[0], "d1")]})


def test_round_trip_through_ingestion_has_no_rejects(tmp_path: Path, frames: Frames) -> None:
    some = {key: frames[key] for key in frames if key[0] in SYMBOLS[:4]}
    write_drop_files(tmp_path, some)
    files = discover_files(tmp_path)
    assert len(files) == len(some)
    assert all(f.spec.name == "synthetic" and f.has_valid_symbol for f in files)
    parsed = parse_files(files)
    assert parsed.file_errors.is_empty()
    assert parsed.files_read == len(some)
    result = split_bars(parsed.rows, "XNYS")
    assert result.rejects.is_empty(), result.rejects.head(5)
    assert result.bars.height == sum(frame.height for frame in some.values())
    assert result.bars["is_synthetic"].all()
    counts = dict(
        result.bars.group_by("symbol", "timeframe")
        .len()
        .select(pl.concat_str("symbol", "timeframe", separator="/"), "len")
        .iter_rows()
    )
    assert counts == {f"{s}/{tf}": frame.height for (s, tf), frame in some.items()}
    # intraday bars keep their instant; daily bars land on their session date
    m15 = result.bars.filter(pl.col("symbol") == SYMBOLS[0], pl.col("timeframe") == "m15")
    first = m15.sort("ts").row(0, named=True)
    assert first["ts"] == datetime.fromisoformat(some[(SYMBOLS[0], "m15")]["timestamp"][0])
    d1 = result.bars.filter(pl.col("symbol") == SYMBOLS[0], pl.col("timeframe") == "d1")
    assert d1["session_date"].sort().to_list() == _sessions(START, END)["session_date"].to_list()
