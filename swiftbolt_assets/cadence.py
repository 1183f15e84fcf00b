"""Cadences: everything that differs between the daily and the intraday half. Pure: no Dagster.

A :class:`CadenceSpec` names the bar timeframe forecasts are made on, the horizons with their
lengths in bars, the bar slots a horizon is counted on, the label volatility, the target-time
rule, the evaluation window, the weight validity and the tables. Labels, datasets, training,
forecasting, evaluation, live scores and weight fitting take a spec as a parameter; nothing is
copied per cadence.

Bar slots are the ends of the bars the cadence forecasts on, in UTC, one row per slot, numbered
consecutively (``slot_index``):

- daily (``d1``): one slot per session, at its close (early closes included);
- intraday (``m15``): one slot per 15-minute bar of the regular session, from the open + 15 min
  to the close. Sessions come from the exchange calendar in UTC, so a daylight-saving change
  moves the slots' UTC times, never their count (26 on a full day), and an early close
  (13:00 New York) has 14.

A forecast made at slot ``i`` for a horizon of ``h`` bars targets slot ``i + h``. A daily horizon
runs across sessions (1W = five sessions later). An intraday horizon ends with its session: a
target past the session's last bar gives no target (``None``), because the overnight gap is a
different return than the 15 minutes or the hour the horizon names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

import numpy as np
import polars as pl


@dataclass(frozen=True)
class CadenceTables:
    """The warehouse tables of one cadence (one writer each)."""

    forecasts: str
    skips: str
    evaluations: str
    live: str
    weights: str
    # what the weights table calls the end of a version's validity
    weights_until: str


@dataclass(frozen=True)
class CadenceSpec:
    """One cadence of the forecasting/evaluation core.

    Attributes:
        name: ``daily`` or ``intraday``.
        timeframe: the bars forecasts are made on and evaluated against (``d1``, ``m15``).
        bar_minutes: the bar length of an intraday cadence (``None``: one bar per session).
        horizons: horizon name → length in bars, in order.
        periods_per_year: what the volatility feature was annualized with, to turn it back into
            per-bar units: ``features`` annualizes every timeframe's ``hv_*`` by sqrt(252)
            (``features/indicators.py``), so it is 252 for intraday bars too.
        volatility_column: the annualized volatility in ``features`` behind the label width.
        crosses_sessions: a horizon counts bars across sessions (daily), or ends with its
            session (intraday: no forecast whose target would fall in the next session).
        weights_validity: how long fitted layer weights serve after they are fitted; ``None``
            means until the next session's close (daily: exactly the next day's forecasts).
        weights_source: the source name forecasts record for these weights.
        tables: the cadence's tables.
    """

    name: str
    timeframe: str
    bar_minutes: int | None
    horizons: Mapping[str, int]
    periods_per_year: int
    volatility_column: str
    crosses_sessions: bool
    weights_validity: timedelta | None
    weights_source: str
    tables: CadenceTables

    def __post_init__(self) -> None:
        object.__setattr__(self, "horizons", MappingProxyType(dict(self.horizons)))

    @property
    def longest(self) -> int:
        """The longest horizon, in bars."""
        return max(self.horizons.values())

    def sessions_spanned(self, bars: int) -> int:
        """How many sessions the labels of a horizon of ``bars`` bars overlap across: the
        moving-block bootstrap's block (and the cross-fit's purge) in sessions. An intraday
        label ends within its session, so labels of different sessions never overlap."""
        return bars if self.crosses_sessions else 1

    @property
    def evaluation_days(self) -> int:
        """How many trading days before D the forecasts due on D can have been made: the
        longest horizon for a cadence that crosses sessions, else 0 (the same day)."""
        return self.longest if self.crosses_sessions else 0


TRADING_DAYS_PER_YEAR = 252
M15_BARS_PER_SESSION = 26

DAILY = CadenceSpec(
    name="daily",
    timeframe="d1",
    bar_minutes=None,
    horizons={"1D": 1, "1W": 5, "1M": 21, "2M": 42, "3M": 63, "4M": 84, "5M": 105, "6M": 126},
    periods_per_year=TRADING_DAYS_PER_YEAR,
    volatility_column="hv_60",
    crosses_sessions=True,
    weights_validity=None,
    weights_source="symbol",
    tables=CadenceTables(
        forecasts="ml_forecasts_daily",
        skips="ml_forecast_skips",
        evaluations="forecast_evaluations_daily",
        live="live_predictions_daily",
        weights="symbol_model_weights",
        weights_until="valid_until",
    ),
)

INTRADAY = CadenceSpec(
    name="intraday",
    timeframe="m15",
    bar_minutes=15,
    horizons={"15m": 1, "1h": 4},
    # hv_60 of an m15 row: 60 m15 log returns (two of them overnight) x sqrt(252)
    periods_per_year=TRADING_DAYS_PER_YEAR,
    volatility_column="hv_60",
    crosses_sessions=False,
    weights_validity=timedelta(hours=4),
    weights_source="calibrated",
    tables=CadenceTables(
        forecasts="ml_forecasts_intraday",
        skips="ml_forecast_skips_intraday",
        evaluations="forecast_evaluations_intraday",
        live="live_predictions_intraday",
        weights="calibrated_weights",
        weights_until="expires_at",
    ),
)

CADENCES: Mapping[str, CadenceSpec] = MappingProxyType(
    {spec.name: spec for spec in (DAILY, INTRADAY)}
)


def bar_slots(spec: CadenceSpec, sessions: pl.DataFrame) -> pl.DataFrame:
    """The cadence's bar slots over ``sessions`` (``calendar.sessions_table`` rows: session_date,
    open_utc, close_utc), in order: ``slot_index``, ``session_date``, ``slot_end`` (UTC) and
    ``session_slot`` (the slot's position within its session, from 0)."""
    ordered = sessions.sort("session_date")
    if spec.bar_minutes is None:
        slots = ordered.select(
            "session_date", pl.col("close_utc").alias("slot_end"), pl.lit(0).alias("session_slot")
        )
    else:
        step = f"{spec.bar_minutes}m"
        slots = (
            ordered.select(
                "session_date",
                pl.datetime_ranges(
                    pl.col("open_utc").dt.offset_by(step), pl.col("close_utc"), step
                ).alias("slot_end"),
            )
            .explode("slot_end")
            .with_columns(pl.int_range(pl.len()).over("session_date").alias("session_slot"))
        )
    return slots.with_row_index("slot_index").with_columns(
        pl.col("slot_index").cast(pl.Int64), pl.col("session_slot").cast(pl.Int32)
    )


def target_slots(
    spec: CadenceSpec, slots: pl.DataFrame, as_of: pl.Series, horizon: str
) -> pl.Series:
    """The slot end each as-of slot end in ``as_of`` targets for ``horizon`` (null where the
    target would leave the session of an intraday cadence).

    Raises:
        ValueError: an as-of time that is not a slot end, or slots that end before a target.
    """
    ends = slots.get_column("slot_end").to_numpy()
    position = np.searchsorted(ends, as_of.to_numpy())
    if position.size and (
        position.max() >= ends.size or not np.array_equal(ends[position], as_of.to_numpy())
    ):
        msg = f"an as-of time is not a {spec.timeframe} bar end of the calendar"
        raise ValueError(msg)
    target = position + spec.horizons[horizon]
    if target.size and target.max() >= ends.size:
        msg = "the trading calendar does not reach the target"
        raise ValueError(msg)
    result = pl.Series("target", ends[target], dtype=slots.schema["slot_end"])
    if spec.crosses_sessions:
        return result
    days = slots.get_column("session_date").to_numpy()
    same = days[position] == days[target]
    return pl.select(pl.when(pl.Series(same)).then(result).otherwise(None)).to_series()


def target_sessions(as_of: pl.Series, bars: int, sessions: list[date]) -> pl.Series:
    """The session ``bars`` sessions after each as-of date (a daily forecast's target date)."""
    calendar = np.asarray(sessions, dtype="datetime64[D]")
    position = np.searchsorted(calendar, as_of.to_numpy().astype("datetime64[D]"))
    if position.size and position.max() + bars >= calendar.size:
        msg = "the trading calendar does not reach the target date"
        raise ValueError(msg)
    return pl.Series("target_date", calendar[position + bars]).cast(pl.Date)


def weights_validity(
    spec: CadenceSpec, fitted_at: pl.Series, sessions: pl.DataFrame
) -> pl.DataFrame:
    """(valid_from, valid_until) of weights fitted at each time of ``fitted_at`` (UTC).

    Daily validity is ``(valid_from, valid_until]``; an intraday version has expired at its
    ``valid_until`` (``expires_at``: ``synthesizer.resolve_weights``). Weights fitted at a
    bar's end never serve the forecasts made at that same instant. Daily weights serve until
    the close of the next session after their fit (exactly the next day's forecasts);
    intraday weights expire ``weights_validity`` after their fit, whatever the session.
    """
    frame = pl.DataFrame({"valid_from": fitted_at})
    if spec.weights_validity is not None:
        return frame.with_columns(
            (pl.col("valid_from") + spec.weights_validity).alias("valid_until")
        )
    closes = sessions.sort("session_date").select(pl.col("close_utc").alias("valid_until"))
    return (
        frame.with_row_index("_order")
        .sort("valid_from")
        .join_asof(
            closes.with_columns(pl.col("valid_until").alias("_close")),
            left_on="valid_from",
            right_on="_close",
            strategy="forward",
            allow_exact_matches=False,
        )
        .sort("_order")
        .select("valid_from", "valid_until")
    )
