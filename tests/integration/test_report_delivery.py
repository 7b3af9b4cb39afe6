"""Delivery while one municipality's social register is down (issue 19, item 2): the reports to
it wait, in order, and arrive once when it is back; meanwhile the reports to another
municipality's register, in other partitions, go on arriving. The consumer keeps polling all the
while (its ``max.poll.interval.ms`` is far below the outage: Kafka puts a consumer that stops
polling for longer out of its group).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select

from connectors.standins import social
from connectors.standins.county import County
from schemas.codec import Codec
from schemas.events import Area, Basis, Category, Envelope, ReportOfConcernRouted, Source
from schemas.sealing import Sealer
from services.county import county_directory_path, load_county_directory
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.kafka.partitions import partition_of
from services.reports.delivery import Delivery, Registers
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.sql.keystore import SqlKeyStore, master_key_from
from tests.support.gate import send
from tests.support.reports import filed

OUTAGE_S = 6.0
MAX_POLL_INTERVAL_MS = 2_000
DOWN, UP = "0780", "0781"  # Växjö's register is down, Ljungby's is up
PER_MUNICIPALITY = 4


def _routed(report: bytes, event_id: uuid.UUID, child: uuid.UUID, code: str, at: dt.datetime) -> ReportOfConcernRouted:
    """The gate's route of a filed report to ``code`` (the test's own, as the gate publishes it)."""
    envelope = Envelope(event_id=uuid.uuid5(event_id, "routed"), type="ReportOfConcernRouted", child_id=child,
                        occurred_at=at, recorded_at=at, source=Source("gate", "skolenhet-07802001", str(event_id), "r"),
                        basis=Basis.STATUTORY, category=Category.SCHOOL, area=Area.SAFETY)
    return ReportOfConcernRouted(envelope=envelope, municipality_code=code, report_event_id=event_id, report=report,
                                 reporter_category="SCHOOL", acute=False, filed_in_hub=True, reported_at=at)


def _in_register(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return c.scalar(select(func.count()).select_from(social.reports)
                        .where(social.reports.c.hub_report_id.is_not(None))) or 0


def test_an_outage_holds_back_only_its_own_reports_which_arrive_once_when_it_is_back(tmp_path: Path) -> None:
    dirs = {code: tmp_path / f"register-{code}" for code in (DOWN, UP)}
    for d in dirs.values():
        social.prepare(d, County(children=10))
    registers = {code: create_engine(social.url_for(d)) for code, d in dirs.items()}
    db, away = dirs[DOWN] / "social.db", dirs[DOWN] / "social.db.away"
    now = dt.datetime.now(dt.UTC)
    # The down register's children all in partition 0, the other's elsewhere.
    children = {DOWN: [], UP: []}  # type: dict[str, list[uuid.UUID]]
    for n in range(1, 1_000):
        child = uuid.UUID(int=n, version=4)
        code = DOWN if partition_of(str(child), 4) == 0 else UP
        if len(children[code]) < PER_MUNICIPALITY:
            children[code].append(child)
    with EmbeddedBroker(port=free_port()) as broker:
        settings = Settings(_env_file=None, kafka_bootstrap=broker.bootstrap,  # type: ignore[call-arg]
                            database_url=f"sqlite:///{tmp_path / 'hub.db'}")
        asyncio.run(kafka.create_topics(settings))
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        sealing = Codec(sealer=Sealer(SqlKeyStore(engine, master_key_from(settings))))
        routes = {}
        for code, kids in children.items():
            routes[code] = []
            for n, child in enumerate(kids):
                report = filed(child, n, "skolenhet-07802001", "SCHOOL", "0780", f"20150101-{n:04d}", now)
                routes[code].append(_routed(sealing.encode(report), report.event_id, child, code, now))

        shutil.move(db, away)
        db.mkdir()  # a directory where the register's file was: it cannot be opened
        delivery = Delivery(settings, sealing, Registers(None, {c: social.url_for(d) for c, d in dirs.items()}), engine,
                            load_county_directory(county_directory_path(settings)), max_attempts=50,
                            first_pause_s=0.2, max_pause_s=1.0, assess_every_s=60.0,
                            consumer_options={"max_poll_interval_ms": MAX_POLL_INTERVAL_MS})

        async def run() -> tuple[int, float]:
            stop = asyncio.Event()
            task = asyncio.create_task(delivery.run(stop))
            await send(settings, routes[DOWN])
            await asyncio.sleep(1.0)  # the consumer is on the down register's reports now
            await send(settings, routes[UP])
            deadline = time.monotonic() + OUTAGE_S
            while time.monotonic() < deadline:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.2)
            during = _in_register(registers[UP])
            assert (delivery.delivered, delivery.undelivered) == (during, 0)  # none to the down register
            db.rmdir()
            shutil.move(away, db)
            back = time.monotonic()
            while delivery.delivered + delivery.undelivered < 2 * PER_MUNICIPALITY and time.monotonic() - back < 60:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.2)
            took = time.monotonic() - back
            stop.set()
            await task
            return during, took

        during, took = asyncio.run(run())
        engine.dispose()
    after = {code: _in_register(e) for code, e in registers.items()}
    print(f"\nregister outage of {OUTAGE_S:g} s: the other register got {during} of {PER_MUNICIPALITY} meanwhile; "
          f"the down one's {after[DOWN]} arrived {took:.1f} s after it came back; undelivered {delivery.undelivered}")
    assert during == PER_MUNICIPALITY  # the outage held back none of the other municipality's reports
    assert after == {DOWN: PER_MUNICIPALITY, UP: PER_MUNICIPALITY} and delivery.undelivered == 0
