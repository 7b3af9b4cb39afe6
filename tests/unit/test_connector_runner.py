"""The connector runner's guarantees, with fakes for its ports (no I/O)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from connectors.base import Connector, Fact, MappingError, SourceRecord, SourceUnavailable, Subject
from schemas.codec import Codec
from schemas.deadletter import DeadLetter
from schemas.events import Basis, Category, HealthVisitRecorded
from schemas.sealing import SealedBox, Sealer
from services.ingest.runner import Backoff, ConnectorRunner, Outgoing
from tests.support.keys import MemoryKeyStore

T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
FAST = Backoff(initial_s=0.0, max_s=0.0)


FakeKeys = MemoryKeyStore


class FakeIdentities:
    def __init__(self) -> None:
        self.ids: dict[str, uuid.UUID] = {}

    def resolve(self, subject: Subject) -> uuid.UUID:
        return self.ids.setdefault(subject.personnummer or "", uuid.uuid4())

    def pending_links(self) -> list[object]:
        return []

    def announced(self, links: list[object]) -> None:
        assert not links


class FakeCheckpoints:
    def __init__(self) -> None:
        self.saved: dict[str, str] = {}

    def load(self, connector: str) -> str | None:
        return self.saved.get(connector)

    def save(self, connector: str, cursor: str) -> None:
        self.saved[connector] = cursor


class FakePublisher:
    def __init__(self, fail_on_call: int | None = None) -> None:
        self.pages: list[list[Outgoing]] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    async def publish(self, records: Sequence[Outgoing]) -> None:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise OSError("broker went away")
        self.pages.append(list(records))

    @property
    def records(self) -> list[Outgoing]:
        return [r for page in self.pages for r in page]


class Visits(Connector):
    """Ten visit records, three to a page; record 4 is unmappable."""

    name, system, cursor_field = "visits", "fake", "n"

    def __init__(self, down_for: int = 0, bad: frozenset[int] = frozenset({4})) -> None:
        self.down_for = down_for
        self.bad = bad
        self.reads: list[str | None] = []

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> Visits:
        return cls()

    async def read(self, since: str | None) -> AsyncIterator[list[SourceRecord]]:
        self.reads.append(since)
        if self.down_for:
            self.down_for -= 1
            raise SourceUnavailable("down")
        start = 0 if since is None else int(since) + 1
        for first in range(start, 10, 3):
            yield [
                SourceRecord("Encounter", f"e{n}", "1", str(n), {"pnr": f"p{n % 3}"})
                for n in range(first, min(first + 3, 10))
            ]

    def map(self, record: SourceRecord) -> list[Fact]:
        n = int(record.record_id[1:])
        if n in self.bad:
            raise MappingError("visit has no unit")
        return [
            Fact(HealthVisitRecorded, Subject(personnummer=record.data["pnr"]), T0, "unit-1",
                 {"unit_id": "unit-1", "visit_type": "BHV", "visited_on": T0.date()},
                 personal={"given_name": "Testbarn"} if n == 0 else None)
        ]


def _runner(connector: Connector, publisher: FakePublisher | None = None, **kw: Any) -> ConnectorRunner:
    keys = FakeKeys()
    sealer = Sealer(keys)
    return ConnectorRunner(connector, publisher or FakePublisher(), kw.pop("checkpoints", FakeCheckpoints()),
                           kw.pop("identities", FakeIdentities()), Codec(sealer=sealer), sealer,
                           backoff=FAST, clock=lambda: T0, **kw)


async def test_publishes_events_dead_letters_the_bad_record_and_checkpoints() -> None:
    runner = _runner(Visits())
    stats = await runner.run_once()
    publisher = runner.publisher
    assert isinstance(publisher, FakePublisher)
    events = [r for r in publisher.records if r.topic == "intake.health"]
    letters = [r for r in publisher.records if r.topic == "deadletter"]
    assert (len(events), len(letters)) == (9, 1)
    assert (stats.records, stats.events, stats.dead_letters, stats.pages) == (10, 9, 1, 4)
    assert runner.checkpoints.load("visits") == "9"  # type: ignore[attr-defined]
    letter = Codec().decode(letters[0].value)
    assert isinstance(letter, DeadLetter)
    assert letter.stage == "connector:visits" and letter.reason == "visit has no unit"
    assert letter.source_ref == "fake:Encounter/e4@1" and letter.original is None


async def test_envelope_is_classified_and_personal_data_sealed() -> None:
    runner = _runner(Visits())
    await runner.run_once()
    codec = runner.codec
    first = codec.decode(runner.publisher.records[0].value)  # type: ignore[attr-defined]
    assert first.envelope.basis is Basis.CONSENT and first.envelope.category is Category.HEALTH
    assert first.envelope.area is not None and first.envelope.area.value == "health"
    assert first.envelope.sealed.fields == {"given_name": "Testbarn"}  # opened with the child's key
    assert b"Testbarn" not in runner.publisher.records[0].value  # type: ignore[attr-defined]


async def test_replay_gives_identical_event_ids() -> None:
    identities = FakeIdentities()
    first, second = _runner(Visits(), identities=identities), _runner(Visits(), identities=identities)
    await first.run_once()
    await second.run_once()
    assert [r.event_id for r in first.publisher.records if r.topic != "deadletter"] == [  # type: ignore[attr-defined]
        r.event_id for r in second.publisher.records if r.topic != "deadletter"  # type: ignore[attr-defined]
    ]


async def test_publish_failure_does_not_advance_the_checkpoint() -> None:
    publisher = FakePublisher(fail_on_call=2)
    runner = _runner(Visits(), publisher)
    await runner.run_once()
    connector = runner.connector
    assert isinstance(connector, Visits)
    assert connector.reads == [None, "2"]  # resumed after the last acknowledged page
    ids = [r.event_id for r in publisher.records]
    assert len(ids) == len(set(ids)) == 10  # nothing lost, nothing published twice
    assert runner.stats.retries == 1


async def test_source_outage_is_retried_then_flows() -> None:
    runner = _runner(Visits(down_for=3))
    stats = await runner.run_once()
    assert stats.retries == 3 and stats.records == 10


async def test_gives_up_after_max_retries() -> None:
    runner = _runner(Visits(down_for=5), max_retries=2)
    with pytest.raises(SourceUnavailable):
        await runner.run_once()


async def test_unexpected_errors_are_dead_lettered_without_their_message() -> None:
    class Leaky(Visits):
        def map(self, record: SourceRecord) -> list[Fact]:
            raise ValueError("bad date in 20140810-9906")

    runner = _runner(Leaky())
    await runner.run_once()
    letters = [Codec().decode(r.value) for r in runner.publisher.records]  # type: ignore[attr-defined]
    assert len(letters) == 10
    assert all("9906" not in l.reason and "ValueError" in l.reason for l in letters)  # type: ignore[union-attr]


async def test_wrong_fields_are_a_mapping_error() -> None:
    class Wrong(Visits):
        def map(self, record: SourceRecord) -> list[Fact]:
            return [Fact(HealthVisitRecorded, Subject(personnummer="p"), T0, "u", {"nope": 1})]

    runner = _runner(Wrong())
    stats = await runner.run_once()
    assert stats.dead_letters == 10 and stats.events == 0


async def test_erased_child_flows_without_personal_data() -> None:
    keys_runner = _runner(Visits(bad=frozenset()))
    identities = keys_runner.identities
    assert isinstance(identities, FakeIdentities)
    child = identities.resolve(Subject(personnummer="p0"))
    keys_runner.sealer._keys.erase(child)  # type: ignore[attr-defined]
    await keys_runner.run_once()
    first = keys_runner.codec.decode(keys_runner.publisher.records[0].value)  # type: ignore[attr-defined]
    assert first.child_id == child and first.envelope.sealed is None
    assert not isinstance(first.envelope.sealed, SealedBox)
