"""School connector: SS 12000:2020-style REST into ``intake.school``.

Each poll reads, in order, ``persons`` (to know each pupil's civicNo), then ``placements``,
``absences``, ``supportDecisions``, ``kaaRegistrations`` changed since the checkpoint, paging with
``limit`` + ``pageToken``, and finally ``/deletedEntities``. SS 12000 promises no order, so each
resource is a stream of the framework's marks with ``Order.NONE``: ``meta.modified.after`` is
exclusive, so a read asks for just before the checkpoint's instant, and the runner drops what
it already published. After each run the runner asks for
``contacts``: each school unit's principal, from ``duties``, shown beside the unit when a
school is a child's named person. A deleted placement becomes
``SchoolPlacementEnded`` on the day of deletion: the child is no longer placed there, and the
named-person rules must see that. The civicNo of every pupil is loaded once per process
(it is not part of the checkpoint), so a restart never meets a placement of an unknown pupil.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from connectors.base import Connector, Contact, Fact, MappingError, Order, Page, SourceRecord, Subject, just_before
from connectors.http import TokenClient, required
from schemas.events import (
    AbsenceSummarised,
    KaaRegistered,
    SchoolPlacementEnded,
    SchoolPlacementStarted,
    SchoolSupportDecided,
    SchoolType,
    SupportType,
)

FACT_RESOURCES = ("placements", "absences", "supportDecisions", "kaaRegistrations")
SCHOOL_TYPES = {"FS": SchoolType.PRESCHOOL, "FKLASS": SchoolType.PRESCHOOL_CLASS,
                "GR": SchoolType.COMPULSORY, "GY": SchoolType.UPPER_SECONDARY}
PRINCIPAL = "Rektor"  # SS 12000 DutyRole
UNKNOWN_PUPIL = "refers to a person the school system did not list"
MISSING = "{kind} lacks {field}"
UNKNOWN_CODE = "{kind} has an unknown {field} code"


class SchoolConnector(Connector):
    name: ClassVar[str] = "school"
    system: ClassVar[str] = "ss12000"
    cursor_field: ClassVar[str] = "meta.modified"
    order: ClassVar[Order] = Order.NONE

    def __init__(self, client: TokenClient, batch_size: int, organisation_ids: frozenset[str]) -> None:
        self._client = client
        self._batch = batch_size
        self._orgs = organisation_ids
        self._civic: dict[str, str] = {}
        self._civic_loaded = False
        self._persons_at: str | None = None  # the latest person read: reread from there next time

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> SchoolConnector:
        client = TokenClient("ss12000", required(source, "url"), required(source, "token_url"),
                             required(source, "client_id"), required(source, "client_secret"))
        return cls(client, batch_size, frozenset(source.get("organisation_ids", [])))

    async def _pages(self, resource: str, since: str | None) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """Each answer's rows, and whether it is the query's last."""
        params: dict[str, Any] = {"limit": self._batch}
        if since:
            params["meta.modified.after"] = just_before(since)  # exclusive: ask from just before
        while True:
            body = await self._client.get_json(f"{resource}", params)
            token = body.get("pageToken")
            yield body["data"], not token
            if not token:
                return
            params = {"limit": self._batch, "pageToken": token}

    async def _load_pupils(self) -> None:
        latest = self._persons_at
        async for page, _ in self._pages("persons", latest if self._civic_loaded else None):
            for person in page:
                civic = (person.get("civicNo") or {}).get("value")
                if civic:
                    self._civic[person["id"]] = civic
                latest = max(latest or "", person["meta"]["modified"])
        self._civic_loaded, self._persons_at = True, latest

    async def read(self, since: Mapping[str, str] | None) -> AsyncIterator[Page]:
        since = since or {}
        await self._load_pupils()
        for resource in FACT_RESOURCES:
            async for rows, last in self._pages(resource, since.get(resource)):
                yield Page(resource, [SourceRecord(resource, row["id"], str(row["meta"].get("version", 1)),
                                                   row["meta"]["modified"], self._enrich(row)) for row in rows], last)
        start = since.get("deletedPlacement")
        deleted = await self._client.get_json("deletedEntities", {"after": just_before(start)} if start else {})
        page = []
        for item in deleted["data"]:
            if item["entityType"] != "placements":
                continue  # other deletions carry nothing the hub keeps
            data = {**item.get("placement", {}), "deletedAt": item["deletedAt"]}
            page.append(SourceRecord("deletedPlacement", item["id"], item["deletedAt"], item["deletedAt"],
                                     self._enrich(data)))
        yield Page("deletedPlacement", page, last=True)

    def resume_from(self, cursor: str) -> dict[str, str]:
        """The per-resource ``meta.modified`` positions saved before marks (``deleted`` renamed)."""
        positions = json.loads(cursor)
        if not isinstance(positions, dict):
            raise ValueError("not a school cursor")
        streams = {"deletedPlacement" if name == "deleted" else name: str(at) for name, at in positions.items()}
        return {name: at for name, at in streams.items() if name != "persons" and at}

    def _enrich(self, row: dict[str, Any]) -> dict[str, Any]:
        ref = (row.get("student") or row.get("person") or {}).get("id")
        return {**row, "civicNo": self._civic.get(ref)} if ref else row

    def map(self, record: SourceRecord) -> list[Fact]:
        row = record.data
        org = (row.get("organisation") or {}).get("id")
        if self._orgs and org is not None and org not in self._orgs:
            return []  # not one of ours: the config limits which school units we read
        subject = Subject(personnummer=_civic(row))
        kind = record.kind
        if kind == "placements":
            start = _date(row, "startDate", kind)
            fields = {"placement_id": row["id"], "school_unit_id": _need(row, org, "organisation", kind),
                      "school_type": _school_type(row, kind)}
            facts = [Fact(SchoolPlacementStarted, subject, _midnight(start), org,
                          {**fields, "municipality_code": _municipality(org), "start_date": start},
                          part="started", version=f"started:{start}")]
            if row.get("endDate"):
                end = _date(row, "endDate", kind)
                facts.append(Fact(SchoolPlacementEnded, subject, _midnight(end), org,
                                  {**fields, "end_date": end}, part="ended", version=f"ended:{end}"))
            return facts
        if kind == "deletedPlacement":
            deleted = dt.datetime.fromisoformat(_need(row, row.get("deletedAt"), "deletedAt", kind))
            return [Fact(SchoolPlacementEnded, subject, deleted, _need(row, org, "organisation", kind),
                         {"placement_id": record.record_id, "school_unit_id": org,
                          "school_type": _school_type(row, kind), "end_date": deleted.date()},
                         part="deleted", version="deleted")]
        if kind == "absences":
            return [Fact(AbsenceSummarised, subject, _midnight(_date(row, "periodEnd", kind)), org,
                         {"school_unit_id": _need(row, org, "organisation", kind),
                          "period_start": _date(row, "periodStart", kind), "period_end": _date(row, "periodEnd", kind),
                          "absence_percent": float(_need(row, row.get("absencePercent"), "absencePercent", kind)),
                          "unexcused_percent": float(row.get("unexcusedPercent") or 0.0)})]
        if kind == "supportDecisions":
            try:
                support = SupportType(row.get("supportType"))
            except ValueError:
                raise MappingError(UNKNOWN_CODE.format(kind=kind, field="supportType")) from None
            decided = _date(row, "decidedOn", kind)
            return [Fact(SchoolSupportDecided, subject, _midnight(decided), org,
                         {"school_unit_id": _need(row, org, "organisation", kind), "support_type": support,
                          "decided_on": decided})]
        if kind == "kaaRegistrations":
            code = _need(row, row.get("municipalityCode"), "municipalityCode", kind)
            registered = _date(row, "registeredOn", kind)
            return [Fact(KaaRegistered, subject, _midnight(registered), f"kommun-{code}-kaa",
                         {"municipality_code": code, "registered_on": registered})]
        raise MappingError(f"unknown resource {kind!r}")

    async def contacts(self) -> list[Contact]:
        """Each school unit's principal now, from ``duties`` (dutyRole "Rektor"; SS 12000 names the
        person by reference, with a display name). A duty without a name or unit is passed over."""
        today, out = dt.date.today(), []
        async for page, _ in self._pages("duties", None):
            for duty in page:
                unit = (duty.get("dutyAt") or {}).get("id")
                name = (duty.get("person") or {}).get("displayName")
                if duty.get("dutyRole") != PRINCIPAL or not unit or not name:
                    continue
                if self._orgs and unit not in self._orgs:
                    continue
                since = _optional_date(duty.get("startDate"))
                until = _optional_date(duty.get("endDate"))
                if (since is None or since <= today) and (until is None or today <= until):
                    out.append(Contact(unit, "principal", str(name), since))
        return out

    async def aclose(self) -> None:
        await self._client.aclose()


def _civic(row: Mapping[str, Any]) -> str:
    civic = row.get("civicNo")
    if not civic:
        raise MappingError(UNKNOWN_PUPIL)
    return str(civic)


def _need(row: Mapping[str, Any], value: Any, field: str, kind: str) -> Any:
    if value in (None, ""):
        raise MappingError(MISSING.format(kind=kind, field=field))
    return value


def _date(row: Mapping[str, Any], field: str, kind: str) -> dt.date:
    try:
        return dt.date.fromisoformat(_need(row, row.get(field), field, kind))
    except ValueError:
        raise MappingError(MISSING.format(kind=kind, field=f"a valid {field}")) from None


def _school_type(row: Mapping[str, Any], kind: str) -> SchoolType:
    try:
        return SCHOOL_TYPES[row.get("schoolType")]  # type: ignore[index]
    except KeyError:
        raise MappingError(UNKNOWN_CODE.format(kind=kind, field="schoolType")) from None


def _optional_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _municipality(org: str) -> str:
    # County school-unit ids carry the municipality code (skolenhet-CCCC...); others: unknown.
    code = org.rsplit("-", 1)[-1][:4]
    return code if code.isdigit() else "0000"


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
