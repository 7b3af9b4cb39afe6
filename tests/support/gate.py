"""Driving real ``kronobarn worker`` processes against the broker, and reading what the gate
decided back off ``shared`` and ``statutory.social``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import TopicPartition

from schemas.codec import Codec
from schemas.events import Event, FactReleased, ReleaseRevoked, ReportOfConcernRouted
from schemas.topics import key_for, topic_for
from services.dev.samples import scoped_fact, scoped_grant, scoped_withdrawal
from services.kafka import clients as kafka
from services.kafka import offsets
from services.settings import Settings
from tests.support.kafka import read_all

KRONOBARN = str(Path(sys.executable).with_name("kronobarn"))
# Facts and consents with a chosen scope (shared with the gate benchmark).
fact, grant, withdraw = scoped_fact, scoped_grant, scoped_withdrawal


async def send(settings: Settings, items: Sequence[Event | tuple[str, bytes, bytes]]) -> None:
    """Publish events (or raw ``(topic, key, value)`` triples) in order, as the connectors do."""
    codec = Codec()
    producer = kafka.producer(settings)
    await producer.start()
    try:
        futures = []
        for item in items:
            if isinstance(item, tuple):
                topic, key, value = item
            else:
                topic, key, value = topic_for(item).name, key_for(item), codec.encode(item)
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass
class Decisions:
    """What the gate published, folded per fact in log order."""

    status: dict[uuid.UUID, tuple[uuid.UUID, ...] | None] = field(default_factory=dict)  # None: revoked
    releases: list[FactReleased] = field(default_factory=list)
    routed: list[ReportOfConcernRouted] = field(default_factory=list)
    output_ids: list[uuid.UUID] = field(default_factory=list)

    @property
    def released(self) -> dict[uuid.UUID, tuple[uuid.UUID, ...]]:
        return {f: ids for f, ids in self.status.items() if ids is not None}

    @property
    def duplicates(self) -> int:
        """Outputs published more than once (recognisable: they keep their event id)."""
        return len(self.output_ids) - len(set(self.output_ids))


def decisions(settings: Settings) -> Decisions:
    codec = Codec()
    out = Decisions()
    for record in asyncio.run(read_all(settings, ["shared", "statutory.social"], idle_ms=200, limit_s=120)):
        event = codec.decode_record(record)
        out.output_ids.append(event.event_id)
        if isinstance(event, FactReleased):
            out.status[event.fact_event_id] = event.consent_ids
            out.releases.append(event)
        elif isinstance(event, ReleaseRevoked):
            out.status[event.fact_event_id] = None
        elif isinstance(event, ReportOfConcernRouted):
            out.routed.append(event)
    return out


async def _output_count(settings: Settings) -> int:
    parts = [TopicPartition(t, p) for t in ("shared", "statutory.social") for p in range(settings.partitions)]
    return sum((await offsets.end_offsets(settings, parts)).values())


def output_count(settings: Settings) -> int:
    """How many records the gate has published so far (end offsets of its output topics)."""
    return asyncio.run(_output_count(settings))


def wait_for_progress(settings: Settings, beyond: int, timeout: float = 120.0) -> int:
    """Block until the gate has published more than ``beyond`` records; return the count."""
    deadline = time.monotonic() + timeout
    while (count := output_count(settings)) <= beyond and time.monotonic() < deadline:
        time.sleep(0.2)
    return count


def settle(settings: Settings, done: Callable[[Decisions], bool], timeout: float = 120.0,
           quiet_s: float = 3.0) -> Decisions:
    """Poll the gate's output until ``done`` holds and nothing more arrives for ``quiet_s``;
    on timeout return the last reading, for the caller's assertion to explain."""
    deadline = time.monotonic() + timeout
    last = decisions(settings)
    while time.monotonic() < deadline:
        if done(last):
            time.sleep(quiet_s)
            again = decisions(settings)
            if len(again.output_ids) == len(last.output_ids):
                return again
            last = again
            continue
        time.sleep(1.0)
        last = decisions(settings)
    return last


class Workers:
    """``kronobarn worker`` processes in one consumer group, to start, kill -9 and stop."""

    def __init__(self, bootstrap: str, cwd: Path, tick_s: float = 1.0, database_url: str | None = None) -> None:
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")},
                    "KRONOBARN_KAFKA_BOOTSTRAP": bootstrap,
                    # Each run its own hub database (keys, read model), unless the test shares one.
                    "KRONOBARN_DATABASE_URL": database_url or f"sqlite:///{cwd / 'hub.db'}"}
        self.cwd, self.tick_s = cwd, tick_s
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, role: str = "all") -> subprocess.Popen[bytes]:
        log = self.cwd / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen([KRONOBARN, "worker", "--tick", str(self.tick_s), "--role", role], env=self.env,
                                    cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def kill9(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)

    def dump(self, settle_s: float = 3.0) -> str:
        """Ask every live worker for its ``kill -USR1`` dump (await chains and partition state,
        no values) and return the newest log's tail, for a failed wait to show what was stuck."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGUSR1)
        time.sleep(settle_s)
        lines = self.logs[-1].read_text(errors="replace").splitlines() if self.logs else []
        return "\n".join(lines[-400:])

    def alive(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
