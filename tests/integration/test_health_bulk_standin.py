"""Contract of the health stand-in's FHIR Bulk Data export (IG v2.0.0) over real HTTP: kick-off,
status polling, the manifest, NDJSON files behind the token, deletion, and refusals; and the
other installation's presentation (identifier URIs, bare references, practitioners, unstable
pregnancy ids), every resource validated with ``fhir.resources`` (R4B, see test_health_standin)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.operationoutcome import OperationOutcome

from connectors.standins import health
from connectors.standins.county import County
from connectors.standins.health.bulk import BulkOptions
from connectors.standins.health.profile import PNR_URI, PREGNANCY_ID_SYSTEM, Served
from services.dev.http_server import BackgroundServer
from services.kafka.broker import free_port

CLIENT = {"grant_type": "client_credentials", "client_id": "kronobarn", "client_secret": "dev-only-secret"}
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("health-bulk")
    health.prepare(path, County(children=60))
    return path


def _client(url: str) -> httpx.Client:
    token = httpx.post(f"{url}/oauth2/token", data=CLIENT).json()["access_token"]
    return httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def http(data_dir: Path) -> Iterator[httpx.Client]:
    app = health.create_app(data_dir, bulk=BulkOptions(file_size=25, polls=2, retry_after_s=3))
    with BackgroundServer(app, port=free_port()) as server, _client(server.url) as client:
        yield client


@pytest.fixture(scope="module")
def other(data_dir: Path) -> Iterator[httpx.Client]:
    app = health.create_app(data_dir, served=Served.other_installation(expiring_links=2),
                            bulk=BulkOptions(polls=0))
    with BackgroundServer(app, port=free_port()) as server, _client(server.url) as client:
        yield client


def _export(http: httpx.Client, path: str = "/fhir/$export", **params: Any) -> tuple[str, dict[str, Any]]:
    kick = http.get(path, params=params, headers=ASYNC)
    assert kick.status_code == 202, kick.text
    status = kick.headers["content-location"]
    while True:
        answer = http.get(status)
        if answer.status_code == 200:
            return status, answer.json()
        assert answer.status_code == 202 and answer.headers["x-progress"] and answer.headers["retry-after"] == "3"


def _lines(http: httpx.Client, url: str) -> list[dict[str, Any]]:
    response = http.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+ndjson")
    return [json.loads(line) for line in response.text.splitlines() if line]


def test_export_delivers_every_resource_once_in_files_behind_the_token(http: httpx.Client, data_dir: Path) -> None:
    status, manifest = _export(http)
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    at = dt.datetime.fromisoformat(manifest["transactionTime"])
    assert at.tzinfo is not None and "$export" in manifest["request"]
    store = health.store_for(data_dir, "health")
    for kind in health.RESOURCE_TYPES:
        files = [o for o in manifest["output"] if o["type"] == kind]
        assert all(o["count"] <= 25 for o in files)
        resources = [r for o in files for r in _lines(http, o["url"])]
        assert sorted(r["id"] for r in resources) == store.ids(kind)
        for resource in resources:
            get_fhir_model_class(kind).model_validate(resource)
            assert dt.datetime.fromisoformat(resource["meta"]["lastUpdated"]) <= at
    assert httpx.get(manifest["output"][0]["url"]).status_code == 401  # requiresAccessToken
    assert http.delete(status).status_code == 202
    assert http.get(status).status_code == 404 and http.get(manifest["output"][0]["url"]).status_code == 404
    assert http.delete(status).status_code == 404


def test_since_and_type_narrow_the_export(http: httpx.Client, data_dir: Path) -> None:
    everything = [r for o in _export(http, _type="Observation")[1]["output"] for r in _lines(http, o["url"])]
    stamps = sorted(r["meta"]["lastUpdated"] for r in everything)
    cut = stamps[len(stamps) // 2]
    status, manifest = _export(http, "/fhir/Group/all/$export", _type="Observation,Encounter", _since=cut)
    assert {o["type"] for o in manifest["output"]} <= {"Observation", "Encounter"}
    observations = [r for o in manifest["output"] if o["type"] == "Observation" for r in _lines(http, o["url"])]
    # after the instant, as the IG words _since
    assert sorted(r["meta"]["lastUpdated"] for r in observations) == [s for s in stamps if s > cut]
    http.delete(status)


@pytest.mark.parametrize(("path", "params", "headers", "status"), [
    ("/fhir/$export", {}, {"Accept": "application/fhir+json"}, 400),  # no Prefer: respond-async
    ("/fhir/$export", {"_type": "Medication"}, ASYNC, 400),
    ("/fhir/$export", {"_since": "yesterday"}, ASYNC, 400),
    ("/fhir/$export", {"_outputFormat": "text/csv"}, ASYNC, 400),
    ("/fhir/Group/nobody/$export", {}, ASYNC, 404),
    ("/fhir/$export-status/no-such-job", {}, {}, 404),
])
def test_bad_kick_offs_answer_an_operation_outcome(http: httpx.Client, path: str, params: dict[str, str],
                                                   headers: dict[str, str], status: int) -> None:
    response = http.get(path, params=params, headers=headers)
    assert response.status_code == status
    OperationOutcome.model_validate(response.json())


def test_export_needs_a_token(http: httpx.Client) -> None:
    response = httpx.get(str(http.base_url).rstrip("/") + "/fhir/$export", headers=ASYNC)
    assert response.status_code == 401


def test_the_other_installation_as_served(other: httpx.Client) -> None:
    _, manifest = _export(other)
    by_type = {kind: [r for o in manifest["output"] if o["type"] == kind for r in _lines(other, o["url"])]
               for kind in health.RESOURCE_TYPES}
    for kind, resources in by_type.items():
        for resource in resources:
            get_fhir_model_class(kind).model_validate(resource)
    assert all(i["system"] == PNR_URI for p in by_type["Patient"] for i in p["identifier"])
    assert all("identifier" not in e["subject"] for e in by_type["Encounter"])  # bare references
    actors = {p["actor"]["reference"].split("/")[0] for i in by_type["Immunization"] for p in i["performer"]}
    assert actors == {"Practitioner", "PractitionerRole"}
    for actor in {p["actor"]["reference"] for i in by_type["Immunization"] for p in i["performer"]}:
        read = other.get(f"/fhir/{actor}")
        assert read.status_code == 200
        get_fhir_model_class(actor.split("/")[0]).model_validate(read.json())
    pregnancies = [c for c in by_type["Condition"] if c.get("identifier")]
    assert pregnancies and all(c["identifier"][0]["system"] == PREGNANCY_ID_SYSTEM for c in pregnancies)
    assert all(c["id"] == f"{c['identifier'][0]['value']}.{c['meta']['versionId']}" for c in pregnancies)
    assert other.get(f"/fhir/Condition/{pregnancies[0]['id']}").json() == pregnancies[0]
    stale = pregnancies[0]["identifier"][0]["value"] + ".99"
    assert other.get(f"/fhir/Condition/{stale}").status_code == 404  # an old id is gone


def test_every_second_next_link_expires(other: httpx.Client) -> None:
    first = other.get("/fhir/Observation", params={"_count": 5}).json()
    link = next(li["url"] for li in first["link"] if li["relation"] == "next")
    answers = [other.get(link) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 410, 200, 410]
    assert OperationOutcome.model_validate(answers[1].json()).issue[0].code == "deleted"
