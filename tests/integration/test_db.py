"""``make_engine`` on SQLite: the settings that make a local file database behave."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from services.sql.db import make_engine, migrate


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'hub.db'}")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://kb@db.example:5432/kronobarn",
        "postgres://kb@db.example:5432/kronobarn",
        "postgresql+psycopg://kb@db.example:5432/kronobarn",
    ],
)
def test_postgres_urls_use_psycopg3(url: str) -> None:
    engine = make_engine(url)  # builds without connecting
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.url.database == "kronobarn"


def test_creates_the_parent_directory(engine: Engine, tmp_path: Path) -> None:
    assert (tmp_path / "nested" / "dir").is_dir()


def test_sqlite_pragmas(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        connection.execute(text("CREATE TABLE child (parent_id INTEGER REFERENCES parent(id))"))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("INSERT INTO child VALUES (42)"))


def test_ddl_is_transactional(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.execute(text("CREATE TABLE doomed (id INTEGER)"))
        raise RuntimeError("roll back")
    with engine.connect() as connection:
        tables = connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
    assert "doomed" not in tables


def test_errors_do_not_show_bound_values(engine: Engine) -> None:
    migrate(engine)
    insert = text("INSERT INTO child_keys (child_id, wrapped_key) VALUES (:child_id, :key)")
    values = {"child_id": "c-1", "key": b"wrapped"}
    with engine.begin() as connection:
        connection.execute(insert, values)
    with pytest.raises(IntegrityError) as caught, engine.begin() as connection:
        connection.execute(insert, {**values, "key": b"SECRET-VALUE"})
    assert "SECRET-VALUE" not in str(caught.value)
