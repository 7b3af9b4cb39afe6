"""Identity registry and checkpoints, one contract suite on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select

from connectors import personnummer
from connectors.base import MappingError, Subject
from schemas.sealing import ERASED, Sealer
from services.ingest.checkpoints import SqlCheckpoints
from services.ingest.identity import IdentityRegistry
from services.sql.keystore import SqlKeyStore
from services.sql.schema import identity_handles

SECRET = b"test county secret, 32 bytes long!!"
PNR = personnummer.make(dt.date(2015, 3, 9), 931)
OTHER = personnummer.make(dt.date(2016, 4, 1), 944)


@pytest.fixture
def registry(hub_engine: Engine) -> IdentityRegistry:
    return IdentityRegistry(hub_engine, SECRET, Sealer(SqlKeyStore(hub_engine, bytes(32))))


def test_same_personnummer_same_child_in_any_spelling(registry: IdentityRegistry, hub_engine: Engine) -> None:
    a = registry.resolve(Subject(personnummer=PNR))
    fresh = IdentityRegistry(hub_engine, SECRET, Sealer(SqlKeyStore(hub_engine, bytes(32))))  # no cache
    assert fresh.resolve(Subject(personnummer=PNR.replace("-", ""))) == a
    assert registry.resolve(Subject(personnummer=OTHER)) != a


def test_child_id_is_random_not_derived(hub_engine: Engine) -> None:
    one = IdentityRegistry(hub_engine, SECRET, Sealer(SqlKeyStore(hub_engine, bytes(32))))
    a = one.resolve(Subject(personnummer=PNR))
    assert a.version == 4


def test_unborn_id_carries_over_at_birth(registry: IdentityRegistry) -> None:
    unborn = registry.resolve(Subject(pregnancy="preg-77"))
    born = registry.resolve(Subject(personnummer=PNR, pregnancy="preg-77"))
    assert born == unborn == registry.resolve(Subject(personnummer=PNR))


def test_invalid_personnummer_is_a_mapping_error_without_the_number(registry: IdentityRegistry) -> None:
    bad = PNR[:-1] + str((int(PNR[-1]) + 1) % 10)
    with pytest.raises(MappingError) as info:
        registry.resolve(Subject(personnummer=bad))
    assert bad not in str(info.value) and bad[:8] not in str(info.value)


def test_handles_are_hashed_and_sealed_never_plain(registry: IdentityRegistry, hub_engine: Engine) -> None:
    child = registry.resolve(Subject(personnummer=PNR))
    with hub_engine.connect() as c:
        rows = c.execute(select(identity_handles)).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.child_id == str(child) and len(row.handle_hmac) == 64
    assert PNR.encode() not in row.handle_sealed and PNR not in row.handle_hmac


def test_erasure_shreds_the_stored_personnummer(registry: IdentityRegistry, hub_engine: Engine) -> None:
    keys = SqlKeyStore(hub_engine, bytes(32))
    child = registry.resolve(Subject(personnummer=PNR))
    with hub_engine.connect() as c:
        sealed = c.scalar(select(identity_handles.c.handle_sealed))
    assert Sealer(keys).open(child, sealed).fields == {"handle": PNR}
    keys.erase(child, reason_code="TEST")
    assert Sealer(keys).open(child, sealed) is ERASED
    assert registry.resolve(Subject(personnummer=PNR)) == child  # the pseudonym stays stable


def test_concurrent_first_sight_yields_one_child(hub_engine: Engine) -> None:
    registries = [IdentityRegistry(hub_engine, SECRET, Sealer(SqlKeyStore(hub_engine, bytes(32)))) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(lambda r: r.resolve(Subject(personnummer=PNR)), registries))
    assert len(set(ids)) == 1


def test_checkpoints_survive_a_new_store(hub_engine: Engine) -> None:
    store = SqlCheckpoints(hub_engine)
    assert store.load("health") is None
    store.save("health", "a")
    store.save("health", "b")
    store.save("school", "x")
    assert SqlCheckpoints(hub_engine).load("health") == "b"
    assert SqlCheckpoints(hub_engine).load("school") == "x"


# -- the read-only lookup (the web service's search by personnummer) ------------------------------------------

def _handles(engine: Engine) -> int:
    with engine.connect() as c:
        return len(c.execute(select(identity_handles)).all())


def test_find_is_read_only_and_agrees_with_resolution(registry: IdentityRegistry, hub_engine: Engine) -> None:
    assert registry.find(PNR) is None and _handles(hub_engine) == 0  # never creates
    child = registry.resolve(Subject(personnummer=PNR))
    other = IdentityRegistry(hub_engine, SECRET, Sealer(SqlKeyStore(hub_engine, bytes(32))))  # another process
    assert other.find(PNR) == other.find(PNR.replace("-", "")) == child
    assert other.find(OTHER) is None and _handles(hub_engine) == 1
    wrong_secret = IdentityRegistry(hub_engine, b"another county's secret, 32 bytes",
                                    Sealer(SqlKeyStore(hub_engine, bytes(32))))
    assert wrong_secret.find(PNR) is None  # the index is keyed: without the county's secret it finds nobody


def test_find_follows_a_link_made_elsewhere_at_once(hub_engine: Engine) -> None:
    looker = IdentityRegistry(hub_engine, SECRET, Sealer(SqlKeyStore(hub_engine, bytes(32))))
    resolver = IdentityRegistry(hub_engine, SECRET, Sealer(SqlKeyStore(hub_engine, bytes(32))))
    unborn = resolver.resolve(Subject(pregnancy="preg-find"))
    # The unborn child's key exists before the link (in a running hub its pregnancy record was
    # sealed with it): on SQLite, ``_move`` creating it inside its own transaction locks the file.
    SqlKeyStore(hub_engine, bytes(32)).get_or_create(unborn)
    first = resolver.resolve(Subject(personnummer=PNR))  # seen apart before the birth record
    assert looker.find(PNR) == first
    resolver.resolve(Subject(personnummer=PNR, pregnancy="preg-find"))  # the birth ties them
    assert looker.find(PNR) == resolver.resolve(Subject(personnummer=PNR)) == unborn


def test_find_refuses_a_malformed_number_without_repeating_it(registry: IdentityRegistry) -> None:
    bad = PNR[:-1] + str((int(PNR[-1]) + 1) % 10)
    with pytest.raises(personnummer.PersonnummerError) as info:
        registry.find(bad)
    assert bad not in str(info.value) and bad.replace("-", "") not in str(info.value)


def test_twins_of_one_pregnancy_are_two_children_in_either_order_of_first_sight(hub_engine: Engine) -> None:
    sealer = Sealer(SqlKeyStore(hub_engine, bytes(32)))
    for n, known_early in enumerate((False, True)):  # the second twin known by number before its birth record, or not
        first, second = (personnummer.make(dt.date(2026, 10, 2 + n), serial) for serial in (931, 944))
        registry = IdentityRegistry(hub_engine, SECRET, sealer)
        pregnancy = f"twins-{n}"
        unborn = registry.resolve(Subject(pregnancy=pregnancy))
        early = registry.resolve(Subject(personnummer=second)) if known_early else None
        one = registry.resolve(Subject(personnummer=first, pregnancy=pregnancy))
        two = registry.resolve(Subject(personnummer=second, pregnancy=pregnancy))
        assert one == unborn and two != one  # the first-born keeps the unborn id; the twin is a child of its own
        assert early is None or two == early  # and keeps the id its number had
        fresh = IdentityRegistry(hub_engine, SECRET, sealer)
        assert fresh.resolve(Subject(personnummer=first)) == one and fresh.resolve(Subject(personnummer=second)) == two
        assert registry.pending_links() == []  # twins are never merged
