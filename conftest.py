"""The rootdir conftest: plugins the whole suite shares (pytest only honours ``pytest_plugins``
in the rootdir's conftest, whatever the command line; ``swiftbolt_assets_tests/conftest.py``
holds the fixtures).

``forecast_fixtures`` is registered once here, not imported into each test module that uses it,
so that its session-scoped models are trained once per session.
"""

pytest_plugins = ["swiftbolt_assets_tests.forecast_fixtures"]
