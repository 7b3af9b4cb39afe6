"""The Faust app for ``kronobarn worker``, built by a factory (no module-level app).

Timeouts follow DESIGN §3 so a worker joins its group in seconds against the embedded broker;
``at_least_once`` with agent concurrency 1; Faust's web server is off so several workers run
side by side. Scale by starting more workers with the same settings: partitions are the unit.
"""

from __future__ import annotations

import asyncio

import faust

from projections.audit_store import AuditStore
from schemas.codec import Codec
from services.kafka.clients import client_options
from services.readmodel.engine import read_model
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.sql.keystore import sealing_codec
from services.worker.audit import register_audit
from services.worker.audit_key import audit_signing_key_from
from services.worker.delivery import register_delivery
from services.worker.gate import register_gate
from services.worker.projector import register_projector
from services.worker.repairs import diagnostics
from services.worker.repairs.changelog import changelogs, close_changelog_batches
from services.worker.repairs.transport import HubApp
from services.worker.roles import Role, group_for

PRODUCER_BATCH_BYTES = 1 << 18  # as services.kafka.clients's producers
PRODUCER_REQUEST_BYTES = 1 << 20  # Kafka's default message.max.bytes is about this


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
    app = HubApp(
        app_id,
        fetch_wait_ms=settings.worker_fetch_wait_ms,
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
        # aiokafka keeps one batch per partition in flight; Faust's 16 KiB batches held only a
        # few of the gate's child records each, so its changelog writes waited on round trips.
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        producer_max_request_size=PRODUCER_REQUEST_BYTES,
        # Fewer, fuller batches: the embedded broker's fetch pages through a partition batch by
        # batch, so the gate's one-record batches made every reader of shared slower as it grew
        # (at 1,000 facts/s the broker spent a core on it). Faust flushes before it commits.
        producer_linger=settings.worker_linger_ms / 1000,
    )
    return app


def create_app(settings: Settings, tick_s: float = 60.0, role: Role = Role.ALL) -> faust.App:
    """The worker: the consent gate (passes sealed data through unopened; seals again only what
    it carries over from a merged child id), the projector (opens it with the children's keys, so
    the plan's free text reads in the read model) and the audit projector (needs nothing sealed;
    signs checkpoints with the audit key), or some of them. Every role uses the hub's database."""
    app = faust_app(settings, group_for(settings, role))
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    sealing = sealing_codec(settings, engine)
    if role is not Role.READ:
        register_gate(app, Codec(), settings, tick_s=tick_s, sealing=sealing)
    if role is not Role.GATE:
        register_projector(app, settings, sealing, read_model(engine, settings))
        signer = audit_signing_key_from(settings)
        audit = AuditStore(engine, signer=signer, checkpoint_every=settings.audit_checkpoint_every)
        register_audit(app, settings, Codec(), audit, signer)
        register_delivery(app, settings, sealing, engine)

    @app.task
    async def diagnostics_on_usr1() -> None:
        diagnostics.install(app)

    return app


def run_worker(settings: Settings, tick_s: float = 60.0, role: Role = Role.ALL) -> None:
    app = create_app(settings, tick_s, role)
    asyncio.run(close_changelog_batches(settings, changelogs(app)))
    # Keep the hub's own (redacting) logging: mode would replace it with its own handlers.
    faust.Worker(app, loglevel="WARNING", quiet=True, override_logging=False).execute_from_commandline()
