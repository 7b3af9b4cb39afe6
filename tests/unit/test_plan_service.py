"""The plan commands: each builds an event the plan fold accepts and the sealing codec round-trips,
with its free text only in the sealed part; every refusal names its reason and publishes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from projections import plan
from projections.plan import ChildPlan, rejection
from schemas.codec import Codec
from schemas.events import Area, Basis, Category, Event, NamedPersonTransferred
from schemas.sealing import ChildErased, Personal, Sealer
from services.commands import plan as ps
from services.commands.plan import PlanRejected
from tests.support.keys import MemoryKeyStore

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
TODAY = NOW.date()
CHILD = uuid.UUID(int=1, version=4)
BHV, SOC, SCHOOL = "SE2321000065-BHV0780", "kommun-0780-soc", "skolenhet-07802001"
COMMENT = "Sover dåligt, trivs på förskolan"


Keys = MemoryKeyStore


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def published() -> Recorder:
    return Recorder()


@pytest.fixture
def codec() -> Codec:
    return Codec(sealer=Sealer(Keys()))


async def _whole_plan(publish: Recorder) -> list[Event]:
    """One plan's life, a command a second: the plan fold orders by event time, and commands
    at one instant would be ordered by their random event ids."""
    clock = iter(NOW + dt.timedelta(seconds=s) for s in range(100))

    def kw() -> dict[str, Any]:
        return {"publish": publish, "now": next(clock)}

    opened = await ps.open_plan(CHILD, BHV, [uuid.uuid4()], **kw())
    pid = opened.plan_id
    await ps.record_meeting(CHILD, pid, BHV, TODAY - dt.timedelta(days=2), [BHV, SOC, SCHOOL], SCHOOL,
                            "Skolan leder planen", "Vårdnadshavare deltog", **kw())
    await ps.assign_lead(CHILD, pid, BHV, SOC, **kw())
    await ps.assess_area(CHILD, pid, BHV, Area.HEALTH, 2, COMMENT, "Jag är trött", "Vi oroar oss", **kw())
    await ps.assess_area(CHILD, pid, SCHOOL, "learning", 4, "Läser bra", **kw())
    action = await ps.agree_action(CHILD, pid, BHV, Area.HEALTH, "Sömnen", "Sömnskola via BVC", BHV,
                                   TODAY + dt.timedelta(days=30), **kw())
    await ps.complete_action(CHILD, pid, BHV, action.action_id, TODAY, **kw())
    await ps.schedule_follow_up(CHILD, pid, BHV, TODAY + dt.timedelta(days=60), Area.HEALTH, "Ny bedömning", **kw())
    await ps.schedule_follow_up(CHILD, pid, SOC, TODAY + dt.timedelta(days=90), **kw())
    await ps.transfer_named_person(CHILD, SOC, SCHOOL, BHV, "CHILD_FEELS_SECURE", **kw())
    await ps.close_plan(CHILD, pid, SOC, "GOALS_MET", **kw())
    return publish.events


async def test_every_command_builds_an_event_the_plan_fold_accepts(published: Recorder) -> None:
    events = [e for e in await _whole_plan(published) if not isinstance(e, NamedPersonTransferred)]
    state = ChildPlan()  # NamedPersonTransferred is the named-person fold's, not the plan's
    for event in events:
        assert rejection(state, event) is None, type(event).__name__
        state, before = plan.apply(state, event), state
    open_state = before  # everything but the close
    assert state.status == plan.CLOSED and state.closed_reason == "GOALS_MET"
    assert open_state.lead == SOC  # the assignment after the meeting wins
    health = open_state.area(Area.HEALTH)
    assert health.assessment is not None and health.assessment.rating == 2
    assert (health.assessment.comment, health.assessment.child_view) == (COMMENT, "Jag är trött")
    assert [(a.status, a.what) for a in health.actions] == [(plan.COMPLETED, "Sömnskola via BVC")]
    assert [f.what for f in health.follow_ups] == ["Ny bedömning"]
    learning = open_state.assessments[Area.LEARNING]
    assert learning.child_view is None and learning.guardians_view is None  # not given: left out
    assert len(open_state.follow_ups) == 2 and set(open_state.participants) == {BHV, SOC, SCHOOL}


async def test_envelopes_are_plan_events_from_the_acting_organisation(published: Recorder) -> None:
    events = await _whole_plan(published)
    assert len({e.event_id for e in events}) == len(events)
    for event in events:
        env = event.envelope
        assert (env.basis, env.category, env.source.system) == (Basis.CONSENT, Category.PLAN, ps.SOURCE_SYSTEM)
        assert env.child_id == CHILD and env.occurred_at == env.recorded_at >= NOW and env.type == type(event).__name__
    by_type = {type(e).__name__: e for e in events}
    assert by_type["AreaAssessed"].envelope.area is Area.LEARNING
    assert by_type["ActionAgreed"].envelope.area is Area.HEALTH
    assert by_type["MeetingHeld"].envelope.area is None
    assert by_type["PlanClosed"].envelope.source.organisation_id == SOC


async def test_free_text_travels_only_sealed(published: Recorder, codec: Codec) -> None:
    events = await _whole_plan(published)
    by_type = {type(e).__name__: e for e in events}
    assert by_type["MeetingHeld"].envelope.sealed == Personal(
        {plan.MEETING_DECISIONS: "Skolan leder planen", plan.MEETING_NOTES: "Vårdnadshavare deltog"})
    assert by_type["ActionAgreed"].envelope.sealed == Personal(
        {plan.ACTION_NEED: "Sömnen", plan.ACTION_WHAT: "Sömnskola via BVC"})
    for event in events:
        data = codec.encode(event)
        assert codec.decode(data) == event
        sealed = event.envelope.sealed
        for text in (sealed.fields.values() if isinstance(sealed, Personal) else ()):
            assert text.encode() not in data
        assert plan.SEALED_TEXT.get(type(event), ()) or sealed is None


async def test_text_is_not_sealed_for_an_erased_child(published: Recorder) -> None:
    keys = Keys()
    keys.erase(CHILD)
    event = await ps.assess_area(CHILD, uuid.uuid4(), BHV, Area.HOME, 3, COMMENT, publish=published, now=NOW)
    with pytest.raises(ChildErased):
        Codec(sealer=Sealer(keys)).encode(event)


def _call(name: str, **overrides: Any) -> Callable[[Recorder], Awaitable[Event]]:
    """A command with valid arguments, some overridden."""
    pid = uuid.uuid4()
    valid: dict[str, dict[str, Any]] = {
        "open_plan": {"child_id": CHILD, "by_org": BHV, "consent_ids": [uuid.uuid4()]},
        "record_meeting": {"child_id": CHILD, "plan_id": pid, "by_org": BHV, "held_on": TODAY, "participant_orgs": [BHV, SOC],
                               "lead_org": BHV, "decisions": "Beslut", "notes": None},
        "assign_lead": {"child_id": CHILD, "plan_id": pid, "by_org": BHV, "lead_org": SOC},
        "assess_area": {"child_id": CHILD, "plan_id": pid, "by_org": BHV, "area": Area.CARE, "rating": 3, "comment": "Bra"},
        "agree_action": {"child_id": CHILD, "plan_id": pid, "by_org": BHV, "area": Area.CARE, "need": "Stöd", "what": "Samtal",
                             "responsible_org": SOC, "due_on": TODAY},
        "complete_action": {"child_id": CHILD, "plan_id": pid, "by_org": BHV, "action_id": uuid.uuid4(), "completed_on": TODAY},
        "schedule_follow_up": {"child_id": CHILD, "plan_id": pid, "by_org": BHV, "due_on": TODAY, "area": None, "what": None},
        "transfer_named_person": {"child_id": CHILD, "by_org": SOC, "to_org": SCHOOL, "from_org": None, "reason_code": "MOVED"},
        "close_plan": {"child_id": CHILD, "plan_id": pid, "by_org": BHV, "reason_code": "DONE"},
    }

    def call(publish: Recorder) -> Awaitable[Event]:
        return getattr(ps, name)(**(valid[name] | overrides), publish=publish, now=NOW)

    return call


LONG = "x" * (ps.TEXT_MAX + 1)
REFUSALS = [
    ("open_plan", {"by_org": ""}, "by_org must name an organisation"),
    ("open_plan", {"by_org": "BHV Växjö"}, "is not an organisation id"),
    ("open_plan", {"consent_ids": []}, ps.NO_CONSENT),
    ("record_meeting", {"participant_orgs": [], "lead_org": None}, ps.NO_PARTICIPANTS),
    ("record_meeting", {"participant_orgs": [BHV, BHV]}, f"participant {BHV!r} is listed more than once"),
    ("record_meeting", {"lead_org": SCHOOL}, f"the lead {SCHOOL!r} is not among the meeting's participants"),
    ("record_meeting", {"held_on": TODAY + dt.timedelta(days=1)}, "lies in the future"),
    ("record_meeting", {"held_on": TODAY - dt.timedelta(days=400)}, "days back"),
    ("record_meeting", {"held_on": NOW}, "held_on must be a date"),
    ("record_meeting", {"decisions": "  "}, "decisions must not be empty"),
    ("record_meeting", {"notes": "x" * (ps.LONG_TEXT_MAX + 1)}, f"at most {ps.LONG_TEXT_MAX} are allowed"),
    ("assign_lead", {"lead_org": None}, "lead_org must name an organisation"),
    ("assess_area", {"rating": 0}, "rating 0 is outside 1-5"),
    ("assess_area", {"rating": 6}, "rating 6 is outside 1-5"),
    ("assess_area", {"rating": True}, "outside 1-5"),
    ("assess_area", {"area": "wellbeing"}, "area 'wellbeing' is not one of the wheel's seven areas"),
    ("assess_area", {"child_view": LONG}, "child_view is"),
    ("agree_action", {"what": ""}, "what must not be empty"),
    ("agree_action", {"responsible_org": " "}, "responsible_org must name an organisation"),
    ("agree_action", {"due_on": TODAY - dt.timedelta(days=1)}, "lies in the past"),
    ("agree_action", {"due_on": TODAY + dt.timedelta(days=ps.FUTURE_DAYS_MAX + 1)}, "days ahead"),
    ("complete_action", {"completed_on": TODAY + dt.timedelta(days=3)}, "completed_on"),
    ("schedule_follow_up", {"area": "school"}, "not one of the wheel's seven areas"),
    ("schedule_follow_up", {"due_on": TODAY - dt.timedelta(days=1)}, "due_on"),
    ("transfer_named_person", {"from_org": SCHOOL}, ps.SAME_ORG),
    ("transfer_named_person", {"reason_code": "because I said so"}, "reason_code 'because I said so'"),
    ("close_plan", {"reason_code": ""}, "must be 1-40 capital letters"),
]


@pytest.mark.parametrize(("command", "overrides", "reason"), REFUSALS,
                         ids=[f"{c}-{next(iter(o))}" for c, o, _ in REFUSALS])
async def test_invalid_input_is_refused_with_its_reason_and_nothing_published(
        command: str, overrides: dict[str, Any], reason: str, published: Recorder) -> None:
    with pytest.raises(PlanRejected) as info:
        await _call(command, **overrides)(published)
    assert len(info.value.reasons) == 1 and reason in info.value.reasons[0], info.value.reasons
    assert published.events == []


@pytest.mark.parametrize("command", sorted({c for c, _, _ in REFUSALS}))
async def test_the_valid_baseline_of_each_refusal_is_accepted(command: str, published: Recorder) -> None:
    event = await _call(command)(published)
    assert published.events == [event]


async def test_every_problem_is_reported_at_once(published: Recorder) -> None:
    with pytest.raises(PlanRejected) as info:
        await ps.assess_area(CHILD, uuid.uuid4(), "", "wheel", 9, comment=LONG, publish=published, now=NOW)
    assert len(info.value.reasons) == 4
    assert str(info.value) == "; ".join(info.value.reasons)
    assert isinstance(info.value, ValueError)


# -- a child who has died (issue 15) -----------------------------------------------------------------

DIED_ON = TODAY - dt.timedelta(days=3)
REFUSAL = f"the child died on {DIED_ON} (population register): the plan is closed and takes nothing new"


@pytest.mark.parametrize("command", [
    lambda **kw: ps.open_plan(CHILD, BHV, [uuid.uuid4()], **kw),
    lambda **kw: ps.record_meeting(CHILD, uuid.uuid4(), BHV, TODAY, [BHV], BHV, "Beslut", **kw),
    lambda **kw: ps.assign_lead(CHILD, uuid.uuid4(), BHV, SOC, **kw),
    lambda **kw: ps.assess_area(CHILD, uuid.uuid4(), BHV, Area.HEALTH, 3, **kw),
    lambda **kw: ps.agree_action(CHILD, uuid.uuid4(), BHV, Area.HEALTH, "Behov", "Insats", BHV, **kw),
    lambda **kw: ps.complete_action(CHILD, uuid.uuid4(), BHV, uuid.uuid4(), TODAY, **kw),
    lambda **kw: ps.schedule_follow_up(CHILD, uuid.uuid4(), BHV, TODAY + dt.timedelta(days=9), **kw),
    lambda **kw: ps.transfer_named_person(CHILD, BHV, SOC, BHV, "SAFE_PLACE", **kw),
    lambda **kw: ps.close_plan(CHILD, uuid.uuid4(), BHV, "GOALS_MET", **kw),
])
async def test_every_plan_command_refuses_a_child_who_has_died(command: Callable[..., Awaitable[Event]],
                                                               published: Recorder) -> None:
    with pytest.raises(PlanRejected) as caught:
        await command(publish=published, now=NOW, died_on=DIED_ON)
    assert caught.value.reasons[0] == REFUSAL
    assert published.events == []
    await command(publish=published, now=NOW)  # the same input for a living child is accepted
    assert len(published.events) == 1


async def test_a_dead_childs_refusal_comes_with_every_other_reason(published: Recorder) -> None:
    with pytest.raises(PlanRejected) as caught:
        await ps.assess_area(CHILD, uuid.uuid4(), BHV, Area.HEALTH, 9, publish=published, now=NOW, died_on=DIED_ON)
    assert caught.value.reasons == [REFUSAL, "rating 9 is outside 1-5"]
