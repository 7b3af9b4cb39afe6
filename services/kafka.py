"""Kafka clients built from settings. Only the Kafka protocol: a real cluster works unchanged.

SASL and TLS settings pass straight through to aiokafka. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.topics import ALL_TOPICS, Topic
from services.settings import Settings

PARTITION_MISMATCH = (
    "topic {topic!r} exists with {actual} partitions but {expected} are configured; all topics "
    "must be co-partitioned (fix KRONOBARN_PARTITIONS or recreate the topic)"
)
NOT_REACHABLE = "no Kafka broker answered at {bootstrap} within {timeout:.0f} s"


def client_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """Acks from all in-sync replicas; small linger so pages batch without adding latency."""
    options = client_options(settings) | {"acks": "all", "linger_ms": 5, "max_batch_size": 1 << 18}
    return AIOKafkaProducer(**(options | overrides))


def consumer(settings: Settings, *topics: str, group_id: str | None = None, **overrides: Any) -> AIOKafkaConsumer:
    options = client_options(settings) | {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
    }
    return AIOKafkaConsumer(*topics, **(options | overrides))


def admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(settings))


async def create_topics(
    settings: Settings, topics: Iterable[Topic] = ALL_TOPICS, partitions: int | None = None
) -> list[str]:
    """Create what is missing; return the names created. Existing topics must match the count."""
    count = partitions or settings.partitions
    wanted = {t.name for t in topics}
    client = admin(settings)
    await client.start()
    try:
        existing = set(await client.list_topics())
        missing = sorted(wanted - existing)
        if missing:
            new = [NewTopic(n, count, settings.replication_factor) for n in missing]
            try:
                await client.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another process created them between our list and create
        present = sorted(wanted & existing)
        if present:
            for described in await client.describe_topics(present):
                actual = len(described["partitions"])
                if actual != count:
                    raise ValueError(PARTITION_MISMATCH.format(topic=described["topic"], actual=actual, expected=count))
        return missing
    finally:
        await client.close()


async def wait_for_broker(bootstrap: str, timeout_s: float = 10.0) -> None:
    """Return once a broker answers a Metadata request."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.start(), timeout_s)
        await asyncio.wait_for(client.list_topics(), timeout_s)
    except (TimeoutError, OSError, KafkaError) as exc:
        raise ConnectionError(NOT_REACHABLE.format(bootstrap=bootstrap, timeout=timeout_s)) from exc
    finally:
        await client.close()
