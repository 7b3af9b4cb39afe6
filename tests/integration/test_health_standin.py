"""Contract of the health stand-in's FHIR R4 API over real HTTP: auth, paging, change filters,
and every resource, bundle and outcome validated with ``fhir.resources``.

``fhir.resources`` 8 ships R5 (default), R4B and STU3 models but no plain R4. R4B only added
new resources to R4 and is structurally identical for Patient, Condition, EpisodeOfCare,
Encounter, Observation, Immunization, Bundle, CapabilityStatement and OperationOutcome, so the
R4B models validate our R4 resources.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from connectors.standins import health
from connectors.standins.auth import ALGORITHM, Credentials
from connectors.standins.common import store_for
from connectors.standins.county import County
from connectors.standins.health import vocabulary
from connectors.standins.health.server import AUDIENCE, MAX_COUNT
from connectors.standins.store import RecordStore
from services.dev.http_server import BackgroundServer
from services.kafka.broker import free_port

CHILDREN = 120
CLIENT = {"grant_type": "client_credentials", "client_id": "kronobarn", "client_secret": "dev-only-secret"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("health-standin")
    health.prepare(path, County(children=CHILDREN))
    return path


@pytest.fixture(scope="module")
def base(data_dir: Path) -> Iterator[str]:
    with BackgroundServer(health.create_app(data_dir), port=free_port()) as server:
        yield server.url


@pytest.fixture(scope="module")
def http(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=10) as anonymous:
        token = anonymous.post("/oauth2/token", data=CLIENT).json()["access_token"]
    with httpx.Client(base_url=base, timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture(scope="module")
def store(data_dir: Path) -> RecordStore:
    return store_for(data_dir, "health")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Path, httpx.Client]]:
    """A stand-in of its own, for tests that change the records."""
    health.prepare(tmp_path, County(children=CHILDREN))
    with BackgroundServer(health.create_app(tmp_path), port=free_port()) as server:
        with httpx.Client(base_url=server.url, timeout=10) as anonymous:
            token = anonymous.post("/oauth2/token", data=CLIENT).json()["access_token"]
        with httpx.Client(base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
            yield tmp_path, client


def _all(http: httpx.Client, kind: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every resource a search returns, following next links; and the number of pages."""
    resources, pages = [], 0
    response = http.get(f"/fhir/{kind}", params=params)
    while True:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/fhir+json")
        bundle = response.json()
        Bundle.model_validate(bundle)
        assert bundle["type"] == "searchset"
        pages += 1
        resources.extend(entry["resource"] for entry in bundle.get("entry", []))
        after = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not after:
            return resources, pages
        response = http.get(after[0])


def _key(resource: dict[str, Any]) -> tuple[dt.datetime, str]:
    return dt.datetime.fromisoformat(resource["meta"]["lastUpdated"]), resource["id"]


# -- auth ---------------------------------------------------------------------------------------


def test_token_endpoint_issues_bearer_tokens_for_client_credentials(base: str) -> None:
    body = httpx.post(f"{base}/oauth2/token", data=CLIENT).json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["access_token"]
    wrong = httpx.post(f"{base}/oauth2/token", data={**CLIENT, "client_secret": "guess"})
    assert wrong.status_code == 401 and wrong.json() == {"error": "invalid_client"}
    grant = httpx.post(f"{base}/oauth2/token", data={**CLIENT, "grant_type": "password"})
    assert grant.status_code == 400


def _expired_token() -> str:
    credentials = Credentials(audience=AUDIENCE)
    past = int(time.time()) - 600
    claims = {"sub": "kronobarn", "aud": AUDIENCE, "iat": past, "exp": past + 300}
    return jwt.encode(claims, credentials.signing_key, algorithm=ALGORITHM)


@pytest.mark.parametrize("path", ["/fhir/Patient", "/fhir/Observation?_count=1", "/fhir/Encounter/any-id"])
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic a3Jvbm9iYXJu", "expired"])
def test_fhir_endpoints_refuse_requests_without_a_valid_token(base: str, path: str, authorization: str | None) -> None:
    headers = {}
    if authorization == "expired":
        headers["Authorization"] = f"Bearer {_expired_token()}"
    elif authorization:
        headers["Authorization"] = authorization
    response = httpx.get(f"{base}{path}", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    outcome = OperationOutcome.model_validate(response.json())
    assert outcome.issue[0].code == "login"


def test_capability_statement_is_open_and_names_the_token_endpoint(base: str) -> None:
    statement = httpx.get(f"{base}/fhir/metadata").json()
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert {r["type"] for r in statement["rest"][0]["resource"]} == set(health.RESOURCE_TYPES)
    [uris] = statement["rest"][0]["security"]["extension"]
    assert uris["extension"][0]["valueUri"] == f"{base}/oauth2/token"


# -- resources ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", health.RESOURCE_TYPES)
def test_every_resource_validates_as_fhir_and_is_marked_synthetic(http: httpx.Client, kind: str, store: RecordStore) -> None:
    model = get_fhir_model_class(kind)
    resources, _ = _all(http, kind, _count=MAX_COUNT)
    assert len(resources) == store.count(kind) > 0
    for resource in resources:
        model.model_validate(resource)
        assert resource["resourceType"] == kind
        assert {"code": "synthetic"}.items() <= resource["meta"]["tag"][1].items()
        assert resource["meta"]["versionId"] == "1"


def test_children_carry_personnummer_and_newborns_link_their_pregnancy(http: httpx.Client) -> None:
    patients, _ = _all(http, "Patient", _count=500)
    conditions, _ = _all(http, "Condition", _count=500)
    pregnancies = {c["id"] for c in conditions if c["code"]["coding"][0]["code"] == vocabulary.PREGNANCY[0]}
    links = [e["valueReference"]["reference"] for p in patients for e in p.get("extension", [])
             if e["url"] == vocabulary.EXT_PREGNANCY]
    assert links and all(link.removeprefix("Condition/") in pregnancies for link in links)
    for patient in patients:
        [identifier] = patient["identifier"]
        assert identifier["system"] == vocabulary.PNR_SYSTEM and len(identifier["value"]) == 12


# -- paging and change filters ------------------------------------------------------------------


@pytest.mark.parametrize("kind", health.RESOURCE_TYPES)
def test_paging_returns_each_resource_once_in_last_updated_order(http: httpx.Client, store: RecordStore, kind: str) -> None:
    resources, pages = _all(http, kind, _count=7, _sort="_lastUpdated")
    ids = [r["id"] for r in resources]
    assert sorted(ids) == store.ids(kind)  # nothing skipped, nothing twice
    keys = [_key(r) for r in resources]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert pages == -(-len(resources) // 7)


def test_last_updated_gt_and_ge_filter_changes(http: httpx.Client) -> None:
    everything, _ = _all(http, "Observation", _count=MAX_COUNT)
    middle = everything[len(everything) // 2]["meta"]["lastUpdated"]
    after, _ = _all(http, "Observation", _lastUpdated=f"gt{middle}", _count=50)
    from_, _ = _all(http, "Observation", _lastUpdated=f"ge{middle}", _count=50)
    cut = dt.datetime.fromisoformat(middle)
    assert [r["id"] for r in after] == [r["id"] for r in everything if _key(r)[0] > cut]
    assert [r["id"] for r in from_] == [r["id"] for r in everything if _key(r)[0] >= cut]
    zulu, _ = _all(http, "Observation", _lastUpdated="gt" + cut.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), _count=50)
    assert zulu == after


def test_equal_timestamps_are_split_across_pages_without_loss(fresh: tuple[Path, httpx.Client]) -> None:
    data_dir, http = fresh
    tie = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC)
    template = _all(http, "Encounter", _count=1)[0][0]
    for n in range(5):
        health.put(data_dir, {**template, "id": f"tie-{n}"}, at=tie)
    resources, pages = _all(http, "Encounter", _lastUpdated="gt2029-12-31T00:00:00+00:00", _count=2)
    assert [r["id"] for r in resources] == [f"tie-{n}" for n in range(5)] and pages == 3
    assert all(r["meta"]["lastUpdated"] == resources[0]["meta"]["lastUpdated"] for r in resources)
    later, _ = _all(http, "Encounter", _lastUpdated=f"gt{resources[0]['meta']['lastUpdated']}")
    assert later == []


def test_simulated_changes_are_found_by_last_updated(fresh: tuple[Path, httpx.Client]) -> None:
    data_dir, http = fresh
    before = dt.datetime.now(dt.UTC)
    assert health.simulate(data_dir, County(children=CHILDREN), 8) == 8
    changed = {kind: _all(http, kind, _lastUpdated=f"gt{before.isoformat()}")[0] for kind in health.RESOURCE_TYPES}
    counts = {kind: len(found) for kind, found in changed.items() if found}
    # two new observations and one amended; one visit new and one retracted; deletions vanish
    assert counts == {"Observation": 3, "Encounter": 2, "Immunization": 1, "Condition": 1}
    statuses = sorted(r["status"] for r in changed["Encounter"])
    assert statuses == ["entered-in-error", "finished"]
    assert any(r["meta"]["versionId"] == "2" and r["status"] == "amended" for r in changed["Observation"])
    for kind, found in changed.items():
        for resource in found:
            get_fhir_model_class(kind).model_validate(resource)


def test_read_by_id_and_deleted_resources(fresh: tuple[Path, httpx.Client]) -> None:
    data_dir, http = fresh
    [first] = _all(http, "Immunization", _count=1)[0][:1]
    read = http.get(f"/fhir/Immunization/{first['id']}")
    assert read.status_code == 200 and read.json() == first and read.headers["etag"] == 'W/"1"'
    health.delete(data_dir, "Immunization", first["id"])
    gone = http.get(f"/fhir/Immunization/{first['id']}")
    assert gone.status_code == 410 and OperationOutcome.model_validate(gone.json()).issue[0].code == "deleted"
    assert first["id"] not in {r["id"] for r in _all(http, "Immunization", _count=MAX_COUNT)[0]}
    assert http.get("/fhir/Immunization/no-such-id").status_code == 404


@pytest.mark.parametrize(("path", "status"), [
    ("/fhir/Patient?_count=abc", 400),
    ("/fhir/Patient?_count=0", 400),
    ("/fhir/Patient?_sort=-_lastUpdated", 400),
    ("/fhir/Patient?_lastUpdated=lt2026-01-01T00:00:00Z", 400),
    ("/fhir/Patient?_lastUpdated=gtyesterday", 400),
    ("/fhir/Patient?ct=not-ours", 400),
    ("/fhir/MedicationRequest", 404),
])
def test_bad_searches_answer_an_operation_outcome(http: httpx.Client, path: str, status: int) -> None:
    response = http.get(path)
    assert response.status_code == status
    OperationOutcome.model_validate(response.json())


def test_count_above_the_maximum_is_capped(http: httpx.Client) -> None:
    bundle = http.get("/fhir/Observation", params={"_count": MAX_COUNT * 10}).json()
    assert len(bundle["entry"]) <= MAX_COUNT
    assert any(link["relation"] == "next" for link in bundle["link"]) == (len(bundle["entry"]) == MAX_COUNT)


# -- storage --------------------------------------------------------------------------------------


def _rows(path: Path) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(path / "health.db") as db:
        return db.execute("SELECT kind, id, version, modified, deleted, body FROM records ORDER BY kind, id").fetchall()


def test_same_seed_gives_identical_storage_and_prepare_is_idempotent(tmp_path: Path) -> None:
    county = County(children=60)
    health.prepare(tmp_path / "a", county)
    health.prepare(tmp_path / "b", county)
    first = _rows(tmp_path / "a")
    assert first and first == _rows(tmp_path / "b")
    health.prepare(tmp_path / "a", county)  # already loaded: nothing changes
    assert _rows(tmp_path / "a") == first
    health.prepare(tmp_path / "a", County(children=60, seed=7))  # another county replaces it
    assert _rows(tmp_path / "a") != first
