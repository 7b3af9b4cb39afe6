"""Scripted children's histories for the projector's tests: directory facts, consents, facts
that need them, a report of concern, plans with sealed free text, and withdrawals."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

from schemas.events import (
    ActionEffect,
    ActionStatus,
    Area,
    Basis,
    Category,
    Event,
    FollowUpOutcome,
    Grantor,
    GrantorRole,
    InvitationAnswer,
    ParticipantRole,
    SchoolType,
    Source,
)
from schemas.sealing import Personal
from schemas.topics import TOPIC_OF_EVENT
from services.dev.samples import sample_event, scoped_grant, scoped_withdrawal

NAMESPACE = uuid.UUID("0f9e8d7c-6b5a-4938-a7b6-c5d4e3f2a1b0")
BHV = "SE2321000065-BHV0780"
SOC = "kommun-0780-soc"
CATEGORY_OF_TOPIC = {"intake.health": Category.HEALTH, "intake.school": Category.SCHOOL,
                     "intake.social": Category.SOCIAL, "intake.population": Category.POPULATION,
                     "intake.reports": Category.SCHOOL,  # a filed report: its reporter's (a school here)
                     "plan": Category.PLAN, "consent": Category.CONSENT, "access": Category.ACCESS}
T0 = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)


def event(name: str, child: uuid.UUID, n: int, *, basis: Basis, org: str, area: Area | None = None,
          at: dt.datetime = T0, sealed: Personal | None = None, **fields: Any) -> Event:
    """An event of type ``name`` about ``child``; ``n`` makes its id; ``at`` is when it happened
    and was recorded."""
    template = sample_event(name, seed=n, child_id=child)
    env = replace(template.envelope, event_id=uuid.uuid5(NAMESPACE, f"{child}|{name}|{n}"), basis=basis,
                  category=CATEGORY_OF_TOPIC[TOPIC_OF_EVENT[type(template)].name], area=area,
                  occurred_at=at, recorded_at=at, sealed=sealed, source=Source("test", org, f"{name}-{n}", "1"))
    return replace(template, envelope=env, **fields)


def guardians_of(c: int) -> tuple[Grantor, ...]:
    """Child ``c``'s two guardians, as the register lists them and as they grant."""
    return tuple(Grantor(uuid.uuid5(NAMESPACE, f"g{n}|{c}"), GrantorRole.GUARDIAN) for n in (1, 2))


def child_history(c: int, *, consent: bool, plan: bool, withdraw: bool, at: dt.datetime = T0) -> list[Event]:
    """One child: registered with guardians, listed or at school, facts of each kind, and by
    choice a consent (later withdrawn) and a plan with a meeting, assessments and actions."""
    child = uuid.UUID(int=c + 1, version=4)
    school = f"skola-{c % 5}"
    born = dt.date(2012, 1, 1) + dt.timedelta(days=(c * 97) % 3_000)
    d, p, plan_id = Basis.DIRECTORY, Basis.CONSENT, uuid.uuid5(NAMESPACE, f"plan|{c}")
    out: list[Event] = [
        event("ChildRegistered", child, 1, basis=d, org="navet", at=at, birth_date=born, municipality_code="0780"),
        event("CustodyRecorded", child, 2, basis=d, org="navet", at=at, recorded_on=born,
              guardian_ids=tuple(g.party_id for g in guardians_of(c))),
        event("HealthUnitListed", child, 3, basis=d, org=BHV, at=at, unit_id=BHV, listed_on=born),
        event("SchoolPlacementStarted", child, 4, basis=d, org=school, at=at, placement_id=f"pl-{c}",
              school_unit_id=school, school_type=SchoolType.COMPULSORY, municipality_code="0780",
              start_date=dt.date(2024, 8, 15)),
        event("HealthVisitRecorded", child, 5, basis=p, org=BHV, area=Area.HEALTH, at=at + dt.timedelta(minutes=1)),
        event("AbsenceSummarised", child, 6, basis=p, org=school, area=Area.LEARNING, at=at + dt.timedelta(minutes=2)),
        event("ReportOfConcernReceived", child, 7, basis=Basis.STATUTORY, org=SOC, area=Area.SAFETY,
              at=at + dt.timedelta(minutes=3)),
    ]
    consent_id = uuid.uuid5(NAMESPACE, f"consent|{c}")
    if consent:
        out.append(scoped_grant(child, consent_id, [Category.HEALTH, Category.SCHOOL, Category.SOCIAL],
                                [school, BHV, SOC], at - dt.timedelta(days=1), at + dt.timedelta(days=365),
                                grantors=guardians_of(c)))
    if plan:
        when = at + dt.timedelta(minutes=10)
        out += [
            event("PlanOpened", child, 10, basis=p, org=school, at=when, plan_id=plan_id, opened_by_org=school,
                  consent_ids=(consent_id,)),
            event("MeetingHeld", child, 11, basis=p, org=school, at=when + dt.timedelta(minutes=1), plan_id=plan_id,
                  meeting_id=uuid.uuid5(NAMESPACE, f"meeting|{c}"), held_on=when.date(),
                  participant_orgs=(school, BHV), lead_org=BHV,
                  sealed=Personal({"decisions": f"Beslut {c}: BHV leder planen.", "notes": "Syntetisk"})),
            event("AreaAssessed", child, 12, basis=p, org=school, area=Area.LEARNING, at=when + dt.timedelta(minutes=2),
                  plan_id=plan_id, rating=2 + c % 3, assessed_by_org=school,
                  sealed=Personal({"comment": "Behöver stöd i läsning", "child_view": "Vill ha lugnare klassrum"})),
            event("ActionAgreed", child, 13, basis=p, org=school, area=Area.LEARNING, at=when + dt.timedelta(minutes=3),
                  plan_id=plan_id, action_id=uuid.uuid5(NAMESPACE, f"action|{c}"), responsible_org=school,
                  due_on=dt.date(2026, 12, 1), sealed=Personal({"need": "Läsning", "what": "Extra lästräning"})),
            event("ActionCompleted", child, 14, basis=p, org=school, area=Area.LEARNING,
                  at=when + dt.timedelta(minutes=4), plan_id=plan_id, action_id=uuid.uuid5(NAMESPACE, f"action|{c}"),
                  completed_on=dt.date(2026, 11, 20)),
            event("FollowUpScheduled", child, 15, basis=p, org=school, at=when + dt.timedelta(minutes=5),
                  plan_id=plan_id, follow_up_id=uuid.uuid5(NAMESPACE, f"follow|{c}"), due_on=dt.date(2027, 1, 15)),
            *sip_history(c, child, plan_id, school, when + dt.timedelta(minutes=6)),
        ]
    if consent and withdraw:
        out.append(scoped_withdrawal(child, consent_id, at + dt.timedelta(minutes=30)))
    return out


def sip_history(c: int, child: uuid.UUID, plan_id: uuid.UUID, school: str, when: dt.datetime) -> list[Event]:
    """The plan as a SIP (issue 20): a kallelse and its answers, a participant, the action's
    lifecycle, and a follow-up held with an evaluation in the child's words."""
    p, meeting, action = Basis.CONSENT, uuid.uuid5(NAMESPACE, f"kallelse|{c}"), uuid.uuid5(NAMESPACE, f"action|{c}")
    minute = dt.timedelta(minutes=1)
    return [
        event("MeetingInvited", child, 20, basis=p, org=school, at=when, plan_id=plan_id, meeting_id=meeting,
              starts_at=when + dt.timedelta(days=7), invited_orgs=(BHV, SOC), child_invited=True,
              guardians_invited=c % 2 == 0, sealed=Personal({"place": "Skolan, rum 2", "questions": "Läsningen",
                                                              **({} if c % 2 == 0 else {"not_invited_why": "Syntetisk"})})),
        event("InvitationAnswered", child, 21, basis=p, org=BHV, at=when + minute, plan_id=plan_id,
              meeting_id=meeting, invitee_org=BHV, answer=InvitationAnswer.COMING),
        event("ParticipantRecorded", child, 22, basis=p, org=school, at=when + 2 * minute, plan_id=plan_id,
              organisation_id=school, role=ParticipantRole.RESPONSIBLE, active=True,
              sealed=Personal({"responsibilities": "Lästräning", "contact": "Rektor, växeln"})),
        # Ongoing between its agreement and its completion (``child_history``'s minutes 3 and 4).
        event("ActionStatusChanged", child, 23, basis=p, org=school, at=when - 2.5 * minute, plan_id=plan_id,
              action_id=action, status=ActionStatus.ONGOING, changed_on=when.date()),
        event("FollowUpHeld", child, 24, basis=p, org=school, at=when + 4 * minute, plan_id=plan_id,
              follow_up_id=uuid.uuid5(NAMESPACE, f"follow|{c}"), held_on=when.date(), outcome=FollowUpOutcome.REVISED,
              sealed=Personal({"summary": "Bättre"})),
        event("ActionEvaluated", child, 25, basis=p, org=school, at=when + 5 * minute, plan_id=plan_id,
              action_id=action, follow_up_id=uuid.uuid5(NAMESPACE, f"follow|{c}"), evaluated_on=when.date(),
              effect=ActionEffect.HELPED, sealed=Personal({"evaluation": "Läser mer", "child_words": "Roligt"})),
    ]


def county_history(children: int, at: dt.datetime = T0) -> list[Event]:
    """Children interleaved: a consent for two in three, a plan for one in three, and every
    fifth consent withdrawn again."""
    per_child = [child_history(c, consent=c % 3 != 0, plan=c % 3 == 1, withdraw=c % 5 == 2, at=at)
                 for c in range(children)]
    out: list[Event] = []
    for step in range(max(len(h) for h in per_child)):
        out.extend(h[step] for h in per_child if step < len(h))
    return out
