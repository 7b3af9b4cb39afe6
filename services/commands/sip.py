"""The plan as a SIP (samordnad individuell plan; DESIGN §6, The plan): the kallelse and its
answers, the participants' roles, an action's lifecycle, and a follow-up held with each
action's evaluation.

Pure like ``services.commands.plan``, whose helpers and messages these commands share: each
checks what the request and the caller's read of the plan show, raises ``PlanRejected`` with
every reason (nothing published), or publishes through the injected port. What only the read
model knows is passed in by the caller: a kallelse's invited organisations, an action's current
status, the plan's action ids. Free text travels sealed under the fold's keys.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from projections.plan import (
    AGREED,
    ANSWER_COMMENT,
    ANSWER_SENDS,
    EVALUATION_CHILD,
    EVALUATION_GUARDIANS,
    EVALUATION_TEXT,
    FOLLOW_UP_SUMMARY,
    INVITATION_NOT_INVITED_WHY,
    INVITATION_PEOPLE,
    INVITATION_PLACE,
    INVITATION_QUESTIONS,
    PARTICIPANT_CONTACT,
    PARTICIPANT_RESPONSIBILITIES,
    STATUS_OF,
    STATUS_REASON,
)
from schemas.events import (
    ActionEffect,
    ActionEvaluated,
    ActionStatus,
    ActionStatusChanged,
    FollowUpHeld,
    FollowUpOutcome,
    InvitationAnswer,
    InvitationAnswered,
    MeetingInvited,
    ParticipantRecorded,
    ParticipantRole,
)
from services.commands import organisations
from services.commands.organisations import Units
from services.commands.plan import (
    LONG_TEXT_MAX,
    TEXT_MAX,
    Publish,
    close_plan,
    flag_problems,
    now_or_clock,
    org_problems,
    past_date_problems,
    publish_event,
    refuse,
    repeated,
    role_problems,
    text_problems,
)

INVITE_PAST = dt.timedelta(days=1)  # a kallelse written up just after the meeting began
INVITE_AHEAD_DAYS = 366
CLOSED_AT_FOLLOW_UP = "FOLLOW_UP"  # PlanClosed's reason code when a follow-up closes the plan

NOT_A_MOMENT = "{field} must be a date and time with its offset"
STARTS_IN_PAST = "{field} {moment} is more than a day in the past"
STARTS_TOO_LATE = "{field} {moment} is more than {days} days ahead"
NO_INVITEES = "a kallelse invites at least one organisation"
REPEATED_INVITEE = "organisation {org!r} is invited more than once"
NO_NOT_INVITED_WHY = "say why the child or the guardians are not invited (not_invited_why)"
NOT_SENT = "organisation {org!r} was not sent this kallelse"
BAD_ANSWER = "answer {answer!r} is not one of COMING, NOT_COMING, SENDS_SOMEONE"
NO_SENDS = "an organisation that sends someone says whom (sends)"
BAD_ROLE = "role {role!r} is not one of RESPONSIBLE, SUPPORTING, CONSULTED"
NO_RESPONSIBILITIES = "a {role} organisation's responsibilities must be given"
BAD_STATUS = "status {status!r} is not one of PLANNED, ONGOING, DONE, CANCELLED"
FINAL_STATUS = "action {action_id} is {current} and takes no further status"
SAME_STATUS = "action {action_id} is already {current}"
NO_WAY_BACK = "action {action_id} is {current} and cannot go back to {status}"
NO_CANCEL_REASON = "an action is cancelled with a reason"
BAD_OUTCOME = "outcome {outcome!r} is not one of CONTINUED, REVISED, CLOSED"
BAD_EFFECT = "effect {effect!r} of action {action_id} is not one of HELPED, PARTLY, NOT_HELPED, TOO_EARLY"
UNKNOWN_ACTION = "action {action_id} is not an action of this plan"
REPEATED_EVALUATION = "action {action_id} is evaluated more than once"

# The lifecycle: planned -> ongoing -> done, planned or ongoing -> cancelled. Planned -> done is
# allowed too, as ``complete_action`` always has. Done and cancelled are final.
NEXT: Mapping[ActionStatus, frozenset[ActionStatus]] = {
    ActionStatus.PLANNED: frozenset({ActionStatus.ONGOING, ActionStatus.DONE, ActionStatus.CANCELLED}),
    ActionStatus.ONGOING: frozenset({ActionStatus.DONE, ActionStatus.CANCELLED}),
    ActionStatus.DONE: frozenset(),
    ActionStatus.CANCELLED: frozenset(),
}
Code = TypeVar("Code", InvitationAnswer, ParticipantRole, ActionStatus, ActionEffect, FollowUpOutcome)
STATUS_OF_ROW = {row: status for status, row in STATUS_OF.items()}  # the read model's word -> ActionStatus


@dataclass(frozen=True, slots=True)
class EvaluationIn:
    """One action's evaluation at a follow-up, as the caller gives it."""

    action_id: uuid.UUID
    effect: ActionEffect | str
    evaluation: str
    child_words: str | None = None
    guardians_words: str | None = None


# -- the kallelse --------------------------------------------------------------------------------------

async def invite_meeting(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, starts_at: dt.datetime,
                         invited_orgs: Iterable[str], place: str, questions: str, child_invited: bool,
                         guardians_invited: bool, invited_people: str | None = None,
                         not_invited_why: str | None = None, *, publish: Publish, now: dt.datetime | None = None,
                         died_on: dt.date | None = None, units: Units | None = None) -> MeetingInvited:
    """Call a collaboration meeting (a new meeting id): when, where, whom, and the questions.
    Not inviting the child or the guardians needs a why; place, questions, people and the why
    travel sealed."""
    now = now_or_clock(now)
    orgs = tuple(invited_orgs)
    reasons = org_problems(by_org, "by_org") + _moment(starts_at, "starts_at", now)
    if not orgs:
        reasons.append(NO_INVITEES)
    for org in dict.fromkeys(orgs):
        reasons += role_problems(org, "invited_orgs", organisations.PARTICIPANT, units)
    reasons += [REPEATED_INVITEE.format(org=o) for o in repeated(orgs)]
    reasons += flag_problems(child_invited, "child_invited") + flag_problems(guardians_invited, "guardians_invited")
    reasons += text_problems(place, "place", TEXT_MAX) + text_problems(questions, "questions", LONG_TEXT_MAX)
    reasons += text_problems(invited_people, "invited_people", TEXT_MAX, optional=True)
    if (child_invited is False or guardians_invited is False) and not_invited_why is None:
        reasons.append(NO_NOT_INVITED_WHY)
    else:
        reasons += text_problems(not_invited_why, "not_invited_why", TEXT_MAX, optional=True)
    refuse(reasons, died_on)
    meeting_id = uuid.uuid4()
    return await publish_event(publish, MeetingInvited, child_id, by_org, meeting_id, now, None,
                          {INVITATION_PLACE: place, INVITATION_QUESTIONS: questions,
                           INVITATION_PEOPLE: invited_people, INVITATION_NOT_INVITED_WHY: not_invited_why},
                          plan_id=plan_id, meeting_id=meeting_id, starts_at=starts_at, invited_orgs=orgs,
                          child_invited=child_invited, guardians_invited=guardians_invited)


async def answer_invitation(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, meeting_id: uuid.UUID,
                            invited_orgs: Collection[str], answer: InvitationAnswer | str, sends: str | None = None,
                            comment: str | None = None, *, publish: Publish, now: dt.datetime | None = None,
                            died_on: dt.date | None = None) -> InvitationAnswered:
    """``by_org``'s answer to a kallelse it was sent (``invited_orgs``: the kallelse's, from the
    read model). Sending someone else says whom; whom and any comment travel sealed."""
    reasons = org_problems(by_org, "by_org")
    if not reasons and by_org not in invited_orgs:
        reasons.append(NOT_SENT.format(org=by_org))
    given = _enum(InvitationAnswer, answer)
    if given is None:
        reasons.append(BAD_ANSWER.format(answer=answer))
    if given is InvitationAnswer.SENDS_SOMEONE and sends is None:
        reasons.append(NO_SENDS)
    else:
        reasons += text_problems(sends, "sends", TEXT_MAX, optional=True)
    reasons += text_problems(comment, "comment", TEXT_MAX, optional=True)
    refuse(reasons, died_on)
    return await publish_event(publish, InvitationAnswered, child_id, by_org, meeting_id, now, None,
                          {ANSWER_SENDS: sends, ANSWER_COMMENT: comment},
                          plan_id=plan_id, meeting_id=meeting_id, invitee_org=by_org, answer=given)


# -- participants ---------------------------------------------------------------------------------------

async def record_participant(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, organisation_id: str,
                             role: ParticipantRole | str, responsibilities: str | None, contact: str | None = None,
                             active: bool = True, *, publish: Publish, now: dt.datetime | None = None,
                             died_on: dt.date | None = None, units: Units | None = None) -> ParticipantRecorded:
    """An organisation's role in the plan and what it is responsible for (sealed, with its
    contact); one only consulted may leave its responsibilities out. ``active`` False: it left."""
    reasons = org_problems(by_org, "by_org") + role_problems(organisation_id, "organisation_id", organisations.PARTICIPANT, units)
    given = _enum(ParticipantRole, role)
    if given is None:
        reasons.append(BAD_ROLE.format(role=role))
    if given is not None and given is not ParticipantRole.CONSULTED and responsibilities is None:
        reasons.append(NO_RESPONSIBILITIES.format(role=given.value))
    else:
        reasons += text_problems(responsibilities, "responsibilities", TEXT_MAX, optional=True)
    reasons += text_problems(contact, "contact", TEXT_MAX, optional=True) + flag_problems(active, "active")
    refuse(reasons, died_on)
    return await publish_event(publish, ParticipantRecorded, child_id, by_org, plan_id, now, None,
                          {PARTICIPANT_RESPONSIBILITIES: responsibilities, PARTICIPANT_CONTACT: contact},
                          plan_id=plan_id, organisation_id=organisation_id, role=given, active=active)


# -- an action's lifecycle -----------------------------------------------------------------------------

def status_problems(action_id: uuid.UUID, current: str, status: ActionStatus) -> list[str]:
    """Why ``status`` may not follow ``current`` (the read model's word: agreed, ongoing, ...)."""
    now_in = STATUS_OF_ROW.get(current, STATUS_OF_ROW[AGREED])
    if not NEXT[now_in]:
        return [FINAL_STATUS.format(action_id=action_id, current=now_in.value)]
    if status is now_in:
        return [SAME_STATUS.format(action_id=action_id, current=now_in.value)]
    if status not in NEXT[now_in]:
        return [NO_WAY_BACK.format(action_id=action_id, current=now_in.value, status=status.value)]
    return []


async def change_action_status(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, action_id: uuid.UUID,
                               current: str, status: ActionStatus | str, changed_on: dt.date,
                               reason: str | None = None, *, publish: Publish, now: dt.datetime | None = None,
                               died_on: dt.date | None = None) -> ActionStatusChanged:
    """Move an action of this plan (the caller has checked) from ``current`` to ``status`` on
    ``changed_on``; a cancellation says why (sealed)."""
    now = now_or_clock(now)
    reasons = org_problems(by_org, "by_org") + past_date_problems(changed_on, "changed_on", now)
    given = _enum(ActionStatus, status)
    if given is None:
        reasons.append(BAD_STATUS.format(status=status))
    else:
        reasons += status_problems(action_id, current, given)
    if given is ActionStatus.CANCELLED and reason is None:
        reasons.append(NO_CANCEL_REASON)
    else:
        reasons += text_problems(reason, "reason", TEXT_MAX, optional=True)
    refuse(reasons, died_on)
    return await publish_event(publish, ActionStatusChanged, child_id, by_org, action_id, now, None,
                          {STATUS_REASON: reason}, plan_id=plan_id, action_id=action_id, status=given,
                          changed_on=changed_on)


# -- a follow-up held ------------------------------------------------------------------------------------

async def hold_follow_up(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, follow_up_id: uuid.UUID | None,
                         held_on: dt.date, outcome: FollowUpOutcome | str, summary: str,
                         evaluations: Iterable[EvaluationIn], plan_actions: Collection[uuid.UUID], *,
                         publish: Publish, now: dt.datetime | None = None,
                         died_on: dt.date | None = None) -> FollowUpHeld:
    """A follow-up held (a scheduled one's id, or a new id): its outcome and summary, each
    action's evaluation (an action of this plan, once), and, when it closes the plan, the close.
    Every reason is found before anything is published, so a refusal leaves the log as it was."""
    now = now_or_clock(now)
    given = tuple(evaluations)
    reasons = org_problems(by_org, "by_org") + past_date_problems(held_on, "held_on", now)
    decided = _enum(FollowUpOutcome, outcome)
    if decided is None:
        reasons.append(BAD_OUTCOME.format(outcome=outcome))
    reasons += text_problems(summary, "summary", LONG_TEXT_MAX)
    for e in given:
        if e.action_id not in plan_actions:
            reasons.append(UNKNOWN_ACTION.format(action_id=e.action_id))
        if _enum(ActionEffect, e.effect) is None:
            reasons.append(BAD_EFFECT.format(effect=e.effect, action_id=e.action_id))
        reasons += text_problems(e.evaluation, "evaluation", TEXT_MAX)
        reasons += text_problems(e.child_words, "child_words", TEXT_MAX, optional=True)
        reasons += text_problems(e.guardians_words, "guardians_words", TEXT_MAX, optional=True)
    reasons += [REPEATED_EVALUATION.format(action_id=a) for a in repeated(tuple(e.action_id for e in given))]
    refuse(list(dict.fromkeys(reasons)), died_on)
    follow_up_id = follow_up_id or uuid.uuid4()
    # One instant a microsecond apart: the fold orders by event time, and the close comes last.
    tick = dt.timedelta(microseconds=1)
    held = await publish_event(publish, FollowUpHeld, child_id, by_org, follow_up_id, now, None,
                          {FOLLOW_UP_SUMMARY: summary}, plan_id=plan_id, follow_up_id=follow_up_id,
                          held_on=held_on, outcome=decided)
    for n, e in enumerate(given, 1):
        await publish_event(publish, ActionEvaluated, child_id, by_org, e.action_id, now + n * tick, None,
                       {EVALUATION_TEXT: e.evaluation, EVALUATION_CHILD: e.child_words,
                        EVALUATION_GUARDIANS: e.guardians_words},
                       plan_id=plan_id, action_id=e.action_id, follow_up_id=follow_up_id, evaluated_on=held_on,
                       effect=ActionEffect(e.effect))
    if decided is FollowUpOutcome.CLOSED:
        await close_plan(child_id, plan_id, by_org, CLOSED_AT_FOLLOW_UP, publish=publish,
                         now=now + (len(given) + 1) * tick)
    return held


# -- checks ------------------------------------------------------------------------------------------------

def _moment(value: object, name: str, now: dt.datetime) -> list[str]:
    """A meeting's start: an aware moment, at most a day back and ``INVITE_AHEAD_DAYS`` ahead."""
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        return [NOT_A_MOMENT.format(field=name)]
    if value < now - INVITE_PAST:
        return [STARTS_IN_PAST.format(field=name, moment=value.isoformat())]
    if value > now + dt.timedelta(days=INVITE_AHEAD_DAYS):
        return [STARTS_TOO_LATE.format(field=name, moment=value.isoformat(), days=INVITE_AHEAD_DAYS)]
    return []


def _enum(kind: type[Code], value: object) -> Code | None:
    try:
        return kind(value)
    except ValueError:
        return None

