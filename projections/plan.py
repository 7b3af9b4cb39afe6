"""The child's plan (barnets plan) as a pure fold over the ``plan`` and ``shared`` topics (DESIGN §6).

No I/O and no codec: the projector, replay and the auditors' time travel all fold the same
events with ``apply``. The state keeps two disjoint parts:

* the plan itself -- lifecycle, lead, meetings, wheel assessments, actions, follow-ups --
  changed only by ``plan`` events;
* the released facts -- changed only by ``shared`` events, kept at child level whether or not
  a plan is open, because the gate releases facts under consent, not under a plan.

The two topics are read from different partitions, so a live run and a replay interleave them
differently. Because no event touches both parts, every interleaving folds to the same state.

"Latest" is decided by event time, ``(envelope.occurred_at, event_id)`` (a ``Stamp``), never by
arrival: for the wheel assessment of each area, the lead, each meeting, action and follow-up
(a later event with the same id corrects it), and each released fact. So a redelivered event,
however late, changes nothing, and a release and its revocation settle by the gate's clock.

Lifecycle decisions:

* Events before any ``PlanOpened`` are ignored (facts are still kept).
* ``PlanOpened`` with a new plan id while a plan is open is rejected: a child has one plan.
* ``PlanOpened`` with a new plan id after a close starts a fresh plan (the earlier plan stays
  in the event log, and cannot be reopened); with the same plan id it reopens that plan with
  its content and the reopening's consent ids.
* Edits to a closed plan and events for another plan id are rejected; reopen to edit.
* Lifecycle events also go by event time: one older than the latest opening or close applied
  is superseded.

Repeating an event that was applied changes nothing, wherever the repeat arrives. An event
rejected for the plan's state (say, for a plan not yet opened) is not remembered, so a repeat
may apply once the state allows it; the API publishes plan events only for a plan it has read.

``rejection`` names why an event is not applied (a reason constant), so the projector can log
the ids and the reason -- never the event's text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple
from uuid import UUID

from projections.consents import Consent, FactRef, visible
from projections.records import replace
from schemas.events import (
    ActionAgreed,
    ActionCompleted,
    ActionEffect,
    ActionEvaluated,
    ActionStatus,
    ActionStatusChanged,
    Area,
    AreaAssessed,
    Basis,
    Category,
    Event,
    FactReleased,
    FollowUpHeld,
    FollowUpOutcome,
    FollowUpScheduled,
    InvitationAnswer,
    InvitationAnswered,
    LeadAssigned,
    MeetingHeld,
    MeetingInvited,
    ParticipantRecorded,
    ParticipantRole,
    PlanClosed,
    PlanOpened,
    ReleaseRevoked,
)
from schemas.sealing import Erased, Personal, Sealed
from schemas.shanarri import INDICATORS, SHANARRI

__all__ = [
    "ACTION_NEED", "ACTION_PERFORMER", "ACTION_RESPONSIBLE_PERSON", "ACTION_WHAT", "AGREED", "ANSWER_COMMENT",
    "ANSWER_SENDS", "AREAS", "ASSESSMENT_CHILD_VIEW", "ASSESSMENT_COMMENT", "ASSESSMENT_GUARDIANS_VIEW",
    "CANCELLED", "CLOSED", "COMPLETED", "ERASED_TEXT", "EVALUATION_CHILD", "EVALUATION_GUARDIANS", "EVALUATION_TEXT",
    "FOLLOW_UP_SUMMARY", "FOLLOW_UP_WHAT", "INDICATORS", "INVITATION_NOT_INVITED_WHY", "INVITATION_PEOPLE",
    "INVITATION_PLACE", "INVITATION_QUESTIONS", "MEETING_CHILD_VOICE", "MEETING_DECISIONS", "MEETING_NOTES",
    "MEETING_OTHERS", "ONGOING", "OPEN", "PARTICIPANT_CONTACT", "PARTICIPANT_RESPONSIBILITIES", "SEALED_TEXT",
    "SHANARRI", "STATUS_REASON", "Action", "Answer", "AreaPlan", "Assessment", "ChildPlan", "Evaluation", "FollowUp",
    "FollowUpReview", "Invitation", "Meeting", "Participant", "Rating", "ReleasedFact", "Stamp", "apply", "fold",
    "rejection", "stamp_of", "text_of", "visible_facts", "without_text",
]

# -- the wheel --------------------------------------------------------------------------------

AREAS: tuple[Area, ...] = (
    Area.CARE, Area.HEALTH, Area.LEARNING, Area.SAFETY, Area.RELATIONSHIPS, Area.HOME, Area.DEVELOPMENT,
)
"""The wheel's seven areas in the order the wheel shows them. Their SHANARRI indicators, used on
export, are ``schemas.shanarri.SHANARRI`` (re-exported here; the rationale is in docs/events.md)."""

# -- sealed free text ---------------------------------------------------------------------------

MEETING_DECISIONS = "decisions"
MEETING_NOTES = "notes"
MEETING_CHILD_VOICE = "child_voice"  # the child's own voice at the meeting
MEETING_OTHERS = "others_present"  # who else took part (people by name, others than organisations)
INVITATION_PLACE = "place"  # a room or a video link
INVITATION_QUESTIONS = "questions"
INVITATION_PEOPLE = "invited_people"
INVITATION_NOT_INVITED_WHY = "not_invited_why"  # why the child or guardians are not invited
ANSWER_SENDS = "sends"  # whom an organisation sends instead
ANSWER_COMMENT = "comment"
PARTICIPANT_RESPONSIBILITIES = "responsibilities"
PARTICIPANT_CONTACT = "contact"
ACTION_RESPONSIBLE_PERSON = "responsible_person"
ACTION_PERFORMER = "performer"  # who does an action by others (a club, a relative)
STATUS_REASON = "reason"  # why an action was cancelled
FOLLOW_UP_SUMMARY = "summary"
EVALUATION_TEXT = "evaluation"
EVALUATION_CHILD = "child_words"
EVALUATION_GUARDIANS = "guardians_words"
ASSESSMENT_COMMENT = "comment"
ASSESSMENT_CHILD_VIEW = "child_view"
ASSESSMENT_GUARDIANS_VIEW = "guardians_view"
ACTION_NEED = "need"
ACTION_WHAT = "what"
FOLLOW_UP_WHAT = "what"

SEALED_TEXT: Mapping[type[Event], tuple[str, ...]] = MappingProxyType({
    MeetingInvited: (INVITATION_PLACE, INVITATION_QUESTIONS, INVITATION_PEOPLE, INVITATION_NOT_INVITED_WHY),
    InvitationAnswered: (ANSWER_SENDS, ANSWER_COMMENT),
    MeetingHeld: (MEETING_DECISIONS, MEETING_NOTES, MEETING_CHILD_VOICE, MEETING_OTHERS),
    ParticipantRecorded: (PARTICIPANT_RESPONSIBILITIES, PARTICIPANT_CONTACT),
    AreaAssessed: (ASSESSMENT_COMMENT, ASSESSMENT_CHILD_VIEW, ASSESSMENT_GUARDIANS_VIEW),
    ActionAgreed: (ACTION_NEED, ACTION_WHAT, ACTION_RESPONSIBLE_PERSON, ACTION_PERFORMER),
    ActionStatusChanged: (STATUS_REASON,),
    FollowUpScheduled: (FOLLOW_UP_WHAT,),
    FollowUpHeld: (FOLLOW_UP_SUMMARY,),
    ActionEvaluated: (EVALUATION_TEXT, EVALUATION_CHILD, EVALUATION_GUARDIANS),
})
"""The keys of the free text each plan event carries in ``envelope.sealed`` as ``Personal``."""

ERASED_TEXT = "[raderad]"
"""What a crypto-shredded text reads as, everywhere (DESIGN §7)."""


def text_of(sealed: Sealed | None, key: str) -> str | None:
    """The free text under ``key``: plaintext if opened, ``ERASED_TEXT`` once the child's key is
    deleted, None if not opened here (a ``SealedBox``) or absent. Never raises on erasure."""
    if isinstance(sealed, Erased):
        return ERASED_TEXT
    if isinstance(sealed, Personal):
        return sealed.fields.get(key)
    return None


# -- reasons an event is not applied -------------------------------------------------------------

NO_PLAN = "no plan is open for this child"
OTHER_PLAN = "event is for another plan than the child's current one"
PLAN_ALREADY_OPEN = "a plan is already open for this child"
PLAN_SUPERSEDED = "that plan was replaced by a later plan and cannot be reopened"
PLAN_CLOSED = "the plan is closed"
SUPERSEDED = "a later event (by event time) has already been applied"
OTHER_CHILD = "event is for another child than this plan's"
NO_AREA = "event names no wellbeing area"
BAD_RATING = "wheel rating outside 1-5"
UNKNOWN_ACTION = "an action that was never agreed in this plan"
UNKNOWN_INVITATION = "an answer to a meeting that was never called in this plan"
NOT_INVITED = "an answer from an organisation the meeting's kallelse does not invite"
UNCOVERED_RELEASE = "a non-directory fact released without consent ids"

OPEN = "open"
CLOSED = "closed"
# An action's lifecycle as the read model stores it; ``agreed`` is planned, ``completed`` done.
AGREED = "agreed"
ONGOING = "ongoing"
COMPLETED = "completed"
CANCELLED = "cancelled"
STATUS_OF: Mapping[ActionStatus, str] = MappingProxyType({
    ActionStatus.PLANNED: AGREED, ActionStatus.ONGOING: ONGOING, ActionStatus.DONE: COMPLETED,
    ActionStatus.CANCELLED: CANCELLED,
})
RATINGS = range(1, 6)


class Stamp(NamedTuple):
    """Event time with the event id as tie-break: a total order that ignores arrival."""

    at: dt.datetime
    event_id: UUID


def stamp_of(event: Event) -> Stamp:
    return Stamp(event.envelope.occurred_at, event.envelope.event_id)


# -- the state -----------------------------------------------------------------------------------
# Free text is kept out of reprs, so a state that reaches a log line shows no personal data.

@dataclass(frozen=True, slots=True, kw_only=True)
class Meeting:
    meeting_id: UUID
    held_on: dt.date
    participant_orgs: tuple[str, ...]
    lead_org: str | None
    stamp: Stamp  # of the MeetingHeld in force; a later one for the same meeting corrects it
    written_by: str | None = None  # the organisation that recorded it: its text is theirs to share
    child_took_part: bool | None = None  # None: not recorded
    guardians_took_part: bool | None = None
    decisions: str | None = field(default=None, repr=False)
    notes: str | None = field(default=None, repr=False)
    child_voice: str | None = field(default=None, repr=False)
    others_present: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Invitation:
    """A kallelse to a collaboration meeting; the meeting it calls has the same id."""

    meeting_id: UUID
    starts_at: dt.datetime
    invited_orgs: tuple[str, ...]
    child_invited: bool
    guardians_invited: bool
    stamp: Stamp  # of the MeetingInvited in force; a later one for the same meeting corrects it
    written_by: str | None = None
    place: str | None = field(default=None, repr=False)
    questions: str | None = field(default=None, repr=False)
    invited_people: str | None = field(default=None, repr=False)
    not_invited_why: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """An invited organisation's answer; its latest by event time holds."""

    meeting_id: UUID
    invitee_org: str
    answer: InvitationAnswer
    answered_at: dt.datetime
    stamp: Stamp
    sends: str | None = field(default=None, repr=False)
    comment: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Participant:
    """An organisation's role in the plan and what it is responsible for (SIP)."""

    organisation_id: str
    role: ParticipantRole
    active: bool
    stamp: Stamp
    written_by: str | None = None
    responsibilities: str | None = field(default=None, repr=False)
    contact: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUpReview:
    """A follow-up held: when, and whether the plan goes on, is revised or is closed."""

    follow_up_id: UUID
    held_on: dt.date
    outcome: FollowUpOutcome
    stamp: Stamp
    written_by: str | None = None
    summary: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """One action's evaluation at one follow-up, in the professionals', child's and guardians' words."""

    action_id: UUID
    follow_up_id: UUID
    evaluated_on: dt.date
    effect: ActionEffect
    stamp: Stamp
    written_by: str | None = None
    evaluation: str | None = field(default=None, repr=False)
    child_words: str | None = field(default=None, repr=False)
    guardians_words: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rating:
    """One wheel rating of one area, kept for the wheel's history (no text: that is the latest's)."""

    area: Area
    rating: int
    assessed_by_org: str
    assessed_at: dt.datetime
    event_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class Assessment:
    """The latest wheel assessment of one area."""

    area: Area
    rating: int
    assessed_by_org: str
    assessed_at: dt.datetime
    event_id: UUID
    comment: str | None = field(default=None, repr=False)
    child_view: str | None = field(default=None, repr=False)
    guardians_view: str | None = field(default=None, repr=False)

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.assessed_at, self.event_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """A need and the action agreed for it: what, who (``responsible_org``), when, status."""

    action_id: UUID
    area: Area
    responsible_org: str
    due_on: dt.date | None
    stamp: Stamp  # of the ActionAgreed in force; a later one corrects the agreement
    written_by: str | None = None
    start_on: dt.date | None = None
    by_others: bool = False  # done by others than the organisations; responsible_org follows it up
    status: str = AGREED
    status_on: dt.date | None = None  # the day of the status in force
    completed_on: dt.date | None = None
    status_since: Stamp | None = None  # of the ActionCompleted / ActionStatusChanged in force
    need: str | None = field(default=None, repr=False)
    what: str | None = field(default=None, repr=False)
    responsible_person: str | None = field(default=None, repr=False)
    performer: str | None = field(default=None, repr=False)
    status_reason: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUp:
    follow_up_id: UUID
    area: Area | None  # a follow-up of the whole plan has no area
    due_on: dt.date
    stamp: Stamp
    written_by: str | None = None
    what: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleasedFact:
    """A source fact the gate released to the plan, with its provenance.

    Source organisation, category, area and basis are the ``FactReleased`` envelope's, which the
    gate copies from the fact's own envelope (``FactRef.of``), where the connector classified it
    (``connectors.classification``: the category of the fact's intake topic). The fold takes
    them as they are and derives nothing: a release stamped with a category no consent covers
    (``PLAN``) keeps it, and so fails closed. The fact's own details, and its own
    ``occurred_at``, are in ``fact`` -- the source event's single-object Avro bytes, for a reader
    to decode with the codec. A pure fold has no codec, so nothing here decodes them;
    ``released_at`` is the gate's time of this release (the release envelope's ``occurred_at``).
    """

    fact_event_id: UUID
    fact_type: str
    child_id: UUID
    source_org: str
    category: Category
    area: Area | None
    basis: Basis
    consent_ids: tuple[UUID, ...]
    released_at: dt.datetime
    stamp: Stamp  # of the FactReleased in force
    fact: bytes = field(default=b"", repr=False)

    @property
    def ref(self) -> FactRef:
        return FactRef(self.child_id, self.source_org, self.category, self.area, self.basis)


@dataclass(frozen=True, slots=True)
class AreaPlan:
    """One area of the wheel as the plan holds it. Facts are deliberately not here: a reader
    gets them only through ``visible_facts``, so nothing shows a fact without the consent check."""

    area: Area
    assessment: Assessment | None
    actions: tuple[Action, ...]
    follow_ups: tuple[FollowUp, ...]


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildPlan:
    """One child's plan and the facts released to it. ``ChildPlan()`` is the state before any event."""

    child_id: UUID | None = None
    plan_id: UUID | None = None
    status: str | None = None  # OPEN, CLOSED, or None before any plan
    opened_by_org: str | None = None
    opened_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    closed_reason: str | None = None
    consent_ids: tuple[UUID, ...] = ()
    lifecycle: Stamp | None = None  # of the latest PlanOpened / PlanClosed applied
    superseded_plans: frozenset[UUID] = frozenset()  # earlier plans, replaced by a fresh one
    lead: str | None = None
    lead_since: Stamp | None = None
    meetings: Mapping[UUID, Meeting] = field(default_factory=_empty)
    assessments: Mapping[Area, Assessment] = field(default_factory=_empty)
    actions: Mapping[UUID, Action] = field(default_factory=_empty)
    follow_ups: Mapping[UUID, FollowUp] = field(default_factory=_empty)
    invitations: Mapping[UUID, Invitation] = field(default_factory=_empty)
    answers: Mapping[tuple[UUID, str], Answer] = field(default_factory=_empty)
    roles: Mapping[str, Participant] = field(default_factory=_empty)
    reviews: Mapping[UUID, FollowUpReview] = field(default_factory=_empty)
    evaluations: Mapping[tuple[UUID, UUID], Evaluation] = field(default_factory=_empty)  # (action, follow-up)
    ratings: Mapping[UUID, Rating] = field(default_factory=_empty)  # every wheel rating, by event id
    facts: Mapping[UUID, ReleasedFact] = field(default_factory=_empty)
    # Revoked fact ids and when: ids only, the fact itself is purged. Keeps a late, older
    # release from bringing a purged fact back.
    revoked: Mapping[UUID, Stamp] = field(default_factory=_empty)

    @property
    def participants(self) -> tuple[str, ...]:
        """Organisations in the plan: the opener, every meeting's participants and invitees, the
        lead, and each organisation recorded with a role (until it leaves). Being one lets an
        organisation open the child only where a consent also names it (``projections.access``)."""
        orgs = {o for m in self.meetings.values() for o in m.participant_orgs}
        orgs.update(o for i in self.invitations.values() for o in i.invited_orgs)
        orgs.update(p.organisation_id for p in self.roles.values() if p.active)
        orgs.update(o for o in (self.opened_by_org, self.lead) if o is not None)
        return tuple(sorted(orgs))

    @property
    def revision(self) -> int:
        """The plan's version: 1, and one more for each follow-up that revised it."""
        return 1 + sum(r.outcome is FollowUpOutcome.REVISED for r in self.reviews.values())

    def history(self, area: Area) -> tuple[Rating, ...]:
        """Every rating of ``area``, oldest first: the wheel over time."""
        return tuple(sorted((r for r in self.ratings.values() if r.area == area),
                            key=lambda r: (r.assessed_at, r.event_id)))

    def area(self, area: Area) -> AreaPlan:
        """The plan's assessment, actions and follow-ups in one area, in due order."""
        return AreaPlan(
            area=area,
            assessment=self.assessments.get(area),
            actions=tuple(sorted((a for a in self.actions.values() if a.area == area), key=_action_order)),
            follow_ups=tuple(sorted((f for f in self.follow_ups.values() if f.area == area), key=_follow_up_order)),
        )


_TEXT_FIELDS: Mapping[type, tuple[str, ...]] = MappingProxyType({
    Meeting: (MEETING_DECISIONS, MEETING_NOTES, MEETING_CHILD_VOICE, MEETING_OTHERS),
    Assessment: (ASSESSMENT_COMMENT, ASSESSMENT_CHILD_VIEW, ASSESSMENT_GUARDIANS_VIEW),
    Action: (ACTION_NEED, ACTION_WHAT, ACTION_RESPONSIBLE_PERSON, ACTION_PERFORMER, "status_reason"),
    FollowUp: (FOLLOW_UP_WHAT,),
    Invitation: (INVITATION_PLACE, INVITATION_QUESTIONS, INVITATION_PEOPLE, INVITATION_NOT_INVITED_WHY),
    Answer: (ANSWER_SENDS, ANSWER_COMMENT),
    Participant: (PARTICIPANT_RESPONSIBILITIES, PARTICIPANT_CONTACT),
    FollowUpReview: (FOLLOW_UP_SUMMARY,),
    Evaluation: (EVALUATION_TEXT, EVALUATION_CHILD, EVALUATION_GUARDIANS),
})
_TEXT_HOLDERS = ("meetings", "assessments", "actions", "follow_ups", "invitations", "answers", "roles", "reviews",
                 "evaluations")


def without_text(state: ChildPlan) -> ChildPlan:
    """The plan with every free text reading ``ERASED_TEXT``, as a fold from the log reads once the
    child's key is gone: a running fold lets go of the text it opened (crypto-shredding). The same
    object if there is no text to let go of."""
    def scrubbed(items: Mapping[Any, Any]) -> Mapping[Any, Any] | None:
        out, changed = dict(items), False
        for key, item in items.items():
            texts = {n: ERASED_TEXT for n in _TEXT_FIELDS[type(item)] if getattr(item, n) not in (None, ERASED_TEXT)}
            if texts:
                out[key], changed = replace(item, **texts), True
        return MappingProxyType(out) if changed else None

    found = {name: scrubbed(getattr(state, name)) for name in _TEXT_HOLDERS}
    changes = {name: items for name, items in found.items() if items is not None}
    return replace(state, **changes) if changes else state


def _action_order(action: Action) -> tuple[Any, ...]:
    return (action.due_on is None, action.due_on or dt.date.min, action.stamp)


def _follow_up_order(follow_up: FollowUp) -> tuple[Any, ...]:
    return (follow_up.due_on, follow_up.stamp)


# ``.copy()`` (a mappingproxy delegates it to its dict) keeps the stored key hashes; rebuilding
# with ``{**m}`` would re-hash every UUID key on every event, the fold's main cost in a replay.

def _put(mapping: Any, key: Any, value: Any) -> Mapping[Any, Any]:
    changed = mapping.copy()
    changed[key] = value
    return MappingProxyType(changed)


def _without(mapping: Any, key: Any) -> Mapping[Any, Any]:
    if key not in mapping:
        return mapping
    changed = mapping.copy()
    del changed[key]
    return MappingProxyType(changed)


# -- why an event is not applied ------------------------------------------------------------------

def rejection(state: ChildPlan, event: Event) -> str | None:
    """Why ``apply`` leaves ``state`` unchanged for a plan or shared event, or None if it applies.

    Events this fold does not read (consents, directory releases, named-person events) are not
    rejections: they simply pass. A stale assessment or lead change is not one either: it is
    applied and loses to the later one already held.
    """
    if _passes(event):
        return None
    if state.child_id is not None and event.child_id != state.child_id:
        return OTHER_CHILD
    if isinstance(event, FactReleased | ReleaseRevoked):
        return _release_rejection(state, event)
    if isinstance(event, PlanOpened):
        return _opening_rejection(state, event)
    return _plan_event_rejection(state, event)


def _opening_rejection(state: ChildPlan, event: PlanOpened) -> str | None:
    if state.plan_id is None:
        return None
    if event.plan_id in state.superseded_plans:
        return PLAN_SUPERSEDED
    if state.plan_id != event.plan_id and state.status == OPEN:
        return PLAN_ALREADY_OPEN
    if state.lifecycle is not None and stamp_of(event) <= state.lifecycle:
        return SUPERSEDED
    return None


def _plan_event_rejection(state: ChildPlan, event: Any) -> str | None:
    if state.plan_id is None:
        return NO_PLAN
    if event.plan_id != state.plan_id:
        return OTHER_PLAN
    if state.status == CLOSED:
        return PLAN_CLOSED
    if isinstance(event, PlanClosed) and state.lifecycle is not None and stamp_of(event) <= state.lifecycle:
        return SUPERSEDED
    if isinstance(event, AreaAssessed | ActionAgreed) and event.envelope.area is None:
        return NO_AREA
    if isinstance(event, AreaAssessed) and event.rating not in RATINGS:
        return BAD_RATING
    if isinstance(event, ActionCompleted | ActionStatusChanged | ActionEvaluated) and event.action_id not in state.actions:
        return UNKNOWN_ACTION
    if isinstance(event, InvitationAnswered):
        invitation = state.invitations.get(event.meeting_id)
        if invitation is None:
            return UNKNOWN_INVITATION
        if event.invitee_org not in invitation.invited_orgs:
            return NOT_INVITED
    return None


def _release_rejection(state: ChildPlan, event: FactReleased | ReleaseRevoked) -> str | None:
    if isinstance(event, FactReleased) and not event.consent_ids:
        return UNCOVERED_RELEASE
    held = state.facts.get(event.fact_event_id)
    latest = held.stamp if held is not None else state.revoked.get(event.fact_event_id)
    if latest is not None and stamp_of(event) <= latest:
        return SUPERSEDED
    return None


def _passes(event: Event) -> bool:
    """Events this fold does not read. Directory releases (basis DIRECTORY, no consent ids) are
    among them: they drive the named person, and never enter the plan."""
    if isinstance(event, FactReleased):
        return event.envelope.basis is Basis.DIRECTORY
    return type(event) not in _HANDLERS


# -- the plan's handlers ---------------------------------------------------------------------------

def _opened(state: ChildPlan, event: PlanOpened) -> ChildPlan:
    if state.plan_id == event.plan_id:  # the same plan reopened: its content stays
        return replace(state, status=OPEN, closed_at=None, closed_reason=None,
                       consent_ids=event.consent_ids, lifecycle=stamp_of(event))
    return ChildPlan(  # a fresh plan; the child's released facts are not the plan's to drop
        child_id=state.child_id, facts=state.facts, revoked=state.revoked,
        superseded_plans=state.superseded_plans | ({state.plan_id} if state.plan_id else set()),
        plan_id=event.plan_id, status=OPEN, opened_by_org=event.opened_by_org,
        opened_at=event.envelope.occurred_at, consent_ids=event.consent_ids, lifecycle=stamp_of(event),
    )


def _closed(state: ChildPlan, event: PlanClosed) -> ChildPlan:
    return replace(state, status=CLOSED, closed_at=event.envelope.occurred_at,
                   closed_reason=event.reason_code, lifecycle=stamp_of(event))


def _with_lead(state: ChildPlan, lead_org: str, event: Event) -> ChildPlan:
    """The lead decided latest by event time holds, whether at a meeting or by assignment."""
    if state.lead_since is not None and stamp_of(event) <= state.lead_since:
        return state
    return replace(state, lead=lead_org, lead_since=stamp_of(event))


def _meeting_held(state: ChildPlan, event: MeetingHeld) -> ChildPlan:
    known = state.meetings.get(event.meeting_id)
    if known is None or stamp_of(event) > known.stamp:
        sealed = event.envelope.sealed
        meeting = Meeting(
            meeting_id=event.meeting_id, held_on=event.held_on, participant_orgs=event.participant_orgs,
            lead_org=event.lead_org, stamp=stamp_of(event), written_by=event.envelope.source.organisation_id,
            child_took_part=event.child_took_part, guardians_took_part=event.guardians_took_part,
            decisions=text_of(sealed, MEETING_DECISIONS), notes=text_of(sealed, MEETING_NOTES),
            child_voice=text_of(sealed, MEETING_CHILD_VOICE), others_present=text_of(sealed, MEETING_OTHERS),
        )
        state = replace(state, meetings=_put(state.meetings, event.meeting_id, meeting))
    return state if event.lead_org is None else _with_lead(state, event.lead_org, event)


def _lead_assigned(state: ChildPlan, event: LeadAssigned) -> ChildPlan:
    return _with_lead(state, event.lead_org, event)


def _area_assessed(state: ChildPlan, event: AreaAssessed) -> ChildPlan:
    area = event.envelope.area
    assert area is not None  # rejection() has ruled out an assessment without an area
    if event.event_id not in state.ratings:  # every rating, for the wheel's history
        rating = Rating(area=area, rating=event.rating, assessed_by_org=event.assessed_by_org,
                        assessed_at=event.envelope.occurred_at, event_id=event.event_id)
        state = replace(state, ratings=_put(state.ratings, event.event_id, rating))
    known = state.assessments.get(area)
    if known is not None and stamp_of(event) <= known.stamp:
        return state  # an older assessment, arrived late: the latest by time stays
    sealed = event.envelope.sealed
    assessment = Assessment(
        area=area, rating=event.rating, assessed_by_org=event.assessed_by_org,
        assessed_at=event.envelope.occurred_at, event_id=event.event_id,
        comment=text_of(sealed, ASSESSMENT_COMMENT), child_view=text_of(sealed, ASSESSMENT_CHILD_VIEW),
        guardians_view=text_of(sealed, ASSESSMENT_GUARDIANS_VIEW),
    )
    return replace(state, assessments=_put(state.assessments, area, assessment))


def _action_agreed(state: ChildPlan, event: ActionAgreed) -> ChildPlan:
    """A later agreement for the same action corrects it; a completion already recorded stays."""
    area = event.envelope.area
    assert area is not None  # rejection() has ruled out an action without an area
    known = state.actions.get(event.action_id)
    if known is not None and stamp_of(event) <= known.stamp:
        return state
    sealed = event.envelope.sealed
    agreed = Action(
        action_id=event.action_id, area=area, responsible_org=event.responsible_org, due_on=event.due_on,
        stamp=stamp_of(event), need=text_of(sealed, ACTION_NEED), what=text_of(sealed, ACTION_WHAT),
        written_by=event.envelope.source.organisation_id, start_on=event.start_on, by_others=event.by_others,
        responsible_person=text_of(sealed, ACTION_RESPONSIBLE_PERSON), performer=text_of(sealed, ACTION_PERFORMER),
    )
    if known is not None:  # the lifecycle is the status events', not the agreement's
        agreed = replace(agreed, status=known.status, status_on=known.status_on, completed_on=known.completed_on,
                         status_since=known.status_since, status_reason=known.status_reason)
    return replace(state, actions=_put(state.actions, event.action_id, agreed))


def _with_status(state: ChildPlan, event: ActionCompleted | ActionStatusChanged, status: str, on: dt.date,
                 reason: str | None) -> ChildPlan:
    """The status decided latest by event time holds, however the events arrive."""
    known = state.actions[event.action_id]  # rejection() has ruled out an unknown action
    if known.status_since is not None and stamp_of(event) <= known.status_since:
        return state
    changed = replace(known, status=status, status_on=on, completed_on=on if status == COMPLETED else None,
                      status_since=stamp_of(event), status_reason=reason)
    return replace(state, actions=_put(state.actions, event.action_id, changed))


def _action_completed(state: ChildPlan, event: ActionCompleted) -> ChildPlan:
    return _with_status(state, event, COMPLETED, event.completed_on, None)


def _action_status_changed(state: ChildPlan, event: ActionStatusChanged) -> ChildPlan:
    return _with_status(state, event, STATUS_OF[event.status], event.changed_on,
                        text_of(event.envelope.sealed, STATUS_REASON))


def _follow_up_scheduled(state: ChildPlan, event: FollowUpScheduled) -> ChildPlan:
    known = state.follow_ups.get(event.follow_up_id)
    if known is not None and stamp_of(event) <= known.stamp:
        return state
    follow_up = FollowUp(
        follow_up_id=event.follow_up_id, area=event.envelope.area, due_on=event.due_on,
        stamp=stamp_of(event), what=text_of(event.envelope.sealed, FOLLOW_UP_WHAT),
        written_by=event.envelope.source.organisation_id,
    )
    return replace(state, follow_ups=_put(state.follow_ups, event.follow_up_id, follow_up))


def _latest(items: Mapping[Any, Any], key: Any, event: Event) -> bool:
    """Whether ``event`` is later by event time than the item held under ``key`` (or none is)."""
    known = items.get(key)
    return known is None or stamp_of(event) > known.stamp


def _invited(state: ChildPlan, event: MeetingInvited) -> ChildPlan:
    if not _latest(state.invitations, event.meeting_id, event):
        return state
    sealed = event.envelope.sealed
    invitation = Invitation(
        meeting_id=event.meeting_id, starts_at=event.starts_at, invited_orgs=event.invited_orgs,
        child_invited=event.child_invited, guardians_invited=event.guardians_invited, stamp=stamp_of(event),
        written_by=event.envelope.source.organisation_id, place=text_of(sealed, INVITATION_PLACE),
        questions=text_of(sealed, INVITATION_QUESTIONS), invited_people=text_of(sealed, INVITATION_PEOPLE),
        not_invited_why=text_of(sealed, INVITATION_NOT_INVITED_WHY),
    )
    return replace(state, invitations=_put(state.invitations, event.meeting_id, invitation))


def _answered(state: ChildPlan, event: InvitationAnswered) -> ChildPlan:
    key = (event.meeting_id, event.invitee_org)
    if not _latest(state.answers, key, event):
        return state
    sealed = event.envelope.sealed
    answer = Answer(meeting_id=event.meeting_id, invitee_org=event.invitee_org, answer=event.answer,
                    answered_at=event.envelope.occurred_at, stamp=stamp_of(event),
                    sends=text_of(sealed, ANSWER_SENDS), comment=text_of(sealed, ANSWER_COMMENT))
    return replace(state, answers=_put(state.answers, key, answer))


def _participant(state: ChildPlan, event: ParticipantRecorded) -> ChildPlan:
    if not _latest(state.roles, event.organisation_id, event):
        return state
    sealed = event.envelope.sealed
    participant = Participant(
        organisation_id=event.organisation_id, role=event.role, active=event.active, stamp=stamp_of(event),
        written_by=event.envelope.source.organisation_id,
        responsibilities=text_of(sealed, PARTICIPANT_RESPONSIBILITIES), contact=text_of(sealed, PARTICIPANT_CONTACT),
    )
    return replace(state, roles=_put(state.roles, event.organisation_id, participant))


def _follow_up_held(state: ChildPlan, event: FollowUpHeld) -> ChildPlan:
    if not _latest(state.reviews, event.follow_up_id, event):
        return state
    review = FollowUpReview(follow_up_id=event.follow_up_id, held_on=event.held_on, outcome=event.outcome,
                            stamp=stamp_of(event), written_by=event.envelope.source.organisation_id,
                            summary=text_of(event.envelope.sealed, FOLLOW_UP_SUMMARY))
    return replace(state, reviews=_put(state.reviews, event.follow_up_id, review))


def _evaluated(state: ChildPlan, event: ActionEvaluated) -> ChildPlan:
    key = (event.action_id, event.follow_up_id)
    if not _latest(state.evaluations, key, event):
        return state
    sealed = event.envelope.sealed
    evaluation = Evaluation(
        action_id=event.action_id, follow_up_id=event.follow_up_id, evaluated_on=event.evaluated_on,
        effect=event.effect, stamp=stamp_of(event), written_by=event.envelope.source.organisation_id,
        evaluation=text_of(sealed, EVALUATION_TEXT), child_words=text_of(sealed, EVALUATION_CHILD),
        guardians_words=text_of(sealed, EVALUATION_GUARDIANS),
    )
    return replace(state, evaluations=_put(state.evaluations, key, evaluation))


# -- the released facts' handlers --------------------------------------------------------------------

def _fact_released(state: ChildPlan, event: FactReleased) -> ChildPlan:
    """A release, or a re-release of the same fact with new consent ids: the latest wins."""
    env = event.envelope
    fact = ReleasedFact(
        fact_event_id=event.fact_event_id, fact_type=event.fact_type, child_id=env.child_id,
        source_org=env.source.organisation_id, category=env.category, area=env.area,
        basis=env.basis, consent_ids=event.consent_ids, released_at=env.occurred_at, stamp=stamp_of(event),
        fact=event.fact,
    )
    return replace(state, facts=_put(state.facts, event.fact_event_id, fact),
                   revoked=_without(state.revoked, event.fact_event_id))


def _release_revoked(state: ChildPlan, event: ReleaseRevoked) -> ChildPlan:
    """Purge, not hide (data minimisation): the fact and its bytes leave the state."""
    return replace(state, facts=_without(state.facts, event.fact_event_id),
                   revoked=_put(state.revoked, event.fact_event_id, stamp_of(event)))


# -- the fold -----------------------------------------------------------------------------------------

_HANDLERS: Mapping[type[Event], Callable[[ChildPlan, Any], ChildPlan]] = MappingProxyType({
    PlanOpened: _opened,
    MeetingInvited: _invited,
    InvitationAnswered: _answered,
    MeetingHeld: _meeting_held,
    ParticipantRecorded: _participant,
    LeadAssigned: _lead_assigned,
    AreaAssessed: _area_assessed,
    ActionAgreed: _action_agreed,
    ActionCompleted: _action_completed,
    ActionStatusChanged: _action_status_changed,
    FollowUpScheduled: _follow_up_scheduled,
    FollowUpHeld: _follow_up_held,
    ActionEvaluated: _evaluated,
    PlanClosed: _closed,
    FactReleased: _fact_released,
    ReleaseRevoked: _release_revoked,
})


def apply(state: ChildPlan, event: Event) -> ChildPlan:
    """Fold one event into the child's plan. Unread, rejected and repeated events change nothing."""
    if _passes(event) or rejection(state, event) is not None:
        return state
    if state.child_id is None:
        state = replace(state, child_id=event.child_id)
    return _HANDLERS[type(event)](state, event)


def fold(events: Iterable[Event], state: ChildPlan = ChildPlan()) -> ChildPlan:
    """Replay: the same ``apply`` over a whole stream."""
    for event in events:
        state = apply(state, event)
    return state


# -- reading ------------------------------------------------------------------------------------------

def visible_facts(
    plan: ChildPlan, viewer_org: str, at: dt.datetime, consents: Iterable[Consent]
) -> list[ReleasedFact]:
    """The released facts ``viewer_org`` may see at ``at``, oldest release first.

    Asks the one visibility function, so live reads (``at`` = now) and auditors' time travel
    (a plan folded up to ``at``) agree with the gate. Consents are checked again here because an
    expiry needs no event.
    """
    consents = list(consents)
    facts = sorted(plan.facts.values(), key=lambda f: f.stamp)
    return [f for f in facts if visible(f.ref, viewer_org, at, consents)]
