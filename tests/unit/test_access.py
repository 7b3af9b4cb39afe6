"""The access rules (``projections.access``): every role x need x ground, emergency access's
limits, and fact visibility through the one visibility function."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections import access
from projections.access import (
    ADMINISTRATOR,
    AUDITOR,
    COORDINATOR,
    ChildScope,
    Decision,
    EmergencyGrant,
    Ground,
    Need,
    Outcome,
    decide,
    emergency_problems,
    ground,
    may_see_gaps,
    visible_facts,
)
from projections.consents import Consent, FactRef, visible
from schemas.events import Area, Basis, Category

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
CHILD = uuid.UUID(int=7, version=4)
OTHER_CHILD = uuid.UUID(int=8, version=4)
NAMED, LEAD, PARTICIPANT, RECIPIENT_ONLY, STRANGER = "org-named", "org-lead", "org-part", "org-recipient", "org-x"
SCOPE = ChildScope(CHILD, NAMED, LEAD, frozenset({NAMED, LEAD, PARTICIPANT}))


@dataclass(frozen=True)
class Caller:
    subject: str
    role: str
    organisation_id: str


def consent(recipients: set[str], *, start: dt.datetime = NOW - dt.timedelta(days=1),
            end: dt.datetime = NOW + dt.timedelta(days=30), withdrawn: dt.datetime | None = None,
            child: uuid.UUID = CHILD, categories: set[Category] | None = None,
            areas: set[Area] | None = None) -> Consent:
    return Consent(uuid.uuid4(), child, frozenset(categories or {Category.HEALTH, Category.SCHOOL, Category.SOCIAL}),
                   frozenset(recipients), start, end, None, None if areas is None else frozenset(areas), withdrawn)


ACTIVE = [consent({PARTICIPANT, RECIPIENT_ONLY})]


def grant(subject: str, org: str, *, opened: dt.datetime = NOW - dt.timedelta(hours=1), days: float = 3,
          child: uuid.UUID = CHILD) -> EmergencyGrant:
    return EmergencyGrant(child, subject, org, opened, opened + dt.timedelta(days=days))


# -- roles ------------------------------------------------------------------------------------------

ROLE_MAY = {COORDINATOR: {Need.LIST, Need.READ, Need.WRITE, Need.TRANSFER, Need.EMERGENCY},
            AUDITOR: {Need.AUDIT}, ADMINISTRATOR: {Need.ADMIN}}


@pytest.mark.parametrize(("role", "need"), list(itertools.product(ROLE_MAY, Need)))
def test_a_role_outside_its_needs_is_forbidden_whatever_the_child(role: str, need: Need) -> None:
    caller = Caller("s", role, NAMED)  # even the named person's organisation
    for child in (SCOPE, None):
        decision = decide(caller, need, child, ACTIVE, [grant("s", NAMED)], NOW)
        if need in ROLE_MAY[role]:
            assert decision.outcome is not Outcome.FORBIDDEN or need is Need.TRANSFER
        else:
            assert decision.outcome is Outcome.FORBIDDEN and decision.ground is None


def test_an_unknown_role_may_do_nothing() -> None:
    for need in Need:
        assert decide(Caller("s", "superuser", NAMED), need, SCOPE, ACTIVE, (), NOW).outcome is Outcome.FORBIDDEN


@pytest.mark.parametrize("need", [Need.AUDIT, Need.ADMIN, Need.LIST])
def test_needs_without_a_child_scope_are_allowed_for_their_role(need: Need) -> None:
    role = {Need.AUDIT: AUDITOR, Need.ADMIN: ADMINISTRATOR, Need.LIST: COORDINATOR}[need]
    assert decide(Caller("s", role, STRANGER), need, None).allowed


# -- the coordinator's scope ---------------------------------------------------------------------------

@pytest.mark.parametrize(("org", "expected"), [
    (NAMED, Ground.NAMED_PERSON), (LEAD, Ground.LEAD), (PARTICIPANT, Ground.PARTICIPANT),
    (RECIPIENT_ONLY, None), (STRANGER, None),
])
@pytest.mark.parametrize("need", [Need.READ, Need.WRITE])
def test_a_coordinator_sees_the_named_person_lead_and_consented_participants(org: str, expected: Ground | None,
                                                                             need: Need) -> None:
    decision = decide(Caller("s", COORDINATOR, org), need, SCOPE, ACTIVE, (), NOW)
    if expected is None:
        assert decision == Decision(Outcome.NOT_FOUND)
    else:
        assert decision == Decision(Outcome.ALLOWED, expected)


@pytest.mark.parametrize("problem", ["expired", "not yet", "withdrawn", "not a recipient", "another child"])
def test_a_participant_without_an_active_consent_naming_them_sees_nothing(problem: str) -> None:
    consents = {
        "expired": [consent({PARTICIPANT}, end=NOW)],
        "not yet": [consent({PARTICIPANT}, start=NOW + dt.timedelta(seconds=1))],
        "withdrawn": [consent({PARTICIPANT}, withdrawn=NOW - dt.timedelta(minutes=1))],
        "not a recipient": [consent({RECIPIENT_ONLY})],
        "another child": [consent({PARTICIPANT}, child=OTHER_CHILD)],
    }[problem]
    assert decide(Caller("s", COORDINATOR, PARTICIPANT), Need.READ, SCOPE, consents, (), NOW).outcome is Outcome.NOT_FOUND


def test_the_named_person_and_lead_need_no_consent() -> None:
    for org, why in ((NAMED, Ground.NAMED_PERSON), (LEAD, Ground.LEAD)):
        assert decide(Caller("s", COORDINATOR, org), Need.READ, SCOPE, (), (), NOW) == Decision(Outcome.ALLOWED, why)


def test_an_unknown_child_is_not_found_for_every_coordinator_need() -> None:
    for need in (Need.READ, Need.WRITE, Need.TRANSFER, Need.EMERGENCY):
        assert decide(Caller("s", COORDINATOR, NAMED), need, None, ACTIVE, (), NOW).outcome is Outcome.NOT_FOUND


def test_a_child_without_named_person_or_plan_is_nobodys() -> None:
    bare = ChildScope(CHILD)
    for org in (NAMED, LEAD, PARTICIPANT, STRANGER):
        assert decide(Caller("s", COORDINATOR, org), Need.READ, bare, ACTIVE, (), NOW).outcome is Outcome.NOT_FOUND


@pytest.mark.parametrize(("org", "outcome"), [(NAMED, Outcome.ALLOWED), (LEAD, Outcome.ALLOWED),
                                               (PARTICIPANT, Outcome.FORBIDDEN), (STRANGER, Outcome.NOT_FOUND)])
def test_only_the_named_person_or_the_lead_transfers_the_named_person_task(org: str, outcome: Outcome) -> None:
    assert decide(Caller("s", COORDINATOR, org), Need.TRANSFER, SCOPE, ACTIVE, (), NOW).outcome is outcome


def test_a_decision_about_a_child_needs_a_moment() -> None:
    with pytest.raises(ValueError):
        decide(Caller("s", COORDINATOR, NAMED), Need.READ, SCOPE, ACTIVE, ())


# -- emergency access -----------------------------------------------------------------------------------

def test_emergency_access_may_be_opened_by_any_coordinator_for_a_known_child() -> None:
    assert decide(Caller("s", COORDINATOR, STRANGER), Need.EMERGENCY, SCOPE).allowed
    assert decide(Caller("s", COORDINATOR, STRANGER), Need.EMERGENCY, None).outcome is Outcome.NOT_FOUND
    for role in (AUDITOR, ADMINISTRATOR):
        assert decide(Caller("s", role, STRANGER), Need.EMERGENCY, SCOPE).outcome is Outcome.FORBIDDEN


def test_emergency_access_lets_its_coordinator_read_but_not_change() -> None:
    caller = Caller("nurse", COORDINATOR, STRANGER)
    grants = [grant("nurse", STRANGER)]
    assert decide(caller, Need.READ, SCOPE, (), grants, NOW) == Decision(Outcome.ALLOWED, Ground.EMERGENCY)
    for need in (Need.WRITE, Need.TRANSFER):
        assert decide(caller, need, SCOPE, (), grants, NOW).outcome is Outcome.FORBIDDEN


@pytest.mark.parametrize("who", ["another person", "another organisation", "another child"])
def test_emergency_access_is_for_one_coordinator_of_one_organisation_and_one_child(who: str) -> None:
    g = {"another person": grant("someone-else", STRANGER), "another organisation": grant("nurse", "org-y"),
         "another child": grant("nurse", STRANGER, child=OTHER_CHILD)}[who]
    assert decide(Caller("nurse", COORDINATOR, STRANGER), Need.READ, SCOPE, (), [g], NOW).outcome is Outcome.NOT_FOUND


def test_emergency_access_ends_at_its_expiry_and_never_lasts_more_than_seven_days() -> None:
    caller = Caller("nurse", COORDINATOR, STRANGER)
    g = grant("nurse", STRANGER, opened=NOW, days=2)
    assert not g.active_at(NOW - dt.timedelta(seconds=1))
    assert g.active_at(NOW) and g.active_at(NOW + dt.timedelta(days=2) - dt.timedelta(seconds=1))
    assert not g.active_at(NOW + dt.timedelta(days=2))
    forged = grant("nurse", STRANGER, opened=NOW, days=30)  # a recorded expiry beyond the limit
    assert forged.active_at(NOW + dt.timedelta(days=7) - dt.timedelta(seconds=1))
    assert not forged.active_at(NOW + dt.timedelta(days=7))
    assert decide(caller, Need.READ, SCOPE, (), [forged], NOW + dt.timedelta(days=8)).outcome is Outcome.NOT_FOUND


@pytest.mark.parametrize(("reason", "days", "ok"), [
    ("AKUT_FARA", 1, True), ("AKUT_FARA", 7, True), ("AKUT_FARA", 7.0001, False), ("AKUT_FARA", 0, False),
    ("AKUT_FARA", -1, False), ("", 1, False), ("akut fara", 1, False), ("A" * 41, 1, False), (None, 1, False),
])
def test_emergency_access_needs_a_reason_and_at_most_seven_days(reason: object, days: float, ok: bool) -> None:
    assert (emergency_problems(reason, dt.timedelta(days=days)) == []) is ok


def test_a_coordinators_own_scope_wins_over_an_emergency_grant() -> None:
    caller = Caller("s", COORDINATOR, NAMED)
    assert ground(caller, SCOPE, (), [grant("s", NAMED)], NOW) is Ground.NAMED_PERSON


# -- gaps -------------------------------------------------------------------------------------------------

def test_the_gaps_list_is_for_coordinators_of_that_municipality() -> None:
    assert may_see_gaps(Caller("s", COORDINATOR, "x"), "0780", "0780")
    assert not may_see_gaps(Caller("s", COORDINATOR, "x"), "0781", "0780")
    assert not may_see_gaps(Caller("s", COORDINATOR, "x"), None, "0780")
    assert not may_see_gaps(Caller("s", AUDITOR, "x"), "0780", "0780")
    assert not may_see_gaps(Caller("s", ADMINISTRATOR, "x"), "0780", "0780")


# -- facts --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fact:
    ref: FactRef


def fact(source: str, category: Category = Category.HEALTH, area: Area | None = Area.HEALTH,
         basis: Basis = Basis.CONSENT) -> Fact:
    return Fact(FactRef(CHILD, source, category, area, basis))


FACTS = [fact("src-health"), fact("src-school", Category.SCHOOL, Area.LEARNING), fact(PARTICIPANT),
         fact("src-social", Category.SOCIAL, Area.SAFETY, Basis.STATUTORY), fact("src-none", area=None)]


def test_facts_are_filtered_by_the_one_visibility_function() -> None:
    consents = [consent({PARTICIPANT}, categories={Category.HEALTH}, areas={Area.HEALTH})]
    allowed = Decision(Outcome.ALLOWED, Ground.PARTICIPANT)
    shown = visible_facts(FACTS, PARTICIPANT, NOW, consents, NAMED, allowed)
    assert shown == [f for f in FACTS if visible(f.ref, PARTICIPANT, NOW, consents, NAMED)]
    assert shown == [FACTS[0], FACTS[2]]  # the covered health fact and its own


def test_no_fact_without_an_allowed_decision() -> None:
    for outcome in (Outcome.FORBIDDEN, Outcome.NOT_FOUND):
        assert visible_facts(FACTS, PARTICIPANT, NOW, ACTIVE, NAMED, Decision(outcome)) == []


def test_under_emergency_access_every_fact_an_active_consent_still_covers_is_shown() -> None:
    consents = [consent({"someone"}, categories={Category.HEALTH, Category.SCHOOL}),
                consent({"someone"}, categories={Category.SOCIAL}, end=NOW)]  # expired: its facts stay hidden
    emergency = Decision(Outcome.ALLOWED, Ground.EMERGENCY)
    assert visible_facts(FACTS, STRANGER, NOW, consents, NAMED, emergency) == [FACTS[0], FACTS[1], FACTS[2], FACTS[4]]


@given(st.lists(st.tuples(st.sampled_from([NAMED, LEAD, PARTICIPANT, RECIPIENT_ONLY, STRANGER]),
                          st.integers(-10, 10), st.integers(-10, 10), st.booleans()), max_size=4),
       st.sampled_from([NAMED, LEAD, PARTICIPANT, RECIPIENT_ONLY, STRANGER]), st.integers(-12, 12))
def test_a_coordinator_is_in_scope_exactly_by_the_rule(spec: list[tuple[str, int, int, bool]], org: str,
                                                     hour: int) -> None:
    at = NOW + dt.timedelta(hours=hour)
    consents = [consent({r}, start=NOW + dt.timedelta(hours=s), end=NOW + dt.timedelta(hours=s + abs(e) + 1),
                        withdrawn=NOW if w else None) for r, s, e, w in spec]
    caller = Caller("s", COORDINATOR, org)
    expected = (org in (NAMED, LEAD)) or (org in SCOPE.participants and any(
        c.active_at(at) and org in c.recipients for c in consents))
    assert access.in_scope(caller, SCOPE, consents, (), at) is expected
