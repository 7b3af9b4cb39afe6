"""``Sealer`` against an in-memory key store: the sealing rules without any database."""

from __future__ import annotations

from uuid import uuid4

import pytest

from schemas.sealing import ERASED, ChildErased, Personal, Sealer, SealError
from tests.support.keys import MemoryKeyStore

PERSONAL = Personal({"personnummer": "201001012383", "name": "Alva Berg"})


FakeKeyStore = MemoryKeyStore


@pytest.fixture
def keys() -> FakeKeyStore:
    return FakeKeyStore()


@pytest.fixture
def sealer(keys: FakeKeyStore) -> Sealer:
    return Sealer(keys)


def test_round_trip(sealer: Sealer) -> None:
    child_id = uuid4()
    assert sealer.open(child_id, sealer.seal(child_id, PERSONAL)) == PERSONAL


def test_sealed_bytes_do_not_contain_the_plaintext(sealer: Sealer) -> None:
    box = sealer.seal(uuid4(), PERSONAL)
    assert b"201001012383" not in box
    assert b"Alva" not in box


def test_sealing_twice_gives_different_bytes(sealer: Sealer) -> None:
    child_id = uuid4()
    assert sealer.seal(child_id, PERSONAL) != sealer.seal(child_id, PERSONAL)


def test_opens_as_erased_after_the_key_is_deleted(sealer: Sealer, keys: FakeKeyStore) -> None:
    child_id = uuid4()
    box = sealer.seal(child_id, PERSONAL)
    keys.erase(child_id)
    assert sealer.open(child_id, box) is ERASED
    assert not sealer.open(child_id, box)  # ERASED is falsy


def test_sealing_after_erasure_raises(sealer: Sealer, keys: FakeKeyStore) -> None:
    child_id = uuid4()
    keys.erase(child_id)
    with pytest.raises(ChildErased):
        sealer.seal(child_id, PERSONAL)


def test_repr_of_personal_hides_the_values() -> None:
    text = repr(PERSONAL) + str(PERSONAL)
    assert "201001012383" not in text
    assert "Alva" not in text
    assert "2" in text  # it still says how many fields there are


def test_box_moved_to_another_child_fails(sealer: Sealer) -> None:
    owner, other = uuid4(), uuid4()
    box = sealer.seal(owner, PERSONAL)
    sealer.seal(other, Personal({"name": "someone else"}))  # so the other child has a key
    with pytest.raises(SealError):
        sealer.open(other, box)


def test_tampered_box_fails(sealer: Sealer) -> None:
    child_id = uuid4()
    box = bytearray(sealer.seal(child_id, PERSONAL))
    box[20] ^= 0xFF
    with pytest.raises(SealError):
        sealer.open(child_id, bytes(box))


def test_unknown_format_version_fails(sealer: Sealer) -> None:
    child_id = uuid4()
    box = sealer.seal(child_id, PERSONAL)
    with pytest.raises(SealError):
        sealer.open(child_id, b"\x02" + box[1:])
