"""The audit-log signing key: from ``KRONOBARN_AUDIT_SIGNING_KEY``, or a public dev-only key.

It follows ``services.sql.keystore.master_key_from``: production refuses to start without a key,
dev falls back to a fixed key derived from a published seed (so dev checkpoints survive
restarts) and warns once. The dev key protects nothing: anyone can sign with it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.settings import Settings

log = structlog.get_logger(__name__)

ED25519_KEY_BYTES = 32
DEV_AUDIT_KEY_SEED = b"kronobarn: dev-only audit signing key, public, never use outside env=dev"

AUDIT_KEY_MISSING = (
    "KRONOBARN_AUDIT_SIGNING_KEY is not set; production needs a base64-encoded raw 32-byte "
    "Ed25519 private key (e.g. python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
)
AUDIT_KEY_NOT_BASE64 = "KRONOBARN_AUDIT_SIGNING_KEY is not valid base64"
PUBLIC_KEY_NOT_BASE64 = "the audit public key is not valid base64"
AUDIT_KEY_BAD_LENGTH = "an Ed25519 key must be {expected} bytes, got {actual}"


class AuditKeyError(Exception):
    """The audit signing key is missing or malformed."""


def audit_signing_key_from(settings: Settings) -> Ed25519PrivateKey:
    """The checkpoint-signing key; a fixed public key in dev only."""
    if settings.audit_signing_key is None:
        if settings.env == "production":
            raise AuditKeyError(AUDIT_KEY_MISSING)
        _warn_dev_audit_key()
        return dev_audit_signing_key()
    return decode_audit_signing_key(settings.audit_signing_key.get_secret_value())


def decode_audit_signing_key(encoded: str) -> Ed25519PrivateKey:
    raw = _decode(encoded, AUDIT_KEY_NOT_BASE64)
    return Ed25519PrivateKey.from_private_bytes(raw)


def decode_audit_public_key(encoded: str) -> Ed25519PublicKey:
    """An auditor's copy of the public key (base64 raw 32 bytes): verify without the secret."""
    raw = _decode(encoded, PUBLIC_KEY_NOT_BASE64)
    return Ed25519PublicKey.from_public_bytes(raw)


def encode_public_key(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def dev_audit_signing_key() -> Ed25519PrivateKey:
    """Ed25519 from SHA-256 of ``DEV_AUDIT_KEY_SEED``: reproducible, documented, worthless as a secret."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(DEV_AUDIT_KEY_SEED).digest())


def _decode(encoded: str, not_base64: str) -> bytes:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise AuditKeyError(not_base64) from None  # never chain: it quotes the input
    if len(raw) != ED25519_KEY_BYTES:
        raise AuditKeyError(AUDIT_KEY_BAD_LENGTH.format(expected=ED25519_KEY_BYTES, actual=len(raw)))
    return raw


@functools.cache
def _warn_dev_audit_key() -> None:
    log.warning("dev_audit_signing_key_in_use", hint="set KRONOBARN_AUDIT_SIGNING_KEY outside dev")
