"""The evaluation loop: forecasts scored on final bars, rolling live scores, layer weights."""
