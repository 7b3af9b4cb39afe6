"""The plan fold: a plan's life from opening to close, the wheel by event time, released facts
with their provenance and purge, sealed text in its three states, visibility -- and properties:
any interleaving of the plan and shared streams, and any repeat of an applied event, fold to the
same plan."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas.shanarri
from connectors.classification import CATEGORY
from projections.consents import Consent
from projections.plan import (
    AGREED,
    AREAS,
    BAD_RATING,
    CLOSED,
    COMPLETED,
    ERASED_TEXT,
    NO_AREA,
    NO_PLAN,
    OPEN,
    OTHER_CHILD,
    OTHER_PLAN,
    PLAN_ALREADY_OPEN,
    PLAN_CLOSED,
    PLAN_SUPERSEDED,
    SEALED_TEXT,
    SHANARRI,
    SUPERSEDED,
    UNCOVERED_RELEASE,
    UNKNOWN_ACTION,
    ChildPlan,
    apply,
    fold,
    rejection,
    text_of,
    visible_facts,
)
from schemas.events import (
    ActionAgreed,
    ActionCompleted,
    Area,
    AreaAssessed,
    Basis,
    Category,
    ConsentGranted,
    Envelope,
    Event,
    FactReleased,
    FollowUpScheduled,
    Grantor,
    GrantorRole,
    LeadAssigned,
    MeetingHeld,
    PlanClosed,
    PlanOpened,
    ReleaseRevoked,
    Source,
)
from schemas.sealing import ERASED, Personal, SealedBox

T0 = dt.datetime(2026, 5, 4, 9, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
DAY = dt.date(2026, 5, 4)
CHILD = uuid.UUID(int=1, version=4)
PLAN, PLAN2 = uuid.UUID(int=10, version=4), uuid.UUID(int=11, version=4)
CONSENT_1, CONSENT_2 = uuid.UUID(int=20, version=4), uuid.UUID(int=21, version=4)
BVC, SCHOOL, SOC = "bvc-1", "skolenhet-1", "kommun-soc"
FACT_BYTES = b"\xc3\x01" + bytes(8) + b"body"

CATEGORY_OF_TYPE = {cls.__name__: category for cls, category in CATEGORY.items()}  # as connectors classify

_ids = iter(range(1_000_000, 2_000_000))


def uid(n: int | None = None) -> uuid.UUID:
    """A readable, unique id: ``uid(n)`` for one the test names, ``uid()`` for a fresh one."""
    return uuid.UUID(int=next(_ids) if n is None else n, version=4)


def envelope(kind: type[Event], at: dt.datetime, org: str = BVC, *, event_id: uuid.UUID | None = None,
             area: Area | None = None, sealed: object = None, basis: Basis = Basis.CONSENT,
             category: Category = Category.PLAN, child: uuid.UUID = CHILD) -> Envelope:
    eid = event_id or uid()
    return Envelope(event_id=eid, type=kind.__name__, child_id=child, occurred_at=at, recorded_at=at,
                    source=Source("api", org, str(eid), "1"), basis=basis, category=category, area=area,
                    sealed=sealed)  # type: ignore[arg-type]


def opened(at: dt.datetime = T0, plan: uuid.UUID = PLAN, org: str = BVC, consents: tuple = (CONSENT_1,),
           **env: object) -> PlanOpened:
    return PlanOpened(envelope=envelope(PlanOpened, at, org, **env), plan_id=plan, opened_by_org=org,
                      consent_ids=consents)


def meeting(at: dt.datetime, meeting_id: uuid.UUID, participants: tuple[str, ...], lead: str | None = None,
            plan: uuid.UUID = PLAN, sealed: object = None, **env: object) -> MeetingHeld:
    return MeetingHeld(envelope=envelope(MeetingHeld, at, sealed=sealed, **env), plan_id=plan,
                       meeting_id=meeting_id, held_on=at.date(), participant_orgs=participants, lead_org=lead)


def lead(at: dt.datetime, org: str, plan: uuid.UUID = PLAN, **env: object) -> LeadAssigned:
    return LeadAssigned(envelope=envelope(LeadAssigned, at, **env), plan_id=plan, lead_org=org)


def assessed(at: dt.datetime, area: Area | None, rating: int, org: str = SCHOOL, plan: uuid.UUID = PLAN,
             sealed: object = None, **env: object) -> AreaAssessed:
    return AreaAssessed(envelope=envelope(AreaAssessed, at, org, area=area, sealed=sealed, **env), plan_id=plan,
                        rating=rating, assessed_by_org=org)


def agreed(at: dt.datetime, action_id: uuid.UUID, area: Area | None = Area.LEARNING, org: str = SCHOOL,
           due: dt.date | None = None, plan: uuid.UUID = PLAN, sealed: object = None, **env: object) -> ActionAgreed:
    return ActionAgreed(envelope=envelope(ActionAgreed, at, area=area, sealed=sealed, **env), plan_id=plan,
                        action_id=action_id, responsible_org=org, due_on=due)


def completed(at: dt.datetime, action_id: uuid.UUID, on: dt.date = DAY, plan: uuid.UUID = PLAN,
              **env: object) -> ActionCompleted:
    return ActionCompleted(envelope=envelope(ActionCompleted, at, **env), plan_id=plan, action_id=action_id,
                           completed_on=on)


def follow_up(at: dt.datetime, follow_up_id: uuid.UUID, due: dt.date, area: Area | None = None,
              plan: uuid.UUID = PLAN, sealed: object = None, **env: object) -> FollowUpScheduled:
    return FollowUpScheduled(envelope=envelope(FollowUpScheduled, at, area=area, sealed=sealed, **env),
                             plan_id=plan, follow_up_id=follow_up_id, due_on=due)


def closed(at: dt.datetime, plan: uuid.UUID = PLAN, reason: str = "GOALS_MET", **env: object) -> PlanClosed:
    return PlanClosed(envelope=envelope(PlanClosed, at, **env), plan_id=plan, reason_code=reason)


def released(at: dt.datetime, fact_id: uuid.UUID, consents: tuple[uuid.UUID, ...] = (CONSENT_1,),
             org: str = BVC, area: Area | None = Area.HEALTH, basis: Basis = Basis.CONSENT,
             fact_type: str = "HealthVisitRecorded", category: Category | None = None,
             **env: object) -> FactReleased:
    """As the gate emits it: the fact's org, area, basis and category in the envelope (the
    category the connector gave a fact of ``fact_type``, unless one is given)."""
    category = CATEGORY_OF_TYPE[fact_type] if category is None else category
    return FactReleased(envelope=envelope(FactReleased, at, org, area=area, basis=basis, category=category, **env),
                        fact_event_id=fact_id, fact_type=fact_type, consent_ids=consents, fact=FACT_BYTES)


def revoked(at: dt.datetime, fact_id: uuid.UUID, ended: tuple[uuid.UUID, ...] = (CONSENT_1,),
            **env: object) -> ReleaseRevoked:
    return ReleaseRevoked(envelope=envelope(ReleaseRevoked, at, **env), fact_event_id=fact_id,
                          ended_consent_ids=ended)


def consent(consent_id: uuid.UUID = CONSENT_1, start: dt.datetime = T0, end: dt.datetime = T0 + 48 * H) -> Consent:
    return Consent(consent_id, CHILD, frozenset({Category.HEALTH}), frozenset({SCHOOL}), start, end)


# -- a plan's life -------------------------------------------------------------------------------

MEETING, ACTION, ACTION2, FOLLOW_UP = uid(30), uid(31), uid(32), uid(33)


def a_plan_in_use() -> list[Event]:
    notes = Personal({"decisions": "Skolan leder planen.", "notes": "Barnet deltog."})
    return [
        opened(T0, org=BVC),
        meeting(T0 + H, MEETING, (BVC, SCHOOL, SOC), lead=SCHOOL, sealed=notes),
        *(assessed(T0 + 2 * H, area, rating=i % 5 + 1, sealed=Personal({"comment": f"om {area}"}))
          for i, area in enumerate(AREAS)),
        agreed(T0 + 3 * H, ACTION, Area.LEARNING, due=DAY + dt.timedelta(days=30),
               sealed=Personal({"need": "stöd i läsning", "what": "specialpedagog två gånger i veckan"})),
        agreed(T0 + 3 * H, ACTION2, Area.HEALTH, org=BVC, due=DAY + dt.timedelta(days=10)),
        completed(T0 + 4 * H, ACTION2, on=DAY + dt.timedelta(days=9)),
        follow_up(T0 + 4 * H, FOLLOW_UP, DAY + dt.timedelta(days=60), Area.LEARNING,
                  sealed=Personal({"what": "uppföljande möte"})),
    ]


def test_a_plan_from_opening_to_close() -> None:
    plan = fold(a_plan_in_use())
    assert (plan.plan_id, plan.status, plan.opened_by_org, plan.opened_at) == (PLAN, OPEN, BVC, T0)
    assert plan.consent_ids == (CONSENT_1,) and plan.child_id == CHILD
    assert plan.lead == SCHOOL and plan.participants == (BVC, SOC, SCHOOL)
    [m] = plan.meetings.values()
    assert (m.meeting_id, m.held_on, m.participant_orgs, m.lead_org) == (MEETING, T0.date(), (BVC, SCHOOL, SOC), SCHOOL)
    assert (m.decisions, m.notes) == ("Skolan leder planen.", "Barnet deltog.")

    assert set(plan.assessments) == set(AREAS)
    learning = plan.area(Area.LEARNING)
    assert learning.assessment is not None
    assert (learning.assessment.rating, learning.assessment.assessed_by_org) == (3, SCHOOL)
    assert learning.assessment.comment == "om learning" and learning.assessment.child_view is None
    [action] = learning.actions
    assert (action.action_id, action.status, action.responsible_org, action.need) == (
        ACTION, AGREED, SCHOOL, "stöd i läsning")
    assert action.what == "specialpedagog två gånger i veckan" and action.due_on == DAY + dt.timedelta(days=30)
    [done] = plan.area(Area.HEALTH).actions
    assert (done.status, done.completed_on) == (COMPLETED, DAY + dt.timedelta(days=9))
    [f] = learning.follow_ups
    assert (f.follow_up_id, f.due_on, f.what) == (FOLLOW_UP, DAY + dt.timedelta(days=60), "uppföljande möte")
    assert plan.area(Area.HOME).actions == () and plan.area(Area.HOME).follow_ups == ()

    plan = apply(plan, closed(T0 + 5 * H, reason="GOALS_MET"))
    assert (plan.status, plan.closed_at, plan.closed_reason) == (CLOSED, T0 + 5 * H, "GOALS_MET")
    assert rejection(plan, assessed(T0 + 6 * H, Area.CARE, 1)) == PLAN_CLOSED
    assert apply(plan, assessed(T0 + 6 * H, Area.CARE, 1)) is plan


def test_latest_assessment_wins_by_event_time_not_arrival() -> None:
    later = assessed(T0 + 2 * H, Area.SAFETY, 4, org=SOC)
    earlier = assessed(T0 + H, Area.SAFETY, 1, org=SCHOOL)
    start = opened()
    plan = fold([start, later, earlier])
    assert plan.assessments[Area.SAFETY].rating == 4
    assert plan == fold([start, earlier, later])
    # the same moment: the event id breaks the tie, whatever the order of arrival
    a = assessed(T0 + H, Area.CARE, 2, event_id=uid(50))
    b = assessed(T0 + H, Area.CARE, 5, event_id=uid(51))
    assert fold([start, a, b]) == fold([start, b, a])
    assert fold([start, b, a]).assessments[Area.CARE].rating == 5


def test_lead_is_the_latest_decision_by_event_time() -> None:
    plan = fold([opened(), meeting(T0 + 2 * H, MEETING, (BVC, SCHOOL), lead=SCHOOL), lead(T0 + H, SOC)])
    assert plan.lead == SCHOOL  # the assignment was older than the meeting's decision
    plan = apply(plan, lead(T0 + 3 * H, SOC))
    assert plan.lead == SOC and SOC in plan.participants


def test_action_corrected_by_a_later_agreement_keeps_its_completion() -> None:
    plan = fold([opened(), agreed(T0 + H, ACTION, due=DAY), completed(T0 + 2 * H, ACTION),
                 agreed(T0 + 3 * H, ACTION, org=SOC, due=DAY + dt.timedelta(days=1))])
    action = plan.actions[ACTION]
    assert (action.responsible_org, action.due_on, action.status) == (SOC, DAY + dt.timedelta(days=1), COMPLETED)


def test_a_corrected_completion_is_not_undone_by_a_late_repeat_of_the_first() -> None:
    first = completed(T0 + 2 * H, ACTION, on=DAY)
    plan = fold([opened(), agreed(T0 + H, ACTION), first, completed(T0 + 3 * H, ACTION, on=DAY + dt.timedelta(days=1))])
    assert apply(plan, first) is plan and plan.actions[ACTION].completed_on == DAY + dt.timedelta(days=1)


def test_events_before_any_opening_are_ignored_but_facts_are_kept() -> None:
    fact_id = uid()
    early = [assessed(T0, Area.CARE, 3), lead(T0, SCHOOL), released(T0, fact_id)]
    plan = fold(early)
    assert rejection(ChildPlan(), early[0]) == NO_PLAN
    assert plan.plan_id is None and plan.assessments == {} and plan.lead is None
    assert set(plan.facts) == {fact_id}


def test_reopening_the_same_plan_keeps_its_content() -> None:
    plan = fold([*a_plan_in_use(), closed(T0 + 5 * H),
                 opened(T0 + 6 * H, org=SCHOOL, consents=(CONSENT_2,))])
    assert (plan.status, plan.closed_at, plan.closed_reason) == (OPEN, None, None)
    assert plan.consent_ids == (CONSENT_2,) and plan.opened_by_org == BVC and plan.opened_at == T0
    assert set(plan.assessments) == set(AREAS) and plan.lead == SCHOOL


def test_a_new_plan_after_close_starts_fresh_and_keeps_the_facts() -> None:
    fact_id = uid()
    plan = fold([*a_plan_in_use(), released(T0, fact_id), closed(T0 + 5 * H), opened(T0 + 6 * H, PLAN2, SOC)])
    assert (plan.plan_id, plan.status, plan.opened_by_org) == (PLAN2, OPEN, SOC)
    assert plan.assessments == {} and plan.meetings == {} and plan.actions == {} and plan.lead is None
    assert plan.participants == (SOC,) and set(plan.facts) == {fact_id}
    old = assessed(T0 + 7 * H, Area.CARE, 2, plan=PLAN)
    assert rejection(plan, old) == OTHER_PLAN and apply(plan, old) is plan
    plan = apply(plan, closed(T0 + 8 * H, PLAN2))
    assert rejection(plan, opened(T0 + 9 * H, PLAN)) == PLAN_SUPERSEDED  # a replaced plan stays replaced


def test_a_second_plan_while_one_is_open_is_rejected() -> None:
    plan = fold([opened()])
    assert rejection(plan, opened(T0 + H, PLAN2)) == PLAN_ALREADY_OPEN
    assert apply(plan, opened(T0 + H, PLAN2)) is plan


def test_lifecycle_goes_by_event_time() -> None:
    plan = fold([opened(T0), closed(T0 + 2 * H)])
    assert rejection(plan, opened(T0 + H)) == SUPERSEDED  # an opening older than the close
    assert rejection(fold([opened(T0 + H)]), closed(T0)) == SUPERSEDED


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (assessed(T0, None, 3), NO_AREA),
        (assessed(T0, Area.CARE, 0), BAD_RATING),
        (assessed(T0, Area.CARE, 6), BAD_RATING),
        (agreed(T0, uid(), area=None), NO_AREA),
        (completed(T0, uid()), UNKNOWN_ACTION),
        (assessed(T0, Area.CARE, 3, child=uid(2)), OTHER_CHILD),
        (released(T0, uid(), consents=()), UNCOVERED_RELEASE),
    ],
)
def test_malformed_plan_events_are_rejected_with_a_reason(event: Event, reason: str) -> None:
    plan = fold([opened()])
    assert rejection(plan, event) == reason
    assert apply(plan, event) is plan


def test_applying_every_event_twice_changes_nothing() -> None:
    fact_id = uid()
    events = [*a_plan_in_use(), released(T0, fact_id), revoked(T0 + H, fact_id), closed(T0 + 5 * H)]
    assert fold(e for event in events for e in (event, event)) == fold(events)


# -- released facts ----------------------------------------------------------------------------------

def test_released_fact_keeps_its_provenance_and_bytes() -> None:
    fact_id = uid()
    plan = fold([released(T0 + H, fact_id, area=Area.HEALTH)])
    fact = plan.facts[fact_id]
    assert (fact.fact_type, fact.source_org, fact.area, fact.basis) == ("HealthVisitRecorded", BVC, Area.HEALTH,
                                                                        Basis.CONSENT)
    assert fact.category is Category.HEALTH  # the gate stamps the fact's own: its intake topic's
    assert (fact.consent_ids, fact.released_at, fact.fact) == ((CONSENT_1,), T0 + H, FACT_BYTES)
    assert "body" not in repr(plan)


def test_a_fact_of_unknown_type_stays_uncovered() -> None:
    plan = fold([released(T0, uid(3), fact_type="Unknown", category=Category.PLAN)])  # no consent covers PLAN
    assert plan.facts[uid(3)].category is Category.PLAN


def test_the_fold_keeps_the_category_the_release_carries() -> None:
    """The fold derives no category from the fact type: the release's envelope is the one source."""
    plan = fold([released(T0, uid(4), fact_type="HealthVisitRecorded", category=Category.SOCIAL),
                 released(T0, uid(5), fact_type="HealthVisitRecorded", category=Category.PLAN)])
    assert (plan.facts[uid(4)].category, plan.facts[uid(5)].category) == (Category.SOCIAL, Category.PLAN)


def test_re_release_replaces_the_consent_ids() -> None:
    fact_id = uid()
    plan = fold([released(T0, fact_id, (CONSENT_1, CONSENT_2)), released(T0 + H, fact_id, (CONSENT_2,))])
    assert plan.facts[fact_id].consent_ids == (CONSENT_2,) and len(plan.facts) == 1


def test_revocation_purges_the_fact_and_a_late_older_release_does_not_bring_it_back() -> None:
    fact_id, other = uid(), uid()
    plan = fold([released(T0, fact_id), released(T0, other), revoked(T0 + H, fact_id)])
    assert set(plan.facts) == {other}
    stale = released(T0 + dt.timedelta(minutes=30), fact_id)
    assert rejection(plan, stale) == SUPERSEDED and apply(plan, stale) is plan
    again = apply(plan, released(T0 + 2 * H, fact_id, (CONSENT_2,)))  # a new consent releases it again
    assert again.facts[fact_id].consent_ids == (CONSENT_2,)


def test_directory_releases_are_not_plan_facts() -> None:
    plan = fold([opened()])
    directory = released(T0, uid(), consents=(), basis=Basis.DIRECTORY, fact_type="HealthUnitListed")
    assert apply(plan, directory) is plan and rejection(plan, directory) is None
    assert fold([directory]) == ChildPlan()


def test_other_events_pass() -> None:
    grant = ConsentGranted(envelope=envelope(ConsentGranted, T0, category=Category.CONSENT), consent_id=CONSENT_1,
                           grantors=(Grantor(uid(), GrantorRole.GUARDIAN),), categories=(Category.HEALTH,),
                           recipients=(SCHOOL,), valid_from=T0, valid_to=T0 + H)
    assert apply(ChildPlan(), grant) == ChildPlan() and rejection(ChildPlan(), grant) is None


# -- sealed text -----------------------------------------------------------------------------------------

def test_text_of_reads_opened_erased_and_unopened_sealed_data() -> None:
    assert text_of(Personal({"comment": "mår bättre"}), "comment") == "mår bättre"
    assert text_of(Personal({"comment": "mår bättre"}), "child_view") is None
    assert text_of(ERASED, "comment") == ERASED_TEXT
    assert text_of(SealedBox(b"\x01" + bytes(40)), "comment") is None
    assert text_of(None, "comment") is None


def test_an_erased_child_folds_without_crashing_and_reads_erased() -> None:
    plan = fold([opened(), meeting(T0 + H, MEETING, (BVC,), sealed=ERASED),
                 assessed(T0 + H, Area.HOME, 2, sealed=ERASED), agreed(T0 + H, ACTION, sealed=SealedBox(b"x"))])
    assert plan.meetings[MEETING].decisions == ERASED_TEXT
    assert plan.assessments[Area.HOME].guardians_view == ERASED_TEXT
    assert plan.actions[ACTION].what is None  # not opened here: no text, and no crash


def test_free_text_stays_out_of_reprs() -> None:
    plan = fold(a_plan_in_use())
    assert not any(word in repr(plan) for word in ("Skolan", "läsning", "uppföljande", "om learning"))


def test_sealed_text_keys_name_every_text_bearing_plan_event() -> None:
    assert SEALED_TEXT[MeetingHeld] == ("decisions", "notes", "child_voice", "others_present")
    assert SEALED_TEXT[AreaAssessed] == ("comment", "child_view", "guardians_view")
    assert SEALED_TEXT[ActionAgreed] == ("need", "what", "responsible_person", "performer")
    assert SEALED_TEXT[FollowUpScheduled] == ("what",)


# -- the wheel ---------------------------------------------------------------------------------------------

def test_areas_in_wheel_order_and_shanarri_reused() -> None:
    assert [a.value for a in AREAS] == ["care", "health", "learning", "safety", "relationships", "home",
                                        "development"]
    assert SHANARRI is schemas.shanarri.SHANARRI and set(SHANARRI) == set(AREAS)


# -- visibility ------------------------------------------------------------------------------------------------

def test_visible_facts_follow_the_consent_at_the_time_asked() -> None:
    health, school_fact = uid(), uid()
    plan = fold([released(T0, health), released(T0, school_fact, org=SCHOOL, area=Area.LEARNING,
                                                  fact_type="AbsenceSummarised")])
    consents = [consent(end=T0 + 24 * H)]
    assert [f.fact_event_id for f in visible_facts(plan, SCHOOL, T0 + H, consents)] == [health, school_fact]
    assert [f.fact_event_id for f in visible_facts(plan, SCHOOL, T0 + 24 * H, consents)] == [school_fact]  # expired
    assert [f.fact_event_id for f in visible_facts(plan, BVC, T0 + 30 * H, [])] == [health]  # its producer
    assert visible_facts(plan, SOC, T0 + H, consents) == []  # not a recipient


# -- properties ------------------------------------------------------------------------------------------------

ORGS = (BVC, SCHOOL, SOC)
FACTS = tuple(uid(400 + i) for i in range(3))
ACTIONS = tuple(uid(500 + i) for i in range(3))
MEETINGS = tuple(uid(600 + i) for i in range(2))
times = st.integers(0, 12).map(lambda h: T0 + h * H)
sealed = st.sampled_from([None, ERASED, SealedBox(b"box"), Personal({"comment": "x", "what": "y", "notes": "z"})])


def plan_events() -> st.SearchStrategy[Event]:
    p, t, o = st.sampled_from((PLAN, PLAN, PLAN2)), times, st.sampled_from(ORGS)
    a = st.sampled_from(AREAS)
    return st.one_of(
        st.builds(lambda at, plan, org: opened(at, plan, org), t, p, o),
        st.builds(lambda at, m, orgs, ld, plan, s: meeting(at, m, orgs, ld, plan, s), t, st.sampled_from(MEETINGS),
                  st.lists(o, max_size=3).map(tuple), st.none() | o, p, sealed),
        st.builds(lambda at, org, plan: lead(at, org, plan), t, o, p),
        st.builds(lambda at, area, r, plan, s: assessed(at, area, r, plan=plan, sealed=s), t, a, st.integers(1, 5), p,
                  sealed),
        st.builds(lambda at, act, area, org, plan: agreed(at, act, area, org, plan=plan), t,
                  st.sampled_from(ACTIONS), a, o, p),
        st.builds(lambda at, act, d, plan: completed(at, act, DAY + dt.timedelta(days=d), plan), t,
                  st.sampled_from(ACTIONS), st.integers(0, 3), p),
        st.builds(lambda at, d, area, plan: follow_up(at, uid(700 + d), DAY + dt.timedelta(days=d), area, plan), t,
                  st.integers(0, 3), st.none() | a, p),
        st.builds(lambda at, plan: closed(at, plan), t, p),
    )


def shared_events() -> st.SearchStrategy[Event]:
    f, t = st.sampled_from(FACTS), times
    consent_sets = st.sampled_from([(CONSENT_1,), (CONSENT_2,), (CONSENT_1, CONSENT_2)])
    return st.one_of(
        st.builds(lambda at, fid, ids: released(at, fid, ids), t, f, consent_sets),
        st.builds(lambda at, fid: revoked(at, fid), t, f),
        st.builds(lambda at: released(at, uid(), (), basis=Basis.DIRECTORY), t),
    )


def plan_streams() -> st.SearchStrategy[list[Event]]:
    """Mostly well-formed: an opening first, then anything, including stray and stale events."""
    opening = st.builds(lambda h, org: opened(T0 + h * H, PLAN, org), st.integers(0, 2), st.sampled_from(ORGS))
    return st.tuples(opening, st.lists(plan_events(), max_size=25)).map(lambda x: [x[0], *x[1]])


@st.composite
def interleaving(draw: st.DrawFn, plan: list[Event], shared: list[Event]) -> list[Event]:
    """Both streams in their own order, merged in any way (as partitions are read)."""
    picks = draw(st.permutations([0] * len(plan) + [1] * len(shared)))
    streams = (iter(plan), iter(shared))
    return [next(streams[pick]) for pick in picks]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), plan=plan_streams(), shared=st.lists(shared_events(), max_size=12))
def test_any_interleaving_of_plan_and_shared_streams_folds_to_the_same_plan(
    data: st.DataObject, plan: list[Event], shared: list[Event]
) -> None:
    assert fold(data.draw(interleaving(plan, shared))) == fold(plan + shared)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), plan=plan_streams(), shared=st.lists(shared_events(), max_size=12))
def test_repeating_applied_events_anywhere_later_changes_nothing(
    data: st.DataObject, plan: list[Event], shared: list[Event]
) -> None:
    events = data.draw(interleaving(plan, shared))
    state, applied = ChildPlan(), []
    for i, event in enumerate(events):
        if rejection(state, event) is None:
            applied.append(i)
        state = apply(state, event)
    with_repeats = list(events)
    for i in data.draw(st.lists(st.sampled_from(applied), max_size=10)) if applied else []:
        at = data.draw(st.integers(with_repeats.index(events[i]) + 1, len(with_repeats)))
        with_repeats.insert(at, events[i])
    assert fold(with_repeats) == state


@settings(max_examples=200, deadline=None)
@given(plan=plan_streams(), shared=st.lists(shared_events(), max_size=12),
       twice=st.lists(st.booleans(), min_size=38, max_size=38))
def test_any_event_applied_twice_in_a_row_changes_nothing(
    plan: list[Event], shared: list[Event], twice: list[bool]
) -> None:
    events = plan + shared
    doubled = [e for event, again in zip(events, twice, strict=False) for e in ((event, event) if again else (event,))]
    assert fold(doubled) == fold(events)


def test_folding_on_from_a_saved_state_equals_folding_from_the_start() -> None:
    events = [*a_plan_in_use(), closed(T0 + 5 * H)]
    assert fold(events[4:], fold(events[:4])) == fold(events)


def test_an_erased_plan_keeps_its_shape_and_loses_every_text() -> None:
    from projections.plan import ERASED_TEXT, without_text

    plan = fold(a_plan_in_use())
    gone = without_text(plan)
    # The reference: each item's text fields, as the fold from the log reads them once the key is gone.
    texts = {"meetings": ("decisions", "notes"), "assessments": ("comment", "child_view", "guardians_view"),
             "actions": ("need", "what"), "follow_ups": ("what",)}
    seen = 0
    for name, fields in texts.items():
        before, after = getattr(plan, name), getattr(gone, name)
        assert before.keys() == after.keys()
        for key, item in before.items():
            for f in fields:
                expected = None if getattr(item, f) is None else ERASED_TEXT
                assert getattr(after[key], f) == expected
                seen += getattr(item, f) is not None
            others = [f for f in item.__dataclass_fields__ if f not in fields]
            assert [getattr(after[key], f) for f in others] == [getattr(item, f) for f in others]
    assert seen >= 6  # the plan had text to lose
    assert (gone.plan_id, gone.status, gone.lead, gone.facts) == (plan.plan_id, plan.status, plan.lead, plan.facts)
    assert without_text(gone) is gone and without_text(fold([])) == fold([])

