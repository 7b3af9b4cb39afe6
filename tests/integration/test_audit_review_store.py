"""Reviews of emergency accesses in ``AuditStore``, on SQLite and on PostgreSQL (STYLE 8): logged in
the hash chain, found by the access they review, and every edit of a review's row found by ``verify``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from projections.audit import AuditKind, ProblemKind
from projections.audit_store import AuditStore
from services.sql.db import make_engine, migrate
from tests.unit.test_audit_chain import CHILD, emergency, viewed
from tests.unit.test_audit_review import CIPHERTEXT, review

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def store(hub_engine: Engine) -> AuditStore:
    return AuditStore(hub_engine, signer=KEY, checkpoint_every=100)


def logged(store: AuditStore) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Two emergency accesses, a view, and a review of the first: seqs 1..4."""
    first, second = emergency(1), emergency(2)
    reviewed = review(4, first.event_id)
    assert store.append([first, second, viewed(3), reviewed]) == 4
    return first.event_id, second.event_id, reviewed.event_id


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def test_a_review_is_logged_and_found_by_the_access_it_reviews(store: AuditStore) -> None:
    first, second, reviewed = logged(store)
    [entry] = store.reviews_of([first, second, uuid.uuid4()])
    assert (entry.seq, entry.event_id, entry.kind) == (4, reviewed, AuditKind.REVIEW)
    assert entry.reviews == first and entry.sealed == CIPHERTEXT and entry.child_id == CHILD
    assert store.reviews_of([second]) == [] and store.reviews_of([]) == []
    assert [e.seq for e in store.entries_for_child(CHILD)] == [1, 2, 3, 4]  # in the child's log extract
    assert [e.event_id for e in store.emergency_accesses()] == [first, second]  # a review is no emergency access
    assert store.verify(KEY.public_key()) == []


def test_an_emergency_access_is_found_by_its_id_and_nothing_else_is(store: AuditStore) -> None:
    first, _, reviewed = logged(store)
    found = store.emergency_access(first)
    assert found is not None and found.kind is AuditKind.EMERGENCY and found.seq == 1
    assert store.emergency_access(reviewed) is None  # a review's id
    assert store.emergency_access(viewed(3).event_id) is None  # a view's id
    assert store.emergency_access(uuid.uuid4()) is None


def test_a_review_redelivered_is_logged_once(store: AuditStore) -> None:
    first, _, _ = logged(store)
    assert store.append([review(4, first)]) == 0
    assert len(store.reviews_of([first])) == 1


def test_many_accesses_are_looked_up_in_batches(store: AuditStore) -> None:
    openings = [emergency(i) for i in range(1, 1_201)]
    store.append(openings + [review(2_000 + i, o.event_id) for i, o in enumerate(openings) if i % 2])
    assert len(store.reviews_of(o.event_id for o in openings)) == 600


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET sealed = :other WHERE seq = 4",
    "UPDATE audit_log SET sealed = NULL WHERE seq = 4",
    "UPDATE audit_log SET reviews = :access WHERE seq = 4",
    "UPDATE audit_log SET reviews = :access WHERE seq = 3",
    "UPDATE audit_log SET sealed = :other WHERE seq = 3",
], ids=["comment-swapped", "comment-removed", "review-moved-to-another-access", "view-made-a-review",
        "ciphertext-added-to-a-view"])
def test_verify_finds_every_edit_of_a_review_column(store: AuditStore, hub_engine: Engine, statement: str) -> None:
    _, second, _ = logged(store)
    seq = int(statement.rsplit("= ", 1)[1])
    sql(hub_engine, statement, other=b"\x01" + bytes(40), access=str(second))
    problems = store.verify(KEY.public_key())
    assert [(p.kind, p.seq) for p in problems] == [(ProblemKind.ENTRY_ALTERED, seq)]


def test_verify_finds_a_comment_that_is_no_longer_bytes(tmp_path: Path) -> None:
    """SQLite only: PostgreSQL refuses text in a bytea column, SQLite stores any type anywhere."""
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    store = AuditStore(engine, signer=KEY, checkpoint_every=100)
    logged(store)
    sql(engine, "UPDATE audit_log SET sealed = 'not bytes' WHERE seq = 4")
    assert [(p.kind, p.seq) for p in store.verify(KEY.public_key())] == [(ProblemKind.ENTRY_UNREADABLE, 4)]
    engine.dispose()


def test_a_deleted_review_is_found(store: AuditStore, hub_engine: Engine) -> None:
    logged(store)
    store.append([viewed(5)])
    sql(hub_engine, "DELETE FROM audit_log WHERE seq = 4")
    assert (ProblemKind.ENTRIES_MISSING, 4) in {(p.kind, p.seq) for p in store.verify(KEY.public_key())}
