"""The SQL key store behind crypto-shredding (DESIGN §7): one wrapped data key per child.

Data keys are stored AES-256-GCM-wrapped under a master key, with the child id as associated
data, so a database dump alone opens nothing and a key row copied to another child fails.

Erasure is final. Both writers first claim the child's row in ``child_keys`` (an insert), so
on PostgreSQL the primary-key index makes a concurrent create and erase of one child wait for
each other, and SQLite serialises all writers anyway. A create also checks for the tombstone
inside its own transaction and rolls back if it finds one, so no key can outlive an erasure.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
from datetime import UTC, datetime
from uuid import UUID

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, Exists, Insert, Select, Table, delete, exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from schemas.codec import Codec
from schemas.sealing import KEY_BYTES, NONCE_BYTES, ChildErased, Sealer, new_data_key
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.sql.schema import child_keys, erased_children

log = structlog.get_logger(__name__)

WRAP_VERSION = b"\x01"
CREATE_ATTEMPTS = 5

# Dev only: a fixed, published key so a dev database survives restarts. It protects nothing.
DEV_MASTER_KEY_SEED = b"kronobarn: dev-only master key, public, never use outside env=dev"

MASTER_KEY_MISSING = (
    "KRONOBARN_MASTER_KEY is not set; production needs a base64-encoded 32-byte key "
    "(e.g. python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
)
MASTER_KEY_NOT_BASE64 = "KRONOBARN_MASTER_KEY is not valid base64"
MASTER_KEY_BAD_LENGTH = "the master key must be {expected} bytes, got {actual}"
UNWRAP_FAILED = (
    "the stored key of child {child_id} does not open under this master key "
    "(wrong KRONOBARN_MASTER_KEY, or the row was altered)"
)
UNKNOWN_WRAP_VERSION = "the stored key of child {child_id} has unknown wrap version {version!r}"
CREATE_GAVE_UP = "could not create or read the key of child {child_id} after {attempts} attempts"
REASON_CODE_TOO_LONG = "reason_code may be at most {limit} characters, got {actual}"
UNSUPPORTED_DIALECT = "the key store supports SQLite and PostgreSQL, not {dialect}"


class MasterKeyError(Exception):
    """The master key is missing or malformed; the key store cannot start."""


class KeyUnwrapError(Exception):
    """A stored data key could not be unwrapped: wrong master key or an altered row."""


class SqlKeyStore:
    """``schemas.sealing.KeyStore`` on SQLite or PostgreSQL (run ``services.sql.db.migrate`` first)."""

    def __init__(self, engine: Engine, master_key: bytes) -> None:
        _check_length(master_key)
        self._engine = engine
        self._wrapper = AESGCM(master_key)

    def get(self, child_id: UUID) -> bytes | None:
        with self._engine.connect() as connection:
            wrapped = connection.scalar(_live_key_query(child_id))
        return None if wrapped is None else self._unwrap(child_id, wrapped)

    def get_or_create(self, child_id: UUID) -> bytes:
        """The child's key, created on first use; safe when many workers race for one child."""
        for _ in range(CREATE_ATTEMPTS):
            key = self.get(child_id)
            if key is not None:
                return key
            if self.is_erased(child_id):
                raise ChildErased(child_id)
            try:
                return self._create(child_id)
            except IntegrityError:
                continue  # another worker created it first: read theirs on the next pass
        raise RuntimeError(CREATE_GAVE_UP.format(child_id=child_id, attempts=CREATE_ATTEMPTS))

    def erase(self, child_id: UUID, reason_code: str | None = None) -> bool:
        """Delete the child's key for good and leave a tombstone. True if a key was deleted.

        Repeating it is harmless: the first tombstone, with its time and reason, is kept.
        ``reason_code`` is a short code (e.g. ``gdpr_art17``), never free text about the child.
        """
        _check_reason_code(reason_code)
        with self._engine.begin() as connection:
            # Claim the key row first, so an in-flight create finishes (or waits) before we look.
            had_key = _insert_or_ignore(connection, child_keys, _placeholder(child_id)) == 0
            connection.execute(delete(child_keys).where(child_keys.c.child_id == str(child_id)))
            _insert_or_ignore(connection, erased_children, _tombstone(child_id, reason_code))
        log.info(
            "child_key_erased", child_id=str(child_id), had_key=had_key, reason_code=reason_code
        )
        return had_key

    def is_erased(self, child_id: UUID) -> bool:
        with self._engine.connect() as connection:
            return connection.scalar(select(_tombstone_exists(child_id))) is True

    def _create(self, child_id: UUID) -> bytes:
        key = new_data_key()
        with self._engine.begin() as connection:
            connection.execute(
                insert(child_keys).values(
                    child_id=str(child_id),
                    wrapped_key=self._wrap(child_id, key),
                    created_at=_now(),
                )
            )
            if connection.scalar(select(_tombstone_exists(child_id))):
                raise ChildErased(child_id)  # erased meanwhile: leaving the block rolls back
        log.debug("child_key_created", child_id=str(child_id))
        return key

    def _wrap(self, child_id: UUID, key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return WRAP_VERSION + nonce + self._wrapper.encrypt(nonce, key, child_id.bytes)

    def _unwrap(self, child_id: UUID, wrapped: bytes) -> bytes:
        version = wrapped[:1]
        if version != WRAP_VERSION:
            raise KeyUnwrapError(UNKNOWN_WRAP_VERSION.format(child_id=child_id, version=version))
        nonce, sealed_key = wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :]
        try:
            return self._wrapper.decrypt(nonce, sealed_key, child_id.bytes)
        except InvalidTag as exc:
            raise KeyUnwrapError(UNWRAP_FAILED.format(child_id=child_id)) from exc


def sealing_codec(settings: Settings, engine: Engine | None = None) -> Codec:
    """A codec that opens sealed fields with the hub's key store (erased children read ERASED).
    Without an ``engine`` it connects to the hub's database (migrating it). Module-level, so a
    replay's helper processes can be handed it."""
    if engine is None:
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
    return Codec(sealer=Sealer(SqlKeyStore(engine, master_key_from(settings))))


def master_key_from(settings: Settings) -> bytes:
    """The key-encryption key from ``KRONOBARN_MASTER_KEY``; a fixed public key in dev only."""
    if settings.master_key is None:
        if settings.env == "production":
            raise MasterKeyError(MASTER_KEY_MISSING)
        _warn_dev_master_key()
        return dev_master_key()
    return decode_master_key(settings.master_key.get_secret_value())


def decode_master_key(encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(MASTER_KEY_NOT_BASE64) from None  # never chain: it quotes input
    _check_length(key)
    return key


def dev_master_key() -> bytes:
    """SHA-256 of ``DEV_MASTER_KEY_SEED``: reproducible, documented, and worthless as a secret."""
    return hashlib.sha256(DEV_MASTER_KEY_SEED).digest()


@functools.cache
def _warn_dev_master_key() -> None:
    log.warning("dev_master_key_in_use", hint="set KRONOBARN_MASTER_KEY outside dev")


def _check_length(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise MasterKeyError(MASTER_KEY_BAD_LENGTH.format(expected=KEY_BYTES, actual=len(key)))


def _check_reason_code(reason_code: str | None) -> None:
    limit = erased_children.c.reason_code.type.length
    if reason_code is not None and len(reason_code) > limit:
        raise ValueError(REASON_CODE_TOO_LONG.format(limit=limit, actual=len(reason_code)))


def _live_key_query(child_id: UUID) -> Select[tuple[bytes]]:
    # A tombstone hides any key row, as a second line of defence behind the write protocol.
    return select(child_keys.c.wrapped_key).where(
        child_keys.c.child_id == str(child_id), ~_tombstone_exists(child_id)
    )


def _tombstone_exists(child_id: UUID) -> Exists:
    return exists().where(erased_children.c.child_id == str(child_id))


def _placeholder(child_id: UUID) -> dict[str, object]:
    # Never committed: erase deletes it in the same transaction.
    return {"child_id": str(child_id), "wrapped_key": b"", "created_at": _now()}


def _tombstone(child_id: UUID, reason_code: str | None) -> dict[str, object]:
    return {"child_id": str(child_id), "erased_at": _now(), "reason_code": reason_code}


def _insert_or_ignore(connection: Connection, table: Table, values: dict[str, object]) -> int:
    """Insert unless the primary key exists; the number of rows inserted (0 or 1)."""
    statement = _dialect_insert(connection, table).values(values).on_conflict_do_nothing()
    # rowcount of an INSERT is only kept when asked for (psycopg would otherwise give -1).
    return connection.execute(statement, execution_options={"preserve_rowcount": True}).rowcount


def _dialect_insert(connection: Connection, table: Table) -> Insert:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(UNSUPPORTED_DIALECT.format(dialect=dialect))


def _now() -> datetime:
    return datetime.now(UTC)
