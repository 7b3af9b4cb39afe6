"""Bearer-token authentication: RS256 only, keys from a JWKS, every failure a typed AuthError.

The JWKS tests fetch over real HTTP from a ``http.server`` on a free localhost port.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.standins.county import County
from services.api.auth import tokens as auth
from services.api.auth.devlogin import (
    DEV_ISSUER,
    DevIdentityProvider,
    DevLoginRefused,
    dev_login_enabled,
    dev_user,
    dev_users,
)
from services.api.auth.tokens import (
    AuthConfig,
    AuthConfigError,
    AuthError,
    JwksKeys,
    Principal,
    Role,
    StaticKeys,
    TokenVerifier,
)
from services.settings import Settings

DEV = Settings(env="dev", _env_file=None)  # type: ignore[call-arg]
COORDINATOR = Principal("dev-coordinator-kommun-0780-soc", Role.COORDINATOR, "kommun-0780-soc", "Samordnare")
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(autouse=True)
def _now() -> None:
    """Each test's tokens are timed from when it runs, not from when the module was imported:
    in the whole suite that can be many minutes apart, longer than a token lives."""
    global NOW
    NOW = dt.datetime.now(dt.UTC)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def provider() -> DevIdentityProvider:
    return DevIdentityProvider(DEV)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def verifier(provider: DevIdentityProvider) -> TokenVerifier:
    return provider.verifier()


def claims(**override: Any) -> dict[str, Any]:
    base = {
        "iss": DEV_ISSUER, "aud": "kronobarn", "sub": "u-1", "iat": NOW, "exp": NOW + dt.timedelta(minutes=5),
        "role": "coordinator", "org": "kommun-0780-soc",
    }
    base.update(override)
    return {k: v for k, v in base.items() if v is not None}


def signed(provider: DevIdentityProvider, body: dict[str, Any], **headers: Any) -> str:
    """A token with any claims under the provider's key (what a buggy or hostile IdP might send)."""
    return jwt.encode(body, provider._key, algorithm="RS256", headers={"kid": provider.kid, **headers})


def rejected(verifier: TokenVerifier, token: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        verifier.verify(token)
    assert token not in str(caught.value)
    assert caught.value.__cause__ is None  # library messages never travel along
    return caught.value


# --- the dev identity provider's tokens --------------------------------------------------


def test_a_dev_token_verifies_to_its_principal(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    assert verifier.verify(provider.issue(COORDINATOR)) == COORDINATOR


def test_every_dev_user_round_trips(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    for user in dev_users():
        assert verifier.verify(provider.issue(user, dt.timedelta(minutes=1))) == user


def test_dev_tokens_are_rs256_with_a_key_id(provider: DevIdentityProvider) -> None:
    header = jwt.get_unverified_header(provider.issue(COORDINATOR))
    assert header == {"alg": "RS256", "kid": provider.kid, "typ": "JWT"}
    [key] = provider.jwks()["keys"]
    assert (key["kid"], key["kty"], key["alg"], key["use"]) == (provider.kid, "RSA", "RS256", "sig")
    assert "d" not in key  # public half only


def test_dev_users_cover_the_county(provider: DevIdentityProvider) -> None:
    county = County()
    orgs = {user.organisation_id for user in dev_users(county.directory) if user.role is Role.COORDINATOR}
    for kind in ("MHV", "BHV", "SOCIAL", "KAA"):
        assert {unit.id for unit in county.units_of(kind)} <= orgs
    assert {"kommun-0780-soc", "kommun-0764-kaa"} <= orgs
    assert any(org.startswith("skolenhet-") for org in orgs)
    roles = [user.role for user in dev_users(county.directory)]
    assert roles.count(Role.AUDITOR) == roles.count(Role.ADMINISTRATOR) == 1
    assert dev_user("dev-auditor").role is Role.AUDITOR
    with pytest.raises(KeyError):
        dev_user("nobody")


def test_dev_key_kept_in_a_file_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "var" / "devlogin" / "key.pem"
    first = DevIdentityProvider(DEV, key_file=path)
    second = DevIdentityProvider(DEV, key_file=path)
    assert first.kid == second.kid
    assert second.verifier().verify(first.issue(COORDINATOR)) == COORDINATOR
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_token_lifetimes_are_bounded(provider: DevIdentityProvider) -> None:
    with pytest.raises(ValueError):
        provider.issue(COORDINATOR, dt.timedelta(days=2))
    with pytest.raises(ValueError):
        provider.issue(COORDINATOR, dt.timedelta(0))


def test_the_organisation_claim_name_is_configurable() -> None:
    settings = Settings(env="dev", jwt_org_claim="hsa_org", _env_file=None)  # type: ignore[call-arg]
    custom = DevIdentityProvider(settings)
    token = custom.issue(COORDINATOR)
    assert jwt.decode(token, options={"verify_signature": False})["hsa_org"] == "kommun-0780-soc"
    assert custom.verifier().verify(token) == COORDINATOR


# --- dev login only in dev -----------------------------------------------------------------


def test_dev_login_is_on_by_default_in_dev_only() -> None:
    assert dev_login_enabled(DEV)
    assert not dev_login_enabled(Settings(env="dev", dev_login=False, _env_file=None))  # type: ignore[call-arg]
    assert not dev_login_enabled(Settings(env="production", _env_file=None))  # type: ignore[call-arg]
    assert not dev_login_enabled(Settings(env="production", dev_login=True, _env_file=None))  # type: ignore[call-arg]


@pytest.mark.parametrize("settings", [
    Settings(env="production", _env_file=None),  # type: ignore[call-arg]
    Settings(env="production", dev_login=True, _env_file=None),  # type: ignore[call-arg]
    Settings(env="dev", dev_login=False, _env_file=None),  # type: ignore[call-arg]
], ids=["production", "production-forced", "dev-switched-off"])
def test_dev_login_is_refused_outside_dev_mode(settings: Settings) -> None:
    with pytest.raises(DevLoginRefused, match="KRONOBARN_ENV=dev"):
        DevIdentityProvider(settings)


def test_production_verifier_needs_a_jwks_url_and_an_issuer() -> None:
    with pytest.raises(AuthConfigError, match="KRONOBARN_JWKS_URL"):
        TokenVerifier.from_settings(Settings(env="production", jwt_issuer="https://idp", _env_file=None))  # type: ignore[call-arg]
    with pytest.raises(AuthConfigError, match="KRONOBARN_JWT_ISSUER"):
        TokenVerifier.from_settings(Settings(env="production", jwks_url="https://idp/jwks", _env_file=None))  # type: ignore[call-arg]
    with pytest.raises(AuthConfigError, match="https"):
        TokenVerifier.from_settings(Settings(env="production", jwks_url="http://idp/jwks", jwt_issuer="https://idp", _env_file=None))  # type: ignore[call-arg]


# --- a real JWKS URL -----------------------------------------------------------------------


class JwksServer:
    """Serves a JWKS document at /jwks.json on a free port, counting fetches."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                server.fetches += 1
                body = json.dumps(server.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def jwks_server(provider: DevIdentityProvider) -> Iterator[JwksServer]:
    with JwksServer(provider.jwks()) as server:
        yield server


def url_verifier(url: str, **options: float) -> TokenVerifier:
    return TokenVerifier(AuthConfig(issuer=DEV_ISSUER, audience="kronobarn"), JwksKeys(url, **options))


def test_tokens_verify_through_a_jwks_url_and_the_keys_are_cached(
    provider: DevIdentityProvider, jwks_server: JwksServer
) -> None:
    verifier = url_verifier(jwks_server.url)
    for _ in range(3):
        assert verifier.verify(provider.issue(COORDINATOR)) == COORDINATOR
    assert jwks_server.fetches == 1


def test_from_settings_uses_the_configured_jwks_url(provider: DevIdentityProvider, jwks_server: JwksServer) -> None:
    # A plain-http JWKS is allowed outside production only (here: the local test server).
    settings = Settings(env="dev", jwks_url=jwks_server.url, jwt_issuer=DEV_ISSUER, _env_file=None)  # type: ignore[call-arg]
    assert TokenVerifier.from_settings(settings).verify(provider.issue(COORDINATOR)) == COORDINATOR


def test_unknown_key_ids_refetch_at_most_once_per_cooldown(
    provider: DevIdentityProvider, other_key: rsa.RSAPrivateKey, jwks_server: JwksServer
) -> None:
    verifier = url_verifier(jwks_server.url, cooldown_s=60)
    verifier.verify(provider.issue(COORDINATOR))
    for i in range(5):
        token = jwt.encode(claims(), other_key, algorithm="RS256", headers={"kid": f"made-up-{i}"})
        assert rejected(verifier, token).reason == auth.UNKNOWN_KEY_ID
    assert jwks_server.fetches == 1


def test_a_rotated_key_is_picked_up_without_a_restart(provider: DevIdentityProvider, jwks_server: JwksServer) -> None:
    verifier = url_verifier(jwks_server.url, cooldown_s=0)
    verifier.verify(provider.issue(COORDINATOR))
    rotated = DevIdentityProvider(DEV)
    jwks_server.jwks = {"keys": provider.jwks()["keys"] + rotated.jwks()["keys"]}
    assert verifier.verify(rotated.issue(COORDINATOR)) == COORDINATOR
    assert jwks_server.fetches == 2


def test_an_unreachable_jwks_url_is_a_typed_error(provider: DevIdentityProvider) -> None:
    with JwksServer({}) as server:
        url = server.url
    verifier = url_verifier(url, timeout_s=1)
    assert rejected(verifier, provider.issue(COORDINATOR)).reason == auth.KEYS_UNAVAILABLE


# --- what is rejected ----------------------------------------------------------------------


def test_expired_token_is_rejected(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    token = provider.issue(COORDINATOR, dt.timedelta(minutes=5), now=NOW - dt.timedelta(minutes=10))
    assert rejected(verifier, token).reason == auth.EXPIRED


def test_clock_skew_within_the_leeway_is_tolerated(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    token = provider.issue(COORDINATOR, dt.timedelta(minutes=5), now=NOW - dt.timedelta(minutes=5, seconds=10))
    assert verifier.verify(token) == COORDINATOR
    early = provider.issue(COORDINATOR, now=NOW + dt.timedelta(seconds=10))
    assert verifier.verify(early) == COORDINATOR


def test_a_token_from_the_future_is_rejected(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    token = provider.issue(COORDINATOR, now=NOW + dt.timedelta(minutes=10))
    assert rejected(verifier, token).reason == auth.NOT_YET_VALID


def test_wrong_audience_is_rejected(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    assert rejected(verifier, signed(provider, claims(aud="another-service"))).reason == auth.WRONG_AUDIENCE


def test_wrong_issuer_is_rejected(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    assert rejected(verifier, signed(provider, claims(iss="https://evil.example"))).reason == auth.WRONG_ISSUER


def test_a_token_signed_with_another_key_under_a_known_kid_is_rejected(
    provider: DevIdentityProvider, other_key: rsa.RSAPrivateKey, verifier: TokenVerifier
) -> None:
    token = jwt.encode(claims(), other_key, algorithm="RS256", headers={"kid": provider.kid})
    assert rejected(verifier, token).reason == auth.BAD_SIGNATURE


def test_a_token_under_an_unknown_kid_is_rejected(other_key: rsa.RSAPrivateKey, verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), other_key, algorithm="RS256", headers={"kid": "someone-elses"})
    assert rejected(verifier, token).reason == auth.UNKNOWN_KEY_ID


def test_a_tampered_payload_is_rejected(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    header, _, signature = provider.issue(COORDINATOR).split(".")
    body = {**claims(), "role": "administrator", "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 300}
    payload = b64url(json.dumps(body).encode())
    assert rejected(verifier, f"{header}.{payload}.{signature}").reason == auth.BAD_SIGNATURE


def test_hs256_signed_with_the_public_key_is_rejected(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    # The classic confusion: the attacker uses the published RSA public key as an HMAC secret.
    public_pem = provider._key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": provider.kid}).encode())
    body = {**claims(), "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 300}
    payload = b64url(json.dumps(body).encode())
    signature = b64url(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert rejected(verifier, f"{header}.{payload}.{signature}").reason == auth.UNSUPPORTED_ALGORITHM


def test_alg_none_is_rejected(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": provider.kid}).encode())
    body = {**claims(), "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 300}
    token = f"{header}.{b64url(json.dumps(body).encode())}."
    assert rejected(verifier, token).reason == auth.UNSUPPORTED_ALGORITHM


@pytest.mark.parametrize("algorithm", ["RS512", "PS256", "HS256"])
def test_other_algorithms_are_rejected(provider: DevIdentityProvider, verifier: TokenVerifier, algorithm: str) -> None:
    key: Any = provider._key if not algorithm.startswith("HS") else "x" * 32
    token = jwt.encode(claims(), key, algorithm=algorithm, headers={"kid": provider.kid})
    assert rejected(verifier, token).reason == auth.UNSUPPORTED_ALGORITHM


def test_a_token_without_a_key_id_is_rejected(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), provider._key, algorithm="RS256")
    assert rejected(verifier, token).reason == auth.MISSING_KEY_ID


@pytest.mark.parametrize("claim", ["org", "role", "sub", "exp", "iat", "aud", "iss"])
def test_a_missing_claim_is_rejected_by_name(provider: DevIdentityProvider, verifier: TokenVerifier, claim: str) -> None:
    error = rejected(verifier, signed(provider, claims(**{claim: None})))
    assert error.reason == auth.MISSING_CLAIM.format(claim=claim)


def test_a_missing_org_claim_names_the_configured_claim(provider: DevIdentityProvider) -> None:
    verifier = TokenVerifier(AuthConfig(DEV_ISSUER, "kronobarn", org_claim="hsa_org"), provider.keys())
    assert rejected(verifier, signed(provider, claims())).reason == "token lacks the 'hsa_org' claim"


@pytest.mark.parametrize("value", ["", "   ", 42, ["kommun-0780-soc"]])
def test_an_org_claim_that_is_not_a_string_is_rejected(
    provider: DevIdentityProvider, verifier: TokenVerifier, value: object
) -> None:
    assert rejected(verifier, signed(provider, claims(org=value))).reason == auth.BAD_CLAIM.format(claim="org")


def test_an_unknown_role_is_rejected_without_echoing_it(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    error = rejected(verifier, signed(provider, claims(role="superuser")))
    assert error.reason == auth.UNKNOWN_ROLE
    assert "superuser" not in str(error)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "e30.e30.", "ey.ey.ey"])
def test_malformed_tokens_are_rejected(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(AuthError) as caught:
        verifier.verify(token)
    assert caught.value.reason in {auth.MISSING_TOKEN, auth.MALFORMED_TOKEN, auth.UNSUPPORTED_ALGORITHM}


def test_a_jwks_key_of_another_type_never_verifies(provider: DevIdentityProvider) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    keys = StaticKeys({"keys": [{**ec_jwk, "kid": provider.kid}]})
    verifier = TokenVerifier(AuthConfig(DEV_ISSUER, "kronobarn"), keys)
    assert rejected(verifier, provider.issue(COORDINATOR)).reason == auth.UNKNOWN_KEY_ID


# --- the Authorization header --------------------------------------------------------------


def test_bearer_header_is_parsed(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    token = provider.issue(COORDINATOR)
    assert verifier.verify_authorization(f"Bearer {token}") == COORDINATOR
    assert verifier.verify_authorization(f"bearer  {token} ") == COORDINATOR


@pytest.mark.parametrize("header, reason", [
    (None, auth.MISSING_TOKEN), ("", auth.MISSING_TOKEN), ("Bearer", auth.MISSING_TOKEN),
    ("Basic dXNlcjpwYXNz", auth.NOT_BEARER),
])
def test_bad_authorization_headers_are_rejected(verifier: TokenVerifier, header: str | None, reason: str) -> None:
    with pytest.raises(AuthError) as caught:
        verifier.verify_authorization(header)
    assert caught.value.reason == reason


# --- the verified-token cache ----------------------------------------------------------------


class CountingKeys:
    """The provider's keys, counting lookups: a lookup means the token was verified afresh."""

    def __init__(self, provider: DevIdentityProvider) -> None:
        self.inner, self.lookups = provider.keys(), 0

    def signing_key(self, kid: str) -> jwt.PyJWK:
        self.lookups += 1
        return self.inner.signing_key(kid)


def test_a_verified_token_is_trusted_again_without_a_second_signature_check(provider: DevIdentityProvider) -> None:
    keys = CountingKeys(provider)
    clock = [NOW.timestamp()]
    verifier = TokenVerifier(AuthConfig(DEV_ISSUER, "kronobarn"), keys, clock=lambda: clock[0])
    token = signed(provider, claims())
    assert verifier.verify(token) == verifier.verify(token) == Principal("u-1", Role.COORDINATOR, "kommun-0780-soc")
    assert keys.lookups == 1
    clock[0] += auth.VERIFIED_CACHE_S + 1  # trust runs out: checked again
    verifier.verify(token)
    assert keys.lookups == 2


def test_a_cached_token_is_never_trusted_past_its_expiry(provider: DevIdentityProvider) -> None:
    keys = CountingKeys(provider)
    clock = [NOW.timestamp()]
    verifier = TokenVerifier(AuthConfig(DEV_ISSUER, "kronobarn", leeway_s=0), keys, clock=lambda: clock[0])
    token = signed(provider, claims(exp=NOW + dt.timedelta(seconds=10)))
    verifier.verify(token)
    clock[0] += 9
    verifier.verify(token)
    assert keys.lookups == 1
    clock[0] += 2  # inside the cache's minute but past exp: the cache no longer answers for it
    verifier.verify(token)  # (PyJWT's own clock has not reached exp, so the fresh check passes)
    assert keys.lookups == 2


def test_rejected_tokens_are_not_cached(provider: DevIdentityProvider, verifier: TokenVerifier) -> None:
    token = signed(provider, claims(aud="another"))
    for _ in range(2):
        assert rejected(verifier, token).reason == auth.WRONG_AUDIENCE


@pytest.mark.parametrize(("host", "env", "dev_login", "allowed", "refused"), [
    ("127.0.0.1", "dev", None, False, False),
    ("::1", "dev", None, False, False),
    ("[::1]", "dev", None, False, False),
    ("localhost", "dev", None, False, False),
    ("127.0.0.2", "dev", None, False, False),  # all of 127/8 is loopback
    ("0.0.0.0", "dev", None, False, True),
    ("::", "dev", None, False, True),
    ("192.168.1.20", "dev", None, False, True),
    ("hub.example.internal", "dev", None, False, True),  # a name may resolve to anything
    ("0.0.0.0", "dev", None, True, False),  # said on purpose
    ("0.0.0.0", "dev", False, False, False),  # no dev login to hand out
    ("0.0.0.0", "production", None, False, False),  # never a dev login in production
])
def test_the_dev_login_is_served_on_loopback_only_unless_asked(host: str, env: str, dev_login: bool | None,
                                                              allowed: bool, refused: bool) -> None:
    from services.api.auth.devlogin import network_refusal
    from services.settings import Settings

    settings = Settings(_env_file=None, env=env, dev_login=dev_login,  # type: ignore[call-arg]
                        **({"master_key": base64.b64encode(bytes(32)).decode(),
                            "audit_signing_key": base64.b64encode(bytes(32)).decode()} if env == "production" else {}))
    reason = network_refusal(settings, host, allowed)
    assert (reason is not None) is refused
    if refused:
        assert host in reason and "--dev-login-on-network" in reason and "KRONOBARN_DEV_LOGIN=false" in reason
