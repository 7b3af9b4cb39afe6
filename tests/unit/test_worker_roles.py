"""Which agents each ``kronobarn worker --role`` runs, and in which consumer group."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.settings import Settings
from services.worker.app import create_app
from services.worker.roles import Role, group_for

AGENTS = {Role.ALL: {"gate_agent", "project", "audit"}, Role.GATE: {"gate_agent"}, Role.READ: {"project", "audit"}}


@pytest.mark.parametrize("role", list(Role))
async def test_each_role_runs_its_agents_in_its_group(role: Role, tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:1", database_url=f"sqlite:///{tmp_path / 'hub.db'}",  # type: ignore[call-arg]
                        worker_group="hub-1", _env_file=None)
    app = create_app(settings, role=role)
    assert {name.rsplit(".", 1)[-1] for name in app.agents} == AGENTS[role]
    assert app.conf.id == group_for(settings, role) == ("hub-1-read" if role is Role.READ else "hub-1")
    # Only the gate keeps a table; its changelog is named after the hub's group in every role.
    assert [t.changelog_topic.get_topic_name() for t in app.tables.values()] == \
        (["hub-1-gate-changelog"] if role is not Role.READ else [])
