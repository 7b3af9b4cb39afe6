"""kill -9 the worker (gate + projector) again and again during a load of 100k+ events, then
let it finish: the read model must be exactly what a replay from offset 0 builds (DESIGN §9).

Equal digests mean 0 lost and 0 duplicated rows. Redeliveries the projector absorbed (events at
or below a position the read model had already tracked) are counted from the workers' logs.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.readmodel.engine import CONSUMER
from services.settings import Settings
from tests.support.gate import Workers
from tests.support.history import county_history
from tests.support.projector import caught_up, hub, publish, replay_cli

CHILDREN = 9_800  # about 96k events published; with the gate's releases about 110k records to project
MIN_PROJECTED = 100_000
KILLS = 5  # each costs a worker's start and a rebuild: ten made this the suite's longest test (7 min)
PROGRESS_BETWEEN_KILLS = 2_000  # offsets the projector must have written between two kills
SKIPPED = re.compile(r"projector\.redelivered.*?skipped=(\d+)")


def _progress(store) -> int:  # type: ignore[no-untyped-def]
    return sum(store.positions(CONSUMER).values())


@pytest.mark.timeout(1500)
def test_projector_loses_and_duplicates_nothing_when_killed(tmp_path: Path) -> None:
    history = county_history(CHILDREN)
    live_url = f"sqlite:///{tmp_path / 'live.db'}"
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(cfg))
        _, codec, store = hub(live_url)
        asyncio.run(publish(cfg, codec, history))
        with Workers(broker.bootstrap, tmp_path, tick_s=5.0, database_url=live_url) as workers:
            workers.start()
            kills, mark = 0, 0
            deadline = time.monotonic() + 900
            while kills < KILLS and time.monotonic() < deadline:
                if _progress(store) >= mark + PROGRESS_BETWEEN_KILLS:
                    workers.kill9()
                    kills += 1
                    mark = _progress(store)
                    workers.start()
                time.sleep(0.2)
            assert caught_up(cfg, store, timeout=900), "the projector did not finish; see " + str(workers.logs[-1])
            assert workers.alive()
        live = store.digest()
        counts = store.counts()
        done = replay_cli(broker.bootstrap, live_url, f"sqlite:///{tmp_path / 'replay.db'}", cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    _, _, replayed = hub(f"sqlite:///{tmp_path / 'replay.db'}")
    absorbed = sum(int(n) for log in workers.logs for n in SKIPPED.findall(log.read_text(errors="replace")))
    records = re.search(r"replayed ([\d,]+) records", done.stdout)
    print(f"\nprojector crash: {len(history):,} events published, {records.group(1) if records else '?'} records "
          f"projected, {kills} kill -9, redeliveries absorbed {absorbed:,}, rows {sum(counts.values()):,}")
    assert kills == KILLS, f"only {kills} kills: the load finished too early"
    assert records and int(records.group(1).replace(",", "")) >= MIN_PROJECTED
    assert counts["children"] == CHILDREN
    assert replayed.counts() == counts
    assert replayed.digest() == live
