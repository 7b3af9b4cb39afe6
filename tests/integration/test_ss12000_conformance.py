"""The school stand-in serves SS 12000 2.1.0 as published: every answer the connector can get --
each list, by id, paged, filtered by change, aggregated attendance, deletions paged, and errors --
validates against the OpenAPI file's own schemas (``tests/data/ss12000/openapi-2.1.0.yaml``), and
the connector runs against it with the local extensions switched off."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import yaml
from openapi_schema_validator import OAS30Validator
from sqlalchemy import Engine

from connectors.school import SchoolConnector
from connectors.standins import school
from connectors.standins.common import store_for
from services.dev.http_server import BackgroundServer
from services.kafka.broker import free_port
from services.settings import Settings
from services.sql.db import make_engine
from tests.support.ingest import read_events, run_connector
from tests.support.standins import Harness, harness, serving

# The published file, kept in the repository unchanged (tests/data/ss12000/README.md), so the test
# runs from any clone; its hash is the published copy's.
SPEC = Path(__file__).resolve().parents[1] / "data" / "ss12000" / "openapi-2.1.0.yaml"
SPEC_SHA256 = "aee9a95a4c5bd25cebaf357d266592f94e9388ae785ee9ac3b58e1992acccd28"
TOKEN_FORM = {"grant_type": "client_credentials", "client_id": "kronobarn", "client_secret": "dev-only-secret"}
LISTS = {"/persons": "PersonsExpanded", "/organisations": "Organisations", "/placements": "Placements",
         "/duties": "Duties", "/absences": "Absences"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    text = SPEC.read_bytes()
    assert hashlib.sha256(text).hexdigest() == SPEC_SHA256, "the SS 12000 file is not the published one"
    return yaml.safe_load(text.decode("utf-8"))


def check(spec: dict[str, Any], path: str, status: int, body: Any) -> None:
    """``body`` is a valid answer of ``GET path`` with ``status``, as the spec declares it."""
    responses = spec["paths"][path]["get"]["responses"]
    declared = responses.get(str(status)) or responses["default"]
    schema = declared.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:  # e.g. 404 "Posten hittades inte." declares no body; ours is an Error
        schema = {"$ref": "#/components/schemas/Error"}
    validator = OAS30Validator({**schema, "components": spec["components"]},
                               format_checker=OAS30Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"GET {path} {status}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with serving("school", tmp_path_factory.mktemp("ss12000"), children=150) as h:
        yield h


def _client(h: Harness) -> httpx.Client:
    token = httpx.post(f"http://127.0.0.1:{h.port}/oauth2/token", data=TOKEN_FORM, timeout=10).json()["access_token"]
    return httpx.Client(base_url=f"http://127.0.0.1:{h.port}", timeout=10, headers={"Authorization": f"Bearer {token}"})


def _walk(c: httpx.Client, spec: dict[str, Any], path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows, query = [], dict(params)
    while True:
        response = c.get(f"/ss12000/v2{path}", params=query)
        check(spec, path, response.status_code, response.json())
        assert response.status_code == 200
        body = response.json()
        rows.append(body)
        if not body.get("pageToken"):
            return rows
        query = {"limit": params.get("limit", 100), "pageToken": body["pageToken"]}


def test_every_list_validates_page_by_page(served: Harness, spec: dict[str, Any]) -> None:
    with _client(served) as c:
        for path in LISTS:
            pages = _walk(c, spec, path, {"limit": 37})
            rows = [r for p in pages for r in p["data"]]
            assert len(pages) > 1 and len({r["id"] for r in rows}) == len(rows) > 0, path
        persons = [r for p in _walk(c, spec, "/persons", {"limit": 1000}) for r in p["data"]]
        duties = _walk(c, spec, "/duties", {"limit": 1000, "expandReferenceNames": "true"})
    types = {e["schoolType"] for p in persons for e in p.get("enrolments", [])}
    assert {"FKLASS", "GR", "GY"} <= types
    assert any(int(p["civicNo"]["value"][6:8]) > 60 for p in persons)  # samordningsnummer pupils
    assert all(d["person"]["displayName"] for p in duties for d in p["data"])


def test_lists_by_id_and_their_errors(served: Harness, spec: dict[str, Any]) -> None:
    with _client(served) as c:
        for path in LISTS:
            first = c.get(f"/ss12000/v2{path}", params={"limit": 1}).json()["data"][0]
            one = c.get(f"/ss12000/v2{path}/{first['id']}")
            check(spec, f"{path}/{{id}}", one.status_code, one.json())
            assert one.status_code == 200 and one.json()["id"] == first["id"]
            unknown = c.get(f"/ss12000/v2{path}/00000000-0000-4000-8000-000000000000")
            bad = c.get(f"/ss12000/v2{path}/not-a-uuid")
            for answer in (unknown, bad):
                check(spec, f"{path}/{{id}}", answer.status_code, answer.json())
            assert (unknown.status_code, bad.status_code) == (404, 400)


def test_changes_filter_and_errors(served: Harness, spec: dict[str, Any]) -> None:
    store = store_for(served.data_dir, "school")
    since = dt.datetime.now(dt.UTC)
    school.simulate(served.data_dir, served.county, 2)
    with _client(served) as c:
        newer = _walk(c, spec, "/placements", {"limit": 1, "meta.modified.after": since.isoformat()})
        assert sorted(r["id"] for p in newer for r in p["data"]) == sorted(
            r.id for r in store.feed("placements", None, 10_000) if r.modified > since.isoformat())
        errors = [
            ("/placements", {"meta.modified.after": "yesterday"}),  # bad date-time
            ("/placements", {"pageToken": "bm90IG91cnM="}),  # a token the server never issued
            ("/placements", {"pageToken": newer[0].get("pageToken") or "x", "meta.modified.after": since.isoformat()}),
            ("/placements", {"limit": 0}),
            ("/aggregatedAttendance", {"startDate": "2026-13-01", "endDate": "2026-10-31"}),
            ("/deletedEntities", {"after": "soon"}),
        ]
        for path, params in errors:
            answer = c.get(f"/ss12000/v2{path}", params=params)
            check(spec, path, answer.status_code, answer.json())
            assert answer.status_code == 400, (path, params)
        c.headers.pop("Authorization")
        for path in (*LISTS, "/aggregatedAttendance", "/deletedEntities"):
            answer = c.get(f"/ss12000/v2{path}")
            check(spec, path, answer.status_code, answer.json())
            assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")


def test_aggregated_attendance_validates_and_pages(served: Harness, spec: dict[str, Any]) -> None:
    with _client(served) as c:
        pages = _walk(c, spec, "/aggregatedAttendance", {"startDate": "2026-09-01", "endDate": "2026-09-30",
                                                          "limit": 25})
    rows = [r for p in pages for r in p["data"]]
    assert len(pages) > 1 and len({(r["student"]["id"], r["activity"]["id"]) for r in rows}) == len(rows)
    assert all(r["validAbsenceSum"] + r["invalidAbsenceSum"] + r["attendanceSum"] == r["offeredSum"] for r in rows)


def test_deleted_entities_are_the_object_form_paged(served: Harness, spec: dict[str, Any]) -> None:
    store = store_for(served.data_dir, "school")
    since = dt.datetime.now(dt.UTC).isoformat()
    placements = store.ids("placements")[:3]
    persons = store.ids("persons")[:2]
    for rid in placements:
        store.delete("placements", rid)
    for rid in persons:
        store.delete("persons", rid)
    with _client(served) as c:
        pages = _walk(c, spec, "/deletedEntities", {"after": since, "limit": 2})
        only = _walk(c, spec, "/deletedEntities", {"after": since, "entities": ["Placement"]})
    assert len(pages) >= 3  # five ids, two a page
    gone: dict[str, list[str]] = {}
    for page in pages:
        for kind, ids in page["data"].items():
            gone.setdefault(kind, []).extend(ids)
    assert sorted(gone["placements"]) == sorted(placements) and sorted(gone["persons"]) == sorted(persons)
    assert [set(p["data"]) for p in only] == [{"placements"}]


@pytest.fixture
def conforming(tmp_path: Path) -> Iterator[Harness]:
    """The stand-in without its local extensions: a server that serves the standard alone."""
    h = harness("school", tmp_path / "standin", children=150)
    h.prepare()
    h.port = free_port()
    server = BackgroundServer(school.app(h.data_dir, extensions=False), port=h.port).start()
    yield h
    server.stop()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    yield engine
    engine.dispose()


async def test_a_conforming_server_without_extensions_is_fine(
        conforming: Harness, kafka_settings: Settings, hub: Engine) -> None:
    with _client(conforming) as c:
        missing = c.get("/ss12000/v2/supportDecisions")
    assert missing.status_code == 404 and set(missing.json()) == {"code", "message"}
    connector = conforming.connector()
    assert isinstance(connector, SchoolConnector)
    with structlog.testing.capture_logs() as logs:
        result = await run_connector(connector, kafka_settings, hub)
    assert result.stats.dead_letters == 0 and result.stats.events > 0
    said = [entry for entry in logs if entry["event"] == "school.extension_missing"]
    assert sorted(entry["extension"] for entry in said) == ["kaaRegistrations", "supportDecisions"]  # once each
    events = await read_events(kafka_settings, hub, result.event_ids, topics=["intake.school"])
    kinds = {type(e).__name__ for e in events}
    assert {"SchoolPlacementStarted", "SchoolPlacementEnded", "AbsenceSummarised"} <= kinds
    assert not kinds & {"SchoolSupportDecided", "KaaRegistered"}
    types = {e.school_type.value for e in events if type(e).__name__ == "SchoolPlacementStarted"}
    assert {"PRESCHOOL", "PRESCHOOL_CLASS", "COMPULSORY", "UPPER_SECONDARY"} <= types
