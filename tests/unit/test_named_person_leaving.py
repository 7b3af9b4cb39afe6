"""The named person when the child leaves (issue 15): death, emigration and a return, moves out of
the county and back, moves between the county's municipalities -- against a reference model
written here from the rules' text, on every day of a window in which the child's life changes.

The reference: a child who has died has no named person from the day of death (ended-death); one
who emigrated has none from that day until a registration recorded on a later day
(ended-emigrated); one whose latest home is a move to a municipality outside the county has none
from the move (ended-moved-out). None of them is on a gaps list. Otherwise the ordinary rules
hold for the child's home of that day -- here a toddler not yet listed at a BHV (the home
municipality's BHV, or a gap where the county has none, as for a registration outside it) or a
pupil at school A -- and a transfer holds from its day until the child first leaves.
"""

from __future__ import annotations

import datetime as dt
import uuid
from functools import reduce

from hypothesis import given, note, settings
from hypothesis import strategies as st

from projections.named_person import (
    RULE_BHV_HOME,
    RULE_ENDED_DEATH,
    RULE_ENDED_EMIGRATED,
    RULE_ENDED_MOVED_OUT,
    RULE_GAP_BHV,
    RULE_PRINCIPAL,
    RULE_TRANSFERRED,
    ChildLife,
    NamedPersonConfig,
    apply,
    assignment,
    gaps,
    history,
    is_gap,
)
from schemas.events import (
    Basis,
    Category,
    ChildDied,
    ChildEmigrated,
    ChildMoved,
    ChildRegistered,
    Envelope,
    Event,
    NamedPersonTransferred,
    SchoolPlacementStarted,
    SchoolType,
    Source,
)

NAMESPACE = uuid.UUID(int=77)
CHILD = uuid.UUID(int=5, version=4)
START = dt.date(2026, 1, 1)  # the window: START .. START + WINDOW
WINDOW = 120
BHV = {"0780": "bhv-0780", "0764": "bhv-0764"}
# 0767 is the county's (it has a KAA function) but the config names no BHV unit for it: a gap.
CONFIG = NamedPersonConfig(BHV, {"0780": "kaa-0780", "0764": "kaa-0764", "0767": "kaa-0767"})
COUNTY = ("0780", "0764", "0767")
OUTSIDE = ("0680", "1280")
SCHOOL_A = "skola-a"
SOCIAL = "soc-0780"


def event(cls: type[Event], on: dt.date, n: int = 0, **fields: object) -> Event:
    occurred = dt.datetime.combine(on, dt.time(9), tzinfo=dt.UTC)
    content = f"{cls.__name__}|{on}|{n}|{sorted(fields.items())}"
    envelope = Envelope(event_id=uuid.uuid5(NAMESPACE, content), type=cls.__name__, child_id=CHILD,
                        occurred_at=occurred, recorded_at=occurred, source=Source("test", "navet", content, "1"),
                        basis=Basis.DIRECTORY, category=Category.POPULATION)
    return cls(envelope=envelope, **fields)


# -- the reference ----------------------------------------------------------------------------

def ref_assignment(kind: str, changes: list[tuple[str, dt.date, str | None]], day: dt.date) -> tuple[str | None, str]:
    """(organisation, rule) on ``day`` for a child registered in 0780 long before the window."""
    done = sorted((c for c in changes if c[1] <= day), key=lambda c: c[1])
    deaths = [on for what, on, _ in done if what == "died"]
    if deaths:
        return None, RULE_ENDED_DEATH
    emigrations = [on for what, on, _ in done if what == "emigrated"]
    registrations = [on for what, on, _ in done if what == "registered"]
    if any(not any(r > e for r in registrations) for e in emigrations):
        return None, RULE_ENDED_EMIGRATED
    # The home: the latest of the registrations and moves; a move beats a registration on one day.
    homes = [(START - dt.timedelta(days=1000), 0, "0780")]
    homes += [(on, 1 if what == "moved" else 0, code or "0780") for what, on, code in done
              if what in ("moved", "registered")]
    on, by_move, code = max(homes)
    if by_move and code in OUTSIDE:
        return None, RULE_ENDED_MOVED_OUT
    transfers = [on for what, on, _ in done if what == "transferred"]
    if transfers and not _left_between(kind, changes, max(transfers), day):
        return SOCIAL, RULE_TRANSFERRED
    if kind == "pupil":
        return SCHOOL_A, RULE_PRINCIPAL
    return (BHV[code], RULE_BHV_HOME) if code in BHV else (None, RULE_GAP_BHV)


def _left_between(kind: str, changes: list[tuple[str, dt.date, str | None]], first: dt.date, last: dt.date) -> bool:
    """Whether the child had left on some day from ``first`` to ``last``: the stage changed."""
    days = (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    return any(ref_assignment(kind, [c for c in changes if c[0] != "transferred"], d)[1]
               in (RULE_ENDED_DEATH, RULE_ENDED_EMIGRATED, RULE_ENDED_MOVED_OUT) for d in days)


# -- the product's facts ----------------------------------------------------------------------

def facts(kind: str, changes: list[tuple[str, dt.date, str | None]]) -> list[Event]:
    long_ago = START - dt.timedelta(days=1000)
    birth = START - dt.timedelta(days=(8 if kind == "pupil" else 2) * 365)
    out = [event(ChildRegistered, long_ago, birth_date=birth, municipality_code="0780")]
    if kind == "pupil":
        out.append(event(SchoolPlacementStarted, long_ago, placement_id="p1", school_unit_id=SCHOOL_A,
                         school_type=SchoolType.COMPULSORY, municipality_code="0780", start_date=long_ago))
    for n, (what, on, code) in enumerate(changes):
        if what == "moved":
            out.append(event(ChildMoved, on, n, from_municipality_code=None, to_municipality_code=code, moved_on=on))
        elif what == "registered":
            out.append(event(ChildRegistered, on, n, birth_date=birth, municipality_code=code))
        elif what == "died":
            out.append(event(ChildDied, on, n, died_on=on))
        elif what == "emigrated":
            out.append(event(ChildEmigrated, on, n, emigrated_on=on))
        else:
            out.append(event(NamedPersonTransferred, on, n, to_org=SOCIAL, from_org=None, reason_code="SAFE_PLACE"))
    return out


DAYS = st.integers(0, WINDOW).map(lambda n: START + dt.timedelta(days=n))
CHANGES = st.lists(st.one_of(
    st.tuples(st.just("moved"), DAYS, st.sampled_from(COUNTY + OUTSIDE)),
    st.tuples(st.just("registered"), DAYS, st.sampled_from(COUNTY + OUTSIDE)),
    st.tuples(st.just("died"), DAYS, st.none()),
    st.tuples(st.just("emigrated"), DAYS, st.none()),
    st.tuples(st.just("transferred"), DAYS, st.none()),
), max_size=5).filter(lambda cs: len({(on, what == "moved") for what, on, _ in cs if what in ("moved", "registered")})
                      == sum(what in ("moved", "registered") for what, _, _ in cs))  # one home a kind a day


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["toddler", "pupil"]), CHANGES)
def test_the_named_person_and_the_gaps_lists_follow_the_child_out_and_back(kind: str, changes: list) -> None:
    note(f"{kind} {changes}")
    life = reduce(apply, facts(kind, changes), ChildLife())
    for n in range(-1, WINDOW + 2):
        day = START + dt.timedelta(days=n)
        a = assignment(life, day, CONFIG)
        expected = ref_assignment(kind, changes, day)
        assert (a.organisation_id, a.rule) == expected, day
        on_list = {c for ids in gaps([(CHILD, life)], day, CONFIG).values() for c in ids}
        assert (CHILD in on_list) == (expected[1] == RULE_GAP_BHV) == is_gap(a), day
    # Every change the days show is in the history the projector announces from.
    seen = {ref_assignment(kind, changes, START + dt.timedelta(days=n)) for n in range(WINDOW + 1)}
    told = {(h.organisation_id, h.rule) for h in history(life, CONFIG, START + dt.timedelta(days=WINDOW))}
    assert seen <= told


def test_a_move_between_the_countys_municipalities_moves_the_child_to_the_new_gaps_list() -> None:
    move = START + dt.timedelta(days=10)
    life = reduce(apply, facts("toddler", [("moved", move, "0767")]), ChildLife())
    before, after = move - dt.timedelta(days=1), move
    assert gaps([(CHILD, life)], before, CONFIG) == {}
    assert gaps([(CHILD, life)], after, CONFIG) == {"0767": [CHILD]}
    back = reduce(apply, facts("toddler", [("moved", move, "0767"), ("moved", move + dt.timedelta(days=5), "0764")]),
                  ChildLife())
    assert gaps([(CHILD, back)], move + dt.timedelta(days=5), CONFIG) == {}
    a = assignment(back, move + dt.timedelta(days=5), CONFIG)
    assert (a.organisation_id, a.rule, a.since) == ("bhv-0764", RULE_BHV_HOME, move + dt.timedelta(days=5))


def test_the_day_of_death_ends_the_named_person_for_ever_with_its_date() -> None:
    died = START + dt.timedelta(days=30)
    life = reduce(apply, facts("pupil", [("died", died, None), ("moved", died + dt.timedelta(days=3), "0764"),
                                         ("registered", died + dt.timedelta(days=4), "0780")]), ChildLife())
    assert assignment(life, died - dt.timedelta(days=1), CONFIG).rule == RULE_PRINCIPAL
    for day in (died, died + dt.timedelta(days=5), died + dt.timedelta(days=4000)):
        a = assignment(life, day, CONFIG)
        assert (a.organisation_id, a.rule, a.since) == (None, RULE_ENDED_DEATH, died)
    assert gaps([(CHILD, life)], died, CONFIG) == {}
