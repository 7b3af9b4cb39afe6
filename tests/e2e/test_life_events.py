"""Life events from the population register (issue 15), through a real worker (gate and projector)
and read model: the named person, the gaps lists, the plan and the consents follow the child.

Six children, in three phases a few seconds apart. Phase 0: each is registered yesterday (with its
guardians, a school placement or none), with a consent by its guardians and a fact under it; two
have an open plan. Phase 1, the change, today:

* **custody changes** -- a guardian is replaced: the consent lapses (``custody``), the fact is
  revoked and purged; the named person (the school) stays;
* **moves within the county, off a gaps list** -- a pupil whose placement ended long ago is on
  Växjö's gaps list; after the move to Alvesta it is on Alvesta's; the consent holds;
* **moves within the county, at BHV age** -- the named person follows to the new municipality's BHV;
* **moves out of the county** -- to Jönköping: the named person ends (``ended-moved-out``), it is on
  no gaps list, the consent and the fact stay (a move ends no consent), the plan stays open;
* **emigrates** -- the named person ends (``ended-emigrated``), the consent lapses
  (``emigration``), the fact is revoked and purged;
* **dies** (it was on Växjö's gaps list) -- the named person ends (``ended-death``), it leaves the
  gaps list, the consent lapses at the start of the day (``death``), the fact is revoked and
  purged, the open plan reads as closed from that midnight.

Phase 2, after the death: a new fact about the dead child, and a new consent of its guardians
(published straight to the topic, as if the API had let one through): nothing is released. The
check reads ``shared`` itself: no release of the dead child's facts after the gate learnt of the
death.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from projections.read_model import children, consents, released_facts
from schemas.codec import Codec
from schemas.events import Area, Basis, Category, Event, FactReleased, Grantor, GrantorRole, ReleaseRevoked, SchoolType
from services.dev.samples import scoped_grant
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from tests.support.gate import Workers
from tests.support.history import event
from tests.support.kafka import read_all
from tests.support.projector import caught_up, hub, publish

SCHOOL = "skolenhet-07802001"
BHV_0780, BHV_0764 = "SE2321000065-BHV0780", "SE2321000065-BHV0764"
SOURCE = "vc-2"  # a health centre: the facts' source
D, C = Basis.DIRECTORY, Basis.CONSENT
G = GrantorRole
SE = ZoneInfo("Europe/Stockholm")


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=SE).astimezone(dt.UTC)


def _consent(child: uuid.UUID, n: int, grantors: tuple[Grantor, ...], at: dt.datetime) -> Event:
    grant = scoped_grant(child, uuid.uuid5(child, f"consent-{n}"), [Category.HEALTH], [SCHOOL, BHV_0780, BHV_0764],
                         at, at + dt.timedelta(days=90), grantors=grantors)
    return replace(grant, envelope=replace(grant.envelope, occurred_at=at, recorded_at=at))


def _fact(child: uuid.UUID, n: int, at: dt.datetime) -> Event:
    return event("HealthVisitRecorded", child, n, basis=C, org=SOURCE, area=Area.HEALTH, at=at)


def _registered(child: uuid.UUID, born: dt.date, guardians: tuple[uuid.UUID, ...], at: dt.datetime,
                placement: tuple[dt.date, dt.date | None] | None) -> list[Event]:
    out = [event("ChildRegistered", child, 1, basis=D, org="navet", at=at, birth_date=born, municipality_code="0780"),
           event("CustodyRecorded", child, 2, basis=D, org="navet", at=at, recorded_on=at.date(),
                 guardian_ids=guardians)]
    if placement is not None:
        start, end = placement
        out.append(event("SchoolPlacementStarted", child, 3, basis=D, org=SCHOOL, at=at, placement_id=f"p-{child}",
                         school_type=SchoolType.COMPULSORY, school_unit_id=SCHOOL, municipality_code="0780",
                         start_date=start))
        if end is not None:
            out.append(event("SchoolPlacementEnded", child, 4, basis=D, org=SCHOOL, at=at, placement_id=f"p-{child}",
                             school_type=SchoolType.COMPULSORY, school_unit_id=SCHOOL, end_date=end))
    return out


def _plan(child: uuid.UUID, at: dt.datetime) -> Event:
    return event("PlanOpened", child, 20, basis=C, org=BHV_0780, at=at, plan_id=uuid.uuid5(child, "plan"),
                 opened_by_org=BHV_0780, consent_ids=(uuid.uuid5(child, "consent-1"),))


def _rows(engine) -> tuple[dict[str, dict], dict[str, list[dict]], set[str]]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        kids = {r.child_id: dict(r._mapping) for r in c.execute(select(children))}
        given: dict[str, list[dict]] = {}
        for r in c.execute(select(consents)):
            given.setdefault(r.child_id, []).append(dict(r._mapping))
        facts = set(c.execute(select(released_facts.c.child_id)).scalars())
    return kids, given, facts


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite gives naive UTC


@pytest.mark.timeout(600)
def test_the_named_person_gaps_lists_plan_and_consents_follow_the_childs_life(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(SE).date()
    yesterday = now - dt.timedelta(days=1)
    g1, g2, g3 = (uuid.uuid4() for _ in range(3))
    guardians = (Grantor(g1, G.GUARDIAN), Grantor(g2, G.GUARDIAN))
    ten = today.replace(year=today.year - 10, day=min(today.day, 28))
    toddler_born = today - dt.timedelta(days=2 * 365)
    placed = (ten.replace(year=ten.year + 7), None)
    ended_long_ago = (ten.replace(year=ten.year + 7), today - dt.timedelta(days=200))  # a gap by now
    custody, gap, toddler, out, emigrant, dies = (uuid.uuid4() for _ in range(6))
    before = {
        custody: _registered(custody, ten, (g1, g2), yesterday, placed),
        gap: _registered(gap, ten, (g1, g2), yesterday, ended_long_ago),
        toddler: _registered(toddler, toddler_born, (g1, g2), yesterday, None),
        out: _registered(out, ten, (g1, g2), yesterday, placed),
        emigrant: _registered(emigrant, ten, (g1, g2), yesterday, placed),
        dies: _registered(dies, ten, (g1, g2), yesterday, ended_long_ago),
    }
    change = [
        event("CustodyRecorded", custody, 5, basis=D, org="navet", at=now, recorded_on=today, guardian_ids=(g1, g3)),
        event("ChildMoved", gap, 5, basis=D, org="navet", at=now, from_municipality_code="0780",
              to_municipality_code="0764", moved_on=today),
        event("ChildMoved", toddler, 5, basis=D, org="navet", at=now, from_municipality_code="0780",
              to_municipality_code="0764", moved_on=today),
        event("ChildMoved", out, 5, basis=D, org="navet", at=now, from_municipality_code="0780",
              to_municipality_code="0680", moved_on=today),
        event("ChildEmigrated", emigrant, 5, basis=D, org="navet", at=now, emigrated_on=today),
        event("ChildDied", dies, 5, basis=D, org="navet", at=now, died_on=today),
    ]
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(cfg))
        engine, codec, store = hub(url)
        with Workers(broker.bootstrap, tmp_path, tick_s=1.0, database_url=url) as workers:
            workers.start()

            def phase(events: list[Event]) -> tuple[dict[str, dict], dict[str, list[dict]], set[str]]:
                asyncio.run(publish(cfg, codec, events))
                assert caught_up(cfg, store, timeout=120, quiet_s=3.0), workers.dump()
                return _rows(engine)

            # -- phase 0: registered yesterday, a consent, a fact, two plans ------------------------
            kids, given, facts = phase([e for child, events in before.items() for e in
                                        (*events, _consent(child, 1, guardians, yesterday), _fact(child, 9, yesterday))]
                                       + [_plan(out, yesterday), _plan(dies, yesterday)])
            row = {child: kids[str(child)] for child in before}
            assert facts == {str(c) for c in before}, "every child's fact released under its consent"
            assert (row[gap]["municipality_code"], row[gap]["on_gaps_list"]) == ("0780", True)
            assert (row[dies]["on_gaps_list"], row[dies]["plan_status"]) == (True, "open")
            assert row[toddler]["named_person_org"] == BHV_0780
            assert row[out]["named_person_org"] == SCHOOL and row[custody]["named_person_org"] == SCHOOL

            # -- phase 1: the change -------------------------------------------------------------------
            kids, given, facts = phase(change)
            row = {child: kids[str(child)] for child in before}
            lapse = {child: [(c["lapse"], _utc(c["lapsed_at"])) for c in given[str(child)]] for child in before}
            assert lapse[custody][0][0] == "custody" and row[custody]["named_person_org"] == SCHOOL
            assert (row[gap]["municipality_code"], row[gap]["on_gaps_list"]) == ("0764", True)  # Alvesta's list now
            assert (row[toddler]["named_person_org"], row[toddler]["named_person_rule"]) == (BHV_0764, "bhv-home")
            assert lapse[gap] == lapse[toddler] == lapse[out] == [(None, None)]  # a move ends no consent
            assert (row[out]["municipality_code"], row[out]["named_person_org"], row[out]["named_person_rule"],
                    row[out]["on_gaps_list"], row[out]["plan_status"]) == ("0680", None, "ended-moved-out", False,
                                                                           "open")
            assert (row[emigrant]["named_person_rule"], row[emigrant]["emigrated_on"]) == ("ended-emigrated", today)
            assert lapse[emigrant] == [("emigration", midnight(today))]
            assert (row[dies]["named_person_org"], row[dies]["named_person_rule"], row[dies]["on_gaps_list"]) == (
                None, "ended-death", False)
            assert (row[dies]["died_on"], row[dies]["plan_status"], _utc(row[dies]["plan_closed_at"])) == (
                today, "closed", midnight(today))
            assert lapse[dies] == [("death", midnight(today))]
            assert facts == {str(c) for c in (gap, toddler, out)}, "revoked and purged where the consent lapsed"
            assert not any(k["on_gaps_list"] for k in kids.values() if k["died_on"] or k["emigrated_on"])

            # -- phase 2: after the death, a new fact and a new consent: nothing is released ----------
            later = dt.datetime.now(dt.UTC)
            kids, given, facts = phase([_fact(dies, 10, later), _consent(dies, 2, guardians, later),
                                        _fact(emigrant, 10, later)])
            assert str(dies) not in facts and str(emigrant) not in facts
            assert [c["lapse"] for c in given[str(dies)]] == ["death", "death"]
            assert workers.alive(), workers.dump()

        shared = [e for e in (Codec().decode_record(r) for r in asyncio.run(read_all(cfg, ["shared"], idle_ms=200)))
                  if isinstance(e, FactReleased | ReleaseRevoked) and e.envelope.basis is not D]
    revoked = {e.fact_event_id for e in shared if isinstance(e, ReleaseRevoked)}
    assert revoked == {_fact(c, 9, yesterday).event_id for c in (custody, emigrant, dies)}
    learnt = max(e.envelope.occurred_at for e in shared if isinstance(e, ReleaseRevoked)
                 and e.fact_event_id == _fact(dies, 9, yesterday).event_id)
    after_death = [e for e in shared if isinstance(e, FactReleased) and e.envelope.child_id == dies
                   and e.envelope.occurred_at >= learnt]
    assert after_death == [], json.dumps([str(e.fact_event_id) for e in after_death])
