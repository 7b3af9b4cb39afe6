"""The health connector's mapping and cursor, from hand-written FHIR resources (no I/O)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import health_mapping as hm
from connectors.base import MappingError, SourceRecord, Subject
from connectors.health import HealthConnector, Position, format_cursor, parse_cursor
from connectors.health_mapping import Mapper
from connectors.parties import PartyIds
from connectors.population import PopulationConnector
from connectors.standins.county import County
from connectors.standins.health import generate
from connectors.standins.health import vocabulary as vocab
from schemas.events import (
    ChildBorn,
    ConditionNoted,
    HealthUnitListed,
    HealthVisitRecorded,
    ImmunizationRecorded,
    ObservationRecorded,
    PregnancyRegistered,
)

CHILD_PNR = "20250309-9901"  # born 2025-03-09, synthetic serial 990
MOTHER_PNR = "19920514-9942"
UPDATED = "2026-05-02T09:30:00.000000+00:00"
BHV = "SE2321000065-BHV0780"
MHV = "SE2321000065-MHV0780"


def patient_ref(pnr: str = CHILD_PNR) -> dict[str, Any]:
    return {"reference": "Patient/p1", "identifier": {"system": hm.PNR_SYSTEM, "value": pnr.replace("-", "")}}


def org(unit: str = BHV) -> dict[str, Any]:
    return {"reference": f"Organization/{unit}", "identifier": {"system": hm.HSA_SYSTEM, "value": unit}}


def meta() -> dict[str, Any]:
    return {"versionId": "1", "lastUpdated": UPDATED}


def newborn() -> dict[str, Any]:
    return {
        "resourceType": "Patient", "id": "p1", "meta": meta(),
        "extension": [{"url": hm.EXT_PREGNANCY, "valueReference": {"reference": "Condition/preg-1"}}],
        "identifier": [{"system": hm.PNR_SYSTEM, "value": CHILD_PNR.replace("-", "")}],
        "name": [{"family": "Nilsson", "given": ["Alva", "Maria"]}],
        "birthDate": "2025-03-09",
        "_birthDate": {"extension": [{"url": hm.BIRTH_TIME, "valueDateTime": "2025-03-09T03:14:00+01:00"}]},
        "address": [{"city": "Växjö", "extension": [{"url": hm.EXT_MUNICIPALITY, "valueCoding": {"code": "0780"}}]}],
    }


def pregnancy() -> dict[str, Any]:
    return {
        "resourceType": "Condition", "id": "preg-1", "meta": meta(),
        "extension": [
            {"url": hm.EXT_EXPECTED_DELIVERY, "valueDate": "2025-03-12"},
            {"url": hm.EXT_RECORDING_UNIT, "valueReference": org(MHV)},
            {"url": hm.EXT_MUNICIPALITY, "valueCoding": {"code": "0780"}},
        ],
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": hm.SNOMED, "code": "118185001"}]},
        "subject": patient_ref(MOTHER_PNR),
        "recordedDate": "2024-07-20T10:00:00+02:00",
    }


def encounter(**changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "Encounter", "id": "e1", "meta": meta(), "status": "finished",
        "class": {"code": "AMB"}, "type": [{"coding": [{"system": vocab.VISIT_TYPE, "code": "bhv-12m"}]}],
        "subject": patient_ref(), "period": {"start": "2026-03-10T09:00:00+00:00"}, "serviceProvider": org(),
        **changes,
    }


def observation(**changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": "o1", "meta": meta(), "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}, "subject": patient_ref(),
        "effectiveDateTime": "2026-03-10T09:10:00Z", "performer": [org()],
        "valueQuantity": {"value": 9.42, "unit": "kg", "code": "kg"}, **changes,
    }


def immunization(**changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "Immunization", "id": "i1", "meta": meta(), "status": "completed",
        "vaccineCode": {"coding": [{"system": vocab.ATC, "code": "J07CA09"}]}, "patient": patient_ref(),
        "occurrenceDateTime": "2026-03-10T09:20:00+00:00", "performer": [{"actor": org()}],
        "protocolApplied": [{"doseNumberPositiveInt": 3}], **changes,
    }


def listing(**changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "EpisodeOfCare", "id": "l1", "meta": meta(), "status": "active",
        "type": [{"coding": [{"system": vocab.CARE_TYPE, "code": "BHV"}]}], "patient": patient_ref(),
        "managingOrganization": org(), "period": {"start": "2025-03-15"}, **changes,
    }


def condition(**changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition", "id": "c1", "meta": meta(),
        "extension": [{"url": hm.EXT_RECORDING_UNIT, "valueReference": org()}],
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": hm.SNOMED, "code": "24079001"}]},
        "subject": patient_ref(), "recordedDate": "2026-02-01T08:00:00+00:00", **changes,
    }


def facts(resource: Mapping[str, Any], mapper: Mapper | None = None) -> list[Any]:
    return (mapper or Mapper()).facts(resource["resourceType"], resource)


# -- each resource type ----------------------------------------------------------------------


def test_pregnancy_registers_the_unborn_child_under_the_pregnancy_id() -> None:
    [fact] = facts(pregnancy())
    assert fact.event is PregnancyRegistered
    assert fact.subject == Subject(pregnancy="preg-1")
    assert fact.organisation_id == MHV
    assert dict(fact.fields) == {"unit_id": MHV, "municipality_code": "0780",
                                 "expected_birth_date": dt.date(2025, 3, 12),
                                 "expectant_parent_id": PartyIds().party_id(MOTHER_PNR)}
    assert fact.occurred_at == dt.datetime(2024, 7, 20, 8, 0, tzinfo=dt.UTC)
    assert fact.personal == {"expectant_parent_personnummer": MOTHER_PNR}
    assert fact.version == "registered"  # resolving the pregnancy at birth is no new registration


def test_expectant_parent_gets_the_party_id_the_population_register_gives_the_guardian() -> None:
    """Same secret, same person: the id a pre-birth consent names is the guardian's at birth."""
    source = {"url": "http://x", "token_url": "http://x/t", "client_id": "a", "client_secret": "b",
              "party_secret": "county secret"}
    health = HealthConnector.from_config(source, 10)
    population = PopulationConnector.from_config(source, 10)
    [fact] = health.map(SourceRecord("Condition", "preg-1", "1", "c", pregnancy()))
    assert fact.fields["expectant_parent_id"] == population.guardian_id(MOTHER_PNR)
    assert fact.fields["expectant_parent_id"] != PartyIds().party_id(MOTHER_PNR)  # the secret matters
    assert MOTHER_PNR.replace("-", "") not in str(fact.fields["expectant_parent_id"])
    # guardian_secret, the population connector's older key, gives the same ids
    older = {**{k: v for k, v in source.items() if k != "party_secret"}, "guardian_secret": "county secret"}
    assert PopulationConnector.from_config(older, 10).guardian_id(MOTHER_PNR) == population.guardian_id(MOTHER_PNR)


@pytest.mark.parametrize("subject", [None, {"reference": "Patient/p9"}, patient_ref("19920514-9941")],
                         ids=["no subject", "no personnummer", "bad check digit"])
def test_pregnancy_without_a_valid_parent_personnummer_has_no_parent_id(subject: Any) -> None:
    [fact] = facts({**pregnancy(), "subject": subject})
    assert fact.fields["expectant_parent_id"] is None and fact.personal is None


def test_party_secret_is_checked_without_echoing_it() -> None:
    good = {"url": "http://fhir/fhir", "token_url": "http://fhir/oauth2/token", "client_id": "hub", "client_secret": "s"}
    with pytest.raises(ValueError, match="party_secret"):
        HealthConnector.from_config({**good, "party_secret": ""}, 10)
    with pytest.raises(ValueError, match="party_secret") as caught:
        PopulationConnector.from_config({**good, "party_secret": "one-value", "guardian_secret": "other-value"}, 10)
    assert "one-value" not in str(caught.value) and "other-value" not in str(caught.value)
    assert "s3cret-value" not in repr(PartyIds("s3cret-value"))


def test_newborn_carries_the_unborn_id_over_through_its_pregnancy() -> None:
    [fact] = facts(newborn())
    assert fact.event is ChildBorn
    assert fact.subject == Subject(personnummer=CHILD_PNR, pregnancy="preg-1")
    assert dict(fact.fields) == {"birth_date": dt.date(2025, 3, 9), "municipality_code": "0780",
                                 "pregnancy_event_id": None}
    assert fact.occurred_at == dt.datetime(2025, 3, 9, 2, 14, tzinfo=dt.UTC)  # birth time, in UTC
    assert fact.personal == {"personnummer": CHILD_PNR, "given_name": "Alva Maria", "family_name": "Nilsson"}
    assert fact.organisation_id == hm.REGION and fact.version == "born"


def test_child_without_a_registered_pregnancy_is_born_at_midnight_of_its_birth_date() -> None:
    patient = newborn()
    del patient["extension"], patient["_birthDate"]
    [fact] = facts(patient)
    assert fact.subject == Subject(personnummer=CHILD_PNR)
    assert fact.occurred_at == dt.datetime(2025, 3, 9, tzinfo=dt.UTC)


def test_adults_such_as_mothers_yield_nothing() -> None:
    mother = newborn()
    mother["identifier"][0]["value"] = MOTHER_PNR.replace("-", "")
    mother["birthDate"] = "1992-05-14"
    assert facts(mother) == []
    assert facts(encounter(subject=patient_ref(MOTHER_PNR))) == []


def test_an_eighteen_year_old_is_still_a_child() -> None:
    eighteen = "20080101-9902"
    [fact] = facts(encounter(subject=patient_ref(eighteen), period={"start": "2026-12-31T10:00:00Z"}))
    assert fact.subject == Subject(personnummer=eighteen)
    assert facts(encounter(subject=patient_ref(eighteen), period={"start": "2027-01-01T10:00:00Z"})) == []


def test_active_bhv_listing() -> None:
    [fact] = facts(listing())
    assert fact.event is HealthUnitListed
    assert dict(fact.fields) == {"unit_id": BHV, "listed_on": dt.date(2025, 3, 15)}
    assert fact.version == f"listed:{BHV}:2025-03-15"  # one listing, one event, whatever else changes


@pytest.mark.parametrize("changes", [
    {"status": "finished"},
    {"status": "entered-in-error"},
    {"type": [{"coding": [{"system": vocab.CARE_TYPE, "code": "MHV"}]}]},
])
def test_listings_that_are_not_a_current_bhv_listing_yield_nothing(changes: dict[str, Any]) -> None:
    assert facts(listing(**changes)) == []


def test_finished_encounter_is_a_visit() -> None:
    [fact] = facts(encounter())
    assert fact.event is HealthVisitRecorded
    assert dict(fact.fields) == {"unit_id": BHV, "visit_type": "bhv-12m", "visited_on": dt.date(2026, 3, 10)}
    assert fact.occurred_at == dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC) and fact.version is None


@pytest.mark.parametrize("status", ["planned", "in-progress", "cancelled", "entered-in-error"])
def test_encounters_not_yet_or_never_held_yield_nothing(status: str) -> None:
    assert facts(encounter(status=status)) == []


def test_immunization() -> None:
    [fact] = facts(immunization())
    assert fact.event is ImmunizationRecorded
    assert dict(fact.fields) == {"unit_id": BHV, "vaccine_code": "J07CA09", "dose_number": 3,
                                 "given_on": dt.date(2026, 3, 10)}
    assert facts(immunization(status="not-done")) == []


def test_quantity_observation() -> None:
    [fact] = facts(observation())
    assert fact.event is ObservationRecorded
    assert dict(fact.fields) == {"unit_id": BHV, "code": "29463-7", "value": "9.42", "unit": "kg",
                                 "observed_on": dt.date(2026, 3, 10)}
    assert facts(observation(status="preliminary")) == []


@pytest.mark.parametrize(("value", "expected"), [
    ({"valueString": "normal"}, "normal"),
    ({"valueInteger": 3}, "3"),
    ({"valueBoolean": True}, "true"),
    ({"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "17621005"}]}}, "17621005"),
])
def test_other_observation_values_become_text(value: dict[str, Any], expected: str) -> None:
    resource = observation(**value)
    del resource["valueQuantity"]
    [fact] = facts(resource)
    assert fact.fields["value"] == expected and fact.fields["unit"] is None


def test_other_condition_is_noted() -> None:
    [fact] = facts(condition())
    assert fact.event is ConditionNoted
    assert dict(fact.fields) == {"unit_id": BHV, "code": "24079001", "clinical_status": "active",
                                 "noted_on": dt.date(2026, 2, 1)}
    assert facts(condition(verificationStatus={"coding": [{"code": "entered-in-error"}]})) == []


def test_organisations_are_renamed_or_fall_back_to_the_region() -> None:
    mapper = Mapper(organisation_id="SE-REGION", organisation_ids={BHV: "hub-bhv-vaxjo"})
    [renamed] = facts(encounter(), mapper)
    assert renamed.organisation_id == renamed.fields["unit_id"] == "hub-bhv-vaxjo"
    without = encounter()
    del without["serviceProvider"]
    [fallback] = facts(without, mapper)
    assert fallback.organisation_id == "SE-REGION"


# -- malformed records ----------------------------------------------------------------------


BAD_PNR = "20150309-9312"  # the check digit should be 8


@pytest.mark.parametrize(("resource", "reason"), [
    (encounter(subject=patient_ref(BAD_PNR)), "Encounter subject personnummer rejected: check digit does not match"),
    (immunization(patient={"reference": "Patient/x"}), "Immunization patient carries no personnummer identifier"),
    (encounter(type=[]), "Encounter lacks type"),
    (encounter(period={}), "Encounter lacks period.start"),
    (observation(code={"text": "weight"}), "Observation lacks code"),
    (observation(valueQuantity=None), "Observation lacks valueQuantity.value"),
    (observation(effectiveDateTime="2026-03"), "Observation has an invalid effective[x]"),
    (immunization(protocolApplied=[]), "Immunization lacks protocolApplied.doseNumber"),
    (condition(clinicalStatus=None), "Condition lacks clinicalStatus"),
    (listing(period={"start": "yesterday"}), "EpisodeOfCare has an invalid period.start"),
    ({**pregnancy(), "extension": []}, "Condition lacks expected delivery date"),
    ({**newborn(), "address": []}, "Patient lacks a municipality code"),
    ({**encounter(), "meta": {}}, "Encounter lacks meta.lastUpdated"),
])
def test_malformed_records_raise_a_reason_without_personal_data(resource: dict[str, Any], reason: str) -> None:
    with pytest.raises(MappingError) as caught:
        facts(resource)
    assert str(caught.value) == reason
    for secret in (BAD_PNR, CHILD_PNR, "9312", "Nilsson", "Alva"):
        assert secret not in str(caught.value)


def test_unknown_resource_type_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="MedicationRequest"):
        Mapper().facts("MedicationRequest", {"id": "m1", "meta": meta()})


# -- the stand-in's own output ---------------------------------------------------------------


def test_every_generated_resource_maps_without_personal_data_in_fields() -> None:
    county = County(children=150)
    seen: set[type] = set()
    for kind, _, updated, body in generate.county_resources(county):
        resource = {**body, "meta": {**body["meta"], "versionId": "1", "lastUpdated": updated.isoformat()}}
        for fact in Mapper().facts(kind, resource):
            seen.add(fact.event)
            assert fact.occurred_at.tzinfo is dt.UTC
            text = repr(dict(fact.fields))
            personal = {fact.subject.personnummer, *(fact.personal or {}).values()} - {None, ""}
            for value in personal:
                assert value not in text and value.replace("-", "") not in text
    assert seen == {PregnancyRegistered, ChildBorn, HealthUnitListed, HealthVisitRecorded,
                    ImmunizationRecorded, ObservationRecorded, ConditionNoted}


def test_adapter_and_stand_in_agree_on_systems_and_extensions() -> None:
    for name in ("PNR_SYSTEM", "HSA_SYSTEM", "SNOMED", "EXT_MUNICIPALITY", "EXT_EXPECTED_DELIVERY",
                 "EXT_RECORDING_UNIT", "EXT_PREGNANCY", "BIRTH_TIME"):
        assert getattr(hm, name) == getattr(vocab, name), name
    assert hm.PREGNANCY_CODE == vocab.PREGNANCY[0]


# -- cursor and reading ------------------------------------------------------------------------


def test_cursor_round_trips_per_type_positions_in_reading_order() -> None:
    positions = {"Observation": Position("2026-03-01T08:00:00.000001+00:00", "o-2"),
                 "Condition": Position("2026-01-01T08:00:00Z", "c.1")}
    cursor = format_cursor(positions)
    assert cursor == "Condition=2026-01-01T08:00:00Z|c.1;Observation=2026-03-01T08:00:00.000001+00:00|o-2"
    parsed = parse_cursor(cursor)
    assert {k: (p.stamp, p.rid) for k, p in parsed.items()} == {"Condition": ("2026-01-01T08:00:00Z", "c.1"),
                                                                "Observation": ("2026-03-01T08:00:00.000001+00:00", "o-2")}


@given(st.datetimes(timezones=st.just(dt.UTC)), st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True))
def test_cursor_round_trips_any_fhir_id_and_instant(at: dt.datetime, rid: str) -> None:
    [(kind, position)] = parse_cursor(format_cursor({"Encounter": Position(at.isoformat(), rid)})).items()
    assert kind == "Encounter" and position.key == (at, rid)


@pytest.mark.parametrize("cursor", ["garbage", "Encounter=|x", "Medication=2026-01-01T00:00:00+00:00|x",
                                    "Encounter=yesterday|x"])
def test_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="not one this connector wrote"):
        parse_cursor(cursor)


class FakeFhir:
    """Answers searches from a fixed list, honouring ge and a page size; records the requests."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources
        self.requests: list[tuple[str, Mapping[str, Any] | None]] = []

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        self.requests.append((path, params))
        kind, _, offset = path.partition("@")
        matching = [r for r in self.resources if r["resourceType"] == kind]
        if params and "_lastUpdated" in params:
            since = dt.datetime.fromisoformat(params["_lastUpdated"][2:])
            matching = [r for r in matching if dt.datetime.fromisoformat(r["meta"]["lastUpdated"]) >= since]
        start = int(offset or 0)
        page = matching[start:start + 2]
        links = [{"relation": "next", "url": f"{kind}@{start + 2}"}] if start + 2 < len(matching) else []
        return {"resourceType": "Bundle", "type": "searchset", "link": links,
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in page]}

    async def request(self, method: str, url: str, **_options: Any) -> httpx.Response:
        assert method == "GET"  # a next link
        return httpx.Response(200, json=await self.get_json(url))

    def judged(self, response: httpx.Response, _what: str) -> httpx.Response:
        return response

    async def aclose(self) -> None:
        return None


async def _read(connector: HealthConnector, since: dict[str, str] | None) -> list[SourceRecord]:
    out: list[SourceRecord] = []
    async for page in connector.read(since):
        out.extend(page)
    return out


async def test_resuming_at_a_shared_timestamp_reads_the_instant_again() -> None:
    tie = "2026-03-01T08:00:00.000000+00:00"
    resources = [encounter(id=f"e{n}", meta={"versionId": "1", "lastUpdated": tie}) for n in range(5)]
    fake = FakeFhir(resources)
    connector = HealthConnector(fake, 2, Mapper(), ("Encounter",))  # type: ignore[arg-type]
    first = await _read(connector, None)
    assert [r.record_id for r in first] == ["e0", "e1", "e2", "e3", "e4"]
    assert {r.cursor for r in first} == {tie}
    # The search starts at the instant itself; the runner's marks drop what it already published.
    again = await _read(connector, {"Encounter": tie})
    assert [r.record_id for r in again] == ["e0", "e1", "e2", "e3", "e4"]
    assert fake.requests[-3][1] == {"_count": 2, "_sort": "_lastUpdated", "_lastUpdated": f"ge{tie}"}


async def test_each_type_keeps_its_own_position() -> None:
    resources = [encounter(id="e1"), observation(id="o1"),
                 observation(id="o2", meta={"versionId": "3", "lastUpdated": "2026-06-01T00:00:00+00:00"})]
    connector = HealthConnector(FakeFhir(resources), 50, Mapper(), ("Encounter", "Observation"))  # type: ignore[arg-type]
    records = await _read(connector, None)
    assert [(r.kind, r.record_id, r.version) for r in records] == [
        ("Encounter", "e1", "1"), ("Observation", "o1", "1"), ("Observation", "o2", "3")]
    assert records[-1].cursor == "2026-06-01T00:00:00+00:00"
    assert await _read(connector, {"Encounter": "2026-12-01T00:00:00+00:00",
                                   "Observation": "2026-06-01T00:00:00+00:00"}) == [records[-1]]


def test_from_config_checks_its_keys_without_echoing_secrets() -> None:
    good = {"url": "http://fhir/fhir", "token_url": "http://fhir/oauth2/token", "client_id": "hub",
            "client_secret": "s3cret-value"}
    for key in ("url", "token_url", "client_id", "client_secret"):
        with pytest.raises(ValueError, match=key) as caught:
            HealthConnector.from_config({k: v for k, v in good.items() if k != key}, 100)
        assert "s3cret-value" not in str(caught.value)
    with pytest.raises(ValueError, match="resource_types"):
        HealthConnector.from_config({**good, "resource_types": ["Medication"]}, 100)
    with pytest.raises(ValueError, match="organisation_ids"):
        HealthConnector.from_config({**good, "organisation_ids": {"a": 1}}, 100)
    with pytest.raises(ValueError, match="timeout_s"):
        HealthConnector.from_config({**good, "timeout_s": 0}, 100)
    connector = HealthConnector.from_config({**good, "resource_types": ["Observation", "Patient"]}, 100)
    assert connector._types == ("Patient", "Observation")  # always in reading order
