"""Kafka clients built from settings. Only the Kafka protocol: a real cluster works unchanged.

SASL and TLS settings pass straight through to aiokafka. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from schemas.topics import ALL_TOPICS, Topic
from services.kafka.producer import TopicTrackingProducer
from services.settings import Settings

log = structlog.get_logger(__name__)

PARTITION_MISMATCH = (
    "topic {topic!r} exists with {actual} partitions but {expected} are configured; all topics "
    "must be co-partitioned (fix KRONOBARN_PARTITIONS or recreate the topic)"
)
CREATE_FAILED = "could not create topic {topic!r}: {error} {message}"
DESCRIBE_FAILED = "could not describe topic {topic!r}: {error}"
NOT_REACHABLE = "no Kafka broker answered at {bootstrap} within {timeout:.0f} s"


class PartitionMismatch(ValueError):
    """An existing topic has another partition count than configured: keys would not line up."""


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options shared by every client: bootstrap, TLS and SASL from settings."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism  # aiokafka uses the "plain" pair for SCRAM too
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """Acks from all in-sync replicas; small linger so pages batch without adding latency.
    It keeps the metadata of every topic it writes to (``services.kafka.producer``).

    Idempotence stays off: Tansu answers InitProducerId with an unknown error, and duplicates
    from a retried send are absorbed downstream by the deterministic event ids (DESIGN §4).
    """
    options = client_options(settings) | {
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 5,
        "max_batch_size": 1 << 18,
    }
    return TopicTrackingProducer(**(options | overrides))


def consumer(settings: Settings, *topics: str, group_id: str | None = None, **overrides: Any) -> AIOKafkaConsumer:
    """From the earliest offset, with commits left to the caller (it commits after its writes)."""
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
    """Create what is missing and return the names created; safe to run again.

    Every topic, new or old, must have the configured partition count: topics are
    co-partitioned by child id, so a different count raises ``PartitionMismatch``.
    """
    count = settings.partitions if partitions is None else partitions
    wanted = sorted({t.name for t in topics})
    client = admin(settings)
    await client.start()
    try:
        existing = set(await client.list_topics())
        missing = [name for name in wanted if name not in existing]
        created = await _create(client, missing, count, settings.replication_factor) if missing else []
        # Describe only topics known to exist: Tansu creates any topic a Metadata request names.
        await _check_partitions(client, [name for name in wanted if name not in created], count)
    finally:
        await client.close()
    if created:
        log.info("kafka.topics_created", topics=created, partitions=count)
    return created


async def _create(client: AIOKafkaAdminClient, names: Sequence[str], count: int, replication: int) -> list[str]:
    """Names actually created. aiokafka reports per-topic errors in the response, not by raising."""
    response = await client.create_topics([NewTopic(name, count, replication) for name in names])
    created = []
    for name, code, *message in response.topic_errors:
        error = for_code(code)
        if code == 0:
            created.append(name)
        elif error is not TopicAlreadyExistsError:  # already there: another process won the race
            detail = message[0] if message and message[0] else ""
            raise error(CREATE_FAILED.format(topic=name, error=error.__name__, message=detail).rstrip())
    return created


async def _check_partitions(client: AIOKafkaAdminClient, names: Sequence[str], count: int) -> None:
    if not names:
        return
    for described in await client.describe_topics(list(names)):
        if described["error_code"]:
            error = for_code(described["error_code"])
            raise error(DESCRIBE_FAILED.format(topic=described["topic"], error=error.__name__))
        actual = len(described["partitions"])
        if actual != count:
            raise PartitionMismatch(PARTITION_MISMATCH.format(topic=described["topic"], actual=actual, expected=count))


async def wait_for_broker(bootstrap: str, timeout_s: float = 10.0) -> None:
    """Return once a broker answers a Metadata request; ``ConnectionError`` otherwise."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.start(), timeout_s)
        await asyncio.wait_for(client.list_topics(), timeout_s)
    except (TimeoutError, OSError, KafkaError) as exc:
        raise ConnectionError(NOT_REACHABLE.format(bootstrap=bootstrap, timeout=timeout_s)) from exc
    finally:
        await client.close()
