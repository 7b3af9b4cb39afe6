"""The connector framework's contract: what a connector declares, and what it hands back.

A connector is a small declarative class (STYLE 7). It names itself and its source system,
says which source field its cursor follows and what order its source promises, reads pages of
``SourceRecord``s, and maps one record to zero or more ``Fact``s. Everything else --
checkpoints, retries, dead letters, identity resolution, event ids, sealing and publishing --
belongs to the runner in ``services``, which injects its ports. Connectors never import Kafka.

Resuming (``Order``). Most sources filter changes by a timestamp and promise little about the
order of records that share one, or about any order at all. Such a connector declares
``Order.INSTANT`` or ``Order.NONE``, gives each record its change instant as ``cursor``, and
yields ``Page``s, one per source answer, per stream (one query of the source, e.g. a resource
type). The runner keeps, per stream, a high-water instant and the records already published
at or after it (``services.ingest.checkpoints``); ``read`` gets the instants and must ask the
source for every change *at or after* each one (``just_before`` turns an exclusive ``after``
filter into that). The runner drops what it already published. ``Order.POSITION`` is for a
source that gives every record an exact, totally ordered position: the runner saves the last
record's ``cursor`` and ``read`` resumes strictly after it.
"""

from __future__ import annotations

import datetime as dt
import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from schemas.events import Area, Event


class SourceUnavailable(Exception):
    """The source cannot be reached, answered 5xx or asked us to slow down (429); the runner backs
    off and retries from its checkpoint, waiting at least ``retry_after_s`` when the source said."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class MappingError(Exception):
    """A record cannot become an event. The message must name no personal data."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as read from a source system.

    ``data`` may hold personal data: it is handed to ``Connector.map`` and nowhere else, and is
    never logged or dead-lettered. ``ref`` is what identifies the record in logs and letters.
    """

    kind: str  # resource type at the source, e.g. "Patient" or "placements"
    record_id: str
    version: str  # changes whenever the record changes; part of the event id
    # Order.POSITION: the exact position to resume *after* this record. Otherwise: the instant
    # (ISO 8601) the source last changed it, as the source wrote it ("" when it has none).
    cursor: str
    data: Mapping[str, Any] = field(repr=False)
    deleted: bool = False

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.record_id}@{self.version}"


class Order(enum.Enum):
    """What a connector's source promises about the order of the records it returns."""

    POSITION = "position"  # an exact, total order: each record's cursor is where to resume after it
    INSTANT = "instant"  # each query in change-instant order; records sharing an instant in any order
    NONE = "none"  # no order at all: a query is complete only once its last page is read


@dataclass(frozen=True, slots=True)
class Page:
    """One source answer for one stream (Order.INSTANT or NONE). ``last`` marks the query's last
    answer: by then the query has returned every change of the stream since it started."""

    stream: str
    records: Sequence[SourceRecord]
    last: bool = False

    def __iter__(self) -> Iterator[SourceRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def instant(text: str) -> dt.datetime | None:
    """A source's change instant as an aware datetime (naive: UTC); None when it is none."""
    try:
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


def just_before(text: str) -> str:
    """The instant one microsecond before ``text``: an exclusive ``after`` filter given it
    returns everything *at or after* ``text``. A source that keeps coarser time only returns
    more, which the runner drops or publishes again under the same event ids."""
    at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (at - dt.timedelta(microseconds=1)).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a fact is about, as the source knows them; the runner resolves it to a child_id.

    ``personnummer`` identifies a born child. ``pregnancy`` is a source-local pregnancy id that
    identifies an unborn child; a birth carries both, so the unborn child's id carries over.
    """

    personnummer: str | None = field(default=None, repr=False)
    pregnancy: str | None = None

    def __post_init__(self) -> None:
        if self.personnummer is None and self.pregnancy is None:
            raise MappingError("a fact needs a personnummer or a pregnancy reference")


@dataclass(frozen=True, slots=True)
class Fact:
    """An event-to-be: its type, subject and fields, before ids and envelope exist.

    ``fields`` are the event's own fields (see ``schemas/events.py``). ``personal`` holds the
    personal data the event should carry; the runner seals it with the child's key.
    ``part`` tells events apart when one record yields several of the same type. ``version``
    replaces the record's version in the event id when a fact outlives record updates (an
    investigation's opening does not change when the row is later closed).
    """

    event: type[Event]
    subject: Subject
    occurred_at: dt.datetime
    organisation_id: str
    fields: Mapping[str, Any]
    area: Area | None = None
    personal: Mapping[str, str] | None = field(default=None, repr=False)
    part: str = ""
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """A person the source names for one of its organisations in a role, e.g. a school unit's
    principal (SS 12000 ``duties``). Staff, not a child: shown beside the organisation."""

    organisation_id: str
    role: str  # "principal"
    name: str = field(repr=False)
    since: dt.date | None = None


class Connector(ABC):
    """Base of every connector. Subclasses declare the class variables and two methods."""

    name: ClassVar[str]  # e.g. "health"; also the checkpoint key and dead-letter stage
    system: ClassVar[str]  # e.g. "cosmic"; part of every event id
    cursor_field: ClassVar[str]  # documentation: the source field the cursor follows
    order: ClassVar[Order] = Order.POSITION
    names_parties: ClassVar[bool] = False  # names guardians or parents by party id (``parties``)

    @classmethod
    @abstractmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> Connector:
        """Build from the ``[source]`` table of the connector's TOML file.

        Raise ``ValueError`` naming the missing or bad key; never echo secrets.
        """

    @abstractmethod
    def read(self, since: Any) -> AsyncIterator[Any]:
        """Pages of changed records; a page should be what one source request returns.

        ``Order.POSITION``: ``since`` is the last saved cursor (None: from the beginning); yield
        lists of records changed after it, in cursor order. Otherwise: ``since`` maps a stream
        to the instant to read *at or after* (a stream not in it, or None: from the beginning);
        yield ``Page``s, the last of each query with ``last=True`` (an empty one if need be).
        Raise ``SourceUnavailable`` when the source is down; the runner retries from the last
        checkpoint.
        """

    def resume_from(self, cursor: str) -> Mapping[str, str]:
        """Per stream, the instant to resume at from a cursor an older version of this
        connector saved, before instants had marks. Raise ``ValueError`` for anything else."""
        raise ValueError("not a checkpoint this connector wrote")

    @abstractmethod
    def map(self, record: SourceRecord) -> list[Fact]:
        """The facts in one record. Raise ``MappingError`` for a record that cannot be mapped."""

    async def contacts(self) -> list[Contact]:
        """The people the source names for its organisations, read whole at the end of each run;
        the runner keeps the latest list. Most sources name none."""
        return []

    async def aclose(self) -> None:
        """Release connections. Called once by the runner when it stops."""
