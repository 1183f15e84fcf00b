"""Daily forecasts: labels, models, synthesizer, calibration, backtest."""
