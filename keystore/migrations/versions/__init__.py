"""Alembic revisions (a package so that installed wheels include them)."""
