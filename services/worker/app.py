"""The Faust app for ``kronobarn worker``, built by a factory (no module-level app).

Timeouts follow DESIGN §3 so a worker joins its group in seconds against the embedded broker;
``at_least_once`` with agent concurrency 1; Faust's web server is off so several workers run
side by side. Scale by starting more workers with the same settings: partitions are the unit.
"""

from __future__ import annotations

import faust

from projections.read_model import ReadModel
from schemas.codec import Codec
from schemas.sealing import Sealer
from services.db import make_engine, migrate
from services.kafka import client_options
from services.keystore import SqlKeyStore, master_key_from
from services.projection import named_person_config
from services.settings import Settings
from services.worker.gate import register_gate
from services.worker.projector import register_projector

PRODUCER_LINGER_S = 0.005
PRODUCER_MAX_BATCH_BYTES = 1 << 18


def credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """TLS and SASL for Faust, from the same settings as every other client."""
    options = client_options(settings)
    context = options.get("ssl_context")
    mechanism = settings.kafka_sasl_mechanism
    if mechanism is None:
        return faust.SSLCredentials(context) if context is not None else None
    return faust.SASLCredentials(username=settings.kafka_sasl_username, password=options.get("sasl_plain_password"),
                                 ssl_context=context, mechanism=mechanism)


def faust_app(settings: Settings, app_id: str) -> faust.App:
    """A Faust app configured the hub's way, with no agents yet (the bench's bare agent uses it too)."""
    brokers = [f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")]
    return faust.App(
        app_id,
        broker=brokers,
        broker_credentials=credentials(settings),
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
        # Faust sends with no linger and 16 KiB batches by default: one produce request per
        # handful of changelog writes, which throttles the agent (its buffer fills). Batch like
        # the connectors' producer does.
        producer_linger=PRODUCER_LINGER_S,
        producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
    )


def create_app(settings: Settings, tick_s: float = 60.0) -> faust.App:
    """The worker: the consent gate (passes sealed data through unopened) and the projector
    (opens it with the children's keys, so the plan's free text reads in the read model)."""
    app = faust_app(settings, settings.worker_group)
    register_gate(app, Codec(), settings.partitions, tick_s=tick_s)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    sealing = Codec(sealer=Sealer(SqlKeyStore(engine, master_key_from(settings))))
    register_projector(app, settings, sealing, ReadModel(engine, named_person_config(settings)))
    return app


def run_worker(settings: Settings, tick_s: float = 60.0) -> None:
    app = create_app(settings, tick_s)
    # Keep the hub's own (redacting) logging: mode would replace it with its own handlers.
    faust.Worker(app, loglevel="WARNING", quiet=True, override_logging=False).execute_from_commandline()
