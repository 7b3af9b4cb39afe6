"""``kronobarn api`` and the demo's UI stage as a user runs them: subprocesses on a real broker.

A read through the running service lands on the ``access`` topic as ``ChildDataViewed``, and a
command's free text crosses Kafka sealed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas.codec import Codec
from schemas.events import AreaAssessed, ChildDataViewed
from schemas.sealing import Sealer
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.sql.keystore import SqlKeyStore, master_key_from
from tests.support.api import BHV, County, ReadModelWorld
from tests.support.kafka import read_all
from tests.support.projector import publish

KRONOBARN = str(Path(sys.executable).with_name("kronobarn"))
BHV_USER = f"dev-coordinator-{BHV}"


def _env(broker: EmbeddedBroker, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")}
    return env | {"KRONOBARN_KAFKA_BOOTSTRAP": broker.bootstrap, "KRONOBARN_DATABASE_URL": url,
                  "KRONOBARN_LOG_LEVEL": "WARNING", **extra}


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")


@pytest.fixture
def running(tmp_path: Path, broker: EmbeddedBroker,
            kafka_settings: Settings) -> Iterator[tuple[str, County, Settings]]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    settings = kafka_settings.model_copy(update={"database_url": url})
    engine = make_engine(url)
    migrate(engine)
    codec = Codec(sealer=Sealer(SqlKeyStore(engine, master_key_from(settings))))
    county = County(dt.datetime.now(dt.UTC), codec)
    ReadModelWorld(engine, county, settings)
    asyncio.run(publish(settings, codec, county.log()))  # the log the auditors' views read
    port = free_port()
    process = subprocess.Popen([KRONOBARN, "api", "--port", str(port)], env=_env(broker, url), cwd=tmp_path,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/openapi.json", process)
        yield base, county, settings
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        engine.dispose()


@pytest.mark.timeout(180)
def test_the_api_command_serves_logs_every_read_to_kafka_and_seals_free_text(
        running: tuple[str, County, Settings]) -> None:
    base, county, settings = running
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "kronobarn"
    assert "dev-auditor" in httpx.get(f"{base}/dev/login").text
    token = httpx.post(f"{base}/dev/token", json={"subject": BHV_USER}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    plan = httpx.get(f"{base}/children/{county.a}", headers=headers)
    assert plan.status_code == 200 and plan.json()["access"] == "named_person"
    r = httpx.post(f"{base}/children/{county.a}/assessments", headers=headers,
                   json={"area": "home", "rating": 4, "comment": "Hemlig kommentar"})
    assert r.status_code == 202
    records = asyncio.run(read_all(settings, ["access", "plan"], idle_ms=500))
    assert not any(b"Hemlig kommentar" in (rec.value or b"") for rec in records)
    db = make_engine(settings.resolved_database_url)
    events = [Codec(sealer=Sealer(SqlKeyStore(db, master_key_from(settings)))).decode_record(rec) for rec in records]
    views = [e for e in events if isinstance(e, ChildDataViewed) and e.child_id == county.a]
    assessed = [e for e in events if isinstance(e, AreaAssessed) and str(e.event_id) == r.json()["event_id"]]
    assert [v.viewer_id for v in views][-1:] == [BHV_USER] and views[-1].purpose == "care-planning"
    assert len(assessed) == 1 and assessed[0].envelope.sealed.fields["comment"] == "Hemlig kommentar"  # type: ignore[union-attr]
    db.dispose()


@pytest.mark.timeout(180)
def test_auditors_read_the_childs_history_and_the_plan_as_seen_from_the_event_log(
        running: tuple[str, County, Settings]) -> None:
    """Through ``services.readmodel.history`` on the real log, not a stand-in."""
    base, county, _ = running
    token = httpx.post(f"{base}/dev/token", json={"subject": "dev-auditor"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    history = httpx.get(f"{base}/audit/children/{county.a}/history", headers=headers, timeout=60)
    assert history.status_code == 200, history.text
    entries = history.json()["entries"]
    types = [e["type"] for e in entries]
    assert {"ChildRegistered", "ConsentGranted", "FactReleased", "PlanOpened", "MeetingHeld"} <= set(types)
    assert next(e for e in entries if e["type"] == "MeetingHeld")["sealed"] == "sealed"  # not opened for auditors
    seen = httpx.get(f"{base}/audit/children/{county.a}/as-seen", headers=headers, timeout=60,
                     params={"org": "kommun-0780-soc", "at": dt.datetime.now(dt.UTC).isoformat()})
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["lead"]["id"] == "kommun-0780-soc" and body["meetings"][0]["decisions"] == "Socialtjänsten leder planen."
    assert {f["fact_type"] for a in body["areas"] for f in a["facts"]} == {
        "HealthVisitRecorded", "InvestigationOpened", "AbsenceSummarised"}
    before = httpx.get(f"{base}/audit/children/{county.a}/as-seen", headers=headers, timeout=60,
                       params={"org": "kommun-0780-soc", "at": (county.now - dt.timedelta(days=60)).isoformat()})
    assert before.status_code == 200 and before.json()["plan"] is None  # before the plan was opened


@pytest.mark.timeout(180)
def test_the_demo_serves_the_ui_when_asked_and_stops_on_ctrl_c(tmp_path: Path, broker: EmbeddedBroker,
                                                               kafka_settings: Settings) -> None:
    url, port = f"sqlite:///{tmp_path / 'hub.db'}", free_port()
    script = ("from services.dev.demo.serve import serve_ui; from services.settings import Settings; "
              f"import sys; sys.exit(0 if serve_ui(Settings(), port={port}) else 1)")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stdin=subprocess.DEVNULL,
                               env=_env(broker, url, KRONOBARN_DEMO_SERVE="1", KRONOBARN_DEMO_DATA_DIR=str(tmp_path)),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait(f"http://127.0.0.1:{port}/dev/login", process)
        assert httpx.get(f"http://127.0.0.1:{port}/ui", follow_redirects=False).headers["location"] == "/dev/login"
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    text = out.decode()
    assert process.returncode == 0, text[-3000:]
    assert f"http://127.0.0.1:{port}" in text and "dev-coordinator-SE2321000065-BHV0780" in text
    assert "Web UI stopped." in text
