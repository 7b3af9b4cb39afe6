"""``kronobarn replay``: rebuild the read model from offset 0, optionally as it stood at a moment.

It reads ``shared``, ``plan`` and ``consent`` with aiokafka ``getmany`` up to the end offsets
it finds when it starts, folds every record in memory with the same ``child_state.apply`` the
live projector uses, then writes the children in batched inserts (thousands of rows per
commit) with the positions reached, so a live projector can carry on from a replayed database.

``until`` keeps only events the hub had recorded by then (``envelope.recorded_at``) and
evaluates the named person and every consent interval on that moment: the read model as it
stood, for auditors' time travel.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sqlalchemy import Engine, event

from projections.read_model import Batch, ReadModel
from schemas.codec import Codec, DecodeError
from services.db import MEMORY_DATABASES, make_engine, migrate
from services.projection import CONSUMER, Projection, end_offsets, named_person_config, read_partitions
from services.settings import Settings

WRITE_CHILDREN = 2_000  # children per transaction: well over 1,000 rows each


@dataclass(frozen=True, slots=True)
class ReplayStats:
    records: int
    applied: int
    after_until: int
    failed: int
    children: int
    rows: int
    read_s: float
    write_s: float

    @property
    def seconds(self) -> float:
        return self.read_s + self.write_s


async def replay(settings: Settings, codec: Codec, into_url: str, until: dt.datetime | None = None,
                 progress: Progress | None = None) -> ReplayStats:
    # The fold keeps every child's state, so the heap only grows while reading, and the cyclic
    # collector would walk all of it again and again to find nothing (immutable states form no
    # cycles): a quarter of the replay's time in the bench, more as the county grows. It is off
    # for the replay (process-wide, so for anything else this process runs meanwhile too) and
    # collects as usual after.
    collecting = gc.isenabled()
    gc.disable()
    engine = make_engine(into_url)
    bulk = _bulk_load(engine)
    try:
        migrate(engine)
        store = ReadModel(engine, named_person_config(settings))
        store.clear()
        ends = await end_offsets(settings)
        total = sum(ends.values())
        projection = Projection(codec, until=until)
        task = progress.add_task("reading the log", total=total) if progress else None
        started, seen, failed = time.monotonic(), 0, 0
        async for records in read_partitions(settings, ends):
            for r in records:
                try:
                    projection.apply_record(r.topic, r.partition, r.offset, r.value)
                except (DecodeError, ValueError):
                    failed += 1  # a poison record: the live projector dead-lettered it
            seen += len(records)
            if progress and task is not None:
                progress.update(task, completed=seen)
        read_s = time.monotonic() - started
        at = until or dt.datetime.now(dt.UTC)
        states = list(projection.states.items())
        write = progress.add_task("writing the read model", total=len(states)) if progress else None
        started, rows = time.monotonic(), 0
        positions = {(tp.topic, tp.partition): end - 1 for tp, end in ends.items() if end > 0}
        for first in range(0, max(len(states), 1), WRITE_CHILDREN):
            chunk = dict(states[first:first + WRITE_CHILDREN])
            last = first + WRITE_CHILDREN >= len(states)
            # Positions only for a full replay: one up to ``until`` must not be carried on from.
            tracked = positions if last and until is None else {}
            rows += store.write(Batch(chunk, tracked), CONSUMER, at, fresh=True)
            if progress and write is not None:
                progress.update(write, advance=len(chunk))
        if bulk:
            _make_durable(engine)
        return ReplayStats(seen, projection.applied, projection.skipped, failed, len(states), rows, read_s,
                           time.monotonic() - started)
    finally:
        engine.dispose()
        if collecting:
            gc.enable()


def _bulk_load(engine: Engine) -> bool:
    """Into a SQLite file that does not exist yet, write without waiting for the disk on every
    commit (``synchronous=OFF``): if the machine fails mid-replay, the half-built file is thrown
    away and the replay run again. ``_make_durable`` syncs the finished file once at the end.
    Any other target (PostgreSQL, or a database that holds more than the read model) keeps its
    usual durability."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in MEMORY_DATABASES or database.startswith("file:") \
            or Path(database).exists():
        return False
    event.listen(engine, "connect", _no_sync)
    return True


def _no_sync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=OFF")


def _make_durable(engine: Engine) -> None:
    event.remove(engine, "connect", _no_sync)
    raw = engine.raw_connection()  # outside any transaction: PRAGMA synchronous needs that
    try:
        raw.driver_connection.execute("PRAGMA synchronous=FULL")  # type: ignore[union-attr]
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]  # synced
    finally:
        raw.close()


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn())
