"""The Faust app for ``kronobarn worker``, built by a factory (no module-level app).

Timeouts follow DESIGN §3 so a worker joins its group in seconds against the embedded broker;
``at_least_once`` with agent concurrency 1; Faust's web server is off so several workers run
side by side. Scale by starting more workers with the same settings: partitions are the unit.
"""

from __future__ import annotations

import faust

from schemas.codec import Codec
from services.settings import Settings
from services.worker.gate import register_gate

APP_ID = "kronobarn"


def create_app(settings: Settings, tick_s: float = 60.0) -> faust.App:
    brokers = [f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")]
    app = faust.App(
        APP_ID,
        broker=brokers,
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        web_enabled=False,
        broker_session_timeout=6,
        broker_rebalance_timeout=6,
        broker_heartbeat_interval=1,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        store="memory://",  # state is rebuilt from the changelog topic on start
    )
    register_gate(app, Codec(), settings.partitions, tick_s=tick_s)
    return app


def run_worker(settings: Settings, tick_s: float = 60.0) -> None:
    app = create_app(settings, tick_s)
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
