"""SwiftBolt unified ML platform: one Dagster asset graph on PostgreSQL.

Importing this package has no side effects: configuration is read when definitions are built
(`swiftbolt_assets.definitions`) or when a command runs (`swiftbolt_assets.cli`).
"""
