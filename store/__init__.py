"""Persistence: SQLAlchemy 2 (async) models and the queries the API needs."""
