"""Wiring for connector runs: the one place that builds the runner's adapters from settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Engine

from connectors.base import Connector
from schemas.codec import Codec
from schemas.sealing import Sealer
from services.ingest.checkpoints import SqlCheckpoints
from services.ingest.contacts import SqlContacts
from services.ingest.identity import IdentityRegistry, identity_secret_from
from services.ingest.publisher import KafkaPublisher
from services.ingest.runner import ConnectorRunner
from services.ingest.status import ConnectorMetrics, SqlStatus, StatusObserver, default_metrics
from services.kafka import clients as kafka
from services.settings import Settings
from services.sql.db import migrate
from services.sql.keystore import SqlKeyStore, master_key_from


@contextlib.asynccontextmanager
async def connector_runner(
    connector: Connector, settings: Settings, engine: Engine, *, metrics: ConnectorMetrics | None = None,
    **runner_options: Any
) -> AsyncIterator[ConnectorRunner]:
    """A ready runner for ``connector``, its status kept and its metrics in ``metrics`` (default:
    the process's); producer and connector are closed on exit."""
    migrate(engine)
    sealer = Sealer(SqlKeyStore(engine, master_key_from(settings)))
    identities = IdentityRegistry(engine, identity_secret_from(settings), sealer)
    producer = kafka.producer(settings)
    await producer.start()
    try:
        yield ConnectorRunner(
            connector=connector,
            publisher=KafkaPublisher(producer),
            checkpoints=SqlCheckpoints(engine),
            contacts=SqlContacts(engine),
            identities=identities,
            codec=Codec(sealer=sealer),
            sealer=sealer,
            observer=StatusObserver(connector.name, SqlStatus(engine), metrics or default_metrics()),
            **runner_options,
        )
    finally:
        await producer.stop()
        await connector.aclose()
