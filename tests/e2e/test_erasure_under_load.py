"""Erasing a child while the hub runs (issue 16; DESIGN §7, §9 "Crypto-shredding").

A worker (gate, projector, audit), the web service (in this process, publishing to the broker)
and the population connector (a subprocess polling its stand-in) run against a private broker
and a hub database (SQLite, and PostgreSQL when configured). One child of the stand-in's county
gets a plan with free text; then, while facts about the child keep coming from the register and
plan entries keep coming for it, an administrator erases it through the web service.

Expected: within the documented bound the read model holds none of its plan text; once the
stream has settled, no table, no record of any topic (sealed fields opened with the key store),
no file under the hub's directory and no answer of the web service to any role holds the child's
name, personnummer or plan text; every other child's rows are as they were; and the audit log
holds the erasure, intact. The same scan before the erasure finds the child (a control).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from projections.audit_store import AuditStore
from projections.read_model import DIGEST_TABLES, children
from schemas.codec import Codec
from schemas.events import Area, Basis
from schemas.sealing import ChildErased, Personal, Sealer
from schemas.topics import key_for, topic_for
from services.api.app import create_app
from services.api.auth.tokens import Principal, Role
from services.api.orgs import OrgDirectory
from services.dev.erasure_scan import Found, needles_of, scan_database, scan_files, scan_topics
from services.erasure.watch import BOUND_S
from services.ingest.identity import IdentityRegistry, identity_secret_from
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.readmodel.engine import read_model
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.sql.keystore import SqlKeyStore, master_key_from
from services.worker.audit_key import audit_signing_key_from
from tests.conftest import DATABASES
from tests.support.gate import Workers
from tests.support.history import event
from tests.support.ingest import toml_source
from tests.support.projector import caught_up
from tests.support.standins import harness

KRONOBARN = str(Path(sys.executable).with_name("kronobarn"))
BVC = "SE2321000065-BHV0780"
CHILDREN = 40
C = Basis.CONSENT


def _others_digest(engine, erased: set[str]) -> str:  # type: ignore[no-untyped-def]
    """A digest of every read-model row that is not the erased child's (a reference of the test's own)."""
    h = hashlib.sha256()
    with engine.connect() as c:
        for table in DIGEST_TABLES:
            rows = c.execute(select(table).where(table.c.child_id.not_in(erased))).all()
            for row in sorted(json.dumps([str(v) for v in r]) for r in rows):
                h.update(row.encode())
    return h.hexdigest()


def _wait(what: str, check, timeout: float = 120.0, connector: subprocess.Popen | None = None,  # type: ignore[no-untyped-def]
          log: Path | None = None) -> None:
    """Until ``check()``; fails at once, with the connector's own words, if the connector died."""
    deadline = time.monotonic() + timeout
    while not check():
        said = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
        assert connector is None or connector.poll() is None, f"the connector exited ({connector.returncode}):\n{said}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{said}"
        time.sleep(0.5)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("database", DATABASES)
def test_an_erased_child_is_gone_everywhere_while_everything_runs(database: str, tmp_path: Path,
                                                                  request: pytest.FixtureRequest) -> None:
    home = tmp_path / "hub"  # the hub's working directory: var/ (SQLite, dev keys) and the worker's log
    (home / "var").mkdir(parents=True)
    url = f"sqlite:///{home / 'var' / 'hub.db'}" if database == "sqlite" else request.getfixturevalue("postgres_schema")()
    source = harness("population", tmp_path / "standin", children=CHILDREN)
    source.prepare()
    source.start()
    with EmbeddedBroker(port=free_port()) as broker:
        settings = Settings(_env_file=None, kafka_bootstrap=broker.bootstrap, database_url=url)  # type: ignore[call-arg]
        asyncio.run(kafka.create_topics(settings))
        engine = make_engine(url)
        migrate(engine)
        keys = SqlKeyStore(engine, master_key_from(settings))
        codec = Codec(sealer=Sealer(keys))
        store = read_model(engine, settings)
        workers = Workers(broker.bootstrap, home, database_url=url)
        config = tmp_path / "population.toml"
        config.write_text(toml_source(source.source(), {"batch_size": 20, "poll_interval_s": 0.5}))
        connector = subprocess.Popen([KRONOBARN, "connector", "run", "population", "--config", str(config)],
                                     env=workers.env, cwd=home, stdout=(home / "connector.log").open("wb"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        workers.start()
        stop = threading.Event()
        try:
            # -- the county arrives, and one child is chosen: born, alive, resident, unprotected, a unique name
            registry = IdentityRegistry(engine, identity_secret_from(settings), Sealer(keys))
            people = [c.person for c in source.county if c.person is not None]
            _wait("the register's children in the read model",
                  lambda: sum(registry.find(p.personnummer) is not None for p in people) == len(people),
                  connector=connector, log=home / "connector.log")
            ids = {str(registry.find(p.personnummer)) for p in people}

            def projected() -> bool:
                with engine.connect() as c:
                    return ids <= set(c.scalars(select(children.c.child_id)))

            _wait("the register's children through the gate into the read model", projected, timeout=180)
            assert caught_up(settings, store, timeout=180)
            full_names = Counter(f"{p.given_name} {p.family_name}" for p in people)
            with engine.connect() as c:
                plain = {r.child_id for r in c.execute(select(children.c.child_id).where(
                    children.c.protection == "NONE", children.c.died_on.is_(None), children.c.emigrated_on.is_(None),
                    children.c.merged_into.is_(None), children.c.municipality_code == "0780"))}
            person = next(p for p in people if full_names[f"{p.given_name} {p.family_name}"] == 1
                          and str(registry.find(p.personnummer)) in plain)
            child = registry.find(person.personnummer)
            assert child is not None
            marker = f"Plantext{uuid.uuid4().hex[:10]}"
            needles = needles_of(person.personnummer, [person.given_name, person.family_name,
                                                       f"{person.given_name} {person.family_name}"], [marker])
            unique = needles_of(person.personnummer, [f"{person.given_name} {person.family_name}"], [marker])
            plan_id, now = uuid.uuid4(), dt.datetime.now(dt.UTC)
            text = Personal({"need": f"{marker} behov", "what": f"{marker} insats"})
            _publish(settings, codec, [
                event("PlanOpened", child, 1, basis=C, org=BVC, at=now, plan_id=plan_id, opened_by_org=BVC,
                      consent_ids=()),
                event("AreaAssessed", child, 2, basis=C, org=BVC, area=Area.HEALTH, at=now, plan_id=plan_id,
                      rating=3, assessed_by_org=BVC, sealed=Personal({"comment": f"{marker} bedömning"})),
                event("ActionAgreed", child, 3, basis=C, org=BVC, area=Area.HEALTH, at=now, plan_id=plan_id,
                      action_id=uuid.uuid4(), responsible_org=BVC, sealed=text),
                event("MeetingHeld", child, 4, basis=C, org=BVC, at=now, plan_id=plan_id, meeting_id=uuid.uuid4(),
                      held_on=now.date(), participant_orgs=(BVC,), sealed=Personal({"notes": f"{marker} möte"})),
            ])
            assert caught_up(settings, store, timeout=120)
            others = _others_digest(engine, {str(child)})

            app = create_app(settings, engine=engine, dev_key_file=home / "var" / "dev-login.json")
            with TestClient(app) as client:
                idp = app.state.hub.dev_idp
                region = OrgDirectory.from_settings(settings).region[0]  # type: ignore[index]
                roles = {
                    "coordinator": Principal("kb-coordinator", Role.COORDINATOR, BVC, "Koordinator"),
                    "auditor": Principal("kb-auditor", Role.AUDITOR, region, "Granskare"),
                    "administrator": Principal("kb-admin", Role.ADMINISTRATOR, region, "Administratör"),
                }
                headers = {r: {"Authorization": f"Bearer {idp.issue(p)}"} for r, p in roles.items()}

                def answers() -> Found:
                    """Every role's answers about the child (and the coordinator's list of children)."""
                    found = Found()
                    paths = [f"/children/{child}", f"/children/{child}/plan.fhir", "/children",
                             f"/audit/children/{child}/log", f"/audit/children/{child}/history",
                             f"/audit/children/{child}/extract",
                             f"/audit/children/{child}/as-seen?org={BVC}&at={dt.datetime.now(dt.UTC).isoformat()}",
                             "/audit/erasures", "/admin/overview"]
                    for role in roles:
                        for path in paths:
                            got = client.get(path, headers=headers[role])
                            assert got.status_code < 500, (role, path, got.status_code)
                            found.looked["answers"] += 1
                            # The list shows other children too, who may share a given or family name.
                            for label, needle in (unique if path == "/children" else needles).items():
                                if needle in got.content:
                                    found.hits[(f"{role} GET {path.split('?')[0]}", label)] += 1
                    return found

                # -- the control: before the erasure the scan finds the child where it should
                before = scan_database(engine, needles) + asyncio.run(scan_topics(settings, codec, needles, [child])) + answers()
                seen_in = {where.split(" ")[0] + " " + where.split(" ")[1] for where, _ in before.hits}
                assert {"table assessments", "table actions", "table meetings"} <= seen_in, before.hits
                assert any(w.startswith("topic intake.population (opened)") for w, _ in before.hits), before.hits
                assert any(w == f"coordinator GET /children/{child}" and label.startswith("name")
                           for w, label in before.hits), before.hits

                # -- load: the register and the plan keep talking about the child
                load = threading.Thread(target=_keep_coming, args=(settings, codec, source, person, child, plan_id,
                                                                   marker, stop), daemon=True)
                load.start()
                time.sleep(2)
                erased = client.post(f"/admin/children/{child}/erasure", headers=headers["administrator"],
                                     json={"reason_code": "GDPR_ART17", "justification": "Vårdnadshavarnas begäran."})
                assert erased.status_code == 200, erased.text
                assert erased.json()["effective_within_s"] == BOUND_S
                time.sleep(BOUND_S)
                # Within the bound, with entries still arriving: the read model has let go of the text.
                within = scan_database(engine, needles)
                assert within.total == 0, within.hits
                stop.set()
                load.join(timeout=30)
                assert caught_up(settings, store, timeout=120)
                audit = AuditStore(engine)
                _wait("the erasure in the audit log", lambda: len(audit.erasures()) == 1)

                after = scan_database(engine, needles) + asyncio.run(scan_topics(settings, codec, needles, [child])) + \
                    scan_files([home], needles) + answers()
                assert after.looked["rows"] > 100 and after.looked["records"] > 100 and after.looked["answers"] > 20
                assert after.total == 0, after.hits

            assert _others_digest(engine, {str(child)}) == others
            entry = audit.erasures()[0]
            assert (entry.child_id, entry.purpose, entry.viewer_id) == (child, "GDPR_ART17", "kb-admin")
            assert audit.verify(audit_signing_key_from(settings).public_key()) == []
            assert keys.get(child) is None and keys.is_erased(child)
        finally:
            stop.set()
            connector.terminate()
            connector.wait(timeout=30)
            workers.stop()
            source.stop()
            engine.dispose()


def _publish(settings: Settings, codec: Codec, events: list) -> None:  # type: ignore[type-arg]
    async def run() -> None:
        producer = kafka.producer(settings)
        await producer.start()
        try:
            for e in events:
                await (await producer.send(topic_for(e).name, codec.encode(e), key=key_for(e)))
        finally:
            await producer.stop()

    asyncio.run(run())


def _keep_coming(settings: Settings, codec: Codec, source, person, child: uuid.UUID,  # type: ignore[no-untyped-def]
                 plan_id: uuid.UUID, marker: str, stop: threading.Event) -> None:
    """Until ``stop``: a move in the register every half second (the connector picks it up) and a
    plan entry with free text (sealed while the child's key exists; after, the entry goes on without)."""
    from connectors.standins.common import store_for

    n, towns = 0, ("0760", "0780")
    while not stop.is_set():
        n += 1
        store_for(source.data_dir, "population").put("change", f"erasure-move-{n}", {
            "kind": "MOVED", "personnummer": person.personnummer, "synthetic": True,
            "from_municipality_code": towns[n % 2], "to_municipality_code": towns[(n + 1) % 2],
            "moved_on": dt.date.today().isoformat()})
        at = dt.datetime.now(dt.UTC)
        fields = {"basis": C, "org": BVC, "area": Area.HEALTH, "at": at, "plan_id": plan_id,
                  "follow_up_id": uuid.uuid4(), "due_on": at.date()}
        try:
            _publish(settings, codec, [event("FollowUpScheduled", child, 100 + n, **fields,
                                             sealed=Personal({"what": f"{marker} uppföljning {n}"}))])
        except ChildErased:
            _publish(settings, codec, [event("FollowUpScheduled", child, 100 + n, **fields)])
        time.sleep(0.5)

