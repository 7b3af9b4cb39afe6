"""Consent that follows the child's life, through a real worker, read model and web service.

Seven children, each in three phases a few seconds apart. What the recipient's plan page shows
in each phase, and which consent lapsed when and why (as the API reports it):

* **custody changes**: shown under the guardians' consent; custody moves to a new guardian
  (``CustodyRecorded``) -- the consent lapses at that moment: the gate publishes
  ``ReleaseRevoked``, the projector purges the fact, the page stops showing it; a consent by the
  guardians now in custody shows it again.
* **born to two guardians** (after a prenatal consent by the expectant parent): shown to the MHV
  unit before birth; at birth (``ChildBorn``, custody recorded) the consent lapses and the fact
  disappears for the new named person (BHV) too; the two guardians' consent brings it back.
* **born to the expectant parent alone**: the prenatal consent carries over; shown again as
  soon as the register's custody record is in (a birth read before it leaves the newborn
  without known guardians for a moment, and nobody then can consent).
* **turned 15 today / 18 today**: the guardians' consent given yesterday ended at midnight, so
  the fact is never released today, and the API says the consent lapsed then; the consent of
  the guardians and the child (at 18: the young person alone) releases it.
* **turns 15 tomorrow / 18 tomorrow**: shown today; the API says the consent lapses at midnight
  tonight. The gate revokes at its first clock tick after that moment, exactly as it does at a
  ``valid_to`` (the same end time, ``Consent.ends_at``; tests/unit/test_consent_over_time.py
  settles the gate's fold at every moment around birthdays).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from projections.consent_rules import birthday, start_of, swedish_day
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
from tests.support.kafka import read_all
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
    viewer_after: str | None  # from phase 2, if the named person changes (at birth: MHV to BHV)
    before: list[Event]  # phase 1, besides the first consent and the fact
    change: list[Event]  # phase 2
    first: tuple[Grantor, ...]  # the first consent's grantors (phase 1)
    then: tuple[Grantor, ...]  # the second consent's (phase 3)
    shown: tuple[bool, bool, bool]  # whether the viewer sees the fact after each phase
    lapse: tuple[str, dt.datetime] | None = None  # the first consent's lapse, as the API reports it
    # Whether the gate revoked a release of the fact; None: it may have, for a moment -- a birth
    # read before the register's custody record leaves a newborn without known guardians.
    revoked: bool | None = False


def _children(now: dt.datetime) -> list[Child]:
    today = swedish_day(now)
    tomorrow = today + dt.timedelta(days=1)
    yesterday = now - dt.timedelta(days=1)
    g1, g2, g3, mother, father = (uuid.uuid4() for _ in range(5))
    guardians = (Grantor(g1, G.GUARDIAN), Grantor(g2, G.GUARDIAN))

    def registered(child: uuid.UUID, born: dt.date, owners: tuple[uuid.UUID, ...], at: dt.datetime) -> list[Event]:
        return [event("ChildRegistered", child, 1, basis=D, org="navet", at=at, birth_date=born,
                      municipality_code="0780"),
                event("CustodyRecorded", child, 2, basis=D, org="navet", at=at, recorded_on=at.date(),
                      guardian_ids=owners),
                event("SchoolPlacementStarted", child, 3, basis=D, org=SCHOOL, at=at, placement_id=f"p-{child}",
                      school_type=SchoolType.COMPULSORY, school_unit_id=SCHOOL, municipality_code="0780",
                      start_date=born + dt.timedelta(days=7 * 365))]

    out = []
    for years in (15, 18):
        for when, label in ((today, "today"), (tomorrow, "tomorrow")):
            cid = uuid.uuid4()
            try:
                born = when.replace(year=when.year - years)
            except ValueError:  # 29 February: a child born the day before
                born = dt.date(when.year - years, 2, 28)
            first = guardians if years == 15 else (*guardians, Grantor(cid, G.CHILD))
            then = (*guardians, Grantor(cid, G.CHILD)) if years == 15 else (Grantor(cid, G.YOUNG_PERSON),)
            ends = start_of(birthday(born, years))
            past = ends <= now
            out.append(Child(f"turns {years} {label}", cid, SCHOOL, None, registered(cid, born, (g1, g2), yesterday),
                             [], first, then, (not past, not past, True),
                             ("child_age" if years == 15 else "adulthood", ends)))
    custody = uuid.uuid4()
    out.append(Child("custody changes", custody, SCHOOL, None,
                     registered(custody, today.replace(year=today.year - 10), (g1, g2), yesterday),
                     [event("CustodyRecorded", custody, 4, basis=D, org="navet", at=now, recorded_on=now.date(),
                            guardian_ids=(g1, g3))],
                     guardians, (Grantor(g1, G.GUARDIAN), Grantor(g3, G.GUARDIAN)), (True, False, True),
                     ("custody", now), revoked=True))
    for parents, name in (((mother, father), "born to two guardians"), ((mother,), "born to the expectant parent alone")):
        cid = uuid.uuid4()
        pregnancy = event("PregnancyRegistered", cid, 1, basis=D, org=MHV, at=yesterday, unit_id=MHV,
                          municipality_code="0780", expected_birth_date=today, expectant_parent_id=mother)
        birth = [event("ChildBorn", cid, 2, basis=D, org=MHV, at=start_of(today), birth_date=today,
                       municipality_code="0780"),
                 event("CustodyRecorded", cid, 3, basis=D, org="navet", at=now, recorded_on=now.date(),
                       guardian_ids=parents)]
        alone = len(parents) == 1
        out.append(Child(name, cid, MHV, BVC, [pregnancy], birth, (Grantor(mother, G.EXPECTANT_PARENT),),
                         tuple(Grantor(p, G.GUARDIAN) for p in parents), (True, alone, True),
                         None if alone else ("birth", start_of(today)), revoked=None if alone else True))
    return out


def _consent(child: Child, n: int, grantors: tuple[Grantor, ...], at: dt.datetime) -> Event:
    recipients = [o for o in (child.viewer, child.viewer_after) if o is not None]
    grant = scoped_grant(child.id, _consent_id(child, n), [Category.HEALTH], recipients,
                         at, at + dt.timedelta(days=90), grantors=grantors)
    return replace(grant, envelope=replace(grant.envelope, occurred_at=at, recorded_at=at))


def _fact(child: Child, at: dt.datetime) -> Event:
    return event("HealthVisitRecorded", child.id, 9, basis=C, org=SOURCE, area=Area.HEALTH, at=at)


def _page(client: TestClient, app: object, child: Child, later: bool) -> tuple[set[str], list[dict]]:
    """The source's fact types on the viewer's plan page, and the consents it lists."""
    viewer = child.viewer_after if later and child.viewer_after else child.viewer
    principal = Principal("e2e-" + viewer, Role.COORDINATOR, viewer)
    token = app.state.hub.dev_idp.issue(principal)  # type: ignore[attr-defined]
    answer = client.get(f"/children/{child.id}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, (child.name, answer.text)
    body = answer.json()
    facts = [f for area in body["areas"] for f in area["facts"]] + body["facts_without_area"]
    return {f["fact_type"] for f in facts if f["source"]["id"] == SOURCE}, body["consents"]


@pytest.mark.timeout(600)
def test_consents_lapse_when_the_childs_life_changes_and_a_valid_one_brings_the_facts_back(tmp_path: Path) -> None:
    from services.api.app import create_app

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    now = dt.datetime.now(dt.UTC)
    yesterday = now - dt.timedelta(days=1)
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

            def phase(n: int, events: list[Event]) -> None:
                asyncio.run(publish(cfg, codec, events))
                assert caught_up(cfg, store, timeout=120, quiet_s=3.0), workers.dump()
                seen = {k.name: _page(client, app, k, later=n > 0) for k in kids}
                assert {name: bool(page[0]) for name, page in seen.items()} == {k.name: k.shown[n] for k in kids}, n
                if n == 1:  # the first consent's lapse, as the API reports it once the register changed
                    for k in kids:
                        first = next(c for c in seen[k.name][1] if c["consent_id"] == str(_consent_id(k, 1)))
                        got = None if first["lapse"] is None else (first["lapse"], _instant(first["lapsed_at"]))
                        assert got == k.lapse or (k.lapse and got and got[0] == k.lapse[0]
                                                  and abs(got[1] - k.lapse[1]) < dt.timedelta(seconds=30)), k.name

            phase(0, [e for k in kids for e in (*k.before, _consent(k, 1, k.first, yesterday), _fact(k, yesterday))])
            phase(1, [e for k in kids for e in k.change])
            revoked = {e.fact_event_id for e in _revocations(cfg)}
            assert {_fact(k, yesterday).event_id for k in kids if k.revoked} <= revoked
            assert revoked <= {_fact(k, yesterday).event_id for k in kids if k.revoked is not False}
            with engine.connect() as c:  # purged, not only hidden
                rows = set(c.execute(select(released_facts.c.child_id)).scalars())
            assert rows == {str(k.id) for k in kids if k.shown[1]}
            later = dt.datetime.now(dt.UTC)
            phase(2, [_consent(k, 2, k.then, later) for k in kids if not k.shown[1]])
            assert workers.alive(), workers.dump()


def _consent_id(child: Child, n: int) -> uuid.UUID:
    return uuid.uuid5(child.id, f"consent-{n}")


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _revocations(cfg: Settings) -> list[ReleaseRevoked]:
    from schemas.codec import Codec

    codec = Codec()
    return [e for e in (codec.decode_record(r) for r in asyncio.run(read_all(cfg, ["shared"], idle_ms=200)))
            if isinstance(e, ReleaseRevoked)]
