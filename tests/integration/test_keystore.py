"""One contract suite for ``SqlKeyStore``, run on SQLite and on PostgreSQL (STYLE 8).

PostgreSQL comes from ``KRONOBARN_TEST_POSTGRES_URL``. Other suites share that database, so
this session works in its own schema (``kb_test_<random>``) and drops it at the end.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select, text, update

from schemas.sealing import ERASED, ChildErased, Personal, Sealer, SealError
from services.sql.db import migrate
from services.sql.keystore import KeyUnwrapError, SqlKeyStore
from services.sql.schema import child_keys, erased_children, metadata

MASTER_KEY = bytes(range(32))
OTHER_MASTER_KEY = bytes(range(1, 33))
RACERS = 8

@pytest.fixture
def engine(hub_engine: Engine) -> Engine:
    return hub_engine


@pytest.fixture
def store(engine: Engine) -> SqlKeyStore:
    return SqlKeyStore(engine, MASTER_KEY)


@pytest.fixture
def sealer(store: SqlKeyStore) -> Sealer:
    return Sealer(store)


def child() -> uuid.UUID:
    return uuid.uuid4()


def race(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls on threads released together; results (or raised errors) in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        barrier.wait()
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each racer got
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def key_rows(engine: Engine, child_id: uuid.UUID) -> list[bytes]:
    with engine.connect() as connection:
        query = select(child_keys.c.wrapped_key).where(child_keys.c.child_id == str(child_id))
        return list(connection.scalars(query))


# --- creating and reading keys ------------------------------------------------------------


def test_get_or_create_then_get_returns_the_same_key(store: SqlKeyStore) -> None:
    child_id = child()
    key = store.get_or_create(child_id)
    assert len(key) == 32
    assert store.get_or_create(child_id) == key
    assert store.get(child_id) == key


def test_get_of_unknown_child_is_none(store: SqlKeyStore) -> None:
    assert store.get(child()) is None


def test_different_children_get_different_keys(store: SqlKeyStore) -> None:
    assert store.get_or_create(child()) != store.get_or_create(child())


def test_stored_key_is_wrapped_not_plaintext(store: SqlKeyStore, engine: Engine) -> None:
    child_id = child()
    key = store.get_or_create(child_id)
    [wrapped] = key_rows(engine, child_id)
    assert key not in wrapped


def test_key_survives_a_new_store_with_the_same_master_key(engine: Engine) -> None:
    child_id = child()
    key = SqlKeyStore(engine, MASTER_KEY).get_or_create(child_id)
    assert SqlKeyStore(engine, MASTER_KEY).get(child_id) == key


def test_wrong_master_key_fails_loudly(store: SqlKeyStore, engine: Engine) -> None:
    child_id = child()
    store.get_or_create(child_id)
    with pytest.raises(KeyUnwrapError):
        SqlKeyStore(engine, OTHER_MASTER_KEY).get(child_id)


def test_key_row_moved_to_another_child_fails(store: SqlKeyStore, engine: Engine) -> None:
    source, target = child(), child()
    store.get_or_create(source)
    store.get_or_create(target)
    [wrapped] = key_rows(engine, source)
    with engine.begin() as connection:
        connection.execute(
            update(child_keys)
            .where(child_keys.c.child_id == str(target))
            .values(wrapped_key=wrapped)
        )
    with pytest.raises(KeyUnwrapError):
        store.get(target)


def test_concurrent_get_or_create_yields_one_key(store: SqlKeyStore, engine: Engine) -> None:
    child_id = child()
    keys = race([lambda: store.get_or_create(child_id)] * RACERS)
    assert all(isinstance(key, bytes) for key in keys), keys
    assert len(set(keys)) == 1
    assert len(key_rows(engine, child_id)) == 1


# --- erasure -------------------------------------------------------------------------------


def test_erase_makes_get_return_none(store: SqlKeyStore, engine: Engine) -> None:
    child_id = child()
    store.get_or_create(child_id)
    assert store.erase(child_id) is True
    assert store.get(child_id) is None
    assert store.is_erased(child_id)
    assert key_rows(engine, child_id) == []


def test_get_or_create_after_erase_raises(store: SqlKeyStore) -> None:
    child_id = child()
    store.get_or_create(child_id)
    store.erase(child_id)
    with pytest.raises(ChildErased):
        store.get_or_create(child_id)


def test_erase_of_a_child_without_key_still_forbids_new_keys(store: SqlKeyStore) -> None:
    child_id = child()
    assert store.erase(child_id) is False
    assert store.is_erased(child_id)
    with pytest.raises(ChildErased):
        store.get_or_create(child_id)


def test_erase_is_idempotent_and_keeps_the_first_reason(
    store: SqlKeyStore, engine: Engine
) -> None:
    child_id = child()
    store.get_or_create(child_id)
    assert store.erase(child_id, reason_code="gdpr_art17") is True
    assert store.erase(child_id, reason_code="again") is False
    with engine.connect() as connection:
        query = select(erased_children.c.reason_code).where(
            erased_children.c.child_id == str(child_id)
        )
        reasons = connection.scalars(query).all()
    assert reasons == ["gdpr_art17"]


def test_overlong_reason_code_is_refused_before_anything_changes(store: SqlKeyStore) -> None:
    child_id = child()
    key = store.get_or_create(child_id)
    with pytest.raises(ValueError, match="reason_code"):
        store.erase(child_id, reason_code="x" * 65)
    assert store.get(child_id) == key


def test_other_children_are_untouched_by_erasure(store: SqlKeyStore) -> None:
    erased, kept = child(), child()
    store.get_or_create(erased)
    kept_key = store.get_or_create(kept)
    store.erase(erased)
    assert store.get(kept) == kept_key
    assert not store.is_erased(kept)


def test_erase_racing_get_or_create_leaves_no_key(store: SqlKeyStore, engine: Engine) -> None:
    children = [child() for _ in range(2 * RACERS)]
    for child_id in children:
        creators = [lambda c=child_id: store.get_or_create(c)] * 3
        *created, _ = race([*creators, lambda c=child_id: store.erase(c)])
        assert all(isinstance(result, bytes | ChildErased) for result in created), created
    for child_id in children:
        assert store.is_erased(child_id)
        assert store.get(child_id) is None
        assert key_rows(engine, child_id) == []


# --- with the Sealer -----------------------------------------------------------------------


def test_sealed_before_erasure_opens_as_erased(sealer: Sealer, store: SqlKeyStore) -> None:
    child_id = child()
    box = sealer.seal(child_id, Personal({"personnummer": "201001012383"}))
    assert sealer.open(child_id, box) == Personal({"personnummer": "201001012383"})
    store.erase(child_id)
    assert sealer.open(child_id, box) is ERASED


def test_tampered_sealed_bytes_raise(sealer: Sealer) -> None:
    child_id = child()
    box = bytearray(sealer.seal(child_id, Personal({"name": "Alva"})))
    box[-1] ^= 0x01
    with pytest.raises(SealError):
        sealer.open(child_id, bytes(box))


def test_sealing_for_an_erased_child_raises(sealer: Sealer, store: SqlKeyStore) -> None:
    child_id = child()
    store.erase(child_id)
    with pytest.raises(ChildErased):
        sealer.seal(child_id, Personal({"name": "Alva"}))


# --- migrations ----------------------------------------------------------------------------


def test_migrate_twice_is_a_no_op(engine: Engine, store: SqlKeyStore) -> None:
    child_id = child()
    key = store.get_or_create(child_id)
    migrate(engine)
    migrate(engine)
    assert store.get(child_id) == key


def test_concurrent_migrations_do_not_collide(engine: Engine) -> None:
    results = race([lambda: migrate(engine)] * 3)
    assert results == [None, None, None]


def test_migrated_schema_matches_the_table_definitions(engine: Engine) -> None:
    with engine.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), metadata)
    assert drift == []


def test_database_keeps_one_version_row(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(text("alembic_version"))) == 1
