"""Alembic migrations for the registry database (run by ``keystore.db.upgrade``)."""
