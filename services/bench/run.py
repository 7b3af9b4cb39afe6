"""``kronobarn bench``: run every benchmark case against one broker and print the ratios."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from services import kafka
from services.bench.codec import CodecBench
from services.bench.connector import connector_rows
from services.bench.report import Row, print_table, save, wide_console
from services.broker import EmbeddedBroker, free_port
from services.settings import Settings


@contextlib.contextmanager
def _broker_for(settings: Settings, bootstrap: str | None) -> Iterator[Settings]:
    """Use the given cluster, or a private embedded broker so the bench never touches a demo."""
    if bootstrap:
        yield settings.model_copy(update={"kafka_bootstrap": bootstrap})
        return
    with EmbeddedBroker(port=free_port()) as broker:
        yield settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})


async def _all_cases(settings: Settings, events: int, repeats: int, progress: Progress) -> list[Row]:
    await kafka.create_topics(settings)
    rows = await CodecBench(settings, events, repeats, progress).run()
    rows += await connector_rows(settings, events, repeats, progress)
    return rows


def run_bench(settings: Settings, *, events: int, repeats: int, bootstrap: str | None) -> list[Row]:
    console = wide_console()
    with _broker_for(settings, bootstrap) as bench_settings:
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            rows = asyncio.run(_all_cases(bench_settings, events, repeats, progress))
    print_table(f"kronobarn bench — {events:,} events × best of {repeats}", rows, console)
    path = save(rows, {"events": events, "repeats": repeats})
    console.print(f"Saved to {path}. Ratios compare runs; absolute rates do not (DESIGN §8).")
    return rows
