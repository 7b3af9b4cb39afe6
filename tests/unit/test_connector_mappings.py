"""Pure mapping tests: hand-written source records in, facts out (no I/O)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from connectors import personnummer
from connectors.base import MappingError, SourceRecord
from connectors.classification import envelope_class_of
from connectors.population import PopulationConnector
from connectors.school import SchoolConnector
from connectors.social import SocialConnector
from schemas.events import (
    Basis,
    Category,
    ChildDied,
    ChildEmigrated,
    ChildMoved,
    ChildRegistered,
    CustodyRecorded,
    InvestigationClosed,
    InvestigationOpened,
    KaaRegistered,
    Protection,
    ProtectionRecorded,
    SchoolPlacementEnded,
    SchoolPlacementStarted,
    SchoolType,
)

PNR = personnummer.make(dt.date(2014, 8, 10), 906)
MOM = personnummer.make(dt.date(1984, 12, 4), 912)
AUTH = {"url": "http://127.0.0.1:1", "token_url": "http://127.0.0.1:1/t", "client_id": "a", "client_secret": "b"}


def population() -> PopulationConnector:
    return PopulationConnector.from_config({**AUTH, "guardian_secret": "s"}, 10)


def rec(kind: str, data: dict, cursor: str = "2026-03-01T08:00:00.000000+00:00|x") -> SourceRecord:
    return SourceRecord(kind, data.get("id", "r1"), "1", cursor, data)


def test_registration_yields_child_and_custody_with_sealed_identity() -> None:
    facts = population().map(rec("change", {
        "kind": "REGISTERED", "personnummer": PNR, "given_name": "Elsa", "family_name": "Nilsson",
        "birth_date": "2014-08-10", "municipality_code": "0780",
        "guardians": [{"personnummer": MOM, "given_name": "Ali", "family_name": "Nilsson"}]}))
    assert [f.event for f in facts] == [ChildRegistered, CustodyRecorded]
    registered, custody = facts
    assert registered.fields == {"birth_date": dt.date(2014, 8, 10), "municipality_code": "0780"}
    assert registered.personal == {"personnummer": PNR, "given_name": "Elsa", "family_name": "Nilsson"}
    assert "Elsa" not in repr(registered) and PNR not in repr(registered.subject)
    assert custody.fields["guardian_ids"] == (population().guardian_id(MOM),)
    assert custody.part == "custody"


def test_guardian_ids_are_stable_per_secret_and_not_the_number() -> None:
    a = population().guardian_id(MOM)
    assert a == population().guardian_id(MOM.replace("-", ""))
    other = PopulationConnector.from_config({**AUTH, "guardian_secret": "t"}, 10).guardian_id(MOM)
    assert a != other and MOM.replace("-", "") not in str(a)
    # party_secret is the key's preferred name; either gives the same ids
    assert PopulationConnector.from_config({**AUTH, "party_secret": "s"}, 10).guardian_id(MOM) == a


def test_guardian_ids_did_not_change_when_party_ids_moved_to_connectors_parties() -> None:
    """Consents already name these ids: the namespace, the HMAC and the dev secret are fixed."""
    dev = PopulationConnector.from_config(AUTH, 10)
    assert dev.guardian_id(MOM) == uuid.UUID("b053e636-f432-5477-92e3-48004c929d26")
    assert population().guardian_id(MOM) == uuid.UUID("8fa06470-65a5-5f23-bbf8-19ad529873f3")
    with pytest.raises(MappingError, match="guardian's personnummer is invalid") as caught:
        dev.guardian_id(MOM[:-1] + str((int(MOM[-1]) + 1) % 10))
    assert MOM[:8] not in str(caught.value)


def test_move_and_unknown_kind() -> None:
    [moved] = population().map(rec("change", {"kind": "MOVED", "personnummer": PNR, "from_municipality_code": "0780",
                                               "to_municipality_code": "0764", "moved_on": "2026-03-01"}))
    assert moved.event is ChildMoved and moved.fields["to_municipality_code"] == "0764"
    with pytest.raises(MappingError, match="unknown change kind"):
        population().map(rec("change", {"kind": "DIVORCE", "personnummer": PNR}))
    with pytest.raises(MappingError, match="lacks birth_date"):
        population().map(rec("change", {"kind": "REGISTERED", "personnummer": PNR, "municipality_code": "0780"}))


# -- the population register's life events (issue 15) --------------------------------------------

DAD = personnummer.make(dt.date(1982, 3, 9), 923)
HOME = {"address": "Björkvägen 12", "postal_code": "352 36", "town": "Växjö"}


def test_registration_seals_the_address_and_records_protection_given_with_it() -> None:
    facts = population().map(rec("change", {
        "kind": "REGISTERED", "personnummer": PNR, "given_name": "Elsa", "family_name": "Nilsson",
        "birth_date": "2014-08-10", "municipality_code": "0780", "protection": "SEKRETESSMARKERING", **HOME,
        "guardians": [{"personnummer": MOM, "given_name": "Ali", "family_name": "Nilsson"}]}))
    assert [f.event for f in facts] == [ChildRegistered, CustodyRecorded, ProtectionRecorded]
    registered, _, protection = facts
    assert registered.personal == {"personnummer": PNR, "given_name": "Elsa", "family_name": "Nilsson", **HOME}
    assert registered.fields == {"birth_date": dt.date(2014, 8, 10), "municipality_code": "0780"}
    assert protection.fields == {"protection": Protection.SEKRETESSMARKERING, "recorded_on": dt.date(2026, 3, 1)}
    assert protection.part == "protection" and protection.personal is None
    assert "Björkvägen" not in repr(registered)  # personal data stays out of the fact's repr


def test_skyddad_folkbokforing_registration_carries_no_address() -> None:
    registered, _, protection = population().map(rec("change", {
        "kind": "REGISTERED", "personnummer": PNR, "given_name": "Elsa", "family_name": "Nilsson",
        "birth_date": "2014-08-10", "municipality_code": "0781", "protection": "SKYDDAD_FOLKBOKFORING",
        "guardians": []}))
    assert set(registered.personal or {}) == {"personnummer", "given_name", "family_name"}
    assert registered.fields["municipality_code"] == "0781"  # the hub's responsibility stays with it
    assert protection.fields["protection"] is Protection.SKYDDAD_FOLKBOKFORING


def test_custody_seals_each_guardians_name_under_the_party_id() -> None:
    [custody] = population().map(rec("change", {"kind": "CUSTODY", "personnummer": PNR, "guardians": [
        {"personnummer": MOM, "given_name": "Ali", "family_name": "Nilsson"},
        {"personnummer": DAD, "given_name": "Nils", "family_name": "Berg"}]}))
    mom, dad = population().guardian_id(MOM), population().guardian_id(DAD)
    assert custody.fields["guardian_ids"] == (mom, dad)
    assert custody.personal == {f"guardian:{mom}": "Ali Nilsson", f"guardian:{dad}": "Nils Berg"}
    assert not any(MOM in v or DAD in v for v in custody.personal.values())  # names only, no numbers


def test_a_move_seals_the_new_address_when_the_register_gives_one() -> None:
    base = {"kind": "MOVED", "personnummer": PNR, "from_municipality_code": "0780", "to_municipality_code": "0680",
            "moved_on": "2026-03-01"}
    [with_home] = population().map(rec("change", {**base, **HOME, "town": "Jönköping"}))
    assert with_home.personal == {**HOME, "town": "Jönköping"}
    assert with_home.fields["to_municipality_code"] == "0680"
    [withheld] = population().map(rec("change", base))
    assert withheld.personal is None


def test_protection_death_and_emigration_map_to_their_facts() -> None:
    [p] = population().map(rec("change", {"kind": "PROTECTION", "personnummer": PNR, "protection": "NONE",
                                           "recorded_on": "2026-02-20"}))
    [d] = population().map(rec("change", {"kind": "DIED", "personnummer": PNR, "died_on": "2026-02-27"}))
    [e] = population().map(rec("change", {"kind": "EMIGRATED", "personnummer": PNR, "emigrated_on": "2026-02-28"}))
    assert (p.event, p.fields) == (ProtectionRecorded, {"protection": Protection.NONE,
                                                        "recorded_on": dt.date(2026, 2, 20)})
    assert (d.event, d.fields) == (ChildDied, {"died_on": dt.date(2026, 2, 27)})
    assert (e.event, e.fields) == (ChildEmigrated, {"emigrated_on": dt.date(2026, 2, 28)})
    assert {f.occurred_at for f in (p, d, e)} == {dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)}  # when recorded
    assert all(f.subject.personnummer == PNR and f.personal is None for f in (p, d, e))


def test_the_new_facts_are_population_directory_facts_like_a_move() -> None:
    for kind in (ProtectionRecorded, ChildDied, ChildEmigrated, ChildMoved):
        assert envelope_class_of(kind) == (Basis.DIRECTORY, Category.POPULATION, None)


@pytest.mark.parametrize(("change", "message"), [
    ({"kind": "DIED"}, "change lacks died_on"),
    ({"kind": "DIED", "died_on": "27/2/2026"}, "change's died_on is not a date (YYYY-MM-DD)"),
    ({"kind": "EMIGRATED", "emigrated_on": ""}, "change lacks emigrated_on"),
    ({"kind": "PROTECTION", "recorded_on": "2026-02-20"}, "change lacks protection"),
    ({"kind": "PROTECTION", "protection": "HEMLIG", "recorded_on": "2026-02-20"},
     "change's protection is not one of NONE, SEKRETESSMARKERING, SKYDDAD_FOLKBOKFORING"),
    ({"kind": "PROTECTION", "protection": "NONE"}, "change lacks recorded_on"),
    ({"kind": "MOVED", "to_municipality_code": "0764", "moved_on": "1 mars"},
     "change's moved_on is not a date (YYYY-MM-DD)"),
])
def test_a_change_that_cannot_be_mapped_names_the_field_never_the_value(change: dict, message: str) -> None:
    with pytest.raises(MappingError) as caught:
        population().map(rec("change", {"personnummer": PNR, **change}))
    assert str(caught.value) == message
    assert PNR not in str(caught.value) and "HEMLIG" not in str(caught.value) and "27/2" not in str(caught.value)


UNIT, OTHER = "3b8f0a52-6c1d-4f43-9e0a-7d5f7d1f0001", "3b8f0a52-6c1d-4f43-9e0a-7d5f7d1f0002"
ORGANISATIONS = {UNIT: ("skolenhet-07802001", "0780"), OTHER: ("skolenhet-07642001", "0764")}


def school(**source: object) -> SchoolConnector:
    connector = SchoolConnector.from_config({**AUTH, **source}, 10)
    connector._units = dict(ORGANISATIONS)  # what /organisations would have said
    return connector


def person(*enrolments: dict, civic: str = PNR.replace("-", "")) -> dict:
    return {"id": "p-1", "givenName": "A", "familyName": "B", "civicNo": {"value": civic, "nationality": "SE"},
            "enrolments": list(enrolments), "meta": {"created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z"}}


def test_enrolments_become_placements_from_forskoleklass_on() -> None:
    facts = school().map(rec("persons", person(
        {"enroledAt": {"id": UNIT}, "schoolType": "FKLASS", "schoolYear": 0, "startDate": "2020-08-15",
         "endDate": "2021-06-12"},
        {"enroledAt": {"id": UNIT}, "schoolType": "GR", "schoolYear": 5, "startDate": "2021-08-15"},
        {"enroledAt": {"id": OTHER}, "schoolType": "KU", "startDate": "2021-09-01"})))
    assert [(f.event, f.fields["school_type"]) for f in facts] == [
        (SchoolPlacementStarted, SchoolType.PRESCHOOL_CLASS), (SchoolPlacementEnded, SchoolType.PRESCHOOL_CLASS),
        (SchoolPlacementStarted, SchoolType.COMPULSORY)]  # kulturskola places no one
    assert facts[0].fields["municipality_code"] == "0780" and facts[0].organisation_id == "skolenhet-07802001"
    assert facts[0].fields["placement_id"] == facts[1].fields["placement_id"] != facts[2].fields["placement_id"]
    assert len({(f.event, f.part) for f in facts}) == 3  # each fact keeps its own event id
    again = school().map(rec("persons", person({"enroledAt": {"id": UNIT}, "schoolType": "FKLASS",
                                                "startDate": "2020-08-15"})))
    assert again[0].fields["placement_id"] == facts[0].fields["placement_id"]  # stable without an enrolment id


def test_a_samordningsnummer_pupil_is_accepted() -> None:
    born = dt.date(2016, 3, 9)
    body = f"{born:%y%m}{born.day + 60:02d}931"
    number = f"{born:%Y%m}{born.day + 60:02d}931{personnummer.luhn_digit(body)}"
    [fact] = school().map(rec("persons", person({"enroledAt": {"id": UNIT}, "schoolType": "GR",
                                                  "startDate": "2023-08-15"}, civic=number)))
    assert fact.subject.personnummer == number
    assert personnummer.normalise(number) == f"{number[:8]}-{number[8:]}"  # the identity the runner resolves


def test_temporary_and_foreign_numbers_are_refused() -> None:
    with pytest.raises(MappingError, match="temporary"):
        school().map(rec("persons", person({"enroledAt": {"id": UNIT}, "schoolType": "GR", "startDate": "2023-08-15"},
                                           civic="20130101TF01")))
    foreign = person({"enroledAt": {"id": UNIT}, "schoolType": "GR", "startDate": "2023-08-15"})
    foreign["civicNo"]["nationality"] = "NO"
    with pytest.raises(MappingError, match="nationality") as caught:
        school().map(rec("persons", foreign))
    assert PNR.replace("-", "") not in str(caught.value)


def test_forskola_placements_map_and_fritidshem_is_passed_over() -> None:
    base = {"id": "pl", "civicNo": PNR.replace("-", ""), "child": {"id": "p-1"}, "placedAt": {"id": UNIT},
            "startDate": "2021-08-15"}
    [started] = school().map(rec("placements", {**base, "schoolType": "FS"}))
    assert started.event is SchoolPlacementStarted and started.fields["school_type"] is SchoolType.PRESCHOOL
    assert school().map(rec("placements", {**base, "schoolType": "FTH"})) == []


def test_school_rejects_unknown_pupils_units_and_codes() -> None:
    with pytest.raises(MappingError, match="did not list"):
        school().map(rec("placements", {"id": "p", "placedAt": {"id": UNIT}, "schoolType": "FS",
                                        "startDate": "2021-08-15"}))
    with pytest.raises(MappingError, match="schoolType"):
        school().map(rec("placements", {"id": "p", "civicNo": PNR, "placedAt": {"id": UNIT}, "schoolType": "GR",
                                        "startDate": "2021-08-15"}))
    with pytest.raises(MappingError, match="/organisations did not list"):
        school().map(rec("placements", {"id": "p", "civicNo": PNR, "placedAt": {"id": "nowhere"}, "schoolType": "FS",
                                        "startDate": "2021-08-15"}))


def test_kaa_goes_to_the_municipality_function() -> None:
    [kaa] = school().map(rec("kaaRegistrations", {"id": "k", "civicNo": PNR, "person": {"id": "s"},
                                                  "municipalityCode": "0781", "registeredOn": "2026-09-01"}))
    assert kaa.event is KaaRegistered and kaa.organisation_id == "kommun-0781-kaa"


def test_school_organisation_filter() -> None:
    only = school(organisation_ids=["skolenhet-07642001"])
    assert only.map(rec("placements", {"id": "p", "civicNo": PNR, "placedAt": {"id": UNIT},
                                       "schoolType": "FS", "startDate": "2021-08-15"})) == []


def test_school_settings_are_checked() -> None:
    for bad in ({"attendance_since": "last year"}, {"attendance_settle_days": -1}, {"unit_id": "{nope}"},
                {"extensions": ["grades"]}):
        with pytest.raises(ValueError, match="source"):
            SchoolConnector.from_config({**AUTH, **bad}, 10)


def test_closed_investigation_yields_opened_and_closed() -> None:
    connector = SocialConnector.from_config({"database_url": "sqlite://"}, 10)
    facts = connector.map(rec("investigations", {
        "id": "UTR-1", "version": 2, "personnummer": PNR, "municipality_code": "0780", "report_id": "ORO-1",
        "opened_on": dt.date(2026, 2, 1), "closed_on": dt.date(2026, 4, 1), "outcome": "NO_ACTION"}))
    assert [f.event for f in facts] == [InvestigationOpened, InvestigationClosed]
    assert facts[0].version == "opened:2026-02-01"  # unchanged when the row is later closed
    assert all(f.organisation_id == "kommun-0780-soc" for f in facts)
