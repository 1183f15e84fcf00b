"""Score forecasts on the final bar of their target date. Pure: no Dagster.

The bars are the cadence's (``CadenceSpec.timeframe``: ``d1`` for the daily forecasts, ``m15``
for the intraday ones). An intraday forecast made at the close of an m15 bar (``as_of_ts``) is
scored on the m15 bar that ends at its ``target_ts`` (a 1h forecast four bars on, never the
next bar), final when written at or after that bar's end; within one session, so no split or
dividend falls inside its window (``adjustment_factor`` 1).

A forecast (symbol, as_of_date, horizon) made at the close of ``as_of_date`` is scored on the
close of its ``target_date`` (``horizon_days`` sessions later):

- ``realized_return``: the split- and dividend-adjusted simple return from the as-of close to the
  target close, ``target_close / (as_of_close * F) - 1``, where ``F`` is the product of the price
  factors (``features.adjust.event_factors``) of the events after the as-of day up to the target
  day: the same adjustment the training labels use, so a split inside the window is no return;
- ``realized_label``: that return classified with the thresholds stored on the forecast
  (``labels.classify``: bullish above ``threshold_up``, bearish below ``threshold_down``);
- ``label_correct``: predicted label == realized label;
- ``direction_correct``: sign(predicted_return) == sign(realized_return); null when either is 0;
- ``realized_price``: the realized return in the forecast's price terms,
  ``forecast_close * (1 + realized_return)``; ``price_error_pct`` is
  ``100 * (realized_price / target_price - 1)`` and ``inside_band`` is
  ``lower_band <= realized_price <= upper_band``.

Only final bars count: the target day's d1 bar must exist and have been written at or after
that session's close (``bar_created_at >= close_utc``); otherwise the forecast gets no row here
and is reported as pending with the reason.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from swiftbolt_assets.cadence import DAILY, CadenceSpec
from swiftbolt_assets.features.adjust import event_factors
from swiftbolt_assets.forecasting.forecast import LAYER_PROBABILITY_COLUMNS
from swiftbolt_assets.forecasting.labels import class_names, classify

# What an evaluation carries over from its forecast (the evidence of what was scored).
FORECAST_FIELDS = (
    "symbol",
    "as_of_date",
    "horizon",
    "horizon_days",
    "target_date",
    "p_bearish",
    "p_neutral",
    "p_bullish",
    "confidence",
    "raw_confidence",
    "predicted_return",
    "target_price",
    "lower_band",
    "upper_band",
    "threshold_down",
    "threshold_up",
    *LAYER_PROBABILITY_COLUMNS,
    "model_version",
    "weights_source",
    "weights_version",
    "calibration_version",
)

EVALUATION_COLUMNS = (
    "symbol",
    "as_of_date",
    "horizon",
    "horizon_days",
    "target_date",
    "partition_date",
    "predicted_label",
    "p_bearish",
    "p_neutral",
    "p_bullish",
    "confidence",
    "raw_confidence",
    "predicted_return",
    "target_price",
    "lower_band",
    "upper_band",
    "threshold_down",
    "threshold_up",
    "forecast_close",
    "as_of_close",
    "target_close",
    "adjustment_factor",
    "realized_return",
    "realized_price",
    "realized_label",
    "label_correct",
    "direction_correct",
    "price_error_pct",
    "inside_band",
    *LAYER_PROBABILITY_COLUMNS,
    "model_version",
    "weights_source",
    "weights_version",
    "calibration_version",
    "forecast_run_id",
    "bar_run_id",
    "bar_created_at",
)


INSTANT_COLUMNS = ("as_of_ts", "target_ts")


def evaluation_columns(spec: CadenceSpec = DAILY) -> tuple[str, ...]:
    """An evaluation row's columns (intraday: also the as-of and target bars' closes)."""
    if spec.bar_minutes is None:
        return EVALUATION_COLUMNS
    return (*EVALUATION_COLUMNS, *INSTANT_COLUMNS)


def _bar_joins(
    forecasts: pl.DataFrame, bars: pl.DataFrame, closes_utc: pl.DataFrame, spec: CadenceSpec
) -> pl.DataFrame:
    """``forecasts`` with their target bar (``target_close``, ``bar_run_id``,
    ``bar_created_at``), the end it must be written after (``close_utc``), their as-of bar's
    ``as_of_close``, and the target bar's name for messages (``_target``)."""
    own = bars.filter(pl.col("timeframe") == spec.timeframe)
    if spec.bar_minutes is None:
        target_key, as_of_key = ["symbol", "target_date"], ["symbol", "as_of_date"]
        keyed = own.with_columns(
            pl.col("session_date").alias("target_date"), pl.col("session_date").alias("as_of_date")
        )
        ends = closes_utc.select(pl.col("session_date").alias("target_date"), "close_utc")
    else:
        end = pl.col("ts") + timedelta(minutes=spec.bar_minutes)
        target_key, as_of_key = ["symbol", "target_ts"], ["symbol", "as_of_ts"]
        keyed = own.with_columns(end.alias("target_ts"), end.alias("as_of_ts"))
        ends = None
    joined = forecasts.join(
        keyed.select(
            *target_key,
            pl.col("close").alias("target_close"),
            pl.col("run_id").alias("bar_run_id"),
            pl.col("created_at").alias("bar_created_at"),
        ),
        on=target_key,
        how="left",
    ).join(keyed.select(*as_of_key, pl.col("close").alias("as_of_close")), on=as_of_key, how="left")
    if ends is not None:
        return joined.join(ends, on="target_date", how="left").with_columns(
            pl.col("target_date").cast(pl.String).alias("_target"),
            pl.col("as_of_date").cast(pl.String).alias("_as_of"),
        )
    return joined.with_columns(
        pl.col("target_ts").alias("close_utc"),
        pl.col("target_ts").dt.strftime("%Y-%m-%d %H:%M UTC").alias("_target"),
        pl.col("as_of_ts").dt.strftime("%Y-%m-%d %H:%M UTC").alias("_as_of"),
    )


def window_factors(forecasts: pl.DataFrame, bars: pl.DataFrame, through: date) -> pl.Series:
    """Per forecast row, the product of the price factors of the events in
    (as_of_date, target_date] (1.0 when there is none).

    ``bars``: raw d1 bars (symbol, timeframe, session_date, close, split_coefficient,
    dividend_amount) covering, per symbol, the session before the earliest as-of date through
    ``through`` (the dividend factor needs the previous close).
    """
    events = event_factors(bars, through)
    keyed = forecasts.select("symbol", "as_of_date", "target_date").with_row_index("_row")
    if events.is_empty():
        return pl.Series("adjustment_factor", [1.0] * forecasts.height, dtype=pl.Float64)
    inside = (
        keyed.join(events, on="symbol", how="inner")
        .filter(
            (pl.col("event_date") > pl.col("as_of_date"))
            & (pl.col("event_date") <= pl.col("target_date"))
        )
        .group_by("_row")
        .agg(pl.col("price_factor").product().alias("adjustment_factor"))
    )
    return (
        keyed.join(inside, on="_row", how="left")
        .sort("_row")
        .get_column("adjustment_factor")
        .fill_null(1.0)
    )


def evaluate(
    forecasts: pl.DataFrame,
    bars: pl.DataFrame,
    closes_utc: pl.DataFrame,
    spec: CadenceSpec = DAILY,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(evaluations, pending) of ``forecasts`` (``FORECAST_FIELDS`` + ``close``, ``label``,
    ``run_id``; intraday: + ``as_of_ts``, ``target_ts``) against the raw ``bars`` of the
    cadence (as in ``window_factors``, plus ``ts``, ``run_id`` and ``created_at``).

    ``closes_utc``: (session_date, close_utc) of the exchange sessions. ``pending`` has
    (symbol, as_of_date, horizon, target_date, as_of and target: the bars' names, reason) for
    forecasts not scored (no final bar).
    """
    if forecasts.is_empty():
        return pl.DataFrame(), pl.DataFrame(
            schema={
                "symbol": pl.String,
                "as_of_date": pl.Date,
                "horizon": pl.String,
                "target_date": pl.Date,
                "as_of": pl.String,
                "target": pl.String,
                "reason": pl.String,
            }
        )
    through = forecasts.get_column("target_date").max()
    assert isinstance(through, date)
    timeframe = spec.timeframe
    joined = _bar_joins(forecasts, bars, closes_utc, spec)
    ends = "the session's close" if spec.bar_minutes is None else "its end"
    reason = (
        pl.when(pl.col("target_close").is_null())
        .then(pl.format(f"no {timeframe} bar for {{}} yet", pl.col("_target")))
        .when(pl.col("close_utc").is_null() | (pl.col("bar_created_at") < pl.col("close_utc")))
        .then(
            pl.format(
                f"the {{}} bar is partial: written at {{}} UTC, before {ends} at {{}} UTC",
                pl.col("_target"),
                pl.col("bar_created_at").dt.strftime("%Y-%m-%d %H:%M:%S"),
                pl.col("close_utc").dt.strftime("%Y-%m-%d %H:%M"),
            )
        )
        .when(pl.col("as_of_close").is_null())
        .then(pl.format(f"no {timeframe} bar for the as-of day {{}}", pl.col("as_of_date")))
        .otherwise(None)
    )
    joined = joined.with_columns(reason.alias("reason"))
    pending = joined.filter(pl.col("reason").is_not_null()).select(
        "symbol",
        "as_of_date",
        "horizon",
        "target_date",
        pl.col("_as_of").alias("as_of"),
        pl.col("_target").alias("target"),
        "reason",
    )
    ready = joined.filter(pl.col("reason").is_null())
    factors = (
        window_factors(ready, bars, through)
        if spec.crosses_sessions
        else pl.Series([1.0] * ready.height, dtype=pl.Float64)
    )
    ready = ready.with_columns(factors.alias("adjustment_factor"))
    realized = pl.col("target_close") / (pl.col("as_of_close") * pl.col("adjustment_factor")) - 1
    ready = ready.with_columns(realized.alias("realized_return")).with_columns(
        class_names(
            classify(pl.col("realized_return"), pl.col("threshold_down"), pl.col("threshold_up"))
        ).alias("realized_label"),
        (pl.col("close") * (1.0 + pl.col("realized_return"))).alias("realized_price"),
    )
    sign_pred, sign_real = pl.col("predicted_return").sign(), pl.col("realized_return").sign()
    evaluations = ready.select(
        "symbol",
        "as_of_date",
        "horizon",
        "horizon_days",
        "target_date",
        pl.col("target_date").alias("partition_date"),
        pl.col("label").alias("predicted_label"),
        *FORECAST_FIELDS[5:16],
        pl.col("close").alias("forecast_close"),
        "as_of_close",
        "target_close",
        "adjustment_factor",
        "realized_return",
        "realized_price",
        "realized_label",
        (pl.col("label") == pl.col("realized_label")).alias("label_correct"),
        pl.when((sign_pred == 0) | (sign_real == 0))
        .then(None)
        .otherwise(sign_pred == sign_real)
        .alias("direction_correct"),
        (100.0 * (pl.col("realized_price") / pl.col("target_price") - 1.0)).alias(
            "price_error_pct"
        ),
        (
            (pl.col("lower_band") <= pl.col("realized_price"))
            & (pl.col("realized_price") <= pl.col("upper_band"))
        ).alias("inside_band"),
        *LAYER_PROBABILITY_COLUMNS,
        "model_version",
        "weights_source",
        "weights_version",
        "calibration_version",
        pl.col("run_id").alias("forecast_run_id"),
        "bar_run_id",
        "bar_created_at",
        *(INSTANT_COLUMNS if spec.bar_minutes is not None else ()),
    )
    return evaluations, pending
