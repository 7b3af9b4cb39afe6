"""A dev-only identity provider: the demo's users, RS256 tokens, and the JWKS to check them.

It exists so the demo and tests can log in without the county's identity provider. Tokens it
issues go through exactly the same ``TokenVerifier`` as production tokens. It refuses to start
unless ``KRONOBARN_ENV=dev`` and ``KRONOBARN_DEV_LOGIN`` is on (the default in dev); in
production it never works, whatever ``KRONOBARN_DEV_LOGIN`` says.

The RSA key is generated per process, or kept in a dev file (e.g. ``var/devlogin/key.pem``)
so tokens survive a restart. The dev users are derived from the county directory's units
(``KRONOBARN_COUNTY_DIRECTORY``; the synthetic county's in dev without one).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from schemas.county import CountyDirectory
from services.api.auth.tokens import ALGORITHM, AuthConfig, Principal, Role, StaticKeys, TokenVerifier, auth_config_from
from services.county import county_directory
from services.settings import Settings

DEV_ISSUER = "kronobarn-dev-login"
DEFAULT_KEY_FILE = Path("var") / "devlogin" / "key.pem"
DEFAULT_TTL = dt.timedelta(hours=8)
MAX_TTL = dt.timedelta(days=1)
RSA_BITS = 2048
# Organisation kinds that get a dev coordinator; school units are sampled, not all of them.
COORDINATED_KINDS = ("MHV", "BHV", "SOCIAL", "KAA")
SCHOOL_KINDS = ("SCHOOL", "UPPER_SECONDARY")

DEV_LOGIN_REFUSED = (
    "dev login works only with KRONOBARN_ENV=dev and KRONOBARN_DEV_LOGIN on; "
    "production uses the county's identity provider (KRONOBARN_JWKS_URL)"
)
BAD_TTL = "a dev token lives between 1 second and {limit}, not {ttl}"
UNKNOWN_DEV_USER = "no dev user {subject!r}"


class DevLoginRefused(Exception):
    """Dev login was asked for outside dev mode."""


def dev_login_enabled(settings: Settings) -> bool:
    """On in dev unless switched off; never on in production."""
    return settings.env == "dev" and settings.dev_login is not False


DEV_LOGIN_ON_NETWORK = (
    "refusing to serve on {host}: the dev login hands a token for any user to whoever asks, so with it on the "
    "service listens on a loopback address only. Listen on 127.0.0.1, switch the dev login off "
    "(KRONOBARN_DEV_LOGIN=false), or, on a network only you can reach, pass --dev-login-on-network"
)


def network_refusal(settings: Settings, host: str, allowed: bool = False) -> str | None:
    """Why the web service must not listen on ``host`` (None if it may): the dev login is on and the
    address is reachable from other machines, and nobody said that is intended (OWASP ASVS 14.1)."""
    if not dev_login_enabled(settings) or allowed or _loopback(host):
        return None
    return DEV_LOGIN_ON_NETWORK.format(host=host)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


class DevIdentityProvider:
    """Issues RS256 tokens for the dev users, under one key with a stable key id."""

    def __init__(self, settings: Settings, *, key_file: Path | None = None,
                 key: rsa.RSAPrivateKey | None = None) -> None:
        if not dev_login_enabled(settings):
            raise DevLoginRefused(DEV_LOGIN_REFUSED)
        self._key = key or (_load_or_create(key_file) if key_file else _new_key())
        self._public_jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        self.kid = _thumbprint(self._public_jwk)
        self.config: AuthConfig = auth_config_from(settings, settings.jwt_issuer or DEV_ISSUER)

    def jwks(self) -> dict[str, Any]:
        """The public key set, as an identity provider serves it at its JWKS URL."""
        return {"keys": [{**self._public_jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

    def issue(self, principal: Principal, ttl: dt.timedelta = DEFAULT_TTL, *,
              now: dt.datetime | None = None) -> str:
        """A signed token for ``principal``, valid for ``ttl`` (at most ``MAX_TTL``)."""
        if not dt.timedelta(seconds=1) <= ttl <= MAX_TTL:
            raise ValueError(BAD_TTL.format(limit=MAX_TTL, ttl=ttl))
        issued = now or dt.datetime.now(dt.UTC)
        claims: dict[str, Any] = {
            "iss": self.config.issuer,
            "aud": self.config.audience,
            "sub": principal.subject,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl,
            # Unique per token, as an identity provider's are: two logins of one user in one second
            # are two sessions, and a logout ends only its own.
            "jti": uuid.uuid4().hex,
            "role": str(principal.role),
            self.config.org_claim: principal.organisation_id,
        }
        if principal.name_hint:
            claims["name"] = principal.name_hint
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def keys(self) -> StaticKeys:
        return StaticKeys(self.jwks())

    def verifier(self) -> TokenVerifier:
        """A verifier that trusts this provider, for dev wiring without an HTTP round trip."""
        return TokenVerifier(self.config, self.keys())


def dev_users(directory: CountyDirectory | None = None) -> tuple[Principal, ...]:
    """The demo's users: a coordinator per MHV/BHV unit, social services, KAA and a few schools,
    plus one auditor and one administrator (of the region). ``directory``: the dev settings'
    county directory by default."""
    directory = directory or county_directory(Settings(env="dev"))
    users: list[Principal] = []
    schools_seen: set[tuple[str, str]] = set()
    for unit in directory.organisations:
        if unit.kind in SCHOOL_KINDS:
            # The first school and upper-secondary school of each municipality.
            if (unit.kind, unit.municipality_code) in schools_seen:
                continue
            schools_seen.add((unit.kind, unit.municipality_code))
        elif unit.kind not in COORDINATED_KINDS:
            continue
        users.append(Principal(f"dev-coordinator-{unit.id}", Role.COORDINATOR, unit.id,
                               f"Samordnare, {unit.name}"))
    users.append(Principal("dev-auditor", Role.AUDITOR, directory.region.id, "Granskare (dev)"))
    users.append(Principal("dev-administrator", Role.ADMINISTRATOR, directory.region.id, "Administratör (dev)"))
    return tuple(users)


def dev_user(subject: str, directory: CountyDirectory | None = None) -> Principal:
    for user in dev_users(directory):
        if user.subject == subject:
            return user
    raise KeyError(UNKNOWN_DEV_USER.format(subject=subject))


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def _load_or_create(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return key
    key = _new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return key


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a key id that changes exactly when the key does."""
    members = json.dumps({"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=").decode()
