"""Shared fixtures: one private Kafka-protocol broker per test session, on a free port."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from services import kafka
from services.broker import EmbeddedBroker, free_port
from services.settings import Settings

POSTGRES_ENV = "KRONOBARN_TEST_POSTGRES_URL"


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


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV)
