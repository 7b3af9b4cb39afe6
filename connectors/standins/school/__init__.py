"""Stand-in for a municipality's school system, speaking SS 12000:2020-style REST.

Resources under ``/ss12000/v2``: ``persons`` (with ``civicNo``), ``organisations`` (school
units), ``duties`` (principals), ``placements``, ``absences``, and two local extensions in the
same style, ``supportDecisions`` and ``kaaRegistrations``. Lists page with ``limit`` +
``pageToken`` and filter changes with ``meta.modified.after``; ``/deletedEntities?after=``
reports deletions. Every call needs a bearer JWT from ``/oauth2/token``. Default port 8102.
``app(shuffle=SEED)`` (a test knob) pages lists in a seeded random order with no regard to
time, each page shuffled too: SS 12000 promises no order, and a real server may page by id.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from connectors.standins.auth import Credentials, require_token, token_router
from connectors.standins.common import at, feed_start, label, store_for
from connectors.standins.county import FAMILY, GIVEN, Child, County
from connectors.standins.registry import Standin
from connectors.standins.store import RecordStore, Row, shuffled, stamp

NAME = "school"
RESOURCES = ("persons", "organisations", "duties", "placements", "absences", "supportDecisions", "kaaRegistrations")
SCHOOL_TYPE = {"PRESCHOOL": "FS", "PRESCHOOL_CLASS": "FKLASS", "COMPULSORY": "GR", "UPPER_SECONDARY": "GY"}
SUPPORT = ("EXTRA_ADAPTATIONS", "SPECIAL_SUPPORT", "ACTION_PROGRAMME")
MAX_LIMIT = 1_000
GENERATION = "school=3"  # part of the fill label: a store filled by an earlier generator refills
BAD_TOKEN = "pageToken is not one this server issued"
BAD_AFTER = "meta.modified.after must be an ISO 8601 date-time"


def person_id(child: Child) -> str:
    return f"person-{child.index:06d}"


def _meta(created: dt.datetime) -> dict[str, str]:
    return {"created": stamp(created), "modified": stamp(created)}


def units_of(county: County) -> Iterator[tuple[str, str, dt.datetime, dict[str, Any]]]:
    start = dt.datetime.combine(county.window_start, dt.time(7), dt.UTC)
    for unit in county.units:
        if unit.principal_id is None:
            continue
        yield "organisations", unit.id, start, {
            "id": unit.id, "displayName": unit.name, "organisationType": "Skolenhet",
            "schoolUnitCode": unit.id.rsplit("-", 1)[-1], "municipalityCode": unit.municipality_code,
            "meta": _meta(start),
        }
        yield "duties", f"duty-{unit.id}", start, {
            "id": f"duty-{unit.id}", "dutyRole": "Rektor",
            "person": {"id": unit.principal_id, "displayName": principal_name(unit.id)},
            "dutyAt": {"id": unit.id}, "startDate": county.window_start.isoformat(), "meta": _meta(start),
        }


def principal_name(unit_id: str) -> str:
    """The unit's principal, a synthetic staff name fixed by the unit id."""
    rng = random.Random(f"principal|{unit_id}")
    return f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"


def records_of(county: County, child: Child) -> Iterator[tuple[str, str, dt.datetime, dict[str, Any]]]:
    if child.person is None or not (child.placements or child.kaa_from):
        return
    rng = county.rng(NAME, child.index)
    pid = person_id(child)
    first = min([p.start for p in child.placements] + ([child.kaa_from] if child.kaa_from else []))
    created = at(feed_start(county, first), child.index, 7)
    yield "persons", pid, created, {
        "id": pid, "givenName": child.person.given_name, "familyName": child.person.family_name,
        "birthDate": child.birth_date.isoformat(), "meta": _meta(created),
        "civicNo": {"value": child.person.personnummer.replace("-", ""), "nationality": "SE"},
        "extension": {"synthetic": True},
    }
    for p in child.placements:
        when = at(feed_start(county, p.start), child.index)
        body = {"id": p.id, "student": {"id": pid}, "organisation": {"id": p.unit_id},
                "schoolType": SCHOOL_TYPE[p.school_type], "startDate": p.start.isoformat(),
                "endDate": None if p.end is None else p.end.isoformat(), "meta": _meta(when)}
        if p.end is not None:
            body["meta"]["modified"] = stamp(at(feed_start(county, p.end), child.index, 15))
        yield "placements", p.id, dt.datetime.fromisoformat(body["meta"]["modified"]), body
        if county.attendance == "daily":
            yield from _daily_attendance(county, child, p, pid, rng)
        if p.school_type == "PRESCHOOL":
            continue
        if county.attendance == "monthly":
            yield from _absences(county, child, p, pid, rng)
        if rng.random() < 0.06:
            day = feed_start(county, p.start) + dt.timedelta(days=rng.randrange(20, 200))
            if day < county.as_of and (p.end is None or day < p.end):
                sid = f"support-{p.id}"
                yield "supportDecisions", sid, at(day, child.index, 13), {
                    "id": sid, "student": {"id": pid}, "organisation": {"id": p.unit_id},
                    "supportType": rng.choice(SUPPORT), "decidedOn": day.isoformat(),
                    "meta": _meta(at(day, child.index, 13))}
    if child.kaa_from:
        kid = f"kaa-{child.index:06d}"
        code = child.moves[-1][1] if child.moves else child.municipality_code
        yield "kaaRegistrations", kid, at(child.kaa_from, child.index, 11), {
            "id": kid, "person": {"id": pid}, "municipalityCode": code,
            "registeredOn": child.kaa_from.isoformat(), "meta": _meta(at(child.kaa_from, child.index, 11))}


def _absences(county: County, child: Child, p: Any, pid: str, rng: random.Random) -> Iterator[Any]:
    """Monthly absence summaries for the school months the placement covers in the window."""
    month = feed_start(county, p.start).replace(day=1)
    heavy = rng.random() < 0.05  # a few children with problematic absence
    while True:
        nxt = (month + dt.timedelta(days=32)).replace(day=1)
        end = nxt - dt.timedelta(days=1)
        if nxt > county.as_of or (p.end is not None and month > p.end):
            return
        if month.month not in (7,) and month >= p.start.replace(day=1):
            absent = round(rng.uniform(10, 40) if heavy else rng.uniform(0, 8), 1)
            aid = f"absence-{p.id}-{month:%Y%m}"
            when = at(nxt, child.index, 6)
            yield "absences", aid, when, {
                "id": aid, "student": {"id": pid}, "organisation": {"id": p.unit_id},
                "periodStart": month.isoformat(), "periodEnd": end.isoformat(),
                "absencePercent": absent, "unexcusedPercent": round(absent * rng.uniform(0, 0.5), 1),
                "meta": _meta(when)}
        month = nxt


def _school_day(day: dt.date) -> bool:
    summer = (day.month, day.day) >= (6, 13) and (day.month, day.day) < (8, 15)
    return day.weekday() < 5 and not summer and not (day.month == 12 and day.day > 21)


def _daily_attendance(county: County, child: Child, p: Any, pid: str, rng: random.Random) -> Iterator[Any]:
    """One attendance record per school day: the absence share of that day (0 when present)."""
    day = feed_start(county, p.start)
    last = min(county.as_of, p.end) if p.end is not None else county.as_of
    heavy = rng.random() < 0.05
    while day < last:
        if _school_day(day):
            absent = 100.0 if rng.random() < (0.2 if heavy else 0.04) else 0.0
            aid = f"attendance-{p.id}-{day:%Y%m%d}"
            when = at(day, child.index, 17)
            yield "absences", aid, when, {
                "id": aid, "student": {"id": pid}, "organisation": {"id": p.unit_id},
                "periodStart": day.isoformat(), "periodEnd": day.isoformat(), "absencePercent": absent,
                "unexcusedPercent": absent if rng.random() < 0.3 else 0.0, "meta": _meta(when)}
        day += dt.timedelta(days=1)


def prepare(data_dir: Path, county: County) -> RecordStore:
    store = store_for(data_dir, NAME)

    def rows() -> Iterator[tuple[str, str, dt.datetime, dict[str, Any]]]:
        yield from units_of(county)
        for child in county:
            yield from records_of(county, child)

    store.fill(f"{label(county)};{GENERATION}", rows())
    return store


def simulate(data_dir: Path, county: County, n: int) -> None:
    """``n`` new absence summaries dated now for random pupils."""
    store = store_for(data_dir, NAME)
    rng = random.Random()
    placements = store.ids("placements")
    for _ in range(n):
        placement = store.get("placements", rng.choice(placements))
        if placement is None:
            continue
        today = dt.date.today()
        aid = f"absence-{placement.id}-sim{rng.randrange(10**9)}"
        store.put("absences", aid, {
            "id": aid, "student": placement.body["student"], "organisation": placement.body["organisation"],
            "periodStart": today.replace(day=1).isoformat(), "periodEnd": today.isoformat(),
            "absencePercent": round(rng.uniform(0, 30), 1), "unexcusedPercent": round(rng.uniform(0, 5), 1),
            "meta": {"created": stamp(dt.datetime.now(dt.UTC)), "modified": stamp(dt.datetime.now(dt.UTC))}})


def _token(row: Row) -> str:
    return base64.urlsafe_b64encode(f"{row.modified}|{row.id}".encode()).decode()


def _position(token: str | None, after: str | None) -> tuple[str, str] | None:
    if token:
        try:
            modified, sep, rid = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(400, detail=BAD_TOKEN) from None
        if not sep:
            raise HTTPException(400, detail=BAD_TOKEN)
        return modified, rid
    if after:
        try:
            return stamp(dt.datetime.fromisoformat(after.replace("Z", "+00:00"))), "\uffff"
        except ValueError:
            raise HTTPException(400, detail=BAD_AFTER) from None
    return None


def _with_meta(row: Row) -> dict[str, Any]:
    body = dict(row.body)
    body["meta"] = {**body.get("meta", {}), "modified": row.modified, "version": row.version}
    return body


def _scan_token(after: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"{after}|{key}".encode()).decode()


def _scan_position(token: str | None, after: str | None) -> tuple[str, str]:
    """``(modified after, key after)`` of a shuffled listing: from its page token, or its start."""
    if token:
        return _position(token, None) or ("", "")
    position = _position(None, after)
    return (position[0] if position else "", "")


def app(data_dir: Path, credentials: Credentials | None = None, shuffle: str | None = None) -> FastAPI:
    credentials = credentials or Credentials(audience="ss12000")
    store = store_for(data_dir, NAME)
    api = FastAPI(title="School system stand-in (SS 12000:2020 style)", version="2.0")
    api.include_router(token_router(credentials))
    auth = require_token(credentials)

    def listing(resource: str, limit: int, page_token: str | None, after: str | None) -> dict[str, Any]:
        if shuffle is not None:
            return shuffled_listing(resource, limit, page_token, after, shuffle)
        rows = store.feed(resource, _position(page_token, after), limit)
        out: dict[str, Any] = {"data": [_with_meta(r) for r in rows]}
        if len(rows) == limit:
            out["pageToken"] = _token(rows[-1])
        return out

    def shuffled_listing(resource: str, limit: int, page_token: str | None, after: str | None,
                         seed: str) -> dict[str, Any]:
        since, key = _scan_position(page_token, after)
        rows = store.scan(resource, since, key, limit, seed)
        out: dict[str, Any] = {"data": [_with_meta(r) for r in rows]}
        if len(rows) == limit:
            out["pageToken"] = _scan_token(since, shuffled(seed, rows[-1].id))
        random.Random(f"{seed}|{key}").shuffle(out["data"])
        return out

    for resource in RESOURCES:
        def endpoint(
            limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
            pageToken: str | None = None,  # noqa: N803 - SS 12000 parameter name
            modified_after: Annotated[str | None, Query(alias="meta.modified.after")] = None,
            _resource: str = resource,
        ) -> dict[str, Any]:
            return listing(_resource, limit, pageToken, modified_after)

        api.add_api_route(f"/ss12000/v2/{resource}", endpoint, methods=["GET"], dependencies=[auth],
                          name=f"list_{resource}")

    @api.get("/ss12000/v2/deletedEntities", dependencies=[auth])
    def deleted(after: str | None = None, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
                pageToken: str | None = None) -> dict[str, Any]:  # noqa: N803
        position = _position(pageToken, after)
        items: list[dict[str, Any]] = []
        for resource in RESOURCES:
            for row in store.feed(resource, position, limit, deleted=True):
                item = {"id": row.id, "entityType": resource, "deletedAt": row.modified}
                if resource == "placements":  # local extension: what the placement was
                    item["placement"] = {k: row.body.get(k) for k in ("student", "organisation", "schoolType")}
                items.append(item)
        items.sort(key=lambda i: (i["deletedAt"], i["id"]))
        return {"data": items[:limit]}

    return api


STANDIN = Standin(NAME, "school system (SS 12000:2020-style REST)", 8102, prepare, app, simulate)
