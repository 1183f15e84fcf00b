"""SuperTrend and LuxAlgo's "SuperTrend AI (Clustering)" over many series (TradingView semantics).

- :func:`supertrend`: Pine ``ta.supertrend(factor, atrPeriod)`` on ``hl2``, with the direction
  re-signed to +1 = up trend (the line is the lower band), −1 = down trend; Pine itself returns
  −1 for up and +1 for down.
- :func:`supertrend_ai`: nine SuperTrends (factors 1.0 … 5.0 step 0.5) scored by an EMA of their
  signed performance, k-means (k = 3, see `clustering`) over the scores every bar, and a
  SuperTrend with the mean factor of the chosen cluster plus its adaptive moving average. With
  the Pine details of `clustering` the stop and its AMA agree with the daily exports on every bar
  after the warm-up.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from swiftbolt_assets.features.kernels.clustering import kmeans3
from swiftbolt_assets.features.kernels.series import FloatArray, IntArray, series_end
from swiftbolt_assets.features.kernels.volatility import atr_segment


@njit(cache=True)  # type: ignore[misc]
def _pine_min(a: float, b: float) -> float:
    """``math.min`` of Pine: na when either argument is na."""
    if np.isnan(a) or np.isnan(b):
        return np.nan
    return a if a < b else b


@njit(cache=True)  # type: ignore[misc]
def _pine_max(a: float, b: float) -> float:
    """``math.max`` of Pine: na when either argument is na."""
    if np.isnan(a) or np.isnan(b):
        return np.nan
    return a if a > b else b


@njit(cache=True)  # type: ignore[misc]
def supertrend(  # noqa: PLR0917 - numba kernels take positional arguments
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    starts: IntArray,
    atr_length: int,
    factor: float,
) -> tuple[FloatArray, FloatArray]:
    """Pine ``ta.supertrend(factor, atr_length)`` on ``hl2``: (line, direction).

    Direction is +1.0 in an up trend (line = lower band) and −1.0 in a down trend (line = upper
    band), the opposite sign of Pine's own. Both are NaN until the ATR is defined; on that first
    bar the direction is down, as in Pine.
    """
    n = close.shape[0]
    line = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    atr = np.full(n, np.nan)
    for i in range(starts.shape[0]):
        s = starts[i]
        e = series_end(starts, i, n)
        atr_segment(high, low, close, s, e, atr_length, atr)
        # Pine's series history: upperBand[1], lowerBand[1], superTrend[1], atr[1].
        prev_upper = np.nan
        prev_lower = np.nan
        prev_line = np.nan
        prev_atr = np.nan
        for j in range(s, e):
            src = 0.5 * (high[j] + low[j])
            a = atr[j]
            upper = src + factor * a
            lower = src - factor * a
            p_lower = 0.0 if np.isnan(prev_lower) else prev_lower
            p_upper = 0.0 if np.isnan(prev_upper) else prev_upper
            c1 = close[j - 1] if j > s else np.nan
            if not (lower > p_lower or c1 < p_lower):
                lower = p_lower
            if not (upper < p_upper or c1 > p_upper):
                upper = p_upper
            if np.isnan(prev_atr):
                pine_dir = 1
            elif prev_line == p_upper:
                pine_dir = -1 if close[j] > upper else 1
            else:
                pine_dir = 1 if close[j] < lower else -1
            value = lower if pine_dir == -1 else upper
            if not np.isnan(a):
                line[j] = value
                direction[j] = -float(pine_dir)
            prev_upper = upper
            prev_lower = lower
            prev_line = value
            prev_atr = a
    return line, direction


@njit(cache=True)  # type: ignore[misc]
def _ratchet_upper(band: float, candidate: float, prev_close: float) -> float:
    """``upper := close[1] < upper ? math.min(up, upper) : up``."""
    return _pine_min(candidate, band) if prev_close < band else candidate


@njit(cache=True)  # type: ignore[misc]
def _ratchet_lower(band: float, candidate: float, prev_close: float) -> float:
    """``lower := close[1] > lower ? math.max(dn, lower) : dn``."""
    return _pine_max(candidate, band) if prev_close > band else candidate


# rows of the per-factor state of the SuperTrend AI (Pine's ``supertrend`` UDT)
_UPPER, _LOWER, _OUTPUT, _PERF, _TREND = 0, 1, 2, 3, 4


@njit(cache=True)  # type: ignore[misc]
def _update_supertrends(  # noqa: PLR0917 - numba kernels take positional arguments
    state: FloatArray,
    factors: FloatArray,
    hl2: float,
    close: float,
    prev_close: float,
    atr: float,
    perf_alpha: float,
) -> None:
    """One bar of every factor's SuperTrend and performance, in the Pine script's order."""
    change = close - prev_close
    if np.isnan(change):
        change = 0.0  # nz(close - close[1])
    for k in range(factors.shape[0]):
        up = hl2 + atr * factors[k]
        dn = hl2 - atr * factors[k]
        if close > state[_UPPER, k]:
            state[_TREND, k] = 1.0
        elif close < state[_LOWER, k]:
            state[_TREND, k] = 0.0
        state[_UPPER, k] = _ratchet_upper(state[_UPPER, k], up, prev_close)
        state[_LOWER, k] = _ratchet_lower(state[_LOWER, k], dn, prev_close)
        diff = np.sign(prev_close - state[_OUTPUT, k])
        if np.isnan(diff):
            diff = 0.0  # nz(math.sign(close[1] - output))
        state[_PERF, k] += perf_alpha * (change * diff - state[_PERF, k])
        trend_up = state[_TREND, k] == 1.0
        state[_OUTPUT, k] = state[_LOWER, k] if trend_up else state[_UPPER, k]


@njit(cache=True)  # type: ignore[misc]
def _abs_change_ema_segment(
    close: FloatArray, s: int, e: int, length: int, out: FloatArray
) -> None:
    """Pine ``ta.ema(math.abs(close - close[1]), length)`` on ``[s, e)`` into ``out``.

    na on the first bar (no previous close), then seeded with the SMA of the first ``length``
    absolute changes, then ``alpha * x + (1 - alpha) * ema[1]`` with ``alpha = 2 / (length + 1)``.
    """
    alpha = 2.0 / (length + 1.0)
    acc = 0.0
    prev = np.nan
    for j in range(s + 1, e):
        x = abs(close[j] - close[j - 1])
        if j - s < length:
            acc += x
        elif j - s == length:
            prev = (acc + x) / length
        else:
            prev = alpha * x + (1.0 - alpha) * prev
        out[j] = prev


@njit(cache=True)  # type: ignore[misc]
def _initial_supertrends(n_factors: int, hl2_first: float) -> FloatArray:
    """The per-factor state rows (``_UPPER`` … ``_TREND``) as Pine's UDT defaults set them."""
    state = np.empty((5, n_factors))
    state[_UPPER, :] = hl2_first  # `float upper = hl2`, evaluated on the first bar
    state[_LOWER, :] = hl2_first
    state[_OUTPUT, :] = np.nan
    state[_PERF, :] = 0.0
    state[_TREND, :] = 0.0
    return state


@njit(cache=True)  # type: ignore[misc]
def _supertrend_ai_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    atr: FloatArray,
    den: FloatArray,
    s: int,
    e: int,
    factors: FloatArray,
    perf_alpha: float,
    cluster: int,
    max_iter: int,
    out: FloatArray,
) -> None:
    """SuperTrend AI of the series ``[s, e)`` into the rows of ``out`` (see supertrend_ai).

    ``atr`` and ``den`` (the performance index denominator) are already computed there.
    """
    n_factors = factors.shape[0]
    hl2_first = 0.5 * (high[s] + low[s])
    state = _initial_supertrends(n_factors, hl2_first)
    scratch = np.empty(n_factors)
    assignment = np.empty(n_factors, dtype=np.int64)
    centroids = np.empty(3)
    sums = np.zeros(3)
    counts = np.zeros(3, dtype=np.int64)
    factor_sums = np.zeros(3)
    target_factor = np.nan
    upper = hl2_first
    lower = hl2_first
    os = 0
    ama = np.nan
    prev_stop = np.nan
    for j in range(s, e):
        hl2 = 0.5 * (high[j] + low[j])
        c = close[j]
        c1 = close[j - 1] if j > s else np.nan
        _update_supertrends(state, factors, hl2, c, c1, atr[j], perf_alpha)
        kmeans3(
            state[_PERF],
            factors,
            max_iter,
            scratch,
            assignment,
            centroids,
            sums,
            counts,
            factor_sums,
        )
        cluster_perf = 0.0  # nz(avg) of an empty cluster; the target factor is then held
        if counts[cluster] > 0:
            target_factor = factor_sums[cluster] / counts[cluster]
            cluster_perf = sums[cluster] / counts[cluster]
        perf_idx = max(cluster_perf, 0.0) / den[j] if den[j] > 0.0 else np.nan
        # the SuperTrend of the target factor
        upper = _ratchet_upper(upper, hl2 + atr[j] * target_factor, c1)
        lower = _ratchet_lower(lower, hl2 - atr[j] * target_factor, c1)
        if c > upper:
            os = 1
        elif c < lower:
            os = 0
        stop = lower if os == 1 else upper
        if np.isnan(prev_stop) and not np.isnan(stop):
            ama = stop
        elif not np.isnan(perf_idx):
            ama += perf_idx * (stop - ama)
        prev_stop = stop
        out[3, j] = perf_idx
        out[4, j] = target_factor
        if not np.isnan(stop):
            out[0, j] = stop
            out[1, j] = ama
            out[2, j] = 1.0 if os == 1 else -1.0


@njit(cache=True)  # type: ignore[misc]
def supertrend_ai(  # noqa: PLR0917 - numba kernels take positional arguments
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    starts: IntArray,
    atr_length: int,
    min_factor: float,
    max_factor: float,
    factor_step: float,
    perf_memory: float,
    cluster: int,
    max_iter: int,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """LuxAlgo "SuperTrend AI (Clustering)": (stop, ama, trend, perf_idx, factor).

    ``stop`` is Pine's ``ts``, ``ama`` its ``perf_ama``, ``trend`` is +1.0 / −1.0 for ``os``
    = 1 / 0 (NaN while ``stop`` is), ``perf_idx`` the cluster's performance index and ``factor``
    the target factor (mean factor of the chosen cluster, held while that cluster is empty).
    ``cluster`` picks the centroid: 2 'Best', 1 'Average', 0 'Worst'. LuxAlgo's defaults are
    the ``ST_AI_*`` constants of `swiftbolt_assets.features.spec`.

    Deviations from the Pine script: the clustering runs on every bar (Pine skips bars more
    than ``maxData`` = 10000 bars before the chart's last bar, which would make the values
    depend on how much data follows); and where the performance index is undefined (its
    denominator, the EMA of |Δclose|, is 0 or still warming up) ``ama`` is held instead of
    turning na for the rest of the series.
    """
    n = close.shape[0]
    n_factors = int((max_factor - min_factor) / factor_step) + 1
    factors = np.empty(n_factors)
    for k in range(n_factors):
        factors[k] = min_factor + k * factor_step
    out = np.full((5, n), np.nan)
    atr = np.full(n, np.nan)
    den = np.full(n, np.nan)
    perf_alpha = 2.0 / (perf_memory + 1.0)
    for i in range(starts.shape[0]):
        s = starts[i]
        e = series_end(starts, i, n)
        if e > s:
            atr_segment(high, low, close, s, e, atr_length, atr)
            _abs_change_ema_segment(close, s, e, int(perf_memory), den)
            _supertrend_ai_segment(
                high, low, close, atr, den, s, e, factors, perf_alpha, cluster, max_iter, out
            )
    return out[0], out[1], out[2], out[3], out[4]
