"""Shared fixtures: one private Kafka-protocol broker per test session, on a free port."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, text

from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.logging import configure_logging
from services.settings import Settings
from services.sql.db import make_engine, migrate, normalise_url

POSTGRES_ENV = "KRONOBARN_TEST_POSTGRES_URL"


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    """The same logging set-up as the CLI; debug lines would drown test output."""
    configure_logging(Settings(log_level="INFO", log_format="console"))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_path = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(port=free_port(), log_path=log_path) as running:
        yield running


@pytest.fixture(scope="session")
async def kafka_settings(broker: EmbeddedBroker) -> Settings:
    settings = Settings(kafka_bootstrap=broker.bootstrap, _env_file=None)  # type: ignore[call-arg]
    await kafka.create_topics(settings)
    return settings


NO_POSTGRES = f"{POSTGRES_ENV} is not set; PostgreSQL contract tests need a server"
# Parametrise a fixture or test with these to run it on both databases (STYLE 8).
DATABASES = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=[pytest.mark.postgres, pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=NO_POSTGRES)],
    ),
]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL whose connections live in a schema made for this session only, dropped after.

    Other suites (and CI runs) share the database, so nothing here touches ``public``.
    """
    if not os.environ.get(POSTGRES_ENV):
        pytest.skip(NO_POSTGRES)
    admin = make_engine(os.environ[POSTGRES_ENV])
    schema = f"kb_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = normalise_url(os.environ[POSTGRES_ENV]).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_schema() -> Iterator[Callable[[], str]]:
    """A factory of URLs, each into a schema of its own, all dropped after the test."""
    if not os.environ.get(POSTGRES_ENV):
        pytest.skip(NO_POSTGRES)
    admin = make_engine(os.environ[POSTGRES_ENV])
    made: list[str] = []

    def new() -> str:
        schema = f"kb_test_{uuid.uuid4().hex[:12]}"
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        url = normalise_url(os.environ[POSTGRES_ENV]).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    try:
        yield new
    finally:
        with admin.begin() as connection:
            for schema in made:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=DATABASES)
def hub_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated hub database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    migrate(engine)
    yield engine
    if request.param == "postgres":
        _empty_tables(engine)  # the session schema is shared; each test starts empty
    engine.dispose()


def _empty_tables(engine: Engine) -> None:
    tables = MetaData()
    tables.reflect(engine)
    with engine.begin() as connection:
        for table in reversed(tables.sorted_tables):
            if table.name != "alembic_version":
                connection.execute(table.delete())


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything the hub logs meanwhile, at debug level, in this buffer (for scans for personal data)."""
    buffer = io.StringIO()
    debug = Settings(_env_file=None, log_level="DEBUG", log_format="console")  # type: ignore[call-arg]
    configure_logging(debug, stream=buffer)
    try:
        yield buffer
    finally:
        configure_logging(Settings(_env_file=None, log_level="INFO", log_format="console"))  # type: ignore[call-arg]
