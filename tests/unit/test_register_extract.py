"""The register extract's pure parts (``services.api.audit.extract``): what of an event's sealed
data it gives, a source fact with its releases, the named person's periods, and an audit-log
entry of a kind this version does not know. No I/O: events are built here, opened or erased
as the sealing codec would give them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

from projections.audit import AuditEntry, AuditKind
from schemas.codec import Codec
from schemas.events import Area, Basis, Event, FactReleased, NamedPersonTransferred, ReleaseRevoked, Source
from schemas.sealing import ERASED, Personal, SealedBox, Sealer
from schemas.topics import TOPIC_OF_EVENT
from services.api.audit.extract import Period, access_out, entries, named_person_periods, opened_text, section_of
from services.api.orgs import OrgDirectory
from services.dev.samples import sample_event
from services.readmodel.history import HistoryEntry

CHILD = uuid.UUID(int=77, version=4)
T0 = dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC)
BHV, SCHOOL, SOC = "bhv-1", "skola-1", "soc-1"
DIRECTORY = OrgDirectory(names={BHV: "BVC Ett", SCHOOL: "Skola Ett", SOC: "Socialtjänsten Ett"})


def made(name: str, n: int, *, org: str = BHV, at: dt.datetime = T0, sealed: Any = None, **fields: Any) -> Event:
    template = sample_event(name, seed=n, child_id=CHILD)
    env = replace(template.envelope, event_id=uuid.uuid5(CHILD, f"{name}-{n}"), occurred_at=at, recorded_at=at,
                  sealed=sealed, source=Source("test", org, f"r{n}", "1"), basis=Basis.CONSENT, area=Area.HEALTH)
    return replace(template, envelope=env, **fields)


def logged(e: Event, offset: int = 0) -> HistoryEntry:
    return HistoryEntry(TOPIC_OF_EVENT[type(e)].name, 1, offset, e.envelope.recorded_at, type(e).__name__, e)


def release(fact: Event, n: int, at: dt.datetime, consents: tuple[uuid.UUID, ...] = ()) -> FactReleased:
    return made("FactReleased", n, at=at, fact_event_id=fact.event_id, fact_type=type(fact).__name__,  # type: ignore[return-value]
                consent_ids=consents, fact=Codec().encode(fact))


def revocation(fact: Event, n: int, at: dt.datetime) -> ReleaseRevoked:
    return made("ReleaseRevoked", n, at=at, fact_event_id=fact.event_id, ended_consent_ids=())  # type: ignore[return-value]


def no_decode(_: bytes) -> Event | None:
    raise AssertionError("nothing to decode: every source fact is in the log")


# -- opened text -------------------------------------------------------------------------------------------

def test_opened_text_gives_what_the_key_opens_and_nothing_once_erased() -> None:
    meeting = {"decisions": "BVC leder", "notes": "Anteckning"}
    held = made("MeetingHeld", 1, sealed=Personal(meeting))
    assert opened_text(held, protected=False) == (meeting, "opened")
    assert opened_text(made("MeetingHeld", 1, sealed=ERASED), protected=False) == (
        {"decisions": "[raderad]", "notes": "[raderad]", "child_voice": "[raderad]", "others_present": "[raderad]"},
        "erased")
    assert opened_text(made("ChildRegistered", 2, sealed=ERASED), protected=False) == ({}, "erased")
    assert opened_text(made("HealthVisitRecorded", 3), protected=False) == ({}, "none")
    assert opened_text(made("MeetingHeld", 4, sealed=SealedBox(b"\x01xyz")), protected=False) == ({}, "sealed")


def test_a_protected_childs_address_is_withheld_and_its_name_given() -> None:
    identity = {"personnummer": "20200101-9001", "given_name": "Pia", "family_name": "Ek", "address": "Gatan 1",
                "postal_code": "351 01", "town": "Växjö"}
    registered = made("ChildRegistered", 1, sealed=Personal(identity))
    assert opened_text(registered, protected=True) == (
        {"personnummer": "20200101-9001", "given_name": "Pia", "family_name": "Ek"}, "opened")
    assert opened_text(registered, protected=False) == (dict(sorted(identity.items())), "opened")
    moved = made("ChildMoved", 2, sealed=Personal({"address": "Ny 2", "postal_code": "343 01", "town": "Älmhult"}))
    assert opened_text(moved, protected=True) == ({}, "withheld")


# -- entries ---------------------------------------------------------------------------------------------------

def test_each_source_fact_carries_its_releases_and_access_events_are_left_out() -> None:
    visit = made("HealthVisitRecorded", 1)
    absence = made("AbsenceSummarised", 2, org=SCHOOL, at=T0 + dt.timedelta(minutes=1))
    consent = uuid.uuid4()
    first, second = T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(days=2)
    log = [logged(visit), logged(absence), logged(release(visit, 10, first, (consent,))),
           logged(revocation(visit, 11, T0 + dt.timedelta(days=1))), logged(release(visit, 12, second, (consent,))),
           logged(made("ChildDataViewed", 13, at=T0 + dt.timedelta(minutes=2)))]
    out = {e.event_id: e for e in entries(log, DIRECTORY, protected=False, decode=no_decode)}
    assert set(out) == {visit.event_id, absence.event_id}
    shown = [(r.released_at, r.consent_ids, r.revoked_at) for r in out[visit.event_id].releases]
    assert shown == [(first, [consent], T0 + dt.timedelta(days=1)), (second, [consent], None)]
    assert out[absence.event_id].releases == []
    assert (out[absence.event_id].source.id, out[absence.event_id].source.name) == (SCHOOL, "Skola Ett")
    assert out[visit.event_id].section == "fact"


def test_a_release_stands_for_a_source_fact_the_log_no_longer_holds() -> None:
    visit = made("HealthVisitRecorded", 1, org=SOC)
    later = T0 + dt.timedelta(hours=1)
    decoded: list[bytes] = []

    def decode(data: bytes) -> Event | None:
        decoded.append(data)
        return Codec().decode(data)  # type: ignore[return-value]

    out = entries([logged(release(visit, 10, later)), logged(release(visit, 11, later + dt.timedelta(days=1)))],
                  DIRECTORY, protected=False, decode=decode)
    assert [(e.event_id, e.type, e.source.id, e.occurred_at, e.topic) for e in out] == [
        (visit.event_id, "HealthVisitRecorded", SOC, T0, "intake.health")]
    assert len(out[0].releases) == 2 and len(decoded) == 1


def test_entries_are_in_the_order_the_hub_recorded_them_across_topics() -> None:
    times = [T0 + dt.timedelta(minutes=m) for m in (5, 1, 3)]
    log = [logged(made("PlanOpened", 1, at=times[0])), logged(made("HealthVisitRecorded", 2, at=times[1])),
           logged(made("ConsentGranted", 3, at=times[2]))]
    out = entries(log, DIRECTORY, protected=False, decode=no_decode)
    assert [e.recorded_at for e in out] == sorted(times)
    assert [e.section for e in out] == ["fact", "consent", "plan"]
    assert section_of("statutory.social") == "statutory" and section_of("access") is None


def test_a_protected_childs_municipality_is_not_among_the_fields() -> None:
    moved = made("ChildMoved", 1, from_municipality_code="0764", to_municipality_code="0765")
    [entry] = entries([logged(moved)], DIRECTORY, protected=True, decode=no_decode)
    assert not {k for k in entry.fields if "municipality" in k}
    [open_entry] = entries([logged(moved)], DIRECTORY, protected=False, decode=no_decode)
    assert open_entry.fields["to_municipality_code"] == "0765"


# -- the named person over time -----------------------------------------------------------------------------

def transfer(to: str, at: dt.datetime, reason: str, n: int) -> NamedPersonTransferred:
    return made("NamedPersonTransferred", n, at=at, to_org=to, from_org=BHV, reason_code=reason)  # type: ignore[return-value]


def test_each_period_runs_until_the_next_and_a_transfer_says_why() -> None:
    d = dt.date
    history = [Period(BHV, "bhv-listed", d(2020, 1, 1)), Period(SCHOOL, "transferred", d(2026, 3, 1)),
               Period(None, "gap-school", d(2026, 8, 20))]
    moves = [transfer(SCHOOL, dt.datetime(2026, 2, 1, tzinfo=dt.UTC), "FLYTT", 1),
             transfer(SCHOOL, dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), "BARNET_TRYGGT", 2),
             transfer(SCHOOL, dt.datetime(2026, 5, 1, tzinfo=dt.UTC), "OVERENSKOMMELSE", 3),  # after: not it
             transfer(SOC, dt.datetime(2026, 2, 15, tzinfo=dt.UTC), "ANNAT", 4)]  # to another: not it
    out = named_person_periods(history, moves, DIRECTORY)
    assert [(p.organisation and p.organisation.id, p.since, p.until, p.ended_by, p.reason_code) for p in out] == [
        (BHV, d(2020, 1, 1), d(2026, 3, 1), "transferred", "BARNET_TRYGGT"),
        (SCHOOL, d(2026, 3, 1), d(2026, 8, 20), "gap-school", None),
        (None, d(2026, 8, 20), None, None, None),
    ]
    assert out[0].organisation.name == "BVC Ett"  # type: ignore[union-attr]
    assert named_person_periods([], moves, DIRECTORY) == []


# -- the access log ------------------------------------------------------------------------------------------

class NoKeys:
    def get(self, child_id: uuid.UUID) -> bytes | None:
        raise AssertionError("only a review's comment is opened")

    def get_or_create(self, child_id: uuid.UUID) -> bytes:
        raise AssertionError

    def erase(self, child_id: uuid.UUID) -> bool:
        raise AssertionError

    def is_erased(self, child_id: uuid.UUID) -> bool:
        raise AssertionError


def test_an_entry_of_any_kind_is_given_as_logged() -> None:
    for kind in (AuditKind.VIEW, AuditKind.ERASURE, "a-kind-from-a-later-version"):
        entry = AuditEntry(seq=7, event_id=uuid.uuid4(), kind=kind, occurred_at=T0, viewer_id="someone",  # type: ignore[arg-type]
                           role="administrator", organisation_id=SOC, child_id=CHILD, purpose="GDPR_ART17",
                           parts=("x",), sealed=b"\x01sealed-under-another-key")
        out = access_out(entry, DIRECTORY, Sealer(NoKeys()))
        assert (out.kind, out.purpose, out.organisation.name, out.comment_state) == (
            str(kind), "GDPR_ART17", "Socialtjänsten Ett", "none")
