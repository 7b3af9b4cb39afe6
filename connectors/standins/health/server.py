"""The FHIR R4 REST API of the health stand-in, over its record store.

Search is the incremental feed real FHIR servers offer: ``_lastUpdated=gt|ge<instant>``,
``_count`` and ``_sort=_lastUpdated``. Results are ordered by ``(meta.lastUpdated, id)``; the
``next`` link carries an opaque continuation ``ct`` (as Azure's FHIR service does) holding the
last ``(lastUpdated, id)`` returned, so resources sharing a timestamp are never skipped or
repeated across pages. ``meta.versionId`` and ``meta.lastUpdated`` come from the store row.
``create_app(shuffle=SEED)`` (a test knob) orders resources that share a ``lastUpdated`` in a
seeded random order instead of by id, and shuffles each page's entries: FHIR's ``_sort`` orders
by the instant only.

Every route under ``/fhir`` except ``metadata`` needs a bearer token from ``/oauth2/token``
(OAuth2 client credentials); otherwise it answers 401 with an OperationOutcome and a
``WWW-Authenticate: Bearer`` header. ``metadata`` stays open, as SMART on FHIR requires, so a
client can discover the token endpoint.

``served`` presents the records as another installation would (``profile.Served``: HL7 Sweden
identifier URIs, another municipality extension, references without identifiers, practitioner
performers, unstable pregnancy ids, expiring ``next`` links); the default is today's server.
FHIR Bulk Data ``$export`` is served too (``bulk``), behind the same token.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import json
import os
import random
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from connectors.standins.auth import (
    DEV_CLIENT_ID,
    DEV_CLIENT_SECRET,
    TOKEN_TTL_S,
    Credentials,
    require_token,
    token_router,
)
from connectors.standins.common import store_for
from connectors.standins.health.bulk import BulkOptions, bulk_router
from connectors.standins.health.profile import Served, derived, present, stable_id
from connectors.standins.store import Row, key_of, stamp

NAME = "health"
RESOURCE_TYPES = ("Patient", "Condition", "EpisodeOfCare", "Encounter", "Immunization", "Observation")
FHIR_JSON = "application/fhir+json"
DEFAULT_COUNT = 100
MAX_COUNT = 1_000  # a larger _count is capped, as FHIR allows
AUDIENCE = "cosmic-fhir"

BAD_COUNT = "_count must be a positive integer"
BAD_SORT = "only _sort=_lastUpdated is supported"
BAD_LAST_UPDATED = "_lastUpdated must be gt<instant> or ge<instant>, e.g. gt2026-03-01T08:00:00.000000+00:00"
BAD_CONTINUATION = "ct is not a continuation this server issued"
EXPIRED = "this search's continuation has expired; search again"
ISSUE_CODE = {400: "invalid", 401: "login", 404: "not-found", 405: "not-supported", 410: "deleted"}

UNKNOWN_TYPE = "resource type {kind} is not supported here"
NOT_FOUND = "{kind}/{rid} is not known"
GONE = "{kind}/{rid} has been deleted"


def credentials_from_env() -> Credentials:
    """The stand-in's one client, from ``KRONOBARN_HEALTH_*`` or the documented dev defaults."""
    return Credentials(
        client_id=os.environ.get("KRONOBARN_HEALTH_CLIENT_ID", DEV_CLIENT_ID),
        client_secret=os.environ.get("KRONOBARN_HEALTH_CLIENT_SECRET", DEV_CLIENT_SECRET),
        audience=AUDIENCE,
        ttl_s=int(os.environ.get("KRONOBARN_HEALTH_TOKEN_TTL_S", TOKEN_TTL_S)),
    )


def create_app(data_dir: Path, credentials: Credentials | None = None, shuffle: str | None = None,
               served: Served | None = None, bulk: BulkOptions | None = None) -> FastAPI:
    """The ASGI app over ``data_dir/health.db`` (prepared beforehand by ``prepare``)."""
    credentials = credentials or credentials_from_env()
    served = served or Served()
    store = store_for(data_dir, NAME)
    follows = itertools.count(1)  # next-link requests, for ``served.expiring_links``
    follows_lock = threading.Lock()

    def render(row: Row) -> dict[str, Any]:
        return present(resource_of(row), served, store)

    api = FastAPI(title="Health records stand-in (Cosmic-style FHIR R4)", version="4.0.1",
                  docs_url=None, redoc_url=None, openapi_url=None)
    api.include_router(token_router(credentials))
    api.add_exception_handler(HTTPException, _as_outcome)  # type: ignore[arg-type]
    api.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]

    @api.get("/fhir/metadata")
    def metadata(request: Request) -> Response:
        return _fhir(capability_statement(str(request.base_url).rstrip("/")))

    fhir = APIRouter(prefix="/fhir", dependencies=[require_token(credentials)])
    # Registered first: ``/{kind}`` and ``/{kind}/{rid}`` would take these paths.
    fhir.include_router(bulk_router(store, data_dir, RESOURCE_TYPES, render, bulk or BulkOptions(), shuffle, _base))

    @fhir.get("/{kind}")
    def search(kind: str, request: Request) -> Response:
        _supported(kind)
        params = request.query_params
        if "ct" in params and served.expiring_links:
            with follows_lock:
                expired = next(follows) % served.expiring_links == 0
            if expired:
                raise HTTPException(410, detail=EXPIRED)
        count = _count(params.get("_count"))
        if params.get("_sort", "_lastUpdated") != "_lastUpdated":
            raise HTTPException(400, detail=BAD_SORT)
        since = params.get("_lastUpdated")
        after = _continuation(params["ct"]) if "ct" in params else _since(since)
        rows = store.feed(kind, after, count + 1, shuffle=shuffle)
        more = len(rows) > count
        rows = rows[:count]
        base = _base(request)
        query = {"_count": str(count), "_sort": "_lastUpdated", **({"_lastUpdated": since} if since else {})}
        links = [{"relation": "self", "url": str(request.url)}]
        if more:
            query["ct"] = _continuation_of(rows[-1], key_of(rows[-1], shuffle))
            links.append({"relation": "next", "url": str(request.url.replace(query=urlencode(query)))})
        if shuffle is not None:
            random.Random(f"{shuffle}|{after}").shuffle(rows)
        return _fhir({
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": stamp(dt.datetime.now(dt.UTC))},
            "type": "searchset",
            "link": links,
            "entry": [{"fullUrl": f"{base}/{kind}/{body['id']}", "resource": body, "search": {"mode": "match"}}
                      for body in map(render, rows)],
        })

    @fhir.get("/{kind}/{rid}")
    def read(kind: str, rid: str) -> Response:
        if served.practitioner_performers and kind in ("Practitioner", "PractitionerRole"):
            body = derived(kind, rid)
            if body is None:
                raise HTTPException(404, detail=NOT_FOUND.format(kind=kind, rid=rid))
            return _fhir(body)
        _supported(kind)
        stored, version = stable_id(kind, rid, served)
        row = store.get(kind, stored)
        if row is None or (version is not None and version != str(row.version)):
            raise HTTPException(404, detail=NOT_FOUND.format(kind=kind, rid=rid))
        if row.deleted:
            raise HTTPException(410, detail=GONE.format(kind=kind, rid=rid))
        return _fhir(render(row), headers={"ETag": f'W/"{row.version}"', "Last-Modified": row.modified})

    api.include_router(fhir)
    return api


def resource_of(row: Row) -> dict[str, Any]:
    """The stored body with the server-maintained ``meta.versionId`` and ``meta.lastUpdated``."""
    body = {"resourceType": row.kind, "id": row.id, "meta": None, **row.body}
    body["meta"] = {**(row.body.get("meta") or {}), "versionId": str(row.version), "lastUpdated": row.modified}
    return body


def capability_statement(base: str) -> dict[str, Any]:
    search_params = [
        {"name": "_lastUpdated", "type": "date", "documentation": "gt or ge an instant"},
        {"name": "_count", "type": "number", "documentation": f"page size, at most {MAX_COUNT}"},
        {"name": "_sort", "type": "string", "documentation": "_lastUpdated only (then id)"},
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-01",
        "publisher": "kronobarn (synthetic stand-in)",
        "kind": "instance",
        "implementation": {"description": "Cosmic-style health records stand-in", "url": f"{base}/fhir"},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                         "code": "SMART-on-FHIR"}]}],
                "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                               "extension": [{"url": "token", "valueUri": f"{base}/oauth2/token"}]}],
                "description": "OAuth2 client credentials; send the token as a bearer token",
            },
            "resource": [{"type": kind, "interaction": [{"code": "read"}, {"code": "search-type"}],
                          "searchParam": search_params} for kind in RESOURCE_TYPES],
        }],
    }


def _count(value: str | None) -> int:
    if value is None:
        return DEFAULT_COUNT
    try:
        count = int(value)
    except ValueError:
        raise HTTPException(400, detail=BAD_COUNT) from None
    if count < 1:
        raise HTTPException(400, detail=BAD_COUNT)
    return min(count, MAX_COUNT)


def _since(value: str | None) -> tuple[str, str] | None:
    """``gt`` starts after every id at the instant; ``ge`` before the first."""
    if value is None:
        return None
    prefix, instant = value[:2], value[2:]
    if prefix not in ("gt", "ge"):
        raise HTTPException(400, detail=BAD_LAST_UPDATED)
    try:
        at = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(400, detail=BAD_LAST_UPDATED) from None
    at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
    return stamp(at), "\U0010ffff" if prefix == "gt" else ""


def _continuation_of(row: Row, key: str) -> str:
    raw = json.dumps([row.modified, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _continuation(token: str) -> tuple[str, str]:
    try:
        modified, rid = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise HTTPException(400, detail=BAD_CONTINUATION) from None
    if not isinstance(modified, str) or not isinstance(rid, str):
        raise HTTPException(400, detail=BAD_CONTINUATION)
    return modified, rid


def _supported(kind: str) -> None:
    if kind not in RESOURCE_TYPES:
        raise HTTPException(404, detail=UNKNOWN_TYPE.format(kind=kind))


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status_code=status,
                    media_type=FHIR_JSON, headers=headers)


def outcome(status: int, text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": ISSUE_CODE.get(status, "processing"), "diagnostics": text}]}


async def _as_outcome(request: Request, exc: HTTPException) -> Response:
    if request.url.path.startswith("/oauth2/"):  # RFC 6749 errors stay OAuth-shaped
        body = {"error": "invalid_client" if exc.status_code == 401 else str(exc.detail)}
        return Response(json.dumps(body), status_code=exc.status_code, media_type="application/json",
                        headers=exc.headers)
    return _fhir(outcome(exc.status_code, str(exc.detail)), exc.status_code, exc.headers)


async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    if request.url.path.startswith("/oauth2/"):
        return Response(json.dumps({"error": "invalid_request"}), status_code=400, media_type="application/json")
    return _fhir(outcome(400, "the request is not valid"), 400)
