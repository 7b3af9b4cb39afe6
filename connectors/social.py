"""Social-services case register connector: incremental SQL polling on ``(updated_at, id)``.

Reads reports of concern, investigations and interventions through a read-only SQLAlchemy
engine. One row may yield two facts (an investigation opened and closed); each fact's event
id is keyed on its own content, so a later update of the row does not repeat the opening. A
report the hub delivered (``hub_report_id``, ``connectors.social_register``) is the hub's own
already: it gives no second event. Its investigation does, like any other.

Each table is a stream of the framework's marks (``Order.INSTANT``): a read starts at the
checkpoint's ``updated_at`` inclusively and pages on ``(updated_at, id)``, an order this adapter
asks of the database, so rows sharing a timestamp across pages are neither skipped nor repeated
within a read; the runner drops the ones a resumed read returns again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from sqlalchemy import Date, DateTime, Engine, Integer, String, and_, column, create_engine, or_, select, table
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.expression import ColumnClause, TableClause

from connectors.base import Connector, Fact, MappingError, Order, Page, SourceRecord, SourceUnavailable, Subject
from connectors.http import required
from schemas.events import (
    InterventionEnded,
    InterventionStarted,
    InvestigationClosed,
    InvestigationOpened,
    ReportOfConcernReceived,
)

DOWN = "case register unavailable: {error}"
MISSING = "row lacks {field}"


# The register's layout as this adapter reads it (in reality the vendor's documented schema).
def _columns(*names: str) -> list[ColumnClause[Any]]:
    types = {"version": Integer(), "updated_at": DateTime()}
    return [column(n, types.get(n, Date() if n.endswith("_on") else String())) for n in names]


_CASE = ("id", "version", "updated_at", "personnummer", "municipality_code")
TABLES: tuple[TableClause, ...] = (
    table("reports_of_concern", *_columns(*_CASE, "reporter_category", "received_on", "hub_report_id")),
    table("investigations", *_columns(*_CASE, "report_id", "opened_on", "closed_on", "outcome")),
    table("interventions", *_columns(*_CASE, "investigation_id", "intervention_type", "started_on", "ended_on")),
)


class SocialConnector(Connector):
    name: ClassVar[str] = "social"
    system: ClassVar[str] = "case-register"
    cursor_field: ClassVar[str] = "updated_at"
    order: ClassVar[Order] = Order.INSTANT

    def __init__(self, engine: Engine, batch_size: int) -> None:
        self._engine = engine
        self._batch = batch_size

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> SocialConnector:
        url = required(source, "database_url")
        # A file database gains nothing from pooling, and pooled handles would outlive the file.
        options: dict[str, Any] = {"poolclass": NullPool} if url.startswith("sqlite") else {"pool_pre_ping": True}
        return cls(create_engine(url, **options), batch_size)

    async def read(self, since: Mapping[str, str] | None) -> AsyncIterator[Page]:
        for source_table in TABLES:
            start = (since or {}).get(source_table.name)
            after: tuple[dt.datetime, str] | None = None
            while True:
                rows = await asyncio.to_thread(self._fetch, source_table, start, after)
                page = [SourceRecord(source_table.name, row["id"], str(row["version"]), _iso(row["updated_at"]), row)
                        for row in rows]
                last = len(rows) < self._batch
                yield Page(source_table.name, page, last=last)
                if last:
                    break
                after = (rows[-1]["updated_at"], rows[-1]["id"])

    def resume_from(self, cursor: str) -> dict[str, str]:
        """The per-table ``[updated_at, id]`` positions saved before marks: resume at each instant."""
        positions = json.loads(cursor)
        if not isinstance(positions, dict):
            raise ValueError("not a social cursor")
        return {name: str(position[0]) for name, position in positions.items()}

    def _fetch(self, source: TableClause, start: str | None,
               after: tuple[dt.datetime, str] | None) -> list[dict[str, Any]]:
        query = select(source).order_by(source.c.updated_at, source.c.id).limit(self._batch)
        if start:
            query = query.where(source.c.updated_at >= _naive(start))
        if after:
            at, rid = after
            query = query.where(or_(source.c.updated_at > at, and_(source.c.updated_at == at, source.c.id > rid)))
        try:
            with self._engine.connect() as c:
                return [dict(r._mapping) for r in c.execute(query)]
        except (OperationalError, DBAPIError) as exc:
            raise SourceUnavailable(DOWN.format(error=type(exc).__name__)) from None

    def map(self, record: SourceRecord) -> list[Fact]:
        row = record.data
        subject = Subject(personnummer=_get(row, "personnummer"))
        org = f"kommun-{_get(row, 'municipality_code')}-soc"
        if record.kind == "reports_of_concern":
            if row.get("hub_report_id"):  # filed through the hub and delivered here: the hub has it
                return []
            received = _get(row, "received_on")
            return [Fact(ReportOfConcernReceived, subject, _midnight(received), org,
                         {"case_id": row["id"], "municipality_code": row["municipality_code"],
                          "reporter_category": _get(row, "reporter_category"), "received_on": received},
                         version="1")]
        if record.kind == "investigations":
            opened = _get(row, "opened_on")
            case = _get(row, "report_id")
            facts = [Fact(InvestigationOpened, subject, _midnight(opened), org,
                          {"case_id": case, "opened_on": opened}, part="opened", version=f"opened:{opened}")]
            if row.get("closed_on"):
                closed, outcome = row["closed_on"], _get(row, "outcome")
                facts.append(Fact(InvestigationClosed, subject, _midnight(closed), org,
                                  {"case_id": case, "outcome": outcome, "closed_on": closed},
                                  part="closed", version=f"closed:{closed}:{outcome}"))
            return facts
        if record.kind == "interventions":
            started = _get(row, "started_on")
            fields = {"case_id": _get(row, "investigation_id"), "intervention_id": row["id"]}
            facts = [Fact(InterventionStarted, subject, _midnight(started), org,
                          {**fields, "intervention_type": _get(row, "intervention_type"), "started_on": started},
                          part="started", version=f"started:{started}")]
            if row.get("ended_on"):
                facts.append(Fact(InterventionEnded, subject, _midnight(row["ended_on"]), org,
                                  {**fields, "ended_on": row["ended_on"]}, part="ended",
                                  version=f"ended:{row['ended_on']}"))
            return facts
        raise MappingError(f"unknown table {record.kind!r}")

    async def aclose(self) -> None:
        self._engine.dispose()


def _get(row: Mapping[str, Any], name: str) -> Any:
    value = row.get(name)
    if value in (None, ""):
        raise MappingError(MISSING.format(field=name))
    return value


def _naive(text: str) -> dt.datetime:
    """The register keeps naive UTC; an instant the runner hands back is compared as such."""
    at = dt.datetime.fromisoformat(text)
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
