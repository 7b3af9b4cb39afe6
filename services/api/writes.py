"""Changing a child's plan and consents: decide access, check against the read model, publish.

What needs the read model is checked here (the plan is open, the consents exist and are
active, the action is this plan's); what the request alone shows is checked by
``services.commands.plan``, ``services.commands.sip`` and ``services.commands.consent``, which
give every reason. Each accepted command publishes one event (a follow-up held: the follow-up,
each evaluation, and a close), all at once after every check, and answers with its id: the read model shows it once the
projector has applied it. Every organisation a command names is checked against the county
directory (``hub.directory``): the command modules take its units and say which field names
one that is unknown or of the wrong kind. A consent is shown at once, as pending (``services.api.pending``), and
a withdrawal of a consent that had already ended is accepted and answered as moot.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from projections import access
from projections.access import Need
from projections.consent_rules import ChildStatus
from schemas.events import ActionStatus, ConsentGranted, Event, Grantor
from schemas.sealing import ChildErased
from services.api import errors, models, pending, publishing, reads
from services.api.auth.tokens import Principal
from services.api.reads import Loaded
from services.api.store import ChildRow, PlanRows
from services.api.ui import sv
from services.api.wiring import Hub
from services.commands import consent as consent_registry
from services.commands import organisations
from services.commands import plan as plan_service
from services.commands import sip as sip_service

NO_PLAN = errors.NO_PLAN
PLAN_ALREADY_OPEN = errors.PLAN_ALREADY_OPEN
UNKNOWN_CONSENT = errors.UNKNOWN_CONSENT
INACTIVE_CONSENT = errors.INACTIVE_CONSENT
NOT_RECIPIENT = errors.NOT_RECIPIENT
ALREADY_WITHDRAWN = errors.ALREADY_WITHDRAWN
PENDING_CONSENT = errors.PENDING_CONSENT
CHILD_ERASED = errors.CHILD_ERASED
REGISTERED_BY_MAX = 128  # the read model's column: a longer subject is cut, not refused


@dataclass(frozen=True)
class OneChild:
    """``ChildStatuses`` for the consent registry, from the child's read-model row."""

    status_of: ChildStatus

    def status(self, child_id: uuid.UUID) -> ChildStatus | None:
        return self.status_of if child_id == self.status_of.child_id else None


def _units(hub: Hub) -> Mapping[str, str]:
    """The county directory as the commands check organisations against it: each unit's kind,
    and the region (a source of facts, never a unit in a plan)."""
    directory = hub.directory
    region = {} if directory.region is None else {directory.region[0]: organisations.REGION}
    return {**directory.kinds, **region}


def _accepted(event: Event, created: uuid.UUID | None = None) -> models.Accepted:
    return models.Accepted(event_id=event.event_id, event_type=type(event).__name__, id=created, message=sv.PENDING)


def _moot(event: Event | None, created: uuid.UUID, why: str) -> models.Accepted:
    """Accepted, but it changed nothing, and why (English for programs, Swedish for people)."""
    return models.Accepted(event_id=None if event is None else event.event_id,
                           event_type=None if event is None else type(event).__name__, id=created,
                           message=sv.MOOT.format(why=sv.translate(why)), moot=why)


async def _run(hub: Hub, command: Callable[..., Awaitable[Event]], *args: Any, **kwargs: Any) -> Event:
    """Run one domain command with the hub's publish port; its refusals become 422s."""
    events: list[Event] = []

    async def collect(event: Event) -> None:
        events.append(event)

    try:
        built = await command(*args, publish=collect, **kwargs)
    except (plan_service.PlanRejected, consent_registry.ConsentRejected) as exc:
        raise errors.Rejected(exc.reasons) from None
    try:
        await reads.emit(hub, events)
    except ChildErased:
        raise errors.Rejected([CHILD_ERASED]) from None
    return built


async def _open_plan(hub: Hub, principal: Principal, child_id: uuid.UUID) -> tuple[Loaded, uuid.UUID]:
    loaded = await reads.guard(hub, principal, child_id, Need.WRITE)
    if loaded.child.died_on is not None:  # the plan reads as closed: say why
        raise errors.Rejected([plan_service.CHILD_DIED.format(day=loaded.child.died_on)])
    if not loaded.child.plan_open or loaded.child.plan_id is None:
        raise errors.Rejected([NO_PLAN])
    return loaded, loaded.child.plan_id


# -- the plan ------------------------------------------------------------------------------------------

async def open_plan(hub: Hub, principal: Principal, child_id: uuid.UUID, body: models.OpenPlan) -> models.Accepted:
    loaded = await reads.guard(hub, principal, child_id, Need.WRITE)
    if loaded.child.plan_open:
        raise errors.Rejected([PLAN_ALREADY_OPEN])
    now, org = hub.now(), principal.organisation_id
    known = {c.consent_id: c for c in loaded.consents}
    waiting = {s.consent.consent_id for s in loaded.shown if s.pending}
    reasons = []
    for consent_id in dict.fromkeys(body.consent_ids):
        consent = known.get(consent_id)
        if consent is None and consent_id in waiting:
            reasons.append(PENDING_CONSENT.format(consent_id=consent_id))  # not in force until the gate has it
        elif consent is None:
            reasons.append(UNKNOWN_CONSENT.format(consent_id=consent_id))
        elif not consent.active_at(now):
            reasons.append(INACTIVE_CONSENT.format(consent_id=consent_id))
        elif org not in consent.recipients:
            reasons.append(NOT_RECIPIENT.format(consent_id=consent_id))
    if reasons:
        raise errors.Rejected(reasons)
    event = await _run(hub, plan_service.open_plan, child_id, org, body.consent_ids, now=now,
                       died_on=loaded.child.died_on)
    return _accepted(event, event.plan_id)  # type: ignore[attr-defined]


async def record_meeting(hub: Hub, principal: Principal, child_id: uuid.UUID,
                         body: models.RecordMeeting) -> models.Accepted:
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    if body.meeting_id is not None and _invitation(await _rows(hub, child_id), body.meeting_id) is None:
        raise errors.NotFound()  # a meeting called is recorded under its kallelse's id: this plan's only
    event = await _run(hub, plan_service.record_meeting, child_id, plan_id, principal.organisation_id, body.held_on,
                       body.participant_orgs, body.lead_org, body.decisions, body.notes, now=hub.now(),
                       died_on=loaded.child.died_on, units=_units(hub), meeting_id=body.meeting_id,
                       child_took_part=body.child_took_part, guardians_took_part=body.guardians_took_part,
                       child_voice=body.child_voice, others_present=body.others_present)
    return _accepted(event, event.meeting_id)  # type: ignore[attr-defined]


async def assess_area(hub: Hub, principal: Principal, child_id: uuid.UUID, body: models.AssessArea) -> models.Accepted:
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    event = await _run(hub, plan_service.assess_area, child_id, plan_id, principal.organisation_id, body.area,
                       body.rating, body.comment, body.child_view, body.guardians_view, now=hub.now(),
                       died_on=loaded.child.died_on)
    return _accepted(event)


async def agree_action(hub: Hub, principal: Principal, child_id: uuid.UUID, body: models.AgreeAction) -> models.Accepted:
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    event = await _run(hub, plan_service.agree_action, child_id, plan_id, principal.organisation_id, body.area,
                       body.need, body.what, body.responsible_org, body.due_on, now=hub.now(),
                       died_on=loaded.child.died_on, units=_units(hub), start_on=body.start_on,
                       by_others=body.by_others, performer=body.performer,
                       responsible_person=body.responsible_person)
    return _accepted(event, event.action_id)  # type: ignore[attr-defined]


async def complete_action(hub: Hub, principal: Principal, child_id: uuid.UUID, action_id: uuid.UUID,
                          body: models.CompleteAction) -> models.Accepted:
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    action = await _action(hub, child_id, action_id)
    problems = sip_service.status_problems(action_id, action.status, ActionStatus.DONE)
    if problems:  # a done or cancelled action takes no further status, this way either
        raise errors.Rejected(problems)
    event = await _run(hub, plan_service.complete_action, child_id, plan_id, principal.organisation_id, action_id,
                       body.completed_on, now=hub.now(),
                       died_on=loaded.child.died_on)
    return _accepted(event, action_id)


async def schedule_follow_up(hub: Hub, principal: Principal, child_id: uuid.UUID,
                             body: models.ScheduleFollowUp) -> models.Accepted:
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    event = await _run(hub, plan_service.schedule_follow_up, child_id, plan_id, principal.organisation_id,
                       body.due_on, body.area, body.what, now=hub.now(),
                       died_on=loaded.child.died_on)
    return _accepted(event, event.follow_up_id)  # type: ignore[attr-defined]


async def transfer_named_person(hub: Hub, principal: Principal, child_id: uuid.UUID,
                                body: models.TransferNamedPerson) -> models.Accepted:
    loaded = await reads.guard(hub, principal, child_id, Need.TRANSFER)
    event = await _run(hub, plan_service.transfer_named_person, child_id, principal.organisation_id, body.to_org,
                       loaded.child.named_person_org, body.reason_code, now=hub.now(),
                       died_on=loaded.child.died_on, units=_units(hub))
    return _accepted(event)


async def close_plan(hub: Hub, principal: Principal, child_id: uuid.UUID, body: models.ClosePlan) -> models.Accepted:
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    event = await _run(hub, plan_service.close_plan, child_id, plan_id, principal.organisation_id, body.reason_code,
                       now=hub.now(), died_on=loaded.child.died_on)
    return _accepted(event, plan_id)


# -- the plan as a SIP (issue 20) -------------------------------------------------------------------------

async def _rows(hub: Hub, child_id: uuid.UUID) -> PlanRows:
    return await hub.run(hub.reader.plan_rows, child_id)


async def _action(hub: Hub, child_id: uuid.UUID, action_id: uuid.UUID) -> Any:
    """The action's read-model row; 404 if it is not an action of this child's plan."""
    action = next((r for r in (await _rows(hub, child_id)).actions if r.action_id == str(action_id)), None)
    if action is None:
        raise errors.NotFound()
    return action


def _invitation(rows: PlanRows, meeting_id: uuid.UUID) -> Any | None:
    return next((r for r in rows.invitations if r.meeting_id == str(meeting_id)), None)


async def invite_meeting(hub: Hub, principal: Principal, child_id: uuid.UUID,
                         body: models.InviteMeeting) -> models.Accepted:
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    event = await _run(hub, sip_service.invite_meeting, child_id, plan_id, principal.organisation_id, body.starts_at,
                       body.invited_orgs, body.place, body.questions, body.child_invited, body.guardians_invited,
                       body.invited_people, body.not_invited_why, now=hub.now(), died_on=loaded.child.died_on,
                       units=_units(hub))
    return _accepted(event, event.meeting_id)  # type: ignore[attr-defined]


async def answer_invitation(hub: Hub, principal: Principal, child_id: uuid.UUID, meeting_id: uuid.UUID,
                            body: models.AnswerInvitation) -> models.Accepted:
    """The caller's organisation answers a kallelse of this plan (else 404); one it was not sent
    is refused with the reason. Invited, it is a participant: it may act where a consent names it."""
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    invitation = _invitation(await _rows(hub, child_id), meeting_id)
    if invitation is None:
        raise errors.NotFound()
    event = await _run(hub, sip_service.answer_invitation, child_id, plan_id, principal.organisation_id, meeting_id,
                       json.loads(invitation.invited_orgs or "[]"), body.answer, body.sends, body.comment,
                       now=hub.now(), died_on=loaded.child.died_on)
    return _accepted(event, meeting_id)


async def record_participant(hub: Hub, principal: Principal, child_id: uuid.UUID,
                             body: models.RecordParticipant) -> models.Accepted:
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    event = await _run(hub, sip_service.record_participant, child_id, plan_id, principal.organisation_id,
                       body.organisation_id, body.role, body.responsibilities, body.contact, body.active,
                       now=hub.now(), died_on=loaded.child.died_on, units=_units(hub))
    return _accepted(event)


async def change_action_status(hub: Hub, principal: Principal, child_id: uuid.UUID, action_id: uuid.UUID,
                               body: models.ChangeActionStatus) -> models.Accepted:
    """Move an action of this plan (else 404) on in its lifecycle, from its status in the read model."""
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    action = await _action(hub, child_id, action_id)
    event = await _run(hub, sip_service.change_action_status, child_id, plan_id, principal.organisation_id,
                       action_id, action.status, body.status, body.changed_on, body.reason, now=hub.now(),
                       died_on=loaded.child.died_on)
    return _accepted(event, action_id)


async def hold_follow_up(hub: Hub, principal: Principal, child_id: uuid.UUID,
                         body: models.HoldFollowUp) -> models.Accepted:
    """A follow-up held, every action's evaluation and, for CLOSED, the plan's close: all checked
    first, then published together. A scheduled follow-up named must be this child's (else 404)."""
    loaded, plan_id = await _open_plan(hub, principal, child_id)
    rows = await _rows(hub, child_id)
    if body.follow_up_id is not None and all(r.follow_up_id != str(body.follow_up_id) for r in rows.follow_ups):
        raise errors.NotFound()
    evaluations = [sip_service.EvaluationIn(e.action_id, e.effect, e.evaluation, e.child_words, e.guardians_words)
                   for e in body.evaluations]
    event = await _run(hub, sip_service.hold_follow_up, child_id, plan_id, principal.organisation_id,
                       body.follow_up_id, body.held_on, body.outcome, body.summary, evaluations,
                       {uuid.UUID(r.action_id) for r in rows.actions}, now=hub.now(), died_on=loaded.child.died_on)
    return _accepted(event, event.follow_up_id)  # type: ignore[attr-defined]


# -- consents ------------------------------------------------------------------------------------------

async def register_consent(hub: Hub, principal: Principal, child_id: uuid.UUID,
                           body: models.RegisterConsent) -> models.Accepted:
    """Register a consent (rules 6 and 8 of issue 14): every reason the registry gives at once,
    and nothing written if there is one. Once published it is kept as pending, so it shows and
    can be withdrawn before the read model has it (rule 9)."""
    loaded = await reads.guard(hub, principal, child_id, Need.WRITE)
    request = consent_registry.ConsentRequest(
        child_id=child_id, grantors=tuple(dict.fromkeys(Grantor(g.party_id, g.role) for g in body.grantors)),
        categories=tuple(dict.fromkeys(body.categories)), recipients=tuple(dict.fromkeys(body.recipients)),
        valid_from=body.valid_from, valid_to=body.valid_to,
        source_organisations=None if body.source_organisations is None else tuple(dict.fromkeys(body.source_organisations)),
        areas=None if body.areas is None else tuple(dict.fromkeys(body.areas)),
        registered_by_org=principal.organisation_id, obtained=body.obtained,
        registered_by=principal.subject[:REGISTERED_BY_MAX],
    )
    policy, units = hub.settings.consent_policy, _units(hub)

    async def register(request: consent_registry.ConsentRequest, *, publish: publishing.Publish,
                       now: dt.datetime) -> Event:
        return await consent_registry.register(request, OneChild(loaded.child.status), publish, now, policy=policy,
                                               units=units)

    now = hub.now()
    event = await _run(hub, register, request, now=now)
    assert isinstance(event, ConsentGranted)
    await hub.run(pending.remember, hub.engine, hub.codec, event, now)
    return _accepted(event, event.consent_id)


async def withdraw_consent(hub: Hub, principal: Principal, child_id: uuid.UUID, consent_id: uuid.UUID,
                           body: models.WithdrawConsent) -> models.Accepted:
    """Withdraw a consent, pending ones included (rule 9). Anyone who was a required grantor when
    it was given, or is required now, may (rule 8); anyone else gets 422. A consent that has
    already lapsed or expired is withdrawn for the record all the same, and the answer says the
    withdrawal was moot and why; one already withdrawn is not withdrawn again (202, moot, no event)."""
    loaded = await reads.guard(hub, principal, child_id, Need.WRITE)
    shown = loaded.shown_consent(consent_id)
    if shown is None:
        raise errors.NotFound()
    consent, now = shown.consent, hub.now()
    by = Grantor(body.party_id, body.role)
    age = hub.settings.consent_policy.child_grants_from
    if not consent_registry.may_withdraw(loaded.child.status, by, consent.grantors, now, age):
        raise errors.Rejected([consent_registry.NOT_A_GRANTOR])
    why = consent_registry.ended(consent, now, age)
    if why is not None and consent.withdrawn_at is not None:
        return _moot(None, consent_id, why)  # withdrawn already: not published twice

    async def withdraw(*, publish: publishing.Publish, now: dt.datetime) -> Event:
        return await consent_registry.withdraw(child_id, consent_id, by, OneChild(loaded.child.status), publish,
                                               principal.organisation_id, now, consent.grantors, age)

    event = await _run(hub, withdraw, now=now)
    if shown.pending:
        await hub.run(pending.note_withdrawal, hub.engine, consent_id, now)
    return _accepted(event, consent_id) if why is None else _moot(event, consent_id, why)


# -- emergency access ------------------------------------------------------------------------------------

async def _emergency(hub: Hub, principal: Principal, child_id: uuid.UUID | None,
                     body: models.OpenEmergencyAccess) -> models.Accepted:
    """Open emergency access to ``child_id`` -- or, when there is no such child, log the
    attempt -- and answer the same either way (issue 17, finding 6): whether a child exists is
    learnt only by the reading that the access opens, after a reason has been logged."""
    now = hub.now()
    if child_id is None:
        event: Event = publishing.viewed(principal, reads.NOBODY, publishing.EMERGENCY, (reads.NO_MATCH,), now)
    else:
        event = publishing.emergency_opened(principal, child_id, body.reason_code, now + dt.timedelta(days=body.days),
                                            now)
    await reads.emit(hub, [event])
    return models.Accepted(event_id=None, event_type=None, message=sv.EMERGENCY_RECEIVED)


def _checked(principal: Principal, body: models.OpenEmergencyAccess) -> None:
    reads.require_role(principal, Need.EMERGENCY)
    problems = access.emergency_problems(body.reason_code, dt.timedelta(days=body.days))
    if problems:
        raise errors.Rejected(problems)


async def open_emergency_access(hub: Hub, principal: Principal, child_id: uuid.UUID,
                                body: models.OpenEmergencyAccess) -> models.Accepted:
    """Nödöppning by the child's id: a reason, at most seven days, logged on ``access`` and
    listed for auditors. An unknown id gets the same answer as a child's."""
    _checked(principal, body)
    row = await hub.run(_child_row, hub, child_id)
    return await _emergency(hub, principal, None if row is None else child_id, body)


async def open_emergency_access_for(hub: Hub, principal: Principal,
                                    body: models.OpenEmergencyAccessFor) -> models.Accepted:
    """Nödöppning by personnummer, as a coordinator has it in an emergency: the same answer
    whether or not the number is a child's (a malformed one is refused, and logged)."""
    _checked(principal, body)
    now = hub.now()
    try:
        pnr = reads.typed_personnummer(body.personnummer, now)
    except errors.Rejected:
        await reads.record_reads(hub, principal, [reads.NOBODY], publishing.EMERGENCY, (reads.MALFORMED,))
        raise
    return await _emergency(hub, principal, await hub.run(hub.registry.find, pnr), body)


def _child_row(hub: Hub, child_id: uuid.UUID) -> ChildRow | None:
    with hub.reader.reading() as r:
        return r.child(child_id)
