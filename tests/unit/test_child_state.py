"""The combined child fold and the rows it gives: interleaving-proof, idempotent, purging."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import replace
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.child_state import ChildState, apply
from projections.named_person import assigned_events
from projections.read_model import actions, assessments, children, consents, meetings, plan_status, released_facts, rows
from schemas.codec import Codec
from schemas.events import Basis, Event, FactReleased, NamedPersonAssigned, ReleaseRevoked
from schemas.topics import TOPIC_OF_EVENT
from services.readmodel.engine import Projection, named_person_config
from services.settings import Settings
from tests.support.history import NAMESPACE, T0, child_history, event

CONFIG = named_person_config(Settings(_env_file=None))  # type: ignore[call-arg]
AT = T0 + dt.timedelta(days=1)


def _released(fact: Event, consent_ids: tuple[uuid.UUID, ...], n: int) -> FactReleased:
    """What the gate publishes for a consent-based fact."""
    env = replace(fact.envelope, event_id=uuid.uuid5(fact.event_id, f"release|{n}"), type="FactReleased",
                  occurred_at=T0 + dt.timedelta(minutes=20 + n), recorded_at=T0 + dt.timedelta(minutes=20 + n))
    return FactReleased(envelope=env, fact_event_id=fact.event_id, fact_type=type(fact).__name__,
                        consent_ids=consent_ids, fact=Codec().encode(fact))


def _streams(c: int, withdraw: bool = False) -> dict[str, list[Event]]:
    """One child's events per topic as the projector reads them (directory facts unwrapped)."""
    history = child_history(c, consent=True, plan=True, withdraw=withdraw)
    consent_id = next(e.consent_id for e in history if type(e).__name__ == "ConsentGranted")  # type: ignore[attr-defined]
    out: dict[str, list[Event]] = {"shared": [], "plan": [], "consent": []}
    for n, e in enumerate(history):
        topic = TOPIC_OF_EVENT[type(e)].name
        if topic.startswith("intake."):
            out["shared"].append(e if e.envelope.basis is Basis.DIRECTORY else _released(e, (consent_id,), n))
        else:
            out[topic].append(e)
    if withdraw:
        visit = next(e for e in out["shared"] if isinstance(e, FactReleased))
        env = replace(visit.envelope, event_id=uuid.uuid5(visit.event_id, "revoked"), type="ReleaseRevoked",
                      recorded_at=T0 + dt.timedelta(hours=1), occurred_at=T0 + dt.timedelta(hours=1))
        out["shared"].append(ReleaseRevoked(envelope=env, fact_event_id=visit.fact_event_id,
                                            ended_consent_ids=(consent_id,)))
    return out


def _fold(events: list[Event]) -> ChildState:
    state = ChildState.new(events[0].child_id)
    for e in events:
        state = apply(state, e)
    return state


def _interleave(streams: dict[str, list[Event]], seed: int) -> list[Event]:
    rng, queues, out = random.Random(seed), {k: list(v) for k, v in streams.items()}, []
    while any(queues.values()):
        topic = rng.choice([k for k, v in queues.items() if v])
        out.append(queues[topic].pop(0))
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), repeat=st.integers(0, 5))
def test_any_interleaving_of_the_topics_and_any_redelivery_give_equal_rows(seed: int, repeat: int) -> None:
    streams = _streams(4)
    in_order = _fold([e for topic in ("shared", "plan", "consent") for e in streams[topic]])
    shuffled = _interleave(streams, seed)
    shuffled = shuffled[: repeat + 1] + shuffled  # a redelivered prefix, as after a crash
    assert _fold(shuffled) == in_order
    assert rows(_fold(shuffled), AT, CONFIG) == rows(in_order, AT, CONFIG)


def test_rows_of_a_child_with_a_plan() -> None:
    state = _fold(_interleave(_streams(4), 1))
    got = rows(state, AT, CONFIG)
    (child,) = got[children]
    assert child["plan_status"] == "open" and child["lead_org"] == "SE2321000065-BHV0780"
    assert child["named_person_org"] == "skola-4" and not child["on_gaps_list"]
    assert child["guardians"].count('"') == 4  # two guardians, as JSON
    assert len(got[meetings]) == 1 and got[meetings][0]["decisions"].startswith("Beslut 4")
    assert [a["rating"] for a in got[assessments]] == [2 + 4 % 3] and got[assessments][0]["comment"]
    assert [a["status"] for a in got[actions]] == ["completed"]
    assert {f["fact_type"] for f in got[released_facts]} == {"HealthVisitRecorded", "AbsenceSummarised",
                                                                   "ReportOfConcernReceived"}
    assert len(got[consents]) == 1 and got[consents][0]["withdrawn_at"] is None


def test_a_revoked_release_leaves_no_row() -> None:
    got = rows(_fold(_interleave(_streams(4, withdraw=True), 2)), AT, CONFIG)
    assert "HealthVisitRecorded" not in {f["fact_type"] for f in got[released_facts]}
    assert got[consents][0]["withdrawn_at"] is not None


# -- the projector's own announcements ------------------------------------------------------------

def _announcements(c: int) -> list[NamedPersonAssigned]:
    """What the live projector publishes on ``plan`` for child ``c``: one per named-person change."""
    state = _fold([e for topic in ("shared", "plan", "consent") for e in _streams(c)[topic]])
    return assigned_events(state.child_id, state.life, CONFIG, AT.date())


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_announcements_read_back_from_plan_change_nothing(seed: int) -> None:
    """The projector reads ``plan``, where it announces: its announcements, any number of times
    and anywhere in the stream, leave the state and the rows as the facts alone make them."""
    streams, announced = _streams(4), _announcements(4)
    assert announced  # the child has a named person, so something was announced
    without = _fold([e for topic in ("shared", "plan", "consent") for e in streams[topic]])
    echoed = {**streams, "plan": [*announced, *streams["plan"], *announced]}
    assert _fold(_interleave(echoed, seed)) == without
    assert all(apply(without, a) is without for a in announced)
    assert rows(_fold(_interleave(echoed, seed)), AT, CONFIG) == rows(without, AT, CONFIG)


def test_the_engine_reads_announcements_past_without_making_a_child() -> None:
    """An announcement is dated by its change (``recorded_at`` is the change's day), so a replay
    ``--until`` a moment before the child's facts were recorded still reads it: it must not give
    the read model a child the hub did not know then, and live it must not mark a child changed."""
    codec, announced = Codec(), _announcements(4)
    before_the_facts = T0 - dt.timedelta(hours=1)
    assert all(a.envelope.recorded_at <= before_the_facts for a in announced)
    facts = [e for e in _streams(4)["shared"] if e.envelope.sealed is None]
    records = [("plan", codec.encode(a)) for a in announced] + [("shared", codec.encode(e)) for e in facts]

    then = Projection(codec, until=before_the_facts)
    for offset, (topic, value) in enumerate(records):
        then.apply_record(topic, 0, offset, value)
    assert then.states == {} and then.dirty == set()
    assert then.positions == {("plan", 0): len(announced) - 1, ("shared", 0): len(records) - 1}  # read, all

    live = Projection(codec)
    for offset, (topic, value) in enumerate(records[len(announced):]):
        live.apply_record(topic, 0, offset, value)
    live.take_batch()
    for offset, (topic, value) in enumerate(records[:len(announced)], start=100):
        live.apply_record(topic, 0, offset, value)
    batch = live.take_batch()
    assert batch.states == {} and batch.positions[("plan", 0)] == 100 + len(announced) - 1


# -- the child's death and emigration (issue 15) -------------------------------------------------------

def _population(kind: str, child: uuid.UUID, on: dt.date, n: int) -> Event:
    """A register fact about ``child``, recorded on ``on`` at 14:00 UTC."""
    at = dt.datetime.combine(on, dt.time(14), tzinfo=dt.UTC)
    fields = {"ChildDied": {"died_on": on}, "ChildEmigrated": {"emigrated_on": on},
              "ChildRegistered": {"birth_date": dt.date(2015, 5, 5), "municipality_code": "0780"}}[kind]
    return event(kind, child, n, basis=Basis.DIRECTORY, org="navet", at=at, **fields)


def _swedish_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("Europe/Stockholm")).astimezone(dt.UTC)


def test_after_a_death_the_plan_reads_as_closed_and_the_named_person_and_consents_have_ended() -> None:
    streams = _streams(4)
    died_on = (T0 + dt.timedelta(days=2)).date()
    state = _fold(_interleave(streams, 3) + [_population("ChildDied", streams["shared"][0].child_id, died_on, 40)])
    before = rows(state, T0 + dt.timedelta(days=1), CONFIG)[children][0]
    assert (before["plan_status"], before["plan_closed_at"]) == ("open", None)
    got = rows(state, T0 + dt.timedelta(days=3), CONFIG)
    (child,) = got[children]
    assert child["died_on"] == died_on and child["plan_status"] == "closed"
    assert child["plan_closed_at"] == _swedish_midnight(died_on)
    assert (child["named_person_org"], child["named_person_rule"], child["on_gaps_list"]) == (
        None, "ended-death", False)
    assert [(c["lapse"], c["lapsed_at"]) for c in got[consents]] == [("death", _swedish_midnight(died_on))]
    assert plan_status(state, T0 + dt.timedelta(days=3)) == ("closed", _swedish_midnight(died_on), "CHILD_DIED")
    assert plan_status(state, T0 + dt.timedelta(days=1))[0] == "open"  # time travel to before the death


def test_a_plan_closed_before_the_death_keeps_its_own_close() -> None:
    streams = _streams(4)
    child = streams["shared"][0].child_id
    closed = event("PlanClosed", child, 30, basis=Basis.CONSENT, org="skola-4", at=T0 + dt.timedelta(hours=5),
                   plan_id=uuid.uuid5(NAMESPACE, "plan|4"), reason_code="GOALS_MET")
    state = _fold(_interleave(streams, 4) + [closed, _population("ChildDied", child, (T0 + dt.timedelta(days=2)).date(),
                                                                 41)])
    assert plan_status(state, T0 + dt.timedelta(days=3)) == ("closed", T0 + dt.timedelta(hours=5), "GOALS_MET")


def test_the_read_model_says_the_child_emigrated_until_it_is_registered_again() -> None:
    streams = _streams(5)
    child = streams["shared"][0].child_id
    left = (T0 + dt.timedelta(days=2)).date()
    gone = _fold(_interleave(streams, 5) + [_population("ChildEmigrated", child, left, 42)])
    (row,) = rows(gone, T0 + dt.timedelta(days=3), CONFIG)[children]
    assert row["emigrated_on"] == left and row["named_person_rule"] == "ended-emigrated"
    assert row["plan_status"] == "open"  # only a death closes the plan
    back = apply(gone, _population("ChildRegistered", child, left + dt.timedelta(days=6), 43))
    (row,) = rows(back, T0 + dt.timedelta(days=9), CONFIG)[children]
    assert row["emigrated_on"] is None and row["named_person_org"] == "skola-0"  # skola-{c % 5}
    assert rows(back, T0 + dt.timedelta(days=9), CONFIG)[consents][0]["lapse"] == "emigration"  # a lapse is final
