"""Sessions that end (issue 17, finding 2; OWASP ASVS 4.0 V3.3): logout revokes the token on the
server, an administrator can end every session of a user, and the page session is short and
renewed while in use.

* **Revoked tokens** are kept by their SHA-256 (a token is a credential) until they would have
  expired anyway, in ``revoked_tokens``; **ended sessions** by the token subject with the moment,
  in ``ended_sessions``: a token of that subject issued before it no longer counts.
* Every API replica reads both tables, so a logout at one holds at all. Each process keeps a copy
  and reads them again at most every ``REFRESH_S``: that is the bound within which a revocation
  made by another replica holds there too (at once in the replica that made it).
* **The page session** (the dev login's cookie: production pages get their token from the
  county's identity provider) lives ``PAGE_SESSION`` and is renewed by ``RenewPageSession``
  once half of it has passed, on any page request; the token it replaces is revoked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

import jwt
import structlog
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.api.auth.tokens import Principal
from services.sql.schema import ended_sessions, revoked_tokens

log = structlog.get_logger(__name__)

REFRESH_S = 1.0
PAGE_SESSION = dt.timedelta(minutes=30)
SESSION_ENDED = "the session has ended (logged out, or ended by an administrator)"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a token whose signature was verified already (for ``iat`` and ``exp``)."""
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


class Sessions:
    """The revocations this process knows, read again from the database at most every ``REFRESH_S``."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine, self._clock = engine, clock
        self._revoked: set[str] = set()
        self._ended: dict[str, float] = {}  # subject -> epoch seconds
        self._read_at = -REFRESH_S

    @property
    def stale(self) -> bool:
        return self._clock() - self._read_at >= REFRESH_S

    def refresh(self) -> None:
        now = dt.datetime.now(dt.UTC)
        with self._engine.connect() as c:
            revoked = set(c.scalars(select(revoked_tokens.c.token_hash).where(revoked_tokens.c.expires_at > now)))
            ended = {s: _epoch(at) for s, at in c.execute(select(ended_sessions.c.subject, ended_sessions.c.ended_at))}
        self._revoked, self._ended, self._read_at = revoked, ended, self._clock()

    def ended(self, token: str, principal: Principal) -> bool:
        """Was this token revoked, or its subject's sessions ended after it was issued?"""
        if token_hash(token) in self._revoked:
            return True
        since = self._ended.get(principal.subject)
        if since is None:
            return False
        issued = claims_of(token).get("iat")
        return not isinstance(issued, int | float) or issued < since

    def revoke(self, token: str) -> None:
        """Revoke one token (logout), until it would have expired anyway."""
        expires = claims_of(token).get("exp")
        expires_at = dt.datetime.fromtimestamp(expires if isinstance(expires, int | float) else time.time() + 86_400,
                                               dt.UTC)
        now = dt.datetime.now(dt.UTC)
        digest = token_hash(token)
        with self._engine.begin() as c:
            c.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at <= now))  # no longer needed
            try:
                with c.begin_nested():
                    c.execute(insert(revoked_tokens).values(token_hash=digest, expires_at=expires_at, revoked_at=now))
            except IntegrityError:
                pass  # revoked already
        self._revoked.add(digest)

    def end_all(self, subject: str) -> None:
        """End every session of ``subject``: tokens issued until now no longer count."""
        now = dt.datetime.now(dt.UTC)
        with self._engine.begin() as c:
            if not c.execute(update(ended_sessions).where(ended_sessions.c.subject == subject)
                             .values(ended_at=now)).rowcount:
                c.execute(insert(ended_sessions).values(subject=subject, ended_at=now))
        self._ended[subject] = now.timestamp()
        log.info("sessions.ended")  # never the subject: it names a person


def _epoch(at: dt.datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp()


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class RenewPageSession:
    """ASGI middleware: a page request whose cookie token is past half its life gets a fresh one
    (``PAGE_SESSION``); the old one is revoked once this request is answered (it still carries
    it). ``renew`` gives the new token, or None; ``retire`` revokes the old."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], cookie: str,
                 renew: Callable[[str], Awaitable[str | None]], retire: Callable[[str], Awaitable[None]],
                 secure: bool) -> None:
        self.app, self.cookie, self.renew, self.retire, self.secure = app, cookie, renew, retire, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _cookie(scope, self.cookie) if scope["type"] == "http" and scope["path"].startswith("/ui") else None
        fresh = await self.renew(token) if token else None
        if fresh is None:
            await self.app(scope, receive, send)
            return

        async def with_cookie(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and not _sets_cookie(message, self.cookie):
                morsel = f"{self.cookie}={fresh}; Max-Age={int(PAGE_SESSION.total_seconds())}; Path=/; HttpOnly; " \
                         f"SameSite=Lax{'; Secure' if self.secure else ''}"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", morsel.encode())]
            await send(message)

        await self.app(scope, receive, with_cookie)
        assert token is not None
        await self.retire(token)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            found = SimpleCookie(value.decode("latin-1")).get(name)
            if found is not None:
                return found.value
    return None


def _sets_cookie(message: MutableMapping[str, Any], name: str) -> bool:
    """The app sets (or deletes) the cookie itself, as logout does: leave it be."""
    return any(k == b"set-cookie" and v.startswith(f"{name}=".encode()) for k, v in message.get("headers", []))


def needs_renewal(token: str, now: float) -> bool:
    claims = claims_of(token)
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        return False
    return now - issued >= (expires - issued) / 2
