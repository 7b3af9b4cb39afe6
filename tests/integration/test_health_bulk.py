"""The health connector's two feeds against its stand-in over real HTTP, publishing to the real
broker: FHIR search and FHIR Bulk Data ``$export`` give the same events for the same records,
with the default source profile and with another installation's; a bulk run resumes at the
manifest's ``transactionTime``, polls as ``Retry-After`` asks, and deletes its job; expiring
``next`` links are an outage the runner resumes from."""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import Engine, select

from connectors.base import Fact, SourceRecord, SourceUnavailable
from connectors.health import EXPORT_STREAM, HealthBulkConnector, HealthConnector
from connectors.standins import health
from connectors.standins.auth import Credentials
from connectors.standins.county import County
from connectors.standins.health.bulk import BulkOptions
from connectors.standins.health.profile import (
    COORDINATION_SYSTEM,
    OTHER_MUNICIPALITY_EXTENSION,
    PREGNANCY_ID_SYSTEM,
    Served,
)
from connectors.standins.health.server import AUDIENCE
from schemas.events import ChildBorn
from services.dev.http_server import BackgroundServer
from services.ingest.runner import MERGED_NAMESPACE
from services.kafka.broker import free_port
from services.settings import Settings
from services.sql.db import make_engine
from services.sql.schema import identity_links
from tests.support.ingest import read_events, run_connector

CHILDREN = 80
TOPIC = ["intake.health"]
# The non-default profile: what the connector is told about the other installation.
OTHER_PROFILE = {
    "identifier_systems": ["http://electronichealth.se/identifier/personnummer",
                           "http://electronichealth.se/identifier/samordningsnummer"],
    "municipality_extension": OTHER_MUNICIPALITY_EXTENSION,
    "pregnancy_key": "identifier",
    "pregnancy_identifier_system": PREGNANCY_ID_SYSTEM,
}


class Requests:
    """ASGI middleware recording each request's method, path and query."""

    def __init__(self, app: Any) -> None:
        self.app, self.seen = app, []  # type: ignore[var-annotated]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"], parse_qs(scope["query_string"].decode())))
        await self.app(scope, receive, send)


@dataclass
class Standin:
    data_dir: Path
    county: County
    served: Served = field(default_factory=Served)
    bulk: BulkOptions = field(default_factory=lambda: BulkOptions(file_size=40, retry_after_s=0))
    app: Requests | None = None
    server: BackgroundServer | None = None

    def start(self) -> Standin:
        self.app = Requests(health.create_app(self.data_dir, Credentials(audience=AUDIENCE), served=self.served,
                                              bulk=self.bulk))
        self.server = BackgroundServer(self.app, port=free_port()).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def connector(self, feed: str, profile: dict[str, Any] | None = None, batch_size: int = 30,
                  **options: Any) -> HealthConnector:
        assert self.server is not None
        config = {"url": f"{self.server.url}/fhir", "token_url": f"{self.server.url}/oauth2/token",
                  "client_id": "kronobarn", "client_secret": "dev-only-secret", "feed": feed,
                  **({"profile": profile} if profile else {}), **options}
        return HealthConnector.from_config(config, batch_size)


def _county(request: pytest.FixtureRequest) -> County:
    return County(seed=zlib.crc32(request.node.nodeid.encode()), children=CHILDREN)


@pytest.fixture
def county(request: pytest.FixtureRequest, tmp_path: Path) -> County:
    county = _county(request)
    health.prepare(tmp_path / "standin", county)
    return county


@pytest.fixture
def default(county: County, tmp_path: Path) -> Iterator[Standin]:
    running = Standin(tmp_path / "standin", county).start()
    yield running
    running.stop()


@pytest.fixture
def other(county: County, tmp_path: Path) -> Iterator[Standin]:
    running = Standin(tmp_path / "standin", county, Served.other_installation(expiring_links=3)).start()
    yield running
    running.stop()


def _hub(tmp_path: Path, name: str) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / f'{name}.db'}")


async def _facts(connector: HealthConnector) -> dict[tuple[str, str, str], Fact]:
    """Every fact a full read gives, by (record kind, record id, event type), read in memory."""
    out: dict[tuple[str, str, str], Fact] = {}
    try:
        async for page in connector.read(None):
            for record in page:
                for fact in connector.map(record):
                    out[(record.kind, record.record_id, fact.event.__name__ + fact.part)] = fact
    finally:
        await connector.aclose()
    return out


def _facts_published(ids: list[str], hub: Engine) -> set[str]:
    """A run's event ids but its identity merges, whose ids name the hub's own (random) child ids."""
    with hub.connect() as c:
        links = c.execute(select(identity_links)).all()
    return set(ids) - {str(uuid.uuid5(MERGED_NAMESPACE, f"{k.merged_id}|{k.surviving_id}")) for k in links}


# -- same facts, both feeds, both profiles ---------------------------------------------------------


async def test_search_and_bulk_publish_the_same_events(default: Standin, kafka_settings: Settings,
                                                       tmp_path: Path) -> None:
    search_hub, bulk_hub = _hub(tmp_path, "search"), _hub(tmp_path, "bulk")
    search = await run_connector(default.connector("search"), kafka_settings, search_hub)
    bulk = await run_connector(default.connector("bulk"), kafka_settings, bulk_hub)
    assert search.stats.dead_letters == bulk.stats.dead_letters == 0
    assert search.event_ids and _facts_published(bulk.event_ids, bulk_hub) == _facts_published(search.event_ids,
                                                                                              search_hub)
    assert len(bulk.event_ids) == len(set(bulk.event_ids))  # each file line once
    events = await read_events(kafka_settings, bulk_hub, bulk.event_ids, topics=[*TOPIC, "intake.population"])
    assert {str(e.event_id) for e in events} == set(bulk.event_ids)  # on the broker, decodable
    # the job was deleted at the end: its files are gone, and its status URL with them
    assert not any((default.data_dir / "bulk").iterdir())
    assert default.app is not None
    [status] = {path for method, path, _ in default.app.seen if method == "DELETE"}
    assert ("GET", status, {}) in default.app.seen


async def test_another_installation_gives_the_same_facts_in_both_feeds(default: Standin, other: Standin) -> None:
    reference = await _facts(default.connector("search"))
    assert reference
    for feed in ("search", "bulk"):
        facts = await _facts(other.connector(feed, OTHER_PROFILE, batch_size=1_000))  # one page: no link expires
        assert facts.keys() == reference.keys(), feed
        for key, fact in facts.items():
            expected = reference[key]
            assert (fact.subject, fact.organisation_id, dict(fact.fields), fact.occurred_at) == (
                expected.subject, expected.organisation_id, dict(expected.fields), expected.occurred_at), key
    assert other.app is not None
    reads = {path.split("/")[2] for method, path, _ in other.app.seen
             if method == "GET" and path.count("/") == 3 and "$" not in path}
    # patients read for their personnummer, roles for their unit, encounters for a nurse's unit
    assert {"Patient", "PractitionerRole", "Encounter", "Condition"} <= reads


async def test_another_installation_through_the_runner_in_both_feeds(default: Standin, other: Standin,
                                                                     kafka_settings: Settings, tmp_path: Path) -> None:
    hubs = {name: _hub(tmp_path, name) for name in ("reference", "search", "bulk")}
    reference = await run_connector(default.connector("search"), kafka_settings, hubs["reference"])
    expected = _facts_published(reference.event_ids, hubs["reference"])
    search = await run_connector(other.connector("search", OTHER_PROFILE, batch_size=20), kafka_settings,
                                 hubs["search"], max_retries=None)
    # every third next link expired: each time the runner resumed from the checkpoint
    assert search.stats.retries >= 1
    assert _facts_published(search.event_ids, hubs["search"]) == expected
    bulk = await run_connector(other.connector("bulk", OTHER_PROFILE), kafka_settings, hubs["bulk"])
    assert _facts_published(bulk.event_ids, hubs["bulk"]) == expected
    assert search.stats.dead_letters == bulk.stats.dead_letters == 0


async def test_a_samordningsnummer_is_an_identity_like_a_personnummer(other: Standin, kafka_settings: Settings,
                                                                      tmp_path: Path) -> None:
    hub = _hub(tmp_path, "hub")
    await run_connector(other.connector("bulk", OTHER_PROFILE), kafka_settings, hub)
    template = next(r for r in health.store_for(other.data_dir, "health").feed("Patient", None, 10_000)
                    if any(e["url"].endswith("/pregnancy") for e in r.body.get("extension", [])))
    coordination = "201503699991"  # born 2015-03-09: day + 60, synthetic serial 999, valid check digit
    body = {**template.body, "id": "coordinated", "extension": [],
            "identifier": [{"system": COORDINATION_SYSTEM, "value": coordination}]}
    health.put(other.data_dir, {"resourceType": "Patient", **body})
    result = await run_connector(other.connector("bulk", OTHER_PROFILE), kafka_settings, hub)
    assert (result.stats.events, result.stats.dead_letters) == (1, 0)
    [born] = await read_events(kafka_settings, hub, result.event_ids, topics=TOPIC)
    assert isinstance(born, ChildBorn) and born.envelope.source.record_id == "coordinated"


# -- the bulk protocol ----------------------------------------------------------------------------


async def _drain(connector: HealthConnector, since: dict[str, str] | None = None) -> list[SourceRecord]:
    records: list[SourceRecord] = []
    async for page in connector.read(since):
        records.extend(page)
    return records


async def test_the_next_export_starts_at_the_last_transaction_time(default: Standin, kafka_settings: Settings,
                                                                   tmp_path: Path) -> None:
    hub = _hub(tmp_path, "hub")
    first = await run_connector(default.connector("bulk"), kafka_settings, hub)
    assert default.app is not None
    kick_offs = [query for method, path, query in default.app.seen if path.endswith("/$export")]
    assert kick_offs == [{"_type": [",".join(("Condition", "Patient", "EpisodeOfCare", "Encounter",
                                              "Immunization", "Observation"))],
                          "_outputFormat": ["application/fhir+ndjson"]}]
    since = dt.datetime.now(dt.UTC)
    assert health.simulate(default.data_dir, default.county, 8) == 8
    second = await run_connector(default.connector("bulk"), kafka_settings, hub)
    [again] = [query for method, path, query in default.app.seen if path.endswith("/$export")][1:]
    started = dt.datetime.fromisoformat(again["_since"][0])
    assert started < since  # the first export's transactionTime, before the changes ...
    store = health.store_for(default.data_dir, "health")
    changed = sum(len(store.feed(kind, (again["_since"][0], "\U0010ffff"), 1000)) for kind in health.RESOURCE_TYPES)
    assert second.stats.records == changed + 1  # ... so the changes and nothing else, plus the $export mark
    assert not set(second.event_ids) & set(first.event_ids)
    third = await run_connector(default.connector("bulk"), kafka_settings, hub)
    assert third.event_ids == [] and third.stats.records == 1  # only the new transactionTime


async def test_polling_waits_as_long_as_retry_after_asks(county: County, tmp_path: Path) -> None:
    slow = Standin(tmp_path / "standin", county, bulk=BulkOptions(polls=3, retry_after_s=7)).start()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    try:
        connector = slow.connector("bulk", resource_types=["Observation"])
        assert isinstance(connector, HealthBulkConnector)
        connector._sleep = sleep
        records = await _drain(connector)
        await connector.aclose()
    finally:
        slow.stop()
    assert waits == [7.0, 7.0, 7.0]
    assert [r.kind for r in records if r.kind == EXPORT_STREAM] == [EXPORT_STREAM]
    assert len(records) == health.store_for(slow.data_dir, "health").count("Observation") + 1


async def test_an_export_that_never_completes_is_an_outage(county: County, tmp_path: Path) -> None:
    slow = Standin(tmp_path / "standin", county, bulk=BulkOptions(polls=1_000, retry_after_s=60)).start()

    async def sleep(seconds: float) -> None:
        return None

    try:
        connector = slow.connector("bulk", export_timeout_s=100)
        assert isinstance(connector, HealthBulkConnector)
        connector._sleep, clock = sleep, iter(range(0, 10_000, 30))
        connector._clock = lambda: float(next(clock))
        with pytest.raises(SourceUnavailable, match="did not complete within 100 s"):
            await _drain(connector)
        await connector.aclose()
    finally:
        slow.stop()
    assert not any((slow.data_dir / "bulk").iterdir())  # deleted all the same
