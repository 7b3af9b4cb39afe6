"""Identifiers. Source facts get deterministic event ids so replays are recognisable."""

from __future__ import annotations

import hashlib
import uuid

# Fixed namespace for UUIDv5 event ids; changing it would re-identify every source fact.
EVENT_NAMESPACE = uuid.UUID("6b8f3c2e-5d1a-4f0e-9a47-0c2b7e1d9f35")
_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes


def source_event_id(system: str, record_id: str, record_version: str) -> uuid.UUID:
    """UUIDv5 of system + record id + record version (DESIGN §4).

    Equal to ``uuid.uuid5(EVENT_NAMESPACE, name)``, computed directly because every connector
    calls it once per event.
    """
    digest = hashlib.sha1(_NAMESPACE_BYTES + f"{system}\x1f{record_id}\x1f{record_version}".encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def new_child_id() -> uuid.UUID:
    """A random pseudonym; never derived from a personnummer."""
    return uuid.uuid4()
