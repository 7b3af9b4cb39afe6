"""The gate fold: holds, releases, revokes, statutory routing -- and a property test that what
stands released always equals what the visibility rules allow, after any interleaving."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.consent_rules import Custody
from projections.consents import Consent, FactRef, covering
from projections.gate import (
    REGISTER_FACTS,
    ChildGate,
    Release,
    Revoke,
    RouteStatutory,
    on_consent,
    on_fact,
    on_register,
    released_now,
    settle,
)
from projections.population import Resident
from schemas.events import (
    Area,
    Basis,
    Category,
    ChildDied,
    ChildEmigrated,
    ChildMoved,
    ChildRegistered,
    Event,
    Grantor,
    GrantorRole,
)
from services.dev.samples import sample_event

T0 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
CHILD = uuid.UUID(int=7, version=4)
ORGS = ("bvc-1", "bvc-2", "skola-1")
GUARDIAN = uuid.UUID(int=8, version=4)
# A ten-year-old whose one guardian grants every consent here: the register supports them all,
# so these tests are about holding and releasing (tests/unit/test_consent_over_time.py: lapses).
KNOWN = ChildGate(resident=Resident(CHILD, dt.date(2016, 1, 1), custody=(
    Custody(T0 - 1000 * H, "r1", frozenset({GUARDIAN})),)))


def ref(org: str = "bvc-1", basis: Basis = Basis.CONSENT, area: Area | None = Area.HEALTH,
        category: Category = Category.HEALTH) -> FactRef:
    return FactRef(CHILD, org, category, area, basis)


def consent(n: int, start: int = 0, end: int = 100, **kw: object) -> Consent:
    base = Consent(uuid.UUID(int=100 + n, version=4), CHILD, frozenset({Category.HEALTH}),
                   frozenset({"skola-1"}), T0 + start * H, T0 + end * H,
                   grantors=frozenset({Grantor(GUARDIAN, GrantorRole.GUARDIAN)}))
    return replace(base, **kw)


def test_fact_without_consent_is_held_then_released_in_order() -> None:
    g = KNOWN
    g, out1 = on_fact(g, uuid.UUID(int=1), ref(), T0)
    g, out2 = on_fact(g, uuid.UUID(int=2), ref(), T0)
    assert out1 == out2 == [] and len(g.held) == 2
    g, out = on_consent(g, consent(1), T0 + H)
    assert [type(o) for o in out] == [Release, Release]
    assert [o.fact.event_id for o in out] == [uuid.UUID(int=1), uuid.UUID(int=2)]
    assert out[0].consent_ids == (consent(1).consent_id,)


def test_withdrawal_revokes_and_holds_again_until_a_new_consent() -> None:
    g, _ = on_consent(KNOWN, consent(1), T0)
    g, out = on_fact(g, uuid.UUID(int=1), ref(), T0 + H)
    assert isinstance(out[0], Release)
    g, out = on_consent(g, consent(1, withdrawn_at=T0 + 2 * H), T0 + 2 * H)
    assert [type(o) for o in out] == [Revoke] and released_now(g) == set() and len(g.held) == 1
    g, out = on_consent(g, consent(2, start=3), T0 + 3 * H)
    assert [type(o) for o in out] == [Release]


def test_another_covering_consent_keeps_the_release_with_its_provenance() -> None:
    g, _ = on_consent(KNOWN, consent(1), T0)
    g, _ = on_consent(g, consent(2), T0)
    g, _ = on_fact(g, uuid.UUID(int=1), ref(), T0 + H)
    g, out = on_consent(g, consent(1, withdrawn_at=T0 + 2 * H), T0 + 2 * H)
    assert [type(o) for o in out] == [Release] and out[0].consent_ids == (consent(2).consent_id,)
    assert released_now(g) == {uuid.UUID(int=1)}
    g, out = on_consent(g, consent(2), T0 + 3 * H)  # the same consent again changes nothing
    assert out == []


def test_expiry_needs_no_event_a_tick_revokes() -> None:
    g, _ = on_consent(KNOWN, consent(1, end=5), T0)
    g, _ = on_fact(g, uuid.UUID(int=1), ref(), T0 + H)
    g, out = settle(g, T0 + 5 * H)
    assert [type(o) for o in out] == [Revoke]


def test_statutory_goes_to_social_services_whatever_the_consent() -> None:
    g, out = on_fact(KNOWN, uuid.UUID(int=1), ref(basis=Basis.STATUTORY, category=Category.SOCIAL), T0)
    assert [type(o) for o in out] == [RouteStatutory] and len(g.held) == 1  # not in the plan without consent


def test_directory_facts_pass_unkept_and_repeat_the_same_release() -> None:
    g, out = on_fact(KNOWN, uuid.UUID(int=1), ref(basis=Basis.DIRECTORY, area=None), T0)
    assert out == [Release(out[0].fact, ())] and g == KNOWN
    again, repeat = on_fact(g, uuid.UUID(int=1), ref(basis=Basis.DIRECTORY, area=None), T0)
    assert repeat == out and again == g  # the same release again: consumers absorb it by id


def test_redelivered_consent_facts_are_recognised_from_the_state_alone() -> None:
    g, _ = on_fact(KNOWN, uuid.UUID(int=1), ref(), T0)  # held: no consent yet
    assert g.knows(uuid.UUID(int=1)) and not g.knows(uuid.UUID(int=2))
    again, out = on_fact(g, uuid.UUID(int=1), ref(), T0)
    assert out == [] and again is g
    g, _ = on_consent(g, consent(1), T0)  # released now
    again, out = on_fact(g, uuid.UUID(int=1), ref(), T0 + H)
    assert out == [] and again is g


consents_st = st.builds(
    lambda n, start, length, withdraw, cats, areas, orgs: Consent(
        uuid.UUID(int=1000 + n, version=4), CHILD, frozenset(cats), frozenset({"skola-1"}),
        T0 + start * H, T0 + (start + length) * H,
        source_organisations=None if orgs is None else frozenset(orgs),
        areas=None if areas is None else frozenset(areas),
        withdrawn_at=None if withdraw is None else T0 + withdraw * H,
        grantors=frozenset({Grantor(GUARDIAN, GrantorRole.GUARDIAN)})),
    st.integers(0, 5), st.integers(0, 20), st.integers(1, 20), st.one_of(st.none(), st.integers(0, 40)),
    st.sets(st.sampled_from([Category.HEALTH, Category.SCHOOL, Category.SOCIAL]), min_size=1),
    st.one_of(st.none(), st.sets(st.sampled_from(list(Area)), min_size=1, max_size=3)),
    st.one_of(st.none(), st.sets(st.sampled_from(ORGS), min_size=1)),
)
facts_st = st.builds(
    lambda n, org, basis, category, area: (uuid.UUID(int=n + 1), FactRef(CHILD, org, category, area, basis)),
    st.integers(0, 30), st.sampled_from(ORGS), st.sampled_from([Basis.CONSENT, Basis.STATUTORY]),
    st.sampled_from([Category.HEALTH, Category.SCHOOL, Category.SOCIAL]),
    st.one_of(st.none(), st.sampled_from(list(Area))),
)
steps_st = st.lists(st.one_of(st.tuples(st.just("fact"), facts_st), st.tuples(st.just("consent"), consents_st),
                              st.tuples(st.just("tick"), st.none())), max_size=40)


@settings(max_examples=400, deadline=None)
@given(steps_st)
def test_released_set_always_equals_what_visibility_allows(steps: list) -> None:
    g, now = KNOWN, T0
    facts: dict[uuid.UUID, FactRef] = {}
    for kind, payload in steps:
        now += H
        if kind == "fact":
            event_id, fact = payload
            facts.setdefault(event_id, fact)
            g, out = on_fact(g, event_id, facts[event_id], now)
        elif kind == "consent":
            g, out = on_consent(g, payload, now)
        else:
            g, out = settle(g, now)
        for o in out:  # 0 disclosures without a basis at the moment of release
            if isinstance(o, Release):
                assert o.consent_ids == tuple(sorted(c.consent_id for c in covering(o.fact.ref, now, g.consents)))
                assert o.consent_ids
    g, _ = settle(g, now)
    allowed = {eid for eid, f in facts.items() if covering(f, now, g.consents)}
    assert released_now(g) == allowed
    assert {f.event_id for f in g.held} == set(facts) - allowed


def test_the_known_ids_follow_every_fact_through_hold_release_and_revoke() -> None:
    g, _ = on_consent(KNOWN, consent(1, end=5), T0)
    for n in range(1, 5):
        g, _ = on_fact(g, uuid.UUID(int=n), ref(), T0)
    g, _ = settle(g, T0 + dt.timedelta(days=6))  # the consent has ended: all back to held
    rebuilt = ChildGate(g.consents, g.held, g.released, g.next_seq)  # known derived from the lists
    assert g.known == rebuilt.known == frozenset(uuid.UUID(int=n) for n in range(1, 5))
    assert all(g.knows(uuid.UUID(int=n)) for n in range(1, 5)) and not g.knows(uuid.UUID(int=5))


# -- death and emigration (issue 15) ------------------------------------------------------------

def midnight(day: dt.date) -> dt.datetime:
    """The start of ``day`` in Sweden (the test's own reckoning)."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("Europe/Stockholm")).astimezone(dt.UTC)


def _register(kind: str, on: dt.date, at: dt.datetime, n: int = 1) -> Event:
    """A register fact about CHILD, recorded at ``at``."""
    cls = {"died": ChildDied, "emigrated": ChildEmigrated, "registered": ChildRegistered}[kind]
    env = replace(sample_event(cls.__name__, seed=n, child_id=CHILD).envelope, occurred_at=at, recorded_at=at)
    fields = {"died": {"died_on": on}, "emigrated": {"emigrated_on": on},
              "registered": {"birth_date": dt.date(2016, 1, 1), "municipality_code": "0780"}}[kind]
    return cls(envelope=env, **fields)


def test_a_death_revokes_what_was_released_and_nothing_is_released_after_it() -> None:
    died_on = (T0 + 30 * H).date()
    g, _ = on_consent(KNOWN, consent(1, end=24 * 60), T0)
    g, out = on_fact(g, uuid.UUID(int=1), ref(), T0 + H)
    assert isinstance(out[0], Release)
    recorded = midnight(died_on) + 15 * H  # the register records the death that afternoon
    g, out = on_register(g, CHILD, _register("died", died_on, recorded), recorded)
    assert [type(o) for o in out] == [Revoke] and released_now(g) == set()
    assert g.consents[0].lapsed_at == midnight(died_on) and g.consents[0].lapse == "death"
    later = recorded + 5 * H
    g, out = on_fact(g, uuid.UUID(int=2), ref(), later)  # a fact about the child after its death
    assert out == [] and released_now(g) == set()
    g, out = on_consent(g, consent(2, start=int((later - T0) / H), end=24 * 60), later)  # a consent after it
    assert out == [] and released_now(g) == set() and len(g.held) == 2
    assert next(c for c in g.consents if c.consent_id == consent(2).consent_id).lapse == "death"
    g, again = on_register(g, CHILD, _register("died", died_on, recorded), later)
    assert again == []  # the death again: a repeat


def test_an_emigration_ends_consents_and_a_return_lets_only_a_new_consent_release() -> None:
    left = (T0 + 50 * H).date()
    g, _ = on_consent(KNOWN, consent(1, end=24 * 60), T0)
    g, _ = on_fact(g, uuid.UUID(int=1), ref(), T0 + H)
    recorded = midnight(left) + 10 * H
    g, out = on_register(g, CHILD, _register("emigrated", left, recorded), recorded)
    assert [type(o) for o in out] == [Revoke] and g.consents[0].lapse == "emigration"
    back = midnight(left) + 24 * 5 * H + 9 * H  # registered again five days later
    g, out = on_register(g, CHILD, _register("registered", left, back, n=2), back)
    assert out == [] and released_now(g) == set()  # the lapsed consent stays lapsed
    g, out = on_consent(g, consent(2, start=int((back - T0) / H) + 1, end=24 * 60), back + H)
    assert [type(o) for o in out] == [Release] and out[0].consent_ids == (consent(2).consent_id,)


def test_a_move_keeps_every_consent_and_release_and_gives_the_home_reports_go_to() -> None:
    """A move, even out of the county, changes neither who must grant nor who receives; the gate
    keeps the new home, since a report of concern filed through the hub is routed there."""
    g, _ = on_consent(KNOWN, consent(1, end=24 * 60), T0)
    g, _ = on_fact(g, uuid.UUID(int=1), ref(), T0 + H)
    for n, code in enumerate(("0760", "1480"), start=1):  # within the county, then to Göteborg
        template = sample_event("ChildMoved", seed=n, child_id=CHILD)
        env = replace(template.envelope, occurred_at=T0 + (2 + n) * H, recorded_at=T0 + (2 + n) * H)
        before = g
        g, out = on_register(g, CHILD, replace(template, envelope=env, to_municipality_code=code,
                                                moved_on=(T0 + 2 * H).date()), T0 + (2 + n) * H)
        assert out == [] and released_now(g) == released_now(before) == {uuid.UUID(int=1)}
        assert [c.lapse for c in g.consents] == [None]
        assert g.resident is not None and g.resident.municipality_code == code
    assert ChildMoved in REGISTER_FACTS and ChildDied in REGISTER_FACTS and ChildEmigrated in REGISTER_FACTS
