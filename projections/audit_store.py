"""The audit log in SQL: hash-chained entries, signed checkpoints and the consumer position.

Appends are batched and idempotent: one transaction writes the new entries, any checkpoints
that fell due and the consumer position, and an event whose id is already logged changes
nothing (STYLE 4). Appenders are serialised (a PostgreSQL advisory lock; SQLite's write lock,
taken up front) because every entry names the hash of the one before it.

The chain rules and what ``verify`` can and cannot detect are in ``projections.audit``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Insert,
    Integer,
    LargeBinary,
    Row,
    Select,
    String,
    Table,
    Text,
    case,
    delete,
    func,
    insert,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite

from projections.audit import (
    CHECKPOINT_FORGED,
    DEFAULT_CHECKPOINT_EVERY,
    GENESIS_HASH,
    AuditEntry,
    AuditKind,
    ChainVerifier,
    Checkpoint,
    Link,
    Problem,
    ProblemKind,
    chain,
    checkpoint_valid,
    checkpoints_due,
    entry_from_event,
    sign_checkpoint,
    utc,
)
from projections.tables import CHILD_ID_LENGTH, metadata
from schemas.events import Event

log = structlog.get_logger(__name__)

HASH_HEX_LENGTH = 64
INSERT_BATCH = 1_000  # rows per INSERT round trip
LOOKUP_BATCH = 500  # event ids per IN (...) when looking for duplicates
READ_BATCH = 5_000  # rows per fetch when streaming the log
# Any fixed 64-bit number; every process appending to the same PostgreSQL log uses it.
AUDIT_LOCK_ID = 0x6B622D6175646974  # "kb-audit"

UNSUPPORTED_DIALECT = "the audit store supports SQLite and PostgreSQL, not {dialect}"
# What turning a tampered row back into an entry can raise.
UNREADABLE = (ValueError, TypeError, KeyError, AttributeError)

TAIL_NOT_INTACT = "the log since the last checkpoint does not verify; not signing it: {problems}"

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("kind", String(16), nullable=False, index=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    # Free-form strings from the access event: unbounded, so no batch fails on a long value.
    Column("viewer_id", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("organisation_id", Text, nullable=False),
    Column("child_id", String(CHILD_ID_LENGTH), nullable=False, index=True),
    Column("purpose", Text, nullable=False),  # the purpose of a view, the reason code of an emergency
    Column("parts", Text, nullable=False),  # JSON array of strings
    Column("expires_at", DateTime(timezone=True), nullable=True),  # emergency access only
    Column("reviews", String(36), nullable=True, index=True),  # a review: the emergency access it reviews
    # A review: the comment's ciphertext (the child's key); an erasure: the justification's (the audit key).
    Column("sealed", LargeBinary, nullable=True),
    Column("prev_hash", String(HASH_HEX_LENGTH), nullable=False),
    Column("hash", String(HASH_HEX_LENGTH), nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(HASH_HEX_LENGTH), nullable=False),
    Column("signature", LargeBinary, nullable=False),  # Ed25519, 64 bytes
    Column("signed_at", DateTime(timezone=True), nullable=False),
)

# Where the audit projector resumes: the offset of the last record applied, per partition.
audit_tracking = Table(
    "audit_tracking",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("applied_offset", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class AuditTailNotIntact(Exception):
    """A checkpoint was asked for, but the entries it would sign do not verify."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(TAIL_NOT_INTACT.format(problems="; ".join(p.message for p in problems)))


@dataclass(frozen=True, slots=True)
class Position:
    """A consumer position: ``offset`` is that of the last record applied."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class AuditStats:
    entries: int
    checkpoints: int
    last_seq: int
    last_checkpoint_seq: int

    @property
    def unsigned(self) -> int:
        """Entries after the last checkpoint: protected by the keyless chain only."""
        return max(0, self.last_seq - self.last_checkpoint_seq)


class AuditStore:
    """The hash-chained audit log on SQLite or PostgreSQL (run ``services.sql.db.migrate`` first).

    With a ``signer``, ``append`` signs a checkpoint whenever ``checkpoint_every`` entries have
    gone unsigned; ``checkpoint`` signs the head on demand.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        signer: Ed25519PrivateKey | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ) -> None:
        checkpoints_due((), 0, checkpoint_every)  # validates ``checkpoint_every``
        self._engine = engine
        self._signer = signer
        self._every = checkpoint_every

    # -- writing ---------------------------------------------------------------------------

    def append(self, events: Iterable[Event], position: Position | Iterable[Position] | None = None) -> int:
        """Log the access events not logged yet, in order, in one transaction; how many were new."""
        events = list(events)
        positions = [position] if isinstance(position, Position) else list(position or ())
        with self._engine.begin() as connection:
            _lock(connection)
            head_seq, head_hash = _head(connection)
            logged = _logged_ids(connection, [str(e.event_id) for e in events])
            entries = []
            for event in events:
                event_id = str(event.event_id)
                if event_id not in logged:
                    logged.add(event_id)
                    entries.append(entry_from_event(event, head_seq + len(entries) + 1))
            links = chain(entries, head_hash)
            for start in range(0, len(links), INSERT_BATCH):
                connection.execute(insert(audit_log), [_row(link) for link in links[start : start + INSERT_BATCH]])
            if self._signer is not None and links:
                self._checkpoint_due(connection, self._signer, links, head_seq)
            for moved in positions:
                connection.execute(_track(connection, moved))
        if links:
            log.debug("audit_appended", entries=len(links), first_seq=links[0].seq, last_seq=links[-1].seq)
        return len(links)

    def checkpoint(self, signer: Ed25519PrivateKey) -> Checkpoint | None:
        """Sign the head of the log now; the existing checkpoint if the head has one, None if empty.

        Refuses (``AuditTailNotIntact``) when the entries since the last checkpoint do not verify,
        so a signature never vouches for a tampered tail.
        """
        with self._engine.begin() as connection:
            _lock(connection)
            head = connection.execute(_entries_query().order_by(audit_log.c.seq.desc()).limit(1)).first()
            if head is None:
                return None
            existing = connection.execute(
                _checkpoints_query().where(audit_checkpoints.c.seq == head.seq)
            ).first()
            if existing is not None:
                return _existing_checkpoint(existing, signer.public_key())
            problems = _tail_problems(connection, signer.public_key())
            if problems:
                raise AuditTailNotIntact(problems)
            checkpoint = sign_checkpoint(signer, _link(head), _now())
            connection.execute(insert(audit_checkpoints).values(_checkpoint_row(checkpoint)))
        log.info("audit_checkpoint_signed", seq=checkpoint.seq)
        return checkpoint

    def _checkpoint_due(
        self, connection: Connection, signer: Ed25519PrivateKey, links: list[Link], head_seq: int
    ) -> None:
        # Counted from the newest *valid* checkpoint: a forged one far ahead must not stop signing.
        last = _last_valid_checkpoint(connection, signer.public_key())
        due = checkpoints_due(links, last[0], self._every)
        if not due:
            return
        # Sign only what verifies: the stored entries this batch chained onto come first.
        problems = _tail_problems(connection, signer.public_key(), after=last, until=head_seq)
        if problems:
            log.warning("audit_checkpoint_skipped", reason="tail_not_intact", problems=len(problems),
                        first_seq=problems[0].seq)
            return
        now = _now()
        rows = [_checkpoint_row(sign_checkpoint(signer, link, now)) for link in due]
        connection.execute(insert(audit_checkpoints), rows)
        log.info("audit_checkpoint_signed", seq=due[-1].seq, count=len(due))

    # -- reading ---------------------------------------------------------------------------

    def entries_for_child(self, child_id: UUID) -> list[AuditEntry]:
        """Every access to one child's data, oldest first."""
        return self._entries(audit_log.c.child_id == str(child_id))

    def extract(
        self, child_id: UUID, since: dt.datetime | None = None, until: dt.datetime | None = None,
        also: Sequence[UUID] = (),
    ) -> list[AuditEntry]:
        """A log extract for one child: accesses with ``since <= occurred_at < until``; ``also``:
        the child's other ids (merged into it), whose accesses are this child's too."""
        ids = [str(child_id), *(str(a) for a in also)]
        return self._entries(audit_log.c.child_id.in_(ids), *_window(since, until))

    def emergency_accesses(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[AuditEntry]:
        """Every emergency access (nödöppning), oldest first, for the auditors' review."""
        return self._entries(audit_log.c.kind == str(AuditKind.EMERGENCY), *_window(since, until))

    def erasures(self, since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[AuditEntry]:
        """Every erasure of a child, oldest first, for the auditors' list."""
        return self._entries(audit_log.c.kind == str(AuditKind.ERASURE), *_window(since, until))

    def emergency_access(self, event_id: UUID) -> AuditEntry | None:
        """The emergency access logged under ``event_id``; None if there is none (or it is another kind)."""
        found = self._entries(audit_log.c.event_id == str(event_id), audit_log.c.kind == str(AuditKind.EMERGENCY))
        return found[0] if found else None

    def reviews_of(self, emergency_ids: Iterable[UUID]) -> list[AuditEntry]:
        """The auditors' reviews of these emergency accesses, oldest first."""
        ids = list(dict.fromkeys(str(e) for e in emergency_ids))
        found: list[AuditEntry] = []
        for start in range(0, len(ids), LOOKUP_BATCH):
            found += self._entries(audit_log.c.kind == str(AuditKind.REVIEW),
                                   audit_log.c.reviews.in_(ids[start : start + LOOKUP_BATCH]))
        return sorted(found, key=lambda e: e.seq)

    def checkpoints(self) -> list[Checkpoint]:
        with self._engine.connect() as connection:
            rows = connection.execute(_checkpoints_query().order_by(audit_checkpoints.c.seq)).all()
        return [_checkpoint(row) for row in rows]

    def positions(self) -> dict[tuple[str, int], int]:
        """The tracked consumer position: (topic, partition) -> offset of the last record applied."""
        query = select(audit_tracking.c.topic, audit_tracking.c.partition, audit_tracking.c.applied_offset)
        with self._engine.connect() as connection:
            return {(row.topic, row.partition): row.applied_offset for row in connection.execute(query)}

    def stats(self) -> AuditStats:
        with self._engine.connect() as connection:
            entries, last_seq = connection.execute(select(func.count(), func.max(audit_log.c.seq))).one()
            checkpoints, last_cp = connection.execute(
                select(func.count(), func.max(audit_checkpoints.c.seq))
            ).one()
        return AuditStats(entries, checkpoints, last_seq or 0, last_cp or 0)

    def verify(self, public_key: Ed25519PublicKey) -> list[Problem]:
        """Walk the whole log against its checkpoints; an empty list means intact.

        Streams the entries, so memory stays flat however long the log is.
        """
        with self._engine.connect() as connection:
            checkpoints, unreadable = _read_checkpoints(connection)
            verifier = ChainVerifier(checkpoints, public_key)
            for seq in unreadable:
                verifier.checkpoint_unreadable(seq)
            _feed(verifier, _stream(connection, _entries_query().order_by(audit_log.c.seq)))
        return verifier.finish()

    def _entries(self, *where: Any) -> list[AuditEntry]:
        query = _entries_query().where(*where).order_by(audit_log.c.seq)
        with self._engine.connect() as connection:
            return [_entry(row) for row in connection.execute(query)]


# -- helpers ------------------------------------------------------------------------------


def _lock(connection: Connection) -> None:
    """Serialise appenders: the chain needs the true head."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_LOCK_ID})
    elif dialect == "sqlite":
        # A write statement takes SQLite's write lock now, before we read the head; otherwise
        # two deferred transactions could both read it and one fail on upgrading its lock.
        connection.execute(delete(audit_log).where(audit_log.c.seq < 0))
    else:
        raise NotImplementedError(UNSUPPORTED_DIALECT.format(dialect=dialect))


def _head(connection: Connection) -> tuple[int, str]:
    row = connection.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (row.seq, row.hash)


def _logged_ids(connection: Connection, event_ids: list[str]) -> set[str]:
    logged: set[str] = set()
    unique = list(dict.fromkeys(event_ids))
    for start in range(0, len(unique), LOOKUP_BATCH):
        chunk = unique[start : start + LOOKUP_BATCH]
        logged.update(connection.scalars(select(audit_log.c.event_id).where(audit_log.c.event_id.in_(chunk))))
    return logged


def _last_valid_checkpoint(connection: Connection, public_key: Ed25519PublicKey) -> tuple[int, str]:
    """(seq, hash) of the newest checkpoint that verifies under ``public_key``; genesis if none."""
    query = _checkpoints_query().order_by(audit_checkpoints.c.seq.desc())
    result = connection.execute(query, execution_options={"yield_per": 100})
    try:
        for row in result:
            try:
                checkpoint = _checkpoint(row)
            except UNREADABLE:
                continue
            if checkpoint_valid(public_key, checkpoint):
                return checkpoint.seq, checkpoint.hash
    finally:
        result.close()
    return 0, GENESIS_HASH


def _existing_checkpoint(row: Row[Any], public_key: Ed25519PublicKey) -> Checkpoint:
    try:
        checkpoint = _checkpoint(row)
    except UNREADABLE:
        checkpoint = None
    if checkpoint is None or not checkpoint_valid(public_key, checkpoint):
        raise AuditTailNotIntact([Problem(ProblemKind.CHECKPOINT_FORGED, CHECKPOINT_FORGED.format(seq=row.seq), row.seq)])
    return checkpoint


def _tail_problems(
    connection: Connection,
    public_key: Ed25519PublicKey,
    *,
    after: tuple[int, str] | None = None,
    until: int | None = None,
) -> list[Problem]:
    """Problems in the entries after the newest valid checkpoint (or ``after``), up to ``until``."""
    start = after or _last_valid_checkpoint(connection, public_key)
    query = _entries_query().where(audit_log.c.seq > start[0]).order_by(audit_log.c.seq)
    if until is not None:
        query = query.where(audit_log.c.seq <= until)
    verifier = ChainVerifier((), public_key, after=start)
    _feed(verifier, _stream(connection, query))
    return verifier.finish()


def _feed(verifier: ChainVerifier, rows: Iterable[Row[Any]]) -> None:
    for row in rows:
        if not isinstance(row.seq, int):  # SQLite stores whatever it is given
            verifier.add_unreadable(None, row.prev_hash, row.hash)
            continue
        try:
            link = _link(row)
        except UNREADABLE:
            verifier.add_unreadable(row.seq, row.prev_hash, row.hash)
        else:
            verifier.add(link)


def _read_checkpoints(connection: Connection) -> tuple[list[Checkpoint], list[int | None]]:
    """The readable checkpoints, and the seqs of those that are not (None: not even the seq)."""
    readable: list[Checkpoint] = []
    unreadable: list[int | None] = []
    for row in connection.execute(_checkpoints_query().order_by(audit_checkpoints.c.seq)):
        try:
            readable.append(_checkpoint(row))
        except UNREADABLE:
            unreadable.append(row.seq if isinstance(row.seq, int) else None)
    return readable, unreadable


def _stream(connection: Connection, query: Select[Any]) -> Iterator[Row[Any]]:
    # Per statement: ``Connection.execution_options`` would change the connection in place.
    yield from connection.execute(query, execution_options={"yield_per": READ_BATCH})


def _entries_query() -> Select[Any]:
    return select(*map(_raw_time, audit_log.c))


def _checkpoints_query() -> Select[Any]:
    return select(*map(_raw_time, audit_checkpoints.c))


def _raw_time(column: Column[Any]) -> Any:
    # Parse times ourselves, so a time altered into garbage on SQLite (which stores any type
    # anywhere) is one unreadable row for ``verify``, not an exception from the result set.
    if isinstance(column.type, DateTime):
        return type_coerce(column, Text).label(column.name)
    return column


def _time(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return utc(value)
    if isinstance(value, str):
        return utc(dt.datetime.fromisoformat(value))
    raise TypeError(type(value).__name__)


def _window(since: dt.datetime | None, until: dt.datetime | None) -> list[Any]:
    # Times are stored in UTC (SQLite keeps no zone), so bounds are compared in UTC too.
    where = []
    if since is not None:
        where.append(audit_log.c.occurred_at >= utc(since))
    if until is not None:
        where.append(audit_log.c.occurred_at < utc(until))
    return where


def _row(link: Link) -> dict[str, object]:
    entry = link.entry
    return {
        "seq": entry.seq,
        "event_id": str(entry.event_id),
        "kind": str(entry.kind),
        "occurred_at": entry.occurred_at,
        "viewer_id": entry.viewer_id,
        "role": entry.role,
        "organisation_id": entry.organisation_id,
        "child_id": str(entry.child_id),
        "purpose": entry.purpose,
        "parts": json.dumps(list(entry.parts), separators=(",", ":")),
        "expires_at": entry.expires_at,
        "reviews": None if entry.reviews is None else str(entry.reviews),
        "sealed": entry.sealed,
        "prev_hash": link.prev_hash,
        "hash": link.hash,
    }


def _entry(row: Row[Any]) -> AuditEntry:
    parts = json.loads(row.parts)
    if not isinstance(parts, list) or not all(isinstance(part, str) for part in parts):
        raise ValueError("parts is not a JSON array of strings")
    return AuditEntry(
        seq=row.seq,
        event_id=UUID(row.event_id),
        kind=AuditKind(row.kind),
        occurred_at=_time(row.occurred_at),
        viewer_id=row.viewer_id,
        role=row.role,
        organisation_id=row.organisation_id,
        child_id=UUID(row.child_id),
        purpose=row.purpose,
        parts=tuple(parts),
        expires_at=None if row.expires_at is None else _time(row.expires_at),
        reviews=None if row.reviews is None else UUID(row.reviews),
        sealed=_bytes(row.sealed),
    )


def _bytes(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, bytes | memoryview):  # SQLite keeps whatever type it was given
        raise TypeError(type(value).__name__)
    return bytes(value)


def _link(row: Row[Any]) -> Link:
    return Link(_entry(row), row.prev_hash, row.hash)


def _checkpoint(row: Row[Any]) -> Checkpoint:
    if not isinstance(row.seq, int) or not isinstance(row.hash, str):
        raise TypeError("checkpoint seq or hash has the wrong type")
    if not isinstance(row.signature, bytes | memoryview):
        raise TypeError("checkpoint signature is not bytes")
    return Checkpoint(seq=row.seq, hash=row.hash, signature=bytes(row.signature), signed_at=_time(row.signed_at))


def _checkpoint_row(checkpoint: Checkpoint) -> dict[str, object]:
    return {
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "signature": checkpoint.signature,
        "signed_at": checkpoint.signed_at,
    }


def _track(connection: Connection, position: Position) -> Insert:
    """Upsert one partition's position; it only ever moves forward (redeliveries are absorbed)."""
    statement = _dialect_insert(connection, audit_tracking).values(
        topic=position.topic, partition=position.partition, applied_offset=position.offset, updated_at=_now()
    )
    current = audit_tracking.c.applied_offset
    newer = statement.excluded.applied_offset
    return statement.on_conflict_do_update(
        index_elements=[audit_tracking.c.topic, audit_tracking.c.partition],
        set_={
            "applied_offset": case((newer > current, newer), else_=current),
            "updated_at": statement.excluded.updated_at,
        },
    )


def _dialect_insert(connection: Connection, table: Table) -> Any:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(UNSUPPORTED_DIALECT.format(dialect=dialect))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
