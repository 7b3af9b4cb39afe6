"""The ``kronobarn`` command. One wiring place: settings and logging are set up here, per call."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from services.settings import Settings, get_settings
from services.worker.roles import Role

if TYPE_CHECKING:
    from projections.audit_store import AuditStore

Key = TypeVar("Key")

# Locals in tracebacks could hold personal data: never print them.
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False, help="kronobarn: consent-gated integration hub for barnets plan.")
topics_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Kafka topics (all keyed by child_id, co-partitioned).")
db_app = typer.Typer(no_args_is_help=True, add_completion=False, help="The hub's database (read model, identity registry, keys).")
schemas_app = typer.Typer(no_args_is_help=True, add_completion=False, help="The Avro contract.")
keys_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Per-child data keys (crypto-shredding).")
app.add_typer(topics_app, name="topics")
app.add_typer(db_app, name="db")
app.add_typer(schemas_app, name="schemas")
connector_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Connectors: source systems into the intake topics.")
app.add_typer(keys_app, name="keys")
app.add_typer(connector_app, name="connector")
readmodel_app = typer.Typer(no_args_is_help=True, add_completion=False, help="The SQL read model (plans, named persons, facts).")
app.add_typer(readmodel_app, name="readmodel")
audit_app = typer.Typer(no_args_is_help=True, add_completion=False, help="The tamper-evident audit log of every read (hash chain, signed checkpoints).")
app.add_typer(audit_app, name="audit")
reminders_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Reminders by e-mail of each organisation's to-do page.")
app.add_typer(reminders_app, name="reminders")

BAD_CHILD_ID = "child id must be a UUID pseudonym, got {value!r}"
ERASED = "erased: {ids} id(s) of child {child}; audit event {event}"
AUDIT_INTACT = "audit log intact: {entries} entries, {checkpoints} checkpoints"
AUDIT_NOT_INTACT = "audit log NOT intact: {count} problem(s)"
AUDIT_UNSIGNED = "{unsigned} entries after the last checkpoint are covered by the hash chain only (kronobarn audit checkpoint signs them)"
AUDIT_TABLES_MISSING = "the database has no audit log yet; run kronobarn db migrate"
AUDIT_EMPTY = "the audit log is empty; nothing to sign"
AUDIT_SIGNED = "checkpoint at seq {seq} signed"
AUDIT_REFUSED = "refusing to sign: the entries since the last checkpoint do not verify"


def command_settings() -> Settings:
    """The settings of this call, with logging configured from them (every command starts here)."""
    from services.logging import configure_logging

    settings = get_settings()
    configure_logging(settings)
    return settings


@app.command()
def broker(
    host: Annotated[str | None, typer.Option(help="listen address [KRONOBARN_BROKER_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="listen port [KRONOBARN_BROKER_PORT]")] = None,
) -> None:
    """Run the embedded Kafka-protocol broker (dev only; data lives in memory)."""
    from services.kafka.broker import run_forever

    settings = command_settings()
    run_forever(settings, host or settings.broker_host, port or settings.broker_port)


@topics_app.command("create")
def topics_create(
    partitions: Annotated[int | None, typer.Option(help="partitions per topic [KRONOBARN_PARTITIONS]")] = None,
) -> None:
    """Create every declared topic that is missing. Safe to run again."""
    from services.kafka import clients as kafka

    settings = command_settings()
    if partitions:
        settings = settings.model_copy(update={"partitions": partitions})
    created = asyncio.run(kafka.create_topics(settings))
    typer.echo(f"created {len(created)} topic(s): {', '.join(created) or 'none (all existed)'}")


@topics_app.command("list")
def topics_list() -> None:
    """The declared topics and the event types each carries."""
    from schemas.topics import ALL_TOPICS

    table = Table("topic", "key", "events")
    for topic in ALL_TOPICS:
        table.add_row(topic.name, topic.key, ", ".join(cls.__name__ for cls in topic.events))
    Console().print(table)


@schemas_app.command("list")
def schemas_list() -> None:
    """Every schema with its CRC-64-AVRO fingerprint, current and historic."""
    from schemas.catalogue import Catalogue

    table = Table("schema", "fingerprint", "status")
    for v in sorted(Catalogue.load().versions(), key=lambda v: (v.name, not v.current)):
        table.add_row(v.name, v.fingerprint.hex(), "current" if v.current else "history")
    Console().print(table)


@db_app.command("migrate")
def db_migrate() -> None:
    """Bring the database at KRONOBARN_DATABASE_URL to the newest schema."""
    from services.sql.db import make_engine, migrate

    settings = command_settings()
    migrate(make_engine(settings.resolved_database_url))
    typer.echo("database is at the newest migration")


@keys_app.command("erase")
def keys_erase(
    child_id: Annotated[str, typer.Argument(help="the child's pseudonymous id (any of its ids)")],
    reason: Annotated[str, typer.Option(help="reason code (required): GDPR_ART17, REGISTERED_IN_ERROR, "
                                             "RETENTION_ENDED or SUPERVISORY_ORDER")],
    justification: Annotated[str, typer.Option(help="why, in words (required); kept in the audit log, sealed "
                                                    "under the audit key -- name no child in it")],
    by: Annotated[str | None, typer.Option(help="who erases, as the audit log records it (default: your login)")] = None,
    organisation: Annotated[str | None, typer.Option(help="their organisation id (default: the region)")] = None,
) -> None:
    """Erase a child for good (crypto-shredding): every id of it, logged in the audit log first.

    Every sealed field then reads as erased, in every store and topic; running workers let go of
    what they hold within 5 s. Final: no key can ever be created again for the child."""
    import asyncio
    import getpass

    from schemas.events import Event
    from services.api.orgs import OrgDirectory
    from services.api.publishing import KafkaPublisher
    from services.erasure.audit_text import AuditText
    from services.erasure.erase import Erased, Eraser, ErasureRefused, erase
    from services.readmodel.engine import read_model
    from services.sql.db import make_engine, migrate
    from services.sql.keystore import SqlKeyStore, master_key_from, sealing_codec

    try:
        child = uuid.UUID(child_id)
    except ValueError:
        raise typer.BadParameter(BAD_CHILD_ID.format(value=child_id)) from None
    settings = command_settings()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    master = master_key_from(settings)
    region = OrgDirectory.from_settings(settings).region
    eraser = Eraser(by or getpass.getuser(), "administrator", organisation or (region[0] if region else "kronobarn"))

    async def run() -> Erased:
        publisher, started = KafkaPublisher(settings, sealing_codec(settings, engine)), False

        async def publish(event: Event) -> None:  # connects only once the request has passed its checks
            nonlocal started
            if not started:
                await publisher.start()
                started = True
            await publisher(event)

        try:
            return await erase(engine, SqlKeyStore(engine, master), read_model(engine, settings), AuditText(master),
                               publish, eraser, child, reason, justification)
        finally:
            if started:
                await publisher.stop()

    try:
        done = asyncio.run(run())
    except ErasureRefused as refused:
        typer.echo(f"not erased: {refused}", err=True)
        raise typer.Exit(2) from None
    typer.echo(ERASED.format(ids=len(done.child_ids), child=done.child_id, event=done.event_id))


def _audit_store(settings: Settings) -> AuditStore:
    from sqlalchemy import inspect

    from projections.audit_store import AuditStore, audit_log
    from services.sql.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    if not inspect(engine).has_table(audit_log.name):
        engine.dispose()
        typer.echo(AUDIT_TABLES_MISSING, err=True)
        raise typer.Exit(2)
    return AuditStore(engine)


def _audit_key_or_exit(load: Callable[[], Key]) -> Key:
    from services.worker.audit_key import AuditKeyError

    try:
        return load()
    except AuditKeyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@audit_app.command("verify")
def audit_verify(
    public_key: Annotated[str | None, typer.Option(help="base64 raw Ed25519 public key; default: that of KRONOBARN_AUDIT_SIGNING_KEY")] = None,
) -> None:
    """Check every entry and checkpoint. Exit 1, listing every problem, if the log was tampered with."""
    from services.worker.audit_key import audit_signing_key_from, decode_audit_public_key

    settings = command_settings()
    if public_key is not None:
        key = _audit_key_or_exit(lambda: decode_audit_public_key(public_key))
    else:
        key = _audit_key_or_exit(lambda: audit_signing_key_from(settings)).public_key()
    store = _audit_store(settings)
    problems = store.verify(key)
    stats = store.stats()
    if problems:
        typer.echo(AUDIT_NOT_INTACT.format(count=len(problems)))
        for problem in problems:
            typer.echo(f"  {problem.message}")
        raise typer.Exit(1)
    typer.echo(AUDIT_INTACT.format(entries=stats.entries, checkpoints=stats.checkpoints))
    if stats.unsigned:
        typer.echo(AUDIT_UNSIGNED.format(unsigned=stats.unsigned))


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the head of the audit log now (run it on a schedule to shorten the unsigned tail)."""
    from projections.audit_store import AuditTailNotIntact
    from services.worker.audit_key import audit_signing_key_from, encode_public_key

    settings = command_settings()
    signer = _audit_key_or_exit(lambda: audit_signing_key_from(settings))
    try:
        checkpoint = _audit_store(settings).checkpoint(signer)
    except AuditTailNotIntact as exc:
        typer.echo(AUDIT_REFUSED)
        for problem in exc.problems:
            typer.echo(f"  {problem.message}")
        raise typer.Exit(1) from None
    typer.echo(AUDIT_EMPTY if checkpoint is None else AUDIT_SIGNED.format(seq=checkpoint.seq))
    typer.echo(f"public key: {encode_public_key(signer.public_key())}")


@connector_app.command("run")
def connector_run(
    name: Annotated[str, typer.Argument(help="health, school, social or population")],
    config: Annotated[Path, typer.Option(help="the connector's TOML file, e.g. deploy/connectors/NAME.toml")],
    once: Annotated[bool, typer.Option(help="drain the source once and exit, instead of polling")] = False,
) -> None:
    """Run one connector: read its source, publish to the intake topics, checkpoint, repeat."""
    from services.ingest.cli import run_connector_command

    raise typer.Exit(run_connector_command(command_settings(), name, config, once=once))


@connector_app.command("status")
def connector_status(name: Annotated[str, typer.Argument(help="the connector, e.g. school")]) -> None:
    """Where a connector stands, from the database: its checkpoint and how old it is, the last
    successful poll, records read, events published, dead letters by type, retries, the last error."""
    from services.ingest.cli import status_command

    raise typer.Exit(status_command(command_settings(), name))


@connector_app.command("list")
def connector_list() -> None:
    """The connectors this hub ships."""
    from connectors.registry import CONNECTORS

    for name, target in CONNECTORS.items():
        typer.echo(f"{name:12} {target}")


@app.command()
def worker(
    tick: Annotated[float, typer.Option(help="seconds between consent-expiry sweeps")] = 60.0,
    role: Annotated[Role, typer.Option(
        help="all: every agent; gate: the consent gate; read: the projector and the audit projector. "
             "Under load run gate and read workers, never beside all ones")] = Role.ALL,
) -> None:
    """Run a stream worker: the consent gate and the projectors. Start more to scale; partitions are the unit."""
    from services.worker.app import run_worker

    run_worker(command_settings(), tick_s=tick, role=role)


BAD_UNTIL = "--until must be an ISO 8601 timestamp with a time zone, e.g. 2026-11-01T12:00:00+00:00; got {value!r}"


def _until(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(BAD_UNTIL.format(value=value)) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(BAD_UNTIL.format(value=value))
    return moment.astimezone(dt.UTC)


@app.command()
def replay(
    until: Annotated[str | None, typer.Option(help="rebuild as the read model stood at this moment (ISO 8601)")] = None,
    into: Annotated[str | None, typer.Option(help="database URL to rebuild into [KRONOBARN_DATABASE_URL]")] = None,
    jobs: Annotated[int | None, typer.Option(
        min=1, help="processes, each rebuilding a share of the partitions (default: one per core, up to the "
                    "partition count, for a log of 50,000 records or more; else 1)")] = None,
) -> None:
    """Rebuild the read model from offset 0 with the same folds as the live projector."""
    from services.readmodel.replay import processes, progress_bar
    from services.readmodel.replay import replay as run_replay
    from services.readmodel.replay_jobs import ReplayError
    from services.sql.keystore import sealing_codec

    moment = _until(until)
    settings = command_settings()
    try:
        with progress_bar() as progress:
            stats = asyncio.run(run_replay(settings, sealing_codec, into or settings.resolved_database_url, moment,
                                           progress, jobs))
    except ReplayError as exc:
        typer.echo(f"replay failed: {exc}", err=True)
        raise typer.Exit(1) from None
    rate = stats.records / stats.seconds if stats.seconds else 0.0
    typer.echo(f"replayed {stats.records:,} records ({stats.applied:,} applied, {stats.after_until:,} after --until, "
               f"{stats.failed:,} unreadable) into {stats.children:,} children, {stats.rows:,} rows "
               f"in {stats.seconds:.1f} s ({rate:,.0f} records/s, {processes(stats.jobs)})")


@readmodel_app.command("digest")
def readmodel_digest(
    database: Annotated[str | None, typer.Option(help="database URL [KRONOBARN_DATABASE_URL]")] = None,
) -> None:
    """A stable hash of the read model: equal on any backend when the rows are equal."""
    from services.readmodel.engine import read_model
    from services.sql.db import make_engine, migrate

    settings = command_settings()
    engine = make_engine(database or settings.resolved_database_url)
    migrate(engine)
    typer.echo(read_model(engine, settings).digest())


@reminders_app.command("send")
def reminders_send() -> None:
    """Mail each organisation with a reminder_email in the county directory how many items wait on
    its to-do page, with the link (KRONOBARN_PUBLIC_URL/ui/att-gora): one mail each, only a count."""
    from services.county import county_directory
    from services.reminders.sending import OFF, ReminderError, send_reminders
    from services.sql.db import make_engine

    settings = command_settings()
    if settings.smtp_host is None:
        typer.echo(f"{OFF}; nothing sent", err=True)
        return
    engine = make_engine(settings.resolved_database_url)
    try:
        outcome = send_reminders(settings, engine, county_directory(settings), dt.datetime.now(dt.UTC), typer.echo)
    except ReminderError as exc:
        typer.echo(f"reminders failed: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if outcome.refused:  # the others have theirs; a refused mailbox is for the directory's keeper to fix
        raise typer.Exit(1)


@app.command()
def api(
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="listen port")] = 8080,
    dev_login_on_network: Annotated[bool, typer.Option(
        help="serve the dev login on a non-loopback address (anyone who reaches it gets a token)")] = False,
) -> None:
    """Serve the web service: the JSON API (OpenAPI at /openapi.json), the Swedish pages under /ui,
    and in dev the dev login at /dev/login (on a loopback address only, unless told otherwise)."""
    import uvicorn

    from services.api.app import create_app, settle_heap
    from services.api.auth.devlogin import DEFAULT_KEY_FILE, network_refusal

    settings = command_settings()
    refusal = network_refusal(settings, host, dev_login_on_network)
    if refusal is not None:
        typer.echo(refusal, err=True)
        raise typer.Exit(2)
    web = create_app(settings, dev_key_file=DEFAULT_KEY_FILE)
    settle_heap()
    # No access log: paths carry children's pseudonymous ids, and the audit log records every read.
    # proxy_headers off: X-Forwarded-* are believed only from KRONOBARN_TRUSTED_PROXIES (``api.proxies``)
    uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False)


def _plugin_commands() -> None:
    """Commands that other distributions or rooms add through the ``kronobarn.commands`` entry
    point group: the development room (``services.dev``: demo, bench, stand-ins) joins this way,
    so the product never imports it."""
    for entry in entry_points(group="kronobarn.commands"):
        entry.load()(app)


_plugin_commands()

if __name__ == "__main__":
    app()
