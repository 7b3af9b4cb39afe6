"""The worker's Faust consumer waits at most ``worker_fetch_wait_ms`` for a fetch (Faust fixes 1,500),
and its producer gathers records for ``worker_linger_ms`` (Faust's default is 0)."""

from __future__ import annotations

from services.kafka.producer import TopicTrackingProducer
from services.settings import Settings
from services.worker.app import faust_app


async def test_the_worker_consumer_takes_the_configured_fetch_wait() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:1", worker_fetch_wait_ms=70, _env_file=None)  # type: ignore[call-arg]
    app = faust_app(settings, "test-transport")
    thread = app.consumer._new_consumer_thread()
    consumer = thread._create_worker_consumer(app.transport)  # built, not started: no broker needed
    assert consumer._fetch_max_wait_ms == 70
    assert Settings(kafka_bootstrap="127.0.0.1:1", _env_file=None).worker_fetch_wait_ms == 100  # type: ignore[call-arg]


def test_the_worker_producer_lingers_as_configured() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:1", worker_linger_ms=35, _env_file=None)  # type: ignore[call-arg]
    assert faust_app(settings, "test-linger").producer._settings_default()["linger_ms"] == 35
    default = Settings(kafka_bootstrap="127.0.0.1:1", _env_file=None)  # type: ignore[call-arg]
    assert faust_app(default, "test-linger-default").producer._settings_default()["linger_ms"] == 20


async def test_the_worker_producer_keeps_the_metadata_of_every_topic_it_writes() -> None:
    """See services.kafka.producer: a plain aiokafka producer could strand a gate output."""
    settings = Settings(kafka_bootstrap="127.0.0.1:1", _env_file=None)  # type: ignore[call-arg]
    producer = faust_app(settings, "test-tracking").producer._new_producer()  # built, not started
    assert isinstance(producer, TopicTrackingProducer)
