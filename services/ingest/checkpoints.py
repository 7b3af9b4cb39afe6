"""Durable connector checkpoints: the cursor after the last page whose events were acked."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from services.sql.schema import connector_checkpoints as table


class SqlCheckpoints:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def load(self, connector: str) -> str | None:
        with self._engine.connect() as connection:
            return connection.scalar(select(table.c.cursor).where(table.c.connector == connector))

    def save(self, connector: str, cursor: str) -> None:
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(table).where(table.c.connector == connector).values(cursor=cursor, updated_at=now)
            ).rowcount
            if not changed:
                try:
                    with connection.begin_nested():
                        connection.execute(
                            table.insert().values(connector=connector, cursor=cursor, updated_at=now)
                        )
                except IntegrityError:  # a second runner of the same connector got there first
                    connection.execute(
                        update(table).where(table.c.connector == connector).values(cursor=cursor, updated_at=now)
                    )
