"""The demo's one child, one id (issue 15): how its view of the county follows a merge, and its
own rule for what the hub must hold afterwards.

A newborn seen by the population register first has an id X by personnummer; its unborn id U
holds the pregnancy; the birth record links them. The demo's view must count X's facts once, as
U's, under the ids the gate's linker gives their copies (the reference here is the linker's own
``carried``, which is what the gate publishes); the rule must fail for each way the hub could get
it wrong, the birth day included.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import replace

import pytest

from schemas.events import Area, Basis, Event
from services.dev.demo.county_view import Intake, merges_in, with_events
from services.dev.demo.merges import (
    LEFT_HANDLES,
    NO_PREGNANCY,
    NOT_BORN,
    NOT_LINKED,
    NOT_MERGED,
    NOT_POINTER,
    NOT_REGISTERED,
    OWNS,
    PNR_COUNT,
    PNR_TWICE,
    RELEASED,
    STRAY_POINTER,
    UNANNOUNCED,
    Held,
    Row,
    problems,
)
from services.ingest.identity import Link
from services.ingest.runner import merge_announcement
from services.worker.linker import Merge, carried
from tests.support.history import event

MHV, BHV, SOC, NAVET = "SE2321000065-MHV0780", "SE2321000065-BHV0780", "kommun-0780-soc", "navet"
D = Basis.DIRECTORY
BORN = dt.date(2026, 10, 28)
LINKED_AT = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
U, X, OTHER = uuid.UUID(int=1, version=4), uuid.UUID(int=2, version=4), uuid.UUID(int=3, version=4)
MOTHER, FATHER = uuid.UUID(int=10, version=4), uuid.UUID(int=11, version=4)


def _unborn() -> list[Event]:
    return [
        event("PregnancyRegistered", U, 1, basis=D, org=MHV, unit_id=MHV, municipality_code="0780",
              expected_birth_date=BORN, expectant_parent_id=MOTHER),
        event("ChildBorn", U, 2, basis=D, org=MHV, at=LINKED_AT, birth_date=BORN, municipality_code="0780"),
    ]


def _seen_by_personnummer() -> list[Event]:
    at = dt.datetime(2026, 10, 30, 8, 0, tzinfo=dt.UTC)
    return [
        event("ChildRegistered", X, 1, basis=D, org=NAVET, at=at, birth_date=BORN, municipality_code="0780"),
        event("CustodyRecorded", X, 2, basis=D, org=NAVET, at=at, recorded_on=BORN, guardian_ids=(MOTHER, FATHER)),
        event("HealthVisitRecorded", X, 3, basis=Basis.CONSENT, org=BHV, area=Area.HEALTH, at=at),
        event("ReportOfConcernReceived", X, 4, basis=Basis.STATUTORY, org=SOC, area=Area.SAFETY, at=at),
    ]


def _merge() -> Event:
    return merge_announcement(Link(X, U, LINKED_AT), LINKED_AT)


def test_a_merged_ids_facts_count_once_as_the_survivors_under_the_ids_the_gate_gives_them() -> None:
    apart = _seen_by_personnummer()
    intake = with_events(Intake(), [*_unborn(), *apart, _merge()])  # the merge comes after X's facts
    # The reference: what the gate's linker republishes for each of X's facts.
    copies = {e.event_id: carried(e, Merge(U, LINKED_AT)) for e in apart}
    assert intake.merged == {X: U} and intake.survivor(X) == U and intake.survivor(U) == U
    assert set(intake.residents) == {U}  # X is no child of its own
    resident = intake.residents[U]
    assert resident.birth_date == BORN and not resident.unborn and resident.guardians == {MOTHER, FATHER}
    assert resident.expectant_parent == MOTHER
    directory = {e.event_id for e in _unborn()} | {copies[e.event_id].event_id for e in apart[:2]}
    assert intake.directory == directory | {_merge().event_id}  # the merge itself is forwarded as it is
    assert intake.gated() == {copies[e.event_id].event_id for e in apart[2:]}
    assert intake.reports == {copies[apart[3].event_id].event_id}
    assert set(intake.scoped) == {U}
    assert intake.carried == {old: copy.event_id for old, copy in copies.items()}
    assert intake.registered == {U} and intake.expectant == {U: {MOTHER}} and intake.born_on == {U: {BORN}}


def test_without_a_merge_the_two_ids_stay_two_children() -> None:
    intake = with_events(Intake(), [*_unborn(), *_seen_by_personnummer()])
    assert intake.merged == {} and set(intake.residents) == {U, X}
    assert intake.gated() == {e.event_id for e in _seen_by_personnummer()[2:]}


def test_merges_follow_a_chain() -> None:
    chained = merge_announcement(Link(U, OTHER, LINKED_AT), LINKED_AT)
    assert merges_in([_merge()]) == {X: U}
    assert merges_in([_merge(), chained]) == {X: OTHER, U: OTHER}


# -- the rule --------------------------------------------------------------------------------------

def _merged_intake() -> Intake:
    return with_events(Intake(), [*_unborn(), *_seen_by_personnummer(), _merge()])


def _held() -> Held:
    """What a hub that got it right holds."""
    held = Held(links={str(X): str(U)})
    held.rows = {str(X): Row(str(U), False, None, None, False),
                 str(U): Row(None, False, BORN, str(MOTHER), True),
                 str(OTHER): Row(None, False, BORN, None, True)}
    held.personnummer.update({str(U): 1, str(OTHER): 1})
    held.owned.update({"released_facts": 0, "consents": 0, "meetings": 0})
    return held


def _with_row(held: Held, child: uuid.UUID, **changes: object) -> Held:
    held.rows[str(child)] = replace(held.rows[str(child)], **changes)
    return held


def test_the_rule_holds_for_a_hub_that_followed_the_merge() -> None:
    assert problems(_merged_intake(), _held(), [(U, LINKED_AT)]) == []


def _unmerged() -> tuple[Intake, Held]:
    """Population first, but the birth record did not link: the child kept two ids."""
    intake = with_events(Intake(), [*_unborn(), *_seen_by_personnummer()])
    intake.registered.add(U)  # a registration reached the unborn id without a merge
    held = _held()
    held.links.clear()
    return intake, held


def _unannounced(h: Held) -> Held:
    h.unannounced = 1
    return h


def _stray(h: Held) -> Held:
    h.rows[str(OTHER)] = replace(h.rows[str(OTHER)], merged_into=str(U))
    return h


def _extra_link(h: Held) -> Held:
    h.links[str(OTHER)] = str(U)
    return h


def _wrong_link(h: Held) -> Held:
    h.links[str(X)] = str(OTHER)
    return h


def _two_pnr(h: Held) -> Held:
    h.personnummer[str(U)] = 2
    return h


def _no_pnr(h: Held) -> Held:
    del h.personnummer[str(U)]
    return h


def _other_twice(h: Held) -> Held:
    h.personnummer[str(OTHER)] = 2
    return h


def _handle_left(h: Held) -> Held:
    h.merged_handles = 1
    return h


def _no_row(h: Held) -> Held:
    del h.rows[str(X)]
    return h


def _consent_left(h: Held) -> Held:
    h.owned["consents"] = 1
    return h


CASES = [
    ("pointer lost", lambda h: _with_row(h, X, merged_into=None), [NOT_POINTER]),
    ("no row for the merged id", _no_row, [NOT_POINTER]),
    ("survivor points elsewhere", lambda h: _with_row(h, U, merged_into=str(OTHER)),
     [STRAY_POINTER, NOT_BORN]),
    ("another id points", _stray, [STRAY_POINTER]),
    ("link never announced", _unannounced, [UNANNOUNCED]),
    ("a link the demo never saw announced", _extra_link, [UNANNOUNCED]),
    ("link to another id", _wrong_link, [NOT_LINKED]),
    ("two personnummer", _two_pnr, [PNR_COUNT, PNR_TWICE]),
    ("no personnummer", _no_pnr, [PNR_COUNT]),
    ("another child with two", _other_twice, [PNR_TWICE]),
    ("handle left on the merged id", _handle_left, [LEFT_HANDLES]),
    ("survivor still unborn", lambda h: _with_row(h, U, unborn=True), [NOT_BORN]),
    ("born the day before", lambda h: _with_row(h, U, birth_date=BORN - dt.timedelta(days=1)), [NOT_BORN]),
    ("born the day after", lambda h: _with_row(h, U, birth_date=BORN + dt.timedelta(days=1)), [NOT_BORN]),
    ("another expectant parent", lambda h: _with_row(h, U, expectant_parent=str(FATHER)), [NO_PREGNANCY]),
    ("pregnancy lost", lambda h: _with_row(h, U, expectant_parent=None), [NO_PREGNANCY]),
    ("registration lost", lambda h: _with_row(h, U, registered=False), [NOT_REGISTERED]),
    ("a consent on the merged id", _consent_left, [OWNS.format(n=1, table="consents")]),
]


@pytest.mark.parametrize(("broken", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_the_rule_fails_for_each_way_the_hub_can_get_a_merge_wrong(broken: Callable[[Held], Held],
                                                                   expected: list[str]) -> None:
    found = problems(_merged_intake(), broken(_held()), [])
    assert found == [m.format(n=1) for m in expected]


def test_a_release_under_the_merged_id_fails_the_rule() -> None:
    assert problems(_merged_intake(), _held(), [(X, LINKED_AT), (U, LINKED_AT)]) == [RELEASED.format(n=1)]


def test_a_child_with_a_pregnancy_and_a_registration_that_kept_two_ids_fails_the_rule() -> None:
    intake, held = _unmerged()
    assert NOT_MERGED.format(n=1) in problems(intake, held, [])
