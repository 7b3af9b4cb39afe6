"""Alembic environment for kronobarn.

``services.sql.db.migrate`` hands in an open connection through ``config.attributes``, so the
caller owns the transaction and the same code serves SQLite and PostgreSQL. Without one (the
``alembic`` CLI), the URL comes from ``sqlalchemy.url`` or the ``KRONOBARN_*`` settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from services.sql.schema import metadata


def _database_url() -> str:
    from services.settings import get_settings

    return context.config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from services.sql.db import make_engine

    engine = make_engine(_database_url())
    try:
        with engine.begin() as owned:
            _run(owned)
    finally:
        engine.dispose()


def run_offline() -> None:
    context.configure(url=_database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
