"""Features: every indicator computed once per (symbol, timeframe, bar), vectorized."""
