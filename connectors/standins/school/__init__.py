"""Stand-in for a municipality's school platform, serving SS 12000:2020 (implementation
specification 2.1.0, ``../shared/ss12000/openapi-2.1.0.yaml``) as published.

Under ``/ss12000/v2``: ``persons`` (``civicNo``, ``enrolments``), ``organisations``, ``duties``,
``placements`` (FS, FTH), ``absences`` (events), ``aggregatedAttendance`` and
``deletedEntities``, each list also by id (``/persons/{id}`` ...). Lists page with ``limit`` +
``pageToken`` (a token cannot be combined with a filter) and filter changes with
``meta.modified.after`` (exclusive). ``deletedEntities`` answers the standard's object of id
lists, paged. Errors are ``{code, message}``. Every call needs a bearer JWT from
``/oauth2/token``. Default port 8102. What the records hold: ``records``.

Two local extensions in the same style, not in the standard, are served unless
``app(extensions=False)``: ``supportDecisions`` and ``kaaRegistrations`` (their shape is in
``docs/connectors/school.md``). Without them the server conforms exactly; an extension's path
then answers 404 as any unknown path does. ``app(shuffle=SEED)`` (a test knob) pages lists in a
seeded random order with no regard to time, each page shuffled too: SS 12000 promises no order.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.standins.auth import Credentials, require_token, token_router
from connectors.standins.common import label, store_for
from connectors.standins.county import County
from connectors.standins.registry import Standin
from connectors.standins.school.records import organisations, principal_name, pupils, uid
from connectors.standins.store import RecordStore, Row, shuffled, stamp

NAME = "school"
BASE = "/ss12000/v2"
STANDARD = ("persons", "organisations", "duties", "placements", "absences")
EXTENSIONS = ("supportDecisions", "kaaRegistrations")
# deletedEntities: the resource's key in the answer, and its EndPointsEnum name in ``entities``
DELETABLE = {"persons": "Person", "organisations": "Organisation", "duties": "Duty", "placements": "Placement",
             "absences": "Absence"}
# EndPointsEnum: every entity type ``entities`` may name (the ones not served have no deletions)
ENDPOINTS = frozenset({"Absence", "AttendanceEvent", "Attendance", "Grade", "CalendarEvent", "AttendanceSchedule",
                       "Resource", "Room", "Activity", "Duty", "Placement", "StudyPlan", "Programme", "Syllabus",
                       "SchoolUnitOffering", "Group", "Person", "Organisation"})
MAX_LIMIT = 1_000  # more than this per page is never served ("as many as possible", SS 12000)
GENERATION = "school=4"  # part of the fill label: a store filled by an earlier generator refills
BAD_TOKEN = "pageToken is not one this server issued"
BAD_TIME = "{name} must be an RFC 3339 date-time"
BAD_DATE = "{name} must be an RFC 3339 date (YYYY-MM-DD)"
TOKEN_AND_FILTER = "pageToken cannot be combined with other filters than limit"
CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}

__all__ = ["STANDIN", "app", "prepare", "principal_name", "simulate", "uid"]


def prepare(data_dir: Path, county: County) -> RecordStore:
    store = store_for(data_dir, NAME)

    def rows() -> Iterator[tuple[str, str, dt.datetime, dict[str, Any]]]:
        yield from organisations(county)
        for child in county:
            yield from pupils(county, child)

    store.fill(f"{label(county)};{GENERATION}", rows())
    return store


def simulate(data_dir: Path, county: County, n: int) -> None:
    """``n`` new förskola placements starting today, each for a child who already has one (a
    second unit of the municipality): new records only, as a platform's day brings."""
    store = store_for(data_dir, NAME)
    rng = random.Random()
    preschool = [r for r in (store.get("placements", i) for i in store.ids("placements"))
                 if r is not None and r.body["schoolType"] == "FS"]
    for _ in range(n):
        if not preschool:
            return
        old = rng.choice(preschool).body
        rid = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC)
        store.put("placements", rid, {"id": rid, "placedAt": old["placedAt"], "child": old["child"], "schoolType": "FS",
                                      "startDate": now.date().isoformat(), "meta": {"created": stamp(now)}}, at=now)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _decode(token: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise ApiError(400, "INVALID_PAGE_TOKEN", BAD_TOKEN) from None
    if not isinstance(state, dict) or "r" not in state:
        raise ApiError(400, "INVALID_PAGE_TOKEN", BAD_TOKEN)
    return state


def _instant(value: str, name: str) -> str:
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "INVALID_PARAMETER", BAD_TIME.format(name=name)) from None
    if at.tzinfo is None:
        raise ApiError(400, "INVALID_PARAMETER", BAD_TIME.format(name=name))
    return stamp(at)


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "INVALID_PARAMETER", BAD_DATE.format(name=name)) from None


def _served(row: Row, names: bool) -> dict[str, Any]:
    """The record as the standard shapes it: ``meta`` as stored, with the store's change time;
    reference display names only when asked (``expandReferenceNames``)."""
    body = dict(row.body)
    body["meta"] = {"created": body.get("meta", {}).get("created", row.modified), "modified": row.modified}
    if not names:
        for key, value in body.items():
            if isinstance(value, dict) and "id" in value and "displayName" in value:
                body[key] = {k: v for k, v in value.items() if k != "displayName"}
    return body


def _token(row: Row) -> str:
    return base64.urlsafe_b64encode(f"{row.modified}|{row.id}".encode()).decode()


def _position(token: str | None, after: str | None) -> tuple[str, str] | None:
    """``(modified, id)`` to list strictly after: from a page token, or ``meta.modified.after``."""
    if token:
        try:
            modified, sep, rid = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "INVALID_PAGE_TOKEN", BAD_TOKEN) from None
        if not sep:
            raise ApiError(400, "INVALID_PAGE_TOKEN", BAD_TOKEN)
        return modified, rid
    if after:
        return _instant(after, "meta.modified.after"), "\uffff"
    return None


def _scan_position(token: str | None, after: str | None) -> tuple[str, str]:
    """``(modified after, key after)`` of a shuffled listing: from its page token, or its start."""
    if token:
        return _position(token, None) or ("", "")
    position = _position(None, after)
    return (position[0] if position else "", "")


def app(data_dir: Path, credentials: Credentials | None = None, shuffle: str | None = None,
        extensions: bool = True) -> FastAPI:
    credentials = credentials or Credentials(audience="ss12000")
    store = store_for(data_dir, NAME)
    api = FastAPI(title="School platform stand-in (SS 12000:2020, 2.1.0)", version="2.1.0")
    api.include_router(token_router(credentials))
    auth = require_token(credentials)

    @api.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if not request.url.path.startswith(BASE):  # the token endpoint keeps OAuth2's own answers
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return _error(exc.status_code, CODES.get(exc.status_code, "ERROR"), str(exc.detail), exc.headers)

    @api.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        where = ", ".join(str(e.get("loc", ("?",))[-1]) for e in exc.errors())
        return _error(400, "INVALID_PARAMETER", f"invalid parameter: {where}")

    def listing(resource: str, limit: int, token: str | None, after: str | None, names: bool) -> dict[str, Any]:
        if token and after:
            raise ApiError(400, "INVALID_PARAMETER", TOKEN_AND_FILTER)
        limit = min(limit, MAX_LIMIT)
        if shuffle is not None:
            since, key = _scan_position(token, after)
            rows = store.scan(resource, since, key, limit, shuffle)
            out: dict[str, Any] = {"data": [_served(r, names) for r in rows]}
            if len(rows) == limit:
                out["pageToken"] = base64.urlsafe_b64encode(f"{since}|{shuffled(shuffle, rows[-1].id)}".encode()).decode()
            random.Random(f"{shuffle}|{key}").shuffle(out["data"])
            return out
        rows = store.feed(resource, _position(token, after), limit)
        out = {"data": [_served(r, names) for r in rows]}
        if len(rows) == limit:
            out["pageToken"] = _token(rows[-1])
        return out

    served = STANDARD + (EXTENSIONS if extensions else ())
    for resource in served:
        def listed(
            limit: Annotated[int, Query(ge=1)] = 100,
            pageToken: str | None = None,  # noqa: N803 - SS 12000 parameter name
            modified_after: Annotated[str | None, Query(alias="meta.modified.after")] = None,
            expand_names: Annotated[bool, Query(alias="expandReferenceNames")] = False,
            _resource: str = resource,
        ) -> dict[str, Any]:
            return listing(_resource, limit, pageToken, modified_after, expand_names)

        def one(rid: str, expand_names: Annotated[bool, Query(alias="expandReferenceNames")] = False,
                _resource: str = resource) -> dict[str, Any]:
            try:
                uuid.UUID(rid)
            except ValueError:
                raise ApiError(400, "INVALID_PARAMETER", "id must be a UUID") from None
            row = store.get(_resource, rid)
            if row is None or row.deleted:
                raise ApiError(404, "NOT_FOUND", f"no {_resource} with that id")
            return _served(row, expand_names)

        api.add_api_route(f"{BASE}/{resource}", listed, methods=["GET"], dependencies=[auth], name=f"list_{resource}")
        api.add_api_route(f"{BASE}/{resource}/{{rid}}", one, methods=["GET"], dependencies=[auth],
                          name=f"get_{resource}")

    @api.get(f"{BASE}/aggregatedAttendance", dependencies=[auth])
    def aggregated(startDate: str | None = None, endDate: str | None = None,  # noqa: N803
                   limit: Annotated[int, Query(ge=1)] = 100, pageToken: str | None = None) -> dict[str, Any]:  # noqa: N803
        if pageToken:
            if startDate or endDate:
                raise ApiError(400, "INVALID_PARAMETER", TOKEN_AND_FILTER)
            state = _decode(pageToken)
            first, last, after = _date(state.get("s", ""), "startDate"), _date(state.get("e", ""), "endDate"), state["r"]
        else:
            if not startDate or not endDate:
                raise ApiError(400, "INVALID_PARAMETER", "startDate and endDate are required")
            first, last, after = _date(startDate, "startDate"), _date(endDate, "endDate"), ""
        sums = _aggregate(store, first, last)
        keys = sorted(k for k in sums if k > after)[:min(limit, MAX_LIMIT)]
        out: dict[str, Any] = {"data": [{**sums[k], "startDate": first.isoformat(), "endDate": last.isoformat()}
                                        for k in keys]}
        if len(keys) == min(limit, MAX_LIMIT):
            out["pageToken"] = _encode({"s": first.isoformat(), "e": last.isoformat(), "r": keys[-1]})
        return out

    @api.get(f"{BASE}/deletedEntities", dependencies=[auth])
    def deleted(after: str | None = None, entities: Annotated[list[str] | None, Query()] = None,
                limit: Annotated[int, Query(ge=1)] = 1000, pageToken: str | None = None) -> dict[str, Any]:  # noqa: N803
        if pageToken:
            if after or entities:
                raise ApiError(400, "INVALID_PARAMETER", TOKEN_AND_FILTER)
            state = _decode(pageToken)
            since, kinds, position = state.get("a") or "", state.get("k") or list(DELETABLE), state["r"]
        else:
            since = _instant(after, "after") if after else ""
            wanted = set(entities or DELETABLE.values())
            if wanted - ENDPOINTS:
                raise ApiError(400, "INVALID_PARAMETER", "entities holds an unknown entity type")
            kinds, position = [k for k, e in DELETABLE.items() if e in wanted], ""
        limit = min(limit, MAX_LIMIT)
        gone: list[tuple[str, str, str]] = []  # (deleted at, kind, id), after ``since``, in that order
        for kind in kinds:
            gone += [(r.modified, kind, r.id) for r in store.feed(kind, (since, "\uffff") if since else None,
                                                                   10 * MAX_LIMIT, deleted=True)]
        gone = sorted(g for g in gone if "|".join(g) > position)[:limit]
        data: dict[str, list[str]] = {}
        for _, kind, rid in gone:
            data.setdefault(kind, []).append(rid)
        out: dict[str, Any] = {"data": data}
        if len(gone) == limit:
            out["pageToken"] = _encode({"a": since, "k": kinds, "r": "|".join(gone[-1])})
        return out

    return api


def _aggregate(store: RecordStore, first: dt.date, last: dt.date) -> dict[str, dict[str, Any]]:
    """Per (student, activity), the sums of the stored periods that lie within [first, last]."""
    sums: dict[str, dict[str, Any]] = {}
    position: tuple[str, str] | None = (stamp(dt.datetime.combine(first, dt.time(0), dt.UTC)), "")
    end = stamp(dt.datetime.combine(last, dt.time(0), dt.UTC))
    fields = ("attendanceSum", "validAbsenceSum", "invalidAbsenceSum", "otherAttendanceSum", "reportedSum",
              "offeredSum")
    while True:
        rows = store.feed("attendance", position, 5_000)
        for row in rows:
            if row.modified > end:
                return sums
            if dt.date.fromisoformat(row.body["endDate"]) > last:
                continue
            key = f"{row.body['student']['id']}|{row.body['activity']['id']}"
            into = sums.setdefault(key, {"activity": row.body["activity"], "student": row.body["student"],
                                         **dict.fromkeys(fields, 0)})
            for name in fields:
                into[name] += row.body[name]
        if len(rows) < 5_000:
            return sums
        position = (rows[-1].modified, rows[-1].id)


STANDIN = Standin(NAME, "school platform (SS 12000:2020, 2.1.0)", 8102, prepare, app, simulate)
