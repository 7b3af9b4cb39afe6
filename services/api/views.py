"""Building the plan's response models from read-model rows.

There is one way from a plan to its response: its rows. The live plan reads them from the read
model; the auditors' "plan as organisation X saw it" folds a ``ChildPlan`` up to T and flattens
it with the projector's own ``read_model.plan_rows`` (``PlanRows.folded``). Both then go through
``parts_of_rows`` and ``areas``, so the past looks as the live page did.
Facts reach here only after ``projections.access.visible_facts`` has filtered them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from projections.access import TextShown
from projections.consent_rules import CHILD_GRANTS_FROM
from projections.consents import Consent
from projections.plan import AREAS
from schemas.codec import Codec, DecodeError
from schemas.events import (
    ActionEffect,
    Area,
    Category,
    ConsentObtained,
    Event,
    FollowUpOutcome,
    InvitationAnswer,
    ParticipantRole,
)
from schemas.shanarri import SHANARRI
from services.api.models import (
    ActionOut,
    AnswerOut,
    AreaOut,
    AssessmentOut,
    ConsentOut,
    EvaluationOut,
    FactOut,
    FollowUpOut,
    GrantorOut,
    InvitationOut,
    MeetingOut,
    OrgOut,
    ParticipantOut,
    PlanInfo,
    RatingOut,
    ReviewOut,
    SipOut,
)
from services.api.orgs import OrgDirectory
from services.api.store import PlanRows, utc
from services.api.ui import sv


class FactLike(Protocol):
    fact_event_id: uuid.UUID
    fact_type: str
    area: Area | None
    source_org: str
    category: Category
    basis: Any
    released_at: dt.datetime
    fact: bytes


@dataclass(frozen=True)
class PlanParts:
    assessments: list[AssessmentOut]
    actions: list[ActionOut]
    meetings: list[MeetingOut]
    follow_ups: list[FollowUpOut]
    sip: SipOut = dataclasses.field(default_factory=SipOut)
    history: dict[Area, list[RatingOut]] = dataclasses.field(default_factory=dict)


def org(directory: OrgDirectory, org_id: str | None) -> OrgOut | None:
    return None if org_id is None else OrgOut(id=org_id, name=directory.name(org_id))


def orgs(directory: OrgDirectory, ids: Iterable[str]) -> list[OrgOut]:
    return [OrgOut(id=i, name=directory.name(i)) for i in ids]


def _plain(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return ", ".join(_plain(v) for v in value)
    return str(value)


# A fact's fields that name a place the child lives: never shown for a protected child.
RESIDENCE_FIELDS = frozenset({"municipality_code", "from_municipality_code", "to_municipality_code"})


def fact_out(fact: FactLike, directory: OrgDirectory, codec: Codec, *, protected: bool = False) -> FactOut:
    """A released fact with its provenance; its own date and fields come from its bytes (for a
    child with protected personal data, none that names where it lives)."""
    occurred: dt.datetime | None = None
    details: dict[str, str] = {}
    try:
        event = codec.decode(fact.fact)
    except (DecodeError, ValueError, TypeError):
        event = None
    if isinstance(event, Event):
        occurred = utc(event.envelope.occurred_at)
        for f in dataclasses.fields(event):
            if f.name != "envelope" and not (protected and f.name in RESIDENCE_FIELDS):
                value = getattr(event, f.name)
                if value is not None and not isinstance(value, bytes):
                    details[f.name] = _plain(value)
    return FactOut(
        fact_event_id=fact.fact_event_id, fact_type=fact.fact_type, label=sv.FACT.get(fact.fact_type, fact.fact_type),
        area=fact.area, source=OrgOut(id=fact.source_org, name=directory.name(fact.source_org)),
        category=fact.category, basis=str(getattr(fact.basis, "value", fact.basis)), occurred_at=occurred,
        released_at=utc(fact.released_at), details=details,  # type: ignore[arg-type]
    )


def _obtained(value: str | None) -> ConsentObtained | None:
    try:
        return None if value is None else ConsentObtained(value)
    except ValueError:
        return None


def consent_out(consent: Consent, at: dt.datetime, directory: OrgDirectory, *, pending: bool = False,
                child_grants_from: int = CHILD_GRANTS_FROM) -> ConsentOut:
    """A consent as shown: its scope and period, who granted it, how and by whom it was
    registered, and whether (and why) it lapsed. A ``pending`` one (accepted, not yet processed)
    is never active: it is not in force until the gate has it."""
    lapse = None if consent.lapse is None else str(consent.lapse.value)
    return ConsentOut(
        consent_id=consent.consent_id, categories=sorted(consent.categories),
        recipients=orgs(directory, sorted(consent.recipients)),
        source_organisations=None if consent.source_organisations is None
        else orgs(directory, sorted(consent.source_organisations)),
        areas=None if consent.areas is None else [a for a in AREAS if a in consent.areas],
        valid_from=consent.valid_from, valid_to=consent.valid_to, withdrawn_at=consent.withdrawn_at,
        active=not pending and consent.active_at(at),
        grantors=[GrantorOut(party_id=g.party_id, role=g.role)
                  for g in sorted(consent.grantors, key=lambda g: (g.role.value, str(g.party_id)))],
        granted_at=consent.granted_at, lapsed_at=consent.lapsed_at, lapse=lapse,
        lapse_label=sv.lapse_label(lapse, child_grants_from), obtained=_obtained(consent.obtained),
        registered_by=consent.registered_by, pending=pending,
    )


# -- from the read model's rows -------------------------------------------------------------------

def parts_of_rows(rows: PlanRows, directory: OrgDirectory, shows: TextShown) -> PlanParts:
    """The plan's parts from its rows, in the rows' order: loaded from the read model, or a
    folded plan's (``PlanRows.folded``). Free text the viewer may not see (``shows`` says, by
    its writer and area: ``projections.access.plan_text_shown``) is left out."""
    def text(writer: str | None, area: str | None, value: str | None) -> str | None:
        return value if shows(writer, None if area is None else Area(area)) else None

    area_of = {r.action_id: r.area for r in rows.actions}
    evaluations: dict[str, list[EvaluationOut]] = {}
    for r in rows.evaluations:
        area = area_of.get(r.action_id)
        evaluations.setdefault(r.action_id, []).append(EvaluationOut(
            action_id=uuid.UUID(r.action_id), follow_up_id=uuid.UUID(r.follow_up_id), evaluated_on=r.evaluated_on,
            effect=ActionEffect(r.effect), effect_label=sv.EFFECT[ActionEffect(r.effect)],
            evaluated_by=org(directory, r.written_by), evaluation=text(r.written_by, area, r.evaluation),
            child_words=text(r.written_by, area, r.child_words),
            guardians_words=text(r.written_by, area, r.guardians_words)))
    history: dict[Area, list[RatingOut]] = {}
    for r in rows.history:
        history.setdefault(Area(r.area), []).append(RatingOut(
            rating=r.rating, assessed_at=utc(r.assessed_at), assessed_by=org(directory, r.assessed_by_org)))
    return PlanParts(
        sip=_sip(rows, directory, text), history=history,
        assessments=[AssessmentOut(
            area=Area(r.area), rating=r.rating, assessed_by=org(directory, r.assessed_by_org),
            assessed_at=utc(r.assessed_at), comment=text(r.assessed_by_org, r.area, r.comment),
            child_view=text(r.assessed_by_org, r.area, r.child_view),
            guardians_view=text(r.assessed_by_org, r.area, r.guardians_view)) for r in rows.assessments],
        actions=[ActionOut(
            action_id=uuid.UUID(r.action_id), area=Area(r.area), need=text(r.written_by, r.area, r.need),
            what=text(r.written_by, r.area, r.what),
            responsible=org(directory, r.responsible_org), due_on=r.due_on, status=r.status,
            status_label=sv.ACTION_STATUS.get(r.status, r.status),
            completed_on=r.completed_on, start_on=r.start_on, status_on=r.status_on,
            status_reason=text(r.written_by, r.area, r.status_reason), by_others=bool(r.by_others),
            performer=text(r.written_by, r.area, r.performer),
            responsible_person=text(r.written_by, r.area, r.responsible_person),
            evaluations=evaluations.get(r.action_id, [])) for r in rows.actions],
        meetings=[MeetingOut(
            meeting_id=uuid.UUID(r.meeting_id), held_on=r.held_on,
            participants=orgs(directory, json.loads(r.participant_orgs or "[]")), lead=org(directory, r.lead_org),
            decisions=text(r.written_by, None, r.decisions), notes=text(r.written_by, None, r.notes),
            child_took_part=r.child_took_part, guardians_took_part=r.guardians_took_part,
            child_voice=text(r.written_by, None, r.child_voice),
            others_present=text(r.written_by, None, r.others_present))
            for r in rows.meetings],
        follow_ups=[FollowUpOut(
            follow_up_id=uuid.UUID(r.follow_up_id), area=None if r.area is None else Area(r.area), due_on=r.due_on,
            what=text(r.written_by, r.area, r.what)) for r in rows.follow_ups],
    )


def _sip(rows: PlanRows, directory: OrgDirectory, text: Any) -> SipOut:
    """Kallelser with every invitee's answer (unanswered ones too), participants and follow-ups held."""
    answers: dict[tuple[str, str], Any] = {(r.meeting_id, r.invitee_org): r for r in rows.answers}
    held = {r.meeting_id for r in rows.meetings}

    def answer(meeting_id: str, invitee: str) -> AnswerOut:
        r = answers.get((meeting_id, invitee))
        given = None if r is None else InvitationAnswer(r.answer)
        return AnswerOut(invitee=org(directory, invitee), answer=given, answer_label=sv.ANSWER[given],
                         answered_at=None if r is None else utc(r.answered_at),
                         sends=None if r is None else text(invitee, None, r.sends),
                         comment=None if r is None else text(invitee, None, r.comment))

    return SipOut(
        revision=1 + sum(r.outcome == FollowUpOutcome.REVISED for r in rows.reviews),
        invitations=[InvitationOut(
            meeting_id=uuid.UUID(r.meeting_id), starts_at=utc(r.starts_at), invited_by=org(directory, r.written_by),
            child_invited=r.child_invited, guardians_invited=r.guardians_invited,
            place=text(r.written_by, None, r.place), questions=text(r.written_by, None, r.questions),
            invited_people=text(r.written_by, None, r.invited_people),
            not_invited_why=text(r.written_by, None, r.not_invited_why),
            answers=[answer(r.meeting_id, o) for o in json.loads(r.invited_orgs or "[]")],
            held=r.meeting_id in held) for r in rows.invitations],
        participants=[ParticipantOut(
            organisation=org(directory, r.organisation_id), role=ParticipantRole(r.role),
            role_label=sv.PARTICIPANT_ROLE[ParticipantRole(r.role)], active=bool(r.active),
            responsibilities=text(r.written_by, None, r.responsibilities), contact=text(r.written_by, None, r.contact))
            for r in rows.participants],
        reviews=[ReviewOut(
            follow_up_id=uuid.UUID(r.follow_up_id), held_on=r.held_on, outcome=FollowUpOutcome(r.outcome),
            outcome_label=sv.FOLLOW_UP_OUTCOME[FollowUpOutcome(r.outcome)], held_by=org(directory, r.written_by),
            summary=text(r.written_by, None, r.summary)) for r in rows.reviews],
    )


def plan_info(plan_id: uuid.UUID | None, status: str | None, opened_by: str | None, opened_at: dt.datetime | None,
              closed_at: dt.datetime | None, directory: OrgDirectory,
              closed_reason: str | None = None) -> PlanInfo | None:
    if plan_id is None or status is None:
        return None
    return PlanInfo(plan_id=plan_id, status=status, opened_by=org(directory, opened_by), opened_at=utc(opened_at),
                    closed_at=utc(closed_at), closed_reason=closed_reason)


# -- the wheel's areas -----------------------------------------------------------------------------

def areas(parts: PlanParts, facts: Sequence[FactOut]) -> tuple[list[AreaOut], list[FactOut], list[FollowUpOut]]:
    """The seven areas in the wheel's order; facts and follow-ups without an area apart."""
    latest = {a.area: a for a in parts.assessments}
    out = [AreaOut(
        area=area, label=sv.AREA[area], shanarri=list(SHANARRI[area]), assessment=latest.get(area),
        facts=[f for f in facts if f.area == area], actions=[a for a in parts.actions if a.area == area],
        follow_ups=[f for f in parts.follow_ups if f.area == area], history=parts.history.get(area, []))
        for area in AREAS]
    return out, [f for f in facts if f.area is None], [f for f in parts.follow_ups if f.area is None]
