"""The region's health records for the synthetic county, as FHIR R4 resources.

Per child, from ``county.rng("health", index)`` only, so output is deterministic and streams:

* a pregnancy registered at the MHV unit (Condition, SNOMED 118185001) with the mother as a
  Patient, for unborn children and children born in the window;
* the child as a Patient once born (newborns link to their pregnancy Condition);
* BHV listing (EpisodeOfCare), programme visits (Encounter), growth measurements
  (Observation) and vaccinations (Immunization) for children in child health care;
* occasional visits and noted conditions for older children.

Clinical records are dated inside the one-year window; a current BHV listing is kept even when
it began earlier, because it is the child's present state. ``meta.versionId`` and
``meta.lastUpdated`` are added by the server from the store's row; ``last_updated`` here is the
record's natural time, so the initial load can be read incrementally by time.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from connectors.standins.county import Child, County, Person, Unit
from connectors.standins.health import vocabulary as v

SYSTEM = "health"
IDS = uuid.UUID("6f1d2c3e-8a4b-4c5d-9e6f-0a1b2c3d4e5f")
NO_SHOW = 0.04  # share of programme visits that do not happen
Resource = tuple[str, str, dt.datetime, dict[str, Any]]  # type, id, last updated, body


def county_resources(county: County) -> Iterator[Resource]:
    """Every resource of the county, child by child; a mother of siblings appears once."""
    patients: set[str] = set()
    for child in county:
        for resource in child_resources(county, child):
            if resource[0] == "Patient":
                if resource[1] in patients:
                    continue
                patients.add(resource[1])
            yield resource


def child_resources(county: County, child: Child) -> list[Resource]:
    rng = county.rng(SYSTEM, child.index)
    out: list[Resource] = []
    pregnancy_id = None
    if child.pregnancy_registered_on is not None:
        pregnancy_id = resource_id(county, "pregnancy", child.index)
        out.extend(_pregnancy(county, child, pregnancy_id, rng))
    if child.person is None:
        return out
    records = [*_child_health_care(county, child, rng), *_other_care(county, child, rng)]
    if records or pregnancy_id is not None:
        out.append(_child_patient(county, child, pregnancy_id, rng))
        out.extend(records)
    return out


def resource_id(county: County, kind: str, *key: object) -> str:
    """An opaque, stable id (Cosmic's FHIR ids are GUIDs)."""
    return str(uuid.uuid5(IDS, ":".join(str(k) for k in (county.seed, kind, *key))))


def patient_id(county: County, pnr: str) -> str:
    return resource_id(county, "patient", pnr)


# -- people ----------------------------------------------------------------------------------


def _patient(county: County, person: Person, code: str, gender: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": patient_id(county, person.personnummer),
        "meta": {"tag": list(v.SYNTHETIC_TAGS)},
        "identifier": [{"use": "official", "system": v.PNR_SYSTEM, "value": person.personnummer.replace("-", "")}],
        "active": True,
        "name": [{"use": "official", "family": person.family_name, "given": [person.given_name]}],
        "gender": gender,
        "birthDate": person.birth_date.isoformat(),
        "address": [_address(county, code)],
    }


def _child_patient(county: County, child: Child, pregnancy_id: str | None, rng: random.Random) -> Resource:
    person = child.person
    assert person is not None
    code = _municipality_on(child, county.as_of)
    body = _patient(county, person, code, "male" if int(person.personnummer[-2]) % 2 else "female")
    born = _moment(child.birth_date, rng, 0, 24)
    updated = born
    if pregnancy_id is not None:
        body["extension"] = [{"url": v.EXT_PREGNANCY, "valueReference": {"reference": f"Condition/{pregnancy_id}"}}]
        body["_birthDate"] = {"extension": [{"url": v.BIRTH_TIME, "valueDateTime": _iso(born)}]}
    for moved_on, _ in child.moves:
        updated = max(updated, _moment(moved_on, rng))  # the address changed with the move
    return "Patient", body["id"], updated, body


def _address(county: County, code: str) -> dict[str, Any]:
    name = county.directory.municipality_name(code)
    return {
        "use": "home",
        "city": name,
        "district": "Kronobergs län",
        "country": "SE",
        "extension": [{"url": v.EXT_MUNICIPALITY,
                       "valueCoding": {"system": v.KOMMUNKOD, "code": code, "display": name}}],
    }


def _pregnancy(county: County, child: Child, pregnancy_id: str, rng: random.Random) -> list[Resource]:
    registered_on = child.pregnancy_registered_on
    assert registered_on is not None
    registered = _moment(registered_on, rng)
    mother = _patient(county, child.mother, child.municipality_code, "female")
    mhv = county.unit("MHV", child.municipality_code)
    expected = child.birth_date
    body: dict[str, Any] = {
        "resourceType": "Condition",
        "id": pregnancy_id,
        "meta": {"tag": list(v.SYNTHETIC_TAGS)},
        "extension": [
            {"url": v.EXT_RECORDING_UNIT, "valueReference": _org(mhv)},
            {"url": v.EXT_MUNICIPALITY, "valueCoding": {"system": v.KOMMUNKOD, "code": child.municipality_code}},
        ],
        "clinicalStatus": _coding(v.CONDITION_CLINICAL, "active"),
        "verificationStatus": _coding(v.CONDITION_VERIFICATION, "confirmed"),
        "category": [_coding(v.CONDITION_CATEGORY, "problem-list-item")],
        "code": {"coding": [{"system": v.SNOMED, "code": v.PREGNANCY[0], "display": v.PREGNANCY[1]}],
                 "text": "Graviditet"},
        "subject": _patient_ref(mother["id"], child.mother),
        "onsetDateTime": registered_on.isoformat(),
        "recordedDate": _iso(registered),
    }
    updated = registered
    if child.born:
        expected = child.birth_date + dt.timedelta(days=rng.randrange(-14, 15))
        body["clinicalStatus"] = _coding(v.CONDITION_CLINICAL, "resolved")
        body["abatementDateTime"] = child.birth_date.isoformat()
        updated = _moment(child.birth_date, rng, 12, 10)  # closed after the birth
    body["extension"].insert(0, {"url": v.EXT_EXPECTED_DELIVERY, "valueDate": expected.isoformat()})
    return [("Patient", mother["id"], registered - dt.timedelta(minutes=30), mother),
            ("Condition", pregnancy_id, updated, body)]


# -- child health care (BHV) -----------------------------------------------------------------


def _child_health_care(county: County, child: Child, rng: random.Random) -> list[Resource]:
    """Listing, programme visits, measurements and vaccinations until förskoleklass."""
    bhv_end = dt.date(child.birth_date.year + 6, 8, 15)
    if bhv_end <= county.window_start:
        return []
    out = _listings(county, child, rng, bhv_end)
    growth = rng.gauss(1.0, 0.06)
    for n, (age, code, display, vaccines) in enumerate(v.BHV_VISITS):
        day = child.birth_date + dt.timedelta(days=age + rng.randrange(0, 10))
        skipped = rng.random() < NO_SHOW
        if skipped or not county.window_start <= day < min(county.as_of, bhv_end):
            continue
        unit = county.unit("BHV", _municipality_on(child, day))
        start = _moment(day, rng)
        encounter = _encounter(county, child, ("bhv", n), unit, start, code, display, "HH" if n == 0 else "AMB")
        out.append(encounter)
        for k, (loinc, value) in enumerate(_measurements(child, day, growth, rng)):
            out.append(_observation(county, child, (n, k), unit, encounter[1], start + dt.timedelta(minutes=10 + k), loinc, value))
        for k, (atc, name, dose) in enumerate(vaccines):
            out.append(_immunization(county, child, (n, k), unit, encounter[1], start + dt.timedelta(minutes=20 + k), atc, name, dose))
    if rng.random() < 0.06:
        out.extend(_noted_condition(county, child, rng, lambda day: county.unit("BHV", _municipality_on(child, day))))
    return out


def _listings(county: County, child: Child, rng: random.Random, bhv_end: dt.date) -> list[Resource]:
    """Listed at the home BHV days after birth; a move ends it and lists the child anew."""
    listed_on = child.birth_date + dt.timedelta(days=rng.randrange(3, 11))
    if listed_on >= county.as_of:
        return []
    code = _municipality_on(child, listed_on)
    periods: list[tuple[str, dt.date, dt.date | None]] = [(code, listed_on, None)]
    for moved_on, new_code in child.moves:
        if listed_on < moved_on < min(county.as_of, bhv_end):
            periods[-1] = (periods[-1][0], periods[-1][1], moved_on)
            relisted = moved_on + dt.timedelta(days=rng.randrange(1, 15))
            if relisted < county.as_of:
                periods.append((new_code, relisted, None))
    out = []
    for n, (where, start, end) in enumerate(periods):
        if end is None and bhv_end <= county.as_of:
            end = bhv_end  # moved on to förskoleklass
        unit = county.unit("BHV", where)
        eoc_id = resource_id(county, "listing", child.index, n)
        body: dict[str, Any] = {
            "resourceType": "EpisodeOfCare",
            "id": eoc_id,
            "meta": {"tag": list(v.SYNTHETIC_TAGS)},
            "status": "active" if end is None else "finished",
            "type": [{"coding": [{"system": v.CARE_TYPE, "code": "BHV", "display": "Barnhälsovård"}]}],
            "patient": _patient_ref(_child_id(county, child), child.person),
            "managingOrganization": _org(unit),
            "period": {"start": start.isoformat(), **({"end": end.isoformat()} if end else {})},
        }
        updated = _moment(start if end is None else end, rng)
        out.append(("EpisodeOfCare", eoc_id, updated, body))
    return out


def _measurements(child: Child, day: dt.date, factor: float, rng: random.Random) -> list[tuple[tuple[str, str, str], float]]:
    months = (day - child.birth_date).days / 30.44
    weight, height, head = (_growth(months, i) for i in (1, 2, 3))
    out = [(v.WEIGHT, round(weight * factor * rng.gauss(1, 0.03), 2)),
           (v.HEIGHT, round(height * (1 + (factor - 1) / 3) * rng.gauss(1, 0.01), 1))]
    if months < v.HEAD_UNTIL_MONTHS:
        out.append((v.HEAD, round(head * rng.gauss(1, 0.015), 1)))
    return out


def _growth(months: float, column: int) -> float:
    table = v.GROWTH
    for (m0, *a), (m1, *b) in zip(table, table[1:], strict=False):
        if months <= m1:
            share = max(0.0, (months - m0) / (m1 - m0))
            return a[column - 1] + share * (b[column - 1] - a[column - 1])
    return table[-1][column]


# -- other care ----------------------------------------------------------------------------


def _other_care(county: County, child: Child, rng: random.Random) -> list[Resource]:
    """School-age children: the odd visit to the region's clinics and a noted condition."""
    if dt.date(child.birth_date.year + 6, 8, 15) > county.window_start:
        return []
    region = Unit(county.directory.region.id, "REGION", county.directory.region.name, "")
    out: list[Resource] = []
    if rng.random() < 0.18:
        for n in range(rng.choice((1, 1, 2))):
            day = county.window_start + dt.timedelta(days=rng.randrange(0, 365))
            code, display, klass = rng.choice(v.OTHER_VISITS)
            if day < county.as_of:
                out.append(_encounter(county, child, ("other", n), region, _moment(day, rng, 8, 12), code, display, klass))
    if rng.random() < 0.05:
        out.extend(_noted_condition(county, child, rng, lambda day: region))
    return out


def _noted_condition(county: County, child: Child, rng: random.Random,
                     unit_on: Callable[[dt.date], Unit]) -> list[Resource]:
    day = max(county.window_start, child.birth_date) + dt.timedelta(days=rng.randrange(0, 365))
    age = (day - child.birth_date).days // 365
    choices = [c for c in v.CONDITIONS if c[2] <= age]
    if day >= county.as_of or not choices:
        return []
    code, display, _ = rng.choice(choices)
    recorded = _moment(day, rng)
    unit = unit_on(day)
    condition_id = resource_id(county, "condition", child.index)
    resolved = code == "65363002" and rng.random() < 0.8  # most ear infections pass
    body: dict[str, Any] = {
        "resourceType": "Condition",
        "id": condition_id,
        "meta": {"tag": list(v.SYNTHETIC_TAGS)},
        "extension": [{"url": v.EXT_RECORDING_UNIT, "valueReference": _org(unit)}],
        "clinicalStatus": _coding(v.CONDITION_CLINICAL, "resolved" if resolved else "active"),
        "verificationStatus": _coding(v.CONDITION_VERIFICATION, "confirmed"),
        "category": [_coding(v.CONDITION_CATEGORY, "encounter-diagnosis")],
        "code": {"coding": [{"system": v.SNOMED, "code": code, "display": display}]},
        "subject": _patient_ref(_child_id(county, child), child.person),
        "onsetDateTime": day.isoformat(),
        "recordedDate": _iso(recorded),
    }
    return [("Condition", condition_id, recorded, body)]


# -- clinical resources -------------------------------------------------------------------------


def _encounter(county: County, child: Child, key: tuple[Any, ...], unit: Unit, start: dt.datetime,
               code: str, display: str, klass: str) -> Resource:
    encounter_id = resource_id(county, "encounter", child.index, *key)
    end = start + dt.timedelta(minutes=30)
    body = {
        "resourceType": "Encounter",
        "id": encounter_id,
        "meta": {"tag": list(v.SYNTHETIC_TAGS)},
        "status": "finished",
        "class": {"system": v.ACT_CODE, "code": klass},
        "type": [{"coding": [{"system": v.VISIT_TYPE, "code": code, "display": display}]}],
        "subject": _patient_ref(_child_id(county, child), child.person),
        "period": {"start": _iso(start), "end": _iso(end)},
        "serviceProvider": _org(unit),
    }
    return "Encounter", encounter_id, end, body


def _observation(county: County, child: Child, key: tuple[Any, ...], unit: Unit, encounter_id: str,
                 at: dt.datetime, loinc: tuple[str, str, str], value: float) -> Resource:
    observation_id = resource_id(county, "observation", child.index, *key)
    code, display, ucum = loinc
    body = {
        "resourceType": "Observation",
        "id": observation_id,
        "meta": {"tag": list(v.SYNTHETIC_TAGS)},
        "status": "final",
        "category": [_coding(v.OBSERVATION_CATEGORY, "vital-signs")],
        "code": {"coding": [{"system": v.LOINC, "code": code, "display": display}]},
        "subject": _patient_ref(_child_id(county, child), child.person),
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "effectiveDateTime": _iso(at),
        "performer": [_org(unit)],
        "valueQuantity": {"value": value, "unit": ucum, "system": v.UCUM, "code": ucum},
    }
    return "Observation", observation_id, at + dt.timedelta(minutes=30), body


def _immunization(county: County, child: Child, key: tuple[Any, ...], unit: Unit, encounter_id: str,
                  at: dt.datetime, atc: str, name: str, dose: int) -> Resource:
    immunization_id = resource_id(county, "immunization", child.index, *key)
    body = {
        "resourceType": "Immunization",
        "id": immunization_id,
        "meta": {"tag": list(v.SYNTHETIC_TAGS)},
        "status": "completed",
        "vaccineCode": {"coding": [{"system": v.ATC, "code": atc, "display": name}]},
        "patient": _patient_ref(_child_id(county, child), child.person),
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "occurrenceDateTime": _iso(at),
        "primarySource": True,
        "performer": [{"actor": _org(unit)}],
        "protocolApplied": [{"doseNumberPositiveInt": dose}],
    }
    return "Immunization", immunization_id, at + dt.timedelta(minutes=30), body


# -- helpers ------------------------------------------------------------------------------------


def _child_id(county: County, child: Child) -> str:
    assert child.person is not None
    return patient_id(county, child.person.personnummer)


def _patient_ref(pid: str, person: Person | None) -> dict[str, Any]:
    """A literal reference that also carries the personnummer, as Cosmic's export does."""
    assert person is not None
    return {"reference": f"Patient/{pid}", "type": "Patient",
            "identifier": {"system": v.PNR_SYSTEM, "value": person.personnummer.replace("-", "")}}


def _org(unit: Unit) -> dict[str, Any]:
    return {"reference": f"Organization/{unit.id}", "type": "Organization",
            "identifier": {"system": v.HSA_SYSTEM, "value": unit.id}, "display": unit.name}


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _municipality_on(child: Child, day: dt.date) -> str:
    code = child.municipality_code
    for moved_on, new_code in child.moves:
        if day >= moved_on:
            code = new_code
    return code


def _moment(day: dt.date, rng: random.Random, from_hour: int = 8, hours: int = 9) -> dt.datetime:
    """A time on ``day`` within working hours (UTC), to the second."""
    start = dt.datetime(day.year, day.month, day.day, from_hour, tzinfo=dt.UTC)
    return start + dt.timedelta(seconds=rng.randrange(hours * 3600))


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()
