"""Reports of concern through the hub into the social services' own register, while the gate worker
and the worker that delivers are killed -9 (issue 19; DESIGN §9 "Reports of concern").

1,000 reports from every kind of participating organisation, about children with and without a
consent, with and without a home municipality in the register (some moved since they were
registered), and a few the register refuses.
Expected, against the test's own reference of where each report belongs: every report in the
register of the right municipality exactly once, every refused one dead-lettered with its reason
and shown undelivered, the register's decisions back as the investigation flag, and a report in
the child's plan only where a consent covers it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import signal
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from connectors.standins import social
from connectors.standins.county import County
from projections.read_model import concern_reports, released_facts
from schemas.codec import Codec
from schemas.county import SOCIAL
from schemas.events import Basis, Category, ChildMoved, ChildRegistered, Source
from schemas.sealing import Sealer
from schemas.topics import key_for, topic_for
from services.api.reports import filed_event_id
from services.county import county_directory_path, load_county_directory
from services.dev.samples import sample_event, scoped_register
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.sql.keystore import SqlKeyStore, master_key_from
from tests.support.gate import Workers, decisions, grant, send
from tests.support.kafka import read_all
from tests.support.reports import filed

CHILDREN = 250
REPORTS = 1_000
REFUSED = 5  # blank observations: an older client's, which the register's rules refuse
KILL_AT = (250, 500, 750)  # reports in the register when a worker is killed: delivery, gate, both


def _pnr(c: int) -> str:
    return f"2015{c % 12 + 1:02d}{c % 28 + 1:02d}-{c:04d}"


def _moved(child: uuid.UUID, old: str, new: str, at: dt.datetime) -> ChildMoved:
    """The register's move of ``child`` from ``old`` to ``new`` municipality."""
    template = sample_event("ChildMoved", seed=1)
    envelope = replace(template.envelope, event_id=uuid.uuid5(child, "moved"), child_id=child, basis=Basis.DIRECTORY,
                       category=Category.POPULATION, area=None, sealed=None, occurred_at=at, recorded_at=at,
                       source=Source("sample", "navet", f"moved|{child}", "1"))
    return replace(template, envelope=envelope, from_municipality_code=old, to_municipality_code=new,
                   moved_on=at.date())


def _count(engine, where) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return c.scalar(select(func.count()).select_from(concern_reports).where(where)) or 0


def _wait(what: str, check, workers: Workers, timeout: float = 240.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert workers.alive(), f"a worker died while waiting for {what}; see {workers.logs[-1]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{workers.dump()}"
        time.sleep(0.5)


@pytest.mark.timeout(900)
def test_every_report_reaches_its_register_once_through_kill_9(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    directory = load_county_directory(county_directory_path(Settings(_env_file=None)))  # type: ignore[call-arg]
    codes = directory.codes
    reporters = [u for u in directory.units if u.kind != SOCIAL]
    assert {u.kind for u in reporters} == {"BHV", "MHV", "PRESCHOOL", "SCHOOL", "UPPER_SECONDARY", "KAA"}
    social.prepare(tmp_path / "register", County(children=10))
    register = create_engine(social.url_for(tmp_path / "register"))

    # -- the test's reference: each child's home (none for every tenth), consent for every third
    children = [uuid.UUID(int=c + 1, version=4) for c in range(CHILDREN)]
    registered = {child: codes[c % len(codes)] for c, child in enumerate(children) if c % 10 != 9}
    moved = {child: codes[(c + 3) % len(codes)] for c, child in enumerate(children) if c % 10 == 4}
    home = registered | moved  # a child who moved is reported to its new home
    consented = {child for c, child in enumerate(children) if c % 3 == 0}
    facts, consents = [], []
    for child in children:
        if child in registered:
            for e in scoped_register(child, now - dt.timedelta(days=2)):
                facts.append(replace(e, municipality_code=registered[child]) if isinstance(e, ChildRegistered) else e)
        if child in moved:
            facts.append(_moved(child, registered[child], moved[child], now - dt.timedelta(days=1)))
        if child in consented:
            consents.append(grant(child, uuid.uuid5(child, "consent"), [Category.HEALTH, Category.SCHOOL],
                                  ["kommun-0780-soc"], now - dt.timedelta(hours=1), now + dt.timedelta(days=30)))

    hub = f"sqlite:///{tmp_path / 'hub.db'}"
    with EmbeddedBroker(port=free_port()) as broker:
        settings = Settings(_env_file=None, kafka_bootstrap=broker.bootstrap, database_url=hub)  # type: ignore[call-arg]
        asyncio.run(kafka.create_topics(settings))
        engine = make_engine(hub)
        migrate(engine)
        sealing = Codec(sealer=Sealer(SqlKeyStore(engine, master_key_from(settings))))
        reports, route = [], {}
        for n in range(REPORTS + REFUSED):
            c = n % CHILDREN
            unit = reporters[n % len(reporters)]
            report = filed(children[c], n, unit.id, unit.kind, unit.municipality_code, _pnr(c), now,
                           observation="  " if n >= REPORTS else f"Oro nummer {n}.", acute=n % 7 == 0,
                           informed=n % 2 == 0)
            reports.append((topic_for(report).name, key_for(report), sealing.encode(report)))
            route[str(report.report_id)] = home.get(children[c], unit.municipality_code)

        workers = Workers(broker.bootstrap, tmp_path, database_url=hub)
        workers.env |= {"KRONOBARN_SOCIAL_REGISTER_URL": social.url_for(tmp_path / "register"),
                        "KRONOBARN_REPORT_ASSESS_EVERY_S": "1"}
        with workers:
            gate, reader = workers.start("gate"), workers.start("read")
            asyncio.run(send(settings, facts + consents))
            # The register's facts are through the gate before the reports come (as in life: a
            # child is registered long before anyone reports about it).
            _wait("the register's facts through the gate",
                  lambda: len(decisions(settings).released) >= len(facts), workers)
            asyncio.run(send(settings, reports))

            def in_register() -> int:
                with register.connect() as c:
                    return c.scalar(select(func.count()).select_from(social.reports)
                                    .where(social.reports.c.hub_report_id.is_not(None))) or 0

            kills = []
            for at, victims in zip(KILL_AT, (("read",), ("gate",), ("gate", "read")), strict=True):
                _wait(f"{at} reports in the register", lambda at=at: in_register() >= at,
                      workers)
                for victim in victims:
                    proc = gate if victim == "gate" else reader
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=10)
                    if victim == "gate":
                        gate = workers.start("gate")
                    else:
                        reader = workers.start("read")
                kills.append(in_register())

            _wait("every report delivered or refused", lambda: _count(engine, concern_reports.c.delivered_at.is_not(None))
                  + _count(engine, concern_reports.c.undelivered_at.is_not(None)) >= REPORTS + REFUSED, workers)
            decided = social.assess_hub_reports(register, random.Random(5))
            _wait("every decision back", lambda: _count(engine, concern_reports.c.decided_on.is_not(None)) >= REPORTS,
                  workers)

        with register.connect() as c:
            rows = c.execute(select(social.reports.c.hub_report_id, social.reports.c.municipality_code)
                             .where(social.reports.c.hub_report_id.is_not(None))).all()
        with engine.connect() as c:
            # The read model keys a report by its event id; the register, by the report id.
            report_of = {str(filed_event_id(uuid.UUID(rid))): rid for rid in route}
            read = {report_of[r.report_id]: r for r in c.execute(select(concern_reports))}
            in_plan = {r.fact_event_id for r in c.execute(
                select(released_facts.c.fact_event_id).where(released_facts.c.fact_type == "ReportOfConcernFiled"))}
        plain = Codec()
        letters = [d for d in (plain.decode(r.value) for r in asyncio.run(read_all(settings, ["deadletter"])))
                   if d.stage == "delivery"]

    valid = {rid for n, rid in enumerate(route) if n < REPORTS}
    refused = set(route) - valid
    by_id = {}
    for report_id, code in rows:
        by_id.setdefault(report_id, []).append(code)
    duplicates = sum(len(v) - 1 for v in by_id.values())
    wrong = {rid for rid, got in by_id.items() if got[0] != route[rid]}
    print(f"\nreport route: {len(valid)} reports + {len(refused)} refused, kills at {kills} in the register; "
          f"in the register {len(by_id)}, duplicates {duplicates}, wrong municipality {len(wrong)}, "
          f"undelivered {sum(1 for r in read.values() if r.undelivered_at)}, dead letters {len(letters)}")
    assert kills == sorted(kills) and kills[-1] < REPORTS  # every kill came before the load was through
    assert set(by_id) == valid and duplicates == 0 and not wrong
    assert {rid for rid, r in read.items() if r.delivered_at is not None} == valid
    assert {rid for rid, r in read.items() if r.undelivered_at is not None} == refused
    assert all("hub_report_has_observation" in read[rid].undelivered_reason for rid in refused)
    assert len(letters) >= REFUSED  # a kill between the letter and the commit may repeat one, never lose it
    assert {rid: read[rid].investigation_opened for rid in valid} == decided
    assert all(read[rid].municipality_code == route[rid] for rid in route)
    # In the plan only under consent: the reports about every third child, and only those whose
    # register supports the consent (a child the register does not know has no guardians to give it).
    assert {report_of[f] for f in in_plan} == {rid for n, rid in enumerate(route)
                                               if children[n % CHILDREN] in consented & set(home)}
