"""The tamper-evident access log (DESIGN §6 Audit, §9 "Audit-log tampering"), as pure functions.

Every ``ChildDataViewed``, ``EmergencyAccessOpened``, ``EmergencyAccessReviewed`` and ``ChildDataErased`` becomes one
``AuditEntry`` with a sequence number. Entries form a hash chain, ``hash(n) = sha256(hash(n-1) || canonical(entry n))``
starting from ``GENESIS_HASH``, and the seq is part of the canonical bytes. Every so often a
checkpoint signs ``(seq, hash, signed_at)`` with the hub's Ed25519 audit key.

What ``verify`` detects, given the stored entries and checkpoints:

- an edited entry (its fields no longer hash to its stored hash);
- a deleted entry (a gap in the seq numbers, or a chain that no longer links);
- reordering (entries swapped or renumbered: seqs are hashed, and each entry names its
  predecessor's hash, so the chain shows where an entry really belongs);
- a forged or edited checkpoint (the signature fails), and a log rewritten up to a checkpoint
  (the checkpoint's hash differs from the entry's) even when every hash was recomputed;
- truncation of the tail back past a checkpoint (the checkpoint points beyond the end).

What it cannot detect, and why checkpoints bound it: the chain itself is keyless, so someone
who can write the database can recompute hashes. Entries *after the last checkpoint* are
therefore protected only against naive tampering: a careful attacker can rewrite them, cut
them off (tail truncation back to just after the last checkpoint leaves a valid prefix, so
nothing is missing as far as the database can tell), or chain made-up entries onto them. With
automatic checkpoints every N entries that window is at most N-1 entries, or whatever arrived
since the last on-demand checkpoint if that is fewer; run ``kronobarn audit checkpoint`` on a
schedule to shrink it. Both ways of signing verify the unsigned tail first and refuse to sign
a broken one. Deleting checkpoints as well widens the window back to the newest surviving
checkpoint; the defences are a copy of recent checkpoints outside the database (they are small
and signed) and, ultimately, the ``access`` topic, from which the log can be rebuilt and
compared.

Problem messages name seq numbers and event ids only, never personal data.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas.events import ChildDataErased, ChildDataViewed, EmergencyAccessOpened, EmergencyAccessReviewed, Event
from schemas.sealing import SealedBox

CANONICAL_VERSION = 1
GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry: 32 zero bytes, as hex."""
DEFAULT_CHECKPOINT_EVERY = 1_000
CHECKPOINT_DOMAIN = b"kronobarn audit checkpoint v1\n"  # signatures over nothing else verify

NOT_AN_ACCESS_EVENT = ("only ChildDataViewed, EmergencyAccessOpened, EmergencyAccessReviewed and ChildDataErased are "
                       "audited, not {name}")
COMMENT_NOT_SEALED = "a review's comment is logged as ciphertext only; decode access events unopened, not {kind}"
REVIEW_PURPOSE = "review"
BAD_CHECKPOINT_EVERY = "checkpoints come every N >= 1 entries, got {every}"

# Problem messages: seq numbers and event ids only.
ENTRY_ALTERED = "entry at seq {seq} (event {event_id}) does not match its hash: edited, or moved from another seq"
ENTRY_UNREADABLE = "entry at seq {seq} cannot be read back: its stored fields were altered"
SEQ_UNREADABLE = "an entry's seq is not a number: the row was altered"
CHECKPOINT_UNREADABLE = "checkpoint at seq {seq} cannot be read back: it was altered"
CHECKPOINT_SEQ_UNREADABLE = "a checkpoint's seq is not a number: it was altered"
ENTRIES_MISSING = "entries at seq {first}..{last} are missing: deleted"
SEQ_NOT_ASCENDING = "entry at seq {seq} (event {event_id}) comes after seq {previous}: the log is out of order"
CHAIN_BROKEN = "entry at seq {seq} (event {event_id}) does not link to the entry before it: an entry was altered, deleted or inserted"
ENTRY_REORDERED = "entry at seq {seq} (event {event_id}) links to the entry at seq {after}: entries were reordered"
CHECKPOINT_FORGED = "checkpoint at seq {seq} has an invalid signature: forged or edited"
CHECKPOINT_MISMATCH = "checkpoint at seq {seq} does not match the log's hash there: the log was rewritten up to seq {seq}"
CHECKPOINT_BEYOND_END = "checkpoint at seq {seq} is beyond the last entry (seq {last}): the log was truncated"


class AuditKind(enum.StrEnum):
    VIEW = "view"
    EMERGENCY = "emergency"
    REVIEW = "review"  # an auditor's review of an emergency access
    ERASURE = "erasure"  # an administrator erased the child (crypto-shredding)


class ProblemKind(enum.StrEnum):
    ENTRY_ALTERED = "entry_altered"
    ENTRY_UNREADABLE = "entry_unreadable"
    CHECKPOINT_UNREADABLE = "checkpoint_unreadable"
    ENTRIES_MISSING = "entries_missing"
    SEQ_NOT_ASCENDING = "seq_not_ascending"
    CHAIN_BROKEN = "chain_broken"
    ENTRY_REORDERED = "entry_reordered"
    CHECKPOINT_FORGED = "checkpoint_forged"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    CHECKPOINT_BEYOND_END = "checkpoint_beyond_end"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One logged access: who (viewer, role, organisation) read which parts of whose data, when, why.

    ``purpose`` is the stated purpose of a view, the reason code of an emergency access, or
    ``review``; ``expires_at`` is set only for emergency access. A review names the emergency
    access it reviews (``reviews``) and keeps the auditor's comment as the ciphertext it travelled
    in (``sealed``, under the child's key: erasing the child erases it). Times are UTC.
    """

    seq: int
    event_id: UUID
    kind: AuditKind
    occurred_at: dt.datetime
    viewer_id: str
    role: str
    organisation_id: str
    child_id: UUID
    purpose: str
    parts: tuple[str, ...] = ()
    expires_at: dt.datetime | None = None
    reviews: UUID | None = None
    sealed: bytes | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """An entry as stored: with its predecessor's hash and its own (hex SHA-256)."""

    entry: AuditEntry
    prev_hash: str
    hash: str

    @property
    def seq(self) -> int:
        return self.entry.seq


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The audit key's signature over the chain hash at ``seq``."""

    seq: int
    hash: str
    signature: bytes
    signed_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``verify``. ``message`` is safe to print: ids and seq numbers only."""

    kind: ProblemKind
    message: str
    seq: int | None = None
    event_id: UUID | None = None

    def __str__(self) -> str:
        return self.message


# --- entries and their bytes -------------------------------------------------------------


def entry_from_event(event: Event, seq: int) -> AuditEntry:
    """The audit entry for an access event, at position ``seq`` of the log."""
    env = event.envelope
    if isinstance(event, ChildDataViewed):
        return AuditEntry(
            seq=seq, event_id=env.event_id, kind=AuditKind.VIEW, occurred_at=utc(env.occurred_at),
            viewer_id=event.viewer_id, role=event.role, organisation_id=event.organisation_id,
            child_id=env.child_id, purpose=event.purpose, parts=tuple(event.parts),
        )
    if isinstance(event, EmergencyAccessOpened):
        return AuditEntry(
            seq=seq, event_id=env.event_id, kind=AuditKind.EMERGENCY, occurred_at=utc(env.occurred_at),
            viewer_id=event.viewer_id, role=event.role, organisation_id=event.organisation_id,
            child_id=env.child_id, purpose=event.reason_code, expires_at=utc(event.expires_at),
        )
    if isinstance(event, EmergencyAccessReviewed):
        return AuditEntry(
            seq=seq, event_id=env.event_id, kind=AuditKind.REVIEW, occurred_at=utc(env.occurred_at),
            viewer_id=event.reviewer_id, role=event.role, organisation_id=event.organisation_id,
            child_id=env.child_id, purpose=REVIEW_PURPOSE, reviews=event.emergency_event_id,
            sealed=_ciphertext(env.sealed),
        )
    if isinstance(event, ChildDataErased):
        # The parts name every id whose key was deleted; the justification is the audit key's
        # ciphertext (``services.erasure``), so it still opens after the child's key is gone.
        return AuditEntry(
            seq=seq, event_id=env.event_id, kind=AuditKind.ERASURE, occurred_at=utc(env.occurred_at),
            viewer_id=event.administrator_id, role=event.role, organisation_id=event.organisation_id,
            child_id=env.child_id, purpose=event.reason_code, parts=tuple(str(c) for c in event.erased_child_ids),
            sealed=event.justification,
        )
    raise TypeError(NOT_AN_ACCESS_EVENT.format(name=type(event).__name__))


def _ciphertext(sealed: object) -> bytes | None:
    if sealed is None:
        return None
    if isinstance(sealed, SealedBox):
        return sealed.ciphertext
    raise TypeError(COMMENT_NOT_SEALED.format(kind=type(sealed).__name__))


def canonical(entry: AuditEntry) -> bytes:
    """Stable bytes of an entry: JSON with sorted keys, no whitespace, ASCII only, UTC times.

    A review adds ``reviews`` and ``sealed`` (the ciphertext, hex). Any other entry has them
    only if they were set, so entries logged before reviews existed hash as they always did,
    and a review id or ciphertext written into a view's row still breaks its hash.
    """
    document: dict[str, object] = {
        "v": CANONICAL_VERSION,
        "seq": entry.seq,
        "event_id": str(entry.event_id),
        "kind": str(entry.kind),
        "occurred_at": _time(entry.occurred_at),
        "viewer_id": entry.viewer_id,
        "role": entry.role,
        "organisation_id": entry.organisation_id,
        "child_id": str(entry.child_id),
        "purpose": entry.purpose,
        "parts": list(entry.parts),
        "expires_at": None if entry.expires_at is None else _time(entry.expires_at),
    }
    if entry.kind is AuditKind.REVIEW or entry.reviews is not None:
        document["reviews"] = None if entry.reviews is None else str(entry.reviews)
    if entry.kind is AuditKind.REVIEW or entry.sealed is not None:
        document["sealed"] = None if entry.sealed is None else entry.sealed.hex()
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def chain_hash(prev_hash: str, entry: AuditEntry) -> str:
    """``sha256(prev_hash || canonical(entry))`` as hex; ``prev_hash`` is hex too."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical(entry)).hexdigest()


def chain(entries: Iterable[AuditEntry], prev_hash: str = GENESIS_HASH) -> list[Link]:
    """Link entries onto a chain whose head hash is ``prev_hash``."""
    links = []
    for entry in entries:
        link = Link(entry, prev_hash, chain_hash(prev_hash, entry))
        links.append(link)
        prev_hash = link.hash
    return links


def utc(moment: dt.datetime) -> dt.datetime:
    """The same instant in UTC; naive times (SQLite gives those back) are taken as UTC."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _time(moment: dt.datetime) -> str:
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- checkpoints -------------------------------------------------------------------------


def checkpoint_message(seq: int, hash_: str, signed_at: dt.datetime) -> bytes:
    """What a checkpoint signature covers: a fixed domain tag, then seq, hash and signing time."""
    body = json.dumps({"hash": hash_, "seq": seq, "signed_at": _time(signed_at)}, sort_keys=True, separators=(",", ":"))
    return CHECKPOINT_DOMAIN + body.encode("ascii")


def sign_checkpoint(key: Ed25519PrivateKey, link: Link, signed_at: dt.datetime) -> Checkpoint:
    signed_at = utc(signed_at)
    signature = key.sign(checkpoint_message(link.seq, link.hash, signed_at))
    return Checkpoint(seq=link.seq, hash=link.hash, signature=signature, signed_at=signed_at)


def checkpoint_valid(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    try:
        message = checkpoint_message(checkpoint.seq, checkpoint.hash, checkpoint.signed_at)
        public_key.verify(checkpoint.signature, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def checkpoints_due(links: Iterable[Link], last_checkpoint_seq: int, every: int) -> list[Link]:
    """The links to checkpoint so that no more than ``every`` entries go unsigned."""
    if every < 1:
        raise ValueError(BAD_CHECKPOINT_EVERY.format(every=every))
    due = []
    for link in links:
        if link.seq - last_checkpoint_seq >= every:
            due.append(link)
            last_checkpoint_seq = link.seq
    return due


# --- verification ------------------------------------------------------------------------


class ChainVerifier:
    """Walks the log once, in seq order, holding only what a problem needs (10M entries fit).

    Feed every stored entry with ``add`` (or ``add_unreadable`` when a row could not be turned
    back into an entry), then call ``finish``. ``verify`` does all three for a list. ``after``
    verifies only the segment following a trusted ``(seq, hash)``, e.g. the last checkpoint.
    """

    def __init__(
        self,
        checkpoints: Iterable[Checkpoint],
        public_key: Ed25519PublicKey,
        *,
        after: tuple[int, str] = (0, GENESIS_HASH),
    ) -> None:
        self._problems: list[Problem] = []
        self._previous: int = after[0]
        self._expected_prev: object = after[1]
        # Hashes of entries nothing linked to, and entries linking to a hash not seen yet: a
        # reordered entry is found when the two meet, in either order.
        self._unfollowed: dict[object, int] = {}
        self._awaiting: dict[object, list[tuple[int, UUID | None]]] = {}
        self._by_seq: dict[int, Checkpoint] = {}
        for checkpoint in checkpoints:
            if checkpoint_valid(public_key, checkpoint):
                self._by_seq[checkpoint.seq] = checkpoint
            else:
                self._report(ProblemKind.CHECKPOINT_FORGED, CHECKPOINT_FORGED, checkpoint.seq)

    def add(self, link: Link) -> None:
        entry = link.entry
        try:
            intact = chain_hash(link.prev_hash, entry) == link.hash
        except (ValueError, TypeError):  # prev_hash is no longer hex text
            intact = False
        if not intact:
            self._report(ProblemKind.ENTRY_ALTERED, ENTRY_ALTERED, entry.seq, entry.event_id)
        self._step(entry.seq, entry.event_id, link.prev_hash, link.hash)

    def add_unreadable(self, seq: int | None, prev_hash: object, hash_: object) -> None:
        """A stored row that is no longer an entry; with ``seq=None`` when even its seq is not a number."""
        if seq is None:
            self._report(ProblemKind.ENTRY_UNREADABLE, SEQ_UNREADABLE, None)
            return
        self._report(ProblemKind.ENTRY_UNREADABLE, ENTRY_UNREADABLE, seq)
        self._step(seq, None, prev_hash, hash_)

    def checkpoint_unreadable(self, seq: int | None) -> None:
        template = CHECKPOINT_SEQ_UNREADABLE if seq is None else CHECKPOINT_UNREADABLE
        self._report(ProblemKind.CHECKPOINT_UNREADABLE, template, seq)

    def finish(self) -> list[Problem]:
        for waiting in self._awaiting.values():
            for seq, event_id in waiting:
                self._report(ProblemKind.CHAIN_BROKEN, CHAIN_BROKEN, seq, event_id)
        self._awaiting.clear()
        for seq in sorted(self._by_seq):
            if seq > self._previous:
                self._report(ProblemKind.CHECKPOINT_BEYOND_END, CHECKPOINT_BEYOND_END, seq, last=self._previous)
        return sorted(self._problems, key=lambda p: (p.seq if p.seq is not None else -1))

    def _step(self, seq: int, event_id: UUID | None, prev_hash: object, hash_: object) -> None:
        if seq <= self._previous:
            self._report(ProblemKind.SEQ_NOT_ASCENDING, SEQ_NOT_ASCENDING, seq, event_id, previous=self._previous)
            explained = True
        elif seq > self._previous + 1:
            self._report(ProblemKind.ENTRIES_MISSING, ENTRIES_MISSING, self._previous + 1,
                         first=self._previous + 1, last=seq - 1)
            explained = True  # the gap explains why this entry does not link
        else:
            explained = False
        if prev_hash != self._expected_prev and not explained:
            self._unfollowed[self._expected_prev] = self._previous
            if prev_hash in self._unfollowed:
                after = self._unfollowed[prev_hash]
                self._report(ProblemKind.ENTRY_REORDERED, ENTRY_REORDERED, seq, event_id, after=after)
            else:
                self._awaiting.setdefault(prev_hash, []).append((seq, event_id))
        for waiting_seq, waiting_id in self._awaiting.pop(hash_, ()):
            self._report(ProblemKind.ENTRY_REORDERED, ENTRY_REORDERED, waiting_seq, waiting_id, after=seq)
        checkpoint = self._by_seq.get(seq)
        if checkpoint is not None and checkpoint.hash != hash_:
            self._report(ProblemKind.CHECKPOINT_MISMATCH, CHECKPOINT_MISMATCH, seq)
        self._expected_prev = hash_
        self._previous = max(self._previous, seq)

    def _report(self, kind: ProblemKind, template: str, seq: int | None, event_id: UUID | None = None,
                **extra: object) -> None:
        message = template.format(seq=seq, event_id=event_id, **extra)
        self._problems.append(Problem(kind, message, seq, event_id))


def verify(
    links: Iterable[Link], checkpoints: Iterable[Checkpoint], public_key: Ed25519PublicKey
) -> list[Problem]:
    """Every problem found in a log given in seq order; an empty list means intact (see module doc)."""
    verifier = ChainVerifier(checkpoints, public_key)
    for link in links:
        verifier.add(link)
    return verifier.finish()

