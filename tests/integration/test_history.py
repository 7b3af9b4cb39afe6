"""Auditors' history functions against a real broker and a real worker (gate + projector).

A scripted child goes through ``kronobarn worker`` in phases a little apart in real time,
next to another child whose events land in the same partition:

0. directory facts, two consent-basis facts (one each from BHV and the school), a report of
   concern from the register and one filed through the hub, a read of the child's data -- and no
   consent yet;
1. consent A (health facts to the school, long) and consent B (school facts to BHV, expiring
   within seconds), and a plan;
2. nothing: B expires, which needs no event (the gate's sweep is far off, so the school fact
   is still in the plan);
3. A is withdrawn: the gate revokes, and the projector purges every fact.

``child_history`` must hold every record of the child on every topic and none of the other
child; ``plan_as_seen`` at the moment after each phase must show exactly what each
organisation could see then, and agree with ``kronobarn replay --until`` on what the plan held.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from projections.access import EmergencyGrant, Ground
from projections.read_model import children, released_facts
from schemas.events import Area, Basis, Category, Event, SchoolType
from services.dev.samples import sample_event, scoped_grant, scoped_guardian, scoped_withdrawal
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.kafka.partitions import partition_of
from services.readmodel.history import HISTORY_TOPICS, SeenPlan, child_history, plan_as_seen
from services.settings import Settings
from tests.support.gate import Workers
from tests.support.history import BHV, SOC, event
from tests.support.kafka import read_all
from tests.support.projector import caught_up, hub, publish, replay_cli

PARTITIONS = 4
CHILD = uuid.UUID(int=4242, version=4)
OTHER = next(c for n in range(1, 10_000) if (c := uuid.UUID(int=n, version=4)) != CHILD
             and partition_of(str(c), PARTITIONS) == partition_of(str(CHILD), PARTITIONS))
SCHOOL = "skola-1"
CONSENT_A, CONSENT_B = uuid.uuid5(CHILD, "consent-a"), uuid.uuid5(CHILD, "consent-b")
EXPIRES_S = 12.0  # consent B's life after phase 1 is sent
D, C = Basis.DIRECTORY, Basis.CONSENT


def _viewed(child: uuid.UUID, n: int, at: dt.datetime) -> Event:
    e = sample_event("ChildDataViewed", seed=n, child_id=child)
    return replace(e, envelope=replace(e.envelope, event_id=uuid.uuid5(child, f"viewed-{n}"), occurred_at=at,
                                       recorded_at=at, sealed=None))


def _stamped(events: list[Event], at: dt.datetime) -> list[Event]:
    return [replace(e, envelope=replace(e.envelope, occurred_at=at, recorded_at=at)) for e in events]


def _filed(child: uuid.UUID, at: dt.datetime) -> Event:
    """A report of concern filed through the hub, in a category neither consent below covers (so
    the plans as seen stay as they are): the history holds it, and its route, all the same."""
    e = event("ReportOfConcernFiled", child, 8, basis=Basis.STATUTORY, org="kommun-0780-kaa", area=Area.SAFETY, at=at,
              reporter_municipality_code="0780")
    return replace(e, envelope=replace(e.envelope, category=Category.SOCIAL))


def phase0(at: dt.datetime) -> list[Event]:
    other = scoped_grant(OTHER, uuid.uuid5(OTHER, "consent"), [Category.HEALTH], [SCHOOL],
                         at - dt.timedelta(hours=1), at + dt.timedelta(days=30))
    return _stamped([
        event("ChildRegistered", CHILD, 1, basis=D, org="navet", at=at, birth_date=dt.date(2015, 3, 1),
              municipality_code="0780"),
        event("CustodyRecorded", CHILD, 7, basis=D, org="navet", at=at, recorded_on=at.date(),
              guardian_ids=(scoped_guardian(CHILD),)),
        event("HealthUnitListed", CHILD, 2, basis=D, org=BHV, at=at, unit_id=BHV, listed_on=dt.date(2015, 4, 1)),
        event("SchoolPlacementStarted", CHILD, 3, basis=D, org=SCHOOL, at=at, placement_id="p1",
              school_unit_id=SCHOOL, school_type=SchoolType.PRESCHOOL_CLASS, municipality_code="0780",
              start_date=dt.date(2021, 8, 16)),
        event("HealthVisitRecorded", CHILD, 4, basis=C, org=BHV, area=Area.HEALTH, at=at),
        event("AbsenceSummarised", CHILD, 5, basis=C, org=SCHOOL, area=Area.LEARNING, at=at),
        event("ReportOfConcernReceived", CHILD, 6, basis=Basis.STATUTORY, org=SOC, area=Area.SAFETY, at=at),
        _filed(CHILD, at),
        _viewed(CHILD, 1, at),
        event("ChildRegistered", OTHER, 1, basis=D, org="navet", at=at, birth_date=dt.date(2016, 5, 1),
              municipality_code="0780"),
        event("CustodyRecorded", OTHER, 7, basis=D, org="navet", at=at, recorded_on=at.date(),
              guardian_ids=(scoped_guardian(OTHER),)),
        event("HealthVisitRecorded", OTHER, 4, basis=C, org=BHV, area=Area.HEALTH, at=at),
        other,
        _viewed(OTHER, 1, at),
    ], at)


def phase1(at: dt.datetime) -> list[Event]:
    return _stamped([
        scoped_grant(CHILD, CONSENT_A, [Category.HEALTH], [SCHOOL], at - dt.timedelta(hours=1),
                     at + dt.timedelta(days=30)),
        scoped_grant(CHILD, CONSENT_B, [Category.SCHOOL], [BHV], at - dt.timedelta(hours=1),
                     at + dt.timedelta(seconds=EXPIRES_S)),
        event("PlanOpened", CHILD, 10, basis=C, org=SCHOOL, at=at, plan_id=uuid.uuid5(CHILD, "plan"),
              opened_by_org=SCHOOL, consent_ids=(CONSENT_A,)),
        # BHV takes part in the plan: it may open the child while a consent lists it (B).
        event("MeetingHeld", CHILD, 11, basis=C, org=SCHOOL, at=at, plan_id=uuid.uuid5(CHILD, "plan"),
              meeting_id=uuid.uuid5(CHILD, "meeting"), held_on=at.date(), participant_orgs=(SCHOOL, BHV),
              lead_org=None),
    ], at)


def phase3(at: dt.datetime) -> list[Event]:
    return _stamped([scoped_withdrawal(CHILD, CONSENT_A, at)], at)


def seen(cfg: Settings, codec: object, org: str, at: dt.datetime) -> SeenPlan:
    return asyncio.run(plan_as_seen(cfg, codec, CHILD, org, at))  # type: ignore[arg-type]


def fact_types(plan: SeenPlan) -> set[str]:
    return {f.fact_type for f in plan.facts}


def replayed(bootstrap: str, hub_url: str, moment: dt.datetime, tmp: Path, n: int) -> tuple[set[str], str | None]:
    """The fact ids and named person that ``kronobarn replay --until`` gives for the child."""
    into = f"sqlite:///{tmp / f'replay-{n}.db'}"
    done = replay_cli(bootstrap, hub_url, into, "--until", moment.isoformat(), cwd=tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    engine, _, _ = hub(into)
    with engine.connect() as c:
        facts = set(c.execute(select(released_facts.c.fact_event_id)
                              .where(released_facts.c.child_id == str(CHILD))).scalars())
        named = c.execute(select(children.c.named_person_org).where(children.c.child_id == str(CHILD))).scalar()
    engine.dispose()
    return facts, named


@pytest.mark.timeout(600)
def test_history_and_the_plan_as_each_organisation_saw_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    moments: list[dt.datetime] = []
    sent: list[Event] = []
    expires = dt.datetime.now(dt.UTC)  # consent B's end, set when phase 1 is sent
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap, partitions=PARTITIONS, _env_file=None)  # type: ignore[call-arg]
        asyncio.run(kafka.create_topics(cfg))
        _, codec, store = hub(url)
        with Workers(broker.bootstrap, tmp_path, tick_s=600.0, database_url=url) as workers:
            workers.start()
            for n, build in enumerate((phase0, phase1, None, phase3)):
                if build is None:  # phase 2: wait for consent B to run out
                    time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 1.0)
                else:
                    at = dt.datetime.now(dt.UTC)
                    if build is phase1:
                        expires = at + dt.timedelta(seconds=EXPIRES_S)
                    events = build(at)
                    sent += events
                    asyncio.run(publish(cfg, codec, events))
                    assert caught_up(cfg, store, timeout=120, quiet_s=2.0), str(workers.logs[-1])
                moments.append(dt.datetime.now(dt.UTC))
                assert n != 1 or moments[-1] < expires, "phase 1 took longer than consent B lives"
                time.sleep(1.0)  # the next phase is recorded strictly later
        # ---- the full history -----------------------------------------------------------
        history = asyncio.run(child_history(cfg, codec, CHILD))
        log = asyncio.run(read_all(cfg, HISTORY_TOPICS, idle_ms=200))
        mine = {(r.topic, r.partition, r.offset) for r in log if r.key == str(CHILD).encode()}
        assert {(h.topic, h.partition, h.offset) for h in history} == mine  # every record of the child
        assert all(h.event.child_id == CHILD for h in history)
        ids = {h.event.event_id for h in history}
        assert {e.event_id for e in sent if e.child_id == CHILD} <= ids
        assert not ids & {e.event_id for e in sent if e.child_id == OTHER}
        assert {h.topic for h in history} == set(HISTORY_TOPICS)  # routed report and releases included
        assert {"FactReleased", "ReleaseRevoked", "ReportOfConcernRouted"} <= {h.type_name for h in history}
        for topic in HISTORY_TOPICS:
            offsets = [h.offset for h in history if h.topic == topic]
            assert offsets == sorted(offsets), topic  # log order per topic
        assert [h.recorded_at for h in history] == sorted(h.recorded_at for h in history)
        until = asyncio.run(child_history(cfg, codec, CHILD, until=moments[1]))
        assert until == [h for h in history if h.recorded_at <= moments[1]] and 0 < len(until) < len(history)
        # ---- the plan as each organisation saw it ---------------------------------------
        views = [{org: seen(cfg, codec, org, m) for org in (SCHOOL, BHV, SOC)} for m in moments]
        # Under an emergency access one of its coordinators had open at T, SOC saw what that
        # access allows: the facts some consent valid at T covers; outside it, nothing.
        opened = moments[1] - dt.timedelta(seconds=1)
        grant = EmergencyGrant(CHILD, "soc-coordinator", SOC, opened, opened + dt.timedelta(days=1))
        urgent = asyncio.run(plan_as_seen(cfg, codec, CHILD, SOC, moments[1], [grant]))  # type: ignore[arg-type]
        not_yet = asyncio.run(plan_as_seen(cfg, codec, CHILD, SOC, opened - dt.timedelta(seconds=1), [grant]))  # type: ignore[arg-type]
        elsewhere = asyncio.run(plan_as_seen(cfg, codec, CHILD, SOC, moments[1],  # type: ignore[arg-type]
                                             [replace(grant, organisation_id=BHV)]))
        agreed = [replayed(broker.bootstrap, url, m, tmp_path, n) for n, m in enumerate(moments)]
    health, school = "HealthVisitRecorded", "AbsenceSummarised"
    # 0: nothing released yet, so nobody (not even the producer) sees it in the plan.
    assert [fact_types(views[0][o]) for o in (SCHOOL, BHV, SOC)] == [set(), set(), set()]
    assert views[0][SCHOOL].state.plan.status is None and views[0][SCHOOL].named_person.organisation_id == SCHOOL
    # 1: each recipient sees the fact its consent covers, each producer its own; SOC, neither
    # named person nor participant, could not open the child at all.
    assert fact_types(views[1][SCHOOL]) == {health, school}
    assert views[1][BHV].decision.ground is Ground.PARTICIPANT
    assert fact_types(views[1][BHV]) == {health, school}
    assert not views[1][SOC].decision.allowed and fact_types(views[1][SOC]) == set()
    assert urgent.decision.ground is Ground.EMERGENCY and fact_types(urgent) == {health, school}
    assert not not_yet.decision.allowed and fact_types(not_yet) == set()
    assert not elsewhere.decision.allowed and fact_types(elsewhere) == set()
    assert {c.consent_id for c in views[1][SCHOOL].consents} == {CONSENT_A, CONSENT_B}
    assert views[1][SCHOOL].state.plan.status == "open"
    # 2: B has expired with no event: the school fact is still in the plan and its producer
    # still sees it; BHV, a participant only under B, can no longer open the child -- not even
    # its own fact shows, as it did not in the live service then.
    assert {f.fact_type for f in views[2][SCHOOL].state.plan.facts.values()} == {health, school}
    assert fact_types(views[2][SCHOOL]) == {health, school}
    assert {c.consent_id for c in views[2][SCHOOL].consents} == {CONSENT_A}
    assert not views[2][BHV].decision.allowed and fact_types(views[2][BHV]) == set()
    assert views[2][BHV].consents == ()
    assert fact_types(views[2][SOC]) == set()
    # 3: A withdrawn: the gate revoked, the projector purged -- gone for every organisation.
    assert [fact_types(views[3][o]) for o in (SCHOOL, BHV, SOC)] == [set(), set(), set()]
    assert views[3][SCHOOL].consents == ()
    # The same fold as ``kronobarn replay --until``.
    for view, (facts, named) in zip(views, agreed, strict=True):
        assert {str(f) for f in view[SCHOOL].state.plan.facts} == facts
        assert view[SCHOOL].named_person.organisation_id == named
