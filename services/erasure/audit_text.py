"""Free text that belongs to the audit log, not to a child: an erasure's justification.

It is sealed with AES-256-GCM under the *audit key*, derived from the hub's master key with HKDF
(a key of its own, so it never opens a child's data and a child's key never opens it). It must
outlive the child's key: an auditor reads why a child was erased long after the child's own data
reads ERASED. The event id is bound as associated data, so a justification moved onto another
audit entry does not open.
"""

from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from schemas.sealing import KEY_BYTES, NONCE_BYTES

VERSION = b"\x01"
HKDF_INFO = b"kronobarn audit text v1"


class AuditText:
    """Seals and opens the audit log's own free text under the audit key."""

    def __init__(self, master_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=HKDF_INFO).derive(master_key)
        self._aead = AESGCM(key)

    def seal(self, event_id: uuid.UUID, text: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, text.encode(), event_id.bytes)

    def open(self, event_id: uuid.UUID, sealed: bytes) -> str | None:
        """The text, or None if it does not open (altered, moved, or another master key)."""
        if sealed[:1] != VERSION:
            return None
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, event_id.bytes).decode()
        except (InvalidTag, UnicodeDecodeError):
            return None
