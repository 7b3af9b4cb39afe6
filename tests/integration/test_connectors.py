"""One contract suite for every connector, against its stand-in over the real protocol and the
real broker (STYLE 8): initial load, incremental change, outage, malformed record, deletion."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from connectors.standins import population
from connectors.standins.county import County
from schemas.ids import source_event_id
from services.ingest.runner import Backoff
from services.ingest.wiring import connector_runner
from services.settings import Settings
from services.sql.db import make_engine
from tests.support.ingest import FAST_BACKOFF, RunResult, _Recording, read_dead_letters, read_events, run_connector
from tests.support.standins import NAMES, Harness, serving

EXPECTED_TYPES = {
    "health": {"PregnancyRegistered", "ChildBorn", "HealthUnitListed", "HealthVisitRecorded",
               "ImmunizationRecorded", "ObservationRecorded"},
    "school": {"SchoolPlacementStarted", "SchoolPlacementEnded", "AbsenceSummarised"},
    "social": {"ReportOfConcernReceived", "InvestigationOpened"},
    "population": {"ChildRegistered", "CustodyRecorded"},
}
TOPIC = {"health": "intake.health", "school": "intake.school", "social": "intake.social",
         "population": "intake.population"}


@pytest.fixture(params=NAMES)
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with serving(request.param, tmp_path / "standin") as h:
        yield h


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    yield engine
    engine.dispose()


async def test_initial_load_publishes_every_record_once(source: Harness, kafka_settings: Settings, hub: Engine) -> None:
    result = await run_connector(source.connector(), kafka_settings, hub)
    assert result.stats.events > 0 and result.stats.dead_letters == 0
    assert len(result.event_ids) == len(set(result.event_ids)) == result.stats.events
    events = await read_events(kafka_settings, hub, result.event_ids, topics=[TOPIC[source.name]])
    assert {str(e.event_id) for e in events} == set(result.event_ids)
    assert EXPECTED_TYPES[source.name] <= {type(e).__name__ for e in events}
    system = source.connector().system  # once: each connector builds an HTTP client (its TLS context)
    assert all(e.envelope.source.system == system for e in events)
    if source.name == "population":  # every born child is registered exactly once
        born = sum(1 for c in County(children=150) if c.born)
        # by distinct event id: other tests publish the same county's records to the same broker
        assert Counter(type(e).__name__ for e in {e.event_id: e for e in events}.values())["ChildRegistered"] == born
        registered = next(e for e in events if type(e).__name__ == "ChildRegistered")
        assert set(registered.envelope.sealed.fields) >= {"personnummer", "given_name"}  # sealed, opened with the key

    again = await run_connector(source.connector(), kafka_settings, hub)
    assert again.stats.records == 0 and again.event_ids == []  # the checkpoint holds


async def test_incremental_change_publishes_only_the_change(source: Harness, kafka_settings: Settings, hub: Engine) -> None:
    first = await run_connector(source.connector(), kafka_settings, hub)
    expected = source.change()
    second = await run_connector(source.connector(), kafka_settings, hub)
    assert 1 <= second.stats.records <= 2
    events = await read_events(kafka_settings, hub, second.event_ids, topics=[TOPIC[source.name]])
    assert {type(e).__name__ for e in events} == expected
    assert not set(second.event_ids) & set(first.event_ids)


async def test_source_outage_is_retried_until_it_returns(source: Harness, kafka_settings: Settings, hub: Engine) -> None:
    reference = await run_connector(source.connector(), kafka_settings, make_engine(f"sqlite:///{source.data_dir.parent / 'ref.db'}"))
    with source.down():
        task = asyncio.create_task(run_connector(source.connector(), kafka_settings, hub,
                                                 backoff=Backoff(initial_s=0.1, max_s=0.3)))
        await asyncio.sleep(1.5)
        assert not task.done()  # still retrying, not failed
    source.up()
    result = await asyncio.wait_for(task, timeout=60)
    assert result.stats.retries >= 1
    assert set(result.event_ids) == set(reference.event_ids)  # nothing lost, ids identical


async def test_malformed_record_is_dead_lettered_and_the_rest_flows(source: Harness, kafka_settings: Settings, hub: Engine) -> None:
    ref = source.malform()
    result = await run_connector(source.connector(), kafka_settings, hub)
    assert result.stats.dead_letters == 1 and result.stats.events > 0
    [letter] = await read_dead_letters(kafka_settings, result.letter_ids)
    assert letter.stage == f"connector:{source.name}"
    assert ref in (letter.source_ref or "") and letter.reason
    assert letter.original is None  # raw source data may hold personal data
    assert "9312" not in letter.reason  # the bad personnummer is never repeated


async def test_school_deletion_ends_the_placement(tmp_path: Path, kafka_settings: Settings, hub: Engine) -> None:
    """A deletion names only an id: the polling process that read the placement maps it; one
    started after the deletion cannot, and dead-letters it rather than lose it silently."""
    with serving("school", tmp_path / "standin") as source:
        async with connector_runner(source.connector(), kafka_settings, hub, backoff=FAST_BACKOFF) as runner:
            await runner.run_once()
            placement = source.delete_one()
            before = runner.stats.events
            ids = RunResult(runner.stats)
            runner.publisher = _Recording(runner.publisher, ids)
            await runner.run_once()
        assert runner.stats.events == before + 1
        second = source.delete_one()
        late = await run_connector(source.connector(), kafka_settings, hub)  # a new process
    events = await read_events(kafka_settings, hub, ids.event_ids, topics=["intake.school"])
    [ended] = [e for e in events if type(e).__name__ == "SchoolPlacementEnded"]
    assert ended.placement_id == placement and ended.end_date == dt.datetime.now(dt.UTC).date()
    [letter] = await read_dead_letters(kafka_settings, late.letter_ids)
    assert second in (letter.source_ref or "") and "only the id" in letter.reason


async def test_population_custody_changes_of_one_day_keep_the_register_order(
        tmp_path: Path, kafka_settings: Settings, hub: Engine) -> None:
    """Through the runner and the broker: two custody changes of one child on one day become
    CustodyRecorded events whose occurred_at order is the register's order, while their record
    ids and event ids sort the other way round."""
    with serving("population", tmp_path / "standin") as source:
        await run_connector(source.connector(), kafka_settings, hub)
        child = next(c for c in source.county if c.born and len(c.guardians) == 2)
        # Record ids whose event ids (UUIDv5, no order) also sort against the register's order.
        suffix = next(n for n in range(1_000) if _event_id(f"b{n}") > _event_id(f"a{n}"))
        first, second = f"b{suffix}", f"a{suffix}"
        at = dt.datetime.now(dt.UTC).replace(hour=12)  # today, well inside the day, after the load
        rows = [population.record_custody(source.data_dir, child.person.personnummer, child.guardians[:1],
                                          at=at, record_id=first),
                population.record_custody(source.data_dir, child.person.personnummer, child.guardians,
                                          at=at + dt.timedelta(milliseconds=1), record_id=second)]
        result = await run_connector(source.connector(), kafka_settings, hub)
    events = await read_events(kafka_settings, hub, result.event_ids, topics=["intake.population"])
    assert [type(e).__name__ for e in events] == ["CustodyRecorded", "CustodyRecorded"]
    ordered = sorted(events, key=lambda e: e.envelope.occurred_at)
    assert [e.envelope.source.record_id for e in ordered] == [first, second]
    assert [e.envelope.occurred_at for e in ordered] == [dt.datetime.fromisoformat(r.modified) for r in rows]
    assert ordered[0].recorded_on == ordered[1].recorded_on == at.date()
    assert len(ordered[0].guardian_ids) == 1 and len(ordered[1].guardian_ids) == 2
    assert sorted(events, key=lambda e: e.envelope.event_id) == ordered[::-1]  # event ids say nothing
    assert ordered[0].envelope.child_id == ordered[1].envelope.child_id


def _event_id(record_id: str) -> uuid.UUID:
    return source_event_id("navet", f"change/{record_id}#CustodyRecorded", "1")
