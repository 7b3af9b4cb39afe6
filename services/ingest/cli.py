"""``kronobarn connector run``: one connector, from its TOML file, until stopped; and
``kronobarn connector status``: where it stands, from the database."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from pathlib import Path

import prometheus_client
import structlog

from connectors.registry import connector_class
from services.ingest.checkpoints import Mark, Marks
from services.ingest.config import ConfigError, load_config, production_refusals
from services.ingest.runner import Backoff
from services.ingest.wiring import connector_runner
from services.settings import Settings
from services.sql.db import make_engine, migrate

log = structlog.get_logger(__name__)


def run_connector_command(settings: Settings, name: str, config_path: Path, *, once: bool) -> int:
    """Exit code: 0 on a clean stop, 2 on a configuration error."""
    try:
        cls = connector_class(name)
        config = load_config(config_path)
        refusals = production_refusals(config_path, config.source, cls.names_parties) \
            if settings.env == "production" else []
        if refusals:
            raise ConfigError("; ".join(refusals))
        connector = cls.from_config(config.source, config.run.batch_size)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    engine = make_engine(settings.resolved_database_url)
    try:
        return asyncio.run(_run(connector, settings, engine, config.run, once))
    finally:
        engine.dispose()


async def _run(connector, settings, engine, run, once: bool) -> int:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    backoff = Backoff(max_s=run.max_backoff_s)
    if run.metrics_port is not None:
        prometheus_client.start_http_server(run.metrics_port)
        log.info("connector.metrics", port=run.metrics_port)
    async with connector_runner(connector, settings, engine, backoff=backoff) as runner:
        log.info("connector.started", connector=connector.name, once=once)
        if once:
            stats = await runner.run_once()
        else:
            stats = await runner.run_forever(run.poll_interval_s, stop)
    log.info("connector.stopped", connector=connector.name, pages=stats.pages, records=stats.records,
             events=stats.events, dead_letters=stats.dead_letters, retries=stats.retries)
    print(f"{connector.name}: {stats.records} records, {stats.events} events, "
          f"{stats.dead_letters} dead letters, {stats.retries} retries")
    return 0


def status_command(settings: Settings, name: str) -> int:
    """Print a connector's status; 0, or 1 when it never ran against this database."""
    from rich.console import Console
    from rich.table import Table

    from services.ingest.status import SqlStatus

    engine = make_engine(settings.resolved_database_url)
    try:
        migrate(engine)
        status = SqlStatus(engine).load(name)
    finally:
        engine.dispose()
    console = Console(highlight=False)
    if status is None:
        console.print(f"{name}: no checkpoint and no status: it has not run against this database")
        return 1
    now = dt.datetime.now(dt.UTC)
    table = Table(title=f"connector {name}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("checkpoint", _when(status.checkpoint_at, now, "moved") if status.checkpoint else "none yet")
    for stream, mark in _streams(status.checkpoint).items():
        table.add_row(f"  {stream}", f"complete before {mark.at or 'the beginning'}; "
                                     f"{len(mark.seen):,} records at or after it published")
    table.add_row("last successful poll", _when(status.last_poll_at, now, "at"))
    table.add_row("source", f"down since {_when(status.down_since, now, '')}" if status.down_since else "up")
    table.add_row("records read", f"{status.records_read:,}")
    table.add_row("events published", f"{status.events_published:,}")
    letters = sum(status.dead_letters.values())
    table.add_row("dead letters", f"{letters:,}" + (" (" + ", ".join(
        f"{reason} {n:,}" for reason, n in sorted(status.dead_letters.items())) + ")" if letters else ""))
    table.add_row("retries", f"{status.retries:,}")
    if status.last_error:
        table.add_row("last error", f"{status.last_error} ({_when(status.last_error_at, now, 'at')})")
    console.print(table)
    return 0


def _streams(checkpoint: str | None) -> dict[str, Mark]:
    """A checkpoint's marks per stream; none for a connector that checkpoints an exact position."""
    def not_marks(_text: str) -> dict[str, str]:
        raise ValueError("a position, not marks")

    try:
        return Marks.loads(checkpoint, not_marks).streams
    except ValueError:
        return {}


def _when(at: dt.datetime | None, now: dt.datetime, verb: str) -> str:
    if at is None:
        return "never"
    ago = int((now - at).total_seconds())
    span = f"{ago} s" if ago < 120 else f"{ago // 60} min" if ago < 7_200 else f"{ago // 3_600} h"
    return f"{verb} {at.isoformat(timespec='seconds')} ({span} ago)".strip()
