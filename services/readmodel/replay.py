"""``kronobarn replay``: rebuild the read model from offset 0, optionally as it stood at a moment.

It reads ``shared``, ``plan`` and ``consent`` with aiokafka ``getmany`` up to the end offsets
it finds when it starts, folds every record in memory with the same ``child_state.apply`` the
live projector uses, then writes the children in batched inserts (thousands of rows per
commit) with the positions reached, so a live projector can carry on from a replayed database.

The topics are keyed by child and co-partitioned (DESIGN §3), so partition *p* of every topic
holds the same children: a share of the partition numbers is a share of the children. A large
log is rebuilt by several processes at once, one share each (``services.readmodel.replay_jobs``); this
process folds and writes the first share itself.

``until`` keeps only events the hub had recorded by then (``envelope.recorded_at``) and
evaluates the named person and every consent interval on that moment: the read model as it
stood, for auditors' time travel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import structlog
from aiokafka import TopicPartition
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sqlalchemy import Engine, event, inspect

from projections.plan import ERASED_TEXT
from projections.read_model import Batch, ReadModel
from schemas.codec import Codec
from services.erasure.watch import ErasureWatch
from services.kafka import offsets
from services.readmodel.engine import CONSUMER, TOPICS, Projection, read_model, rebuild
from services.readmodel.replay_jobs import Helpers, wait_until_cleared
from services.settings import Settings
from services.sql.db import MEMORY_DATABASES, SQLITE_IMMEDIATE, forget_overwritten, make_engine, migrate
from services.sql.schema import erased_children

log = structlog.get_logger(__name__)

WRITE_CHILDREN = 2_000  # children per transaction: well over 1,000 rows each
# Below this many records a second process costs more (about a second to start) than it saves.
PARALLEL_FROM = 50_000
NOT_COPARTITIONED = "replay.one_process"

CodecFactory = Callable[[Settings], Codec]  # module-level, so a helper process can rebuild it
Share = dict[TopicPartition, int]  # partitions and their end offsets


@dataclass(frozen=True, slots=True)
class ShareStats:
    """What the fold and write of one share (or, summed, of the whole log) came to."""

    records: int
    applied: int
    after_until: int
    failed: int
    children: int
    rows: int

    @classmethod
    def total(cls, parts: list[ShareStats]) -> ShareStats:
        return cls(*(sum(getattr(p, f.name) for p in parts) for f in fields(cls)))


@dataclass(frozen=True, slots=True)
class ReplayStats(ShareStats):
    read_s: float = 0.0
    write_s: float = 0.0
    jobs: int = 1

    @property
    def seconds(self) -> float:
        return self.read_s + self.write_s


@dataclass(frozen=True, slots=True)
class Job:
    """One helper's share of a replay: everything it needs, picklable."""

    settings: Settings
    codec_for: CodecFactory
    into_url: str
    until: dt.datetime | None
    at: dt.datetime
    bulk: bool
    share: tuple[tuple[str, int, int], ...]  # (topic, partition, end offset)


async def replay(settings: Settings, codec_for: CodecFactory, into_url: str, until: dt.datetime | None = None,
                 progress: Progress | None = None, jobs: int | None = None) -> ReplayStats:
    """Rebuild the read model in ``into_url`` with ``jobs`` processes (default ``jobs_for``),
    each folding and writing one share of the partitions."""
    with _no_cyclic_gc():
        engine = make_engine(into_url, execution_options={SQLITE_IMMEDIATE: True})
        bulk = _bulk_load(engine)
        try:
            ends = await offsets.topic_ends(settings, TOPICS)
            shares = split(ends, jobs_for(ends) if jobs is None else jobs)
            at = until or dt.datetime.now(dt.UTC)
            their_jobs = [(_partitions(share), Job(settings, codec_for, into_url, until, at, bulk,
                                                   tuple((tp.topic, tp.partition, end) for tp, end in share.items())))
                          for share in shares[1:]]
            # The helpers' interpreters start while this one migrates and clears the tables.
            with Helpers(_helper_main, their_jobs, sum(ends.values()), progress) as helpers:
                migrate(engine)
                store = read_model(engine, settings)
                store.clear()
                helpers.cleared()
                started = time.monotonic()
                own = await fold_share(settings, codec_for(settings), shares[0], until, helpers.read)
                helpers.folded(len(own.states))
                ours = write_share(store, own, shares[0], until, at, helpers.written)
                del own  # written: let its memory go while the helpers finish
                theirs = await helpers.finish()
                await asyncio.to_thread(let_go_of_erased, settings, store)
                read_s, total = helpers.read_done_at - started, time.monotonic() - started
            if bulk:
                _make_durable(engine)
        finally:
            engine.dispose()
    summed = ShareStats.total([ours, *theirs])
    return ReplayStats(**{f.name: getattr(summed, f.name) for f in fields(ShareStats)},
                       read_s=read_s, write_s=total - read_s, jobs=len(shares))


def _helper_main(connection: Connection, job: Job) -> None:
    """A helper process: fold and write one share, reporting to the parent (``Helpers``)."""
    try:
        asyncio.run(_helper(connection, job))
    except BaseException as exc:  # noqa: BLE001 - whatever it was, the parent must hear of it
        with suppress(OSError):
            connection.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None


async def _helper(connection: Connection, job: Job) -> None:
    with _no_cyclic_gc():
        engine = make_engine(job.into_url, execution_options={SQLITE_IMMEDIATE: True})
        if job.bulk:
            no_sync(engine)
        try:
            share = {TopicPartition(topic, partition): end for topic, partition, end in job.share}
            projection = await fold_share(job.settings, job.codec_for(job.settings), share, job.until,
                                          lambda n: connection.send(("read", n)))
            connection.send(("folded", len(projection.states)))
            wait_until_cleared(connection)
            store = read_model(engine, job.settings)
            stats = write_share(store, projection, share, job.until, job.at, lambda n: connection.send(("written", n)))
            connection.send(("done", stats))
        finally:
            engine.dispose()


def _partitions(share: Share) -> str:
    return "partitions " + ", ".join(str(p) for p in sorted({tp.partition for tp in share}))


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def jobs_for(ends: Mapping[TopicPartition, int]) -> int:
    """One process per core (up to the partition count) for a log of ``PARALLEL_FROM`` records
    or more; one below that."""
    if sum(ends.values()) < PARALLEL_FROM:
        return 1
    return max(1, min(usable_cores(), len({tp.partition for tp in ends})))


def split(ends: Mapping[TopicPartition, int], jobs: int) -> list[Share]:
    """``jobs`` shares of the partition numbers (every topic's partition *p* in the same share).

    Only co-partitioned topics can be split so: with differing partition counts a child's
    records would not share a partition number across topics, and all goes in one share."""
    numbers = sorted({tp.partition for tp in ends})
    counts = {topic: sum(1 for tp in ends if tp.topic == topic) for topic in {tp.topic for tp in ends}}
    if jobs > 1 and len(set(counts.values())) > 1:
        log.warning(NOT_COPARTITIONED, partitions=counts)
        jobs = 1
    jobs = max(1, min(jobs, len(numbers) or 1))
    shares: list[Share] = [{} for _ in range(jobs)]
    for tp, end in ends.items():
        shares[numbers.index(tp.partition) % jobs][tp] = end
    return shares


def let_go_of_erased(settings: Settings, store: ReadModel) -> int:
    """Children erased while the replay read the log had their text opened before the key went:
    it reads erased in the rebuilt read model too (``services.erasure``). Returns how many."""
    hub = make_engine(settings.resolved_database_url)
    try:
        erased = ErasureWatch(hub).poll() if inspect(hub).has_table(erased_children.name) else set()
    finally:
        hub.dispose()
    if erased:
        store.scrub_text(erased, ERASED_TEXT)
        forget_overwritten(store.engine)
    return len(erased)


async def fold_share(settings: Settings, codec: Codec, share: Share, until: dt.datetime | None,
                     advance: Callable[[int], None]) -> Projection:
    """Every record of the share folded into children's states, in memory."""
    projection = Projection(codec, until=until)
    await rebuild(projection, settings, share, advance)
    return projection


def write_share(store: ReadModel, projection: Projection, share: Share, until: dt.datetime | None, at: dt.datetime,
                advance: Callable[[int], None]) -> ShareStats:
    """The share's children in transactions of ``WRITE_CHILDREN``; the last one also records the
    share's positions, for a full replay only (one up to ``until`` must not be carried on from)."""
    states = list(projection.states.items())
    positions = {(tp.topic, tp.partition): end - 1 for tp, end in share.items() if end > 0}
    rows = 0
    for first in range(0, max(len(states), 1), WRITE_CHILDREN):
        chunk = dict(states[first:first + WRITE_CHILDREN])
        last = first + WRITE_CHILDREN >= len(states)
        tracked = positions if last and until is None else {}
        rows += store.write(Batch(chunk, tracked), CONSUMER, at, fresh=True)
        advance(len(chunk))
    return ShareStats(projection.seen, projection.applied, projection.skipped, projection.failed, len(states), rows)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    # The fold keeps every child's state, so the heap only grows while reading, and the cyclic
    # collector would walk all of it again and again to find nothing (immutable states form no
    # cycles): a quarter of the replay's time in the bench, more as the county grows. It is off
    # for the replay (process-wide, so for anything else this process runs meanwhile too) and
    # collects as usual after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
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
    no_sync(engine)
    return True


def no_sync(engine: Engine) -> None:
    event.listen(engine, "connect", _no_sync)


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


def processes(jobs: int) -> str:
    return "1 process" if jobs == 1 else f"{jobs} processes"


def plain_codec(settings: Settings) -> Codec:
    """A codec without a key store: sealed fields stay sealed (the bench's logs carry none)."""
    del settings
    return Codec()


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn())
