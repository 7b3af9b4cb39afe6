"""The health source profile: parsing ``[source.profile]``, choosing a person's identifier,
references read for what they leave out, the unborn child's key, and the bulk feed's pure
parts (``Retry-After``, configuration). Hand-written FHIR resources; no I/O."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from connectors import health_mapping as hm
from connectors.base import MappingError
from connectors.health import HealthBulkConnector, HealthConnector, retry_after
from connectors.health_mapping import Mapper, Profile
from schemas.events import ChildBorn, ImmunizationRecorded, PregnancyRegistered

CHILD = "20250309-9901"
COORDINATED = "20150369-9991"  # a samordningsnummer: born 2015-03-09, day + 60
MOTHER = "19920514-9942"
UPDATED = "2026-05-02T09:30:00.000000+00:00"
URI_PNR = "http://electronichealth.se/identifier/personnummer"
URI_COORD = "http://electronichealth.se/identifier/samordningsnummer"
OID_PNR = "urn:oid:1.2.752.129.2.1.3.1"
OID_COORD = "urn:oid:1.2.752.129.2.1.3.3"
HSA = "urn:oid:1.2.752.29.4.19"
PREG_SYSTEM = "urn:example:pregnancy"
GOOD = {"url": "http://fhir/fhir", "token_url": "http://fhir/token", "client_id": "hub", "client_secret": "s3cret"}


def identifier(system: str, value: str, use: str | None = None) -> dict[str, Any]:
    return {"system": system, "value": value.replace("-", ""), **({"use": use} if use else {})}


def meta() -> dict[str, Any]:
    return {"versionId": "1", "lastUpdated": UPDATED}


def immunization(actor: dict[str, Any] | None, **changes: Any) -> dict[str, Any]:
    return {"resourceType": "Immunization", "id": "i1", "meta": meta(), "status": "completed",
            "vaccineCode": {"coding": [{"code": "J07BD52"}]},
            "patient": {"reference": "Patient/p1", "identifier": identifier(OID_PNR, CHILD)},
            "occurrenceDateTime": "2026-04-01T10:00:00+00:00", "encounter": {"reference": "Encounter/e1"},
            "performer": [{"actor": actor}] if actor else [], "protocolApplied": [{"doseNumberPositiveInt": 1}],
            **changes}


def pregnancy(**changes: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "c-17.4", "meta": meta(),
            "identifier": [{"system": PREG_SYSTEM, "value": "P-0042"}],
            "extension": [{"url": hm.EXT_EXPECTED_DELIVERY, "valueDate": "2025-03-12"},
                          {"url": hm.EXT_MUNICIPALITY, "valueCoding": {"code": "0780"}}],
            "code": {"coding": [{"system": hm.SNOMED, "code": "118185001"}]},
            "subject": {"reference": "Patient/mother", "identifier": identifier(OID_PNR, MOTHER)},
            "recordedDate": "2024-07-20T10:00:00+02:00", **changes}


def newborn(link: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "meta": meta(), "birthDate": "2025-03-09",
            "identifier": [identifier(OID_PNR, CHILD)],
            "extension": [{"url": hm.EXT_PREGNANCY, "valueReference": link}],
            "address": [{"extension": [{"url": hm.EXT_MUNICIPALITY, "valueCoding": {"code": "0780"}}]}]}


# -- parsing --------------------------------------------------------------------------------------


def test_absent_profile_is_the_stand_ins() -> None:
    profile = Profile.from_config(None)
    assert profile.identifier_systems == (OID_PNR, OID_COORD, URI_PNR, URI_COORD)
    assert profile.municipality_extension == "http://kronobarn.example/fhir/StructureDefinition/municipality-code"
    assert (profile.resolve_references, profile.pregnancy_key) == (True, "id")


def test_a_full_profile_is_read() -> None:
    profile = Profile.from_config({"identifier_systems": [URI_PNR], "municipality_extension": "http://r.example/kommun",
                                   "resolve_references": False, "pregnancy_key": "identifier",
                                   "pregnancy_identifier_system": PREG_SYSTEM})
    assert profile == Profile((URI_PNR,), "http://r.example/kommun", False, "identifier", PREG_SYSTEM)


@pytest.mark.parametrize(("table", "key"), [
    ("yes", "[source.profile] must be a table"),
    ({"identifier_systems": []}, "identifier_systems"),
    ({"identifier_systems": "urn:oid:1.2"}, "identifier_systems"),
    ({"identifier_systems": ["personnummer"]}, "identifier_systems"),
    ({"municipality_extension": 7}, "municipality_extension"),
    ({"resolve_references": "yes"}, "resolve_references"),
    ({"pregnancy_key": "guess"}, "pregnancy_key"),
    ({"pregnancy_key": "identifier"}, "pregnancy_identifier_system"),
    ({"identifer_systems": [URI_PNR]}, "identifer_systems"),  # a typo is named, not ignored
])
def test_a_bad_profile_names_its_key(table: Any, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace("[", r"\[").replace("]", r"\]")):
        HealthConnector.from_config({**GOOD, "profile": table}, 100)


@pytest.mark.parametrize(("source", "key"), [
    ({"feed": "stream"}, "feed"), ({"export_group": "a/b"}, "export_group"), ({"export_timeout_s": 0}, "export_timeout_s"),
])
def test_bad_feed_settings_name_their_key(source: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        HealthConnector.from_config({**GOOD, **source}, 100)


def test_feed_chooses_the_connector() -> None:
    assert type(HealthConnector.from_config(GOOD, 100)) is HealthConnector
    assert type(HealthConnector.from_config({**GOOD, "feed": "bulk", "export_group": "all"}, 100)) is HealthBulkConnector


# -- identifier choice -----------------------------------------------------------------------------


@pytest.mark.parametrize(("identifiers", "expected"), [
    ([identifier(URI_PNR, CHILD)], CHILD),
    ([identifier("urn:example:local-id", "12"), identifier(OID_COORD, COORDINATED)], COORDINATED),
    ([identifier(OID_COORD, COORDINATED), identifier(OID_PNR, CHILD)], CHILD),  # listed first wins
    ([identifier(OID_PNR, COORDINATED, use="old"), identifier(URI_COORD, CHILD)], CHILD),  # old last
    ([identifier(OID_PNR, COORDINATED, use="old")], COORDINATED),
    ([identifier("urn:example:local-id", "12")], None),
    ([], None),
])
def test_person_identifier_by_system_order_and_use(identifiers: list[dict[str, Any]], expected: str | None) -> None:
    value = Profile().person_number(identifiers)
    assert value == (expected.replace("-", "") if expected else None)


def test_only_configured_systems_count() -> None:
    assert Profile(identifier_systems=(URI_PNR,)).person_number([identifier(OID_PNR, CHILD)]) is None


def test_a_samordningsnummer_patient_is_born_like_any_child() -> None:
    patient = {**newborn({"reference": "Condition/x"}), "extension": [],
               "identifier": [identifier(OID_COORD, COORDINATED)], "birthDate": "2015-03-09"}
    [born] = Mapper().facts("Patient", patient)
    assert born.event is ChildBorn and born.subject.personnummer == COORDINATED


def test_a_reference_without_identifier_takes_the_patient_read_for_it() -> None:
    bare = immunization({"reference": "Organization/u1"}, patient={"reference": "Patient/p9"})
    mapper = Mapper()
    assert mapper.references("Immunization", bare, {}) == {"Patient/p9"}
    with pytest.raises(MappingError, match="Immunization patient carries no personnummer identifier"):
        mapper.facts("Immunization", bare, {})
    read = {"Patient/p9": {"resourceType": "Patient", "id": "p9", "identifier": [identifier(URI_PNR, CHILD)]}}
    assert mapper.references("Immunization", bare, read) == set()
    [fact] = mapper.facts("Immunization", bare, read)
    assert fact.subject.personnummer == CHILD
    with pytest.raises(MappingError, match="carries no personnummer"):
        mapper.facts("Immunization", bare, {"Patient/p9": None})  # gone at the source
    assert Mapper(profile=Profile(resolve_references=False)).references("Immunization", bare, {}) == set()


def test_another_municipality_extension() -> None:
    url = "http://region.example/fhir/StructureDefinition/home-municipality"
    patient = newborn({"reference": "Condition/x"})
    patient["address"][0]["extension"][0]["url"] = url
    with pytest.raises(MappingError, match="municipality code"):
        Mapper().facts("Patient", patient)
    [born] = Mapper(profile=Profile(municipality_extension=url)).facts("Patient", patient)
    assert born.fields["municipality_code"] == "0780"


# -- practitioner performers -----------------------------------------------------------------------


def test_vaccinating_unit_from_an_organisation_a_role_an_encounter_or_the_region() -> None:
    mapper = Mapper(organisation_id="SE-REGION")
    unit = {"reference": "Organization/u1", "identifier": {"system": HSA, "value": "SE-BHV-1"}}
    role = {"reference": "PractitionerRole/r1", "identifier": {"system": HSA, "value": "SE-ROLE-7"}}
    nurse = {"reference": "Practitioner/n1"}
    read = {"PractitionerRole/r1": {"resourceType": "PractitionerRole", "organization": unit},
            "Encounter/e1": {"resourceType": "Encounter", "serviceProvider": {"reference": "Organization/SE-BHV-2"}}}
    cases = [(unit, {}, "SE-BHV-1"), (role, read, "SE-BHV-1"), (nurse, read, "SE-BHV-2"), (role, {}, "SE-REGION"),
             (nurse, {}, "SE-REGION"), (None, {}, "SE-REGION")]
    for actor, resolved, expected in cases:
        [fact] = mapper.facts("Immunization", immunization(actor), resolved)
        assert fact.event is ImmunizationRecorded and fact.fields["unit_id"] == expected, (actor, resolved)
    assert mapper.references("Immunization", immunization(role), {}) == {"PractitionerRole/r1"}
    assert mapper.references("Immunization", immunization(nurse), {}) == {"Encounter/e1"}
    assert mapper.references("Immunization", immunization(unit), {}) == set()


# -- the unborn child's key ------------------------------------------------------------------------


def test_pregnancy_keyed_on_its_identifier_survives_a_new_id() -> None:
    mapper = Mapper(profile=Profile(pregnancy_key="identifier", pregnancy_identifier_system=PREG_SYSTEM))
    for rid in ("c-17.4", "c-17.5"):
        [fact] = mapper.facts("Condition", pregnancy(id=rid))
        assert fact.subject.pregnancy == "P-0042" and mapper.record_id("Condition", pregnancy(id=rid), {}) == "P-0042"
    with pytest.raises(MappingError, match="Condition lacks the identifier that keys the unborn child"):
        mapper.facts("Condition", pregnancy(identifier=[]))
    # the newborn links by the identifier on its reference, or through the Condition read for it
    [born] = mapper.facts("Patient", newborn({"reference": "Condition/c-17.9", "identifier": {
        "system": PREG_SYSTEM, "value": "P-0042"}}))
    assert born.subject.pregnancy == "P-0042"
    bare = newborn({"reference": "Condition/c-17.4"})
    assert mapper.references("Patient", bare, {}) == {"Condition/c-17.4"}
    [born] = mapper.facts("Patient", bare, {"Condition/c-17.4": pregnancy()})
    assert born.subject.pregnancy == "P-0042"


def test_pregnancy_keyed_on_parent_and_expected_date() -> None:
    mapper = Mapper(profile=Profile(pregnancy_key="parent-and-expected-date"))
    [first] = mapper.facts("Condition", pregnancy(id="a"))
    [again] = mapper.facts("Condition", pregnancy(id="b", identifier=[]))
    assert first.subject.pregnancy == again.subject.pregnancy  # another id, the same unborn child
    key = first.subject.pregnancy
    assert key and MOTHER.replace("-", "") not in key and "2025-03-12" not in key  # opaque
    other_date = pregnancy(extension=[{"url": hm.EXT_EXPECTED_DELIVERY, "valueDate": "2025-09-01"},
                                      {"url": hm.EXT_MUNICIPALITY, "valueCoding": {"code": "0780"}}])
    assert mapper.facts("Condition", other_date)[0].subject.pregnancy != key
    # the newborn's link: the Condition, then the mother it names by reference only
    bare_mother = pregnancy(subject={"reference": "Patient/mother"})
    link = newborn({"reference": "Condition/a"})
    assert mapper.references("Patient", link, {}) == {"Condition/a"}
    read: dict[str, Any] = {"Condition/a": bare_mother}
    assert mapper.references("Patient", link, read) == {"Patient/mother"}
    read["Patient/mother"] = {"resourceType": "Patient", "identifier": [identifier(URI_PNR, MOTHER)]}
    [born] = mapper.facts("Patient", link, read)
    assert born.event is ChildBorn and born.subject.pregnancy == key


def test_default_key_is_the_condition_id() -> None:
    [fact] = Mapper().facts("Condition", pregnancy())
    assert fact.event is PregnancyRegistered and fact.subject.pregnancy == "c-17.4"
    assert Mapper().record_id("Condition", pregnancy(), {}) == "c-17.4"


# -- bulk -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "seconds"), [
    ("7", 7.0), (" 0 ", 0.0), (None, 2.0), ("soon", 2.0), ("100000", 120.0),
    ("Sun, 06 Dec 2026 12:00:30 GMT", 30.0), ("Sun, 06 Dec 2026 11:00:00 GMT", 0.0),
])
def test_retry_after_in_seconds_or_as_a_date(header: str | None, seconds: float) -> None:
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    assert retry_after(header, now) == seconds


def test_bulk_since_is_the_last_transaction_time_else_the_earliest_type() -> None:
    connector = HealthConnector.from_config({**GOOD, "feed": "bulk", "resource_types": ["Patient", "Encounter"]}, 10)
    assert isinstance(connector, HealthBulkConnector)
    t1, t2, t3 = "2026-03-01T08:00:00+00:00", "2026-03-02T08:00:00Z", "2026-04-01T00:00:00+00:00"
    assert connector._since({"$export": t3, "Patient": t1}) == t3
    assert connector._since({"Patient": t2, "Encounter": t1}) == t1  # after a search feed
    assert connector._since({"Patient": t2}) is None  # a type never read: everything
    assert connector._since({}) is None
