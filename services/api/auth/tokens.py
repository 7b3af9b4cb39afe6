"""Who is calling: RS256 bearer JWTs from the county's identity provider, checked against its JWKS.

Only RS256 is accepted. The algorithm is checked before any key is looked up, so ``alg: none``
and the HS256-with-the-public-key confusion never reach a verifier, and PyJWT is told the same
again. Keys come from ``KRONOBARN_JWKS_URL`` through ``jwt.PyJWKClient``, which caches the key
set and refetches it (at most once per cooldown) when a token names an unknown key id, so key
rotation works without a restart and a flood of made-up key ids cannot flood the provider.

Every failure is an ``AuthError`` whose message is one of the constants below: it never
quotes the token or any claim value taken from it.
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from services.settings import Settings

ALGORITHM = "RS256"
ROLE_CLAIM = "role"
NAME_CLAIM = "name"
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
JWKS_CACHE_S = 300.0  # how long a fetched key set is trusted before it is fetched again
JWKS_COOLDOWN_S = 30.0  # at most one refetch per this long for unknown key ids
JWKS_TIMEOUT_S = 5.0
VERIFIED_CACHE_S = 60.0  # a verified token is trusted again for this long (never past its expiry)
VERIFIED_CACHE_SIZE = 4_096

MISSING_TOKEN = "no bearer token"
NOT_BEARER = "authorization is not a bearer token"
MALFORMED_TOKEN = "token is malformed"
UNSUPPORTED_ALGORITHM = "token algorithm is not allowed; only RS256 is accepted"
MISSING_KEY_ID = "token has no key id"
UNKNOWN_KEY_ID = "token is signed with an unknown key id"
KEYS_UNAVAILABLE = "the identity provider's keys cannot be fetched"
BAD_SIGNATURE = "token signature is invalid"
EXPIRED = "token has expired"
NOT_YET_VALID = "token is not valid yet"
WRONG_AUDIENCE = "token is for another audience"
WRONG_ISSUER = "token is from another issuer"
MISSING_CLAIM = "token lacks the {claim!r} claim"
BAD_CLAIM = "token claim {claim!r} is not a non-empty string"
UNKNOWN_ROLE = "token role is not one of coordinator, auditor, administrator"
INVALID_TOKEN = "token is invalid"

JWKS_URL_MISSING = "KRONOBARN_JWKS_URL is not set; the API cannot check tokens without the identity provider's keys"
ISSUER_MISSING = "KRONOBARN_JWT_ISSUER is not set; tokens must be pinned to one issuer"
JWKS_URL_NOT_HTTPS = "KRONOBARN_JWKS_URL must be https in production: whoever serves the keys decides who logs in"


class Role(enum.StrEnum):
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``name_hint`` is for display only, never for decisions."""

    subject: str
    role: Role
    organisation_id: str
    name_hint: str | None = None


class AuthError(Exception):
    """A request that is not authenticated. ``reason`` is a message constant of this module."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class AuthConfigError(Exception):
    """Authentication is not configured well enough to check any token."""


class SigningKeys(Protocol):
    """Where verification keys come from: a JWKS URL in production, a local set in dev."""

    def signing_key(self, kid: str) -> PyJWK: ...


class JwksKeys:
    """Keys from a JWKS URL, cached by ``jwt.PyJWKClient``."""

    def __init__(
        self,
        url: str,
        *,
        cache_s: float = JWKS_CACHE_S,
        cooldown_s: float = JWKS_COOLDOWN_S,
        timeout_s: float = JWKS_TIMEOUT_S,
    ) -> None:
        self._client = PyJWKClient(
            url, cache_jwk_set=True, lifespan=cache_s, cooldown_duration=cooldown_s, timeout=timeout_s
        )

    def signing_key(self, kid: str) -> PyJWK:
        try:
            return self._client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            raise AuthError(KEYS_UNAVAILABLE) from None
        except (jwt.PyJWKClientError, jwt.PyJWKSetError):
            raise AuthError(UNKNOWN_KEY_ID) from None


class StaticKeys:
    """Keys from a JWKS document held in memory (the dev identity provider, tests)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = {key.key_id: key for key in PyJWKSet.from_dict(jwks).keys if key.key_id}

    def signing_key(self, kid: str) -> PyJWK:
        try:
            return self._keys[kid]
        except KeyError:
            raise AuthError(UNKNOWN_KEY_ID) from None


@dataclass(frozen=True, slots=True)
class AuthConfig:
    issuer: str
    audience: str
    leeway_s: float = 30.0
    org_claim: str = "org"


class TokenVerifier:
    """Turns a bearer token into a ``Principal``, or raises ``AuthError``."""

    def __init__(self, config: AuthConfig, keys: SigningKeys, *, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._keys = keys
        self._clock = clock
        # Token -> (principal, trusted until): a page load brings the same token many times and
        # an RS256 check per request is most of what authentication costs.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        """The production verifier: the JWKS URL and the issuer must both be configured."""
        if not settings.jwks_url:
            raise AuthConfigError(JWKS_URL_MISSING)
        if settings.env == "production" and not settings.jwks_url.lower().startswith("https://"):
            raise AuthConfigError(JWKS_URL_NOT_HTTPS)
        if not settings.jwt_issuer:
            raise AuthConfigError(ISSUER_MISSING)
        return cls(auth_config_from(settings, settings.jwt_issuer), JwksKeys(settings.jwks_url))

    def verify_authorization(self, header: str | None) -> Principal:
        """Verify an HTTP ``Authorization`` header value (``Bearer <token>``)."""
        if not header:
            raise AuthError(MISSING_TOKEN)
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise AuthError(NOT_BEARER)
        return self.verify(token.strip())

    def verify(self, token: str) -> Principal:
        if not token:
            raise AuthError(MISSING_TOKEN)
        now = self._clock()
        with self._lock:
            hit = self._verified.get(token)
            if hit is not None and now < hit[1]:
                self._verified.move_to_end(token)
                return hit[0]
        principal, expires = self._verify(token)
        with self._lock:
            self._verified[token] = (principal, min(now + VERIFIED_CACHE_S, expires + self._config.leeway_s))
            while len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError(MALFORMED_TOKEN) from None
        if header.get("alg") != ALGORITHM:
            raise AuthError(UNSUPPORTED_ALGORITHM)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError(MISSING_KEY_ID)
        key = self._keys.signing_key(kid)
        if key.key_type != "RSA":
            raise AuthError(UNKNOWN_KEY_ID)  # a JWKS entry of another kind never verifies RS256
        claims = self._decode(token, key)
        return self._principal(claims), float(claims["exp"])

    def _decode(self, token: str, key: PyJWK) -> dict[str, Any]:
        config = self._config
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                audience=config.audience,
                issuer=config.issuer,
                leeway=dt.timedelta(seconds=config.leeway_s),
                options={"require": [*REQUIRED_CLAIMS, config.org_claim, ROLE_CLAIM]},
            )
        # Order matters: several of these subclass each other. ``from None`` throughout, so no
        # library message (which may quote the token) travels with the error.
        except jwt.ExpiredSignatureError:
            raise AuthError(EXPIRED) from None
        except jwt.ImmatureSignatureError:
            raise AuthError(NOT_YET_VALID) from None
        except jwt.InvalidAudienceError:
            raise AuthError(WRONG_AUDIENCE) from None
        except jwt.InvalidIssuerError:
            raise AuthError(WRONG_ISSUER) from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(MISSING_CLAIM.format(claim=exc.claim)) from None
        except jwt.InvalidSignatureError:
            raise AuthError(BAD_SIGNATURE) from None
        except jwt.InvalidAlgorithmError:
            raise AuthError(UNSUPPORTED_ALGORITHM) from None
        except jwt.DecodeError:
            raise AuthError(MALFORMED_TOKEN) from None
        except jwt.PyJWTError:
            raise AuthError(INVALID_TOKEN) from None

    def _principal(self, claims: dict[str, Any]) -> Principal:
        subject = _text_claim(claims, "sub")
        organisation_id = _text_claim(claims, self._config.org_claim)
        try:
            role = Role(_text_claim(claims, ROLE_CLAIM))
        except ValueError:
            raise AuthError(UNKNOWN_ROLE) from None
        name = claims.get(NAME_CLAIM)
        return Principal(subject, role, organisation_id, name if isinstance(name, str) and name else None)


def auth_config_from(settings: Settings, issuer: str) -> AuthConfig:
    return AuthConfig(
        issuer=issuer,
        audience=settings.jwt_audience,
        leeway_s=settings.jwt_leeway_s,
        org_claim=settings.jwt_org_claim,
    )


def _text_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if value is None:
        raise AuthError(MISSING_CLAIM.format(claim=name))
    if not isinstance(value, str) or not value.strip():
        raise AuthError(BAD_CLAIM.format(claim=name))
    return value
