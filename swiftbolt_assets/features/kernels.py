"""Path-dependent indicators as compiled numba kernels (TradingView/Pine semantics).

Every public kernel works on the concatenation of MANY series at once: it takes float64 arrays
holding all series back to back plus ``starts``, the int64 offset where each series begins
(series ``i`` spans ``starts[i]:starts[i + 1]``, the last one runs to the end of the arrays).
The loop over series runs inside numba, so a call costs one Python → machine-code crossing for
the whole universe, and no state leaks from one series into the next. Outputs are new float64
arrays aligned with the inputs, NaN where the indicator is undefined (warm-up). Inputs are
expected finite; a NaN input propagates the way ``na`` does in Pine.

Kernels:

- :func:`supertrend`: Pine ``ta.supertrend(factor, atrPeriod)`` on ``hl2``, with the direction
  re-signed to +1 = up trend (the line is the lower band), −1 = down trend; Pine itself returns
  −1 for up and +1 for down.
- :func:`supertrend_ai`: LuxAlgo "SuperTrend AI (Clustering)": nine SuperTrends (factors
  1.0 … 5.0 step 0.5) scored by an EMA of their signed performance, k-means (k = 3) over the
  scores every bar, and a SuperTrend with the mean factor of the chosen cluster plus its adaptive
  moving average.
- :func:`pivot_levels`: the last known ``ta.pivothigh(p, p)`` / ``ta.pivotlow(p, p)`` value,
  carried forward; a pivot at bar ``i`` is only known from bar ``i + p`` (no look-ahead).
- :func:`poly_regression_levels`: least-squares quadratic over a trailing window of lows (support)
  and highs (resistance), evaluated at the current bar.

Matching TradingView's SuperTrend AI bar for bar took three Pine details that its source does
not show: ``array.percentile_linear_interpolation`` interpolates with the ``C = 1/2`` rank
convention (not numpy's), float ``==`` (behind ``array.indexof``) is a tolerance test, so
performances within 1e-10 of two centroids go to the first one, and ``array.min`` skips na.
With them the stop and its AMA agree with the daily exports on every bar after the warm-up.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
from numba import njit

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PINE_FLOAT_EQ_TOL = 1e-10  # see _pine_eq


@njit(cache=True)  # type: ignore[misc]
def series_end(starts: IntArray, i: int, n: int) -> int:
    """End offset (exclusive) of series ``i``."""
    if i + 1 < starts.shape[0]:
        return int(starts[i + 1])
    return n


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
def _atr_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    s: int,
    e: int,
    length: int,
    out: FloatArray,
) -> None:
    """Pine ``ta.atr(length)`` on ``[s, e)`` into ``out``: RMA of ``ta.tr(true)``, SMA-seeded."""
    alpha = 1.0 / length
    acc = 0.0
    count = 0
    prev = np.nan
    for j in range(s, e):
        hl = high[j] - low[j]
        if j == s:
            tr = hl
        else:
            c1 = close[j - 1]
            tr = max(hl, abs(high[j] - c1), abs(low[j] - c1))
        if count < length:
            acc += tr
            count += 1
            if count == length:
                prev = acc / length
            out[j] = prev
        else:
            prev = alpha * tr + (1.0 - alpha) * prev
            out[j] = prev


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
        _atr_segment(high, low, close, s, e, atr_length, atr)
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
def _pine_eq(a: float, b: float) -> bool:
    """Pine's float ``==`` (also behind ``array.indexof``): equal within ``PINE_FLOAT_EQ_TOL``.

    TradingView documents ``==`` as rounding floats to nine fractional digits. Exact equality,
    and rounding to nine digits, each miss clustering decisions in the reference exports
    (``../shared/fixtures/tradingview``); an absolute tolerance anywhere from about 7.5e-11 to
    1.1e-10 reproduces all of them, so we use 1e-10. na is equal to nothing.
    """
    if np.isnan(a) or np.isnan(b):
        return False
    return bool(abs(a - b) < PINE_FLOAT_EQ_TOL)


@njit(cache=True)  # type: ignore[misc]
def _percentile_linear(sorted_values: FloatArray, percentage: float) -> float:
    """Pine ``array.percentile_linear_interpolation`` of an ascending array without NaN.

    Linear interpolation between the closest ranks with the ``C = 1/2`` convention (0-based
    rank ``p/100 * m - 1/2``, clamped to the array), which reproduces TradingView's
    SuperTrend AI; numpy's default (rank ``p/100 * (m - 1)``) does not.
    """
    m = sorted_values.shape[0]
    rank = percentage / 100.0 * m - 0.5
    if rank <= 0.0:
        return float(sorted_values[0])
    lo = int(np.floor(rank))
    if lo >= m - 1:
        return float(sorted_values[m - 1])
    frac = rank - lo
    return float(sorted_values[lo] + frac * (sorted_values[lo + 1] - sorted_values[lo]))


@njit(cache=True)  # type: ignore[misc]
def _kmeans3(  # noqa: PLR0917 - numba kernels take positional arguments
    data: FloatArray,
    factors: FloatArray,
    max_iter: int,
    scratch: FloatArray,
    assignment: IntArray,
    centroids: FloatArray,
    sums: FloatArray,
    counts: IntArray,
    factor_sums: FloatArray,
) -> None:
    """LuxAlgo's k-means over ``data`` with three centroids at its 25/50/75th percentiles.

    ``scratch``, ``assignment`` (length of ``data``) and ``centroids`` (3) are work space.
    Leaves the final clusters in ``sums`` / ``counts`` / ``factor_sums`` (per cluster: sum of
    the values, their count, sum of their factors, accumulated in data order as Pine's
    ``array.avg`` does). Pine details that decide near-ties:

    - a value goes to ``dist.indexof(dist.min())``: the FIRST centroid whose distance equals
      the smallest one under Pine's float ``==`` (see :func:`_pine_eq`), so distances within
      1e-10 count as a tie; ``array.min`` skips na (the centroid of an empty cluster), so an
      emptied cluster never gets values again;
    - the loop stops when all three centroids are ``==`` to the previous ones, after
      at most ``max_iter + 1`` passes. Pine never finds na ``==`` na and so keeps iterating once
      a cluster is empty; the assignment is then stable and repeats itself, so stopping as soon
      as it repeats gives the same clusters.
    """
    m = data.shape[0]
    for q in range(m):  # insertion sort: the array is tiny
        v = data[q]
        r = q
        while r > 0 and scratch[r - 1] > v:
            scratch[r] = scratch[r - 1]
            r -= 1
        scratch[r] = v
    centroids[0] = _percentile_linear(scratch, 25.0)
    centroids[1] = _percentile_linear(scratch, 50.0)
    centroids[2] = _percentile_linear(scratch, 75.0)
    for q in range(m):
        assignment[q] = -1
    for _ in range(max_iter + 1):
        for g in range(3):
            sums[g] = 0.0
            counts[g] = 0
            factor_sums[g] = 0.0
        changed = False
        for q in range(m):
            g = _nearest_centroid(data[q], centroids[0], centroids[1], centroids[2])
            changed = changed or assignment[q] != g
            assignment[q] = g
            sums[g] += data[q]
            counts[g] += 1
            factor_sums[g] += factors[q]
        same = True
        for g in range(3):
            new = sums[g] / counts[g] if counts[g] > 0 else np.nan
            same = same and _pine_eq(new, centroids[g])
            centroids[g] = new
        if same or not changed:
            break


@njit(cache=True)  # type: ignore[misc]
def _nearest_centroid(value: float, c0: float, c1: float, c2: float) -> int:
    """``dist.indexof(dist.min())``: the first centroid at the smallest distance (Pine ``==``)."""
    d0 = abs(value - c0)
    d1 = abs(value - c1)
    d2 = abs(value - c2)
    smallest = np.inf  # array.min skips na: a NaN distance never becomes the minimum
    smallest = d0 if d0 < smallest else smallest
    smallest = d1 if d1 < smallest else smallest
    smallest = d2 if d2 < smallest else smallest
    if _pine_eq(d0, smallest):
        return 0
    return 1 if _pine_eq(d1, smallest) else 2


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
        _kmeans3(
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
            _atr_segment(high, low, close, s, e, atr_length, atr)
            _abs_change_ema_segment(close, s, e, int(perf_memory), den)
            _supertrend_ai_segment(
                high, low, close, atr, den, s, e, factors, perf_alpha, cluster, max_iter, out
            )
    return out[0], out[1], out[2], out[3], out[4]


@njit(cache=True)  # type: ignore[misc]
def _pivot_segment(  # noqa: PLR0917 - numba kernels take positional arguments
    values: FloatArray,
    s: int,
    e: int,
    period: int,
    sign: float,
    out: FloatArray,
    deque: IntArray,
) -> None:
    """Last known pivot of ``sign * values`` (max) on ``[s, e)``, as ``values`` into ``out``.

    At bar ``j`` the window is ``[j - 2p, j]`` and its centre ``c = j - p`` is a pivot when its
    value is the window's maximum (ties included); the pivot is first reported at bar ``j``.
    A sliding-window maximum over a monotone deque of indices keeps this O(length).
    """
    width = 2 * period + 1
    head = 0
    tail = 0  # deque[head:tail], values decreasing
    last_nan = s - 1 - width  # most recent NaN index
    current = np.nan
    for j in range(s, e):
        v = sign * values[j]
        if np.isnan(v):
            last_nan = j
        else:
            while tail > head and sign * values[deque[tail - 1]] <= v:
                tail -= 1
            deque[tail] = j
            tail += 1
        while tail > head and deque[head] <= j - width:
            head += 1
        c = j - period
        if c - period >= s and last_nan <= j - width and tail > head:
            vc = sign * values[c]
            if vc >= sign * values[deque[head]]:
                current = values[c]
        out[j] = current


@njit(cache=True)  # type: ignore[misc]
def pivot_levels(
    high: FloatArray, low: FloatArray, starts: IntArray, periods: IntArray
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Last known pivot high / low for every period: two ``(len(periods), n)`` arrays.

    Row ``r`` holds, at each bar, the high (low) of the most recent ``ta.pivothigh(p, p)``
    (``ta.pivotlow(p, p)``) with ``p = periods[r]`` that is known at that bar: bar ``i`` is a
    pivot high when its high is the maximum over ``[i - p, i + p]`` (ties count), which is known
    from bar ``i + p``. NaN until the first pivot is known.
    """
    n = high.shape[0]
    n_periods = periods.shape[0]
    out_high = np.full((n_periods, n), np.nan)
    out_low = np.full((n_periods, n), np.nan)
    deque = np.empty(n, dtype=np.int64)
    for r in range(n_periods):
        p = periods[r]
        for i in range(starts.shape[0]):
            s = starts[i]
            e = series_end(starts, i, n)
            _pivot_segment(high, s, e, p, 1.0, out_high[r], deque)
            _pivot_segment(low, s, e, p, -1.0, out_low[r], deque)
    return out_high, out_low


@njit(cache=True)  # type: ignore[misc]
def _poly2_endpoint_weights(window: int) -> FloatArray:
    """Weights ``w`` with ``sum(w * y)`` = the least-squares quadratic's value at the last point.

    x is the bar position centred and scaled to [-1, 1]; the fit is expanded on the orthogonal
    basis 1, x, x² − mean(x²) (x is symmetric, so the three are orthogonal on the grid), which
    needs no matrix solve and stays well conditioned.
    """
    w = np.empty(window)
    half = 0.5 * (window - 1)
    scale = half if half > 0.0 else 1.0
    mean_x2 = 0.0
    for k in range(window):
        x = (k - half) / scale
        mean_x2 += x * x
    mean_x2 /= window
    norm1 = 0.0
    norm2 = 0.0
    for k in range(window):
        x = (k - half) / scale
        norm1 += x * x
        q = x * x - mean_x2
        norm2 += q * q
    x_last = (window - 1 - half) / scale
    q_last = x_last * x_last - mean_x2
    for k in range(window):
        x = (k - half) / scale
        q = x * x - mean_x2
        wk = 1.0 / window
        if norm1 > 0.0:
            wk += x * x_last / norm1
        if norm2 > 0.0:
            wk += q * q_last / norm2
        w[k] = wk
    return w


@njit(cache=True)  # type: ignore[misc]
def poly_regression_levels(
    low: FloatArray, high: FloatArray, starts: IntArray, window: int
) -> tuple[FloatArray, FloatArray]:
    """Quadratic least-squares fit over the trailing ``window`` bars, evaluated at the bar.

    Returns (support from the lows, resistance from the highs). Uses bars ``[i - window + 1, i]``
    only; NaN until a full window is available (and where the window holds a NaN).
    """
    n = low.shape[0]
    support = np.full(n, np.nan)
    resistance = np.full(n, np.nan)
    w = _poly2_endpoint_weights(window)
    for i in range(starts.shape[0]):
        s = starts[i]
        e = series_end(starts, i, n)
        for j in range(s + window - 1, e):
            base = j - window + 1
            acc_low = 0.0
            acc_high = 0.0
            for k in range(window):
                acc_low += w[k] * low[base + k]
                acc_high += w[k] * high[base + k]
            support[j] = acc_low
            resistance[j] = acc_high
    return support, resistance
