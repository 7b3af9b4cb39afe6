"""Records sharing timestamps across page boundaries, served in random order, through a kill -9
mid-run and a source outage mid-query: nothing lost, duplicates only by event id, for every
connector (DESIGN §5).

Each stand-in is served with its ``shuffle`` knob: the school system pages in no order of time
at all (SS 12000 promises none), the FHIR server orders ties at random, the register shuffles
each page. The social register is SQL, read in the order the connector asks for; its ties are
what matters. The expected event ids come from an uninterrupted dry run of the same connector
against the same source, which must itself cover every tie record. Each test has a private
broker, so the topic holds only its own runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.exc import SQLAlchemyError

from connectors.standins import health, population, school, social
from connectors.standins.common import store_for
from schemas.codec import Codec
from schemas.events import ChildIdentitiesMerged
from services.dev.http_server import BackgroundServer
from services.ingest.runner import MERGED_NAMESPACE, Backoff, RunStats
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from services.sql.db import make_engine
from services.sql.schema import connector_checkpoints, identity_links
from tests.support.ingest import dry_run, run_connector, toml_source
from tests.support.kafka import read_all
from tests.support.standins import NAMES, Harness, harness

KRONOBARN = str(Path(sys.executable).with_name("kronobarn"))
TOPIC = {"health": "intake.health", "school": "intake.school", "social": "intake.social",
         "population": "intake.population"}
SEED = "ties"
INSTANTS, PER_INSTANT = 5, 24  # ties of 24 across pages of 4
BATCH = 4
START_TIMEOUT_S = 120


class Faults:
    """ASGI middleware: while ``down``, every API call answers 503 (the token endpoint too)."""

    def __init__(self, app: Any) -> None:
        self.app, self.down = app, False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.down:
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"unavailable"})
            return
        await self.app(scope, receive, send)


def _add_ties(h: Harness) -> set[str]:
    """``INSTANTS`` instants, each shared by ``PER_INSTANT`` new records with random ids."""
    base = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
    ids = {f"tie-{uuid.uuid4().hex[:12]}": base + dt.timedelta(seconds=n % INSTANTS)
           for n in range(INSTANTS * PER_INSTANT)}
    if h.name == "social":
        child = next(c for c in h.county if c.person is not None)
        engine = create_engine(social.url_for(h.data_dir))
        with engine.begin() as c:
            c.execute(social.reports.insert(), [
                {"id": rid, "version": 1, "updated_at": at.replace(tzinfo=None),
                 "personnummer": child.person.personnummer, "municipality_code": child.municipality_code,  # type: ignore[union-attr]
                 "reporter_category": "SCHOOL", "received_on": at.date()} for rid, at in ids.items()])
        engine.dispose()
        return set(ids)
    store = store_for(h.data_dir, h.name)
    kind = {"health": "Encounter", "school": "placements", "population": "change"}[h.name]
    # school: a förskola placement (fritidshem yields no event)
    template = next(r.body for r in store.feed(kind, None, 10_000) if r.body.get("schoolType", "FS") == "FS")
    for rid, at in ids.items():
        if h.name == "health":
            health.put(h.data_dir, {**template, "id": rid}, at=at)
        else:
            store.put(kind, rid, {**template, "id": rid}, at=at)
    return set(ids)


@contextmanager
def _served(h: Harness) -> Iterator[Faults | None]:
    if h.name == "social":
        yield None
        return
    app = {"health": lambda d: health.create_app(d, shuffle=SEED), "school": lambda d: school.app(d, shuffle=SEED),
           "population": lambda d: population.app(d, shuffle=SEED)}[h.name](h.data_dir)
    faults = Faults(app)
    h.port = free_port()
    server = BackgroundServer(faults, port=h.port).start()
    try:
        yield faults
    finally:
        server.stop()


def _merge_ids(engine: Engine) -> set[str]:
    with engine.connect() as c:
        links = c.execute(select(identity_links)).all()
    return {str(uuid.uuid5(MERGED_NAMESPACE, f"{k.merged_id}|{k.surviving_id}")) for k in links}


def _checkpoint(db: Path) -> str:
    """The saved checkpoint text ("" before the first)."""
    if not db.exists():
        return ""
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as c:
            return c.scalar(select(connector_checkpoints.c.cursor)) or ""
    except SQLAlchemyError:
        return ""  # not migrated yet
    finally:
        engine.dispose()


def _events(records: list[Any]) -> dict[str, list[tuple[str, bytes | None, str]]]:
    """Copies per event id (child, key, source record), merges left out."""
    codec, copies = Codec(), defaultdict(list)
    for record in records:
        decoded = codec.decode_record(record)
        if not isinstance(decoded, ChildIdentitiesMerged):
            copies[str(decoded.event_id)].append((str(decoded.child_id), record.key, decoded.envelope.source.record_id))
    return copies


@contextmanager
def _social_outage(h: Harness) -> Iterator[tuple[Callable[[], None], Callable[[], None]]]:
    db, away = h.data_dir / "social.db", h.data_dir / "social.db.away"

    def down() -> None:
        shutil.move(db, away)
        db.mkdir()  # a directory where the file was: cannot open

    def up() -> None:
        if away.exists():
            db.rmdir()
            shutil.move(away, db)

    try:
        yield down, up
    finally:
        up()


@pytest.mark.parametrize("name", NAMES)
def test_ties_in_random_order_survive_kill_9_and_an_outage(name: str, tmp_path: Path) -> None:
    h = harness(name, tmp_path / "standin", children=40)
    h.prepare()
    ties = _add_ties(h)
    with _served(h) as faults, EmbeddedBroker(port=free_port()) as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(settings))
        reference_db = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
        reference = asyncio.run(dry_run(h.connector(batch_size=BATCH), settings, reference_db))
        expected = set(reference.event_ids) - _merge_ids(reference_db)
        reference_db.dispose()

        # kill -9 once a page of ties is checkpointed (more follow, some at the same instant),
        # then run again to the end.
        config = tmp_path / f"{name}.toml"
        config.write_text(toml_source(h.source(), {"batch_size": BATCH}))
        hub = tmp_path / "hub.db"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")},
               "KRONOBARN_KAFKA_BOOTSTRAP": broker.bootstrap, "KRONOBARN_DATABASE_URL": f"sqlite:///{hub}"}
        args = [KRONOBARN, "connector", "run", name, "--config", str(config), "--once"]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while "tie-" not in _checkpoint(hub):
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "connector checkpointed no tie"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = _events(asyncio.run(read_all(settings, [TOPIC[name]])))
        published_ties = {source for variants in killed_at.values() for _, _, source in variants} & ties
        assert 0 < len(published_ties) < len(ties), "killed before the ties, or after all of them"
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        copies = _events(asyncio.run(read_all(settings, sorted({TOPIC[name], "intake.population"}))))

        # A source outage mid-query, in process: down once a page of ties is checkpointed, up when
        # the runner backs off.
        outage_db = make_engine(f"sqlite:///{tmp_path / 'outage.db'}")
        with _social_outage(h) as (social_down, social_up):
            tripped = False

            def on_page(stats: RunStats) -> None:
                nonlocal tripped
                if not tripped and "tie-" in (stats.cursor or ""):
                    tripped = True
                    social_down() if faults is None else setattr(faults, "down", True)

            class Recovering(Backoff):
                def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
                    social_up() if faults is None else setattr(faults, "down", False)
                    return 0.01

            outage = asyncio.run(run_connector(h.connector(batch_size=BATCH), settings, outage_db,
                                               on_page=on_page, backoff=Recovering()))
        outage_ids = set(outage.event_ids) - _merge_ids(outage_db)
        outage_db.dispose()

    assert ties <= {source for variants in copies.values() for _, _, source in variants}, "a tie was lost"
    assert set(copies) == expected, f"lost {len(expected - set(copies))}, unexpected {len(set(copies) - expected)}"
    assert all(len(set(variants)) == 1 for variants in copies.values())  # a redelivery is the same event
    assert tripped and outage.stats.retries >= 1
    assert outage_ids == expected
    duplicates = sum(len(v) - 1 for v in copies.values())
    print(f"\n{name}: {len(ties)} ties in {INSTANTS} instants; killed after {len(published_ties)} ties, "
          f"{len(set(killed_at) & expected)} of {len(expected)} events; after restart all present, {duplicates} redelivered by event id; "
          f"outage: {outage.stats.retries} retries, {len(outage.event_ids) - len(set(outage.event_ids))} duplicates")
