"""Durable connector checkpoints, and the marks that make them safe on ties and on any order.

A connector whose source filters changes by timestamp (``Order.INSTANT`` or ``Order.NONE``)
is checkpointed as ``Marks``: per stream, a high-water instant ``at`` -- every change of the
stream before it is published -- and the refs (``kind/id@version``) of the records published
at or after it. A resumed read asks the source for everything at or after ``at`` and drops
those refs, so records sharing an instant are neither lost nor, mostly, published twice.

The guarantee relied on, per stream:

* ``Order.INSTANT``: each query returns its records in change-instant order, records sharing
  an instant in any order, and every page in any order. After each page every change before
  the greatest instant read so far has been read, so ``at`` moves up to it.
* ``Order.NONE``: a query followed through its last page has returned every change since the
  instant it started from, up to the greatest instant it returned (paging over a consistent
  view of the source). Only then does ``at`` move, to that greatest instant; until then every
  page only adds refs. A change the source commits during a query under an instant earlier
  than one the query returned could be missed; no source we read does that knowingly.

Refs are capped per stream (``REF_LIMIT``): past it a crash republishes the rest, under the
same event ids, which downstream recognises. A record the source sends again at a new
version is a new ref and is published. A checkpoint saved before marks (a connector's own
cursor text) still resumes: the connector's ``resume_from`` reads its instants.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from connectors.base import SourceRecord, instant
from services.sql.schema import connector_checkpoints as table

FORMAT = "kronobarn.marks/1"
REF_LIMIT = 5_000  # refs kept per stream; the rest are republished after a crash


@dataclass
class Mark:
    """One stream's place: complete before ``at``; ``seen`` published at or after it (ref -> instant)."""

    at: str | None = None
    seen: dict[str, str] = field(default_factory=dict)


@dataclass
class Marks:
    streams: dict[str, Mark] = field(default_factory=dict)
    _top: dict[str, tuple[dt.datetime, str]] = field(default_factory=dict, repr=False)  # greatest instant this read

    def since(self) -> dict[str, str]:
        """Per stream, the instant a read must start at (inclusive)."""
        return {stream: mark.at for stream, mark in self.streams.items() if mark.at is not None}

    def fresh(self, stream: str, records: Iterable[SourceRecord]) -> list[SourceRecord]:
        """The records not yet published: neither before nor earlier in this page."""
        seen = self.streams.get(stream, Mark()).seen
        out, refs = [], set()
        for record in records:
            if record.ref not in seen and record.ref not in refs:
                refs.add(record.ref)
                out.append(record)
        return out

    def published(self, stream: str, read: Iterable[SourceRecord], fresh: Iterable[SourceRecord], *,
                  complete: bool) -> None:
        """Note a page: ``read`` is all it returned, ``fresh`` what was just published.
        ``complete``: every change of the stream before the greatest instant read is read."""
        mark = self.streams.setdefault(stream, Mark())
        for record in read:
            at = instant(record.cursor)
            if at is not None and (stream not in self._top or at > self._top[stream][0]):
                self._top[stream] = (at, record.cursor)
        for record in fresh:
            if instant(record.cursor) is not None and len(mark.seen) < REF_LIMIT:
                mark.seen[record.ref] = record.cursor
        top = self._top.get(stream)
        if not complete or top is None:
            return
        floor = instant(mark.at) if mark.at is not None else None
        if floor is None or top[0] > floor:
            mark.at = top[1]
            mark.seen = {ref: at for ref, at in mark.seen.items() if _after(at, top[0])}

    def dumps(self) -> str:
        streams = {}
        for stream, mark in sorted(self.streams.items()):
            seen: dict[str, list[str]] = {}
            for ref, at in mark.seen.items():
                seen.setdefault(at, []).append(ref)
            streams[stream] = {"at": mark.at, "seen": {at: sorted(refs) for at, refs in sorted(seen.items())}}
        return json.dumps({"format": FORMAT, "streams": streams}, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None, legacy: Callable[[str], Mapping[str, str]]) -> Marks:
        """Marks from a saved checkpoint; an older cursor text through ``legacy``."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
        except ValueError:
            raw = None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            return cls({stream: Mark(at) for stream, at in legacy(text).items()})
        return cls({stream: Mark(body.get("at"), {ref: at for at, refs in body.get("seen", {}).items() for ref in refs})
                    for stream, body in raw["streams"].items()})


def _after(text: str, floor: dt.datetime) -> bool:
    at = instant(text)
    return at is not None and at >= floor


class SqlCheckpoints:
    """The text of each connector's checkpoint, saved after the page it follows was acked."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def load(self, connector: str) -> str | None:
        with self._engine.connect() as connection:
            return connection.scalar(select(table.c.cursor).where(table.c.connector == connector))

    def save(self, connector: str, cursor: str) -> None:
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(table).where(table.c.connector == connector).values(cursor=cursor, updated_at=now)
            ).rowcount
            if not changed:
                try:
                    with connection.begin_nested():
                        connection.execute(
                            table.insert().values(connector=connector, cursor=cursor, updated_at=now)
                        )
                except IntegrityError:  # a second runner of the same connector got there first
                    connection.execute(
                        update(table).where(table.c.connector == connector).values(cursor=cursor, updated_at=now)
                    )
