"""``kronobarn connector run``: one connector, from its TOML file, until stopped."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import structlog

from connectors.registry import connector_class
from services.ingest.config import ConfigError, load_config
from services.ingest.runner import Backoff
from services.ingest.wiring import connector_runner
from services.settings import Settings
from services.sql.db import make_engine

log = structlog.get_logger(__name__)


def run_connector_command(settings: Settings, name: str, config_path: Path, *, once: bool) -> int:
    """Exit code: 0 on a clean stop, 2 on a configuration error."""
    try:
        cls = connector_class(name)
        config = load_config(config_path)
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
