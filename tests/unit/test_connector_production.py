"""In production a connector refuses the development secrets the repository ships: the client
secrets and the party secret of ``deploy/connectors``, and a party secret left out (the
development default would name every guardian under a public key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.registry import CONNECTORS, connector_class
from services.ingest.cli import run_connector_command
from services.ingest.config import production_refusals
from services.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "connectors"
PARTY_NAMING = {"health", "population"}  # the connectors whose facts name guardians or parents


def reference(source: dict[str, object], names_parties: bool) -> set[str]:
    """The keys a production run must refuse."""
    bad = {k for k, v in source.items() if isinstance(v, str) and v.lower().startswith("dev-only")}
    if names_parties and "party_secret" not in source and "guardian_secret" not in source:
        bad.add("party_secret")
    return bad


@pytest.mark.parametrize(("source", "names_parties"), [
    ({"url": "https://x", "client_secret": "dev-only-secret"}, False),
    ({"url": "https://x", "client_secret": "s3cret"}, False),
    ({"client_secret": "s3cret"}, True),  # the party secret left out
    ({"client_secret": "s3cret", "party_secret": "dev-only guardian secret"}, True),
    ({"client_secret": "s3cret", "guardian_secret": "county secret"}, True),
    ({"database_url": "postgresql://ro@cases/cases", "timeout_s": 15}, False),
])
def test_production_refuses_exactly_the_development_secrets(source: dict[str, object], names_parties: bool) -> None:
    refusals = production_refusals(Path("x.toml"), dict(source), names_parties)
    assert {r.split("] ")[1].split(" ")[0] for r in refusals} == reference(source, names_parties)
    assert not any(str(v) in r for r in refusals for v in source.values() if v != "x")  # keys, never values


def test_every_connector_that_names_parties_says_so() -> None:
    assert {name for name in CONNECTORS if connector_class(name).names_parties} == PARTY_NAMING


@pytest.mark.parametrize("name", ["health", "population", "school"])  # social's file holds no secret
def test_the_shipped_development_files_do_not_start_in_production(name: str, capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    settings = Settings(_env_file=None, env="production", database_url=f"sqlite:///{tmp_path / 'x.db'}")  # type: ignore[call-arg]
    assert run_connector_command(settings, name, DEPLOY / f"{name}.toml", once=True) == 2
    printed = capsys.readouterr().out
    assert "development value" in printed and "dev-only" not in printed
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened
