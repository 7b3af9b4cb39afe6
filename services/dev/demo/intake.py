"""The demo's intake stage: the synthetic county's source systems, read by the connectors.

Each stand-in is prepared from the county under ``var/demo/standins`` and HTTP stand-ins are
served on free ports; every connector is configured from its ``deploy/connectors`` file, with
addresses pointed at those ports, and drained once into the intake topics.

The population register is drained first, the other three then together. Run all four at once
and whether the register or the health system's birth record sees a newborn first is a matter of
timing, and so is whether the newborn gets two ids that the birth record then links (one run 21
merges, the next none). In this order every newborn whose pregnancy the health system registered
is seen by personnummer first, so the demo shows the same merges every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
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


FIRST = "population"  # drained before the others: see the module's docstring


async def fill_intake(settings: Settings, engine: Engine, data_dir: Path, ports: dict[str, tuple[int | None, int | None]],
                      console: Console) -> dict[str, RunStats]:
    """Run every connector once -- the population register to the end first, then the others
    concurrently -- with one progress line each."""
    columns = (SpinnerColumn(), TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[events]:>8,} events  {task.fields[letters]} dead letters"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        tasks = {name: progress.add_task(name, total=None, events=0, letters=0, start=False) for name in ports}

        def drain(name: str) -> Awaitable[RunStats]:
            return _drain(name, settings, engine, data_dir, ports[name], progress, tasks[name])

        first = [name for name in ports if name == FIRST]
        rest = [name for name in ports if name != FIRST]
        stats = {name: await drain(name) for name in first}
        stats |= dict(zip(rest, await asyncio.gather(*map(drain, rest)), strict=True))
    return {name: stats[name] for name in ports}


async def _drain(name: str, settings: Settings, engine: Engine, data_dir: Path, ports: tuple[int | None, int | None],
                 progress: Progress, task: TaskID) -> RunStats:
    raw = tomllib.loads((DEPLOY / f"{name}.toml").read_text(encoding="utf-8"))
    run = raw.get("run", {})
    connector = connector_class(name).from_config(localise(raw["source"], *ports, data_dir), int(run.get("batch_size", 500)))
    progress.start_task(task)

    def on_page(stats: RunStats) -> None:
        progress.update(task, completed=stats.records, events=stats.events, letters=stats.dead_letters)

    async with connector_runner(connector, settings, engine, on_page=on_page) as runner:
        stats = await runner.run_once()
    progress.update(task, total=stats.records, completed=stats.records)
    return stats
