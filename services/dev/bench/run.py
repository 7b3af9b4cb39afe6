"""``kronobarn bench``: run every benchmark case against one broker and print the ratios."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import asdict

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.county import county_directory
from services.dev.bench.codec import CodecBench
from services.dev.bench.connector import connector_rows
from services.dev.bench.county import ScaleRow, county_scale
from services.dev.bench.gate import gate_rows
from services.dev.bench.plan_page import plan_page_latency
from services.dev.bench.replay import SCALE_PER_CHILD, ReplayScale, replay_rows, replay_scale
from services.dev.bench.report import Latency, Row, print_latencies, print_table, save, wide_console
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.readmodel.replay import processes
from services.settings import Settings

GATE_FACTS = 20_000  # the gate runs near 2k facts/s: enough for a stable rate, short enough to repeat


@contextlib.contextmanager
def _broker_for(settings: Settings, bootstrap: str | None) -> Iterator[Settings]:
    """Use the given cluster, or a private embedded broker so the bench never touches a demo."""
    if bootstrap:
        yield settings.model_copy(update={"kafka_bootstrap": bootstrap})
        return
    with EmbeddedBroker(port=free_port()) as broker:
        yield settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})


async def _all_cases(settings: Settings, events: int, repeats: int, progress: Progress,
                     postgres: str | None = None) -> tuple[list[Row], list[Latency]]:
    await kafka.create_topics(settings)
    rows = await CodecBench(settings, events, repeats, progress).run()
    rows += await connector_rows(settings, events, repeats, progress)
    gate, latencies = await gate_rows(settings, min(events // 2, GATE_FACTS), repeats, progress)
    latencies.append(await plan_page_latency(settings, progress))
    replay = await replay_rows(settings, events, repeats, progress, postgres)
    return rows + gate + replay, latencies


def run_bench(settings: Settings, *, events: int, repeats: int, bootstrap: str | None,
              county_children: int = 0, postgres: str | None = None,
              scale_per_child: int | None = None) -> list[Row]:
    console = wide_console()
    with _broker_for(settings, bootstrap) as bench_settings:
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            rows, latencies = asyncio.run(_all_cases(bench_settings, events, repeats, progress, postgres))
    print_table(f"kronobarn bench — {events:,} events × best of {repeats}", rows, console)
    print_latencies("Latency at a fixed offered rate", latencies, console)
    scale: list[ScaleRow] = []
    if county_children:
        with Progress(*columns, console=console, transient=True) as progress:
            scale = county_scale(county_children, progress, county_directory(settings))
        table = Table(title=f"Scale: synthetic county of {county_children:,} children into the stand-ins")
        for col in ("stand-in", "records stored", "seconds", "records/s", "peak RSS (MiB)"):
            table.add_column(col, justify="left" if col == "stand-in" else "right")
        for r in scale:
            table.add_row(r.standin, f"{r.records:,}", f"{r.seconds:.1f}", f"{r.records / r.seconds:,.0f}", f"{r.peak_rss_mib:,.0f}")
        console.print(table)
    rebuilt: ReplayScale | None = None
    if county_children:
        with Progress(*columns, console=console, transient=True) as progress:
            per_child = scale_per_child or SCALE_PER_CHILD
            rebuilt = replay_scale(settings, county_children, county_children * per_child, progress)
        _print_replay_scale(rebuilt, console)
    path = save(rows, {"events": events, "repeats": repeats,
                       "county_scale": [asdict(r) for r in scale],
                       "replay_scale": asdict(rebuilt) if rebuilt else None}, latencies=latencies)
    console.print(f"Saved to {path}. Ratios compare runs; absolute rates do not (DESIGN §8).")
    return rows


def _print_replay_scale(r: ReplayScale, console: Console) -> None:
    table = Table(title=f"Scale: replay of a log of {r.children:,} children into SQLite (a fresh file, "
                        f"{processes(r.jobs)})")
    for col in ("records", "read + fold (s)", "write (s)", "seconds", "records/s", "rows written", "peak RSS (MiB)",
                "broker peak RSS (MiB)"):
        table.add_column(col, justify="right")
    broker = "—" if r.broker_peak_rss_mib is None else f"{r.broker_peak_rss_mib:,.0f}"
    table.add_row(f"{r.records:,}", f"{r.read_s:.1f}", f"{r.write_s:.1f}", f"{r.seconds:.1f}",
                  f"{r.records / r.seconds:,.0f}", f"{r.rows:,}", f"{r.peak_rss_mib:,.0f}", broker)
    console.print(table)
    console.print(f"Generating and publishing the log took {r.generate_s:.0f} s (not timed). Peak RSS adds up the peaks of "
                  "the replay's processes; the embedded broker holds the log in memory.")
