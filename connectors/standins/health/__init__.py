"""Stand-in for the region's health records (Cambio Cosmic-style), speaking FHIR R4.

``GET /fhir/{Patient|Condition|EpisodeOfCare|Encounter|Immunization|Observation}`` searches
with ``_lastUpdated=gt<instant>``, ``_count`` and ``_sort=_lastUpdated``, answering searchset
Bundles whose ``next`` link carries an opaque ``_cursor``. ``GET /fhir/metadata`` is the
CapabilityStatement. Bearer tokens come from OAuth2 client credentials at ``/oauth2/token``;
without one every FHIR call is 401 with an OperationOutcome. Default port 8101.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from connectors.standins.auth import Credentials, require_token, token_router
from connectors.standins.common import at, feed_start, label, store_for
from connectors.standins.county import Child, County
from connectors.standins.registry import Standin
from connectors.standins.store import RecordStore, Row, stamp

NAME = "health"
RESOURCE_TYPES = ("Patient", "Condition", "EpisodeOfCare", "Encounter", "Immunization", "Observation")
PNR_SYSTEM = "urn:oid:1.2.752.129.2.1.3.1"  # Swedish personnummer
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
EXT_MUNICIPALITY = "urn:kronobarn:fhir:municipality-code"
EXT_PREGNANCY = "urn:kronobarn:fhir:pregnancy"
EXT_EXPECTED = "urn:kronobarn:fhir:expected-delivery-date"
EXT_UNIT = "urn:kronobarn:fhir:registering-unit"
SYNTHETIC = {"system": "urn:kronobarn:fhir", "code": "synthetic"}
PREGNANCY = ("118185001", "Finding related to pregnancy")
ASTHMA = ("195967001", "Asthma")
VISIT_AGES_D = (7, 30, 60, 90, 180, 300, 365, 540, 730, 1095, 1460, 1825)
VACCINES = ((90, "J07CA09", "DTaP-IPV-Hib-HepB", 1), (150, "J07CA09", "DTaP-IPV-Hib-HepB", 2),
            (365, "J07CA09", "DTaP-IPV-Hib-HepB", 3), (540, "J07BD52", "MMR", 1), (1825, "J07CA02", "DTaP-IPV", 4))
MAX_COUNT = 1_000


def _ref(kind: str, rid: str) -> dict[str, str]:
    return {"reference": f"{kind}/{rid}"}


def _patient(rid: str, person: Any, code: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "resourceType": "Patient", "id": rid, "meta": {"tag": [SYNTHETIC]},
        "identifier": [{"system": PNR_SYSTEM, "value": person.personnummer.replace("-", "")}],
        "name": [{"family": person.family_name, "given": [person.given_name]}],
        "birthDate": person.birth_date.isoformat(),
        "extension": [{"url": EXT_MUNICIPALITY, "valueString": code}, *(extra or [])],
    }


def resources_of(county: County, child: Child) -> Iterator[tuple[str, str, dt.datetime, dict[str, Any]]]:
    code, i = child.municipality_code, child.index
    mhv, bhv = county.unit("MHV", code).id, county.unit("BHV", code).id
    rng = county.rng(NAME, i)
    preg_id = f"preg-{i:06d}"
    if child.pregnancy_registered_on is not None:
        mother_id = f"mother-{i:06d}"
        registered = child.pregnancy_registered_on
        yield "Patient", mother_id, at(feed_start(county, registered), i, 7), _patient(mother_id, child.mother, code)
        yield "Condition", preg_id, at(feed_start(county, registered), i, 9), {
            "resourceType": "Condition", "id": preg_id, "meta": {"tag": [SYNTHETIC]},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "code": {"coding": [{"system": SNOMED, "code": PREGNANCY[0], "display": PREGNANCY[1]}]},
            "subject": _ref("Patient", mother_id), "onsetDateTime": registered.isoformat(),
            "extension": [{"url": EXT_EXPECTED, "valueDate": child.birth_date.isoformat()},
                          {"url": EXT_UNIT, "valueReference": _ref("Organization", mhv)}],
        }
    if child.person is None:
        return
    pid = f"patient-{i:06d}"
    link = [{"url": EXT_PREGNANCY, "valueReference": _ref("Condition", preg_id)}] if child.pregnancy_registered_on else []
    yield "Patient", pid, at(feed_start(county, child.birth_date), i, 7), _patient(pid, child.person, code, link)
    if (county.as_of - child.birth_date).days > 6 * 365:
        if rng.random() < 0.03:
            noted = feed_start(county, child.birth_date) + dt.timedelta(days=rng.randrange(0, 300))
            if noted < county.as_of:
                yield from _condition(i, pid, noted, code, bhv)
        return  # school-age children: the rest belongs to school health care, not BHV
    listed = child.birth_date + dt.timedelta(days=rng.randrange(3, 14))
    if listed < county.as_of:
        eoc = f"eoc-{i:06d}"
        yield "EpisodeOfCare", eoc, at(feed_start(county, listed), i, 10), {
            "resourceType": "EpisodeOfCare", "id": eoc, "meta": {"tag": [SYNTHETIC]}, "status": "active",
            "type": [{"text": "BHV"}], "patient": _ref("Patient", pid),
            "managingOrganization": _ref("Organization", bhv), "period": {"start": listed.isoformat()}}
    for n, age in enumerate(VISIT_AGES_D):
        day = child.birth_date + dt.timedelta(days=age + rng.randrange(0, 10))
        if not county.window_start <= day < county.as_of:
            continue
        enc = f"enc-{i:06d}-{n}"
        yield "Encounter", enc, at(day, i, 11), {
            "resourceType": "Encounter", "id": enc, "meta": {"tag": [SYNTHETIC]}, "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [{"text": f"BHV-{age}D"}], "subject": _ref("Patient", pid),
            "serviceProvider": _ref("Organization", bhv), "period": {"start": at(day, i, 11).isoformat()}}
        obs = f"obs-{i:06d}-{n}"
        kg = round(3.5 + age * 0.012 + rng.uniform(-0.5, 0.5), 2)
        yield "Observation", obs, at(day, i, 12), {
            "resourceType": "Observation", "id": obs, "meta": {"tag": [SYNTHETIC]}, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]},
            "subject": _ref("Patient", pid), "encounter": _ref("Encounter", enc),
            "effectiveDateTime": at(day, i, 12).isoformat(), "performer": [_ref("Organization", bhv)],
            "valueQuantity": {"value": kg, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
    for age, atc, display, dose in VACCINES:
        day = child.birth_date + dt.timedelta(days=age + rng.randrange(0, 20))
        if not county.window_start <= day < county.as_of:
            continue
        imm = f"imm-{i:06d}-{dose}-{atc}"
        yield "Immunization", imm, at(day, i, 13), {
            "resourceType": "Immunization", "id": imm, "meta": {"tag": [SYNTHETIC]}, "status": "completed",
            "vaccineCode": {"coding": [{"system": ATC, "code": atc, "display": display}]},
            "patient": _ref("Patient", pid), "occurrenceDateTime": at(day, i, 13).isoformat(),
            "performer": [{"actor": _ref("Organization", bhv)}], "protocolApplied": [{"doseNumberPositiveInt": dose}]}


def _condition(i: int, pid: str, noted: dt.date, code: str, unit: str) -> Iterator[Any]:
    cid = f"cond-{i:06d}"
    yield "Condition", cid, at(noted, i, 14), {
        "resourceType": "Condition", "id": cid, "meta": {"tag": [SYNTHETIC]},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": SNOMED, "code": ASTHMA[0], "display": ASTHMA[1]}]},
        "subject": _ref("Patient", pid), "recordedDate": noted.isoformat(),
        "extension": [{"url": EXT_UNIT, "valueReference": _ref("Organization", unit)}]}


def prepare(data_dir: Path, county: County) -> RecordStore:
    store = store_for(data_dir, NAME)
    store.fill(label(county), (r for child in county for r in resources_of(county, child)))
    return store


def simulate(data_dir: Path, county: County, n: int) -> None:
    """``n`` new weight observations, recorded now, for random listed children."""
    store = store_for(data_dir, NAME)
    rng = random.Random()
    episodes = store.ids("EpisodeOfCare")
    now = dt.datetime.now(dt.UTC)
    for _ in range(n):
        episode = store.get("EpisodeOfCare", rng.choice(episodes)) if episodes else None
        if episode is None:
            continue
        obs = f"obs-sim-{rng.randrange(10**12)}"
        store.put("Observation", obs, {
            "resourceType": "Observation", "id": obs, "meta": {"tag": [SYNTHETIC]}, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]},
            "subject": episode.body["patient"], "effectiveDateTime": now.isoformat(),
            "performer": [episode.body["managingOrganization"]],
            "valueQuantity": {"value": round(rng.uniform(4, 20), 2), "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}})


def _outcome(status: int, code: str, text: str) -> JSONResponse:
    return JSONResponse({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]},
                        status_code=status, media_type="application/fhir+json",
                        headers={"WWW-Authenticate": 'Bearer realm="fhir"'} if status == 401 else None)


def _resource(row: Row) -> dict[str, Any]:
    body = dict(row.body)
    body["meta"] = {**body.get("meta", {}), "versionId": str(row.version), "lastUpdated": row.modified}
    return body


def _cursor(row: Row) -> str:
    return base64.urlsafe_b64encode(f"{row.modified}|{row.id}".encode()).decode()


def app(data_dir: Path, credentials: Credentials | None = None) -> FastAPI:
    credentials = credentials or Credentials(audience="fhir")
    store = store_for(data_dir, NAME)
    api = FastAPI(title="Health records stand-in (FHIR R4)", version="4.0.1")
    api.include_router(token_router(credentials))
    auth = require_token(credentials)

    @api.exception_handler(HTTPException)
    async def as_outcome(request: Request, exc: HTTPException) -> JSONResponse:
        return _outcome(exc.status_code, "security" if exc.status_code == 401 else "invalid", str(exc.detail))

    @api.get("/fhir/metadata")
    def metadata() -> dict[str, Any]:
        return {"resourceType": "CapabilityStatement", "status": "active", "date": "2026-01-01", "kind": "instance",
                "fhirVersion": "4.0.1", "format": ["json"],
                "rest": [{"mode": "server", "resource": [
                    {"type": t, "interaction": [{"code": "search-type"}],
                     "searchParam": [{"name": "_lastUpdated", "type": "date"}]} for t in RESOURCE_TYPES]}]}

    for resource_type in RESOURCE_TYPES:
        def search(request: Request, _count: Annotated[int, Query(ge=1, le=MAX_COUNT)] = 100,
                   _lastUpdated: str | None = None, _cursor: str | None = None, _sort: str | None = None,  # noqa: N803
                   _type: str = resource_type) -> JSONResponse:
            position = _position(_cursor, _lastUpdated)
            rows = store.feed(_type, position, _count)
            links = [{"relation": "self", "url": str(request.url)}]
            if len(rows) == _count:
                links.append({"relation": "next", "url": str(request.url.remove_query_params(["_cursor", "_lastUpdated"])
                                                           .include_query_params(_cursor=_cursor_of(rows[-1]), _count=_count))})
            bundle = {"resourceType": "Bundle", "type": "searchset", "link": links,
                      "entry": [{"fullUrl": f"{_type}/{r.id}", "resource": _resource(r), "search": {"mode": "match"}}
                                for r in rows]}
            return JSONResponse(bundle, media_type="application/fhir+json")

        api.add_api_route(f"/fhir/{resource_type}", search, methods=["GET"], dependencies=[auth],
                          name=f"search_{resource_type}")
    return api


_cursor_of = _cursor


def _position(cursor: str | None, last_updated: str | None) -> tuple[str, str] | None:
    if cursor:
        try:
            modified, sep, rid = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(400, detail="_cursor is not one this server issued") from None
        if sep:
            return modified, rid
        raise HTTPException(400, detail="_cursor is not one this server issued")
    if last_updated:
        prefix = last_updated[:2]
        if prefix not in ("gt", "ge"):
            raise HTTPException(400, detail="_lastUpdated supports the gt and ge prefixes")
        try:
            instant = stamp(dt.datetime.fromisoformat(last_updated[2:].replace("Z", "+00:00")))
            return instant, "\uffff" if prefix == "gt" else ""
        except ValueError:
            raise HTTPException(400, detail="_lastUpdated needs an ISO 8601 instant") from None
    return None


STANDIN = Standin(NAME, "health records (FHIR R4, Cosmic-style)", 8101, prepare, app, simulate)
