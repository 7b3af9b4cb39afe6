"""One contract suite for ``AuditStore``, run on SQLite and on PostgreSQL (STYLE 8).

The tampering tests change the tables with raw SQL, as someone with database access would,
and check that ``verify`` names what happened.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from projections.audit import AuditKind, ProblemKind, chain
from projections.audit_store import AuditStore, AuditTailNotIntact, Position, audit_log
from schemas.events import ChildMoved
from tests.unit.test_audit_chain import CHILD, T0, emergency, envelope, viewed

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key()
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
OTHER_CHILD = uuid.UUID("0f6a2d1e-3b7c-4e59-8a61-5d4c3b2a1908")
TOPIC = "access"


@pytest.fixture
def store(hub_engine: Engine) -> AuditStore:
    return AuditStore(hub_engine, signer=KEY, checkpoint_every=4)


def events(first: int, last: int) -> list:
    """Views of CHILD, every fifth an emergency access, every third of another child."""
    out = []
    for i in range(first, last + 1):
        if i % 5 == 0:
            out.append(emergency(i))
        else:
            out.append(viewed(i, OTHER_CHILD if i % 3 == 0 else CHILD))
    return out


def rows(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT seq, event_id, hash FROM audit_log ORDER BY seq")))


def sql(engine: Engine, *statements: str) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def forge_checkpoint(engine: Engine, seq: int) -> None:
    """What someone without the signing key can write: a checkpoint with a made-up signature."""
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO audit_checkpoints (seq, hash, signature, signed_at) VALUES (:seq, :hash, :sig, :at)"),
            {"seq": seq, "hash": "0" * 64, "sig": bytes(64), "at": T0},
        )


def kinds_at(problems: list) -> set[tuple[ProblemKind, int | None]]:
    return {(p.kind, p.seq) for p in problems}


# --- appending -----------------------------------------------------------------------------


def test_append_logs_every_access_in_order(store: AuditStore) -> None:
    batch = events(1, 10)
    assert store.append(batch) == 10
    stats = store.stats()
    assert (stats.entries, stats.last_seq) == (10, 10)
    for_child = store.entries_for_child(CHILD)
    assert [e.event_id for e in for_child] == [e.event_id for e in batch if e.child_id == CHILD]
    assert [e.seq for e in for_child] == sorted(e.seq for e in for_child)
    assert store.verify(PUBLIC) == []


def test_stored_entries_read_back_exactly(store: AuditStore) -> None:
    store.append([viewed(1), emergency(5)])
    view, emergency_entry = store.entries_for_child(CHILD)
    assert view.parts == ("plan", "facts.health")
    assert view.occurred_at == T0 + dt.timedelta(minutes=1)
    assert view.occurred_at.tzinfo is not None
    assert emergency_entry.kind is AuditKind.EMERGENCY
    assert emergency_entry.purpose == "acute_risk"
    assert emergency_entry.expires_at == T0 + dt.timedelta(days=3)


def test_reappending_the_same_events_changes_nothing(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 6))
    before = rows(hub_engine)
    assert store.append(events(1, 6)) == 0
    assert store.append(events(3, 4)) == 0
    assert rows(hub_engine) == before


def test_duplicates_inside_one_batch_are_logged_once(store: AuditStore) -> None:
    assert store.append([viewed(1), viewed(2), viewed(1)]) == 2


def test_a_partly_new_batch_appends_only_the_new_events(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 4))
    assert store.append(events(3, 7)) == 3
    assert [row.seq for row in rows(hub_engine)] == list(range(1, 8))
    assert store.verify(PUBLIC) == []


def test_large_batches_are_chained_across_inserts_and_lookups(hub_engine: Engine) -> None:
    store = AuditStore(hub_engine, signer=KEY, checkpoint_every=1_000)
    many = [viewed(i) for i in range(1, 2_601)]
    assert store.append(many[:1_300]) == 1_300
    assert store.append(many) == 1_300
    stats = store.stats()
    assert (stats.entries, stats.checkpoints, stats.last_checkpoint_seq) == (2_600, 2, 2_000)
    assert store.verify(PUBLIC) == []


def test_position_is_written_with_the_rows_and_only_moves_forward(store: AuditStore) -> None:
    store.append(events(1, 3), position=Position(TOPIC, 0, 41))
    store.append(events(4, 5), position=[Position(TOPIC, 0, 44), Position(TOPIC, 2, 7)])
    store.append(events(1, 2), position=Position(TOPIC, 0, 40))  # a redelivery
    assert store.positions() == {(TOPIC, 0): 44, (TOPIC, 2): 7}


def test_a_failed_batch_writes_neither_rows_nor_position(store: AuditStore) -> None:
    moved = ChildMoved(envelope=envelope(99, "ChildMoved"), to_municipality_code="0780", moved_on=T0.date())
    with pytest.raises(TypeError):
        store.append([viewed(1), moved], position=Position(TOPIC, 0, 9))
    assert store.stats().entries == 0
    assert store.positions() == {}


def test_concurrent_appenders_build_one_chain(hub_engine: Engine) -> None:
    store = AuditStore(hub_engine, signer=KEY, checkpoint_every=10)
    batches = [[viewed(100 * b + i) for i in range(20)] for b in range(6)]
    barrier = threading.Barrier(len(batches))

    def append(batch: list) -> int:
        barrier.wait()
        return store.append(batch)

    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        assert sum(pool.map(append, batches)) == 120
    assert [row.seq for row in rows(hub_engine)] == list(range(1, 121))
    assert store.verify(PUBLIC) == []


# --- reading -----------------------------------------------------------------------------


def test_extract_is_one_child_within_a_time_window(store: AuditStore) -> None:
    store.append(events(1, 20))
    since, until = T0 + dt.timedelta(minutes=4), T0 + dt.timedelta(minutes=11)
    extract = store.extract(CHILD, since, until)
    assert extract and all(e.child_id == CHILD and since <= e.occurred_at < until for e in extract)
    assert [e.occurred_at.minute for e in extract] == [4, 5, 7, 8, 10]
    cet = dt.timezone(dt.timedelta(hours=1))
    assert store.extract(CHILD, since.astimezone(cet), until.astimezone(cet)) == extract
    assert store.extract(CHILD) == store.entries_for_child(CHILD)


def test_emergency_accesses_are_listed_for_review(store: AuditStore) -> None:
    store.append(events(1, 20))
    listed = store.emergency_accesses()
    assert [e.seq for e in listed] == [5, 10, 15, 20]
    assert {e.kind for e in listed} == {AuditKind.EMERGENCY}
    assert [e.seq for e in store.emergency_accesses(since=T0 + dt.timedelta(minutes=12))] == [15, 20]


# --- checkpoints -------------------------------------------------------------------------


def test_append_signs_a_checkpoint_every_n_entries(store: AuditStore) -> None:
    store.append(events(1, 3))
    assert store.checkpoints() == []
    store.append(events(4, 10))
    assert [c.seq for c in store.checkpoints()] == [4, 8]


def test_without_a_signer_append_signs_nothing(hub_engine: Engine) -> None:
    store = AuditStore(hub_engine, checkpoint_every=2)
    store.append(events(1, 6))
    assert store.checkpoints() == []
    assert store.verify(PUBLIC) == []


def test_checkpoint_on_demand_signs_the_head_once(store: AuditStore) -> None:
    assert store.checkpoint(KEY) is None  # empty log
    store.append(events(1, 6))
    checkpoint = store.checkpoint(KEY)
    assert checkpoint is not None and checkpoint.seq == 6
    assert store.checkpoint(KEY) == checkpoint
    assert [c.seq for c in store.checkpoints()] == [4, 6]
    assert store.stats().unsigned == 0
    assert store.verify(PUBLIC) == []


def test_checkpoint_refuses_to_sign_a_tampered_tail(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 6))
    sql(hub_engine, "UPDATE audit_log SET role = 'administrator' WHERE seq = 5")
    with pytest.raises(AuditTailNotIntact) as refused:
        store.checkpoint(KEY)
    assert kinds_at(list(refused.value.problems)) == {(ProblemKind.ENTRY_ALTERED, 5)}
    assert [c.seq for c in store.checkpoints()] == [4]


def test_append_does_not_sign_over_a_tampered_tail(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 6))
    sql(hub_engine, "UPDATE audit_log SET purpose = 'curiosity' WHERE seq = 6")
    store.append(events(7, 9))  # seq 8 falls due, but 6 does not verify
    assert [c.seq for c in store.checkpoints()] == [4]
    assert (ProblemKind.ENTRY_ALTERED, 6) in kinds_at(store.verify(PUBLIC))


# --- tampering with raw SQL ----------------------------------------------------------------


def test_an_updated_field_is_caught(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 10))
    sql(hub_engine, "UPDATE audit_log SET organisation_id = 'kommun-0764-soc' WHERE seq = 3")
    [problem] = store.verify(PUBLIC)
    assert (problem.kind, problem.seq) == (ProblemKind.ENTRY_ALTERED, 3)
    assert str(problem.event_id) in problem.message


@pytest.mark.parametrize(
    "column, value",
    [("parts", "'[\"plan\"]'"), ("child_id", f"'{OTHER_CHILD}'"), ("occurred_at", "expires_at"),
     ("expires_at", "NULL"), ("kind", "'view'")],
)
def test_each_field_is_covered_by_the_hash(store: AuditStore, hub_engine: Engine, column: str, value: str) -> None:
    store.append(events(1, 6))
    sql(hub_engine, f"UPDATE audit_log SET {column} = {value} WHERE seq = 5")
    assert kinds_at(store.verify(PUBLIC)) == {(ProblemKind.ENTRY_ALTERED, 5)}


def test_a_field_altered_into_garbage_is_caught_not_crashed_on(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 6))
    sql(hub_engine, "UPDATE audit_log SET parts = 'not json' WHERE seq = 2",
        "UPDATE audit_log SET event_id = 'not-a-uuid' WHERE seq = 4")
    problems = store.verify(PUBLIC)
    assert kinds_at(problems) == {(ProblemKind.ENTRY_UNREADABLE, 2), (ProblemKind.ENTRY_UNREADABLE, 4)}
    assert all("not json" not in p.message and "not-a-uuid" not in p.message for p in problems)


# SQLite only: PostgreSQL enforces column types, SQLite stores whatever it is given.
@pytest.mark.parametrize("hub_engine", ["sqlite"], indirect=True)
def test_values_of_the_wrong_type_are_caught_not_crashed_on(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 10))
    sql(hub_engine,
        "UPDATE audit_log SET occurred_at = 'garbage' WHERE seq = 2",
        "UPDATE audit_log SET prev_hash = X'00' WHERE seq = 3",
        "UPDATE audit_log SET seq = 'abc' WHERE seq = 10",
        "UPDATE audit_checkpoints SET signature = 'text' WHERE seq = 4",
        "UPDATE audit_checkpoints SET signed_at = 42 WHERE seq = 8")
    problems = store.verify(PUBLIC)
    assert {(ProblemKind.ENTRY_UNREADABLE, 2), (ProblemKind.ENTRY_ALTERED, 3), (ProblemKind.ENTRY_UNREADABLE, None),
            (ProblemKind.CHECKPOINT_UNREADABLE, 4), (ProblemKind.CHECKPOINT_UNREADABLE, 8)} <= kinds_at(problems)
    assert all("garbage" not in p.message for p in problems)


def test_a_deleted_row_is_caught(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 10))
    sql(hub_engine, "DELETE FROM audit_log WHERE seq = 6")
    [problem] = store.verify(PUBLIC)
    assert problem.kind is ProblemKind.ENTRIES_MISSING
    assert "seq 6..6" in problem.message


def test_a_deleted_row_with_hashes_rewritten_is_caught_by_the_checkpoint(
    store: AuditStore, hub_engine: Engine
) -> None:
    store.append(events(1, 10))  # checkpoints at 4 and 8
    # A careful attacker deletes entry 2, then renumbers and rehashes everything after the hole.
    kept = [e for e in sorted(store.entries_for_child(CHILD) + store.entries_for_child(OTHER_CHILD),
                              key=lambda e: e.seq) if e.seq != 2]
    rechained = chain(dataclasses.replace(e, seq=i) for i, e in enumerate(kept, start=1))
    with hub_engine.begin() as connection:
        connection.execute(audit_log.delete())
        connection.execute(audit_log.insert(), [
            {
                "seq": link.seq, "event_id": str(link.entry.event_id), "kind": str(link.entry.kind),
                "occurred_at": link.entry.occurred_at, "viewer_id": link.entry.viewer_id,
                "role": link.entry.role, "organisation_id": link.entry.organisation_id,
                "child_id": str(link.entry.child_id), "purpose": link.entry.purpose,
                "parts": json.dumps(list(link.entry.parts)), "expires_at": link.entry.expires_at,
                "prev_hash": link.prev_hash, "hash": link.hash,
            }
            for link in rechained
        ])
    problems = store.verify(PUBLIC)
    assert kinds_at(problems) == {(ProblemKind.CHECKPOINT_MISMATCH, 4), (ProblemKind.CHECKPOINT_MISMATCH, 8)}


def test_swapped_seqs_are_caught_as_reordering(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 10))
    sql(
        hub_engine,
        "UPDATE audit_log SET seq = -1 WHERE seq = 6",
        "UPDATE audit_log SET seq = 6 WHERE seq = 7",
        "UPDATE audit_log SET seq = 7 WHERE seq = -1",
    )
    problems = store.verify(PUBLIC)
    assert {ProblemKind.ENTRY_REORDERED, ProblemKind.ENTRY_ALTERED} <= {p.kind for p in problems}
    assert {p.seq for p in problems} == {6, 7, 8}


def test_swapped_event_ids_are_caught(store: AuditStore, hub_engine: Engine) -> None:
    # Moving a field between rows, keeping each seq's hashes: both rows fail their own hash.
    store.append(events(1, 6))
    [(_, id3, _), (_, id4, _)] = rows(hub_engine)[2:4]
    sql(hub_engine, "UPDATE audit_log SET event_id = 'swap' WHERE seq = 3",
        f"UPDATE audit_log SET event_id = '{id3}' WHERE seq = 4",
        f"UPDATE audit_log SET event_id = '{id4}' WHERE seq = 3")
    assert kinds_at(store.verify(PUBLIC)) == {(ProblemKind.ENTRY_ALTERED, 3), (ProblemKind.ENTRY_ALTERED, 4)}


def test_an_edited_checkpoint_is_caught(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 10))
    [(_, _, hash5)] = [row for row in rows(hub_engine) if row.seq == 5]
    sql(hub_engine, f"UPDATE audit_checkpoints SET hash = '{hash5}', seq = 5 WHERE seq = 4")
    problems = store.verify(PUBLIC)
    assert kinds_at(problems) == {(ProblemKind.CHECKPOINT_FORGED, 5)}


def test_a_checkpoint_signed_with_another_key_is_caught(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 10))
    AuditStore(hub_engine).checkpoint(OTHER_KEY)
    assert kinds_at(store.verify(PUBLIC)) == {(ProblemKind.CHECKPOINT_FORGED, 10)}


def test_tail_truncated_past_a_checkpoint_is_caught(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 10))
    sql(hub_engine, "DELETE FROM audit_log WHERE seq >= 7")
    [problem] = store.verify(PUBLIC)
    assert (problem.kind, problem.seq) == (ProblemKind.CHECKPOINT_BEYOND_END, 8)


def test_appending_after_truncation_still_shows_it(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 10))
    sql(hub_engine, "DELETE FROM audit_log WHERE seq >= 7")
    store.append(events(11, 14))  # new entries take seq 7.. and cannot match checkpoint 8
    assert (ProblemKind.CHECKPOINT_MISMATCH, 8) in kinds_at(store.verify(PUBLIC))


def test_tail_truncated_after_the_last_checkpoint_is_the_documented_blind_spot(
    store: AuditStore, hub_engine: Engine
) -> None:
    store.append(events(1, 10))  # checkpoints at 4 and 8; 9 and 10 are unsigned
    assert store.stats().unsigned == 2
    sql(hub_engine, "DELETE FROM audit_log WHERE seq >= 9")
    assert store.verify(PUBLIC) == []


def test_a_forged_checkpoint_far_ahead_does_not_stop_signing(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 5))  # checkpoint at 4
    forge_checkpoint(hub_engine, 1000000)
    store.append(events(6, 9))
    assert [c.seq for c in store.checkpoints()] == [4, 8, 1_000_000]
    assert kinds_at(store.verify(PUBLIC)) == {(ProblemKind.CHECKPOINT_FORGED, 1_000_000)}


def test_checkpoint_on_demand_refuses_to_return_a_forged_head_checkpoint(store: AuditStore, hub_engine: Engine) -> None:
    store.append(events(1, 6))
    forge_checkpoint(hub_engine, 6)
    with pytest.raises(AuditTailNotIntact, match="checkpoint at seq 6 has an invalid signature"):
        store.checkpoint(KEY)
