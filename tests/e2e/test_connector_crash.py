"""kill -9 a connector mid-batch, restart it: nothing lost, no record gets a second event id.

The connector runs as ``kronobarn connector run NAME --config FILE --once`` in a subprocess
against a private broker, so the topic holds only this run; its stand-in is served from the
test process. The expected ids come from an independent dry run of the same connector.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from sqlalchemy import select

from schemas.codec import Codec
from schemas.events import ChildIdentitiesMerged
from services.ingest.runner import MERGED_NAMESPACE
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from services.sql.db import make_engine
from services.sql.schema import identity_links
from tests.support.ingest import dry_run, toml_source
from tests.support.kafka import read_all
from tests.support.standins import NAMES, harness

KRONOBARN = str(Path(sys.executable).with_name("kronobarn"))
TOPIC = {"health": "intake.health", "school": "intake.school", "social": "intake.social",
         "population": "intake.population"}
START_TIMEOUT_S = 120


async def _published(settings: Settings, topic: str) -> int:
    consumer = kafka.consumer(settings)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()


@pytest.mark.parametrize("name", NAMES)
def test_kill_9_mid_batch_then_restart(name: str, tmp_path: Path) -> None:
    # Social cases are rare (a few % of children): a bigger county gives it a run worth killing.
    source = harness(name, tmp_path / "standin", children=3_000 if name == "social" else 900)
    source.prepare()
    source.start()
    try:
        with EmbeddedBroker(port=free_port()) as broker:
            settings = Settings(kafka_bootstrap=broker.bootstrap)
            asyncio.run(kafka.create_topics(settings))
            reference_db = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
            # Small pages, so a kill lands mid-batch. SS 12000 is paged by the same size, and its
            # monthly attendance sums are one row per pupil and activity: at 10 the school ran to
            # some 12,000 requests and three and a half minutes; at 100, a tenth of the requests.
            batch = 100 if name == "school" else 10
            reference = asyncio.run(dry_run(source.connector(batch_size=batch), settings, reference_db))
            # Merges of two ids of one newborn (one child, one id) carry the random child ids in
            # their event id; they are counted, the rest compared by id.
            with reference_db.connect() as c:
                links = c.execute(select(identity_links)).all()
            reference_db.dispose()
            merge_ids = {str(uuid.uuid5(MERGED_NAMESPACE, f"{k.merged_id}|{k.surviving_id}")) for k in links}
            expected = set(reference.event_ids) - merge_ids
            config = tmp_path / f"{name}.toml"
            config.write_text(toml_source(source.source(), {"batch_size": batch}))
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")},
                   "KRONOBARN_KAFKA_BOOTSTRAP": broker.bootstrap,
                   "KRONOBARN_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}
            args = [KRONOBARN, "connector", "run", name, "--config", str(config), "--once"]

            proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + START_TIMEOUT_S
            # Kill once a good share is out, so checkpoints were saved and a page is in flight.
            while asyncio.run(_published(settings, TOPIC[name])) < len(expected) // 4:
                assert proc.poll() is None, proc.stdout.read().decode()[-3000:]  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "connector published nothing"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            killed_at = asyncio.run(_published(settings, TOPIC[name]))
            assert killed_at < len(expected), "killed only after everything was published"

            done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300,
                                  stdin=subprocess.DEVNULL)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            # A newborn seen by personnummer before its birth record links two ids: the link is
            # announced on intake.population, whichever connector made it.
            records = asyncio.run(read_all(settings, sorted({TOPIC[name], "intake.population"})))
    finally:
        source.stop()

    codec = Codec()
    copies: dict[str, list[tuple[str, bytes | None]]] = defaultdict(list)
    merges = set()
    for record in records:
        event = codec.decode_record(record)
        if isinstance(event, ChildIdentitiesMerged):
            merges.add(event.event_id)
            continue
        copies[str(event.event_id)].append((str(event.child_id), record.key))
    assert len(merges) == len(merge_ids)
    assert set(copies) == expected, (
        f"lost {len(expected - set(copies))}, unexpected ids {len(set(copies) - expected)}"
    )
    # A redelivered record is the same event: same id, same child, same key.
    assert all(len(set(variants)) == 1 for variants in copies.values())
    duplicates = sum(len(v) - 1 for v in copies.values())
    print(f"\n{name}: killed after {killed_at} of {len(expected)} events; after restart all "
          f"{len(expected)} present, {duplicates} redelivered duplicates recognisable by event id")
