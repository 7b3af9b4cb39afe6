"""The school stand-in's records, derived from the synthetic county as SS 12000 2.1.0 shapes them.

* ``organisations``: one ``Huvudman`` per municipality and each school unit (``Skolenhet``)
  with its ``schoolUnitCode`` (the directory id's digits), ``municipalityCode``, ``schoolTypes``
  and the municipality as ``parentOrganisation``.
* ``duties``: each unit's principal (``dutyRole`` "Rektor"); the person's name is a reference
  display name, served only with ``expandReferenceNames=true``.
* ``persons``: every child the school system knows, with ``civicNo`` (12 digits, no separator)
  and ``enrolments``: förskoleklass ``FKLASS`` (year 0), grundskola ``GR`` (years 1-9),
  gymnasieskola ``GY`` (years 1-3). A few newly arrived pupils whom the population register does
  not know carry a samordningsnummer (``COORDINATION_SHARE``; drawn from a stream of their own,
  so the county stays as the other stand-ins see it).
* ``placements``: förskola ``FS`` from the county's preschool placements, and fritidshem ``FTH``
  beside förskoleklass for about ``FTH_SHARE`` of the pupils.
* ``attendance``: what ``/aggregatedAttendance`` sums, one row per pupil, activity and month (or
  school day, with the county's ``daily`` attendance), in minutes; ``absences``: the absence
  events (``Anmäld frånvaro``, ``Beviljad ledighet``) behind the valid absence.
* The local extensions ``supportDecisions`` and ``kaaRegistrations`` (not in the standard).

Every id is a UUIDv5 of the county's own id, so all stand-in runs agree.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any

from connectors import personnummer
from connectors.standins.common import at, feed_start
from connectors.standins.county import (
    FAMILY,
    GIVEN,
    SEKRETESSMARKERING,
    SKYDDAD_FOLKBOKFORING,
    Child,
    County,
    Placement,
)
from connectors.standins.store import stamp
from schemas.county import PRESCHOOL, SCHOOL, UPPER_SECONDARY

NAMESPACE = uuid.UUID("5d0a8a4e-6f1c-5e44-9a57-3b3c8c1f5a12")  # the stand-in's ids, fixed forever
ENROLMENT = {"PRESCHOOL_CLASS": "FKLASS", "COMPULSORY": "GR", "UPPER_SECONDARY": "GY"}
UNIT_SCHOOL_TYPES = {PRESCHOOL: ["FS"], SCHOOL: ["FKLASS", "GR", "FTH"], UPPER_SECONDARY: ["GY"]}
SECURITY = {SEKRETESSMARKERING: "Sekretessmarkering", SKYDDAD_FOLKBOKFORING: "Skyddad folkbokföring"}
SUPPORT = ("EXTRA_ADAPTATIONS", "SPECIAL_SUPPORT", "ACTION_PROGRAMME")
COORDINATION_SHARE = 0.01  # of pupils: a newly arrived sibling-less pupil with a samordningsnummer
FTH_SHARE = 0.6  # of förskoleklass pupils, also at the unit's fritidshem
LESSON_MINUTES = 360  # offered per school day
ACTIVITIES = 3  # activities (subjects) per pupil and enrolment

Row = tuple[str, str, dt.datetime, dict[str, Any]]


def uid(local: str) -> str:
    return str(uuid.uuid5(NAMESPACE, local))


def person_id(child: Child) -> str:
    return uid(f"person-{child.index:06d}")


def unit_uid(unit_id: str) -> str:
    return uid(unit_id)


def owner_uid(code: str) -> str:
    return uid(f"huvudman-{code}")


def meta(created: dt.datetime, modified: dt.datetime | None = None) -> dict[str, str]:
    return {"created": stamp(created), "modified": stamp(modified or created)}


def principal_name(unit_id: str) -> str:
    """The unit's principal, a synthetic staff name fixed by the unit id."""
    rng = random.Random(f"principal|{unit_id}")
    return f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"


def organisations(county: County) -> Iterator[Row]:
    start = dt.datetime.combine(county.window_start, dt.time(7), dt.UTC)
    for m in county.directory.municipalities:
        oid = owner_uid(m.code)
        yield "organisations", oid, start, {
            "id": oid, "displayName": f"{m.name} kommun", "organisationType": "Huvudman",
            "municipalityCode": m.code, "meta": meta(start)}
    for unit in county.units:
        if unit.principal_id is None:
            continue
        oid = unit_uid(unit.id)
        yield "organisations", oid, start, {
            "id": oid, "displayName": unit.name, "organisationType": "Skolenhet",
            "schoolUnitCode": unit.id.rsplit("-", 1)[-1], "municipalityCode": unit.municipality_code,
            "schoolTypes": UNIT_SCHOOL_TYPES.get(unit.kind, ["GR"]),
            "parentOrganisation": {"id": owner_uid(unit.municipality_code)}, "meta": meta(start)}
        did = uid(f"duty-{unit.id}")
        yield "duties", did, start, {
            "id": did, "dutyRole": "Rektor", "dutyAt": {"id": oid},
            "person": {"id": uid(unit.principal_id), "displayName": principal_name(unit.id)},
            "startDate": county.window_start.isoformat(), "meta": meta(start)}


def _school_year(child: Child, p: Placement, on: dt.date) -> int:
    """The year (årskurs) the pupil is in on ``on``: 0 in förskoleklass, 1-9, or 1-3 in GY."""
    first = {"PRESCHOOL_CLASS": 6, "COMPULSORY": 7, "UPPER_SECONDARY": 16}[p.school_type]
    year = on.year - (child.birth_date.year + first) + (1 if on.month >= 8 else 0)
    if p.school_type == "PRESCHOOL_CLASS":
        return 0
    return max(1, min(year, 9 if p.school_type == "COMPULSORY" else 3))


def _enrolment(child: Child, p: Placement, county: County) -> dict[str, Any]:
    body: dict[str, Any] = {"enroledAt": {"id": unit_uid(p.unit_id)}, "schoolType": ENROLMENT[p.school_type],
                            "schoolYear": _school_year(child, p, min(p.end or county.as_of, county.as_of)),
                            "startDate": p.start.isoformat()}
    if p.end is not None:
        body["endDate"] = p.end.isoformat()
    return body


def coordination_number(birth: dt.date, serial: int) -> str:
    """A synthetic samordningsnummer, 12 digits without separator: the day of birth + 60."""
    body = f"{birth:%y%m}{birth.day + personnummer.COORDINATION_DAY:02d}{serial:03d}"
    return f"{birth:%Y%m}{birth.day + personnummer.COORDINATION_DAY:02d}{serial:03d}{personnummer.luhn_digit(body)}"


def pupils(county: County, child: Child) -> Iterator[Row]:
    """The child's records, and sometimes a newly arrived classmate's (samordningsnummer)."""
    if child.person is None or not (child.placements or child.kaa_from):
        return
    yield from _pupil(county, child, person_id(child), child.person.personnummer.replace("-", ""),
                      child.person.given_name, child.person.family_name)
    rng = random.Random(f"{county.seed}:school-coordination:{child.index}")
    school = [p for p in child.placements if p.school_type in ENROLMENT]
    if school and rng.random() < COORDINATION_SHARE:
        arrived = school[-1]
        newcomer = Child(index=child.index, person=None, birth_date=child.birth_date, mother=child.mother,
                         guardians=(), municipality_code=child.municipality_code, moves=(),
                         pregnancy_registered_on=None,
                         placements=(Placement(f"{arrived.id}-samordning", arrived.school_type, arrived.unit_id,
                                               max(arrived.start, county.window_start), arrived.end),),
                         kaa_from=None)
        number = coordination_number(child.birth_date, rng.choice(personnummer.SYNTHETIC_SERIALS))
        yield from _pupil(county, newcomer, uid(f"person-{child.index:06d}-samordning"), number,
                          rng.choice(GIVEN), rng.choice(FAMILY))


def _pupil(county: County, child: Child, pid: str, civic: str, given: str, family: str) -> Iterator[Row]:
    rng = random.Random(f"{county.seed}:school:{pid}")
    first = min([p.start for p in child.placements] + ([child.kaa_from] if child.kaa_from else []))
    created = at(feed_start(county, first), child.index, 7)
    changes = [created] + [at(feed_start(county, p.start), child.index) for p in child.placements]
    changes += [at(feed_start(county, p.end), child.index, 15) for p in child.placements if p.end is not None]
    enrolments = [_enrolment(child, p, county) for p in child.placements if p.school_type in ENROLMENT]
    person: dict[str, Any] = {
        "id": pid, "givenName": given, "familyName": family, "birthDate": child.birth_date.isoformat(),
        "civicNo": {"value": civic, "nationality": "SE"}, "enrolments": enrolments,
        "meta": meta(created, max(changes))}
    protection = child.protection_on(county.as_of) if child.person is not None else "NONE"
    if protection in SECURITY:
        person["securityMarking"] = SECURITY[protection]
    yield "persons", pid, max(changes), person
    for p in child.placements:
        if p.school_type == "PRESCHOOL":
            yield _placement(county, child, p, pid, "FS", uid(p.id))
            continue
        if p.school_type == "PRESCHOOL_CLASS" and rng.random() < FTH_SHARE:
            yield _placement(county, child, p, pid, "FTH", uid(f"{p.id}-fritids"))
        yield from _attendance(county, child, p, pid, rng)
        if rng.random() < 0.06:
            day = feed_start(county, p.start) + dt.timedelta(days=rng.randrange(20, 200))
            if day < county.as_of and (p.end is None or day < p.end):
                sid = uid(f"support-{p.id}")
                yield "supportDecisions", sid, at(day, child.index, 13), {
                    "id": sid, "student": {"id": pid}, "organisation": {"id": unit_uid(p.unit_id)},
                    "supportType": rng.choice(SUPPORT), "decidedOn": day.isoformat(),
                    "meta": meta(at(day, child.index, 13))}
    if child.kaa_from:
        kid = uid(f"kaa-{child.index:06d}")
        code = child.moves[-1][1] if child.moves else child.municipality_code
        yield "kaaRegistrations", kid, at(child.kaa_from, child.index, 11), {
            "id": kid, "person": {"id": pid}, "municipalityCode": code,
            "registeredOn": child.kaa_from.isoformat(), "meta": meta(at(child.kaa_from, child.index, 11))}


def _placement(county: County, child: Child, p: Placement, pid: str, school_type: str, rid: str) -> Row:
    created = at(feed_start(county, p.start), child.index)
    modified = created if p.end is None else at(feed_start(county, p.end), child.index, 15)
    body: dict[str, Any] = {"id": rid, "placedAt": {"id": unit_uid(p.unit_id)}, "child": {"id": pid},
                            "schoolType": school_type, "startDate": p.start.isoformat(), "meta": meta(created, modified)}
    if p.end is not None:
        body["endDate"] = p.end.isoformat()
    return "placements", rid, modified, body


def school_day(day: dt.date) -> bool:
    summer = (day.month, day.day) >= (6, 13) and (day.month, day.day) < (8, 15)
    return day.weekday() < 5 and not summer and not (day.month == 12 and day.day > 21)


def _periods(county: County, p: Placement) -> Iterator[tuple[dt.date, dt.date]]:
    """The complete months (or, daily, the school days) of the placement within the window."""
    last = min(county.as_of, p.end) if p.end is not None else county.as_of
    if county.attendance == "daily":
        day = feed_start(county, p.start)
        while day < last:
            if school_day(day):
                yield day, day
            day += dt.timedelta(days=1)
        return
    month = feed_start(county, p.start).replace(day=1)
    while True:
        nxt = (month + dt.timedelta(days=32)).replace(day=1)
        if nxt > county.as_of or (p.end is not None and month > p.end):
            return
        if month.month != 7 and month >= p.start.replace(day=1):
            yield month, nxt - dt.timedelta(days=1)
        month = nxt


def _attendance(county: County, child: Child, p: Placement, pid: str, rng: random.Random) -> Iterator[Row]:
    """Per period and activity, minutes offered, attended and absent; the absence events behind
    the valid (reported) absence, at most a few per period."""
    heavy = rng.random() < 0.05  # a few children with problematic absence
    activities = [uid(f"activity|{p.unit_id}|{p.school_type}|{k}") for k in range(ACTIVITIES)]
    for start, end in _periods(county, p):
        days = sum(1 for n in range((end - start).days + 1) if school_day(start + dt.timedelta(days=n)))
        if days == 0:
            continue
        share = rng.uniform(0.10, 0.40) if heavy else rng.uniform(0.0, 0.08)
        if county.attendance == "daily":
            share = 1.0 if rng.random() < (0.2 if heavy else 0.04) else 0.0
        invalid_share = share * rng.uniform(0, 0.5) if rng.random() < 0.3 else 0.0
        for activity in activities:
            offered = days * LESSON_MINUTES // ACTIVITIES
            absent, invalid = round(offered * share), round(offered * invalid_share)
            body = {"activity": {"id": activity}, "student": {"id": pid}, "startDate": start.isoformat(),
                    "endDate": end.isoformat(), "attendanceSum": offered - absent, "validAbsenceSum": absent - invalid,
                    "invalidAbsenceSum": invalid, "otherAttendanceSum": 0, "reportedSum": offered,
                    "offeredSum": offered}
            rid = f"{pid}|{activity}|{start.isoformat()}"
            yield "attendance", rid, dt.datetime.combine(start, dt.time(0), dt.UTC), body
        valid_days = round(days * (share - invalid_share))
        for n in range(min(valid_days, 3)):
            day = start + dt.timedelta(days=n * 2)
            if not school_day(day):
                continue
            aid = uid(f"absence|{pid}|{p.id}|{day.isoformat()}")
            begins = dt.datetime.combine(day, dt.time(7), dt.UTC)
            yield "absences", aid, at(day, child.index, 7), {
                "id": aid, "student": {"id": pid}, "organisation": {"id": unit_uid(p.unit_id)},
                "type": "Beviljad ledighet" if rng.random() < 0.2 else "Anmäld frånvaro",
                "startTime": stamp(begins), "endTime": stamp(begins + dt.timedelta(hours=8)),
                "meta": meta(at(day, child.index, 7))}
