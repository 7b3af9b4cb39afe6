"""Auditors' time travel: ``kronobarn replay --until T`` gives the read model as it stood at T.

A scripted history goes through a real worker in four phases, a few seconds apart in real
time (the hub stamps what it receives, and the gate stamps what it releases). Replaying up to
the moment after each phase must show exactly that phase's plan, named person and facts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from projections.read_model import (
    assessment_history,
    assessments,
    children,
    consents,
    invitation_answers,
    invitations,
    released_facts,
)
from schemas.events import Area, Basis, Category, InvitationAnswer, SchoolType
from schemas.sealing import Personal
from services.dev.samples import scoped_grant, scoped_guardian, scoped_withdrawal
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from tests.support.gate import Workers, wait_for_progress
from tests.support.history import BHV, event
from tests.support.projector import caught_up, hub, publish, replay_cli

CHILD = uuid.UUID(int=4242, version=4)
CONSENT_ID = uuid.uuid5(CHILD, "consent")
PLAN_ID = uuid.uuid5(CHILD, "plan")
D, C = Basis.DIRECTORY, Basis.CONSENT
# What the gate publishes per phase: four directory facts; the held visit released; two
# directory facts; the release revoked.
GATE_OUTPUTS = (4, 1, 2, 1)


def _phases() -> list:  # type: ignore[type-arg]
    """Four phases of one child's history, each built when it is sent (``now``)."""
    return [
        lambda at: [
            event("ChildRegistered", CHILD, 1, basis=D, org="navet", at=at, birth_date=dt.date(2015, 3, 1),
                  municipality_code="0780"),
            event("CustodyRecorded", CHILD, 5, basis=D, org="navet", at=at, recorded_on=at.date(),
                  guardian_ids=(scoped_guardian(CHILD),)),
            event("HealthUnitListed", CHILD, 2, basis=D, org=BHV, at=at, unit_id=BHV, listed_on=dt.date(2015, 4, 1)),
            event("SchoolPlacementStarted", CHILD, 3, basis=D, org="skola-1", at=at, placement_id="p1",
                  school_unit_id="skola-1", school_type=SchoolType.PRESCHOOL_CLASS, municipality_code="0780",
                  start_date=dt.date(2021, 8, 16)),
            event("HealthVisitRecorded", CHILD, 4, basis=C, org=BHV, area=Area.HEALTH, at=at),
        ],
        lambda at: [
            scoped_grant(CHILD, CONSENT_ID, [Category.HEALTH], ["skola-1"], at - dt.timedelta(hours=1),
                         at + dt.timedelta(days=30)),
            event("PlanOpened", CHILD, 10, basis=C, org="skola-1", at=at, plan_id=PLAN_ID, opened_by_org="skola-1",
                  consent_ids=(CONSENT_ID,)),
            event("MeetingHeld", CHILD, 11, basis=C, org="skola-1", at=at, plan_id=PLAN_ID,
                  meeting_id=uuid.uuid5(CHILD, "m1"), held_on=at.date(), participant_orgs=("skola-1", BHV),
                  lead_org=BHV, sealed=Personal({"decisions": "BHV leder"})),
            event("AreaAssessed", CHILD, 12, basis=C, org="skola-1", area=Area.HEALTH, at=at, plan_id=PLAN_ID,
                  rating=2, assessed_by_org="skola-1", sealed=Personal({"comment": "Oro för sömnen"})),
            event("MeetingInvited", CHILD, 16, basis=C, org="skola-1", at=at, plan_id=PLAN_ID,
                  meeting_id=uuid.uuid5(CHILD, "m2"), starts_at=at + dt.timedelta(days=7), invited_orgs=(BHV,),
                  child_invited=True, guardians_invited=True, sealed=Personal({"questions": "Sömnen"})),
        ],
        lambda at: [
            event("AreaAssessed", CHILD, 13, basis=C, org=BHV, area=Area.HEALTH, at=at, plan_id=PLAN_ID,
                  rating=4, assessed_by_org=BHV, sealed=Personal({"comment": "Bättre nu"})),
            event("InvitationAnswered", CHILD, 17, basis=C, org=BHV, at=at, plan_id=PLAN_ID,
                  meeting_id=uuid.uuid5(CHILD, "m2"), invitee_org=BHV, answer=InvitationAnswer.NOT_COMING),
            event("SchoolPlacementEnded", CHILD, 14, basis=D, org="skola-1", at=at, placement_id="p1",
                  school_unit_id="skola-1", school_type=SchoolType.PRESCHOOL_CLASS, end_date=dt.date(2022, 6, 10)),
            event("SchoolPlacementStarted", CHILD, 15, basis=D, org="skola-2", at=at, placement_id="p2",
                  school_unit_id="skola-2", school_type=SchoolType.COMPULSORY, municipality_code="0780",
                  start_date=dt.date(2022, 8, 18)),
        ],
        lambda at: [scoped_withdrawal(CHILD, CONSENT_ID, at)],
    ]


def _stamped(events: list, at: dt.datetime) -> list:  # type: ignore[type-arg]
    """Consent events carry the sample's times; give them the phase's."""
    from dataclasses import replace

    return [replace(e, envelope=replace(e.envelope, occurred_at=at, recorded_at=at)) for e in events]


def _view(url: str) -> dict[str, object]:
    engine, _, _ = hub(url)
    with engine.connect() as c:
        child = c.execute(select(children).where(children.c.child_id == str(CHILD))).mappings().one_or_none()
        rating = c.execute(select(assessments.c.rating, assessments.c.comment)).all()
        facts = c.execute(select(released_facts.c.fact_type)).scalars().all()
        withdrawn = c.execute(select(consents.c.withdrawn_at)).scalars().all()
        history = c.execute(select(assessment_history.c.rating)
                            .order_by(assessment_history.c.assessed_at)).scalars().all()
        answers = c.execute(select(invitation_answers.c.answer)).scalars().all()
        invited = c.execute(select(invitations.c.meeting_id)).scalars().all()
    engine.dispose()
    return {"history": list(history), "kallelser": len(invited), "answers": answers,"named_person": child and child["named_person_org"], "plan": child and child["plan_status"],
            "lead": child and child["lead_org"], "rating": rating, "facts": sorted(facts),
            "consent_withdrawn": [w is not None for w in withdrawn]}


@pytest.mark.timeout(600)
def test_replay_until_gives_the_read_model_as_it_stood(tmp_path: Path) -> None:
    live_url = f"sqlite:///{tmp_path / 'live.db'}"
    moments: list[dt.datetime] = []
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(cfg))
        _, codec, store = hub(live_url)
        with Workers(broker.bootstrap, tmp_path, tick_s=1.0, database_url=live_url) as workers:
            workers.start()
            released = 0
            for build, outputs in zip(_phases(), GATE_OUTPUTS, strict=True):
                at = dt.datetime.now(dt.UTC)
                asyncio.run(publish(cfg, codec, _stamped(build(at), at)))
                released += outputs  # the gate must have decided this phase before we look
                assert wait_for_progress(cfg, released - 1) >= released, str(workers.logs[-1])
                assert caught_up(cfg, store, timeout=120, quiet_s=2.0), str(workers.logs[-1])
                moments.append(dt.datetime.now(dt.UTC))
                time.sleep(1.0)  # the next phase is recorded strictly later
        seen = []
        for n, moment in enumerate(moments):
            into = f"sqlite:///{tmp_path / f'at-{n}.db'}"
            # Two processes, as for a large log: each evaluates its share at the same moment.
            done = replay_cli(broker.bootstrap, live_url, into, "--until", moment.isoformat(), "--jobs", "2",
                              cwd=tmp_path)
            assert done.returncode == 0, done.stdout + done.stderr
            print(moment.isoformat(), done.stdout.strip().splitlines()[-1])
            seen.append(_view(into))
    assert [(s.pop("history"), s.pop("kallelser"), s.pop("answers")) for s in seen] == [
        ([], 0, []), ([2], 1, []), ([2, 4], 1, ["NOT_COMING"]), ([2, 4], 1, ["NOT_COMING"])]  # the wheel over time
    assert seen[0] == {"named_person": "skola-1", "plan": None, "lead": None, "rating": [], "facts": [],
                       "consent_withdrawn": []}
    assert seen[1] == {"named_person": "skola-1", "plan": "open", "lead": BHV, "rating": [(2, "Oro för sömnen")],
                       "facts": ["HealthVisitRecorded"], "consent_withdrawn": [False]}
    assert seen[2] == {"named_person": "skola-2", "plan": "open", "lead": BHV, "rating": [(4, "Bättre nu")],
                       "facts": ["HealthVisitRecorded"], "consent_withdrawn": [False]}
    assert seen[3] == {"named_person": "skola-2", "plan": "open", "lead": BHV, "rating": [(4, "Bättre nu")],
                       "facts": [], "consent_withdrawn": [True]}
    # And the live read model is where the last moment left it.
    live = _view(live_url)
    assert (live.pop("history"), live.pop("kallelser"), live.pop("answers")) == ([2, 4], 1, ["NOT_COMING"])
    assert live == seen[3]


def test_until_needs_a_time_zone(tmp_path: Path) -> None:
    done = replay_cli("127.0.0.1:1", f"sqlite:///{tmp_path / 'hub.db'}", f"sqlite:///{tmp_path / 'x.db'}",
                      "--until", "2026-11-01T12:00:00", cwd=tmp_path)
    assert done.returncode == 2 and "time zone" in done.stderr


def test_jobs_must_be_positive(tmp_path: Path) -> None:
    done = replay_cli("127.0.0.1:1", f"sqlite:///{tmp_path / 'hub.db'}", f"sqlite:///{tmp_path / 'x.db'}",
                      "--jobs", "0", cwd=tmp_path)
    assert done.returncode == 2 and "--jobs" in done.stderr
