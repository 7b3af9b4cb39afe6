"""Read your own writes for consents (issue 14, rule 9).

A consent the web service accepted (202) is on the ``consent`` topic, but the read model holds it
only once the gate and the projector have processed it. Until then it is kept in the
``pending_consents`` table -- shared by every API replica through the database -- so the consent
page shows it as pending ("väntar på behandling") and it can be withdrawn at once, instead of
404. A withdrawal through this service is noted on the row too, so it shows before the read
model has it and is not published twice.

Pending consents never count for access or visibility: a consent is in force only once the gate
has it. They are shown and withdrawn, nothing else.

Rows are removed lazily, when a read of the child finds them stale: their consent is in the read
model (with the withdrawal, if one was noted), or they are older than ``KEEP``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine, delete, insert, update
from sqlalchemy.exc import SQLAlchemyError

from projections.consents import Consent, consent_of
from schemas.codec import Codec, DecodeError
from schemas.events import ConsentGranted
from services.api.store import PendingRow
from services.sql.schema import pending_consents

log = structlog.get_logger(__name__)

KEEP = dt.timedelta(hours=1)  # the projector lags seconds; after this, the read model is the truth


@dataclass(frozen=True, slots=True)
class ShownConsent:
    """A consent as the pages and the API show it; ``pending`` while only this service knows it."""

    consent: Consent
    pending: bool = False


def remember(engine: Engine, codec: Codec, event: ConsentGranted, at: dt.datetime) -> None:
    """Keep an accepted consent until the read model has it. Called after the publish succeeded;
    if the row cannot be written the consent is still accepted, only not shown until projected."""
    try:
        with engine.begin() as c:
            c.execute(insert(pending_consents).values(
                consent_id=str(event.consent_id), child_id=str(event.child_id), accepted_at=at,
                granted=codec.encode(event), withdrawn_at=None))
    except SQLAlchemyError as exc:
        log.warning("api.pending_consent_not_kept", error=type(exc).__name__)


def note_withdrawal(engine: Engine, consent_id: uuid.UUID, at: dt.datetime) -> None:
    """A pending consent (or one whose withdrawal the read model does not show yet) was withdrawn."""
    try:
        with engine.begin() as c:
            c.execute(update(pending_consents).where(pending_consents.c.consent_id == str(consent_id))
                      .values(withdrawn_at=at))
    except SQLAlchemyError as exc:
        log.warning("api.pending_withdrawal_not_kept", error=type(exc).__name__)


def forget(engine: Engine, consent_ids: Iterable[uuid.UUID]) -> None:
    ids = [str(i) for i in consent_ids]
    if not ids:
        return
    try:
        with engine.begin() as c:
            c.execute(delete(pending_consents).where(pending_consents.c.consent_id.in_(ids)))
    except SQLAlchemyError as exc:  # another replica may be deleting the same rows; next read tries again
        log.warning("api.pending_cleanup_failed", error=type(exc).__name__)


def _granted(row: PendingRow, codec: Codec) -> ConsentGranted | None:
    try:
        event = codec.decode(row.granted)
    except (DecodeError, ValueError, TypeError):
        return None
    ok = isinstance(event, ConsentGranted) and event.consent_id == row.consent_id and event.child_id == row.child_id
    return event if ok else None


def merge(consents: Sequence[Consent], rows: Sequence[PendingRow], codec: Codec,
          now: dt.datetime) -> tuple[list[ShownConsent], list[uuid.UUID]]:
    """The consents to show -- the read model's, then the pending ones it does not hold yet --
    and the ids of the rows that are stale now."""
    known = {c.consent_id: c for c in consents}
    noted: dict[uuid.UUID, dt.datetime] = {}
    extra: list[ShownConsent] = []
    stale: list[uuid.UUID] = []
    for row in rows:
        if now - row.accepted_at > KEEP:
            stale.append(row.consent_id)
            continue
        held = known.get(row.consent_id)
        if held is not None:
            if row.withdrawn_at is not None and held.withdrawn_at is None:
                noted[held.consent_id] = row.withdrawn_at  # the withdrawal is not projected yet
            else:
                stale.append(row.consent_id)
            continue
        event = _granted(row, codec)
        if event is None:
            stale.append(row.consent_id)
            continue
        extra.append(ShownConsent(dataclasses.replace(consent_of(event), withdrawn_at=row.withdrawn_at), True))
    shown = [ShownConsent(dataclasses.replace(c, withdrawn_at=noted[c.consent_id]) if c.consent_id in noted else c)
             for c in consents]
    return shown + extra, stale
