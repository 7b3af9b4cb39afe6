"""Consent that follows the child's life, through a real worker, read model and web service.

Five children, each in three phases a few seconds apart:

1. a consent the register does not (yet) contradict, and a health fact it covers: released,
   and shown to the recipient on the plan page;
2. the register changes the child's life -- it turns out the child turns 15 today (registered
   with a birth date 15 years ago and guardians who alone granted), or 18 today, or custody
   moves to a new guardian, or an unborn child is born to two guardians of whom only the
   expectant parent granted -- so the consent lapses: the gate publishes ``ReleaseRevoked``,
   the projector purges the fact, and the recipient's page no longer shows it; a child born to
   the expectant parent alone keeps its consent (the carry-over of DESIGN §6);
3. a new consent with the grantors the rules now require releases the fact again.

A birthday that passes while the worker runs is settled by the gate's clock tick exactly like
a ``valid_to`` (both are an end time of the consent); tests/unit/test_consent_over_time.py
checks the gate's fold at every moment around birthdays.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from projections.consent_rules import start_of, swedish_day
from projections.read_model import released_facts
from schemas.events import Area, Basis, Category, Event, Grantor, GrantorRole, ReleaseRevoked, SchoolType
from services.api.auth.tokens import Principal, Role
from services.dev.samples import scoped_grant
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from tests.support.api import Collecting, EmptyHistory
from tests.support.gate import Workers
from tests.support.history import event
from tests.support.projector import caught_up, hub, publish

SCHOOL, BVC, MHV = "skola-1", "SE2321000065-BHV0780", "SE2321000065-MHV0780"
SOURCE = "vc-2"  # a health centre: neither viewer's own facts
D, C = Basis.DIRECTORY, Basis.CONSENT
G = GrantorRole


@dataclass
class Child:
    name: str
    id: uuid.UUID
    viewer: str  # the organisation that opens the plan page: named person (or, from 18, the last one)
    viewer_after: str | None = None  # from phase 2, if the named person changes (at birth: MHV to BHV)
    before: list[Event] = field(default_factory=list)  # phase 1 besides consent and fact
    change: list[Event] = field(default_factory=list)  # phase 2
    first: tuple[Grant, ...] = ()  # phase 1's grantors
    then: tuple[Grant, ...] = ()  # phase 3's grantors
    lapses: bool = True


Grant = Grantor


def _children(now: dt.datetime) -> list[Child]:
    today = swedish_day(now)
    yesterday = now - dt.timedelta(days=1)
    out = []
    g1, g2, g3, mother, father = (uuid.uuid4() for _ in range(5))

    def registered(child: uuid.UUID, years: int, guardians: tuple[uuid.UUID, ...], at: dt.datetime) -> list[Event]:
        born = today.replace(year=today.year - years)
        return [event("ChildRegistered", child, 1, basis=D, org="navet", at=at, birth_date=born,
                      municipality_code="0780"),
                event("CustodyRecorded", child, 2, basis=D, org="navet", at=at, recorded_on=at.date(),
                      guardian_ids=guardians)]

    def placed(child: uuid.UUID, at: dt.datetime, start: dt.date) -> Event:
        return event("SchoolPlacementStarted", child, 3, basis=D, org=SCHOOL, at=at, placement_id=f"p-{child}",
                     school_unit_id=SCHOOL, school_type=SchoolType.COMPULSORY, municipality_code="0780",
                     start_date=start)

    fifteen, eighteen, custody, born, born_alone = (uuid.uuid4() for _ in range(5))
    guardians = (Grant(g1, G.GUARDIAN), Grant(g2, G.GUARDIAN))
    out.append(Child("turns 15 today", fifteen, SCHOOL, None, [placed(fifteen, yesterday, dt.date(2020, 8, 15))],
                     registered(fifteen, 15, (g1, g2), now), guardians, (*guardians, Grant(fifteen, G.CHILD))))
    out.append(Child("turns 18 today", eighteen, SCHOOL, None, [placed(eighteen, yesterday, dt.date(2024, 8, 15))],
                     registered(eighteen, 18, (g1, g2), now), (*guardians, Grant(eighteen, G.CHILD)),
                     (Grant(eighteen, G.YOUNG_PERSON),)))
    out.append(Child("custody changes", custody, SCHOOL, None,
                     [*registered(custody, 10, (g1, g2), yesterday), placed(custody, yesterday, dt.date(2022, 8, 15))],
                     [event("CustodyRecorded", custody, 4, basis=D, org="navet", at=now, recorded_on=now.date(),
                            guardian_ids=(g1, g3))],
                     guardians, (Grant(g1, G.GUARDIAN), Grant(g3, G.GUARDIAN))))
    for child, parents, lapses, name in ((born, (mother, father), True, "born to two guardians"),
                                         (born_alone, (mother,), False, "born to the expectant parent alone")):
        pregnancy = event("PregnancyRegistered", child, 1, basis=D, org=MHV, at=yesterday, unit_id=MHV,
                          municipality_code="0780", expected_birth_date=today, expectant_parent_id=mother)
        birth = [event("ChildBorn", child, 2, basis=D, org=MHV, at=start_of(today), birth_date=today,
                       municipality_code="0780"),
                 event("CustodyRecorded", child, 3, basis=D, org="navet", at=now, recorded_on=now.date(),
                       guardian_ids=parents)]
        out.append(Child(name, child, MHV, BVC, [pregnancy], birth, (Grant(mother, G.EXPECTANT_PARENT),),
                       tuple(Grant(p, G.GUARDIAN) for p in parents), lapses))
    return out


def _consent(child: Child, n: int, grantors: tuple[Grantor, ...], at: dt.datetime) -> Event:
    recipients = [o for o in (child.viewer, child.viewer_after) if o is not None]
    grant = scoped_grant(child.id, uuid.uuid5(child.id, f"consent-{n}"), [Category.HEALTH], recipients,
                         at, at + dt.timedelta(days=90), grantors=grantors)
    return replace(grant, envelope=replace(grant.envelope, occurred_at=at, recorded_at=at))


def _fact(child: Child, at: dt.datetime) -> Event:
    return event("HealthVisitRecorded", child.id, 9, basis=C, org=SOURCE, area=Area.HEALTH, at=at)


def _shown(client: TestClient, app: object, child: Child, later: bool) -> set[str] | None:
    """The fact types on the viewer's plan page; None when the page is not theirs to open."""
    viewer = child.viewer_after if later and child.viewer_after else child.viewer
    principal = Principal("e2e-" + viewer, Role.COORDINATOR, viewer)
    token = app.state.hub.dev_idp.issue(principal)  # type: ignore[attr-defined]
    answer = client.get(f"/children/{child.id}", headers={"Authorization": f"Bearer {token}"})
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    body = answer.json()
    facts = [f for area in body["areas"] for f in area["facts"]] + body["facts_without_area"]
    return {f["fact_type"] for f in facts if f["source"]["id"] == SOURCE}


@pytest.mark.timeout(600)
def test_consents_lapse_when_the_childs_life_changes_and_a_valid_one_brings_the_facts_back(tmp_path: Path) -> None:
    from services.api.app import create_app

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    now = dt.datetime.now(dt.UTC)
    kids = _children(now)
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(cfg))
        engine, codec, store = hub(url)
        app = create_app(Settings(_env_file=None, database_url=url), publish=Collecting(codec),  # type: ignore[call-arg]
                         engine=engine)
        app.state.hub.history = EmptyHistory()
        client = TestClient(app)
        with Workers(broker.bootstrap, tmp_path, tick_s=1.0, database_url=url) as workers:
            workers.start()

            def phase(events: list[Event], later: bool = True) -> dict[str, set[str] | None]:
                asyncio.run(publish(cfg, codec, events))
                assert caught_up(cfg, store, timeout=120, quiet_s=3.0), workers.dump()
                return {k.name: _shown(client, app, k, later) for k in kids}

            yesterday = now - dt.timedelta(days=1)
            first = phase([e for k in kids for e in (*k.before, _consent(k, 1, k.first, yesterday),
                                                     _fact(k, yesterday))], later=False)
            assert first == {k.name: {"HealthVisitRecorded"} for k in kids}
            second = phase([e for k in kids for e in k.change])
            assert second == {k.name: set() if k.lapses else {"HealthVisitRecorded"} for k in kids}
            revoked = {e.fact_event_id for e in _revocations(cfg)}
            assert revoked == {_fact(k, yesterday).event_id for k in kids if k.lapses}
            with engine.connect() as c:  # purged, not only hidden
                rows = set(c.execute(select(released_facts.c.child_id)).scalars())
            assert rows == {str(k.id) for k in kids if not k.lapses}
            later = dt.datetime.now(dt.UTC)
            third = phase([_consent(k, 2, k.then, later) for k in kids if k.lapses])
            assert third == {k.name: {"HealthVisitRecorded"} for k in kids}
            assert workers.alive(), workers.dump()


def _revocations(cfg: Settings) -> list[Event]:
    from schemas.codec import Codec
    from tests.support.kafka import read_all

    codec = Codec()
    return [e for e in (codec.decode_record(r) for r in asyncio.run(read_all(cfg, ["shared"], idle_ms=200)))
            if isinstance(e, ReleaseRevoked)]
