"""How a running process learns that a child was erased: it looks at the key store's tombstones.

Every process that holds something of a child between two uses (the projector's folded plan text
above all) polls ``erased_children`` every ``POLL_S`` and lets go of what it holds for each new
id. The tombstone, not an event, is the signal: it is written in the same transaction that deletes
the key, every process already reaches the database, and a process that was down simply sees it
on its first poll. Everything else opens sealed data at use, with no key cache, so it reads
ERASED from the moment the key is gone.

The bound a person can rely on, ``BOUND_S``: one poll interval plus one write of the read model.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, select

from services.sql.schema import erased_children

POLL_S = 1.0
BOUND_S = 5.0
"""Within this many seconds of an erasure no running process uses anything it held of the child."""


class ErasureWatch:
    """The tombstones seen so far; ``poll`` returns the ids erased since the last poll."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.seen: set[uuid.UUID] = set()

    def poll(self) -> set[uuid.UUID]:
        with self._engine.connect() as c:
            now = {uuid.UUID(i) for i in c.scalars(select(erased_children.c.child_id))}
        new = now - self.seen
        self.seen |= new
        return new
