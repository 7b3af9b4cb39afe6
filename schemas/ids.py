"""Identifiers. Source facts get deterministic event ids so replays are recognisable."""

from __future__ import annotations

import uuid

# Fixed namespace for UUIDv5 event ids; changing it would re-identify every source fact.
EVENT_NAMESPACE = uuid.UUID("6b8f3c2e-5d1a-4f0e-9a47-0c2b7e1d9f35")


def source_event_id(system: str, record_id: str, record_version: str) -> uuid.UUID:
    """UUIDv5 of system + record id + record version (DESIGN §4)."""
    return uuid.uuid5(EVENT_NAMESPACE, f"{system}\x1f{record_id}\x1f{record_version}")


def new_child_id() -> uuid.UUID:
    """A random pseudonym; never derived from a personnummer."""
    return uuid.uuid4()
