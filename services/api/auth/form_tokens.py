"""Form tokens: the synchronizer token every form of the pages carries (OWASP ASVS 4.0 V4.2.2).

A browser holds a random *form cookie* (HttpOnly, SameSite=Lax, for the browser session); every
page puts ``HMAC(form key, form cookie)`` into its forms as a hidden field, and a form post is
taken only if the field matches the cookie it came with. Another site can make a browser post a
form, but it can read neither the cookie nor a page of ours, so it cannot know the field.

The form key is derived from the hub's master key with HKDF, so every replica computes the same
token and nothing is stored per session. The cookie is renewed at login and at logout, which binds
a token to one login: a token from before a login (another user's, or an attacker's planted
cookie's) does not carry over.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.responses import Response

from services.settings import Settings

COOKIE = "kronobarn_form"
FIELD = "csrf_token"
HKDF_INFO = b"kronobarn form token v1"
COOKIE_BYTES = 32

NO_ORIGIN = "the form post names no Origin: it is taken only from a page of this site"
FOREIGN_ORIGIN = "the form was posted from another site"
NO_FORM_TOKEN = "the form carries no valid form token: reload the page and send the form again"


def cookie_secure(settings: Settings) -> bool:
    """Are the hub's cookies (login and form) marked Secure? By default in production."""
    return settings.api_cookie_secure if settings.api_cookie_secure is not None else settings.env == "production"


def new_cookie() -> str:
    return secrets.token_urlsafe(COOKIE_BYTES)


def give_form_cookie(response: Response, settings: Settings, value: str | None = None) -> None:
    """Set the form cookie (a new one unless ``value``) on ``response``, for the browser session."""
    response.set_cookie(COOKIE, value or new_cookie(), path="/", httponly=True, samesite="lax",
                        secure=cookie_secure(settings))


class FormTokens:
    """Computes and checks the form token of a form cookie."""

    def __init__(self, master_key: bytes) -> None:
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(master_key)

    def token(self, cookie: str) -> str:
        mac = hmac.new(self._key, cookie.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def valid(self, cookie: str | None, token: object) -> bool:
        if not cookie or not isinstance(token, str):
            return False
        return hmac.compare_digest(self.token(cookie).encode(), token.encode())  # str: ASCII only, bytes: any
