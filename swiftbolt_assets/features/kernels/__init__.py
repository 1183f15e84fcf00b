"""Compiled numba kernels of the indicators, by family. Pure: numpy and numba only.

Every kernel works on the concatenation of MANY series at once: float64 arrays holding all series
back to back plus ``starts``, the int64 offset where each series begins (series ``i`` spans
``starts[i]:starts[i + 1]``, the last one runs to the end of the arrays; see `series`). The loop
over series runs inside numba, so a call costs one Python → machine-code crossing for the whole
universe, and no state leaks from one series into the next. Outputs are float64 arrays aligned
with the inputs, NaN where the indicator is undefined (warm-up). Inputs are expected finite; a
NaN input propagates the way ``na`` does in Pine.

- `smoothing`: rolling sums and means, seeded EMA / Wilder RMA (the shared building blocks).
- `oscillators`: RSI, MFI, OBV, ROC, Williams %R, CCI.
- `volatility`: Pine ATR, ATR/DMI/ADX, Bollinger bands.
- `shared`: the indicators TA-Lib also has, all of them in one parallel call (`shared_indicators`,
  behind `indicators.add_indicators`).
- `supertrend` (with the k-means of `clustering`): SuperTrend and LuxAlgo's SuperTrend AI.
- `price_levels`: pivot highs / lows and quadratic-regression support / resistance.

The kernels are compiled with ``cache=True``. numba's disk cache notices edits to a kernel's own
file only, not to the helpers it calls from another module of this package: after editing a
helper, delete the ``__pycache__`` folder here (or set ``NUMBA_CACHE_DIR``) so that the kernels
calling it are compiled afresh. Lengths from `spec` reach the shared kernel as an argument for the
same reason.
"""
