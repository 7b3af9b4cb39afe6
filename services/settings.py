"""Typed runtime settings, read from ``KRONOBARN_*`` environment variables.

Nothing here connects or opens a file: ``get_settings()`` only reads the environment, and
callers build clients and engines from the result in their own wiring code.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from projections.consent_rules import ConsentPolicy

DEFAULT_DATABASE = Path("var") / "kronobarn.db"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KRONOBARN_", extra="ignore")

    env: Literal["dev", "production"] = Field("dev", description="dev enables dev-only conveniences")

    # Kafka: any Kafka-protocol cluster; the embedded broker is only the dev default.
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="comma-separated host:port list")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    partitions: int = Field(4, ge=1, description="partition count of every topic (co-partitioned)")
    replication_factor: int = Field(1, ge=1)

    # Stream workers: their consumer group, also the prefix of their tables' changelog topics.
    worker_group: str = Field("kronobarn", min_length=1, description="consumer group of `kronobarn worker`")
    worker_fetch_wait_ms: int = Field(100, ge=1, le=30_000, description=(
        "longest a worker's fetch waits for records (Faust fixes 1,500; the embedded broker always "
        "waits it out, so it is the floor of intake → shared latency)"))
    worker_linger_ms: int = Field(20, ge=0, le=1_000, description=(
        "how long a worker's producer gathers records into one batch (Faust's default is 0: a "
        "batch per record or few, and each batch is one more entry every reader of the topic pages through)"))

    # Reports of concern: the social services' case registers they are delivered into (docs/statutory-route.md).
    social_register_url: str | None = Field(None, description=(
        "SQLAlchemy URL of the case register that takes the reports of concern filed through the hub, "
        "with write access to its import; unset (and no social_register_urls): reports wait on statutory.social"))
    social_register_urls: dict[str, str] = Field(default_factory=dict, description=(
        "a register per municipality code, as JSON ({\"0780\": \"postgresql://...\"}); for the codes it names, "
        "in place of social_register_url"))
    report_assess_every_s: float = Field(10.0, gt=0, le=3_600, description=(
        "how often the registers are asked whether an investigation was opened on a delivered report"))

    # Embedded broker (dev and tests only).
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(9092, ge=1, le=65535)

    # Read model, identity registry and key store.
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite under ./var/")

    # Secrets. Dev falls back to fixed dev-only values; production refuses to start without them.
    master_key: SecretStr | None = Field(None, description="base64 32-byte key-encryption key")
    identity_secret: SecretStr | None = Field(
        None, description="county secret for the HMAC index of personnummer (base64, >= 32 bytes)"
    )
    audit_signing_key: SecretStr | None = Field(
        None, description="base64 raw 32-byte Ed25519 private key that signs audit-log checkpoints"
    )
    audit_checkpoint_every: int = Field(1_000, ge=1, description="the audit projector signs a checkpoint every N entries")
    audit_checkpoint_interval_s: float = Field(
        300.0, gt=0, description="and at least this often (seconds) when entries arrived since the last one"
    )

    # Authentication of API callers: RS256 bearer JWTs from the county's identity provider.
    jwks_url: str | None = Field(None, description="JWKS URL of the identity provider (required in production)")
    jwt_issuer: str | None = Field(None, description="expected iss claim (required in production)")
    jwt_audience: str = Field("kronobarn", description="expected aud claim")
    jwt_leeway_s: float = Field(30.0, ge=0, le=300, description="clock-skew leeway for exp, nbf and iat")
    jwt_org_claim: str = Field("org", min_length=1, description="the claim that carries the caller's organisation id")
    dev_login: bool | None = Field(
        None, description="dev identity provider for the demo; default on in dev, never on in production"
    )

    # The county directory: region, municipalities, organisation units (``services.county``).
    county_directory: Path | None = Field(
        None, description=("TOML file of the county's municipalities and organisation units "
                           "(docs/county-directory.md); dev default: the synthetic county, required in production")
    )

    # Consent (DESIGN §6; docs/consent-gate.md): the same in every process of a hub.
    consent_child_age: int = Field(15, ge=12, le=18, description=(
        "the age from which the child's own grant is required too (FB 6 kap. 11 §: the child's "
        "growing say; 15 is the county's default)"))
    consent_max_ahead_days: int = Field(365, ge=0, le=3_650, description=(
        "how far ahead of registration a consent's valid_from may lie"))
    consent_max_days: int = Field(3 * 365 + 1, ge=1, le=3_650, description=(
        "the longest period a consent may cover, valid_from to valid_to (default three years)"))

    # The web service (``kronobarn api``).
    api_cookie_secure: bool | None = Field(
        None, description="mark the login cookie Secure (HTTPS only); default on in production"
    )
    https: bool = Field(False, description="the hub is reached over HTTPS (TLS here or at a proxy in front): "
                                           "send Strict-Transport-Security")
    trusted_proxies: str = Field("", description=(
        "comma-separated addresses or networks (CIDR) of the reverse proxies in front of the web service: "
        "only their X-Forwarded-For, -Proto and -Host are believed; from anyone else they are ignored"))

    # Reminders by e-mail (``kronobarn reminders send``): off while no SMTP host is set.
    public_url: str = Field("http://127.0.0.1:8080", description=(
        "the hub's address as its users reach it (scheme and host, no path): the reminders' link to the "
        "to-do page is built from it"))
    smtp_host: str | None = Field(None, description="the mail server of the reminders; unset: no reminders")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_user: str | None = Field(None, description="login at the mail server, if it asks for one")
    smtp_password: SecretStr | None = None
    smtp_from: str = Field("kronobarn@localhost", min_length=3, description="the reminders' From: address")
    smtp_starttls: bool = Field(False, description="upgrade the connection with STARTTLS before logging in")
    smtp_timeout_s: float = Field(30.0, gt=0, le=300, description="how long to wait for the mail server")

    # Demo only.
    demo_children: int = Field(2_000, ge=10, le=45_000, description="children in the demo's synthetic county")
    demo_data_dir: Path = Field(Path("var/demo/standins"), description="where the demo's stand-ins keep data")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console in dev, JSON in production"
    )

    @property
    def consent_policy(self) -> ConsentPolicy:
        return ConsentPolicy(self.consent_child_age, dt.timedelta(days=self.consent_max_ahead_days),
                             dt.timedelta(days=self.consent_max_days))

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        _proxy_networks(value)  # a typo must stop the service, not silently trust nobody (or everybody)
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or any(ch.isspace() for ch in value):
            raise ValueError(f"public_url must be an http(s):// address, not {value!r}")
        return value.rstrip("/")

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return _proxy_networks(self.trusted_proxies)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{DEFAULT_DATABASE}"


def _proxy_networks(value: str) -> tuple[IPNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(part.strip()) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"trusted_proxies: {exc}") from None


def get_settings() -> Settings:
    return Settings()
