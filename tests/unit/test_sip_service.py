"""The SIP commands (issue 20): each refusal names its reason and publishes nothing; accepted
commands build events the plan fold applies, their free text sealed. The expectations are
written here from the issue's rules, not taken from the product's messages."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from projections import plan
from projections.plan import ChildPlan, rejection
from schemas.events import (
    ActionEffect,
    ActionEvaluated,
    ActionStatus,
    Area,
    Event,
    FollowUpHeld,
    FollowUpOutcome,
    InvitationAnswer,
    ParticipantRole,
    PlanClosed,
)
from schemas.sealing import Personal
from services.commands import plan as ps
from services.commands import sip
from services.commands.plan import PlanRejected

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
TODAY = NOW.date()
CHILD = uuid.UUID(int=1, version=4)
PLAN = uuid.UUID(int=2, version=4)
MEETING = uuid.UUID(int=3, version=4)
ACTION = uuid.UUID(int=4, version=4)
BHV, SOC, SCHOOL = "SE2321000065-BHV0780", "kommun-0780-soc", "skolenhet-07802001"
UNITS = {BHV: "BHV", SOC: "SOCIAL", SCHOOL: "SCHOOL"}


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def published() -> Recorder:
    return Recorder()


VALID: dict[str, dict[str, Any]] = {
    "agree_action": {"child_id": CHILD, "plan_id": PLAN, "by_org": BHV, "area": Area.CARE, "need": "Stöd",
                     "what": "Samtal", "responsible_org": SOC, "due_on": TODAY + dt.timedelta(days=30),
                     "start_on": TODAY, "units": UNITS},
    "invite_meeting": {"child_id": CHILD, "plan_id": PLAN, "by_org": BHV, "starts_at": NOW + dt.timedelta(days=7),
                       "invited_orgs": [SOC, SCHOOL], "place": "Rum 3", "questions": "Hur går det i skolan?",
                       "child_invited": True, "guardians_invited": True, "units": UNITS},
    "answer_invitation": {"child_id": CHILD, "plan_id": PLAN, "by_org": SOC, "meeting_id": MEETING,
                          "invited_orgs": (SOC, SCHOOL), "answer": InvitationAnswer.COMING},
    "record_participant": {"child_id": CHILD, "plan_id": PLAN, "by_org": BHV, "organisation_id": SCHOOL,
                           "role": ParticipantRole.RESPONSIBLE, "responsibilities": "Anpassningar i klassen",
                           "units": UNITS},
    "change_action_status": {"child_id": CHILD, "plan_id": PLAN, "by_org": BHV, "action_id": ACTION,
                             "current": "agreed", "status": ActionStatus.ONGOING, "changed_on": TODAY},
    "hold_follow_up": {"child_id": CHILD, "plan_id": PLAN, "by_org": BHV, "follow_up_id": None, "held_on": TODAY,
                       "outcome": FollowUpOutcome.CONTINUED, "summary": "Bättre sömn",
                       "evaluations": [sip.EvaluationIn(ACTION, ActionEffect.HELPED, "Sover bättre")],
                       "plan_actions": {ACTION}},
}
MODULE = {"agree_action": ps}


def _call(name: str, **overrides: Any) -> Callable[[Recorder], Awaitable[Event]]:
    def call(publish: Recorder) -> Awaitable[Event]:
        return getattr(MODULE.get(name, sip), name)(**(VALID[name] | overrides), publish=publish, now=NOW)
    return call


UNKNOWN = uuid.UUID(int=99, version=4)
# (command, the input changed, the words the one reason must contain)
REFUSALS = [
    ("agree_action", {"responsible_org": None}, ["responsible_org", "organisation"]),
    ("agree_action", {"responsible_org": "nonexistent-org-42"}, ["responsible_org", "nonexistent-org-42"]),
    ("agree_action", {"start_on": TODAY + dt.timedelta(days=40)}, ["due date", "before its start"]),
    ("agree_action", {"by_others": True}, ["performer"]),
    ("invite_meeting", {"child_invited": False}, ["not_invited_why"]),
    ("invite_meeting", {"guardians_invited": False}, ["not_invited_why"]),
    ("invite_meeting", {"invited_orgs": []}, ["at least one organisation"]),
    ("invite_meeting", {"invited_orgs": [SOC, SOC]}, [SOC, "more than once"]),
    ("invite_meeting", {"starts_at": NOW - dt.timedelta(days=2)}, ["starts_at", "in the past"]),
    ("invite_meeting", {"starts_at": NOW + dt.timedelta(days=400)}, ["starts_at", "days ahead"]),
    ("invite_meeting", {"starts_at": dt.datetime(2026, 6, 8, 9)}, ["starts_at", "offset"]),
    ("invite_meeting", {"questions": " "}, ["questions", "empty"]),
    ("answer_invitation", {"answer": InvitationAnswer.SENDS_SOMEONE}, ["sends"]),
    ("answer_invitation", {"by_org": BHV}, [BHV, "not sent"]),
    ("record_participant", {"responsibilities": None}, ["RESPONSIBLE", "responsibilities"]),
    ("record_participant", {"organisation_id": "region"}, ["organisation_id", "region"]),
    ("change_action_status", {"status": ActionStatus.CANCELLED}, ["cancelled with a reason"]),
    ("change_action_status", {"current": "completed"}, [str(ACTION), "DONE", "no further status"]),
    ("change_action_status", {"current": "cancelled", "status": ActionStatus.DONE}, ["CANCELLED", "no further"]),
    ("change_action_status", {"current": "ongoing"}, ["already ONGOING"]),
    ("change_action_status", {"current": "ongoing", "status": ActionStatus.PLANNED}, ["ONGOING", "back to PLANNED"]),
    ("change_action_status", {"changed_on": TODAY + dt.timedelta(days=1)}, ["changed_on", "future"]),
    ("hold_follow_up", {"evaluations": [sip.EvaluationIn(UNKNOWN, ActionEffect.HELPED, "Bra")]},
     [str(UNKNOWN), "not an action of this plan"]),
    ("hold_follow_up", {"evaluations": [sip.EvaluationIn(ACTION, ActionEffect.HELPED, "Bra")] * 2},
     [str(ACTION), "more than once"]),
    ("hold_follow_up", {"held_on": TODAY + dt.timedelta(days=1)}, ["held_on", "future"]),
    ("hold_follow_up", {"held_on": TODAY - dt.timedelta(days=400)}, ["held_on", "days back"]),
    ("hold_follow_up", {"summary": ""}, ["summary", "empty"]),
]


@pytest.mark.parametrize(("command", "overrides", "words"), REFUSALS,
                         ids=[f"{c}-{'-'.join(o)}" for c, o, _ in REFUSALS])
async def test_each_refusal_gives_its_reason_and_publishes_nothing(command: str, overrides: dict[str, Any],
                                                                   words: list[str], published: Recorder) -> None:
    with pytest.raises(PlanRejected) as caught:
        await _call(command, **overrides)(published)
    [reason] = caught.value.reasons
    assert all(w in reason for w in words), reason
    assert published.events == []


@pytest.mark.parametrize("command", sorted(VALID))
async def test_the_valid_baseline_of_each_refusal_is_accepted(command: str, published: Recorder) -> None:
    await _call(command)(published)
    assert published.events


async def test_cancel_without_reason_and_an_unknown_action_come_with_every_other_reason(published: Recorder) -> None:
    with pytest.raises(PlanRejected) as caught:
        await sip.hold_follow_up(CHILD, PLAN, BHV, None, TODAY + dt.timedelta(days=2), "MAYBE", "",
                                 [sip.EvaluationIn(UNKNOWN, "GREAT", "")], {ACTION}, publish=published, now=NOW)
    assert len(caught.value.reasons) == 6, caught.value.reasons  # date, outcome, summary, action, effect, text
    assert published.events == []


# The lifecycle as the issue states it: planned -> ongoing -> done; planned/ongoing -> cancelled;
# done and cancelled are final; the same status again is refused. (Planned -> done directly is
# allowed, as completing an action always was.)
ROW = {ActionStatus.PLANNED: "agreed", ActionStatus.ONGOING: "ongoing", ActionStatus.DONE: "completed",
       ActionStatus.CANCELLED: "cancelled"}
ALLOWED = {(ActionStatus.PLANNED, ActionStatus.ONGOING), (ActionStatus.PLANNED, ActionStatus.DONE),
           (ActionStatus.PLANNED, ActionStatus.CANCELLED), (ActionStatus.ONGOING, ActionStatus.DONE),
           (ActionStatus.ONGOING, ActionStatus.CANCELLED)}


@pytest.mark.parametrize("current", list(ActionStatus))
@pytest.mark.parametrize("wanted", list(ActionStatus))
async def test_the_lifecycle_takes_exactly_the_allowed_steps(current: ActionStatus, wanted: ActionStatus,
                                                             published: Recorder) -> None:
    call = _call("change_action_status", current=ROW[current], status=wanted, reason="Familjen flyttade")
    if (current, wanted) in ALLOWED:
        event = await call(published)
        assert published.events == [event] and event.status is wanted  # type: ignore[attr-defined]
    else:
        with pytest.raises(PlanRejected):
            await call(published)
        assert published.events == []


async def test_a_sip_plans_life_folds_with_its_text_sealed(published: Recorder) -> None:
    clock = iter(NOW + dt.timedelta(seconds=s) for s in range(100))

    def kw() -> dict[str, Any]:
        return {"publish": published, "now": next(clock)}

    opened = await ps.open_plan(CHILD, BHV, [uuid.uuid4()], **kw())
    pid = opened.plan_id
    called = await sip.invite_meeting(CHILD, pid, BHV, NOW + dt.timedelta(days=3), [BHV, SCHOOL], "Rum 3",
                                      "Skolgången", False, True, "Mentor", "Barnet är fyra år", **kw())
    await sip.answer_invitation(CHILD, pid, SCHOOL, called.meeting_id, called.invited_orgs,
                                InvitationAnswer.SENDS_SOMEONE, "Specialpedagogen", **kw())
    held = await ps.record_meeting(CHILD, pid, BHV, TODAY, [BHV, SCHOOL], None, "Beslut", meeting_id=called.meeting_id,
                                   child_took_part=False, guardians_took_part=True, child_voice="Vill leka",
                                   others_present="Mormor", **kw())
    await sip.record_participant(CHILD, pid, BHV, SCHOOL, ParticipantRole.CONSULTED, None, "0470-1", **kw())
    action = await ps.agree_action(CHILD, pid, BHV, Area.LEARNING, "Stöd", "Läxhjälp", SCHOOL,
                                   TODAY + dt.timedelta(days=9), start_on=TODAY, by_others=True,
                                   performer="Fotbollsklubben", responsible_person="Mentor Eva", **kw())
    await sip.change_action_status(CHILD, pid, BHV, action.action_id, "agreed", ActionStatus.ONGOING, TODAY, **kw())
    await sip.hold_follow_up(CHILD, pid, BHV, None, TODAY, FollowUpOutcome.CLOSED, "Klart",
                             [sip.EvaluationIn(action.action_id, ActionEffect.HELPED, "Bra", "Kul", None)],
                             {action.action_id}, **kw())
    state = ChildPlan()
    for event in published.events:
        assert rejection(state, event) is None, type(event).__name__
        state = plan.apply(state, event)
    assert held.meeting_id == called.meeting_id and state.meetings[called.meeting_id].child_voice == "Vill leka"
    assert state.answers[(called.meeting_id, SCHOOL)].sends == "Specialpedagogen"
    assert state.invitations[called.meeting_id].not_invited_why == "Barnet är fyra år"
    assert state.roles[SCHOOL].role is ParticipantRole.CONSULTED and state.roles[SCHOOL].responsibilities is None
    agreed = state.actions[action.action_id]
    assert (agreed.status, agreed.performer, agreed.by_others) == (plan.ONGOING, "Fotbollsklubben", True)
    [evaluation] = state.evaluations.values()
    assert (evaluation.effect, evaluation.child_words, evaluation.guardians_words) == (ActionEffect.HELPED, "Kul", None)
    assert state.status == plan.CLOSED and state.closed_reason == "FOLLOW_UP"
    kinds = [type(e) for e in published.events[-3:]]
    assert kinds == [FollowUpHeld, ActionEvaluated, PlanClosed]
    for event in published.events:
        sealed = event.envelope.sealed
        assert sealed is None or isinstance(sealed, Personal)
        texts = set(sealed.fields.values()) if isinstance(sealed, Personal) else set()
        plain = {str(getattr(event, f)) for f in event.__dataclass_fields__ if f != "envelope"}
        assert not texts & plain  # no free text outside the sealed part
        if isinstance(sealed, Personal):
            assert set(sealed.fields) <= set(plan.SEALED_TEXT[type(event)])


async def test_a_dead_child_gets_no_sip_entry(published: Recorder) -> None:
    died = TODAY - dt.timedelta(days=3)
    with pytest.raises(PlanRejected) as caught:
        await sip.record_participant(CHILD, PLAN, BHV, SCHOOL, ParticipantRole.CONSULTED, None, publish=published,
                                     now=NOW, died_on=died)
    assert caught.value.reasons == [f"the child died on {died} (population register): the plan is closed and "
                                    "takes nothing new"]
    assert published.events == []
