"""Outages as a real network gives them (issue 18, item 4), against each stand-in that speaks HTTP
(population register, SS 12000 school platform, FHIR server) and the real broker: 500 and 503, 429 with ``Retry-After``, a connection dropped mid-answer, an answer slower
than the timeout, a gateway's HTML page, a token that expires mid-paging, and a source that stays
down. Each run ends with exactly the events of an undisturbed run -- none lost, none new -- and
the connector's status row and metrics say what it went through, without losing the checkpoint.
The runs stop short of the broker (``dry_run``): the source is on trial, and the same county's
event ids on the shared test topics would blur other tests' counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from structlog.testing import capture_logs

from connectors.base import SourceUnavailable
from connectors.registry import connector_class
from connectors.standins import population, school
from connectors.standins.auth import Credentials
from connectors.standins.faults import Fault, Faults
from connectors.standins.health import server as health_server
from services.dev.http_server import BackgroundServer
from services.ingest.checkpoints import SqlCheckpoints
from services.ingest.cli import status_command
from services.ingest.runner import DOWN_AFTER
from services.ingest.status import ConnectorMetrics, SqlStatus
from services.kafka.broker import free_port
from services.settings import Settings
from services.sql.db import make_engine
from tests.support.ingest import dry_run
from tests.support.standins import Harness, harness

BATCH = 40  # a few pages: a fault can fall after the first checkpoint


HTTP_STANDINS = ("population", "school", "health")
APPS = {"population": population.app, "school": school.app, "health": health_server.create_app}


def prepared(name: str, tmp_path_factory: pytest.TempPathFactory) -> Harness:
    h = harness(name, tmp_path_factory.mktemp(name), children=150)
    h.prepare()
    return h


@pytest.fixture(scope="module", params=HTTP_STANDINS)
def standin(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Harness:
    return prepared(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    return prepared("population", tmp_path_factory)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    yield engine
    engine.dispose()


async def undisturbed_ids(standin: Harness, kafka_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The event ids of a run that meets no fault: what every disturbed run must end with."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('reference') / 'hub.db'}")
    with serve(standin, {}) as (_faults, source):
        result = await dry_run(connector_for(standin, source), kafka_settings, engine)
    engine.dispose()
    assert result.stats.records > 2 * BATCH  # more than two pages
    return set(result.event_ids)


@pytest.fixture(scope="module")
async def undisturbed(standin: Harness, kafka_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return await undisturbed_ids(standin, kafka_settings, tmp_path_factory)


@pytest.fixture(scope="module")
async def register_undisturbed(register: Harness, kafka_settings: Settings,
                               tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return await undisturbed_ids(register, kafka_settings, tmp_path_factory)


class serve:  # noqa: N801 - a context manager used like a function
    """The stand-in behind ``Faults``; yields the faults and the connector's [source] table."""

    def __init__(self, standin: Harness, plan: dict[int, Fault], ttl_s: int | None = None,
                 timeout_s: float = 5.0, counting: str | None = None) -> None:
        credentials = Credentials(ttl_s=ttl_s) if ttl_s is not None else None
        self.faults = Faults(APPS[standin.name](standin.data_dir, credentials), plan, counting=counting)
        self.server = BackgroundServer(self.faults, port=free_port())
        standin.port = self.server.port
        self.source = {**standin.source(), "timeout_s": timeout_s}

    def __enter__(self) -> tuple[Faults, dict[str, object]]:
        self.server.start()
        return self.faults, self.source

    def __exit__(self, *_exc: object) -> None:
        self.server.stop()


def connector_for(standin: Harness, source: dict[str, object]):  # type: ignore[no-untyped-def]
    return connector_class(standin.name).from_config(source, BATCH)


SCENARIOS = {
    "500": ({2: Fault("status", 500)}, {}, 1),
    "503 twice": ({2: Fault("status", 503), 3: Fault("status", 503)}, {}, 2),
    "429 with Retry-After": ({3: Fault("status", 429, retry_after="1")}, {}, 1),
    "reset mid-answer": ({2: Fault("reset")}, {}, 1),
    "slower than the timeout": ({2: Fault("slow", delay_s=6.0)}, {"timeout_s": 2.0}, 1),  # room for a busy CI
    "a gateway's HTML page": ({2: Fault("not_json")}, {}, 1),
    "the token expires mid-paging": ({2: Fault("slow", delay_s=1.2)}, {"ttl_s": 1}, 0),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_the_connector_rides_out_the_fault_and_loses_nothing(
        scenario: str, standin: Harness, undisturbed: set[str], kafka_settings: Settings, hub: Engine) -> None:
    plan, options, failures = SCENARIOS[scenario]
    registry = CollectorRegistry()
    with serve(standin, plan, **options) as (faults, source), capture_logs() as logs:
        result = await dry_run(connector_for(standin, source), kafka_settings, hub,
                                     metrics=ConnectorMetrics(registry))
    assert [n for n, _ in faults.met] == sorted(plan)  # every planned fault was met
    assert set(result.event_ids) == undisturbed  # none lost, none made up
    assert result.stats.retries == failures
    retries = [e for e in logs if e["event"] == "connector.retry"]
    assert len(retries) == failures
    if "Retry-After" in scenario:
        assert retries[0]["delay_s"] >= 1.0  # the source's Retry-After is a floor
    if "token" in scenario:
        assert faults.tokens >= 2  # a fresh token when the first expired, and the paging went on

    status = SqlStatus(hub).load(standin.name)
    assert status is not None and status.retries == failures and status.down_since is None
    assert status.last_poll_at is not None and status.records_read >= len(undisturbed) // 2
    assert status.events_published == result.stats.events
    if failures:
        assert status.last_error is not None and status.last_error.startswith("SourceUnavailable: ")

    def sample(name: str) -> float | None:
        return registry.get_sample_value(name, {"connector": standin.name})

    assert sample("kronobarn_connector_retries_total") == failures
    assert sample("kronobarn_connector_events_published_total") == result.stats.events
    assert sample("kronobarn_connector_records_read_total") == status.records_read
    assert sample("kronobarn_connector_source_up") == 1
    assert sample("kronobarn_connector_last_success_timestamp_seconds") == status.last_poll_at.timestamp()
    age = sample("kronobarn_connector_checkpoint_age_seconds")
    assert age is not None and 0 <= age < 60


# A next page the server no longer serves: an expired SS 12000 page token, an expired FHIR next link.
EXPIRED_PAGE = {"school": ("pageToken", Fault("status", 400)), "health": ("ct=", Fault("status", 410))}


@pytest.mark.parametrize("name", list(EXPIRED_PAGE))
async def test_an_expired_page_link_starts_the_query_again_from_the_checkpoint(
        name: str, tmp_path_factory: pytest.TempPathFactory, kafka_settings: Settings, hub: Engine) -> None:
    standin = prepared(name, tmp_path_factory)
    undisturbed = await undisturbed_ids(standin, kafka_settings, tmp_path_factory)
    marker, fault = EXPIRED_PAGE[name]
    with serve(standin, {2: fault}, counting=marker) as (faults, source), capture_logs() as logs:
        result = await dry_run(connector_for(standin, source), kafka_settings, hub)
    assert faults.met == [(2, "status")]  # the second next-page request was refused
    assert set(result.event_ids) == undisturbed and result.stats.retries == 1
    assert [e["error"] for e in logs if e["event"] == "connector.retry"] == ["SourceUnavailable"]


async def test_a_source_that_stays_down_is_reported_and_keeps_its_checkpoint(
        register: Harness, register_undisturbed: set[str], kafka_settings: Settings, hub: Engine,
        capsys: pytest.CaptureFixture[str]) -> None:
    standin, undisturbed = register, register_undisturbed
    down = DOWN_AFTER + 1  # attempts that fail in a row, from the second page on
    plan = {2 + i: Fault("status", 503) for i in range(down)}
    registry = CollectorRegistry()
    metrics = ConnectorMetrics(registry)
    with serve(standin, plan) as (faults, source):
        with capture_logs() as logs, pytest.raises(SourceUnavailable):
            await dry_run(connector_for(standin, source), kafka_settings, hub, metrics=metrics,
                                max_retries=down - 1)
        after_outage = SqlCheckpoints(hub).load("population")
        status = SqlStatus(hub).load("population")
        assert [e["event"] for e in logs].count("connector.source_down") == 1
        assert [e for e in logs if e["event"] == "connector.source_down"][0]["log_level"] == "error"
        assert status is not None and status.down_since is not None and status.retries == down
        assert status.last_poll_at is None and status.records_read == BATCH  # the first page, before the outage
        assert registry.get_sample_value("kronobarn_connector_source_up", {"connector": "population"}) == 0
        assert after_outage is not None  # the first page's checkpoint is kept through the outage
        assert status_command(hub_settings(hub), "population") == 0
        printed = " ".join(capsys.readouterr().out.split())
        assert "source │ down since" in printed and f"retries │ {down}" in printed
        assert f"records read │ {BATCH}" in printed and "navet answered 503" in printed

        back = await dry_run(connector_for(standin, source), kafka_settings, hub, metrics=metrics)
    assert len(faults.met) == down
    first_page = set(undisturbed) - set(back.event_ids)
    assert first_page and len(first_page) < len(undisturbed)  # it resumed after the first page...
    assert set(back.event_ids) | first_page == undisturbed  # ...and lost nothing
    status = SqlStatus(hub).load("population")
    assert status is not None and status.down_since is None and status.last_poll_at is not None
    assert registry.get_sample_value("kronobarn_connector_source_up", {"connector": "population"}) == 1
    assert status_command(hub_settings(hub), "population") == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "source │ up" in printed and "last successful poll │ at" in printed
    assert "change │ complete before 20" in printed  # the population register's one stream, and its instant
    assert status_command(hub_settings(hub), "school") == 1  # never ran here


def hub_settings(hub: Engine) -> Settings:
    return Settings(_env_file=None, database_url=str(hub.url))  # type: ignore[call-arg]
