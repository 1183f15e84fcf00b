"""Calibration: per-symbol layer weights and the confidence calibration the forecasts read."""
