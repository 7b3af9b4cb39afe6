"""Erasing a child: who may, what it needs, what it touches (DESIGN §7, §9).

One operation behind both the administrators' endpoint and ``kronobarn keys erase``:

1. **Refuse what is not an erasure**, changing nothing: a reason code outside ``REASONS``, an
   empty justification, a child the hub has never held, a child already erased.
2. **Every id of the child.** A child found to be one with another id (``identity_links``) is one
   person: the surviving id and every id merged into it are erased together, whichever was named,
   or the merged id's records would still open under their own key.
3. **The audit trail first**: ``ChildDataErased`` on ``access`` -- who (user, role, organisation),
   the reason code, the justification sealed under the audit key (``AuditText``), the ids -- and
   it must be acknowledged. An erasure that cannot be logged is not made; one logged and then cut
   short (a crash) is completed by asking again, which logs a second entry.
4. **The keys**: each id's key deleted and a tombstone left (``SqlKeyStore.erase``). From here on
   every sealed field of the child, in every topic, dead letter, replay and store, reads ERASED.
5. **The stores that hold opened text**: the read model's plan text reads ``ERASED_TEXT``; the
   web service's pending consents (ciphertext under the child's key) are deleted. The running
   processes let go of what they hold through the tombstones (``services.erasure.watch``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine, delete, exists, or_, select

from projections.plan import ERASED_TEXT
from projections.read_model import ReadModel, children
from schemas.events import Basis, Category, ChildDataErased, Envelope, Event, Source
from services.erasure.audit_text import AuditText
from services.sql.db import forget_overwritten
from services.sql.keystore import SqlKeyStore
from services.sql.schema import child_keys, erased_children, identity_handles, identity_links, pending_consents

log = structlog.get_logger(__name__)

Publish = Callable[[Event], Awaitable[None]]

REASONS: dict[str, str] = {
    "GDPR_ART17": "Begäran om radering (GDPR art. 17)",
    "REGISTERED_IN_ERROR": "Registrerad av misstag (fel barn)",
    "RETENTION_ENDED": "Gallring: bevarandetiden har gått ut",
    "SUPERVISORY_ORDER": "Föreläggande från tillsynsmyndighet",
}
"""The reasons a child may be erased, with their Swedish names for the auditors."""
JUSTIFICATION_MAX = 2_000
SOURCE_SYSTEM = "kronobarn-erasure"

UNKNOWN_REASON = "unknown reason code {code!r}; one of: {known}"
NO_JUSTIFICATION = "a justification is required: why this child is erased, in words (it is kept in the audit log)"
LONG_JUSTIFICATION = "the justification may be at most {limit} characters"
UNKNOWN_CHILD = "the hub holds nothing about child {child_id}"
ALREADY_ERASED = "child {child_id} was already erased on {at:%Y-%m-%d %H:%M} UTC"


class ErasureRefused(Exception):
    """An erasure that is not made: ``status`` is the HTTP answer (400, 404, 409); nothing changed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Eraser:
    """Who erases: a user id (the token subject, or the operator's login for the CLI), role, organisation."""

    user_id: str
    role: str
    organisation_id: str


@dataclass(frozen=True, slots=True)
class Erased:
    child_id: uuid.UUID  # the surviving id
    child_ids: tuple[uuid.UUID, ...]  # every id erased, the surviving one first
    event_id: uuid.UUID  # of the ChildDataErased in the audit log
    erased_at: dt.datetime
    keys_deleted: int


def check_request(reason_code: str, justification: str) -> str:
    """The justification, trimmed; refuses an unknown reason or an empty or overlong justification."""
    if reason_code not in REASONS:
        raise ErasureRefused(400, UNKNOWN_REASON.format(code=reason_code[:40], known=", ".join(REASONS)))
    text = justification.strip()
    if not text:
        raise ErasureRefused(400, NO_JUSTIFICATION)
    if len(text) > JUSTIFICATION_MAX:
        raise ErasureRefused(400, LONG_JUSTIFICATION.format(limit=JUSTIFICATION_MAX))
    return text


def child_ids(engine: Engine, child_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """Every id of the child ``child_id`` names: its surviving id first, then every id merged into it."""
    links = identity_links.c
    with engine.connect() as c:
        surviving, seen = str(child_id), {str(child_id)}
        while (after := c.scalar(select(links.surviving_id).where(links.merged_id == surviving))) and after not in seen:
            surviving = after
            seen.add(after)
        found, frontier = [surviving], [surviving]
        while frontier:
            merged = c.scalars(select(links.merged_id).where(links.surviving_id.in_(frontier))).all()
            merged += c.scalars(select(children.c.child_id).where(children.c.merged_into.in_(frontier))).all()
            frontier = [m for m in dict.fromkeys(merged) if m not in found]
            found += frontier
    return tuple(uuid.UUID(i) for i in found)


def is_known(engine: Engine, ids: Iterable[uuid.UUID]) -> bool:
    """Does the hub hold anything of these ids: a read-model row, a key, a tombstone, a handle?"""
    names = [str(i) for i in ids]
    held = [exists().where(t.c.child_id.in_(names)) for t in (children, child_keys, erased_children, identity_handles)]
    with engine.connect() as c:
        return bool(c.scalar(select(or_(*held))))


def erased_at(engine: Engine, child_id: uuid.UUID) -> dt.datetime | None:
    with engine.connect() as c:
        return c.scalar(select(erased_children.c.erased_at).where(erased_children.c.child_id == str(child_id)))


async def erase(engine: Engine, keys: SqlKeyStore, store: ReadModel, audit_text: AuditText, publish: Publish,
                eraser: Eraser, child_id: uuid.UUID, reason_code: str, justification: str,
                now: dt.datetime | None = None) -> Erased:
    """Erase the child ``child_id`` names, every id of it; see the module's steps. Raises ``ErasureRefused``."""
    text = check_request(reason_code, justification)
    ids = child_ids(engine, child_id)
    if not is_known(engine, ids):
        raise ErasureRefused(404, UNKNOWN_CHILD.format(child_id=child_id))
    if all(keys.is_erased(i) for i in ids):
        at = erased_at(engine, ids[0])
        raise ErasureRefused(409, ALREADY_ERASED.format(child_id=ids[0], at=at or dt.datetime.min))
    now = now or dt.datetime.now(dt.UTC)
    event = erasure_event(eraser, ids, reason_code, text, audit_text, now)
    await publish(event)
    deleted = sum(keys.erase(i, reason_code=reason_code) for i in ids)
    store.scrub_text(ids, ERASED_TEXT)
    with engine.begin() as c:
        c.execute(delete(pending_consents).where(pending_consents.c.child_id.in_([str(i) for i in ids])))
    forget_overwritten(engine)
    log.warning("child.erased", child_id=str(ids[0]), ids=len(ids), reason_code=reason_code, keys_deleted=deleted,
                event_id=str(event.envelope.event_id))
    return Erased(ids[0], ids, event.envelope.event_id, now, deleted)


def erasure_event(eraser: Eraser, ids: tuple[uuid.UUID, ...], reason_code: str, justification: str,
                  audit_text: AuditText, now: dt.datetime) -> ChildDataErased:
    event_id = uuid.uuid4()  # the request itself is the record
    envelope = Envelope(
        event_id=event_id, type="ChildDataErased", child_id=ids[0], occurred_at=now, recorded_at=now,
        source=Source(SOURCE_SYSTEM, eraser.organisation_id, str(event_id), "1"),
        basis=Basis.DIRECTORY, category=Category.ACCESS,
    )
    return ChildDataErased(envelope=envelope, administrator_id=eraser.user_id, role=eraser.role,
                           organisation_id=eraser.organisation_id, reason_code=reason_code, erased_child_ids=ids,
                           justification=audit_text.seal(event_id, justification))
