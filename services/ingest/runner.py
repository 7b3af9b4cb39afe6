"""The connector runner: owns everything a connector does not (DESIGN §5, STYLE 7).

Per page of source records it maps each record to facts, resolves identities, builds events
with deterministic ids, seals personal data, encodes, publishes the page and waits for the
acknowledgements, and only then saves the checkpoint. Hence the commit order:

    1. identities are committed as they are resolved (a replayed record finds the same child);
    2. the page's events are published and acknowledged;
    3. the checkpoint after the page is saved.

A crash between 2 and 3 republishes the page with the same event ids, which downstream
recognises as duplicates; nothing is ever skipped. For a source that filters changes by
timestamp the checkpoint is ``Marks`` (``services.ingest.checkpoints``): the runner drops what
a resumed read returns again, and moves a stream's high-water instant only as far as the
source's order promises every earlier change was read -- ties and any order are safe.

Links between two ids of one child that the identity registry has not yet seen announced -- the page's own included -- go out with the page
as ``ChildIdentitiesMerged``, and at the end of every run, and are marked announced after the
broker acknowledged them (a crash in between announces them again, under the same id). A record that cannot be mapped or encoded
goes to the dead-letter topic with a reason and a source reference, and the page goes on.
Source outages (and broker errors) back off exponentially and resume from the checkpoint.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from connectors.base import Connector, Fact, MappingError, Order, Page, SourceRecord, SourceUnavailable
from connectors.classification import envelope_class_of
from schemas.codec import Codec, EncodeError
from schemas.deadletter import DeadLetter
from schemas.events import Basis, Category, ChildIdentitiesMerged, Envelope, Event, Source
from schemas.ids import source_event_id
from schemas.sealing import ChildErased, Personal, SealedBox, Sealer
from schemas.topics import key_for, topic_for
from services.ingest.checkpoints import Marks
from services.kafka.deadletter import dead_letter_for

log = structlog.get_logger(__name__)

BAD_FIELDS = "fields do not fit {event}: {error}"
MERGED_NAMESPACE = uuid.UUID("0b7f9a52-6c1d-4e3a-9f08-5d2c7e4b1a39")
REGISTRY_ORG = "identity-registry"
UNEXPECTED = "unexpected {error} while mapping the record"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One encoded record ready for the log."""

    topic: str
    key: bytes | None
    value: bytes
    event_id: object  # the event's (or dead letter's) UUID; str() it when needed


class Publisher(Protocol):
    """The port the runner publishes through; returns once every record is acknowledged."""

    async def publish(self, records: Sequence[Outgoing]) -> None: ...


class Checkpoints(Protocol):
    def load(self, connector: str) -> str | None: ...

    def save(self, connector: str, cursor: str) -> None: ...


class Contacts(Protocol):
    def save(self, source: str, contacts: Sequence[Any]) -> None: ...


class Identities(Protocol):
    def resolve(self, subject: object) -> object: ...

    def pending_links(self) -> list[Any]: ...

    def announced(self, links: list[Any]) -> None: ...


class Observer(Protocol):
    """Who watches a run: the connector's status row and its metrics (``services.ingest.status``)."""

    def page(self, read: int, published: int, dead_letters: Mapping[str, int], *, moved: bool) -> None: ...

    def retry(self, error: BaseException, down_since: dt.datetime) -> None: ...

    def polled(self, at: dt.datetime) -> None: ...


@dataclass
class RunStats:
    pages: int = 0
    records: int = 0
    events: int = 0
    dead_letters: int = 0
    retries: int = 0
    cursor: str | None = None
    dead_by_reason: collections.Counter[str] = field(default_factory=collections.Counter)  # error type -> letters


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential and jittered: half of each step for sure, the other half at random ("equal
    jitter"), so connectors that lost a source together do not all come back at the same instant;
    never beyond ``max_s``. A source's own ``Retry-After`` is a floor, up to ``retry_after_max_s``
    (a server asking for an hour is not obeyed blindly)."""

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    retry_after_max_s: float = 300.0
    uniform: Callable[[float, float], float] = random.uniform

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        step = min(self.max_s, self.initial_s * self.factor ** max(0, attempt - 1))
        wait = step / 2 + self.uniform(0.0, step / 2)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.retry_after_max_s))
        return wait


DOWN_AFTER = 5  # failed attempts in a row before a source is reported down (an error, once per outage)


@dataclass
class ConnectorRunner:
    connector: Connector
    publisher: Publisher
    checkpoints: Checkpoints
    identities: Identities
    codec: Codec
    sealer: Sealer
    backoff: Backoff = field(default_factory=Backoff)
    contacts: Contacts | None = None  # where the people the source names for its organisations go
    max_retries: int | None = None  # None: keep retrying while the source is down
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    on_page: Callable[[RunStats], Awaitable[None] | None] | None = None
    observer: Observer | None = None
    stats: RunStats = field(default_factory=RunStats)
    _received_at: dt.datetime = field(default=dt.datetime.min.replace(tzinfo=dt.UTC), repr=False)
    _keys: dict[object, bytes] = field(default_factory=dict, repr=False)  # child id -> partition key

    @property
    def stage(self) -> str:
        return f"connector:{self.connector.name}"

    async def run_once(self) -> RunStats:
        """Read until the source has nothing newer than the checkpoint."""
        attempt, down_since, pages = 0, None, self.stats.pages
        while True:
            try:
                await self._drain()
                if self.contacts is not None:
                    self.contacts.save(self.connector.name, await self.connector.contacts())
            except (SourceUnavailable, OSError, _broker_errors()) as exc:
                if self.stats.pages > pages:  # pages went through since the last failure: a new one
                    self._back(attempt, down_since)
                    attempt, down_since, pages = 0, None, self.stats.pages
                attempt += 1
                self.stats.retries += 1
                down_since = down_since or self.clock()
                if self.observer is not None:
                    self.observer.retry(exc, down_since)
                if attempt == DOWN_AFTER:  # the checkpoint stays where it was: nothing is lost meanwhile
                    log.error("connector.source_down", connector=self.connector.name, attempts=attempt,
                              since=down_since.isoformat(), error=type(exc).__name__)
                if self.max_retries is not None and attempt > self.max_retries:
                    raise
                delay = self.backoff.delay(attempt, getattr(exc, "retry_after_s", None))
                log.warning("connector.retry", connector=self.connector.name, attempt=attempt,
                            delay_s=round(delay, 3), error=type(exc).__name__)
                await asyncio.sleep(delay)
                continue
            self._back(attempt, down_since)
            if self.observer is not None:
                self.observer.polled(self.clock())
            return self.stats

    def _back(self, attempts: int, down_since: dt.datetime | None) -> None:
        if attempts >= DOWN_AFTER and down_since is not None:
            log.info("connector.source_back", connector=self.connector.name, attempts=attempts,
                     down_s=round((self.clock() - down_since).total_seconds(), 1))

    async def run_forever(self, poll_interval_s: float, stop: asyncio.Event) -> RunStats:
        while not stop.is_set():
            await self.run_once()
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_interval_s)
            except TimeoutError:
                pass
        return self.stats

    async def _drain(self) -> None:
        if self.connector.order is Order.POSITION:
            await self._drain_positions()
        else:
            await self._drain_marks()
        self._received_at = self.clock()
        await self._publish_with_links([])  # links other runners made and did not announce: a crash

    async def _drain_positions(self) -> None:
        async for page in self.connector.read(self.checkpoints.load(self.connector.name)):
            if page:
                await self._publish_page(page, page[-1].cursor, read=len(page))

    async def _drain_marks(self) -> None:
        saved = self.checkpoints.load(self.connector.name)
        marks = Marks.loads(saved, self.connector.resume_from)
        ordered = self.connector.order is Order.INSTANT
        async for page in self.connector.read(marks.since()):
            if not isinstance(page, Page):
                raise TypeError(f"{self.connector.name} must yield Page objects for Order.{self.connector.order.name}")
            fresh = marks.fresh(page.stream, page.records)
            marks.published(page.stream, page.records, fresh, complete=ordered or page.last)
            cursor = marks.dumps()
            if fresh or cursor != saved:
                await self._publish_page(fresh, cursor, read=len(page.records))
                saved = cursor
            elif self.observer is not None:
                self.observer.page(len(page.records), 0, {}, moved=False)

    async def _publish_page(self, page: Sequence[SourceRecord], cursor: str, *, read: int) -> None:
        events, letters = self.stats.events, collections.Counter(self.stats.dead_by_reason)
        out = self._encode_page(page)  # first: the page's own births may link two ids
        await self._publish_with_links(out)
        self.checkpoints.save(self.connector.name, cursor)
        if self.observer is not None:
            self.observer.page(read, self.stats.events - events, self.stats.dead_by_reason - letters, moved=True)
        self.stats.pages += 1
        self.stats.records += len(page)
        self.stats.cursor = cursor
        log.debug("connector.page", connector=self.connector.name, records=len(page),
                  events=self.stats.events, dead_letters=self.stats.dead_letters)
        if self.on_page is not None:
            result = self.on_page(self.stats)
            if result is not None:
                await result

    async def _publish_with_links(self, out: list[Outgoing]) -> None:
        """Publish ``out`` with the links no runner has announced yet (claimed for this runner a
        while, so two runners rarely announce one link), then mark them announced."""
        links = self.identities.pending_links()
        if out or links:
            await self.publisher.publish([*out, *map(self._merged, links)])
        self.identities.announced(links)

    def _encode_page(self, page: Sequence[SourceRecord]) -> list[Outgoing]:
        out: list[Outgoing] = []
        self._received_at = self.clock()  # the whole page reached the hub at one moment
        for record in page:
            try:
                encoded = [self._encode(event) for event in self._events(record)]
            except (MappingError, EncodeError) as exc:
                out.append(self._letter(record, exc))
                continue
            except Exception as exc:  # a connector bug must not stop the county's data
                # Library messages may quote the offending value; keep only the error's type.
                reason = MappingError(UNEXPECTED.format(error=type(exc).__name__))
                out.append(self._letter(record, reason))
                continue
            out.extend(encoded)
            self.stats.events += len(encoded)
        return out

    def _events(self, record: SourceRecord) -> list[Event]:
        return [self._event(record, fact) for fact in self.connector.map(record)]

    def _event(self, record: SourceRecord, fact: Fact) -> Event:
        cls = fact.event
        child_id = self.identities.resolve(fact.subject)
        name = cls.__name__
        basis, category, default_area = envelope_class_of(cls)
        envelope = Envelope(
            event_id=source_event_id(
                self.connector.system,
                f"{record.kind}/{record.record_id}#{name}{fact.part}",
                fact.version or record.version,
            ),
            type=name,
            child_id=child_id,  # type: ignore[arg-type]
            occurred_at=fact.occurred_at,
            recorded_at=self._received_at,
            source=Source(self.connector.system, fact.organisation_id, record.record_id, record.version),
            basis=basis,
            category=category,
            area=fact.area or default_area,
            sealed=self._seal(child_id, fact.personal),
        )
        try:
            return cls(envelope=envelope, **fact.fields)
        except TypeError as exc:
            raise MappingError(BAD_FIELDS.format(event=name, error=exc)) from None

    def _seal(self, child_id: object, personal: object) -> SealedBox | None:
        if not personal:
            return None
        try:
            return SealedBox(self.sealer.seal(child_id, Personal(personal)))  # type: ignore[arg-type]
        except ChildErased:
            return None  # erased children keep flowing, without any identity details

    def _encode(self, event: Event) -> Outgoing:
        child = event.envelope.child_id
        key = self._keys.get(child)
        if key is None:
            key = self._keys[child] = key_for(event)
        return Outgoing(topic_for(event).name, key, self.codec.encode(event), event.envelope.event_id)

    def _merged(self, link: Any) -> Outgoing:
        return self._encode(merge_announcement(link, self._received_at))

    def _letter(self, record: SourceRecord, exc: BaseException) -> Outgoing:
        self.stats.dead_letters += 1
        letter: DeadLetter = dead_letter_for(
            stage=self.stage, error=exc, source_ref=f"{self.connector.system}:{record.ref}"
        )
        self.stats.dead_by_reason[letter.error_type] += 1
        log.warning("connector.dead_letter", connector=self.connector.name, source_ref=letter.source_ref,
                    error_type=letter.error_type)
        return Outgoing("deadletter", None, self.codec.encode(letter), letter.dead_letter_id)


def _broker_errors() -> type[Exception]:
    from aiokafka.errors import KafkaError

    return KafkaError


def merge_announcement(link: Any, recorded_at: dt.datetime) -> ChildIdentitiesMerged:
    """``ChildIdentitiesMerged`` for a link (``services.ingest.identity.Link``): keyed by the merged
    id, so it meets that id's records in the gate, which carries them over to the surviving id."""
    envelope = Envelope(
        event_id=uuid.uuid5(MERGED_NAMESPACE, f"{link.merged}|{link.surviving}"),
        type=ChildIdentitiesMerged.__name__, child_id=link.merged, occurred_at=link.linked_at,
        recorded_at=recorded_at, source=Source("kronobarn", REGISTRY_ORG, str(link.merged), "1"),
        basis=Basis.DIRECTORY, category=Category.POPULATION, area=None, sealed=None,
    )
    return ChildIdentitiesMerged(envelope=envelope, surviving_child_id=link.surviving)
