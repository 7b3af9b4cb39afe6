"""The connector framework's contract: what a connector declares, and what it hands back.

A connector is a small declarative class (STYLE 7). It names itself and its source system,
says which source field its cursor follows, reads pages of ``SourceRecord``s after a cursor,
and maps one record to zero or more ``Fact``s. Everything else -- checkpoints, retries, dead
letters, identity resolution, event ids, sealing and publishing -- belongs to the runner in
``services``, which injects its ports. Connectors never import Kafka.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from schemas.events import Area, Event


class SourceUnavailable(Exception):
    """The source cannot be reached or answered 5xx; the runner backs off and retries."""


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
    cursor: str  # the position to resume *after* this record
    data: Mapping[str, Any] = field(repr=False)
    deleted: bool = False

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.record_id}@{self.version}"


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

    @classmethod
    @abstractmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> Connector:
        """Build from the ``[source]`` table of the connector's TOML file.

        Raise ``ValueError`` naming the missing or bad key; never echo secrets.
        """

    @abstractmethod
    def read(self, since: str | None) -> AsyncIterator[list[SourceRecord]]:
        """Pages of records changed after ``since`` (None: from the beginning), in cursor order.

        Raise ``SourceUnavailable`` when the source is down; the runner retries from the last
        checkpoint. A page should be what one source request returns.
        """

    @abstractmethod
    def map(self, record: SourceRecord) -> list[Fact]:
        """The facts in one record. Raise ``MappingError`` for a record that cannot be mapped."""

    async def contacts(self) -> list[Contact]:
        """The people the source names for its organisations, read whole at the end of each run;
        the runner keeps the latest list. Most sources name none."""
        return []

    async def aclose(self) -> None:
        """Release connections. Called once by the runner when it stops."""
