"""FHIR R4 resources -> health facts. Pure: no I/O, nothing personal in fields or errors.

| resource | fact | subject |
|---|---|---|
| Condition, SNOMED 118185001 (pregnancy) | PregnancyRegistered | the unborn child: the Condition's id |
| Patient under 19 | ChildBorn | personnummer, plus the pregnancy it links to |
| EpisodeOfCare of type BHV, active | HealthUnitListed | personnummer |
| Encounter, finished | HealthVisitRecorded | personnummer |
| Immunization, completed | ImmunizationRecorded | personnummer |
| Observation, final/amended/corrected | ObservationRecorded | personnummer |
| any other Condition | ConditionNoted | personnummer |

The hub covers children: records about a person aged 19 or more at the record's date (a
mother, say) map to nothing. So do records in a state that asserts nothing (planned,
cancelled, entered-in-error). Directory facts keep one event id across record updates (a birth
happens once); clinical facts take the record's version, so a correction is a new event.

A pregnancy names its expectant parent (the Condition's subject) by pseudonymous party id
(``connectors.parties``), the id the population register's custody gives the same person once
the child is born; their personnummer travels only sealed. No valid personnummer, no id.

What differs between installations is a ``Profile`` (the ``[source.profile]`` table): which
identifier systems carry a personnummer or samordningsnummer, the municipality extension's URL,
and what keys an unborn child when pregnancy Condition ids are not stable. A reference that
carries no identifier (a Patient, a PractitionerRole, an Encounter, the pregnancy Condition) is
looked up in ``resolved``: resources the connector read for the record beforehand, named by
``Mapper.references``. Mapping itself never does I/O.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors import personnummer
from connectors.base import Fact, MappingError, Subject
from connectors.parties import PartyIds
from schemas.events import (
    ChildBorn,
    ConditionNoted,
    HealthUnitListed,
    HealthVisitRecorded,
    ImmunizationRecorded,
    ObservationRecorded,
    PregnancyRegistered,
)

# The same systems and extension URLs as the server's (see docs/connectors/health.md).
PNR_SYSTEM = "urn:oid:1.2.752.129.2.1.3.1"
COORDINATION_SYSTEM = "urn:oid:1.2.752.129.2.1.3.3"  # samordningsnummer
# HL7 Sweden's base profiles (SEBasePatient) name the same two numbers by URI.
PNR_URI = "http://electronichealth.se/identifier/personnummer"
COORDINATION_URI = "http://electronichealth.se/identifier/samordningsnummer"
PERSON_SYSTEMS = (PNR_SYSTEM, COORDINATION_SYSTEM, PNR_URI, COORDINATION_URI)
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"
SNOMED = "http://snomed.info/sct"
EXT = "http://kronobarn.example/fhir/StructureDefinition/"
EXT_MUNICIPALITY = EXT + "municipality-code"
EXT_EXPECTED_DELIVERY = EXT + "expected-delivery-date"
EXT_RECORDING_UNIT = EXT + "recording-unit"
EXT_PREGNANCY = EXT + "pregnancy"
BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
CARE_TYPE_BHV = "BHV"
PREGNANCY_CODE = "118185001"

REGION = "SE2321000065"  # Region Kronoberg: records that name no care unit
RESOURCE_TYPES = ("Condition", "Patient", "EpisodeOfCare", "Encounter", "Immunization", "Observation")
CHILD_UNTIL_AGE = 19  # the programme covers ages 0-18
LISTED = ("active",)
VISITED = ("finished",)
GIVEN = ("completed",)
OBSERVED = ("final", "amended", "corrected")

MISSING = "{kind} lacks {element}"
INVALID = "{kind} has an invalid {element}"
NO_PNR = "{kind} {element} carries no personnummer identifier"
BAD_PNR = "{kind} {element} personnummer rejected: {reason}"
UNSUPPORTED = "resource type {kind} is not read by the health connector"
NO_VALUE = "Observation has no value of a supported type"
NO_PREGNANCY_KEY = "Condition lacks the {key} that keys the unborn child"

# What keys an unborn child (``[source.profile] pregnancy_key``).
KEY_ID = "id"  # the pregnancy Condition's id: stable on most servers
KEY_IDENTIFIER = "identifier"  # Condition.identifier of ``pregnancy_identifier_system``
KEY_PARENT_AND_DATE = "parent-and-expected-date"  # the expectant parent and the expected delivery date
PREGNANCY_KEYS = (KEY_ID, KEY_IDENTIFIER, KEY_PARENT_AND_DATE)
PREGNANCY_NAMESPACE = uuid.UUID("3c5e1f0a-92d4-4b7e-8a61-d0f4b2c9e715")
RESOLVABLE = ("Patient", "Condition", "Encounter", "PractitionerRole")

BAD_PROFILE = "[source.profile] must be a table"
BAD_SYSTEMS = "[source.profile] identifier_systems must be a non-empty list of identifier system URIs"
BAD_EXTENSION = "[source.profile] municipality_extension must be an extension URL"
BAD_RESOLVE = "[source.profile] resolve_references must be true or false"
BAD_PREGNANCY_KEY = "[source.profile] pregnancy_key must be one of {keys}"
BAD_PREGNANCY_SYSTEM = "[source.profile] pregnancy_identifier_system must name a system when pregnancy_key = \"identifier\""
UNKNOWN_PROFILE_KEY = "[source.profile] has no key {key!r}; known: {known}"

Resolved = Mapping[str, Mapping[str, Any] | None]  # "Type/id" -> the resource read, None when gone


@dataclass(frozen=True, slots=True)
class Profile:
    """How one installation's FHIR server differs; the defaults match the stand-in."""

    # Systems whose identifiers carry a personnummer or samordningsnummer, in order of preference.
    identifier_systems: tuple[str, ...] = PERSON_SYSTEMS
    municipality_extension: str = EXT_MUNICIPALITY
    # Read a referenced resource when the reference lacks what the mapping needs.
    resolve_references: bool = True
    pregnancy_key: str = KEY_ID
    pregnancy_identifier_system: str | None = None

    @classmethod
    def from_config(cls, table: Any) -> Profile:
        """From the ``[source.profile]`` table (absent: the defaults). ``ValueError`` names the key."""
        if table is None:
            return cls()
        if not isinstance(table, Mapping):
            raise ValueError(BAD_PROFILE)
        known = ("identifier_systems", "municipality_extension", "resolve_references", "pregnancy_key",
                 "pregnancy_identifier_system")
        for key in table:
            if key not in known:
                raise ValueError(UNKNOWN_PROFILE_KEY.format(key=key, known=", ".join(known)))
        systems = table.get("identifier_systems", list(PERSON_SYSTEMS))
        if not isinstance(systems, list) or not systems or not all(_is_uri(s) for s in systems):
            raise ValueError(BAD_SYSTEMS)
        extension = table.get("municipality_extension", EXT_MUNICIPALITY)
        if not _is_uri(extension):
            raise ValueError(BAD_EXTENSION)
        resolve = table.get("resolve_references", True)
        if not isinstance(resolve, bool):
            raise ValueError(BAD_RESOLVE)
        key = table.get("pregnancy_key", KEY_ID)
        if key not in PREGNANCY_KEYS:
            raise ValueError(BAD_PREGNANCY_KEY.format(keys=", ".join(PREGNANCY_KEYS)))
        system = table.get("pregnancy_identifier_system")
        if (key == KEY_IDENTIFIER and not _is_uri(system)) or (system is not None and not _is_uri(system)):
            raise ValueError(BAD_PREGNANCY_SYSTEM)
        return cls(tuple(systems), extension, resolve, key, system)

    def person_number(self, identifiers: Iterable[Mapping[str, Any] | None] | None) -> str | None:
        """The identifier value to take a person by: of the first system in ``identifier_systems``
        order, one that is not marked ``use = old`` before one that is."""
        ranked = [(identifier.get("use") == "old", self.identifier_systems.index(identifier["system"]),
                   str(identifier["value"]))
                  for identifier in identifiers or ()
                  if identifier and identifier.get("system") in self.identifier_systems and identifier.get("value")]
        return min(ranked)[2] if ranked else None


def _is_uri(value: Any) -> bool:
    return isinstance(value, str) and ":" in value and not any(c.isspace() for c in value)


@dataclass(frozen=True, slots=True)
class Mapper:
    organisation_id: str = REGION
    organisation_ids: Mapping[str, str] = field(default_factory=dict)  # source unit id -> hub id
    # Expectant parents' party ids: the same secret as the population connector's, so the
    # parent keeps their id when custody names them at birth (connectors.parties).
    party_ids: PartyIds = field(default_factory=PartyIds)
    profile: Profile = field(default_factory=Profile)

    def facts(self, kind: str, r: Mapping[str, Any], resolved: Mapping[str, Mapping[str, Any] | None] | None = None,
              ) -> list[Fact]:
        """The facts in resource ``r``; ``resolved`` holds referenced resources by ``Type/id``."""
        mapper: Callable[[Mapper, Mapping[str, Any], Resolved], list[Fact]] | None = _MAPPERS.get(kind)
        if mapper is None:
            raise MappingError(UNSUPPORTED.format(kind=kind))
        if not r.get("id"):
            raise MappingError(MISSING.format(kind=kind, element="id"))
        if not (r.get("meta") or {}).get("lastUpdated"):
            raise MappingError(MISSING.format(kind=kind, element="meta.lastUpdated"))
        return mapper(self, r, resolved or {})

    def references(self, kind: str, r: Mapping[str, Any], resolved: Resolved) -> set[str]:
        """The references (``Type/id``) mapping ``r`` would read in ``resolved`` and that are not
        there yet: the connector reads these, then asks again (a read Condition may name a
        Patient by reference only)."""
        if not self.profile.resolve_references:
            return set()
        wanted: list[Mapping[str, Any] | None] = []
        person = r.get("patient") if kind in ("Immunization", "EpisodeOfCare") else r.get("subject")
        if kind != "Patient" and self._person_id(person, {}) is None:
            wanted.append(person)
        if kind == "Immunization":
            actor = next((p.get("actor") for p in r.get("performer") or ()), None)
            if _reference_type(actor) == "PractitionerRole":
                wanted.append(actor)
            elif _reference_type(actor) == "Practitioner":
                wanted.append(r.get("encounter"))
        if kind == "Patient" and self.profile.pregnancy_key != KEY_ID:
            link = _extension(r, EXT_PREGNANCY, "valueReference")
            if link and self._linked_pregnancy_key(link, {}) is None:
                wanted.append(link)
                condition = resolved.get(_reference_key(link) or "")
                if condition and self.profile.pregnancy_key == KEY_PARENT_AND_DATE:
                    wanted.append(condition.get("subject"))
        keys = {key for ref in wanted if (key := _reference_key(ref)) and key.partition("/")[0] in RESOLVABLE}
        return keys - set(resolved)

    def record_id(self, kind: str, r: Mapping[str, Any], resolved: Resolved) -> str:
        """The id a record is known by in event ids and checkpoints: the resource id, but for a
        pregnancy Condition whose id is not stable, the key of its unborn child when it has one."""
        rid = str(r.get("id") or "unknown")
        if kind != "Condition" or self.profile.pregnancy_key == KEY_ID or PREGNANCY_CODE not in _codes(
                r.get("code"), SNOMED):
            return rid
        return self._pregnancy_key(r, resolved) or rid

    # -- people -------------------------------------------------------------------------

    def patient(self, r: Mapping[str, Any], resolved: Resolved) -> list[Fact]:
        pnr = _pnr(self.profile.person_number(r.get("identifier")), "Patient", "identifier")
        birth_date = _date(r.get("birthDate"), "Patient", "birthDate")
        if not _child(pnr, _instant(r["meta"]["lastUpdated"], "Patient", "meta.lastUpdated").date()):
            return []
        municipality = next((m for a in r.get("address") or () if (m := self._municipality(a))), None)
        link = _extension(r, EXT_PREGNANCY, "valueReference")
        pregnancy = self._linked_pregnancy_key(link, resolved) if link else None
        birth_time = _extension(r.get("_birthDate") or {}, BIRTH_TIME, "valueDateTime")
        born_at = _instant(birth_time, "Patient", "birthTime") if birth_time else _midnight(birth_date)
        name = next(iter(r.get("name") or ()), {})
        personal = {"personnummer": pnr, "given_name": " ".join(name.get("given") or ()),
                    "family_name": name.get("family") or ""}
        return [Fact(
            ChildBorn, Subject(personnummer=pnr, pregnancy=pregnancy), born_at,
            self._organisation(r.get("managingOrganization")),
            {"birth_date": birth_date, "municipality_code": _need(municipality, "Patient", "a municipality code"),
             "pregnancy_event_id": None},
            personal={k: v for k, v in personal.items() if v}, version="born",
        )]

    def condition(self, r: Mapping[str, Any], resolved: Resolved) -> list[Fact]:
        if _first_code(r.get("verificationStatus")) == "entered-in-error":
            return []
        if PREGNANCY_CODE in _codes(r.get("code"), SNOMED):
            return self._pregnancy(r, resolved)
        pnr = _pnr(self._person_id(r.get("subject"), resolved), "Condition", "subject")
        recorded = _instant(r.get("recordedDate") or r.get("onsetDateTime"), "Condition", "recordedDate")
        if not _child(pnr, recorded.date()):
            return []
        unit = self._organisation(_extension(r, EXT_RECORDING_UNIT, "valueReference") or r.get("asserter"))
        return [Fact(ConditionNoted, Subject(personnummer=pnr), recorded, unit, {
            "unit_id": unit,
            "code": _need(_first_code(r.get("code"), SNOMED), "Condition", "code"),
            "clinical_status": _need(_first_code(r.get("clinicalStatus")), "Condition", "clinicalStatus"),
            "noted_on": recorded.date(),
        })]

    def _pregnancy(self, r: Mapping[str, Any], resolved: Resolved) -> list[Fact]:
        recorded = _instant(r.get("recordedDate") or r.get("onsetDateTime"), "Condition", "recordedDate")
        unit = self._organisation(_extension(r, EXT_RECORDING_UNIT, "valueReference"))
        municipality = (_extension(r, self.profile.municipality_extension, "valueCoding") or {}).get("code")
        expected = _date(_extension(r, EXT_EXPECTED_DELIVERY, "valueDate"), "Condition", "expected delivery date")
        parent = _valid_pnr(self._person_id(r.get("subject"), resolved))
        key = self._pregnancy_key(r, resolved)
        if key is None:
            element = ("expectant parent's personnummer" if self.profile.pregnancy_key == KEY_PARENT_AND_DATE
                       else "identifier")
            raise MappingError(NO_PREGNANCY_KEY.format(key=element))
        return [Fact(
            PregnancyRegistered, Subject(pregnancy=key), recorded, unit,
            {"unit_id": unit, "municipality_code": _need(municipality, "Condition", "a municipality code"),
             "expected_birth_date": expected,
             "expectant_parent_id": self.party_ids.party_id(parent) if parent else None},
            personal={"expectant_parent_personnummer": parent} if parent else None, version="registered",
        )]

    # -- care -------------------------------------------------------------------------

    def episode_of_care(self, r: Mapping[str, Any], resolved: Resolved) -> list[Fact]:
        if r.get("status") not in LISTED or not any(CARE_TYPE_BHV in _codes(t) for t in r.get("type") or ()):
            return []
        pnr = _pnr(self._person_id(r.get("patient"), resolved), "EpisodeOfCare", "patient")
        listed_on = _date((r.get("period") or {}).get("start"), "EpisodeOfCare", "period.start")
        if not _child(pnr, listed_on):
            return []
        unit = self._organisation(r.get("managingOrganization"))
        return [Fact(HealthUnitListed, Subject(personnummer=pnr), _midnight(listed_on), unit,
                     {"unit_id": unit, "listed_on": listed_on}, version=f"listed:{unit}:{listed_on.isoformat()}")]

    def encounter(self, r: Mapping[str, Any], resolved: Resolved) -> list[Fact]:
        if r.get("status") not in VISITED:
            return []
        pnr = _pnr(self._person_id(r.get("subject"), resolved), "Encounter", "subject")
        start = _instant((r.get("period") or {}).get("start"), "Encounter", "period.start")
        if not _child(pnr, start.date()):
            return []
        visit_type = next((c for t in r.get("type") or () if (c := _first_code(t))), None)
        unit = self._organisation(r.get("serviceProvider"))
        return [Fact(HealthVisitRecorded, Subject(personnummer=pnr), start, unit, {
            "unit_id": unit, "visit_type": _need(visit_type, "Encounter", "type"), "visited_on": start.date()})]

    def immunization(self, r: Mapping[str, Any], resolved: Resolved) -> list[Fact]:
        if r.get("status") not in GIVEN:
            return []
        pnr = _pnr(self._person_id(r.get("patient"), resolved), "Immunization", "patient")
        given = _instant(r.get("occurrenceDateTime"), "Immunization", "occurrenceDateTime")
        if not _child(pnr, given.date()):
            return []
        unit = self._organisation(self._performing_unit(r, resolved))
        return [Fact(ImmunizationRecorded, Subject(personnummer=pnr), given, unit, {
            "unit_id": unit,
            "vaccine_code": _need(_first_code(r.get("vaccineCode")), "Immunization", "vaccineCode"),
            "dose_number": _dose(r.get("protocolApplied")),
            "given_on": given.date(),
        })]

    def observation(self, r: Mapping[str, Any], resolved: Resolved) -> list[Fact]:
        if r.get("status") not in OBSERVED:
            return []
        pnr = _pnr(self._person_id(r.get("subject"), resolved), "Observation", "subject")
        when = r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start") or r.get("issued")
        observed = _instant(when, "Observation", "effective[x]")
        if not _child(pnr, observed.date()):
            return []
        value, unit_of_measure = _value(r)
        unit = self._organisation(next((p for p in r.get("performer") or () if _is_organisation(p)), None))
        return [Fact(ObservationRecorded, Subject(personnummer=pnr), observed, unit, {
            "unit_id": unit, "code": _need(_first_code(r.get("code")), "Observation", "code"),
            "value": value, "unit": unit_of_measure, "observed_on": observed.date()})]

    def _person_id(self, ref: Mapping[str, Any] | None, resolved: Resolved) -> str | None:
        """The personnummer or samordningsnummer a patient reference names: its own identifier,
        else the identifiers of the Patient it refers to, when the connector read it."""
        own = self.profile.person_number(((ref or {}).get("identifier"),))
        if own is not None:
            return own
        patient = resolved.get(_reference_key(ref) or "")
        return self.profile.person_number(patient.get("identifier")) if patient else None

    def _municipality(self, address: Mapping[str, Any]) -> str | None:
        coding = _extension(address, self.profile.municipality_extension, "valueCoding") or {}
        return coding.get("code") or None

    def _performing_unit(self, r: Mapping[str, Any], resolved: Resolved) -> Mapping[str, Any] | None:
        """The care unit that gave a vaccination: the performer when it is an Organization; a
        PractitionerRole's organization; for a Practitioner, the Encounter's service provider."""
        actor = next((p.get("actor") for p in r.get("performer") or ()), None)
        kind = _reference_type(actor)
        if kind == "PractitionerRole":  # its identifier, if any, names the role, not the unit
            return (resolved.get(_reference_key(actor) or "") or {}).get("organization")
        if kind == "Practitioner":
            return (resolved.get(_reference_key(r.get("encounter")) or "") or {}).get("serviceProvider")
        return actor if kind in ("Organization", None) else None

    def _pregnancy_key(self, r: Mapping[str, Any], resolved: Resolved) -> str | None:
        """What keys the unborn child of pregnancy Condition ``r`` (``Profile.pregnancy_key``)."""
        if self.profile.pregnancy_key == KEY_ID:
            return str(r["id"]) if r.get("id") else None
        if self.profile.pregnancy_key == KEY_IDENTIFIER:
            return _identifier(r.get("identifier"), self.profile.pregnancy_identifier_system or "")
        parent = _valid_pnr(self._person_id(r.get("subject"), resolved))
        expected = _extension(r, EXT_EXPECTED_DELIVERY, "valueDate")
        if parent is None or not expected:
            return None
        # Opaque: the key names the unborn child in event ids and checkpoints, never the parent.
        return str(uuid.uuid5(PREGNANCY_NAMESPACE, f"{self.party_ids.party_id(parent)}|{str(expected)[:10]}"))

    def _linked_pregnancy_key(self, link: Mapping[str, Any], resolved: Resolved) -> str | None:
        """The key of the pregnancy a newborn's Patient links to: by id, by the identifier the
        reference carries, or from the linked Condition the connector read."""
        if self.profile.pregnancy_key == KEY_ID:
            return _reference_id(link, "Condition")
        if self.profile.pregnancy_key == KEY_IDENTIFIER:
            own = _identifier((link.get("identifier"),), self.profile.pregnancy_identifier_system or "")
            if own is not None:
                return own
        condition = resolved.get(_reference_key(link) or "")
        return self._pregnancy_key(condition, resolved) if condition else None

    def _organisation(self, ref: Mapping[str, Any] | None) -> str:
        """The hub's id for a referenced care unit: its HSA-id, else the reference's id."""
        unit = _identifier(((ref or {}).get("identifier"),), HSA_SYSTEM) or _reference_id(ref, "Organization")
        if not unit:
            return self.organisation_id
        return self.organisation_ids.get(unit, unit)


_MAPPERS: dict[str, Callable[[Mapper, Mapping[str, Any], Resolved], list[Fact]]] = {
    "Patient": Mapper.patient,
    "Condition": Mapper.condition,
    "EpisodeOfCare": Mapper.episode_of_care,
    "Encounter": Mapper.encounter,
    "Immunization": Mapper.immunization,
    "Observation": Mapper.observation,
}


# -- elements --------------------------------------------------------------------------------


def _pnr(value: str | None, kind: str, element: str) -> str:
    if not value:
        raise MappingError(NO_PNR.format(kind=kind, element=element))
    try:
        return personnummer.normalise(value)
    except personnummer.PersonnummerError as exc:
        raise MappingError(BAD_PNR.format(kind=kind, element=element, reason=exc)) from None


def _valid_pnr(value: str | None) -> str | None:
    try:
        return personnummer.normalise(value) if value else None
    except personnummer.PersonnummerError:
        return None


def _child(pnr: str, on: dt.date) -> bool:
    born = personnummer.birth_date_of(pnr)
    return (on.year - born.year - ((on.month, on.day) < (born.month, born.day))) < CHILD_UNTIL_AGE


def _identifier(identifiers: Iterable[Mapping[str, Any] | None] | None, system: str) -> str | None:
    for identifier in identifiers or ():
        if identifier and identifier.get("system") == system and identifier.get("value"):
            return str(identifier["value"])
    return None


def _reference_id(ref: Mapping[str, Any] | None, kind: str) -> str | None:
    reference = str((ref or {}).get("reference") or "")
    head, _, rid = reference.rpartition("/")
    return rid if rid and head.rpartition("/")[2] == kind else None


def _reference_key(ref: Mapping[str, Any] | None) -> str | None:
    """``Type/id`` of a literal reference, relative or absolute; None for anything else."""
    reference = str((ref or {}).get("reference") or "")
    if not reference or reference.startswith("#") or "?" in reference:
        return None
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return f"{parts[-2]}/{parts[-1]}" if len(parts) >= 2 and parts[-2] and parts[-1] else None


def _reference_type(ref: Mapping[str, Any] | None) -> str | None:
    if not ref:
        return None
    key = _reference_key(ref)
    return key.partition("/")[0] if key else (str(ref["type"]) if ref.get("type") else None)


def _is_organisation(ref: Mapping[str, Any]) -> bool:
    return ref.get("type") == "Organization" or str(ref.get("reference", "")).startswith("Organization/")


def _extension(r: Mapping[str, Any], url: str, value: str) -> Any:
    return next((e.get(value) for e in r.get("extension") or () if e.get("url") == url), None)


def _codes(concept: Mapping[str, Any] | None, system: str | None = None) -> set[str]:
    return {str(c["code"]) for c in (concept or {}).get("coding") or ()
            if c.get("code") and (system is None or c.get("system") == system)}


def _first_code(concept: Mapping[str, Any] | None, preferred: str | None = None) -> str | None:
    codings = [c for c in (concept or {}).get("coding") or () if c.get("code")]
    codings.sort(key=lambda c: c.get("system") != preferred)
    return str(codings[0]["code"]) if codings else None


def _dose(protocol: Any) -> int:
    applied = next(iter(protocol or ()), {})
    dose = applied.get("doseNumberPositiveInt", applied.get("doseNumberString"))
    try:
        number = int(_need(dose, "Immunization", "protocolApplied.doseNumber"))
    except (TypeError, ValueError):
        raise MappingError(INVALID.format(kind="Immunization", element="protocolApplied.doseNumber")) from None
    if number < 1:
        raise MappingError(INVALID.format(kind="Immunization", element="protocolApplied.doseNumber"))
    return number


def _value(r: Mapping[str, Any]) -> tuple[str, str | None]:
    """The observed value as text, and its unit of measure."""
    if "valueQuantity" in r:
        quantity = r["valueQuantity"] or {}
        value = _need(quantity.get("value"), "Observation", "valueQuantity.value")
        return format(value, "g") if isinstance(value, float) else str(value), quantity.get("code") or quantity.get("unit")
    for element in ("valueString", "valueInteger", "valueBoolean"):
        if element in r and r[element] is not None:
            value = r[element]
            return (str(value).lower() if isinstance(value, bool) else str(value)), None
    if "valueCodeableConcept" in r:
        concept = r["valueCodeableConcept"] or {}
        return _need(_first_code(concept) or concept.get("text"), "Observation", "valueCodeableConcept"), None
    raise MappingError(NO_VALUE)


def _need(value: Any, kind: str, element: str) -> Any:
    if value is None or value == "":
        raise MappingError(MISSING.format(kind=kind, element=element))
    return value


def _date(value: Any, kind: str, element: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(_need(value, kind, element))[:10])
    except ValueError:
        raise MappingError(INVALID.format(kind=kind, element=element)) from None


def _instant(value: Any, kind: str, element: str) -> dt.datetime:
    """A FHIR date or dateTime as aware UTC; a bare date is taken as its midnight UTC."""
    text = str(_need(value, kind, element))
    try:
        if len(text) <= 10:  # a date; a year or year-month is too vague for a fact
            return _midnight(dt.date.fromisoformat(text))
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(INVALID.format(kind=kind, element=element)) from None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
