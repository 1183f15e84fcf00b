"""Which model, weights and calibration serve each forecast, and why a forecast is skipped. Pure.

The loop behind ``ml_forecasts_daily``: for each (day, symbol) of a run, the features row as of
the day (or the reason there is none), then per horizon the latest promoted model trained
before the day, the layer weights valid at the as-of time (``synthesizer.resolve_weights``) and
the confidence calibration fitted on outcomes known before the day. Models are loaded once per
version through the caller's ``load_model``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol, TypeVar

import numpy as np
import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec, target_slots
from swiftbolt_assets.forecasting.dataset import model_inputs, skip_reasons
from swiftbolt_assets.forecasting.forecast import (
    IDENTITY,
    ConfidenceMap,
    ServingModel,
    forecast_columns,
    forecast_rows,
)
from swiftbolt_assets.forecasting.models import HorizonModel
from swiftbolt_assets.forecasting.synthesizer import resolve_weights

SKIP_COLUMNS = ("as_of_date", "symbol", "horizon", "reason")
NO_FEATURES = "no d1 features row for this day (no bar that day, or features not materialized)"
NO_BAR_FEATURES = (
    "no {timeframe} features row in this session yet (no bar, or features not materialized)"
)


def skip_columns(spec: CadenceSpec = DAILY) -> tuple[str, ...]:
    """A skip row's columns: an intraday skip names its as-of bar's close (null: the day)."""
    return SKIP_COLUMNS if spec.bar_minutes is None else (*SKIP_COLUMNS, "as_of_ts")


class _Versioned(Protocol):
    @property
    def horizon(self) -> str: ...


Entry = TypeVar("Entry", bound=_Versioned)


class ModelEntry(Protocol):
    """A registry version (``store.RegistryEntry``)."""

    @property
    def version_id(self) -> str: ...
    @property
    def horizon(self) -> str: ...
    @property
    def trained_through(self) -> date: ...


class CalibrationEntry(Protocol):
    """A confidence-calibration version (``calibration.store.CalibrationVersion``)."""

    @property
    def version_id(self) -> str: ...
    @property
    def horizon(self) -> str: ...
    @property
    def fitted_through(self) -> date: ...
    @property
    def mapping(self) -> ConfidenceMap: ...


def latest_before(
    entries: Sequence[Entry], horizon: str, day: date, *, through: Callable[[Entry], date]
) -> Entry | None:
    """The last of ``entries`` (ordered by date) of ``horizon`` whose date is before ``day``."""
    usable = [e for e in entries if e.horizon == horizon and through(e) < day]
    return usable[-1] if usable else None


def forecast_inputs(raw: pl.DataFrame, sessions: list[date]) -> pl.DataFrame:
    """Model inputs of the features rows ``raw`` (``store.read_forecast_inputs``) with their
    as-of date, features run and ``skip_reason`` (e.g. too few sessions since the first bar)."""
    calendar = np.asarray(sessions, dtype="datetime64[D]")

    def position(column: str) -> np.ndarray:  # type: ignore[type-arg]
        days = raw.get_column(column).to_numpy().astype("datetime64[D]")
        return np.searchsorted(calendar, days)

    return skip_reasons(
        model_inputs(raw).with_columns(
            raw.get_column("as_of_date"),
            raw.get_column("features_run_id"),
            # sessions from the symbol's first bar through the as-of day, both included
            pl.Series(
                "sessions_seen",
                position("as_of_date") - position("first_session") + 1,
                dtype=pl.Int64,
            ),
        )
    )


def intraday_forecast_inputs(
    rows: pl.DataFrame, first_bars: pl.DataFrame, slots: pl.DataFrame, spec: CadenceSpec
) -> pl.DataFrame:
    """The intraday model inputs ``rows`` (``intraday_store.intraday_rows``) of bars that end
    on a slot of ``slots`` (``cadence.bar_slots``), with ``as_of_date`` (the session),
    ``as_of_ts`` (the bar's close), ``sessions_seen`` (slots from the symbol's first bar of
    ``first_bars`` through this one) and ``skip_reason``."""
    assert spec.bar_minutes is not None
    bar = timedelta(minutes=spec.bar_minutes)
    index = slots.select("slot_end", "slot_index")
    first = (
        first_bars.select("symbol", (pl.col("first_ts") + bar).alias("slot_end"))
        .join(index, on="slot_end", how="left")
        .select("symbol", pl.col("slot_index").alias("_first"))
    )
    keyed = (
        rows.with_columns(
            pl.col("session_date").alias("as_of_date"), (pl.col("ts") + bar).alias("as_of_ts")
        )
        .join(index.rename({"slot_end": "as_of_ts"}), on="as_of_ts", how="inner")
        .join(first, on="symbol", how="left")
    )
    return skip_reasons(
        keyed.with_columns(
            (pl.col("slot_index") - pl.col("_first").fill_null(pl.col("slot_index")) + 1)
            .cast(pl.Int64)
            .alias("sessions_seen")
        ).drop("slot_index", "_first"),
        spec,
    )


def input_skips(
    wanted: pl.DataFrame, inputs: pl.DataFrame, spec: CadenceSpec = DAILY
) -> list[pl.DataFrame]:
    """Skip rows (``skip_columns(spec)``, horizon ``all``) for the wanted (as_of_date, symbol)
    pairs without a features row, and for those whose row cannot be forecast."""
    intraday = spec.bar_minutes is not None
    missing = NO_BAR_FEATURES.format(timeframe=spec.timeframe) if intraday else NO_FEATURES
    instant = [pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("as_of_ts")] if intraday else []
    return [
        wanted.join(inputs, on=["as_of_date", "symbol"], how="anti").select(
            "as_of_date",
            "symbol",
            pl.lit("all").alias("horizon"),
            pl.lit(missing).alias("reason"),
            *instant,
        ),
        inputs.filter(pl.col("skip_reason").is_not_null()).select(
            "as_of_date",
            "symbol",
            pl.lit("all").alias("horizon"),
            pl.col("skip_reason").alias("reason"),
            *(["as_of_ts"] if intraday else []),
        ),
    ]


def _targets(
    requests: pl.DataFrame, horizon: str, spec: CadenceSpec, slots: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """(requests that have a target, skip rows of those that have none): an intraday horizon
    whose target bar would fall after the session's close gets no forecast."""
    if spec.crosses_sessions:
        return requests, None
    assert slots is not None
    targeted = requests.with_columns(
        target_slots(spec, slots, requests.get_column("as_of_ts"), horizon).alias("target_ts")
    )
    reason = (
        f"no {horizon} forecast: its target would fall after the session's close (an intraday "
        "horizon never spans the overnight gap)"
    )
    skips = targeted.filter(pl.col("target_ts").is_null()).select(
        "as_of_date", "symbol", "horizon", pl.lit(reason).alias("reason"), "as_of_ts"
    )
    return targeted.filter(pl.col("target_ts").is_not_null()), skips


@dataclass(frozen=True)
class ForecastRun:
    """The forecasts of a run (``FORECAST_COLUMNS``, empty frame if none), every skip with its
    reason (``SKIP_COLUMNS``) and the model versions used."""

    forecasts: pl.DataFrame
    skips: pl.DataFrame
    model_versions: list[str]


def serve_forecasts(
    ready: pl.DataFrame,
    skips: list[pl.DataFrame],
    *,
    models: Sequence[ModelEntry],
    calibrations: Sequence[CalibrationEntry],
    weights: tuple[pl.DataFrame, pl.DataFrame],
    load_model: Callable[[str], HorizonModel],
    sessions: list[date],
    spec: CadenceSpec = DAILY,
    slots: pl.DataFrame | None = None,
) -> ForecastRun:
    """Forecasts of the ``ready`` inputs (with ``as_of_ts``) for every horizon of ``spec``.

    ``models`` are the promoted registry versions ordered by cutoff, ``calibrations`` ordered by
    fit date, ``weights`` the (calibrated, symbol) weight rows valid around the run; ``slots``
    (``cadence.bar_slots``) place an intraday cadence's targets.
    """
    loaded: dict[str, HorizonModel] = {}
    produced: list[pl.DataFrame] = []
    skipped = list(skips)
    for horizon in spec.horizons:
        requests, beyond = _targets(
            ready.with_columns(pl.lit(horizon).alias("horizon")), horizon, spec, slots
        )
        if beyond is not None:
            skipped.append(beyond)
        weighted = resolve_weights(requests, *weights)
        for day in sorted(set(weighted.get_column("as_of_date").to_list())):
            entry = latest_before(models, horizon, day, through=lambda e: e.trained_through)
            day_rows = weighted.filter(pl.col("as_of_date") == day)
            if entry is None:
                skipped.append(
                    day_rows.select(
                        "as_of_date",
                        "symbol",
                        pl.lit(horizon).alias("horizon"),
                        pl.lit(f"no promoted {horizon} model trained before {day}").alias("reason"),
                        *(["as_of_ts"] if spec.bar_minutes is not None else []),
                    )
                )
                continue
            if entry.version_id not in loaded:
                loaded[entry.version_id] = load_model(entry.version_id)
            calibration = latest_before(
                calibrations, horizon, day, through=lambda c: c.fitted_through
            )
            serving = ServingModel(
                entry.version_id,
                loaded[entry.version_id],
                calibration.mapping if calibration else IDENTITY,
                calibration.version_id if calibration else None,
            )
            produced.append(forecast_rows(day_rows, horizon, serving, sessions, spec))
    columns = forecast_columns(spec)
    forecasts = pl.concat(produced).select(columns) if produced else pl.DataFrame()
    return ForecastRun(
        forecasts,
        pl.concat([s.select(skip_columns(spec)) for s in skipped]),
        sorted(loaded),
    )
