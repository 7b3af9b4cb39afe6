"""Sealed personal data (DESIGN §7): per-child AES-256-GCM, and crypto-shredding.

An event's personal data (personnummer, names, free text) lives only in ``envelope.sealed``.
In memory it is one of three values:

* ``Personal``  -- plaintext, only ever in memory; sealed by the codec on encode;
* ``SealedBox`` -- ciphertext as it came off the wire, not opened;
* ``ERASED``    -- the child's key was deleted, so the data is gone for good.

Deleting a child's key (``KeyStore.erase``) makes every copy of every sealed field, in every
topic, replay and dead letter, read as ``ERASED``. Nothing raises for that case.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
SEAL_VERSION = b"\x01"

TAMPERED = "sealed data failed authentication for this child (tampered or wrong child)"
UNKNOWN_VERSION = "sealed data has unknown format version {version!r}"
ERASED_CHILD = "child {child_id} has been erased; nothing new may be sealed for it"


class SealError(Exception):
    """Sealed bytes could not be opened although the key exists: tampering or corruption."""


class ChildErased(Exception):
    """Raised when asked to seal new personal data for a child whose key was deleted."""

    def __init__(self, child_id: UUID) -> None:
        super().__init__(ERASED_CHILD.format(child_id=child_id))
        self.child_id = child_id


class Personal:
    """Plaintext personal data. Its repr never shows the values, so it is safe near logs."""

    __slots__ = ("fields",)

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Personal) and other.fields == self.fields

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.fields.items())))

    def __repr__(self) -> str:
        return f"Personal(<{len(self.fields)} sealed fields>)"


@dataclass(frozen=True, slots=True)
class SealedBox:
    """Ciphertext not yet opened; passes through stages that have no need to read it."""

    ciphertext: bytes

    def __repr__(self) -> str:
        return f"SealedBox(<{len(self.ciphertext)} bytes>)"


class Erased:
    """The explicit value of sealed data whose key has been deleted."""

    _instance: Erased | None = None

    def __new__(cls) -> Erased:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ERASED"

    def __bool__(self) -> bool:
        return False


ERASED = Erased()

Sealed = Personal | SealedBox | Erased


class KeyStore(Protocol):
    """Holds one data key per child. Implementations must make ``erase`` final."""

    def get_or_create(self, child_id: UUID) -> bytes:
        """The child's key, created on first use. Raises ``ChildErased`` after erasure."""

    def get(self, child_id: UUID) -> bytes | None:
        """The child's key, or None if it never existed or was erased."""

    def erase(self, child_id: UUID) -> bool:
        """Delete the key for good. True if a key was deleted."""

    def is_erased(self, child_id: UUID) -> bool: ...


class Sealer:
    """Seals and opens personal data with the child's own key from a ``KeyStore``."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    def seal(self, child_id: UUID, personal: Personal) -> bytes:
        key = self._keys.get_or_create(child_id)
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(personal.fields, sort_keys=True, ensure_ascii=False).encode()
        # The child id is bound as associated data, so a box moved to another child fails.
        return SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, child_id.bytes)

    def open(self, child_id: UUID, sealed: bytes) -> Personal | Erased:
        if sealed[:1] != SEAL_VERSION:
            raise SealError(UNKNOWN_VERSION.format(version=sealed[:1]))
        key = self._keys.get(child_id)
        if key is None:
            return ERASED
        nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            plaintext = AESGCM(key).decrypt(nonce, ciphertext, child_id.bytes)
        except InvalidTag as exc:
            raise SealError(TAMPERED) from exc
        return Personal(json.loads(plaintext))


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)
