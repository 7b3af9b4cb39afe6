"""``kronobarn worker --role gate`` and ``--role read`` side by side do what ``--role all`` does.

A scripted county goes through one gate worker and one read worker (separate consumer groups);
the read model they build must equal, hash for hash, a replay from offset 0, as for ``all``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from tests.support.gate import Workers
from tests.support.history import county_history
from tests.support.projector import caught_up, hub, publish, replay_cli

CHILDREN = 30


@pytest.mark.timeout(600)
def test_a_gate_worker_and_a_read_worker_build_the_read_model_a_replay_builds(tmp_path: Path) -> None:
    live_url, replay_url = f"sqlite:///{tmp_path / 'live.db'}", f"sqlite:///{tmp_path / 'replay.db'}"
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap, _env_file=None)  # type: ignore[call-arg]
        asyncio.run(kafka.create_topics(cfg))
        _, codec, store = hub(live_url)
        asyncio.run(publish(cfg, codec, county_history(CHILDREN)))
        with Workers(broker.bootstrap, tmp_path, tick_s=2.0, database_url=live_url) as workers:
            gate, read = workers.start(role="gate"), workers.start(role="read")
            assert caught_up(cfg, store), "the read worker did not catch up; see " + str(workers.logs[-1])
            assert gate.poll() is None and read.poll() is None
        assert store.counts()["children"] == CHILDREN
        done = replay_cli(broker.bootstrap, live_url, replay_url, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        _, _, replayed = hub(replay_url)
        assert replayed.digest() == store.digest()
