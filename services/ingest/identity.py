"""The identity registry: personnummer (or unborn pregnancy) -> child_id (DESIGN §5, §7).

Handles are looked up by HMAC-SHA256 under the county secret, never stored in clear: the
handle itself is kept sealed with the child's own key, so erasing the child shreds it. A
child_id is a random UUID, never derived from the personnummer. Resolution is race-safe
across workers (the HMAC is the primary key: insert, and on conflict read the winner back).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from connectors import personnummer
from connectors.base import MappingError, Subject
from schemas.sealing import ChildErased, Personal, Sealer
from services.settings import Settings
from services.sql.schema import identity_handles

# Dev only, published, protects nothing: production must set KRONOBARN_IDENTITY_SECRET.
DEV_IDENTITY_SECRET = b"kronobarn: dev-only county identity secret, never use outside env=dev"
SECRET_MISSING = "KRONOBARN_IDENTITY_SECRET is not set; production needs a base64 secret of >= 32 bytes"
SECRET_SHORT = "KRONOBARN_IDENTITY_SECRET must decode to at least 32 bytes"
PNR = "PERSONNUMMER"
PREGNANCY = "PREGNANCY"
INVALID_PNR = "personnummer rejected: {reason}"


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
    """Resolves subjects to child ids, creating them on first sight. Caches what it has seen."""

    def __init__(self, engine: Engine, secret: bytes, sealer: Sealer) -> None:
        self._engine = engine
        self._secret = secret
        self._sealer = sealer
        self._cache: dict[str, uuid.UUID] = {}
        self._seen: dict[Subject, uuid.UUID] = {}  # a mapping never changes once made

    def resolve(self, subject: Subject) -> uuid.UUID:
        """The subject's child id. A birth (personnummer + pregnancy) keeps the unborn id."""
        seen = self._seen.get(subject)
        if seen is None:
            seen = self._seen[subject] = self._resolve(subject)
        return seen

    def _resolve(self, subject: Subject) -> uuid.UUID:
        pnr_hmac = pnr = None
        if subject.personnummer is not None:
            try:
                pnr = personnummer.normalise(subject.personnummer)
            except personnummer.PersonnummerError as exc:
                raise MappingError(INVALID_PNR.format(reason=exc)) from None
            pnr_hmac = self._hmac(PNR, pnr)
            known = self._lookup(pnr_hmac)
            if known is not None:
                return known
        preg_hmac = None if subject.pregnancy is None else self._hmac(PREGNANCY, subject.pregnancy)
        child_id = self._lookup(preg_hmac) if preg_hmac else None
        if child_id is None and preg_hmac is not None:
            child_id = self._claim(preg_hmac, PREGNANCY, uuid.uuid4(), None)
        if pnr_hmac is not None:
            assert pnr is not None
            child_id = self._claim(pnr_hmac, PNR, child_id or uuid.uuid4(), pnr)
        assert child_id is not None
        return child_id

    def _hmac(self, kind: str, handle: str) -> str:
        return hmac.new(self._secret, f"{kind}:{handle}".encode(), hashlib.sha256).hexdigest()

    def _lookup(self, handle_hmac: str | None) -> uuid.UUID | None:
        if handle_hmac is None:
            return None
        cached = self._cache.get(handle_hmac)
        if cached is not None:
            return cached
        with self._engine.connect() as connection:
            found = connection.scalar(
                select(identity_handles.c.child_id).where(identity_handles.c.handle_hmac == handle_hmac)
            )
        if found is None:
            return None
        self._cache[handle_hmac] = child_id = uuid.UUID(found)
        return child_id

    def _claim(self, handle_hmac: str, kind: str, child_id: uuid.UUID, plain: str | None) -> uuid.UUID:
        """Insert handle -> child_id; if another worker won the race, theirs stands."""
        sealed = None
        if plain is not None:
            try:
                sealed = self._sealer.seal(child_id, Personal({"handle": plain}))
            except ChildErased:
                sealed = None  # an erased child keeps its pseudonym but no identity
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(identity_handles).values(
                        handle_hmac=handle_hmac,
                        child_id=str(child_id),
                        kind=kind,
                        handle_sealed=sealed,
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            self._cache.pop(handle_hmac, None)
            winner = self._lookup(handle_hmac)
            assert winner is not None
            return winner
        self._cache[handle_hmac] = child_id
        return child_id
