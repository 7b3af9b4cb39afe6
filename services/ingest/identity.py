"""The identity registry: personnummer (or unborn pregnancy) -> child_id (DESIGN §5, §7).

Handles are looked up by HMAC-SHA256 under the county secret, never stored in clear: the
handle itself is kept sealed with the child's own key, so erasing the child shreds it. A
child_id is a random UUID, never derived from the personnummer. Resolution is race-safe
across workers (the HMAC is the primary key: insert, and on conflict read the winner back).

**One child, one id.** A birth names both the pregnancy and the personnummer, so from then on
both handles point at one id: the unborn child's, which holds its history, consents and plan.
Twins share a pregnancy: the id goes to the twin whose birth the hub sees first, and the other
gets an id of its own (the prenatal history is one record, so it stays with one child).
When the personnummer was seen first (the population register or a school can see a newborn
before the health system's birth record), it already has an id of its own; the birth then
*links* the two: the personnummer's handles move to the unborn child's id and a row in
``identity_links`` records the merged id. The connector runner announces each link as
``ChildIdentitiesMerged`` (``pending_links``), and the consent gate carries the merged id's
history over (``services.worker.linker``).

What a registry has looked up it keeps for ``fresh_s`` seconds, so a link made by another
process reaches this one within that bound; an event resolved to the merged id in that window
is carried over downstream like the rest of its history.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from connectors import personnummer
from connectors.base import MappingError, Subject
from schemas.sealing import ChildErased, Personal, Sealer
from services.settings import Settings
from services.sql.db import writing
from services.sql.schema import identity_handles, identity_links

# Dev only, published, protects nothing: production must set KRONOBARN_IDENTITY_SECRET.
DEV_IDENTITY_SECRET = b"kronobarn: dev-only county identity secret, never use outside env=dev"
SECRET_MISSING = "KRONOBARN_IDENTITY_SECRET is not set; production needs a base64 secret of >= 32 bytes"
SECRET_SHORT = "KRONOBARN_IDENTITY_SECRET must decode to at least 32 bytes"
PNR = "PERSONNUMMER"
PREGNANCY = "PREGNANCY"
INVALID_PNR = "personnummer rejected: {reason}"
FRESH_S = 5.0  # how long a lookup is trusted: the bound within which a link reaches every process
CLAIM_S = 60.0  # how long a runner's claim to announce a link holds, should it crash first


@dataclass(frozen=True, slots=True)
class Link:
    """``merged`` is one child with ``surviving``, which carries its history from ``linked_at``."""

    merged: uuid.UUID
    surviving: uuid.UUID
    linked_at: datetime


def identity_secret_from(settings: Settings) -> bytes:
    """The county's HMAC secret. Changing it re-identifies nobody but orphans every handle."""
    if settings.identity_secret is None:
        if settings.env == "production":
            raise ValueError(SECRET_MISSING)
        return DEV_IDENTITY_SECRET
    try:
        secret = base64.b64decode(settings.identity_secret.get_secret_value(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(SECRET_SHORT) from None
    if len(secret) < 32:
        raise ValueError(SECRET_SHORT)
    return secret


class IdentityRegistry:
    """Resolves subjects to child ids, creating them on first sight and linking two ids of one
    child at its birth. Trusts what it has looked up for ``fresh_s`` seconds."""

    def __init__(self, engine: Engine, secret: bytes, sealer: Sealer, fresh_s: float = FRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._secret = secret
        self._sealer = sealer
        self._fresh_s = fresh_s
        self._clock = clock
        self._cache: dict[str, tuple[uuid.UUID, float]] = {}  # handle HMAC -> (child id, looked up at)
        self._seen: dict[Subject, tuple[uuid.UUID, float]] = {}

    def resolve(self, subject: Subject) -> uuid.UUID:
        """The subject's child id. A birth (personnummer + pregnancy) keeps the unborn id."""
        now = self._clock()
        seen = self._seen.get(subject)
        if seen is not None and now - seen[1] < self._fresh_s:
            return seen[0]
        child = self._resolve(subject)
        self._seen[subject] = (child, now)
        return child

    def _resolve(self, subject: Subject) -> uuid.UUID:
        pnr_hmac = pnr = None
        if subject.personnummer is not None:
            try:
                pnr = personnummer.normalise(subject.personnummer)
            except personnummer.PersonnummerError as exc:
                raise MappingError(INVALID_PNR.format(reason=exc)) from None
            pnr_hmac = self._hmac(PNR, pnr)
        preg_hmac = None if subject.pregnancy is None else self._hmac(PREGNANCY, subject.pregnancy)
        born = self._lookup(pnr_hmac)
        unborn = self._lookup(preg_hmac)
        if preg_hmac is not None and unborn is None:
            unborn = self._claim(preg_hmac, PREGNANCY, born or uuid.uuid4(), None)
        if pnr_hmac is None:
            assert unborn is not None
            return unborn
        assert pnr is not None
        if unborn is not None and self._born_as_another(unborn, pnr_hmac):
            unborn = None  # a twin: the pregnancy's id went to the sibling born first
        if born is None:
            born = self._claim(pnr_hmac, PNR, unborn or uuid.uuid4(), pnr)
        if unborn is not None and born != unborn:  # seen apart before the birth tied them
            return self._link(born, unborn, pnr)
        return born

    def _born_as_another(self, child_id: uuid.UUID, pnr_hmac: str) -> bool:
        """Whether the child already has a personnummer other than this one (asked at births only)."""
        with self._engine.connect() as connection:
            return connection.scalar(
                select(identity_handles.c.handle_hmac).where(identity_handles.c.child_id == str(child_id),
                                                             identity_handles.c.kind == PNR,
                                                             identity_handles.c.handle_hmac != pnr_hmac).limit(1)
            ) is not None

    def _hmac(self, kind: str, handle: str) -> str:
        return hmac.new(self._secret, f"{kind}:{handle}".encode(), hashlib.sha256).hexdigest()

    def find(self, pnr: str) -> uuid.UUID | None:
        """The child a personnummer (or samordningsnummer) belongs to, or None: for people who
        look a child up (the web service). Read-only -- it never creates an id -- and it asks the
        database every time, so a link made by another process shows at once. Raises
        ``personnummer.PersonnummerError`` (which never repeats the number) for a malformed one."""
        return self._stored(self._hmac(PNR, personnummer.normalise(pnr)))

    def _stored(self, handle_hmac: str) -> uuid.UUID | None:
        """The child a handle points at in the database now, not cached."""
        with self._engine.connect() as connection:
            found = connection.scalar(
                select(identity_handles.c.child_id).where(identity_handles.c.handle_hmac == handle_hmac)
            )
        return None if found is None else uuid.UUID(found)

    def _lookup(self, handle_hmac: str | None) -> uuid.UUID | None:
        if handle_hmac is None:
            return None
        cached = self._cache.get(handle_hmac)
        if cached is not None and self._clock() - cached[1] < self._fresh_s:
            return cached[0]
        child_id = self._stored(handle_hmac)
        if child_id is None:
            return None
        self._cache[handle_hmac] = (child_id, self._clock())
        return child_id

    def _claim(self, handle_hmac: str, kind: str, child_id: uuid.UUID, plain: str | None) -> uuid.UUID:
        """Insert handle -> child_id; if another worker won the race, theirs stands."""
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(identity_handles).values(
                        handle_hmac=handle_hmac,
                        child_id=str(child_id),
                        kind=kind,
                        handle_sealed=self._sealed(child_id, plain),
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            self._cache.pop(handle_hmac, None)
            winner = self._lookup(handle_hmac)
            assert winner is not None
            return winner
        self._cache[handle_hmac] = (child_id, self._clock())
        return child_id

    def _sealed(self, child_id: uuid.UUID, plain: str | None) -> bytes | None:
        if plain is None:
            return None
        try:
            return self._sealer.seal(child_id, Personal({"handle": plain}))
        except ChildErased:
            return None  # an erased child keeps its pseudonym but no identity

    def _link(self, merged: uuid.UUID, surviving: uuid.UUID, pnr: str) -> uuid.UUID:
        """Move every handle of ``merged`` to ``surviving`` and record the link, in one
        transaction. A link another process made first moved the handles already, so a repeat
        finds none to move and records nothing new."""
        try:
            self._move(merged, surviving, pnr)
        except IntegrityError:
            pass  # another process recorded the same link at the same moment
        self._seen.clear()  # any subject of the merged id now resolves to the surviving one
        return surviving

    def _move(self, merged: uuid.UUID, surviving: uuid.UUID, pnr: str) -> None:
        sealed = self._sealed(surviving, pnr)  # before the transaction: a new key takes a connection of its own
        with writing(self._engine) as connection:
            handles = connection.execute(select(identity_handles.c.handle_hmac, identity_handles.c.kind)
                                         .where(identity_handles.c.child_id == str(merged))).all()
            for handle_hmac, kind in handles:
                connection.execute(
                    update(identity_handles)
                    .where(identity_handles.c.handle_hmac == handle_hmac)
                    .where(identity_handles.c.child_id == str(merged))
                    .values(child_id=str(surviving), handle_sealed=sealed if kind == PNR else None)
                )
                self._cache.pop(handle_hmac, None)
            known = connection.scalar(select(identity_links.c.surviving_id)
                                      .where(identity_links.c.merged_id == str(merged)))
            if known is None:
                connection.execute(insert(identity_links).values(
                    merged_id=str(merged), surviving_id=str(surviving), linked_at=datetime.now(UTC)))

    def pending_links(self) -> list[Link]:
        """Links no runner has announced yet, claimed for this caller for ``CLAIM_S`` seconds so
        that concurrent runners do not each announce them (each announcement costs the gate a
        sweep); a claim a crashed runner left runs out, and another runner announces the link."""
        unannounced = identity_links.c.announced_at.is_(None)
        with self._engine.connect() as connection:
            if connection.scalar(select(identity_links.c.merged_id).where(unannounced).limit(1)) is None:
                return []  # the usual case, without a write
        now = datetime.now(UTC)
        free = or_(identity_links.c.claimed_at.is_(None), identity_links.c.claimed_at < now - timedelta(seconds=CLAIM_S))
        with self._engine.begin() as connection:
            rows = connection.execute(
                update(identity_links).where(unannounced, free).values(claimed_at=now)
                .returning(identity_links.c.merged_id, identity_links.c.surviving_id, identity_links.c.linked_at)
            ).all()
        return sorted((Link(uuid.UUID(m), uuid.UUID(s), at) for m, s, at in rows), key=lambda k: k.linked_at)

    def announced(self, links: list[Link]) -> None:
        """Record that these links' ``ChildIdentitiesMerged`` are in the log."""
        if not links:
            return
        with self._engine.begin() as connection:
            connection.execute(update(identity_links)
                               .where(identity_links.c.merged_id.in_([str(k.merged) for k in links]))
                               .values(announced_at=datetime.now(UTC)))
