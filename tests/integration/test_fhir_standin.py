"""The health stand-in speaks FHIR R4: every resource validates, search pages and filters,
and nothing is served without a bearer token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class  # R4B: the R4 models fhir.resources ships

from tests.support.standins import Harness, serving

TYPES = ("Patient", "Condition", "EpisodeOfCare", "Encounter", "Immunization", "Observation")
FORM = {"grant_type": "client_credentials", "client_id": "kronobarn", "client_secret": "dev-only-secret"}


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with serving("health", tmp_path_factory.mktemp("fhir"), children=200) as h:
        yield h


def _headers(h: Harness) -> dict[str, str]:
    token = httpx.post(f"http://127.0.0.1:{h.port}/oauth2/token", data=FORM).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _search(h: Harness, kind: str, **params: object) -> list[dict]:
    headers = _headers(h)
    url: str | None = f"http://127.0.0.1:{h.port}/fhir/{kind}"
    out: list[dict] = []
    query: dict | None = dict(params)
    while url:
        bundle = httpx.get(url, params=query or None, headers=headers).json()
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
        out.extend(e["resource"] for e in bundle.get("entry", []))
        url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
        query = None
    return out


def test_no_token_no_data(fhir: Harness) -> None:
    for headers in ({}, {"Authorization": "Bearer forged"}):
        response = httpx.get(f"http://127.0.0.1:{fhir.port}/fhir/Patient", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].lower().startswith("bearer")
        assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("kind", TYPES)
def test_every_resource_validates_as_fhir(fhir: Harness, kind: str) -> None:
    resources = _search(fhir, kind, _count=37)
    assert resources, f"no {kind} in a county of 200 children"
    model = get_fhir_model_class(kind)
    for resource in resources:
        model.model_validate(resource)  # raises on any invalid element
        assert resource["meta"]["lastUpdated"] and resource["meta"]["versionId"]


@pytest.mark.parametrize("kind", ["Patient", "Encounter"])
def test_paging_is_complete_and_ordered(fhir: Harness, kind: str) -> None:
    small = [r["id"] for r in _search(fhir, kind, _count=7, _sort="_lastUpdated")]
    large = [r["id"] for r in _search(fhir, kind, _count=1000, _sort="_lastUpdated")]
    assert small == large and len(set(small)) == len(small) > 7


def test_last_updated_filter_returns_only_newer(fhir: Harness) -> None:
    everything = _search(fhir, "Encounter", _count=1000)
    cut = sorted(r["meta"]["lastUpdated"] for r in everything)[len(everything) // 2]
    newer = _search(fhir, "Encounter", _count=1000, _lastUpdated=f"gt{cut}")
    assert newer and all(r["meta"]["lastUpdated"] > cut for r in newer)
    assert len(newer) == sum(1 for r in everything if r["meta"]["lastUpdated"] > cut)


def test_capability_statement(fhir: Harness) -> None:
    cap = httpx.get(f"http://127.0.0.1:{fhir.port}/fhir/metadata").json()
    assert cap["resourceType"] == "CapabilityStatement" and cap["fhirVersion"] == "4.0.1"
    get_fhir_model_class("CapabilityStatement").model_validate(cap)
