"""School connector: SS 12000:2020 (implementation specification 2.1.0) into ``intake.school``.

Each poll reads ``organisations`` whole (UUID -> the hub's school-unit id, from
``schoolUnitCode``, and ``municipalityCode``), then, changed since the checkpoint
(``meta.modified.after``, paging with ``limit`` + ``pageToken``), ``persons`` (``civicNo`` and
``enrolments``: förskoleklass, grundskola, gymnasieskola -> school placements), ``placements``
(förskola ``FS``; fritidshem carries nothing the hub needs), the local extensions the server
offers (``supportDecisions``, ``kaaRegistrations``: discovered once, a 404 means "not
offered"), each complete month of ``aggregatedAttendance`` (summarised per pupil as
``AbsenceSummarised``), and finally ``deletedEntities`` (the standard's object of id lists,
paged). SS 12000 promises no order, so each resource is a stream of the framework's marks with
``Order.NONE``. After each run ``contacts`` reads ``duties``: each unit's principal.

A deletion names only an id, so the connector remembers what it read of every person and
placement (loaded whole once per process, then kept current by the streams): a deleted
placement or pupil becomes ``SchoolPlacementEnded`` on the day it was seen deleted. A deletion
of a record this process never read (deleted while the connector was stopped, after it had
published it) cannot be mapped and is dead-lettered, so it is seen, not lost silently.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog

from connectors.base import (
    Connector,
    Contact,
    Fact,
    MappingError,
    Order,
    Page,
    SourceRecord,
    SourceUnavailable,
    Subject,
    just_before,
)
from connectors.http import SourceRejected, TokenClient
from schemas.events import (
    AbsenceSummarised,
    KaaRegistered,
    SchoolPlacementEnded,
    SchoolPlacementStarted,
    SchoolSupportDecided,
    SchoolType,
    SupportType,
)

log = structlog.get_logger(__name__)

# Enrolment school types that place a child in a school unit for the named-person rules; the
# others (adult education, kulturskola, ...) are not the schooling of a child aged 6-18.
ENROLMENT_TYPES = {"FKLASS": SchoolType.PRESCHOOL_CLASS, "GR": SchoolType.COMPULSORY,
                   "GRS": SchoolType.COMPULSORY, "TR": SchoolType.COMPULSORY, "SP": SchoolType.COMPULSORY,
                   "SAM": SchoolType.COMPULSORY, "GY": SchoolType.UPPER_SECONDARY,
                   "GYS": SchoolType.UPPER_SECONDARY}
PLACEMENT_TYPES = {"FS": SchoolType.PRESCHOOL}  # FTH, OPPFTH: fritidshem, beside an enrolment
EXTENSIONS = ("supportDecisions", "kaaRegistrations")
PRINCIPAL = "Rektor"  # SS 12000 DutyRole
SHAPING = ("expand", "expandReferenceNames")  # parameters that shape an answer, not filter it
DEFAULT_UNIT_ID = "skolenhet-{schoolUnitCode}"
SKEW = dt.timedelta(minutes=10)  # deletions are asked for from this long before the last query
NAMESPACE = uuid.UUID("0e6f3c43-2a63-5f0e-8d0c-1b7c2b8f4a90")  # enrolment placement ids
UNKNOWN_PUPIL = "refers to a person the school system did not list"
PAGE_TOKEN_EXPIRED = "SS 12000 server refused the page token of a {resource} query (HTTP {status}); resuming from the checkpoint"
UNKNOWN_UNIT = "{kind} refers to a school unit /organisations did not list"
UNKNOWN_DELETED = "{kind} deleted before this process read it: SS 12000 reports only the id"
NOT_SWEDISH = "civicNo is not a Swedish personnummer or samordningsnummer (nationality)"
TEMPORARY = "civicNo is a temporary number (tillfälligt personnummer), not an identity the hub can resolve"
MISSING = "{kind} lacks {field}"
UNKNOWN_CODE = "{kind} has an unknown {field} code"
BAD_SETTING = "[source] {key} must be {what}"


@dataclass(frozen=True, slots=True)
class Enrolled:
    """One enrolment or förskola placement as the hub keeps it: a placement."""

    placement_id: str
    unit: str  # the organisation's UUID at the source
    school_type: SchoolType
    start: dt.date
    end: dt.date | None


class SchoolConnector(Connector):
    name: ClassVar[str] = "school"
    system: ClassVar[str] = "ss12000"
    cursor_field: ClassVar[str] = "meta.modified"
    order: ClassVar[Order] = Order.NONE

    def __init__(self, client: TokenClient, batch_size: int, organisation_ids: frozenset[str], *,
                 unit_id: str = DEFAULT_UNIT_ID, attendance_since: dt.date | None = None,
                 settle_days: int = 7, extensions: Iterable[str] = EXTENSIONS) -> None:
        self._client = client
        self._batch = batch_size
        self._only = organisation_ids
        self._unit_id = unit_id
        self._attendance_since = attendance_since
        self._settle = dt.timedelta(days=settle_days)
        self._wanted = tuple(extensions)
        self._offered: tuple[str, ...] | None = None  # discovered on the first read
        self._units: dict[str, tuple[str, str]] = {}  # UUID -> (hub id, municipality code)
        self._civic: dict[str, str] = {}  # person UUID -> civicNo
        self._enrolled: dict[str, tuple[Enrolled, ...]] = {}  # person UUID -> enrolments
        self._placed: dict[str, tuple[str, Enrolled]] = {}  # placement UUID -> (child UUID, placement)
        self._loaded: set[str] = set()
        self._started = dt.datetime.now(dt.UTC)

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> SchoolConnector:
        since = source.get("attendance_since")
        try:
            first = dt.date.fromisoformat(str(since)) if since else None
        except ValueError:
            raise ValueError(BAD_SETTING.format(key="attendance_since", what="a date (YYYY-MM-DD)")) from None
        settle = source.get("attendance_settle_days", 7)
        if isinstance(settle, bool) or not isinstance(settle, int) or settle < 0:
            raise ValueError(BAD_SETTING.format(key="attendance_settle_days", what="a whole number of days >= 0"))
        unit_id = str(source.get("unit_id", DEFAULT_UNIT_ID))
        try:
            unit_id.format(schoolUnitCode="", municipalityCode="", id="")
        except (KeyError, IndexError, ValueError):
            raise ValueError(BAD_SETTING.format(key="unit_id", what="a template of {schoolUnitCode}, "
                                                "{municipalityCode}, {id}")) from None
        extensions = source.get("extensions", list(EXTENSIONS))
        if not isinstance(extensions, list) or set(extensions) - set(EXTENSIONS):
            raise ValueError(BAD_SETTING.format(key="extensions", what=f"a list of {', '.join(EXTENSIONS)}"))
        return cls(TokenClient.from_source("ss12000", source), batch_size,
                   frozenset(source.get("organisation_ids", [])), unit_id=unit_id, attendance_since=first,
                   settle_days=settle, extensions=extensions)

    # -- reading --------------------------------------------------------------------------

    async def _pages(self, resource: str, since: str | None = None,
                     params: Mapping[str, Any] | None = None) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """Each answer's rows, and whether it is the query's last. A page token is sent with
        ``limit`` and the answer's shaping (``SHAPING``) alone: SS 12000 does not combine it with
        filters."""
        query: dict[str, Any] = {"limit": self._batch, **(params or {})}
        if since:
            query["meta.modified.after"] = just_before(since)  # exclusive: ask from just before
        while True:
            try:
                body = await self._client.get_json(resource, query)
            except SourceRejected as exc:
                if "pageToken" not in query:
                    raise
                # A page token the server no longer honours (expired, or the server restarted):
                # an outage of this query, which the runner starts again from the checkpoint.
                raise SourceUnavailable(PAGE_TOKEN_EXPIRED.format(resource=resource, status=exc.status)) from None
            token = body.get("pageToken")
            yield body.get("data") or [], not token
            if not token:
                return
            # Filters stay with the token's query; how the answer is shaped does not, so it is sent again.
            query = {"limit": self._batch, "pageToken": token,
                     **{k: v for k, v in (params or {}).items() if k in SHAPING}}

    async def read(self, since: Mapping[str, str] | None) -> AsyncIterator[Page]:
        since = since or {}
        await self._read_units()
        for resource in ("persons", "placements"):
            if since.get(resource) and resource not in self._loaded:  # a restart: know every record
                async for rows, _ in self._pages(resource):
                    self._remember(resource, rows)
            self._loaded.add(resource)
            async for rows, last in self._pages(resource, since.get(resource)):
                self._remember(resource, rows)
                yield Page(resource, [self._record(resource, row) for row in rows], last)
        for resource in await self._extensions():
            async for rows, last in self._pages(resource, since.get(resource)):
                yield Page(resource, [self._record(resource, row) for row in rows], last)
        async for page in self._attendance(since.get("aggregatedAttendance")):
            yield page
        async for page in self._deletions(since.get("deletedEntities")):
            yield page

    async def _read_units(self) -> None:
        """School units (and their huvudman's municipality code), read whole: they are few."""
        rows = [row async for page, _ in self._pages("organisations") for row in page]
        owners = {row["id"]: row.get("municipalityCode") for row in rows}
        units = {}
        for row in rows:
            code = row.get("schoolUnitCode")
            if not code:
                continue
            municipality = row.get("municipalityCode") or owners.get((row.get("parentOrganisation") or {}).get("id"))
            units[row["id"]] = (self._unit_id.format(schoolUnitCode=code, municipalityCode=municipality or "",
                                                     id=row["id"]), municipality or "")
        self._units = units

    async def _extensions(self) -> tuple[str, ...]:
        """The local extensions the server offers, asked once per process: 404 is "not offered"."""
        if self._offered is None:
            offered = []
            for resource in self._wanted:
                try:
                    await self._client.get_json(resource, {"limit": 1})
                except SourceRejected as exc:
                    if exc.status != 404:
                        raise
                    log.info("school.extension_missing", extension=resource)
                    continue
                offered.append(resource)
            self._offered = tuple(offered)
        return self._offered

    def _remember(self, resource: str, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            if resource == "persons":
                civic = (row.get("civicNo") or {}).get("value")
                if civic:
                    self._civic[row["id"]] = str(civic)
                self._enrolled[row["id"]] = tuple(_enrolments(row))
            else:
                placed = _placement(row)
                if placed is not None:
                    self._placed[row["id"]] = ((row.get("child") or {}).get("id", ""), placed)

    def _record(self, resource: str, row: dict[str, Any]) -> SourceRecord:
        modified = str((row.get("meta") or {}).get("modified", ""))
        data = row
        ref = (row.get("child") or row.get("student") or row.get("person") or {}).get("id")
        if resource != "persons" and ref:
            data = {**row, "civicNo": self._civic.get(ref)}
        return SourceRecord(resource, row["id"], modified, modified, data)

    def _months(self, since: str | None) -> list[dt.date]:
        """First days of the complete, settled months to read: after the checkpoint's, or from
        ``attendance_since`` (default: a year back)."""
        today = dt.datetime.now(dt.UTC).date()
        if since:
            month = _next_month(dt.datetime.fromisoformat(since).date())  # a month is one query: read whole
        else:
            first = self._attendance_since or today.replace(day=1).replace(year=today.year - 1)
            month = first.replace(day=1)
        out = []
        while _next_month(month) + self._settle <= today:
            out.append(month)
            month = _next_month(month)
        return out

    async def _attendance(self, since: str | None) -> AsyncIterator[Page]:
        """Per complete month, each pupil's sums over their activities; one query per month, its
        records cursored at the month's first instant, so a month is read once, as a whole."""
        for month in self._months(since):
            end = _next_month(month) - dt.timedelta(days=1)
            sums: dict[str, dict[str, int]] = {}
            async for rows, _ in self._pages("aggregatedAttendance",
                                             params={"startDate": month.isoformat(), "endDate": end.isoformat()}):
                for row in rows:
                    pupil = (row.get("student") or {}).get("id")
                    if not pupil:
                        continue
                    into = sums.setdefault(pupil, {"offered": 0, "valid": 0, "invalid": 0})
                    into["offered"] += int(row.get("offeredSum") or row.get("reportedSum") or 0)
                    into["valid"] += int(row.get("validAbsenceSum") or 0)
                    into["invalid"] += int(row.get("invalidAbsenceSum") or 0)
            cursor = dt.datetime.combine(month, dt.time(0), dt.UTC).isoformat()
            records = []
            for pupil, s in sorted(sums.items()):
                if s["offered"] <= 0:
                    continue  # no school time offered: nothing to summarise
                data = {"student": pupil, "civicNo": self._civic.get(pupil), "periodStart": month, "periodEnd": end,
                        "unit": self._unit_in(pupil, month, end), **s}
                version = f"{s['offered']}:{s['valid']}:{s['invalid']}"
                records.append(SourceRecord("aggregatedAttendance", f"{pupil}:{month:%Y-%m}", version, cursor, data))
            chunks = [records[i:i + self._batch] for i in range(0, len(records), self._batch)] or [[]]
            for n, chunk in enumerate(chunks):
                yield Page("aggregatedAttendance", chunk, last=n == len(chunks) - 1)

    def _unit_in(self, pupil: str, first: dt.date, last: dt.date) -> str | None:
        """The school unit (UUID) of the pupil's enrolment in the period, the latest started."""
        active = [e for e in self._enrolled.get(pupil, ()) if e.start <= last and (e.end is None or first <= e.end)]
        return max(active, key=lambda e: e.start).unit if active else None

    async def _deletions(self, since: str | None) -> AsyncIterator[Page]:
        """Deleted persons and placements since the last query (from the process start at
        first), as records cursored at this query's start less ``SKEW``: the next query asks from
        there, and the runner drops what it already published."""
        asked = (dt.datetime.now(dt.UTC) - SKEW).isoformat()
        start = since or (self._started - SKEW).isoformat()
        params = {"after": just_before(start), "entities": ["Person", "Placement"]}
        today = dt.datetime.now(dt.UTC).date()
        async for data, last in self._deleted_pages(params):
            records = []
            for rid in data.get("placements") or []:
                child, placed = self._placed.get(rid, ("", None))
                body = {"known": placed is not None, "civicNo": self._civic.get(child), "placed": placed,
                        "deletedOn": today}
                records.append(SourceRecord("deletedPlacement", rid, "deleted", asked, body))
            for rid in data.get("persons") or []:
                body = {"known": rid in self._enrolled, "civicNo": self._civic.get(rid),
                        "enrolled": self._enrolled.get(rid, ()), "deletedOn": today}
                records.append(SourceRecord("deletedPerson", rid, "deleted", asked, body))
            yield Page("deletedEntities", records, last)

    async def _deleted_pages(self, params: dict[str, Any]) -> AsyncIterator[tuple[dict[str, Any], bool]]:
        query: dict[str, Any] = {"limit": self._batch, **params}
        while True:
            body = await self._client.get_json("deletedEntities", query)
            token = body.get("pageToken")
            yield body.get("data") or {}, not token
            if not token:
                return
            # Filters stay with the token's query; how the answer is shaped does not, so it is sent again.
            query = {"limit": self._batch, "pageToken": token,
                     **{k: v for k, v in (params or {}).items() if k in SHAPING}}

    def resume_from(self, cursor: str) -> dict[str, str]:
        """The per-resource ``meta.modified`` positions saved before marks. Persons were not
        part of it (read whole), and its deletion position is dropped: a conforming server's
        deletions are asked for from the process start."""
        positions = json.loads(cursor)
        if not isinstance(positions, dict):
            raise ValueError("not a school cursor")
        return {name: str(at) for name, at in positions.items() if name in ("placements", *EXTENSIONS) and at}

    # -- mapping ----------------------------------------------------------------------------

    def _unit(self, source_id: str | None, kind: str) -> tuple[str, str]:
        if not source_id:
            raise MappingError(MISSING.format(kind=kind, field="a school unit"))
        try:
            return self._units[source_id]
        except KeyError:
            raise MappingError(UNKNOWN_UNIT.format(kind=kind)) from None

    def _ours(self, unit: str) -> bool:
        return not self._only or unit in self._only

    def _placement_facts(self, subject: Subject, e: Enrolled, kind: str, *, cancelled: bool = False,
                         deleted_on: dt.date | None = None) -> list[Fact]:
        unit, municipality = self._unit(e.unit, kind)
        if not self._ours(unit):
            return []
        fields = {"placement_id": e.placement_id, "school_unit_id": unit, "school_type": e.school_type}
        part = f"/{e.placement_id}"
        if deleted_on is not None:
            end = deleted_on if e.end is None else min(e.end, deleted_on)
            return [Fact(SchoolPlacementEnded, subject, _midnight(end), unit, {**fields, "end_date": end},
                         part=f"{part}/deleted", version="deleted")]
        facts = [Fact(SchoolPlacementStarted, subject, _midnight(e.start), unit,
                      {**fields, "municipality_code": municipality or "0000", "start_date": e.start},
                      part=part, version=f"started:{e.start}")]
        end = e.start if cancelled else e.end
        if end is not None:
            facts.append(Fact(SchoolPlacementEnded, subject, _midnight(end), unit, {**fields, "end_date": end},
                              part=part, version=f"{'cancelled' if cancelled else 'ended'}:{end}"))
        return facts

    def map(self, record: SourceRecord) -> list[Fact]:
        row, kind = record.data, record.kind
        if kind == "persons":
            return self._person(row)
        if kind == "placements":
            placed = _placement(row)
            if placed is None:
                return []  # fritidshem: the child's enrolment already places them
            return self._placement_facts(Subject(personnummer=_civic(row)), placed, kind,
                                         cancelled=False)
        if kind == "aggregatedAttendance":
            if row["unit"] is None:
                raise MappingError("aggregatedAttendance of a pupil with no enrolment in the period")
            unit, _ = self._unit(row["unit"], kind)
            if not self._ours(unit):
                return []
            offered = row["offered"]
            return [Fact(AbsenceSummarised, Subject(personnummer=_civic(row)), _midnight(row["periodEnd"]), unit,
                         {"school_unit_id": unit, "period_start": row["periodStart"], "period_end": row["periodEnd"],
                          "absence_percent": round(100 * (row["valid"] + row["invalid"]) / offered, 1),
                          "unexcused_percent": round(100 * row["invalid"] / offered, 1)})]
        if kind == "deletedPlacement":
            if not row["known"]:
                raise MappingError(UNKNOWN_DELETED.format(kind="a placement"))
            if row["placed"] is None:
                return []
            return self._placement_facts(Subject(personnummer=_civic(row)), row["placed"], kind,
                                         deleted_on=row["deletedOn"])
        if kind == "deletedPerson":
            if not row["known"]:
                raise MappingError(UNKNOWN_DELETED.format(kind="a person"))
            open_ = [e for e in row["enrolled"] if e.end is None or e.end > row["deletedOn"]]
            if not open_:
                return []
            subject = Subject(personnummer=_civic(row))
            return [f for e in open_ for f in self._placement_facts(subject, e, kind, deleted_on=row["deletedOn"])]
        if kind == "supportDecisions":
            unit, _ = self._unit((row.get("organisation") or {}).get("id"), kind)
            if not self._ours(unit):
                return []
            try:
                support = SupportType(row.get("supportType"))
            except ValueError:
                raise MappingError(UNKNOWN_CODE.format(kind=kind, field="supportType")) from None
            decided = _date(row, "decidedOn", kind)
            return [Fact(SchoolSupportDecided, Subject(personnummer=_civic(row)), _midnight(decided), unit,
                         {"school_unit_id": unit, "support_type": support, "decided_on": decided})]
        if kind == "kaaRegistrations":
            code = _need(row.get("municipalityCode"), "municipalityCode", kind)
            registered = _date(row, "registeredOn", kind)
            return [Fact(KaaRegistered, Subject(personnummer=_civic(row)), _midnight(registered),
                         f"kommun-{code}-kaa", {"municipality_code": code, "registered_on": registered})]
        raise MappingError(f"unknown resource {kind!r}")

    def _person(self, row: Mapping[str, Any]) -> list[Fact]:
        enrolments = [e for e in row.get("enrolments") or [] if e.get("schoolType") in ENROLMENT_TYPES]
        if not enrolments:
            return []  # staff, or a child only in förskola or fritidshem: placements say that
        subject = Subject(personnummer=_civic({"civicNo": (row.get("civicNo") or {}).get("value"),
                                               "nationality": (row.get("civicNo") or {}).get("nationality")}))
        facts = []
        for raw in enrolments:
            enrolled = _enrolment(row["id"], raw)
            facts += self._placement_facts(subject, enrolled, "persons", cancelled=bool(raw.get("cancelled")))
        return facts

    async def contacts(self) -> list[Contact]:
        """Each school unit's principal now, from ``duties`` (dutyRole "Rektor"): the person's
        display name, asked for with ``expandReferenceNames``. A duty without a name or with an
        unknown unit is passed over."""
        if not self._units:
            await self._read_units()
        today, out = dt.date.today(), []
        async for page, _ in self._pages("duties", params={"expandReferenceNames": "true"}):
            for duty in page:
                unit = self._units.get((duty.get("dutyAt") or {}).get("id") or "", ("", ""))[0]
                name = (duty.get("person") or {}).get("displayName")
                if duty.get("dutyRole") != PRINCIPAL or not unit or not name or not self._ours(unit):
                    continue
                since = _optional_date(duty.get("startDate"))
                until = _optional_date(duty.get("endDate"))
                if (since is None or since <= today) and (until is None or today <= until):
                    out.append(Contact(unit, "principal", str(name), since))
        return out

    async def aclose(self) -> None:
        await self._client.aclose()


def _enrolment(person: str, raw: Mapping[str, Any]) -> Enrolled:
    """An enrolment as a placement. SS 12000 gives enrolments no id: the placement id is a
    UUIDv5 of the person, unit, school type and start date, the same at every read."""
    kind = "persons"
    unit = (raw.get("enroledAt") or {}).get("id")
    start = _date(raw, "startDate", "enrolment")
    end = _optional_date(raw.get("endDate"))
    if not unit:
        raise MappingError(MISSING.format(kind=kind, field="enrolments' enroledAt"))
    placement_id = str(uuid.uuid5(NAMESPACE, f"{person}|{unit}|{raw.get('schoolType')}|{start.isoformat()}"))
    return Enrolled(placement_id, unit, ENROLMENT_TYPES[raw["schoolType"]], start, end)


def _enrolments(row: Mapping[str, Any]) -> Iterable[Enrolled]:
    for raw in row.get("enrolments") or []:
        try:
            if raw.get("schoolType") in ENROLMENT_TYPES and not raw.get("cancelled"):
                yield _enrolment(row["id"], raw)
        except MappingError:
            continue  # mapped (and dead-lettered) when its person record is


def _placement(row: Mapping[str, Any]) -> Enrolled | None:
    """A förskola placement; None for fritidshem (FTH, OPPFTH)."""
    code = row.get("schoolType")
    if code in ("FTH", "OPPFTH"):
        return None
    if code not in PLACEMENT_TYPES:
        raise MappingError(UNKNOWN_CODE.format(kind="placements", field="schoolType"))
    unit = (row.get("placedAt") or {}).get("id")
    if not unit:
        raise MappingError(MISSING.format(kind="placements", field="placedAt"))
    return Enrolled(str(row["id"]), unit, PLACEMENT_TYPES[code], _date(row, "startDate", "placements"),
                    _optional_date(row.get("endDate")))


def _civic(row: Mapping[str, Any]) -> str:
    """The personnummer or samordningsnummer (12 digits; ``connectors.personnummer`` checks it
    when the runner resolves the identity)."""
    civic = row.get("civicNo")
    if not civic:
        raise MappingError(UNKNOWN_PUPIL)
    if (row.get("nationality") or "SE") != "SE":
        raise MappingError(NOT_SWEDISH)
    text = str(civic).replace("-", "")
    if len(text) == 12 and not text[8:10].isdigit():
        raise MappingError(TEMPORARY)
    return text


def _need(value: Any, field: str, kind: str) -> Any:
    if value in (None, ""):
        raise MappingError(MISSING.format(kind=kind, field=field))
    return value


def _date(row: Mapping[str, Any], field: str, kind: str) -> dt.date:
    try:
        return dt.date.fromisoformat(_need(row.get(field), field, kind))
    except (TypeError, ValueError):
        raise MappingError(MISSING.format(kind=kind, field=f"a valid {field}")) from None


def _optional_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
