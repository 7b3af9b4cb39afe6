"""Social-services case register connector: incremental SQL polling on ``(updated_at, id)``.

Reads reports of concern, investigations and interventions through a read-only SQLAlchemy
engine. One row may yield two facts (an investigation opened and closed); each fact's event
id is keyed on its own content, so a later update of the row does not repeat the opening.
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

from connectors.base import Connector, Fact, MappingError, SourceRecord, SourceUnavailable, Subject
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
    table("reports_of_concern", *_columns(*_CASE, "reporter_category", "received_on")),
    table("investigations", *_columns(*_CASE, "report_id", "opened_on", "closed_on", "outcome")),
    table("interventions", *_columns(*_CASE, "investigation_id", "intervention_type", "started_on", "ended_on")),
)


class SocialConnector(Connector):
    name: ClassVar[str] = "social"
    system: ClassVar[str] = "case-register"
    cursor_field: ClassVar[str] = "updated_at"

    def __init__(self, engine: Engine, batch_size: int) -> None:
        self._engine = engine
        self._batch = batch_size

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> SocialConnector:
        url = required(source, "database_url")
        # A file database gains nothing from pooling, and pooled handles would outlive the file.
        options: dict[str, Any] = {"poolclass": NullPool} if url.startswith("sqlite") else {"pool_pre_ping": True}
        return cls(create_engine(url, **options), batch_size)

    async def read(self, since: str | None) -> AsyncIterator[list[SourceRecord]]:
        positions: dict[str, list[str]] = json.loads(since) if since else {}
        for source_table in TABLES:
            while True:
                rows = await asyncio.to_thread(self._fetch, source_table, positions.get(source_table.name))
                if not rows:
                    break
                page = []
                for row in rows:
                    positions[source_table.name] = [_iso(row["updated_at"]), row["id"]]
                    page.append(SourceRecord(source_table.name, row["id"], str(row["version"]),
                                             json.dumps(positions, sort_keys=True), row))
                yield page
                if len(rows) < self._batch:
                    break

    def _fetch(self, source: TableClause, after: list[str] | None) -> list[dict[str, Any]]:
        query = select(source).order_by(source.c.updated_at, source.c.id).limit(self._batch)
        if after:
            at, rid = dt.datetime.fromisoformat(after[0]), after[1]
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


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
