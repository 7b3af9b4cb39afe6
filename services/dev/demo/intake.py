"""The demo's intake stage: the synthetic county's source systems, read by the connectors.

Each stand-in is prepared from the county under ``var/demo/standins`` and HTTP stand-ins are
served on free ports; every connector is configured from its ``deploy/connectors`` file, with
addresses pointed at those ports, and drained once into the intake topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from connectors.registry import connector_class
from connectors.standins.county import County
from connectors.standins.registry import STANDINS, standin
from services.dev.http_server import BackgroundServer
from services.ingest.runner import RunStats
from services.ingest.wiring import connector_runner
from services.kafka.broker import free_port
from services.settings import Settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "connectors"  # the repository's deploy/
DEFAULT_DATA_DIR = Path("var/standins")  # what deploy/connectors/*.toml point at


def localise(source: dict[str, Any], default_port: int | None, port: int | None, data_dir: Path) -> dict[str, Any]:
    """Point a deploy config at this run's stand-ins: their ports and their data directory."""
    out: dict[str, Any] = {}
    for key, value in source.items():
        if isinstance(value, str):
            if default_port and port:
                value = value.replace(f":{default_port}", f":{port}")
            value = value.replace(str(DEFAULT_DATA_DIR), str(data_dir))
        out[key] = value
    return out


@contextlib.contextmanager
def serve_standins(data_dir: Path, county: County, console: Console) -> Iterator[dict[str, tuple[int | None, int | None]]]:
    """Prepare every stand-in and serve the HTTP ones; yields name -> (default port, port)."""
    ports: dict[str, tuple[int | None, int | None]] = {}
    with contextlib.ExitStack() as stack:
        for name in STANDINS:
            spec = standin(name)
            with console.status(f"Preparing the {name} stand-in ({county.children:,} children) ..."):
                spec.prepare(data_dir, county)
            port = None
            if spec.app is not None:
                port = free_port()
                stack.enter_context(BackgroundServer(spec.app(data_dir), port=port))
            ports[name] = (spec.default_port, port)
        yield ports


async def fill_intake(settings: Settings, engine: Engine, data_dir: Path, ports: dict[str, tuple[int | None, int | None]],
                      console: Console) -> dict[str, RunStats]:
    """Run every connector once, concurrently, with one progress line each."""
    columns = (SpinnerColumn(), TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[events]:>8,} events  {task.fields[letters]} dead letters"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        return dict(zip(ports, await asyncio.gather(
            *(_drain(name, settings, engine, data_dir, ports[name], progress) for name in ports)
        ), strict=True))


async def _drain(name: str, settings: Settings, engine: Engine, data_dir: Path, ports: tuple[int | None, int | None],
                 progress: Progress) -> RunStats:
    raw = tomllib.loads((DEPLOY / f"{name}.toml").read_text(encoding="utf-8"))
    run = raw.get("run", {})
    connector = connector_class(name).from_config(localise(raw["source"], *ports, data_dir), int(run.get("batch_size", 500)))
    task = progress.add_task(name, total=None, events=0, letters=0)

    def on_page(stats: RunStats) -> None:
        progress.update(task, completed=stats.records, events=stats.events, letters=stats.dead_letters)

    async with connector_runner(connector, settings, engine, on_page=on_page) as runner:
        stats = await runner.run_once()
    progress.update(task, total=stats.records, completed=stats.records)
    return stats
