"""One child, one id, whatever order the connectors first see a child in (issue 15).

The four connectors read one small county from their stand-ins once. Each order then runs them,
one after another, through the real runner and identity registry on a fresh hub database
(SQLite, and PostgreSQL when configured), and what they published is checked against a small
reference registry written here: the subjects it was asked about, in the order asked, fall into
children exactly as the reference says (a birth ties a pregnancy to a personnummer), every event
resolves through the announced merges to its child's one id, and there are exactly as many
merges as the reference needs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine, delete, update

from connectors import personnummer
from connectors.base import Connector, Fact, SourceRecord, Subject
from schemas.codec import Codec
from schemas.events import ChildIdentitiesMerged, ChildRegistered, PregnancyRegistered
from schemas.sealing import Sealer
from services.ingest.checkpoints import SqlCheckpoints
from services.ingest.identity import CLAIM_S, IdentityRegistry, Link
from services.ingest.runner import ConnectorRunner, Outgoing
from services.sql.keystore import SqlKeyStore
from services.sql.schema import child_keys, connector_checkpoints, identity_handles, identity_links
from tests.support.standins import NAMES, harness

SECRET = b"test county secret, 32 bytes long!!"
CHILDREN = 120


class Replayed(Connector):
    """A connector's own pages, read once from its stand-in, with its own mapping."""

    def __init__(self, real: Connector, pages: list[Any]) -> None:
        self.real, self.pages = real, pages
        self.name, self.system, self.cursor_field = real.name, real.system, real.cursor_field  # type: ignore[misc]
        self.order = real.order  # type: ignore[misc]  # its pages are the real connector's, marks and all

    @classmethod
    def from_config(cls, source: Any, batch_size: int) -> Connector:
        raise NotImplementedError

    async def read(self, since: Any) -> AsyncIterator[Any]:
        for page in self.pages:
            yield page

    def map(self, record: SourceRecord) -> list[Fact]:
        return self.real.map(record)


@dataclass
class Asked:
    """The registry, and every subject it was asked about with the id it gave, in order."""

    registry: IdentityRegistry
    answers: list[tuple[Subject, uuid.UUID]] = field(default_factory=list)

    def resolve(self, subject: Subject) -> uuid.UUID:
        child = self.registry.resolve(subject)
        self.answers.append((subject, child))
        return child

    def pending_links(self) -> list[Link]:
        return self.registry.pending_links()

    def announced(self, links: list[Link]) -> None:
        self.registry.announced(links)


class Published:
    def __init__(self) -> None:
        self.records: list[Outgoing] = []

    async def publish(self, records: Any) -> None:
        self.records.extend(records)


def reference(subjects: list[Subject]) -> tuple[dict[str, int], int]:
    """The reference registry: each handle's child (a number), and how many links it needed.
    A personnummer seen first gets a child of its own; a birth (personnummer and pregnancy)
    makes both one child, and if each had its own, that is one link -- unless the pregnancy's
    child was already born with another personnummer (twins: two children)."""
    child_of: dict[str, int] = {}
    links, children = 0, itertools.count(1)
    for s in subjects:
        handles = [h for h in (_pnr(s), s.pregnancy and f"preg:{s.pregnancy}") if h]
        pnr = _pnr(s)
        if pnr and s.pregnancy and f"preg:{s.pregnancy}" in child_of and any(
                h.startswith("pnr:") and h != pnr and c == child_of[f"preg:{s.pregnancy}"] for h, c in child_of.items()):
            handles = [pnr]  # a twin: the pregnancy is already a born sibling's
        known = {child_of[h] for h in handles if h in child_of}
        if len(known) > 1:
            links += 1
        child = min(known) if known else next(children)
        for h, c in list(child_of.items()):
            if c in known:
                child_of[h] = child
        for h in handles:
            child_of[h] = child
    return child_of, links


def _pnr(subject: Subject) -> str | None:
    return None if subject.personnummer is None else "pnr:" + personnummer.normalise(subject.personnummer)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Connector, list[list[SourceRecord]]]]:
    """Every connector's pages of the one county, read once."""
    out = {}
    for name in NAMES:
        h = harness(name, tmp_path_factory.mktemp(name), children=CHILDREN)
        h.prepare()
        h.start()
        try:
            connector = h.connector(batch_size=40)

            async def read_all(c: Connector = connector) -> list[list[SourceRecord]]:
                got = [page async for page in c.read(None)]
                await c.aclose()
                return got

            out[name] = (connector, asyncio.run(read_all()))
        finally:
            h.stop()
    return out


def _empty(engine: Engine) -> None:
    with engine.begin() as c:
        for table in (identity_links, identity_handles, connector_checkpoints, child_keys):
            c.execute(delete(table))


def _run(order: tuple[str, ...], pages: dict[str, Any], engine: Engine) -> tuple[Asked, Published, Codec]:
    sealer = Sealer(SqlKeyStore(engine, bytes(32)))
    codec = Codec(sealer=sealer)
    asked, published = Asked(IdentityRegistry(engine, SECRET, sealer)), Published()
    for name in order:
        real, its_pages = pages[name]
        runner = ConnectorRunner(Replayed(real, its_pages), published, SqlCheckpoints(engine), asked, codec, sealer)
        asyncio.run(runner.run_once())
    return asked, published, codec


def _orders() -> Iterator[tuple[str, ...]]:
    return itertools.permutations(NAMES)


def test_every_order_gives_one_child_one_id(pages: dict[str, Any], hub_engine: Engine) -> None:
    health, its_pages = pages["health"]
    births = {f.subject.pregnancy for page in its_pages for r in page for f in _facts(health, r)
              if f.subject.pregnancy and f.subject.personnummer}
    assert len(births) >= 2, "the county needs children born after a registered pregnancy"
    merges_seen = 0
    for order in _orders():
        _empty(hub_engine)
        asked, published, codec = _run(order, pages, hub_engine)
        child_of, links = reference([s for s, _ in asked.answers])
        events = [codec.decode(r.value) for r in published.records if r.topic != "deadletter"]
        merged = {e.child_id: e.surviving_child_id for e in events if isinstance(e, ChildIdentitiesMerged)}
        assert len(merged) == links, order

        def final(child: uuid.UUID) -> uuid.UUID:
            while child in merged:
                child = merged[child]
            return child

        # The same children as the reference, and each subject's events on its child's one id.
        ids_of: dict[int, set[uuid.UUID]] = {}
        for subject, child in asked.answers:
            for handle in (_pnr(subject), subject.pregnancy and f"preg:{subject.pregnancy}"):
                if handle:
                    ids_of.setdefault(child_of[handle], set()).add(final(child))
        assert all(len(ids) == 1 for ids in ids_of.values()), order
        assert len({next(iter(ids)) for ids in ids_of.values()}) == len(ids_of), order
        # A fresh registry (no cache) agrees: a born child's personnummer and pregnancy are one id.
        fresh = IdentityRegistry(hub_engine, SECRET, Sealer(SqlKeyStore(hub_engine, bytes(32))))
        for subject, _ in asked.answers:
            if subject.pregnancy and subject.personnummer:
                assert fresh.resolve(Subject(pregnancy=subject.pregnancy)) == \
                    fresh.resolve(Subject(personnummer=subject.personnummer)), order
        # The unborn child's history is its born self's: every pregnancy event ends on that id.
        pregnancies = [e for e in events if isinstance(e, PregnancyRegistered)]
        assert pregnancies
        born_ids = {final(c) for s, c in asked.answers if s.personnummer}
        carried = [e for e in pregnancies if final(e.child_id) in born_ids]
        assert len(carried) >= len(births), order
        merges_seen += len(merged)
    assert merges_seen > 0, "no order needed a merge: the test would prove nothing"


def _facts(connector: Connector, record: SourceRecord) -> list[Fact]:
    try:
        return connector.map(record)
    except Exception:  # noqa: BLE001 - a record that cannot be mapped names no one
        return []


def test_the_reference_itself() -> None:
    """The reference on its own: pnr first, then birth, is one link; the other way, none."""
    p, preg = "19121212-1212", "P1"
    child_of, links = reference([Subject(personnummer=p), Subject(pregnancy=preg),
                                 Subject(personnummer=p, pregnancy=preg)])
    assert links == 1 and child_of["pnr:" + personnummer.normalise(p)] == child_of["preg:P1"]
    child_of, links = reference([Subject(pregnancy=preg), Subject(personnummer=p, pregnancy=preg),
                                 Subject(personnummer=p)])
    assert links == 0 and len(set(child_of.values())) == 1
    twin = "19121213-9313"
    child_of, links = reference([Subject(pregnancy=preg), Subject(personnummer=p, pregnancy=preg),
                                 Subject(personnummer=twin, pregnancy=preg)])
    assert links == 0 and child_of["pnr:" + personnummer.normalise(twin)] != child_of["preg:P1"]


class Births(Connector):
    """One page: a pregnancy, the newborn's registration by personnummer, then its birth record."""

    name, system, cursor_field = "births", "test", "n"

    def __init__(self, pnr: str) -> None:
        self.pnr = pnr

    @classmethod
    def from_config(cls, source: Any, batch_size: int) -> Connector:
        raise NotImplementedError

    async def read(self, since: str | None) -> AsyncIterator[list[SourceRecord]]:
        if since is None:
            yield [SourceRecord(kind, kind, "1", str(n), {}) for n, kind in enumerate(("preg", "reg", "born"))]

    def map(self, record: SourceRecord) -> list[Fact]:
        subject = {"preg": Subject(pregnancy="P-1"), "reg": Subject(personnummer=self.pnr),
                   "born": Subject(personnummer=self.pnr, pregnancy="P-1")}[record.kind]
        at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
        return [Fact(ChildRegistered, subject, at, "navet", {"birth_date": at.date(), "municipality_code": "0780"})]


def test_a_link_made_on_the_last_page_is_announced_in_that_run_and_only_once(hub_engine: Engine) -> None:
    pnr = personnummer.make(dt.date(2026, 10, 30), 931)
    sealer = Sealer(SqlKeyStore(hub_engine, bytes(32)))
    published = Published()
    runners = [ConnectorRunner(Births(pnr), published, SqlCheckpoints(hub_engine),
                               IdentityRegistry(hub_engine, SECRET, sealer), Codec(sealer=sealer), sealer)
               for _ in range(2)]
    asyncio.run(runners[0].run_once())
    merges = [r for r in published.records if r.topic == "intake.population"
              and Codec().type_name(r.value) == "ChildIdentitiesMerged"]
    assert len(merges) == 1
    asyncio.run(runners[1].run_once())  # another runner, later: nothing left to announce
    assert len([r for r in published.records if Codec().type_name(r.value) == "ChildIdentitiesMerged"]) == 1


def test_a_claimed_link_is_left_to_its_claimant_until_the_claim_runs_out(hub_engine: Engine) -> None:
    sealer = Sealer(SqlKeyStore(hub_engine, bytes(32)))
    one, two = (IdentityRegistry(hub_engine, SECRET, sealer) for _ in range(2))
    pnr = personnummer.make(dt.date(2026, 10, 30), 931)
    one.resolve(Subject(pregnancy="P-2"))
    one.resolve(Subject(personnummer=pnr))
    one.resolve(Subject(personnummer=pnr, pregnancy="P-2"))
    claimed = one.pending_links()
    assert len(claimed) == 1 and two.pending_links() == []
    with hub_engine.begin() as c:  # the claimant crashed a while ago
        c.execute(update(identity_links).values(claimed_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=CLAIM_S + 1)))
    assert two.pending_links() == claimed
    two.announced(claimed)
    with hub_engine.begin() as c:
        c.execute(update(identity_links).values(claimed_at=None))
    assert one.pending_links() == [] == two.pending_links()
