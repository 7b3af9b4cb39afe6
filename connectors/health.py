"""Health connector: FHIR R4 search into ``intake.health``.

Reads Patient first (each patient's personnummer and, for a newborn, the pregnancy it came
from), then Condition, EpisodeOfCare, Encounter, Immunization and Observation changed since
the checkpoint, following Bundle ``next`` links. Resumes with ``_lastUpdated=ge`` and skips
what it already has at that instant, so equal timestamps are neither lost nor repeated.

Mapping: pregnancy Condition (SNOMED 118185001) -> PregnancyRegistered for the unborn child;
a Patient linked to a pregnancy -> ChildBorn (the unborn child's id carries over); BHV
EpisodeOfCare -> HealthUnitListed; Encounter -> HealthVisitRecorded; Immunization ->
ImmunizationRecorded; Observation -> ObservationRecorded; other Conditions -> ConditionNoted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from connectors.base import Connector, Fact, MappingError, SourceRecord, Subject
from connectors.http import TokenClient, required
from schemas.events import (
    ChildBorn,
    ConditionNoted,
    HealthUnitListed,
    HealthVisitRecorded,
    ImmunizationRecorded,
    ObservationRecorded,
    PregnancyRegistered,
)

PNR_SYSTEM = "urn:oid:1.2.752.129.2.1.3.1"
PREGNANCY_CODE = "118185001"
EXT_MUNICIPALITY = "urn:kronobarn:fhir:municipality-code"
EXT_PREGNANCY = "urn:kronobarn:fhir:pregnancy"
EXT_EXPECTED = "urn:kronobarn:fhir:expected-delivery-date"
EXT_UNIT = "urn:kronobarn:fhir:registering-unit"
TYPES = ("Condition", "EpisodeOfCare", "Encounter", "Immunization", "Observation")
UNKNOWN_PATIENT = "{kind} refers to a patient the server did not list"
MISSING = "{kind} lacks {field}"


class HealthConnector(Connector):
    name: ClassVar[str] = "health"
    system: ClassVar[str] = "cosmic"
    cursor_field: ClassVar[str] = "meta.lastUpdated"

    def __init__(self, client: TokenClient, batch_size: int) -> None:
        self._client = client
        self._batch = batch_size
        self._patients: dict[str, dict[str, Any]] = {}  # id -> personnummer, municipality, pregnancy
        self._patients_loaded = False

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> HealthConnector:
        client = TokenClient("fhir", required(source, "url"), required(source, "token_url"),
                             required(source, "client_id"), required(source, "client_secret"))
        return cls(client, batch_size)

    async def _search(self, kind: str, after: list[str] | None) -> AsyncIterator[list[dict[str, Any]]]:
        params: dict[str, Any] = {"_count": self._batch, "_sort": "_lastUpdated"}
        if after:
            params["_lastUpdated"] = f"ge{after[0]}"
        url: str | None = kind
        while url is not None:
            bundle = await self._client.get_json(url, params)
            resources = [e["resource"] for e in bundle.get("entry", [])]
            if after:  # ge repeats what sits exactly at the checkpoint instant: drop what we had
                resources = [r for r in resources if (r["meta"]["lastUpdated"], r["id"]) > (after[0], after[1])]
            if resources:
                yield resources
            url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
            params = {}

    async def read(self, since: str | None) -> AsyncIterator[list[SourceRecord]]:
        positions: dict[str, list[str]] = json.loads(since) if since else {}
        patients_after = None if not self._patients_loaded else positions.get("Patient")
        async for resources in self._search("Patient", patients_after):
            page = []
            for patient in resources:
                self._patients[patient["id"]] = _patient_facts(patient)
                seen = positions.get("Patient")
                position = [patient["meta"]["lastUpdated"], patient["id"]]
                if seen is None or position > seen:
                    positions["Patient"] = position
                    page.append(self._record(patient, positions))
            if page:
                yield page
        self._patients_loaded = True
        for kind in TYPES:
            async for resources in self._search(kind, positions.get(kind)):
                page = []
                for resource in resources:
                    positions[kind] = [resource["meta"]["lastUpdated"], resource["id"]]
                    page.append(self._record(resource, positions))
                yield page

    def _record(self, resource: dict[str, Any], positions: dict[str, list[str]]) -> SourceRecord:
        kind = resource["resourceType"]
        ref = _subject_ref(resource)
        data = {**resource, "_patient": self._patients.get(ref) if ref else None}
        return SourceRecord(kind, resource["id"], resource["meta"].get("versionId", "1"),
                            json.dumps(positions, sort_keys=True), data)

    def map(self, record: SourceRecord) -> list[Fact]:
        r = record.data
        kind = record.kind
        if kind == "Patient":
            link = _extension(r, EXT_PREGNANCY)
            if not link:
                return []  # a patient record alone is directory data, not a fact
            info = _patient_facts(r)
            born = _date(r.get("birthDate"), kind, "birthDate")
            pregnancy = link["valueReference"]["reference"].split("/")[-1]
            return [Fact(ChildBorn, Subject(personnummer=info["personnummer"], pregnancy=pregnancy),
                         _midnight(born), info.get("unit") or "region", {
                             "birth_date": born, "municipality_code": _need(info.get("municipality"), kind, "municipality"),
                             "pregnancy_event_id": None}, version="born")]
        if kind == "Condition" and _code(r) == PREGNANCY_CODE:
            unit = _org(_extension(r, EXT_UNIT), kind)
            mother = r.get("_patient") or {}
            expected = _extension(r, EXT_EXPECTED)
            return [Fact(PregnancyRegistered, Subject(pregnancy=r["id"]), _instant(r.get("onsetDateTime"), kind), unit, {
                "unit_id": unit, "municipality_code": _need(mother.get("municipality"), kind, "municipality"),
                "expected_birth_date": _date(expected and expected.get("valueDate"), kind, "expected delivery date")})]
        subject = Subject(personnummer=_pnr(r, kind))
        if kind == "Condition":
            unit = _org(_extension(r, EXT_UNIT), kind)
            status = ((r.get("clinicalStatus") or {}).get("coding") or [{}])[0].get("code", "unknown")
            noted = _date(r.get("recordedDate"), kind, "recordedDate")
            return [Fact(ConditionNoted, subject, _midnight(noted), unit, {
                "unit_id": unit, "code": _need(_code(r), kind, "code"), "clinical_status": status, "noted_on": noted})]
        if kind == "EpisodeOfCare":
            unit = _org(r.get("managingOrganization"), kind)
            listed = _date((r.get("period") or {}).get("start"), kind, "period.start")
            return [Fact(HealthUnitListed, subject, _midnight(listed), unit, {"unit_id": unit, "listed_on": listed})]
        if kind == "Encounter":
            unit = _org(r.get("serviceProvider"), kind)
            when = _instant((r.get("period") or {}).get("start"), kind)
            visit = ((r.get("type") or [{}])[0]).get("text") or "VISIT"
            return [Fact(HealthVisitRecorded, subject, when, unit, {"unit_id": unit, "visit_type": visit, "visited_on": when.date()})]
        if kind == "Immunization":
            unit = _org(((r.get("performer") or [{}])[0]).get("actor"), kind)
            when = _instant(r.get("occurrenceDateTime"), kind)
            dose = ((r.get("protocolApplied") or [{}])[0]).get("doseNumberPositiveInt") or 1
            return [Fact(ImmunizationRecorded, subject, when, unit, {
                "unit_id": unit, "vaccine_code": _need(_code(r, "vaccineCode"), kind, "vaccineCode"),
                "dose_number": int(dose), "given_on": when.date()})]
        if kind == "Observation":
            unit = _org((r.get("performer") or [None])[0], kind)
            when = _instant(r.get("effectiveDateTime"), kind)
            quantity = r.get("valueQuantity") or {}
            return [Fact(ObservationRecorded, subject, when, unit, {
                "unit_id": unit, "code": _need(_code(r), kind, "code"),
                "value": str(_need(quantity.get("value"), kind, "value")), "unit": quantity.get("code"),
                "observed_on": when.date()})]
        raise MappingError(f"unsupported resource type {kind!r}")

    async def aclose(self) -> None:
        await self._client.aclose()


def _patient_facts(patient: Mapping[str, Any]) -> dict[str, Any]:
    pnr = next((i.get("value") for i in patient.get("identifier", []) if i.get("system") == PNR_SYSTEM), None)
    municipality = _extension(patient, EXT_MUNICIPALITY)
    return {"personnummer": pnr, "municipality": municipality and municipality.get("valueString")}


def _subject_ref(resource: Mapping[str, Any]) -> str | None:
    ref = (resource.get("subject") or resource.get("patient") or {}).get("reference")
    return ref.split("/")[-1] if ref and ref.startswith("Patient/") else None


def _pnr(r: Mapping[str, Any], kind: str) -> str:
    patient = r.get("_patient")
    if not patient or not patient.get("personnummer"):
        raise MappingError(UNKNOWN_PATIENT.format(kind=kind))
    return str(patient["personnummer"])


def _extension(r: Mapping[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in r.get("extension", []) if e.get("url") == url), None)


def _code(r: Mapping[str, Any], element: str = "code") -> str | None:
    codings = (r.get(element) or {}).get("coding") or []
    return codings[0].get("code") if codings else None


def _org(ref: Mapping[str, Any] | None, kind: str) -> str:
    reference = ((ref or {}).get("valueReference") or ref or {}).get("reference", "")
    if not reference.startswith("Organization/"):
        raise MappingError(MISSING.format(kind=kind, field="an organisation"))
    return reference.split("/", 1)[1]


def _need(value: Any, kind: str, field: str) -> Any:
    if value in (None, ""):
        raise MappingError(MISSING.format(kind=kind, field=field))
    return value


def _date(value: Any, kind: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(_need(value, kind, field))[:10])
    except ValueError:
        raise MappingError(MISSING.format(kind=kind, field=f"a valid {field}")) from None


def _instant(value: Any, kind: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(_need(value, kind, "a date")))
    except ValueError:
        raise MappingError(MISSING.format(kind=kind, field="a valid date")) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
