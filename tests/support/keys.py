"""The ``KeyStore`` contract in a dict, with erasure as final as the real one (a fake for unit tests)."""

from __future__ import annotations

from uuid import UUID

from schemas.sealing import ChildErased, new_data_key


class MemoryKeyStore:
    def __init__(self) -> None:
        self.keys: dict[UUID, bytes] = {}
        self.erased: set[UUID] = set()

    def get_or_create(self, child_id: UUID) -> bytes:
        if child_id in self.erased:
            raise ChildErased(child_id)
        return self.keys.setdefault(child_id, new_data_key())

    def get(self, child_id: UUID) -> bytes | None:
        return self.keys.get(child_id)

    def erase(self, child_id: UUID) -> bool:
        self.erased.add(child_id)
        return self.keys.pop(child_id, None) is not None

    def is_erased(self, child_id: UUID) -> bool:
        return child_id in self.erased
