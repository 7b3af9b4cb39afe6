"""The plan as a SIP, folded (issue 20): a kallelse and its answers, the meeting with the child's
voice, participants with responsibilities, the action lifecycle, follow-ups with evaluations,
revision and close -- and the wheel's history. Checked against small references written here:
"latest by event time" for every answer, status and role, whatever order the events arrive in."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.plan import (
    AGREED,
    CANCELLED,
    CLOSED,
    COMPLETED,
    ERASED_TEXT,
    NOT_INVITED,
    ONGOING,
    PLAN_CLOSED,
    UNKNOWN_ACTION,
    UNKNOWN_INVITATION,
    ChildPlan,
    apply,
    fold,
    rejection,
    without_text,
)
from schemas.events import (
    ActionAgreed,
    ActionEffect,
    ActionEvaluated,
    ActionStatus,
    ActionStatusChanged,
    Area,
    FollowUpHeld,
    FollowUpOutcome,
    InvitationAnswer,
    InvitationAnswered,
    MeetingHeld,
    MeetingInvited,
    ParticipantRecorded,
    ParticipantRole,
)
from schemas.sealing import Personal
from tests.unit.test_plan_fold import BVC, PLAN, SCHOOL, SOC, T0, H, assessed, closed, envelope, follow_up, opened, uid

DAY = dt.timedelta(days=1)
MEETING, ACTION, CLUB_ACTION, FOLLOW_UP = uid(500), uid(501), uid(502), uid(503)


def invited(at: dt.datetime, meeting_id: uuid.UUID = MEETING, orgs: tuple[str, ...] = (SCHOOL, SOC),
            child: bool = True, guardians: bool = True, **texts: str) -> MeetingInvited:
    return MeetingInvited(envelope=envelope(MeetingInvited, at, sealed=Personal(texts) if texts else None),
                          plan_id=PLAN, meeting_id=meeting_id, starts_at=at + 7 * DAY, invited_orgs=orgs,
                          child_invited=child, guardians_invited=guardians)


def answered(at: dt.datetime, org: str, answer: InvitationAnswer, meeting_id: uuid.UUID = MEETING,
             **texts: str) -> InvitationAnswered:
    return InvitationAnswered(envelope=envelope(InvitationAnswered, at, org, sealed=Personal(texts) if texts else None),
                              plan_id=PLAN, meeting_id=meeting_id, invitee_org=org, answer=answer)


def held(at: dt.datetime, orgs: tuple[str, ...], child: bool, guardians: bool, **texts: str) -> MeetingHeld:
    return MeetingHeld(envelope=envelope(MeetingHeld, at, sealed=Personal(texts)), plan_id=PLAN, meeting_id=MEETING,
                       held_on=at.date(), participant_orgs=orgs, lead_org=BVC, child_took_part=child,
                       guardians_took_part=guardians)


def role(at: dt.datetime, org: str, part: ParticipantRole, active: bool = True, **texts: str) -> ParticipantRecorded:
    return ParticipantRecorded(envelope=envelope(ParticipantRecorded, at, sealed=Personal(texts) if texts else None),
                               plan_id=PLAN, organisation_id=org, role=part, active=active)


def action(at: dt.datetime, action_id: uuid.UUID, org: str, by_others: bool = False, **texts: str) -> ActionAgreed:
    return ActionAgreed(envelope=envelope(ActionAgreed, at, area=Area.LEARNING, sealed=Personal(texts)), plan_id=PLAN,
                        action_id=action_id, responsible_org=org, start_on=at.date(), due_on=(at + 30 * DAY).date(),
                        by_others=by_others)


def status(at: dt.datetime, action_id: uuid.UUID, to: ActionStatus, **texts: str) -> ActionStatusChanged:
    return ActionStatusChanged(envelope=envelope(ActionStatusChanged, at, sealed=Personal(texts) if texts else None),
                               plan_id=PLAN, action_id=action_id, status=to, changed_on=at.date())


def review(at: dt.datetime, outcome: FollowUpOutcome, follow_up_id: uuid.UUID = FOLLOW_UP,
           **texts: str) -> FollowUpHeld:
    return FollowUpHeld(envelope=envelope(FollowUpHeld, at, sealed=Personal(texts) if texts else None), plan_id=PLAN,
                        follow_up_id=follow_up_id, held_on=at.date(), outcome=outcome)


def evaluated(at: dt.datetime, action_id: uuid.UUID, effect: ActionEffect, follow_up_id: uuid.UUID = FOLLOW_UP,
              **texts: str) -> ActionEvaluated:
    return ActionEvaluated(envelope=envelope(ActionEvaluated, at, sealed=Personal(texts)), plan_id=PLAN,
                           action_id=action_id, follow_up_id=follow_up_id, evaluated_on=at.date(), effect=effect)


# -- the whole lifecycle -------------------------------------------------------------------------------

def lifecycle() -> list:
    """invite -> answers -> meeting -> participants and actions -> follow-up with evaluation -> revision ->
    a second follow-up that closes the plan."""
    return [
        opened(T0),
        invited(T0 + H, place="Skolans konferensrum", questions="Hur går läsningen?"),
        answered(T0 + 2 * H, SCHOOL, InvitationAnswer.COMING),
        answered(T0 + 3 * H, SOC, InvitationAnswer.SENDS_SOMEONE, sends="Familjebehandlaren"),
        held(T0 + 7 * DAY, (BVC, SCHOOL, SOC), child=True, guardians=False, decisions="Läsning varje dag",
             child_voice="Jag vill läsa serier"),
        role(T0 + 7 * DAY + H, SCHOOL, ParticipantRole.RESPONSIBLE, responsibilities="Lästräning", contact="Rektorn"),
        role(T0 + 7 * DAY + H, SOC, ParticipantRole.SUPPORTING, responsibilities="Stöd till familjen"),
        action(T0 + 7 * DAY + 2 * H, ACTION, SCHOOL, what="Lästräning 20 min om dagen", responsible_person="Läraren"),
        action(T0 + 7 * DAY + 2 * H, CLUB_ACTION, SOC, by_others=True, what="Fotboll två gånger i veckan",
               performer="Idrottsföreningen"),
        assessed(T0 + 7 * DAY + 3 * H, Area.LEARNING, 2),
        status(T0 + 8 * DAY, ACTION, ActionStatus.ONGOING),
        follow_up(T0 + 8 * DAY, FOLLOW_UP, (T0 + 40 * DAY).date()),
        review(T0 + 40 * DAY, FollowUpOutcome.REVISED, summary="Läsningen går bättre"),
        evaluated(T0 + 40 * DAY, ACTION, ActionEffect.HELPED, evaluation="Läser mer", child_words="Roligare nu",
                  guardians_words="Hon läser hemma"),
        evaluated(T0 + 40 * DAY, CLUB_ACTION, ActionEffect.TOO_EARLY, evaluation="Har just börjat"),
        assessed(T0 + 40 * DAY + H, Area.LEARNING, 4),
        status(T0 + 40 * DAY + H, CLUB_ACTION, ActionStatus.CANCELLED, reason="Föreningen har lagt ner"),
        status(T0 + 70 * DAY, ACTION, ActionStatus.DONE),
        review(T0 + 80 * DAY, FollowUpOutcome.CLOSED, follow_up_id=uid(504), summary="Målen är nådda"),
        closed(T0 + 80 * DAY + H, reason="FOLLOW_UP"),
    ]


def test_the_whole_lifecycle_folds_into_a_plan_a_sip_can_be_read_from() -> None:
    plan = fold(lifecycle())
    invitation = plan.invitations[MEETING]
    assert (invitation.invited_orgs, invitation.child_invited, invitation.place) == (
        (SCHOOL, SOC), True, "Skolans konferensrum")
    assert {org: a.answer for (_, org), a in plan.answers.items()} == {
        SCHOOL: InvitationAnswer.COMING, SOC: InvitationAnswer.SENDS_SOMEONE}
    assert plan.answers[(MEETING, SOC)].sends == "Familjebehandlaren"
    meeting = plan.meetings[MEETING]
    assert (meeting.child_took_part, meeting.guardians_took_part, meeting.child_voice) == (
        True, False, "Jag vill läsa serier")
    assert {o: (p.role, p.responsibilities) for o, p in plan.roles.items()} == {
        SCHOOL: (ParticipantRole.RESPONSIBLE, "Lästräning"), SOC: (ParticipantRole.SUPPORTING, "Stöd till familjen")}
    done, club = plan.actions[ACTION], plan.actions[CLUB_ACTION]
    assert (done.status, done.completed_on, done.responsible_person) == (
        COMPLETED, (T0 + 70 * DAY).date(), "Läraren")
    assert (club.status, club.status_reason, club.by_others, club.performer) == (
        CANCELLED, "Föreningen har lagt ner", True, "Idrottsföreningen")
    assert plan.evaluations[(ACTION, FOLLOW_UP)].child_words == "Roligare nu"
    assert plan.evaluations[(CLUB_ACTION, FOLLOW_UP)].effect is ActionEffect.TOO_EARLY
    assert plan.revision == 2  # one follow-up revised it; the closing one does not count
    assert [r.rating for r in plan.history(Area.LEARNING)] == [2, 4]
    assert plan.assessments[Area.LEARNING].rating == 4
    assert plan.status == CLOSED


def test_a_replay_of_the_lifecycle_with_every_event_twice_gives_the_same_plan() -> None:
    events = lifecycle()
    once = fold(events)
    twice = fold([e for e in events for _ in range(2)])
    assert twice == once
    assert fold(events[:10]) == fold(events[:10], fold(events[:10]))  # a prefix folded again changes nothing


def test_time_travel_to_before_the_follow_up_shows_the_plan_as_it_was() -> None:
    events = lifecycle()
    before = fold(e for e in events if e.envelope.occurred_at < T0 + 40 * DAY)
    assert before.actions[ACTION].status == ONGOING and before.actions[CLUB_ACTION].status == AGREED
    assert before.evaluations == {} and before.reviews == {} and before.revision == 1
    assert [r.rating for r in before.history(Area.LEARNING)] == [2]


def test_invited_and_recorded_organisations_are_participants_until_they_leave() -> None:
    events = lifecycle()[:8]
    plan = fold(events)
    assert set(plan.participants) == {BVC, SCHOOL, SOC}
    other = "bup-1"
    plan = fold([opened(T0), role(T0 + H, other, ParticipantRole.CONSULTED)])
    assert other in plan.participants
    assert other not in apply(plan, role(T0 + 2 * H, other, ParticipantRole.CONSULTED, active=False)).participants


# -- rejections ---------------------------------------------------------------------------------------------

def test_an_answer_needs_a_kallelse_that_invites_the_organisation() -> None:
    plan = fold([opened(T0), invited(T0 + H, orgs=(SCHOOL,))])
    assert rejection(plan, answered(T0 + 2 * H, SCHOOL, InvitationAnswer.COMING, meeting_id=uid(600))) \
        == UNKNOWN_INVITATION
    assert rejection(plan, answered(T0 + 2 * H, SOC, InvitationAnswer.COMING)) == NOT_INVITED
    assert apply(plan, answered(T0 + 2 * H, SOC, InvitationAnswer.COMING)) is plan


def test_status_and_evaluation_need_an_agreed_action() -> None:
    plan = fold([opened(T0)])
    assert rejection(plan, status(T0 + H, uid(601), ActionStatus.ONGOING)) == UNKNOWN_ACTION
    assert rejection(plan, evaluated(T0 + H, uid(601), ActionEffect.HELPED, evaluation="x")) == UNKNOWN_ACTION


def test_a_closed_plan_takes_no_invitation_evaluation_or_role() -> None:
    plan = fold(lifecycle())
    for event in (invited(T0 + 90 * DAY, uid(602)), evaluated(T0 + 90 * DAY, ACTION, ActionEffect.PARTLY),
                  role(T0 + 90 * DAY, "bup-1", ParticipantRole.CONSULTED), status(T0 + 90 * DAY, ACTION,
                                                                                 ActionStatus.ONGOING)):
        assert rejection(plan, event) == PLAN_CLOSED


# -- latest by event time, whatever the arrival --------------------------------------------------------------

STATUSES = st.lists(st.tuples(st.integers(0, 50), st.sampled_from(list(ActionStatus))), min_size=1, max_size=8)
REFERENCE_STATUS = {ActionStatus.PLANNED: AGREED, ActionStatus.ONGOING: ONGOING, ActionStatus.DONE: COMPLETED,
                    ActionStatus.CANCELLED: CANCELLED}


@settings(max_examples=60, deadline=None)
@given(STATUSES, st.randoms(use_true_random=False))
def test_the_status_in_force_is_the_latest_by_event_time_in_any_arrival_order(changes, rnd) -> None:
    events = [status(T0 + (10 + hours) * H, ACTION, to) for hours, to in changes]
    expected = max(events, key=lambda e: (e.envelope.occurred_at, e.envelope.event_id))  # the reference
    rnd.shuffle(events)
    plan = fold([opened(T0), action(T0 + H, ACTION, SCHOOL, what="x"), *events])
    assert plan.actions[ACTION].status == REFERENCE_STATUS[expected.status]
    assert plan.actions[ACTION].status_on == expected.changed_on
    # A later correction of the agreement keeps the lifecycle.
    corrected = apply(plan, action(T0 + 100 * H, ACTION, SOC, what="y"))
    assert (corrected.actions[ACTION].status, corrected.actions[ACTION].responsible_org) == (
        plan.actions[ACTION].status, SOC)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([SCHOOL, SOC]), st.integers(0, 50), st.sampled_from(list(InvitationAnswer))),
                min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_each_invitees_answer_in_force_is_its_latest_in_any_arrival_order(answers, rnd) -> None:
    events = [answered(T0 + (2 + hours) * H, org, given) for org, hours, given in answers]
    reference: dict[str, InvitationAnswered] = {}
    for e in events:
        best = reference.get(e.invitee_org)
        if best is None or (e.envelope.occurred_at, e.envelope.event_id) > (best.envelope.occurred_at,
                                                                              best.envelope.event_id):
            reference[e.invitee_org] = e
    rnd.shuffle(events)
    plan = fold([opened(T0), invited(T0 + H), *events])
    assert {org: a.answer for (_, org), a in plan.answers.items()} == {o: e.answer for o, e in reference.items()}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 5)), min_size=1, max_size=10),
       st.randoms(use_true_random=False))
def test_the_wheels_history_holds_every_rating_once_in_time_order(ratings, rnd) -> None:
    events = [assessed(T0 + (1 + hours) * H, Area.HOME, value) for hours, value in ratings]
    reference = [e.rating for e in sorted(events, key=lambda e: (e.envelope.occurred_at, e.envelope.event_id))]
    arrivals = events + rnd.sample(events, k=len(events) // 2)  # with redeliveries
    rnd.shuffle(arrivals)
    plan = fold([opened(T0), *arrivals])
    assert [r.rating for r in plan.history(Area.HOME)] == reference
    assert plan.assessments[Area.HOME].rating == reference[-1]


# -- erasure ----------------------------------------------------------------------------------------------------

def test_crypto_shredding_lets_go_of_every_sip_text() -> None:
    plan = without_text(fold(lifecycle()))
    texts = [plan.invitations[MEETING].place, plan.answers[(MEETING, SOC)].sends, plan.meetings[MEETING].child_voice,
             plan.roles[SCHOOL].responsibilities, plan.actions[ACTION].responsible_person,
             plan.actions[CLUB_ACTION].performer, plan.actions[CLUB_ACTION].status_reason,
             plan.reviews[FOLLOW_UP].summary, plan.evaluations[(ACTION, FOLLOW_UP)].child_words]
    assert texts == [ERASED_TEXT] * len(texts)
    assert plan.answers[(MEETING, SCHOOL)].sends is None  # nothing to let go of stays nothing


def test_free_text_of_the_sip_stays_out_of_reprs() -> None:
    shown = repr(fold(lifecycle()))
    assert not any(word in shown for word in ("konferensrum", "Familjebehandlaren", "serier", "Läraren",
                                               "Idrottsföreningen", "Roligare", "lagt ner"))


def test_an_empty_plan_has_revision_one_and_no_history() -> None:
    assert ChildPlan().revision == 1 and ChildPlan().history(Area.CARE) == ()
