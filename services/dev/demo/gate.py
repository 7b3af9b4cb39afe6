"""The demo's gate stage, step 4: ``kronobarn worker`` (the gate) runs while ``shared``,
``statutory.social`` and ``deadletter`` are followed, until every directory fact is forwarded,
every report of concern routed and every covered fact released -- expectations computed here
from the consents, by ``projections.consents``, the one visibility function -- and then quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.structs import ConsumerRecord
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from projections.consents import Consent
from schemas.codec import Codec, DecodeError
from schemas.deadletter import DeadLetter
from schemas.events import Basis, FactReleased, ReleaseRevoked, ReportOfConcernRouted
from schemas.topics import DEADLETTER, SHARED, STATUTORY_SOCIAL
from services.dev.demo.county_view import Intake
from services.dev.watch import TopicWatcher
from services.readmodel.engine import read_model, until_projected
from services.settings import Settings
from services.sql.db import make_engine
from services.worker.gate import STAGE as GATE_STAGE
from services.worker.process import ChildProcess, worker

TICK_S = 5.0
QUIET_S = 3.0
TIMEOUT_MIN_S = 300.0
OUTPUTS_PER_S_FLOOR = 200  # the timeout assumes the gate manages at least this
GATE_SYSTEM = "gate"

TIMED_OUT = "the gate had not settled after {timeout:.0f} s: {missing}; its log: {log}"
PROJECTOR_BEHIND = "the projector had not caught up after {timeout:.0f} s; the worker's log: {log}"


@dataclass
class GateTally:
    """What the gate put out, checked against what the consents should let through."""

    expect_forwarded: set[uuid.UUID]
    expect_routed: set[uuid.UUID]
    expect_released: set[uuid.UUID]
    gated: set[uuid.UUID]  # every CONSENT / STATUTORY fact of the county
    codec: Codec = field(default_factory=Codec)
    forwarded: set[uuid.UUID] = field(default_factory=set)
    released: dict[uuid.UUID, Basis] = field(default_factory=dict)
    revoked: set[uuid.UUID] = field(default_factory=set)
    routed: set[uuid.UUID] = field(default_factory=set)
    # Every release of a CONSENT or STATUTORY fact, as (child, when the gate released it): what
    # the demo checks against the children's deaths (``life_events``).
    releases: list[tuple[uuid.UUID, dt.datetime]] = field(default_factory=list)
    dead_letters: Counter[str] = field(default_factory=Counter)  # by stage
    gate_letter_reasons: Counter[str] = field(default_factory=Counter)
    undecodable: int = 0
    outputs: int = 0
    started: float = 0.0  # wall-clock times: the worker's start, its first and last output
    first: float = 0.0
    last: float = 0.0
    seen: Counter[str] = field(default_factory=Counter)  # expected outputs seen, by kind

    @property
    def expected(self) -> int:
        return len(self.expect_forwarded) + len(self.expect_routed) + len(self.expect_released)

    @property
    def done(self) -> int:
        return self.seen.total()

    @property
    def settled(self) -> bool:
        return self.done >= self.expected

    def on_record(self, record: ConsumerRecord) -> None:
        try:
            event = self.codec.decode_record(record)
        except DecodeError:
            self.undecodable += 1
            return
        if isinstance(event, DeadLetter):
            self.dead_letters[event.stage] += 1
            self.gate_letter_reasons[event.reason] += event.stage == GATE_STAGE
            return
        if event.envelope.source.system != GATE_SYSTEM:
            return  # not the gate's: nothing else publishes on its topics, but a count must not lie
        self.outputs += 1
        self.last = time.time()
        self.first = self.first or self.last
        if isinstance(event, FactReleased):
            if event.envelope.basis is Basis.DIRECTORY:
                self._seen("forwarded", self.forwarded, event.fact_event_id, self.expect_forwarded)
            else:
                self.releases.append((event.envelope.child_id, event.envelope.occurred_at))
                if event.fact_event_id not in self.released:
                    self.released[event.fact_event_id] = event.envelope.basis
                    self.seen["released"] += event.fact_event_id in self.expect_released
        elif isinstance(event, ReleaseRevoked):
            self.revoked.add(event.fact_event_id)
        elif isinstance(event, ReportOfConcernRouted):
            self._seen("routed", self.routed, event.report_event_id, self.expect_routed)

    @property
    def seconds(self) -> float:
        """From starting the worker to its last output."""
        return max(0.0, self.last - self.started)

    @property
    def rate(self) -> float:
        """Outputs per second from the gate's first output to its last."""
        return (self.outputs - 1) / (self.last - self.first) if self.last > self.first else 0.0

    def _seen(self, kind: str, seen: set[uuid.UUID], item: uuid.UUID, expected: set[uuid.UUID]) -> None:
        if item not in seen:
            seen.add(item)
            self.seen[kind] += item in expected

    def missing(self) -> str:
        parts = [(len(self.expect_forwarded - self.forwarded), "directory facts not forwarded"),
                 (len(self.expect_routed - self.routed), "reports of concern not routed"),
                 (len(self.expect_released - self.released.keys()), "covered facts not released")]
        return ", ".join(f"{n:,} {what}" for n, what in parts if n) or "nothing"


def expected_releases(intake: Intake, consents: Iterable[Consent], now: dt.datetime) -> set[uuid.UUID]:
    """The CONSENT and STATUTORY facts some consent active at ``now`` covers."""
    by_child: dict[uuid.UUID, list[Consent]] = {}
    for c in consents:
        if c.active_at(now):
            by_child.setdefault(c.child_id, []).append(c)
    out: set[uuid.UUID] = set()
    for child, active in by_child.items():
        for (org, category, area, _), ids in intake.scoped.get(child, {}).items():
            if any(c.covers(org, category, area) for c in active):
                out |= ids
    return out


async def run_gate(settings: Settings, tally: GateTally, log: Path, console: Console,
                   coordinators: Callable[[], Awaitable[None]] | None = None) -> str:
    """The gate worker, until ``tally`` is settled and then quiet; a problem, or "" if none.

    ``coordinators`` (registering consents, opening plans) runs once the gate has forwarded every
    directory fact: as in a running county, consents are registered for children whose register
    the hub already holds. On a cold start with everything already on the topics, the gate
    could meet a consent before the birth or custody record that ends it, and release for a
    moment what it revokes a moment later."""
    timeout = max(TIMEOUT_MIN_S, tally.expected / OUTPUTS_PER_S_FLOOR)
    columns = (SpinnerColumn(), TextColumn("{task.description:<6}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    topics = [SHARED.name, STATUTORY_SOCIAL.name, DEADLETTER.name]
    store = read_model(make_engine(settings.resolved_database_url), settings)
    async with TopicWatcher(settings, topics, from_start=True, on_record=tally.on_record):
        tally.started = time.time()
        with _worker(settings, log) as process, Progress(*columns, console=console) as progress:
            task = progress.add_task("gate", total=tally.expected, status="starting the worker ...")
            while time.time() < tally.started + timeout:
                try:
                    process.check()
                except RuntimeError as exc:
                    return str(exc)
                progress.update(task, completed=tally.done, status=_status(tally))
                if coordinators is not None and tally.forwarded >= tally.expect_forwarded:
                    progress.update(task, status="coordinators register consents and open plans ...")
                    await coordinators()
                    coordinators = None
                    progress.update(task, total=tally.expected)
                if coordinators is None and tally.settled and time.time() - tally.last >= QUIET_S:
                    progress.update(task, status="the projector is writing the read model ...")
                    if not await until_projected(settings, store, timeout):
                        return PROJECTOR_BEHIND.format(timeout=timeout, log=log)
                    return ""
                await asyncio.sleep(0.2)
    return TIMED_OUT.format(timeout=timeout, missing=tally.missing(), log=log)


def _worker(settings: Settings, log: Path) -> contextlib.AbstractContextManager[ChildProcess]:
    return worker(settings, log, TICK_S)


def _status(tally: GateTally) -> str:
    if not tally.outputs:
        return "waiting for the worker to join its group ..."
    seen = tally.seen
    return (f"released {seen['released']:,}/{len(tally.expect_released):,} · "
            f"forwarded {seen['forwarded']:,}/{len(tally.expect_forwarded):,} · "
            f"routed {seen['routed']:,}/{len(tally.expect_routed):,} · "
            f"dead letters {tally.dead_letters[GATE_STAGE]:,}")

