"""Alembic migrations for disburse; run them with ``disburse db upgrade``.

Alembic loads these scripts from the folder (``disburse.entry.migrate.alembic_config`` names
it); they import the models, and nothing imports them.
"""
