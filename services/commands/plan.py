"""The coordinators' plan commands (DESIGN §6, The plan): validate the input, publish one event.

The HTTP API exposes these functions; each checks what it can see in the request alone and
raises ``PlanRejected`` with every reason (nothing is published), or publishes one event on
``plan`` through the injected ``publish`` port and returns it.

A child who has died gets no more plan entries: every command takes ``died_on`` (the day the
population register records, from the caller's read of the child) and refuses with
``CHILD_DIED`` when it is given. The read model already shows the child's open plan as closed
(``projections.read_model.plan_status``), so no ``PlanClosed`` is needed or taken.

Every organisation a command names must be a unit of the county directory that may take that
role (``services.commands.organisations``): the caller passes the directory's units as
``units`` (org id -> kind). The organisation acting (``by_org``) is the caller's own, from its
token, and is not checked here.

What needs the read model is checked by the caller before it calls here: that the plan exists,
is open and is this child's; that the consents exist and are active; that an action to complete
was agreed in this plan; that ``by_org`` may act on the child at all. The plan fold
(``projections.plan``) rejects events that slip past anyway, so a race costs nothing but a
logged rejection.

Free text (decisions, notes, comments, views, needs, what is to be done) travels only in
``envelope.sealed`` as ``Personal``, under the fold's own key constants; the codec seals it with
the child's key on encode. Plain fields carry ids, organisations, dates and codes only.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

from projections.plan import (
    ACTION_NEED,
    ACTION_PERFORMER,
    ACTION_RESPONSIBLE_PERSON,
    ACTION_WHAT,
    ASSESSMENT_CHILD_VIEW,
    ASSESSMENT_COMMENT,
    ASSESSMENT_GUARDIANS_VIEW,
    FOLLOW_UP_WHAT,
    MEETING_CHILD_VOICE,
    MEETING_DECISIONS,
    MEETING_NOTES,
    MEETING_OTHERS,
    RATINGS,
)
from schemas.events import (
    ActionAgreed,
    ActionCompleted,
    Area,
    AreaAssessed,
    Basis,
    Category,
    Envelope,
    Event,
    FollowUpScheduled,
    LeadAssigned,
    MeetingHeld,
    NamedPersonTransferred,
    PlanClosed,
    PlanOpened,
    Source,
)
from schemas.sealing import Personal
from services.commands import organisations
from services.commands.organisations import Role, Units

SOURCE_SYSTEM = "kronobarn-api"
RECORD_VERSION = "1"

# Limits on what a coordinator types. Generous for minutes, tight for ids and codes.
ORG_ID_MAX = 64
REASON_CODE_MAX = 40
LONG_TEXT_MAX = 4_000  # meeting decisions and notes
TEXT_MAX = 2_000  # assessment comment and views, an action's need and what, a follow-up's what
PAST_DAYS_MAX = 366  # a meeting or completion may be recorded up to a year late
FUTURE_DAYS_MAX = 3 * 366  # actions and follow-ups are planned at most three years ahead

NO_ORG = "{field} must name an organisation"
BAD_ORG = "{field} {org!r} is not an organisation id (at most {limit} characters, no spaces)"
NO_CONSENT = "a plan is opened under at least one consent"
REPEATED_CONSENT = "consent {consent_id} is listed more than once"
NO_PARTICIPANTS = "a meeting needs at least one participating organisation"
REPEATED_PARTICIPANT = "participant {org!r} is listed more than once"
LEAD_NOT_PARTICIPANT = "the lead {org!r} is not among the meeting's participants"
BAD_AREA = "area {area!r} is not one of the wheel's seven areas ({areas})"
BAD_RATING = "rating {rating!r} is outside 1-5"
EMPTY_TEXT = "{field} must not be empty"
TEXT_TOO_LONG = "{field} is {length} characters; at most {limit} are allowed"
NOT_TEXT = "{field} must be text"
NOT_A_DATE = "{field} must be a date"
IN_FUTURE = "{field} {day} lies in the future"
TOO_LONG_AGO = "{field} {day} is more than {days} days back"
IN_PAST = "{field} {day} lies in the past"
TOO_FAR_AHEAD = "{field} {day} is more than {days} days ahead"
BAD_REASON_CODE = "reason_code {code!r} must be 1-{limit} capital letters, digits or underscores"
SAME_ORG = "the named-person task cannot be transferred to the organisation that holds it"
CHILD_DIED = "the child died on {day} (population register): the plan is closed and takes nothing new"
DUE_BEFORE_START = "due date {due_on} before its start {start_on}"
NO_PERFORMER = "an action by others needs its performer"
NOT_A_FLAG = "{field} must be true or false"

AREA_NAMES = ", ".join(a.value for a in Area)
PARTICIPANTS = "participant_orgs"
ORG_ID = re.compile(r"\S+")
REASON_CODE = re.compile(r"[A-Z0-9_]+")

Publish = Callable[[Event], Awaitable[None]]
E = TypeVar("E", bound=Event)


class PlanRejected(ValueError):
    """The request cannot become a plan event; ``reasons`` says every why, for the caller."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


# -- the commands ------------------------------------------------------------------------------

async def open_plan(child_id: uuid.UUID, by_org: str, consent_ids: Iterable[uuid.UUID], *, publish: Publish,
                    now: dt.datetime | None = None,
                  died_on: dt.date | None = None) -> PlanOpened:
    """Open the child's plan under ``consent_ids`` (a new plan id). The caller has checked that
    the consents are active, name ``by_org`` as a recipient, and that no plan is open."""
    consents = tuple(consent_ids)
    reasons = org_problems(by_org, "by_org")
    if not consents:
        reasons.append(NO_CONSENT)
    reasons += [REPEATED_CONSENT.format(consent_id=c) for c in repeated(consents)]
    refuse(reasons, died_on)
    plan_id = uuid.uuid4()
    return await publish_event(publish, PlanOpened, child_id, by_org, plan_id, now, None, None,
                          plan_id=plan_id, opened_by_org=by_org, consent_ids=consents)


async def record_meeting(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, held_on: dt.date,
                         participant_orgs: Iterable[str], lead_org: str | None, decisions: str,
                         notes: str | None = None, *, publish: Publish, now: dt.datetime | None = None,
                         died_on: dt.date | None = None, units: Units | None = None,
                         meeting_id: uuid.UUID | None = None, child_took_part: bool | None = None,
                         guardians_took_part: bool | None = None, child_voice: str | None = None,
                         others_present: str | None = None) -> MeetingHeld:
    """A collaboration meeting: who took part (the child and the guardians too, when recorded),
    who leads the plan from now (if decided), and its decisions, notes, the child's own voice
    and others present (sealed). ``meeting_id`` is a kallelse's, when the meeting was called
    (the caller has checked it is this plan's); else a new id."""
    now = now_or_clock(now)
    participants = tuple(participant_orgs)
    reasons = org_problems(by_org, "by_org") + past_date_problems(held_on, "held_on", now)
    if not participants:
        reasons.append(NO_PARTICIPANTS)
    for org in dict.fromkeys(participants):
        reasons += role_problems(org, PARTICIPANTS, organisations.PARTICIPANT, units)
    reasons += [REPEATED_PARTICIPANT.format(org=o) for o in repeated(participants)]
    if lead_org is not None:
        problems = role_problems(lead_org, "lead_org", organisations.PARTICIPANT, units)
        reasons += problems
        if not problems and lead_org not in participants:
            reasons.append(LEAD_NOT_PARTICIPANT.format(org=lead_org))
    reasons += text_problems(decisions, "decisions", LONG_TEXT_MAX) + text_problems(notes, "notes", LONG_TEXT_MAX, optional=True)
    reasons += text_problems(child_voice, "child_voice", TEXT_MAX, optional=True)
    reasons += text_problems(others_present, "others_present", TEXT_MAX, optional=True)
    reasons += flag_problems(child_took_part, "child_took_part", optional=True)
    reasons += flag_problems(guardians_took_part, "guardians_took_part", optional=True)
    refuse(reasons, died_on)
    meeting_id = meeting_id or uuid.uuid4()
    return await publish_event(publish, MeetingHeld, child_id, by_org, meeting_id, now, None,
                          {MEETING_DECISIONS: decisions, MEETING_NOTES: notes, MEETING_CHILD_VOICE: child_voice,
                           MEETING_OTHERS: others_present},
                          plan_id=plan_id, meeting_id=meeting_id, held_on=held_on,
                          participant_orgs=participants, lead_org=lead_org, child_took_part=child_took_part,
                          guardians_took_part=guardians_took_part)


async def assign_lead(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, lead_org: str, *, publish: Publish,
                      now: dt.datetime | None = None, died_on: dt.date | None = None,
                      units: Units | None = None) -> LeadAssigned:
    """Change the plan lead outside a meeting. The lead may differ from the named person."""
    refuse(org_problems(by_org, "by_org") + role_problems(lead_org, "lead_org", organisations.PARTICIPANT, units), died_on)
    return await publish_event(publish, LeadAssigned, child_id, by_org, plan_id, now, None, None,
                          plan_id=plan_id, lead_org=lead_org)


async def assess_area(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, area: Area | str, rating: int,
                      comment: str | None = None, child_view: str | None = None, guardians_view: str | None = None,
                      *, publish: Publish, now: dt.datetime | None = None,
                  died_on: dt.date | None = None) -> AreaAssessed:
    """A wheel assessment of one area: a rating 1-5 and, sealed, the comment and the child's and
    the guardians' own views (each optional: a view not given is left out, not blank)."""
    wheel_area, reasons = area_problems(area)
    reasons = org_problems(by_org, "by_org") + reasons
    if isinstance(rating, bool) or not isinstance(rating, int) or rating not in RATINGS:
        reasons.append(BAD_RATING.format(rating=rating))
    for value, name in ((comment, "comment"), (child_view, "child_view"), (guardians_view, "guardians_view")):
        reasons += text_problems(value, name, TEXT_MAX, optional=True)
    refuse(reasons, died_on)
    return await publish_event(publish, AreaAssessed, child_id, by_org, plan_id, now, wheel_area,
                          {ASSESSMENT_COMMENT: comment, ASSESSMENT_CHILD_VIEW: child_view,
                           ASSESSMENT_GUARDIANS_VIEW: guardians_view},
                          plan_id=plan_id, rating=rating, assessed_by_org=by_org)


async def agree_action(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, area: Area | str, need: str, what: str,
                       responsible_org: str, due_on: dt.date | None = None, *, publish: Publish,
                       now: dt.datetime | None = None, died_on: dt.date | None = None,
                       units: Units | None = None, start_on: dt.date | None = None, by_others: bool = False,
                       performer: str | None = None, responsible_person: str | None = None) -> ActionAgreed:
    """A need in one area and the action agreed for it: what (sealed), who, from and by when.
    An action by others (a club, a relative) names its performer; the responsible organisation
    still follows it up. The responsible person and the performer are people: sealed."""
    now = now_or_clock(now)
    wheel_area, reasons = area_problems(area)
    reasons = org_problems(by_org, "by_org") + reasons
    reasons += role_problems(responsible_org, "responsible_org", organisations.PARTICIPANT, units)
    reasons += text_problems(need, "need", TEXT_MAX) + text_problems(what, "what", TEXT_MAX)
    due_problems = [] if due_on is None else future_date_problems(due_on, "due_on", now)
    start_problems = [] if start_on is None else planned_date_problems(start_on, "start_on", now)
    reasons += due_problems + start_problems
    if due_on is not None and start_on is not None and not due_problems and not start_problems and due_on < start_on:
        reasons.append(DUE_BEFORE_START.format(due_on=due_on, start_on=start_on))
    reasons += flag_problems(by_others, "by_others")
    reasons += text_problems(responsible_person, "responsible_person", TEXT_MAX, optional=True)
    if by_others is True and performer is None:
        reasons.append(NO_PERFORMER)
    else:
        reasons += text_problems(performer, "performer", TEXT_MAX, optional=True)
    refuse(reasons, died_on)
    action_id = uuid.uuid4()
    return await publish_event(publish, ActionAgreed, child_id, by_org, action_id, now, wheel_area,
                          {ACTION_NEED: need, ACTION_WHAT: what, ACTION_RESPONSIBLE_PERSON: responsible_person,
                           ACTION_PERFORMER: performer},
                          plan_id=plan_id, action_id=action_id, responsible_org=responsible_org, due_on=due_on,
                          start_on=start_on, by_others=by_others)


async def complete_action(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, action_id: uuid.UUID,
                          completed_on: dt.date, *, publish: Publish, now: dt.datetime | None = None,
                  died_on: dt.date | None = None) -> ActionCompleted:
    """Mark an agreed action done. The caller has checked the action belongs to this plan."""
    now = now_or_clock(now)
    refuse(org_problems(by_org, "by_org") + past_date_problems(completed_on, "completed_on", now), died_on)
    return await publish_event(publish, ActionCompleted, child_id, by_org, action_id, now, None, None,
                          plan_id=plan_id, action_id=action_id, completed_on=completed_on)


async def schedule_follow_up(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, due_on: dt.date,
                             area: Area | str | None = None, what: str | None = None, *, publish: Publish,
                             now: dt.datetime | None = None,
                  died_on: dt.date | None = None) -> FollowUpScheduled:
    """A follow-up date, for one area or (``area`` None) for the whole plan, with what to
    follow up (sealed, optional)."""
    now = now_or_clock(now)
    wheel_area, reasons = (None, []) if area is None else area_problems(area)
    reasons = org_problems(by_org, "by_org") + reasons + future_date_problems(due_on, "due_on", now)
    reasons += text_problems(what, "what", TEXT_MAX, optional=True)
    refuse(reasons, died_on)
    follow_up_id = uuid.uuid4()
    return await publish_event(publish, FollowUpScheduled, child_id, by_org, follow_up_id, now, wheel_area,
                          {FOLLOW_UP_WHAT: what}, plan_id=plan_id, follow_up_id=follow_up_id, due_on=due_on)


async def transfer_named_person(child_id: uuid.UUID, by_org: str, to_org: str, from_org: str | None,
                                reason_code: str, *, publish: Publish, now: dt.datetime | None = None,
                                died_on: dt.date | None = None, units: Units | None = None) -> NamedPersonTransferred:
    """Move the named-person task by decision (rule 5): it holds until the child's next life
    stage. ``from_org`` is who held it, if known; the caller checks ``by_org`` may decide this.
    ``to_org`` must be a unit that may be named person (an MHV, BHV, förskola, school or KAA)."""
    reasons = org_problems(by_org, "by_org") + role_problems(to_org, "to_org", organisations.NAMED_PERSON, units)
    reasons += reason_code_problems(reason_code)
    if from_org is not None:
        problems = org_problems(from_org, "from_org")
        reasons += problems
        if not problems and from_org == to_org:
            reasons.append(SAME_ORG)
    refuse(reasons, died_on)
    return await publish_event(publish, NamedPersonTransferred, child_id, by_org, uuid.uuid4(), now, None, None,
                          to_org=to_org, from_org=from_org, reason_code=reason_code)


async def close_plan(child_id: uuid.UUID, plan_id: uuid.UUID, by_org: str, reason_code: str, *, publish: Publish,
                     now: dt.datetime | None = None,
                  died_on: dt.date | None = None) -> PlanClosed:
    """Close the plan with a reason code (never free text: the code is not sealed)."""
    refuse(org_problems(by_org, "by_org") + reason_code_problems(reason_code), died_on)
    return await publish_event(publish, PlanClosed, child_id, by_org, plan_id, now, None, None,
                          plan_id=plan_id, reason_code=reason_code)


# -- building and publishing -------------------------------------------------------------------

async def publish_event(publish: Publish, kind: type[E], child_id: uuid.UUID, by_org: str, record_id: uuid.UUID,
                   now: dt.datetime | None, area: Area | None, text: Mapping[str, str | None] | None,
                   **fields: object) -> E:
    """Build the event (basis CONSENT, category PLAN, from ``by_org``), publish it, return it.

    The source record is the plan item the event is about (plan, meeting, action, follow-up),
    so provenance reads naturally; the event id is always new."""
    now = now_or_clock(now)
    given = {k: v for k, v in (text or {}).items() if v is not None}
    envelope = Envelope(
        event_id=uuid.uuid4(), type=kind.__name__, child_id=child_id, occurred_at=now, recorded_at=now,
        source=Source(SOURCE_SYSTEM, by_org, str(record_id), RECORD_VERSION),
        basis=Basis.CONSENT, category=Category.PLAN, area=area, sealed=Personal(given) if given else None,
    )
    event = kind(envelope=envelope, **fields)
    await publish(event)
    return event


def now_or_clock(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def refuse(reasons: list[str], died_on: dt.date | None = None) -> None:
    if died_on is not None:
        reasons = [CHILD_DIED.format(day=died_on), *reasons]
    if reasons:
        raise PlanRejected(reasons)


# -- validation: shared with ``services.commands.sip``, whose commands check their input alike ---------

def org_problems(value: object, name: str) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return [NO_ORG.format(field=name)]
    if len(value) > ORG_ID_MAX or not ORG_ID.fullmatch(value):
        return [BAD_ORG.format(field=name, org=value[:ORG_ID_MAX], limit=ORG_ID_MAX)]
    return []


def role_problems(value: object, name: str, role: Role, units: Units | None) -> list[str]:
    """A well-formed organisation id that the directory knows, of a kind that may take ``role``."""
    return org_problems(value, name) or organisations.problems([str(value)], name, role, units)


def area_problems(value: object) -> tuple[Area | None, list[str]]:
    try:
        return Area(value), []
    except ValueError:
        return None, [BAD_AREA.format(area=value, areas=AREA_NAMES)]


def text_problems(value: object, name: str, limit: int, optional: bool = False) -> list[str]:
    if value is None:
        return [] if optional else [EMPTY_TEXT.format(field=name)]
    if not isinstance(value, str):
        return [NOT_TEXT.format(field=name)]
    if not value.strip():
        return [EMPTY_TEXT.format(field=name)]
    if len(value) > limit:
        return [TEXT_TOO_LONG.format(field=name, length=len(value), limit=limit)]
    return []


def is_date(value: object) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def past_date_problems(day: object, name: str, now: dt.datetime) -> list[str]:
    """Something that has happened: not after today, at most ``PAST_DAYS_MAX`` back."""
    if not is_date(day):
        return [NOT_A_DATE.format(field=name)]
    assert isinstance(day, dt.date)
    today = now.date()
    if day > today:
        return [IN_FUTURE.format(field=name, day=day)]
    if (today - day).days > PAST_DAYS_MAX:
        return [TOO_LONG_AGO.format(field=name, day=day, days=PAST_DAYS_MAX)]
    return []


def future_date_problems(day: object, name: str, now: dt.datetime) -> list[str]:
    """Something planned: not before today, at most ``FUTURE_DAYS_MAX`` ahead."""
    if not is_date(day):
        return [NOT_A_DATE.format(field=name)]
    assert isinstance(day, dt.date)
    today = now.date()
    if day < today:
        return [IN_PAST.format(field=name, day=day)]
    if (day - today).days > FUTURE_DAYS_MAX:
        return [TOO_FAR_AHEAD.format(field=name, day=day, days=FUTURE_DAYS_MAX)]
    return []


def planned_date_problems(day: object, name: str, now: dt.datetime) -> list[str]:
    """A day in a plan that may already have begun: at most ``PAST_DAYS_MAX`` back and
    ``FUTURE_DAYS_MAX`` ahead (an action agreed to formalise support that started last week)."""
    if not is_date(day):
        return [NOT_A_DATE.format(field=name)]
    assert isinstance(day, dt.date)
    today = now.date()
    if (today - day).days > PAST_DAYS_MAX:
        return [TOO_LONG_AGO.format(field=name, day=day, days=PAST_DAYS_MAX)]
    if (day - today).days > FUTURE_DAYS_MAX:
        return [TOO_FAR_AHEAD.format(field=name, day=day, days=FUTURE_DAYS_MAX)]
    return []


def flag_problems(value: object, name: str, optional: bool = False) -> list[str]:
    if value is None and optional:
        return []
    return [] if isinstance(value, bool) else [NOT_A_FLAG.format(field=name)]


def reason_code_problems(code: object) -> list[str]:
    if not isinstance(code, str) or len(code) > REASON_CODE_MAX or not REASON_CODE.fullmatch(code):
        return [BAD_REASON_CODE.format(code=code, limit=REASON_CODE_MAX)]
    return []


def repeated(values: tuple[object, ...]) -> list[object]:
    seen: set[object] = set()
    out: list[object] = []
    for v in values:
        if v in seen and v not in out:
            out.append(v)
        seen.add(v)
    return out
