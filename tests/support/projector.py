"""Helpers for the projector's tests: send a history sealed with the hub's keys, wait for the
read model to catch up with the log, and replay into another database with the real CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from projections.read_model import ReadModel
from schemas.codec import Codec
from schemas.events import Event
from schemas.sealing import Sealer
from schemas.topics import key_for, topic_for
from services.kafka import clients as kafka
from services.readmodel.engine import read_model, until_projected
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.sql.keystore import SqlKeyStore, master_key_from
from tests.support.gate import KRONOBARN


def hub(url: str) -> tuple[Engine, Codec, ReadModel]:
    """The hub database at ``url`` migrated, a codec sealing with its keys, and its read model."""
    engine = make_engine(url)
    migrate(engine)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    codec = Codec(sealer=Sealer(SqlKeyStore(engine, master_key_from(settings))))
    return engine, codec, read_model(engine, settings)


async def publish(settings: Settings, codec: Codec, events: Sequence[Event | tuple[str, bytes, bytes]]) -> None:
    producer = kafka.producer(settings)
    await producer.start()
    try:
        futures = []
        for item in events:
            if isinstance(item, tuple):
                futures.append(await producer.send(item[0], item[2], key=item[1]))
            else:
                futures.append(await producer.send(topic_for(item).name, codec.encode(item), key=key_for(item)))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def caught_up(settings: Settings, store: ReadModel, timeout: float = 300.0, quiet_s: float = 3.0) -> bool:
    """Wait until the projector has applied everything on the topics it reads."""
    return asyncio.run(until_projected(settings, store, timeout, quiet_s))


def replay_cli(bootstrap: str, hub_url: str, into: str, *extra: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")}
    env |= {"KRONOBARN_KAFKA_BOOTSTRAP": bootstrap, "KRONOBARN_DATABASE_URL": hub_url}
    return subprocess.run([KRONOBARN, "replay", "--into", into, *extra], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
