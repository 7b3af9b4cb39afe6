"""The checkpoint marks against a reference source written here: records sharing instants,
served in any order, a crash after any page, late records at an instant already read."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import Connector, Fact, Order, Page, SourceRecord, Subject, instant, just_before
from connectors.health import HealthConnector
from connectors.health_mapping import Mapper
from connectors.population import PopulationConnector
from connectors.school import SchoolConnector
from connectors.social import SocialConnector
from schemas.codec import Codec
from schemas.events import HealthVisitRecorded
from schemas.sealing import Sealer
from services.ingest import checkpoints
from services.ingest.checkpoints import Mark, Marks
from services.ingest.runner import Backoff, ConnectorRunner
from tests.unit.test_connector_runner import FakeCheckpoints, FakeIdentities, FakeKeys, FakePublisher

T0 = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)


def stamp(n: int) -> str:
    return (T0 + dt.timedelta(seconds=n)).isoformat(timespec="microseconds")


def no_legacy(cursor: str) -> Mapping[str, str]:
    raise AssertionError(f"unexpected legacy cursor {cursor!r}")


@dataclass
class Source:
    """The reference: ``records`` (id -> instant number); a query returns every record at or after
    its start, in instant order with ties shuffled (ordered) or in no order at all."""

    records: dict[str, int]
    ordered: bool
    page_size: int
    rng: random.Random

    def query(self, since: str | None) -> Iterator[Page]:
        start = instant(since) if since else None
        rows = [(rid, n) for rid, n in self.records.items() if start is None or T0 + dt.timedelta(seconds=n) >= start]
        self.rng.shuffle(rows)
        if self.ordered:
            rows.sort(key=lambda row: row[1])  # stable: ties keep the shuffled order
        pages = [rows[i:i + self.page_size] for i in range(0, len(rows), self.page_size)] or [[]]
        for i, page in enumerate(pages):
            self.rng.shuffle(page)  # a page itself comes in any order
            yield Page("s", [SourceRecord("k", rid, "1", stamp(n), {}) for rid, n in page], last=i == len(pages) - 1)


def run(source: Source, saved: str | None, published: list[str], crash_after: int | None) -> str | None:
    """One read like the runner's; returns the last saved checkpoint. Checks, at every save,
    that the mark never passes a record not yet published."""
    marks = Marks.loads(saved, no_legacy)
    for n, page in enumerate(source.query(marks.since().get("s"))):
        if crash_after is not None and n >= crash_after:
            return saved
        fresh = marks.fresh("s", page.records)
        published.extend(r.record_id for r in fresh)
        marks.published("s", page.records, fresh, complete=source.ordered or page.last)
        saved = marks.dumps()
        at = Marks.loads(saved, no_legacy).streams["s"].at
        if at is not None:
            before = {rid for rid, i in source.records.items() if T0 + dt.timedelta(seconds=i) < instant(at)}
            assert before <= set(published), "the mark passed a record not yet published"
    return saved


@settings(max_examples=150, deadline=None)
@given(instants=st.lists(st.integers(0, 6), min_size=1, max_size=40), ordered=st.booleans(),
       page_size=st.integers(1, 7), crashes=st.lists(st.integers(0, 6), max_size=5),
       late=st.lists(st.booleans(), max_size=5), seed=st.integers())
def test_nothing_is_lost_whatever_the_order_ties_and_crashes(
        instants: list[int], ordered: bool, page_size: int, crashes: list[int], late: list[bool], seed: int) -> None:
    source = Source({f"r{i}": n for i, n in enumerate(instants)}, ordered, page_size, random.Random(seed))
    published: list[str] = []
    saved = None
    for i, crash_after in enumerate(crashes):
        saved = run(source, saved, published, crash_after)
        if i < len(late) and late[i]:  # a change committed late, at the greatest instant already there
            source.records[f"late{i}"] = max(source.records.values())
    saved = run(source, saved, published, None)
    assert set(published) == set(source.records)
    # A second read after a complete one publishes nothing again.
    done = len(published)
    run(source, saved, published, None)
    assert published[done:] == []


def test_the_mark_of_an_unordered_stream_moves_only_when_its_query_is_complete() -> None:
    marks = Marks()
    first = [SourceRecord("k", "b", "1", stamp(5), {}), SourceRecord("k", "a", "1", stamp(1), {})]
    marks.published("s", first, first, complete=False)
    assert marks.since() == {} and set(marks.streams["s"].seen) == {"k/a@1", "k/b@1"}
    last = [SourceRecord("k", "c", "1", stamp(5), {}), SourceRecord("k", "d", "1", stamp(3), {})]
    marks.published("s", last, last, complete=True)
    # At the greatest instant; only the records at it stay remembered.
    assert marks.since() == {"s": stamp(5)} and set(marks.streams["s"].seen) == {"k/b@1", "k/c@1"}


def test_a_new_version_at_a_published_instant_is_fresh() -> None:
    marks = Marks({"s": Mark(stamp(2), {"k/a@1": stamp(2)})})
    page = [SourceRecord("k", "a", "1", stamp(2), {}), SourceRecord("k", "a", "2", stamp(2), {}),
            SourceRecord("k", "a", "2", stamp(2), {})]
    assert [r.ref for r in marks.fresh("s", page)] == ["k/a@2"]


def test_checkpoint_round_trips_and_an_older_cursor_resumes_through_the_connector() -> None:
    marks = Marks({"s": Mark(stamp(1), {"k/a@1": stamp(1), "k/b@1": stamp(2)}), "t": Mark(None, {})})
    assert Marks.loads(marks.dumps(), no_legacy) == marks
    legacy = Marks.loads("2026-03-01T08:00:01+00:00|x", lambda text: {"s": text.partition("|")[0]})
    assert legacy.since() == {"s": "2026-03-01T08:00:01+00:00"} and legacy.streams["s"].seen == {}


def test_past_the_ref_limit_the_rest_is_published_again_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoints, "REF_LIMIT", 3)
    source = Source({f"r{i}": 0 for i in range(10)}, ordered=True, page_size=2, rng=random.Random(1))
    published: list[str] = []
    saved = run(source, None, published, 3)
    run(source, saved, published, None)
    assert set(published) == set(source.records)
    assert len(published) == 6 + (10 - 3)  # the 3 remembered are not published again


def test_just_before_asks_an_exclusive_filter_for_the_instant_itself() -> None:
    assert just_before("2026-03-01T08:00:00Z") == "2026-03-01T07:59:59.999999+00:00"
    assert just_before("2026-03-01T08:00:00.000001+00:00") == "2026-03-01T08:00:00.000000+00:00"
    assert instant("2026-03-01T08:00:00") == T0 and instant("") is None and instant("n/a") is None


class Shuffled(Connector):
    """Twelve visits at two instants, pages of three in no order; the query's page 3 fails once."""

    name, system, cursor_field, order = "shuffled", "fake", "at", Order.NONE

    def __init__(self) -> None:
        self.failed = False
        self.since: list[Any] = []

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> Shuffled:
        return cls()

    async def read(self, since: Mapping[str, str] | None) -> AsyncIterator[Page]:
        self.since.append(dict(since or {}))
        rows = [(f"v{n}", stamp(n % 2)) for n in range(12)]
        random.Random(len(self.since)).shuffle(rows)
        for i in range(0, 12, 3):
            if i == 6 and not self.failed:
                self.failed = True
                raise OSError("source went away mid-query")
            yield Page("visits", [SourceRecord("Encounter", rid, "1", at, {}) for rid, at in rows[i:i + 3]],
                       last=i == 9)

    def map(self, record: SourceRecord) -> list[Fact]:
        return [Fact(HealthVisitRecorded, Subject(personnummer="p"), T0, "unit-1",
                     {"unit_id": "unit-1", "visit_type": "BHV", "visited_on": T0.date()})]


async def test_runner_resumes_an_unordered_query_after_an_outage_without_loss() -> None:
    keys = FakeKeys()
    connector, publisher, saved = Shuffled(), FakePublisher(), FakeCheckpoints()
    runner = ConnectorRunner(connector, publisher, saved, FakeIdentities(), Codec(sealer=Sealer(keys)),
                             Sealer(keys), backoff=Backoff(initial_s=0.001, max_s=0.001), clock=lambda: T0)
    stats = await runner.run_once()
    assert stats.retries == 1
    assert connector.since == [{}, {}]  # the mark held still mid-query: the retry starts over
    ids = [r.event_id for r in publisher.records]
    assert len(set(ids)) == 12 and len(ids) == 12  # the 6 published before the outage were dropped
    assert Marks.loads(saved.saved["shuffled"], no_legacy).since() == {"visits": stamp(1)}


def test_each_connector_resumes_the_cursor_it_saved_before_marks() -> None:
    at = "2026-03-01T08:00:00.000000+00:00"
    health = HealthConnector(None, 10, Mapper())  # type: ignore[arg-type]
    assert health.resume_from(f"Condition={at}|c1;Encounter=2026-03-02T08:00:00Z|e.2") == {
        "Condition": at, "Encounter": "2026-03-02T08:00:00Z"}
    school = SchoolConnector(None, 10, frozenset())  # type: ignore[arg-type]
    assert school.resume_from(json.dumps({"persons": at, "placements": at, "deleted": at})) == {"placements": at}
    social = SocialConnector(None, 10)  # type: ignore[arg-type]
    assert social.resume_from(json.dumps({"investigations": ["2026-03-01T08:00:00", "UTR-1"]})) == {
        "investigations": "2026-03-01T08:00:00"}
    people = PopulationConnector(None, 10, "secret", "navet")  # type: ignore[arg-type]
    assert people.resume_from(f"{at}|000001-reg") == {"change": at}
    with pytest.raises(ValueError):
        people.resume_from("garbage")
