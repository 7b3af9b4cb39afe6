"""The health connector against its FHIR stand-in over real HTTP, publishing to the real broker:
initial load, incremental changes, equal timestamps at a checkpoint, an outage mid-run, a
malformed record, token expiry and refused credentials."""

from __future__ import annotations

import asyncio
import datetime as dt
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from connectors.base import SourceRecord
from connectors.health import HealthConnector
from connectors.health_mapping import Mapper
from connectors.http import SourceRejected
from connectors.standins import health
from connectors.standins.auth import Credentials
from connectors.standins.common import store_for
from connectors.standins.county import County
from connectors.standins.health import vocabulary
from connectors.standins.health.server import AUDIENCE
from connectors.standins.store import stamp
from schemas.events import ChildBorn, ChildIdentitiesMerged, Event, PregnancyRegistered
from services.dev.http_server import BackgroundServer
from services.ingest.checkpoints import Mark, Marks
from services.ingest.runner import Backoff, RunStats
from services.kafka.broker import free_port
from services.settings import Settings
from services.sql.db import make_engine
from tests.support.ingest import codec_for, read_dead_letters, read_events, run_connector
from tests.support.kafka import read_all

CHILDREN = 100
TOPIC = ["intake.health"]
QUICK = Backoff(initial_s=0.1, max_s=0.3)


class TokenCounter:
    """ASGI middleware counting token requests, to see the connector refresh its token."""

    def __init__(self, app: Any) -> None:
        self.app, self.issued = app, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/oauth2/token":
            self.issued += 1
        await self.app(scope, receive, send)


@dataclass
class Source:
    """The stand-in served on a fixed port, so it can go down and come back."""

    data_dir: Path
    county: County
    credentials: Credentials = field(default_factory=lambda: Credentials(audience=AUDIENCE))
    port: int = field(default_factory=free_port)
    app: TokenCounter | None = None
    server: BackgroundServer | None = None

    def start(self) -> None:
        self.app = TokenCounter(health.create_app(self.data_dir, self.credentials))
        self.server = BackgroundServer(self.app, port=self.port).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def connector(self, batch_size: int = 50, **source: Any) -> HealthConnector:
        base = f"http://127.0.0.1:{self.port}"
        config = {"url": f"{base}/fhir", "token_url": f"{base}/oauth2/token", "client_id": "kronobarn",
                  "client_secret": "dev-only-secret", **source}
        return HealthConnector.from_config(config, batch_size)


def _county(request: pytest.FixtureRequest, children: int = CHILDREN) -> County:
    """A county of the test's own: topics live for the whole session, and a shared seed would
    give other tests' events the same (deterministic) ids."""
    return County(seed=zlib.crc32(request.node.nodeid.encode()), children=children)


@pytest.fixture
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Source]:
    county = _county(request)
    health.prepare(tmp_path / "standin", county)
    running = Source(tmp_path / "standin", county)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    yield engine
    engine.dispose()


def _expected(source: Source, since: str | None = None) -> Counter[str]:
    """What the stand-in holds (changed after ``since``), mapped record by record: the oracle."""
    store, mapper, counts = store_for(source.data_dir, "health"), Mapper(), Counter[str]()
    for kind in health.RESOURCE_TYPES:
        for row in store.feed(kind, (since, "") if since else None, 1_000_000):
            counts.update(f.event.__name__ for f in mapper.facts(kind, health.resource_of(row)))
    return counts


def _patient_of(source: Source, event: Event) -> str:
    """The Patient id behind an event, from the source record it came from."""
    store = store_for(source.data_dir, "health")
    record = event.envelope.source.record_id
    for kind in ("Patient", "Encounter", "Observation", "Immunization", "EpisodeOfCare", "Condition"):
        row = store.get(kind, record)
        if row is not None:
            if kind == "Patient":
                return row.id
            ref = row.body.get("subject") or row.body.get("patient")
            return str(ref["reference"]).removeprefix("Patient/")
    raise AssertionError(record)


async def _drain(connector: HealthConnector, since: dict[str, str] | None = None) -> list[SourceRecord]:
    records: list[SourceRecord] = []
    async for page in connector.read(since):
        records.extend(page)
    return records


async def test_initial_load_publishes_every_fact_once(source: Source, kafka_settings: Settings, hub: Engine) -> None:
    result = await run_connector(source.connector(), kafka_settings, hub)
    assert result.stats.dead_letters == 0
    events = await read_events(kafka_settings, hub, result.event_ids, topics=[*TOPIC, "intake.population"])
    # A fact about a newborn read before its birth record gives it an id of its own first; the
    # birth then links it to the unborn id, announced on intake.population (one child, one id).
    merges = [e for e in events if isinstance(e, ChildIdentitiesMerged)]
    assert len(result.event_ids) == len(set(result.event_ids)) == result.stats.events + len(merges)
    events = [e for e in events if not isinstance(e, ChildIdentitiesMerged)]
    assert Counter(type(e).__name__ for e in events) == _expected(source)
    assert all(e.envelope.source.system == "cosmic" for e in events)

    again = await run_connector(source.connector(), kafka_settings, hub)
    assert again.stats.records == 0 and again.event_ids == []  # the checkpoint holds


async def test_one_child_id_per_child_and_the_unborn_id_carries_over(source: Source, kafka_settings: Settings,
                                                                     hub: Engine) -> None:
    result = await run_connector(source.connector(), kafka_settings, hub)
    events = await read_events(kafka_settings, hub, result.event_ids, topics=TOPIC)
    unborn = {e.envelope.source.record_id: e.child_id for e in events if isinstance(e, PregnancyRegistered)}
    store = store_for(source.data_dir, "health")
    carried = 0
    for born in (e for e in events if isinstance(e, ChildBorn)):
        patient = store.get("Patient", born.envelope.source.record_id)
        assert patient is not None
        links = [x["valueReference"]["reference"] for x in patient.body.get("extension", [])
                 if x["url"] == vocabulary.EXT_PREGNANCY]
        if links:
            assert born.child_id == unborn[links[0].removeprefix("Condition/")]
            carried += 1
    assert carried > 0
    children: dict[str, set[Any]] = {}
    for event in events:
        if not isinstance(event, PregnancyRegistered):
            children.setdefault(_patient_of(source, event), set()).add(event.child_id)
    assert all(len(ids) == 1 for ids in children.values())  # one pseudonym per child, whatever the record


async def test_personal_data_travels_only_sealed(source: Source, kafka_settings: Settings, hub: Engine) -> None:
    result = await run_connector(source.connector(), kafka_settings, hub)
    mine = set(result.event_ids)
    codec = codec_for(hub)
    people = [c.person for c in source.county if c.person] + [c.mother for c in source.county]
    secrets = {s for p in people for s in (p.personnummer, p.personnummer.replace("-", ""), p.family_name)}
    checked = 0
    for record in await read_all(kafka_settings, TOPIC):
        event = codec.decode_record(record)
        if str(event.event_id) not in mine:
            continue
        checked += 1
        assert not any(secret.encode() in record.value for secret in secrets)
        if isinstance(event, ChildBorn):
            assert set(event.envelope.sealed.fields) == {"personnummer", "given_name", "family_name"}
    assert checked == len(mine)


async def test_incremental_changes_publish_only_the_changes(source: Source, kafka_settings: Settings,
                                                            hub: Engine) -> None:
    first = await run_connector(source.connector(), kafka_settings, hub)
    since = stamp(dt.datetime.now(dt.UTC))
    assert health.simulate(source.data_dir, source.county, 8) == 8
    second = await run_connector(source.connector(), kafka_settings, hub)
    changed = _expected(source, since)
    # new observations, a visit, a vaccination, a condition and an amended observation; a
    # retracted visit says nothing and a deleted observation leaves the feed
    assert changed["ObservationRecorded"] >= 2 and changed["ImmunizationRecorded"] == changed["ConditionNoted"] == 1
    events = await read_events(kafka_settings, hub, second.event_ids, topics=TOPIC)
    assert Counter(type(e).__name__ for e in events) == changed
    store = store_for(source.data_dir, "health")
    assert second.stats.records == sum(len(store.feed(kind, (since, ""), 100)) for kind in health.RESOURCE_TYPES)
    assert not set(second.event_ids) & set(first.event_ids)
    amended = [e for e in events if e.envelope.source.record_version == "2"]
    assert len(amended) == 1 and type(amended[0]).__name__ == "ObservationRecorded"
    before = await read_events(kafka_settings, hub, first.event_ids, topics=TOPIC)
    [original] = [e for e in before if e.envelope.source.record_id == amended[0].envelope.source.record_id]
    assert original.child_id == amended[0].child_id and original.event_id != amended[0].event_id


async def test_resume_inside_a_run_of_equal_timestamps(source: Source) -> None:
    tie = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    template = store_for(source.data_dir, "health").feed("Encounter", None, 1)[0].body
    for n in range(5):
        health.put(source.data_dir, {**template, "id": f"tie-{n}"}, at=tie)
    connector = source.connector(batch_size=2, resource_types=["Encounter"])
    try:
        records = await _drain(connector)
        ties = [r for r in records if r.record_id.startswith("tie-")]
        assert sorted(r.record_id for r in ties) == [f"tie-{n}" for n in range(5)]
        assert len(records) == len({r.record_id for r in records})
        # As if the checkpoint fell between two of them: the read starts at the instant itself,
        # and the marks drop the two already published.
        marks = Marks({"Encounter": Mark(ties[1].cursor, {ties[0].ref: ties[0].cursor, ties[1].ref: ties[1].cursor})})
        rest = await _drain(connector, marks.since())
        assert sorted(r.record_id for r in rest) == [f"tie-{n}" for n in range(5)]
        assert sorted(r.record_id for r in marks.fresh("Encounter", rest)) == ["tie-2", "tie-3", "tie-4"]
    finally:
        await connector.aclose()


async def test_outage_mid_run_is_retried_without_loss(source: Source, kafka_settings: Settings, hub: Engine,
                                                      tmp_path: Path) -> None:
    reference = await run_connector(source.connector(), kafka_settings, make_engine(f"sqlite:///{tmp_path / 'ref.db'}"))
    loop = asyncio.get_running_loop()

    def go_down_once(stats: RunStats) -> None:
        if stats.pages == 2 and source.server is not None:
            source.stop()  # the source dies after the second page ...
            loop.call_later(1.0, source.start)  # ... and is back a second later

    result = await asyncio.wait_for(
        run_connector(source.connector(), kafka_settings, hub, backoff=QUICK, on_page=go_down_once), timeout=60)
    assert result.stats.retries >= 1
    assert result.event_ids and sorted(result.event_ids) == sorted(reference.event_ids)  # none lost, none twice


async def test_source_down_at_start_is_retried_until_it_returns(source: Source, kafka_settings: Settings,
                                                               hub: Engine) -> None:
    source.stop()
    task = asyncio.create_task(run_connector(source.connector(), kafka_settings, hub, backoff=QUICK))
    await asyncio.sleep(1.0)
    assert not task.done()  # still retrying
    source.start()
    result = await asyncio.wait_for(task, timeout=60)
    assert result.stats.retries >= 1 and result.stats.events > 0


async def test_malformed_record_is_dead_lettered_while_the_rest_flows(source: Source, kafka_settings: Settings,
                                                                       hub: Engine) -> None:
    await run_connector(source.connector(), kafka_settings, hub)
    ref = health.inject_malformed(source.data_dir, source.county)
    health.simulate(source.data_dir, source.county, 1)  # a good change next to it
    result = await run_connector(source.connector(), kafka_settings, hub)
    assert (result.stats.records, result.stats.events, result.stats.dead_letters) == (2, 1, 1)
    [letter] = await read_dead_letters(kafka_settings, result.letter_ids)
    assert letter.stage == "connector:health" and letter.source_ref == f"cosmic:{ref}@1"
    assert letter.reason == "Immunization patient personnummer rejected: check digit does not match"
    assert letter.original is None
    [event] = await read_events(kafka_settings, hub, result.event_ids, topics=TOPIC)
    assert type(event).__name__ == "ObservationRecorded"


async def test_expired_token_is_renewed_once(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    county = _county(request, children=40)
    health.prepare(tmp_path, county)
    source = Source(tmp_path, county, credentials=Credentials(audience=AUDIENCE, ttl_s=2))
    source.start()
    connector = source.connector(batch_size=1_000, resource_types=["Observation"])  # one request per read
    try:
        assert await _drain(connector)
        assert source.app is not None and source.app.issued == 1
        await asyncio.sleep(3.2)  # the token has expired (exp is whole seconds, at most 2 s on)
        records = await _drain(connector)
        assert source.app.issued == 2 and records
    finally:
        await connector.aclose()
        source.stop()


async def test_refused_credentials_stop_the_run_with_a_clear_error(source: Source, kafka_settings: Settings,
                                                                   hub: Engine) -> None:
    with pytest.raises(SourceRejected) as caught:
        await run_connector(source.connector(client_secret="wrong-secret"), kafka_settings, hub, max_retries=0)
    assert "401" in str(caught.value) and "wrong-secret" not in str(caught.value)
