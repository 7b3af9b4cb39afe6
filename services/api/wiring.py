"""Everything a request handler needs, wired once per app by ``create_app`` (one wiring place).

Tests build the app with their own engine and a list-collecting publish port; the history
port (the auditors' reading of the event log) can be replaced on ``hub.history``. The key store
(which opens a child's identity at read time) and the identity registry (which finds a child
by personnummer, read-only) are built from the settings and the engine unless given.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import functools
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine

from schemas.codec import Codec
from schemas.sealing import KeyStore, Sealer
from services.api.auth.devlogin import DevIdentityProvider
from services.api.auth.form_tokens import FormTokens
from services.api.auth.sessions import Sessions
from services.api.auth.tokens import TokenVerifier
from services.api.orgs import OrgDirectory
from services.api.publishing import Publish
from services.api.store import Reader
from services.ingest.identity import IdentityRegistry, identity_secret_from
from services.settings import Settings
from services.sql.keystore import SqlKeyStore, master_key_from

T = TypeVar("T")


class HistoryPort(Protocol):
    """The auditors' reading of the event log (``services.readmodel.history``)."""

    async def child_history(self, settings: Settings, codec: Codec, child_id: uuid.UUID) -> Any: ...

    async def plan_as_seen(self, settings: Settings, codec: Codec, child_id: uuid.UUID, viewer_org: str,
                           at: dt.datetime, grants: Sequence[Any] = ()) -> Any: ...


class LogHistory:
    """``services.readmodel.history``, imported when first used (it reads Kafka directly)."""

    async def child_history(self, settings: Settings, codec: Codec, child_id: uuid.UUID) -> Any:
        from services.readmodel import history

        return await history.child_history(settings, codec, child_id)

    async def plan_as_seen(self, settings: Settings, codec: Codec, child_id: uuid.UUID, viewer_org: str,
                           at: dt.datetime, grants: Sequence[Any] = ()) -> Any:
        from services.readmodel import history

        return await history.plan_as_seen(settings, codec, child_id, viewer_org, at, grants)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Hub:
    settings: Settings
    engine: Engine
    reader: Reader
    publish: Publish
    codec: Codec  # opens and seals free text with the children's keys
    verifier: TokenVerifier
    directory: OrgDirectory
    dev_idp: DevIdentityProvider | None = None
    history: HistoryPort = field(default_factory=LogHistory)
    clock: Callable[[], dt.datetime] = _now
    fact_codec: Codec = field(default_factory=Codec)  # facts' details: nothing sealed is opened
    keys: KeyStore | None = None  # the children's keys: the read model's sealed identity opens with them
    identities: IdentityRegistry | None = None  # used only to find (``find``), never to resolve
    sessions: Sessions = field(init=False)  # tokens revoked and sessions ended, shared by every replica
    form_tokens: FormTokens = field(init=False)  # the pages' forms carry one (``auth.form_tokens``)

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.engine)
        self.form_tokens = FormTokens(master_key_from(self.settings))
        if self.keys is None:
            self.keys = SqlKeyStore(self.engine, master_key_from(self.settings))
        if self.identities is None:
            self.identities = IdentityRegistry(self.engine, identity_secret_from(self.settings), Sealer(self.keys))

    @property
    def keystore(self) -> KeyStore:
        assert self.keys is not None  # set by __post_init__
        return self.keys

    @property
    def opener(self) -> Sealer:
        """Opens sealed fields with the children's keys (an erased child's read ``ERASED``)."""
        return Sealer(self.keystore)

    @property
    def registry(self) -> IdentityRegistry:
        assert self.identities is not None  # set by __post_init__
        return self.identities

    def now(self) -> dt.datetime:
        return self.clock()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking database work off the event loop, in the request's context (log fields).

        The hub's own pool rather than anyio's: a plan page is one trip, and anyio's per-call
        bookkeeping cost as much as some of the queries."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(_pool(), functools.partial(context.run, fn, *args, **kwargs))


_POOL: ThreadPoolExecutor | None = None
DB_THREADS = 2  # SQL here is short; more threads only queue on the interpreter lock and stretch the tail


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="kronobarn-db")
    return _POOL
