"""Connector configuration files (``deploy/connectors/NAME.toml``).

``[source]`` belongs to the connector (its ``from_config`` validates it); ``[run]`` belongs to
the runner. A string value ``"env:NAME"`` anywhere is replaced by environment variable NAME, so
secrets stay out of the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

NOT_FOUND = "connector config {path} does not exist"
BAD_TOML = "connector config {path} is not valid TOML: {error}"
NO_SOURCE = "connector config {path} has no [source] table"
BAD_RUN = "connector config {path}: [run] {error}"
MISSING_ENV = "connector config {path}: environment variable {name} (referenced as env:{name}) is not set"
DEV_ONLY = "connector config {path}: [source] {key} is a development value; in production give it from the environment (\"env:NAME\")"
DEV_PREFIX = "dev-only"  # every development secret the repository ships starts so (deploy/connectors, PartyIds)
PARTY_SECRET_KEYS = ("party_secret", "guardian_secret")


class ConfigError(ValueError):
    """The file cannot configure a connector; the message names the file and the key."""


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    poll_interval_s: float = Field(30.0, gt=0, description="seconds between polls when caught up")
    batch_size: int = Field(500, ge=1, le=10_000, description="records per source request")
    max_backoff_s: float = Field(60.0, gt=0, description="longest wait between retries while the source is down")
    metrics_port: int | None = Field(None, ge=1, le=65535, description=(
        "serve the connector's Prometheus metrics (kronobarn_connector_*) at http://0.0.0.0:PORT/metrics"))


class ConnectorConfig(BaseModel):
    source: dict[str, Any]
    run: RunConfig


def load_config(path: Path) -> ConnectorConfig:
    if not path.is_file():
        raise ConfigError(NOT_FOUND.format(path=path))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(BAD_TOML.format(path=path, error=exc)) from None
    raw = _resolve_env(raw, path)
    if not isinstance(raw.get("source"), dict):
        raise ConfigError(NO_SOURCE.format(path=path))
    try:
        run = RunConfig(**raw.get("run", {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(BAD_RUN.format(path=path, error=f"{where}: {first['msg']}")) from None
    return ConnectorConfig(source=raw["source"], run=run)


def _resolve_env(value: Any, path: Path) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_env(v, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, path) for v in value]
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ConfigError(MISSING_ENV.format(path=path, name=name))
        return os.environ[name]
    return value


def production_refusals(path: Path, source: dict[str, Any], names_parties: bool) -> list[str]:
    """Why a ``[source]`` table must not run in production: the development secrets the repository
    ships (client secrets, the party secret), and, for a connector that names parties, a party
    secret left out (the development default would then be used)."""
    refusals = [DEV_ONLY.format(path=path, key=key) for key, value in sorted(source.items())
                if isinstance(value, str) and value.startswith(DEV_PREFIX)]
    if names_parties and not any(key in source for key in PARTY_SECRET_KEYS):
        refusals.append(DEV_ONLY.format(path=path, key="party_secret (absent, so the development default)"))
    return refusals
