"""Replay benchmark: ``kronobarn replay`` against raw aiokafka ``getmany`` + bare fastavro (DESIGN §8).

The data is a realistic hub log, written straight to ``shared``, ``plan`` and ``consent`` (what
a replay reads) before anything is timed. For each child, about ``per_child`` records:

* directory releases -- ``FactReleased`` with basis DIRECTORY whose ``fact`` is an encoded
  ``ChildRegistered``, ``CustodyRecorded``, ``HealthUnitListed`` or ``SchoolPlacementStarted``
  (the projector decodes that inner fact and folds it into the named person);
* for five children in six, a consent (health and social) and a school consent, and facts
  released under them (``HealthVisitRecorded``, ``ImmunizationRecorded``, ``ObservationRecorded``,
  ``AbsenceSummarised``, ``SchoolSupportDecided``); for one in ten the school consent is
  withdrawn again and its facts' releases revoked (``ReleaseRevoked``);
* for a third, a plan: opened, two meetings, a lead, wheel assessments, actions (one completed)
  and a follow-up.

Envelopes carry no sealed box (a plain ``Codec``, no key store). The log is built from 64
template children whose records are encoded once; every other child's records are those bytes
with the template's UUIDs (all 36-character strings in Avro) swapped for its own, so a 10M-record
log takes seconds to generate and every record is still valid single-object Avro with ids
unique across the log.

Rows, each the best of ``repeats`` with the baseline run interleaved:

* **replay → SQLite / PostgreSQL**: ``services.readmodel.replay.replay`` into a fresh database, rate =
  records / ``ReplayStats.seconds`` (read + fold + write). Targets ≥ 0.5× (SQLite) and ≥ 0.3×
  (PostgreSQL) of the baseline: a bare ``AIOKafkaConsumer.getmany`` over the same partitions from
  offset 0 to their end (same fetch sizes), decoding each value's body with
  ``fastavro.schemaless_reader`` and the writer schema found by fingerprint -- nothing else.

The scale case (``replay_scale``) generates a county-sized log (45,000 children) on its own
broker and rebuilds it into SQLite in a child process, so the peak RSS reported is the
replay's own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from fastavro import schemaless_reader
from rich.progress import Progress
from sqlalchemy import text

from connectors.standins.directory import synthetic_directory
from schemas.codec import HEADER_LEN, Codec
from schemas.county import BHV, SOCIAL
from schemas.events import (
    Area,
    Basis,
    Category,
    ConsentWithdrawn,
    Envelope,
    Event,
    FactReleased,
    Grantor,
    GrantorRole,
    ReleaseRevoked,
    SchoolType,
    Source,
    SupportType,
)
from schemas.topics import TOPIC_OF_EVENT
from services.dev.bench.report import Row
from services.dev.samples import sample_event, scoped_grant
from services.kafka import clients as kafka
from services.readmodel.engine import end_offsets
from services.readmodel.replay import ReplayStats, plain_codec, processes, replay
from services.settings import Settings
from services.sql.db import make_engine, normalise_url

PER_CHILD = 40  # records per child, on average
TEMPLATES = 64  # distinct template children
SEND_CHUNK = 5_000
FETCH = {"max_partition_fetch_bytes": 8 << 20, "fetch_max_bytes": 64 << 20}  # as services.readmodel.engine reads
T0 = dt.datetime(2025, 9, 1, 8, 0, tzinfo=dt.UTC)  # the log's first day
# The scale case's records per child. DESIGN §8 asks for 45,000 children and 10M records
# (about 220 each). On this 2-core machine, with two replay processes, 10M records took 6.5
# minutes to generate and 6.5 to rebuild, 11 GB for the replay and 5.3 GB for the embedded
# broker's copy of the log; 45,000 children at the average 40 (1.8M) is what fits every bench
# run. ``kronobarn bench --records-per-child 222`` runs the full size.
SCALE_PER_CHILD = PER_CHILD
NO_POSTGRES = "replay → PostgreSQL skipped: no PostgreSQL URL (--postgres or KRONOBARN_TEST_POSTGRES_URL)"
POSTGRES_ENV = "KRONOBARN_TEST_POSTGRES_URL"
UUID_PREFIX = 0x6B62 << 112  # "kb": keeps bench ids apart from any other synthetic ids


# -- the log ------------------------------------------------------------------------------------

def _slot(child: int, n: int) -> uuid.UUID:
    """The ``n``-th id of child number ``child``: unique across the log, the same every run."""
    return uuid.UUID(int=UUID_PREFIX | (child << 20) | n, version=4)


class _Ids:
    """Hands out one child's ids in order, so a template's n-th id maps to any child's n-th."""

    def __init__(self, child: int) -> None:
        self.child, self.used = child, 0

    def __call__(self) -> uuid.UUID:
        self.used += 1
        return _slot(self.child, self.used - 1)


def _event(name: str, ids: _Ids, child: uuid.UUID, k: int, *, org: str, basis: Basis, category: Category,
           at: dt.datetime, area: Area | None = None, **fields: Any) -> Event:
    """An event of type ``name`` about ``child``, its unset fields from a deterministic sample."""
    template = sample_event(name, seed=k, child_id=child)
    env = replace(template.envelope, event_id=ids(), basis=basis, category=category, area=area, occurred_at=at,
                  recorded_at=at + dt.timedelta(seconds=2), sealed=None, source=Source("bench", org, f"r{k}", "1"))
    return replace(template, envelope=env, **fields)


def _released(codec: Codec, ids: _Ids, fact: Event, consent_ids: tuple[uuid.UUID, ...]) -> FactReleased:
    """What the gate publishes for ``fact`` (see services.worker.gate): envelope from the fact."""
    env = fact.envelope
    now = env.recorded_at + dt.timedelta(milliseconds=40)
    version = "directory" if env.basis is Basis.DIRECTORY else "|".join(str(i) for i in consent_ids)
    out = Envelope(event_id=ids(), type="FactReleased", child_id=env.child_id, occurred_at=now, recorded_at=now,
                   source=Source("gate", env.source.organisation_id, str(env.event_id), version),
                   basis=env.basis, category=env.category, area=env.area)
    return FactReleased(envelope=out, fact_event_id=env.event_id, fact_type=type(fact).__name__,
                        consent_ids=consent_ids, fact=codec.encode(fact))


def _revoked(ids: _Ids, release: FactReleased, ended: tuple[uuid.UUID, ...], at: dt.datetime) -> ReleaseRevoked:
    env = release.envelope
    out = replace(env, event_id=ids(), type="ReleaseRevoked", occurred_at=at, recorded_at=at,
                  source=replace(env.source, record_version="revoked|" + "|".join(str(i) for i in ended)))
    return ReleaseRevoked(envelope=out, fact_event_id=release.fact_event_id, ended_consent_ids=ended)


def template_child(k: int, facts: int, codec: Codec) -> tuple[list[Event], int]:
    """Template child ``k``'s whole history, ``facts`` consent-released facts among it, and
    how many ids it uses."""
    ids = _Ids(k)
    child = ids()
    county = synthetic_directory()  # the bench's log is the synthetic county's, whatever the settings say
    code = county.codes[k % len(county.codes)]
    bhv, soc, school = county.unit(BHV, code).id, county.unit(SOCIAL, code).id, f"skola-{code}-{k % 3 + 1}"
    born = dt.date(2009, 1, 1) + dt.timedelta(days=(k * 379) % (17 * 365))
    d, c = Basis.DIRECTORY, Basis.CONSENT
    at = T0
    directory: list[Event] = [
        _event("ChildRegistered", ids, child, k, org="navet", basis=d, category=Category.POPULATION, at=at,
               birth_date=born, municipality_code=code),
        _event("CustodyRecorded", ids, child, k, org="navet", basis=d, category=Category.POPULATION, at=at,
               recorded_on=born, guardian_ids=(ids(), ids())),
        _event("HealthUnitListed", ids, child, k, org=bhv, basis=d, category=Category.HEALTH, at=at,
               unit_id=bhv, listed_on=born),
    ]
    if (T0.date() - born).days > 6 * 365:
        stage = SchoolType.COMPULSORY if (T0.date() - born).days < 16 * 365 else SchoolType.UPPER_SECONDARY
        directory.append(_event("SchoolPlacementStarted", ids, child, k, org=school, basis=d,
                                category=Category.SCHOOL, at=at, placement_id=f"pl-{k}", school_unit_id=school,
                                school_type=stage, municipality_code=code, start_date=dt.date(2025, 8, 18)))
    log: list[Event] = [_released(codec, ids, f, ()) for f in directory]
    if k % 6 != 0:
        guardian = Grantor(directory[1].guardian_ids[0], GrantorRole.GUARDIAN)  # type: ignore[attr-defined]
        health_id, school_id = ids(), ids()
        for consent_id, categories, recipients in ((health_id, [Category.HEALTH, Category.SOCIAL], [bhv, soc, school]),
                                                   (school_id, [Category.SCHOOL], [school, bhv])):
            grant = scoped_grant(child, consent_id, categories, recipients, T0 - dt.timedelta(days=7),
                                 T0 + dt.timedelta(days=730))
            env = replace(grant.envelope, event_id=ids(), occurred_at=T0, recorded_at=T0)
            log.append(replace(grant, envelope=env, grantors=(guardian,)))
        school_releases: list[FactReleased] = []
        for i in range(facts):
            at = T0 + dt.timedelta(days=1 + i * 300 // max(facts, 1), hours=i % 8)
            kind = i % 6
            if kind == 0:
                fact = _event("HealthVisitRecorded", ids, child, k + i, org=bhv, basis=c, category=Category.HEALTH,
                              area=Area.HEALTH, at=at, unit_id=bhv, visited_on=at.date())
            elif kind == 1:
                fact = _event("ImmunizationRecorded", ids, child, k + i, org=bhv, basis=c, category=Category.HEALTH,
                              area=Area.HEALTH, at=at, unit_id=bhv, dose_number=1 + i % 3, given_on=at.date())
            elif kind == 2:
                fact = _event("ObservationRecorded", ids, child, k + i, org=bhv, basis=c, category=Category.HEALTH,
                              area=Area.DEVELOPMENT, at=at, unit_id=bhv, observed_on=at.date())
            elif kind == 5 and i % 4 == 1:
                fact = _event("SchoolSupportDecided", ids, child, k + i, org=school, basis=c,
                              category=Category.SCHOOL, area=Area.LEARNING, at=at, school_unit_id=school,
                              support_type=SupportType.EXTRA_ADAPTATIONS, decided_on=at.date())
            else:
                start = at.date() - dt.timedelta(days=30)
                fact = _event("AbsenceSummarised", ids, child, k + i, org=school, basis=c, category=Category.SCHOOL,
                              area=Area.LEARNING, at=at, school_unit_id=school, period_start=start,
                              period_end=at.date(), absence_percent=float(i % 20), unexcused_percent=float(i % 5))
            consent = school_id if fact.envelope.category is Category.SCHOOL else health_id
            release = _released(codec, ids, fact, (consent,))
            log.append(release)
            if consent == school_id:
                school_releases.append(release)
        if k % 10 == 2:  # the school consent withdrawn: its facts' releases revoked
            withdrawn_at = T0 + dt.timedelta(days=320)
            sample = sample_event("ConsentWithdrawn", seed=k, child_id=child)
            env = replace(sample.envelope, event_id=ids(), occurred_at=withdrawn_at, recorded_at=withdrawn_at,
                          sealed=None)
            log.append(ConsentWithdrawn(envelope=env, consent_id=school_id, withdrawn_by=guardian.party_id,
                                        role=GrantorRole.GUARDIAN))
            ended = withdrawn_at + dt.timedelta(seconds=1)
            log.extend(_revoked(ids, r, (school_id,), ended) for r in school_releases)
    if k % 3 == 1:
        log.extend(_plan(ids, child, k, school, bhv, soc))
    return log, ids.used


def _plan(ids: _Ids, child: uuid.UUID, k: int, school: str, bhv: str, soc: str) -> list[Event]:
    p = Basis.CONSENT
    plan_id, when = ids(), T0 + dt.timedelta(days=60, hours=k % 8)

    def ev(name: str, minutes: int, area: Area | None = None, **fields: Any) -> Event:
        return _event(name, ids, child, k, org=school, basis=p, category=Category.PLAN, area=area,
                      at=when + dt.timedelta(days=minutes // 1440, minutes=minutes % 1440), plan_id=plan_id, **fields)

    actions = (ids(), ids())
    return [
        ev("PlanOpened", 0, opened_by_org=school, consent_ids=()),
        ev("MeetingHeld", 30, meeting_id=ids(), held_on=when.date(), participant_orgs=(school, bhv), lead_org=bhv),
        ev("AreaAssessed", 40, area=Area.LEARNING, rating=2 + k % 3, assessed_by_org=school),
        ev("AreaAssessed", 41, area=Area.HEALTH, rating=3, assessed_by_org=bhv),
        ev("AreaAssessed", 42, area=Area.SAFETY, rating=1 + k % 5, assessed_by_org=soc),
        ev("ActionAgreed", 50, area=Area.LEARNING, action_id=actions[0], responsible_org=school,
           due_on=(when + dt.timedelta(days=60)).date()),
        ev("ActionAgreed", 51, area=Area.HEALTH, action_id=actions[1], responsible_org=bhv, due_on=None),
        ev("FollowUpScheduled", 60, follow_up_id=ids(), due_on=(when + dt.timedelta(days=90)).date()),
        ev("ActionCompleted", 50 * 1440, area=Area.LEARNING, action_id=actions[0],
           completed_on=(when + dt.timedelta(days=50)).date()),
        ev("MeetingHeld", 90 * 1440, meeting_id=ids(), held_on=(when + dt.timedelta(days=90)).date(),
           participant_orgs=(school, bhv, soc), lead_org=None),
        ev("LeadAssigned", 90 * 1440 + 5, lead_org=school),
    ]


@dataclass(frozen=True, slots=True)
class _Template:
    """One template child's records, each split around its ids so another child's slot in."""

    slots: int  # ids the template child uses
    records: list[tuple[str, list[bytes | int]]]  # topic, [literal bytes | id slot number, ...]


def _split(value: bytes, pattern: re.Pattern[bytes], slot_of: dict[bytes, int]) -> list[bytes | int]:
    parts: list[bytes | int] = []
    at = 0
    for match in pattern.finditer(value):
        parts.append(value[at:match.start()])
        parts.append(slot_of[match.group()])
        at = match.end()
    parts.append(value[at:])
    return parts


def _templates(per_child: int, codec: Codec) -> list[_Template]:
    """``TEMPLATES`` children whose histories average ``per_child`` records."""
    fixed = [len(template_child(k, 0, codec)[0]) for k in range(TEMPLATES)]
    consenting = [k for k in range(TEMPLATES) if k % 6 != 0]
    spare = max(0, per_child * TEMPLATES - sum(fixed))
    out = []
    for k in range(TEMPLATES):
        share = spare // len(consenting) + (1 if consenting.index(k) < spare % len(consenting) else 0) \
            if k in consenting else 0
        # Revoked children publish a revocation per school fact too: fewer facts keep the mean.
        facts = share * 2 // 3 if k % 10 == 2 else share
        events, used = template_child(k, facts, codec)
        strings = {str(_slot(k, n)).encode(): n for n in range(used)}
        pattern = re.compile(b"|".join(re.escape(s) for s in strings))
        records = [(TOPIC_OF_EVENT[type(e)].name, _split(codec.encode(e), pattern, strings)) for e in events]
        out.append(_Template(used, records))
    return out


def child_records(templates: list[_Template], child: int) -> Iterator[tuple[str, bytes, bytes]]:
    """Child number ``child``'s records as (topic, key, value): its template with its own ids."""
    t = templates[child % len(templates)]
    ids = [str(_slot(child, n)).encode() for n in range(t.slots)]
    key = ids[0]
    for topic, parts in t.records:
        yield topic, key, b"".join([ids[p] if type(p) is int else p for p in parts])  # type: ignore[misc]


def log_records(templates: list[_Template], children: int, block: int = 500) -> Iterator[list[tuple[str, bytes, bytes]]]:
    """Every child's records, children interleaved within blocks (as a hub sees them arrive)."""
    for first in range(0, children, block):
        per_child = [list(child_records(templates, c)) for c in range(first, min(first + block, children))]
        out: list[tuple[str, bytes, bytes]] = []
        for step in range(max(len(h) for h in per_child)):
            out.extend(h[step] for h in per_child if step < len(h))
        yield out


async def publish_log(settings: Settings, children: int, per_child: int = PER_CHILD,
                      advance: Callable[[int], None] | None = None) -> int:
    """Generate and publish the log for ``children`` children; returns the records sent."""
    codec = Codec()
    templates = _templates(per_child, codec)
    producer = kafka.producer(settings)
    await producer.start()
    sent = 0
    try:
        for records in log_records(templates, children):
            for first in range(0, len(records), SEND_CHUNK):
                chunk = records[first:first + SEND_CHUNK]
                await asyncio.gather(*[await producer.send(t, v, key=k) for t, k, v in chunk])
                sent += len(chunk)
                if advance:
                    advance(len(chunk))
    finally:
        await producer.stop()
    return sent


# -- the baseline -------------------------------------------------------------------------------

async def bare_read(settings: Settings, ends: dict[TopicPartition, int], codec: Codec) -> tuple[int, float]:
    """Raw ``getmany`` from offset 0 to ``ends`` and a bare fastavro decode of every body."""
    parsed = {v.fingerprint: v.parsed for v in codec.catalogue.versions()}
    wanted = {tp: end for tp, end in ends.items() if end > 0}
    started, seen = time.perf_counter(), 0
    consumer = AIOKafkaConsumer(**kafka.client_options(settings), enable_auto_commit=False, **FETCH)
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        await consumer.seek_to_beginning(*wanted)
        while wanted:
            got = await consumer.getmany(timeout_ms=1_000, max_records=10_000)
            for tp, records in got.items():
                end = wanted.get(tp)
                if end is None:
                    continue
                for r in records:
                    if r.offset < end:
                        value = r.value
                        body = io.BytesIO(value)
                        body.seek(HEADER_LEN)
                        schemaless_reader(body, parsed[value[2:HEADER_LEN]])
                        seen += 1
                if records and records[-1].offset >= end - 1:
                    del wanted[tp]
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return seen, time.perf_counter() - started


# -- the candidate ------------------------------------------------------------------------------

def postgres_url(explicit: str | None) -> str | None:
    return explicit or os.environ.get(POSTGRES_ENV) or None


class PostgresSchema:
    """A schema made for one replay and dropped after (as tests/conftest.py's fixtures do)."""

    def __init__(self, url: str) -> None:
        self.admin = make_engine(url)
        self.name = f"kb_bench_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{self.name}"'))
        into = normalise_url(url).update_query_dict({"options": f"-csearch_path={self.name}"})
        self.url = into.render_as_string(hide_password=False)

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        with self.admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


async def replay_rows(settings: Settings, events: int, repeats: int, progress: Progress,
                      postgres: str | None = None) -> list[Row]:
    """Publish a log of about ``events`` records, then time replay and its baseline on it."""
    children = max(1, events // PER_CHILD)
    pg = postgres_url(postgres)
    task = progress.add_task("replay bench", total=(2 if pg else 1) * repeats + repeats + 1)
    await publish_log(settings, children)
    ends = await end_offsets(settings)
    progress.advance(task)
    codec = Codec()
    bare: list[float] = []
    ours: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            seen, seconds = await bare_read(settings, ends, codec)
            bare.append(seen / seconds)
            progress.advance(task)
            stats = await replay(settings, plain_codec, f"sqlite:///{Path(tmp) / f'replay-{r}.db'}")
            ours["sqlite"].append(stats.records / stats.seconds)
            progress.advance(task)
            if pg:
                with PostgresSchema(pg) as url:
                    stats = await replay(settings, plain_codec, url)
                ours["postgres"].append(stats.records / stats.seconds)
                progress.advance(task)
    baseline = "getmany + fastavro (bare, one process)"
    # The replay shares the partitions out among processes (one per core, ``jobs_for``).
    candidate = f"kronobarn replay (decode, fold, write; {processes(stats.jobs)})"
    rows = [Row("replay → SQLite", baseline, max(bare), candidate, max(ours["sqlite"]), 0.5, "records/s")]
    if pg:
        rows.append(Row("replay → PostgreSQL", baseline, max(bare), candidate, max(ours["postgres"]), 0.3,
                        "records/s"))
    else:
        progress.console.print(NO_POSTGRES)
    return rows


# -- the scale case -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReplayScale:
    children: int
    records: int
    rows: int
    generate_s: float  # generating and publishing the log, not part of the rebuild
    read_s: float
    write_s: float
    peak_rss_mib: float  # the replay's processes: the main one's peak plus its helpers' (an upper bound)
    broker_peak_rss_mib: float | None  # the embedded broker holding the log in memory
    jobs: int = 1  # the replay's processes

    @property
    def seconds(self) -> float:
        return self.read_s + self.write_s


def _peak_rss_mib() -> float:
    """This process's peak plus the largest peak among its finished children (the replay's helper)."""
    own, helpers = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return (own + helpers) / 1024


def _process_peak_mib(pid: int | None) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, TypeError):
        return None
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else None


def replay_scale(settings: Settings, children: int, events: int, progress: Progress) -> ReplayScale:
    """A county-sized log on a private broker, rebuilt into SQLite by a ``replay`` child process."""
    from services.kafka.broker import EmbeddedBroker, free_port
    from services.worker.process import hub_env

    per_child = max(1, round(events / children))
    with EmbeddedBroker(port=free_port()) as broker, tempfile.TemporaryDirectory() as tmp:
        scale = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        task = progress.add_task(f"scale: log of {children:,} children", total=children * per_child)
        started = time.perf_counter()
        asyncio.run(kafka.create_topics(scale))
        asyncio.run(publish_log(scale, children, per_child, lambda n: progress.advance(task, n)))
        generate_s = time.perf_counter() - started
        progress.update(task, description=f"scale: replay of {children:,} children")
        out = Path(tmp) / "stats.json"
        into = f"sqlite:///{Path(tmp) / 'scale.db'}"
        done = subprocess.run([sys.executable, "-m", "services.dev.bench.replay", into, str(out)],
                              env=hub_env(scale), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the scale replay failed:\n{done.stdout}\n{done.stderr}")
        result = json.loads(out.read_text())
        broker_peak = _process_peak_mib(broker.pid)
    return ReplayScale(children, result["records"], result["rows"], generate_s, result["read_s"], result["write_s"],
                       result["peak_rss_mib"], broker_peak, result["jobs"])


def _main(into: str, out: Path) -> None:
    """The scale case's child process: one replay, its stats and its processes' peak RSS."""
    from services.settings import get_settings

    stats: ReplayStats = asyncio.run(replay(get_settings(), plain_codec, into))
    out.write_text(json.dumps({"records": stats.records, "rows": stats.rows, "read_s": stats.read_s,
                               "write_s": stats.write_s, "peak_rss_mib": _peak_rss_mib(),
                               "jobs": stats.jobs}))


if __name__ == "__main__":
    _main(sys.argv[1], Path(sys.argv[2]))
