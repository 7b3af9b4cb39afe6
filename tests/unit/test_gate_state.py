"""The gate's per-child record in its table: what ``dumps`` writes, ``loads`` reads back whole."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from projections.consent_rules import Custody, Lapse
from projections.consents import Consent, FactRef
from projections.gate import ChildGate, Fact
from projections.population import Resident
from schemas.events import Area, Basis, Category, Grantor, GrantorRole
from services.worker import gate_state
from services.worker.gate_state import ChildRecord, dumps, loads

T0 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
CHILD = uuid.UUID(int=7, version=4)
G1, G2 = uuid.UUID(int=8, version=4), uuid.UUID(int=9, version=4)


def record() -> ChildRecord:
    consents = (
        Consent(uuid.UUID(int=100, version=4), CHILD, frozenset({Category.HEALTH, Category.SCHOOL}),
                frozenset({"skola-1"}), T0, T0 + dt.timedelta(days=30)),
        Consent(uuid.UUID(int=101, version=4), CHILD, frozenset({Category.HEALTH}), frozenset({"bvc-1", "skola-2"}),
                T0, T0 + dt.timedelta(days=3), frozenset({"bvc-1"}), frozenset({Area.HEALTH}),
                T0 + dt.timedelta(days=1), frozenset({Grantor(G1, GrantorRole.GUARDIAN), Grantor(CHILD, GrantorRole.CHILD)}),
                T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=5), Lapse.CUSTODY),
    )
    resident = Resident(CHILD, dt.date(2012, 2, 29), False,
                        (Custody(T0 - dt.timedelta(days=900), "r1", frozenset({G1, G2})),
                         Custody(T0 + dt.timedelta(hours=5), "r2", frozenset({G1}))),
                        (dt.date(2012, 3, 1), "e1", "0780"), True, G2)
    facts = [Fact(uuid.UUID(int=n + 1, version=4), FactRef(CHILD, "bvc-1", Category.HEALTH,
                                                           None if n == 2 else Area.HEALTH, Basis.CONSENT), n)
             for n in range(5)]
    gate = ChildGate(consents=consents, held=(facts[3], facts[4]),
                     released=((facts[0], (consents[0].consent_id,)),
                               (facts[1], (consents[0].consent_id, consents[1].consent_id)), (facts[2], ())),
                     next_seq=5, resident=resident)
    return ChildRecord(gate, {"intake.health": 41, "consent": 3},
                       {facts[3].event_id: (consents[1].consent_id,)})


def test_a_record_reads_back_as_it_was_written() -> None:
    assert loads(CHILD, dumps(CHILD, record())) == record()
    assert loads(CHILD, dumps(CHILD, ChildRecord())) == ChildRecord()
    assert loads(CHILD, None) == ChildRecord()


def test_the_cached_fragments_make_the_same_json_as_encoding_it_whole() -> None:
    gate_state._FRAGMENTS.clear()
    first = dumps(CHILD, record())
    again = dumps(CHILD, record())  # now from the fragments
    assert first == again
    assert json.loads(again)["r"][1][1] == [str(uuid.UUID(int=100, version=4)), str(uuid.UUID(int=101, version=4))]
    assert len(gate_state._FRAGMENTS) == 5


def test_the_fragment_cache_stays_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(gate_state, "FRAGMENTS_KEPT", 3)
    gate_state._FRAGMENTS.clear()
    assert loads(CHILD, dumps(CHILD, record())) == record()
    assert len(gate_state._FRAGMENTS) <= 3


def _fresh(r: ChildRecord) -> ChildRecord:
    """The same record without what its last writes remembered."""
    return ChildRecord(r.gate, dict(r.applied), dict(r.revoked))


def test_a_record_written_again_and_again_makes_the_json_of_a_first_write() -> None:
    from projections.gate import on_consent, on_fact

    r = record()
    consent = r.gate.consents[0]
    steps = 0
    for n in range(6):  # facts join: held (no area covered) or released at the end of their list
        fact = FactRef(CHILD, "bvc-1", Category.HEALTH, Area.HEALTH if n % 2 else None, Basis.CONSENT)
        r.gate, _ = on_fact(r.gate, uuid.UUID(int=1000 + n, version=4), fact, T0)
        assert dumps(CHILD, r) == dumps(CHILD, _fresh(r))
        steps += 1
    # A withdrawal moves released facts back to held: both lists change in the middle.
    r.gate, out = on_consent(r.gate, Consent(consent.consent_id, CHILD, consent.categories, consent.recipients,
                                              consent.valid_from, consent.valid_to, withdrawn_at=T0), T0)
    assert out and dumps(CHILD, r) == dumps(CHILD, _fresh(r))
    assert dumps(CHILD, r) == dumps(CHILD, r)  # unchanged lists: the last write's JSON as it was
    assert loads(CHILD, dumps(CHILD, r)) == _fresh(r) and steps == 6


def test_a_childs_death_emigrations_and_registrations_read_back() -> None:
    """Issue 15: the register's end of a residence survives a restart of the gate."""
    r = record()
    resident = r.gate.resident
    assert resident is not None
    ended = Resident(CHILD, resident.birth_date, False, resident.custody, resident.home, True, G2,
                     dt.date(2026, 5, 3), (dt.date(2026, 4, 10), dt.date(2026, 4, 20)),
                     (dt.date(2012, 3, 1), dt.date(2026, 4, 15)))
    r.gate = ChildGate(r.gate.consents, r.gate.held, r.gate.released, r.gate.next_seq, ended)
    back = loads(CHILD, dumps(CHILD, r)).gate.resident
    assert back == ended and back.emigrated_on == dt.date(2026, 4, 20) and back.died_on == dt.date(2026, 5, 3)


def test_a_record_written_before_issue_15_reads_with_no_end_of_residence() -> None:
    data = json.loads(dumps(CHILD, record()))
    data["p"] = data["p"][:6]  # the register as an older gate wrote it
    resident = loads(CHILD, json.dumps(data).encode()).gate.resident
    assert resident is not None and resident.died_on is None and resident.emigrations == ()
    assert resident.registrations == () and resident.custody == record().gate.resident.custody


def test_the_registers_json_is_reused_while_the_register_is_the_same_object() -> None:
    r = record()
    first = dumps(CHILD, r)
    assert r.written["p"][0][0] is r.gate.resident
    assert dumps(CHILD, r) == first  # from the cache
    r.gate = ChildGate(r.gate.consents, r.gate.held, r.gate.released, r.gate.next_seq, None)
    assert json.loads(dumps(CHILD, r))["p"] is None  # a new register object: encoded again
