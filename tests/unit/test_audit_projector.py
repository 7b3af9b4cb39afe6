"""The audit agent's handler on fakes: batches, positions, redeliveries and dead letters (no I/O)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from projections.audit_store import Position
from schemas.codec import Codec
from schemas.deadletter import DeadLetter
from services.dev.samples import sample_event
from services.settings import Settings
from services.worker.audit import AuditProjector

CODEC = Codec()


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None = b"k"


@dataclass
class Record:
    message: Message
    value: bytes


@dataclass
class FakeTopic:
    sent: list[tuple[bytes | None, bytes]] = field(default_factory=list)

    async def send(self, *, key: bytes | None, value: bytes, force: bool = False) -> None:
        self.sent.append((key, value))


@dataclass
class FakeApp:
    topic_: FakeTopic = field(default_factory=FakeTopic)

    def topic(self, *_names: str, **_options: Any) -> FakeTopic:
        return self.topic_


@dataclass
class FakeStore:
    """Remembers appends; idempotent by event id like the real store."""

    tracked: dict[tuple[str, int], int] = field(default_factory=dict)
    logged: list[Any] = field(default_factory=list)
    calls: int = 0

    def positions(self) -> dict[tuple[str, int], int]:
        return dict(self.tracked)

    def append(self, events: list[Any], positions: list[Position]) -> int:
        self.calls += 1
        known = {e.event_id for e in self.logged}
        new = [e for e in events if e.event_id not in known]
        self.logged += new
        self.tracked.update({(p.topic, p.partition): p.offset for p in positions})
        return len(new)


def record(partition: int, offset: int, value: bytes) -> Record:
    return Record(Message("access", partition, offset), value)


def viewed(n: int) -> bytes:
    return CODEC.encode(sample_event("ChildDataViewed", seed=n))


def test_a_batch_is_appended_once_with_the_highest_offset_per_partition() -> None:
    store, app = FakeStore(), FakeApp()
    agent = AuditProjector(app, Settings(_env_file=None), CODEC, store)  # type: ignore[arg-type]
    asyncio.run(agent.handle([record(0, 0, viewed(1)), record(1, 5, viewed(2)), record(0, 1, viewed(3))]))
    assert store.calls == 1 and len(store.logged) == 3
    assert store.tracked == {("access", 0): 1, ("access", 1): 5}


def test_poison_is_dead_lettered_and_its_position_still_moves() -> None:
    store, app = FakeStore(), FakeApp()
    agent = AuditProjector(app, Settings(_env_file=None), CODEC, store)  # type: ignore[arg-type]
    wrong = CODEC.encode(sample_event("ChildMoved", seed=1))
    asyncio.run(agent.handle([record(0, 0, b"\xc3\x01garbage"), record(0, 1, wrong), record(0, 2, viewed(1))]))
    letters = [CODEC.decode(value) for _, value in app.topic_.sent]
    assert all(isinstance(d, DeadLetter) and d.stage == "audit" for d in letters)
    assert [d.offset for d in letters] == [0, 1] and "not an access event" in letters[1].reason
    assert len(store.logged) == 1 and store.tracked == {("access", 0): 2}


def test_records_at_or_below_the_tracked_position_are_skipped_after_a_restart() -> None:
    store = FakeStore(tracked={("access", 0): 1})
    app = FakeApp()
    agent = AuditProjector(app, Settings(_env_file=None), CODEC, store)  # type: ignore[arg-type]
    asyncio.run(agent.handle([record(0, 0, b"poison seen before"), record(0, 1, viewed(1)), record(0, 2, viewed(2))]))
    assert app.topic_.sent == []  # the poison was dead-lettered before the crash, not again
    assert len(store.logged) == 1 and agent.redeliveries == 2


def test_a_batch_of_only_redeliveries_writes_nothing() -> None:
    store = FakeStore(tracked={("access", 0): 9})
    agent = AuditProjector(FakeApp(), Settings(_env_file=None), CODEC, store)  # type: ignore[arg-type]
    asyncio.run(agent.handle([record(0, 3, viewed(1))]))
    assert store.calls == 0
