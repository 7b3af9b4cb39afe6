"""Pseudonymous party ids: one id per person, the same whichever register names them.

People who are not the child -- guardians in the population register, the expectant parent of
a pregnancy in the health records -- are named in events by a party id: a UUIDv5 of an
HMAC-SHA256 of their normalised personnummer under the county's ``party_secret``. It is
stable across runs and connectors, so consents can name a party, and not derivable from the
number without the secret.

Every connector that names parties must use the same secret: the expectant parent of an unborn
child becomes a guardian at birth, and a consent the parent granted before the birth carries
over only if the health records and the population register give that person the same id.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from typing import Any

from connectors import personnummer
from connectors.base import MappingError

PARTY_NAMESPACE = uuid.UUID("a4c1e5b2-7d3f-4e8a-9b61-2f0c8d4e7a53")  # fixed: changing it re-identifies everyone
DEV_PARTY_SECRET = "dev-only guardian secret"  # the development default of every connector
BAD_PERSONNUMMER = "a {role}'s personnummer is invalid: {reason}"
SECRET_KEY = "party_secret"
BAD_SECRET = "[source] {key} must be a non-empty string"
CONFLICTING_SECRETS = "[source] sets both party_secret and {older} to different values; keep only party_secret"


class PartyIds:
    """``party_id(personnummer)`` under one secret."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str = DEV_PARTY_SECRET) -> None:
        if not secret:
            raise ValueError("party_secret must not be empty")
        self._secret = secret.encode()

    @classmethod
    def from_config(cls, source: Mapping[str, Any], *, older: str | None = None) -> PartyIds:
        """From ``party_secret`` in a connector's ``[source]`` table (the dev default if absent).

        ``older`` names a key the secret was read from before, still honoured when
        ``party_secret`` is absent. ``ValueError`` names the key, never the value.
        """
        key = older if older is not None and older in source and SECRET_KEY not in source else SECRET_KEY
        secret = source.get(key, DEV_PARTY_SECRET)
        if not isinstance(secret, str) or not secret:
            raise ValueError(BAD_SECRET.format(key=key))
        if older is not None and key == SECRET_KEY and older in source and source[older] != secret:
            raise ValueError(CONFLICTING_SECRETS.format(older=older))
        return cls(secret)

    def __repr__(self) -> str:
        return "PartyIds(secret=…)"  # never the secret

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartyIds) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(PartyIds)

    def party_id(self, pnr: str, *, role: str = "party") -> uuid.UUID:
        """The party id of the person with personnummer ``pnr``.

        ``MappingError`` for an invalid number; its message names ``role`` and never the number.
        """
        try:
            canonical = personnummer.normalise(pnr)
        except personnummer.PersonnummerError as exc:
            raise MappingError(BAD_PERSONNUMMER.format(role=role, reason=exc)) from None
        digest = hmac.new(self._secret, canonical.encode(), hashlib.sha256).hexdigest()
        return uuid.uuid5(PARTY_NAMESPACE, digest)
