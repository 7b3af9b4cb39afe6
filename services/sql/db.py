"""Engines and migrations for the hub's database: SQLite in dev, PostgreSQL in production.

Nothing here runs at import time. Wiring code calls ``make_engine`` once per process and
``migrate`` before first use; both are safe to repeat.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any fixed 64-bit number: every process that migrates the same PostgreSQL database uses it.
MIGRATION_LOCK_ID = 0x6B726F6E6F626172  # "kronobar"
# Execution option asking the SQLite begin hook for BEGIN IMMEDIATE (take the write lock now).
SQLITE_IMMEDIATE = "kronobarn_sqlite_immediate"

POSTGRES_SCHEMES = {"postgres", "postgresql"}
POSTGRES_DRIVER = "postgresql+psycopg"
MEMORY_DATABASES = {None, "", ":memory:"}


def make_engine(url: str, **options: Any) -> Engine:
    """Build the engine for ``url``; extra ``options`` go to ``sqlalchemy.create_engine``.

    ``postgresql://`` URLs are pointed at psycopg 3, the driver we ship. SQLite gets WAL (readers
    never block the writer), enforced foreign keys, a busy timeout, and real transactions.
    """
    parsed = normalise_url(url)
    # Bound values can be personal data or keys: keep them out of logs and error messages.
    options.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, options)
    options.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **options)


def normalise_url(url: str) -> URL:
    """Parse ``url``, mapping bare PostgreSQL schemes to the psycopg 3 driver."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in POSTGRES_SCHEMES:
        url = f"{POSTGRES_DRIVER}://{rest}"
    return make_url(url)


def _sqlite_engine(url: URL, options: dict[str, Any]) -> Engine:
    _create_parent_dir(url)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _create_parent_dir(url: URL) -> None:
    database = url.database
    if database in MEMORY_DATABASES or database.startswith("file:"):
        return
    Path(database).parent.mkdir(parents=True, exist_ok=True)


def forget_overwritten(engine: Engine) -> None:
    """After an erasure: on SQLite, copy the write-ahead log into the database file and empty it,
    so neither file keeps an old page image with the erased text (``secure_delete`` zeroes the
    rest). Best effort: a reader mid-transaction keeps its pages until the next checkpoint.
    PostgreSQL keeps dead row versions until VACUUM; see docs/architecture.md ("Erasure")."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # outside any transaction: a checkpoint cannot run inside one
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        raw.close()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from sqlite3's legacy mode, which skips BEGIN before
    # SELECT and DDL; ``_on_sqlite_begin`` emits it instead (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted and overwritten content is zeroed, not left in free space: erased text must not
        # linger in the file (crypto-shredding, DESIGN §7).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """``engine.begin()`` for a transaction that reads before it writes. On SQLite it takes the
    write lock at BEGIN: a deferred transaction that another process wrote past between its read
    and its write fails at once with "database is locked", without waiting out the busy timeout."""
    with engine.connect() as connection:
        connection = connection.execution_options(**{SQLITE_IMMEDIATE: True})
        with connection.begin():
            yield connection


def alembic_config() -> Config:
    """Alembic configuration built in code, so no ``alembic.ini`` has to ship or be found."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest schema; a no-op when it is already there.

    The whole upgrade runs in one transaction under a database-wide lock, so several processes
    starting at once neither race nor leave a half-migrated schema.
    """
    config = alembic_config()
    with engine.connect() as connection:
        connection = connection.execution_options(**{SQLITE_IMMEDIATE: True})
        with connection.begin():
            _lock_for_migration(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def _lock_for_migration(connection: Connection) -> None:
    # SQLite already holds its write lock (BEGIN IMMEDIATE); PostgreSQL needs an explicit one.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
