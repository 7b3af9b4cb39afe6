"""kill -9 the gate worker repeatedly during a load of 50k facts, then let it finish (DESIGN §9).

Nothing may be lost from ``shared`` -- every covered fact released, including those whose
consent arrives only after the load -- nothing uncovered may be released, every report of
concern must reach ``statutory.social``, and any duplicate must carry the event id of the
output it repeats.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import pytest

from projections.consents import FactRef
from schemas.events import Area, Basis, Category, Event
from services.dev.samples import scoped_register
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from tests.support.gate import Decisions, Workers, fact, grant, send, settle, wait_for_progress

CHILDREN = 2_000
FACTS_PER_CHILD = 25  # 50,000 facts
KILLS = 4
KILL_EVERY = 4_000  # outputs published between kills, so each kill lands mid-stream
MIX = [  # (category, org, area, basis), cycled over a child's facts
    (Category.HEALTH, "bvc-1", Area.HEALTH, Basis.CONSENT),
    (Category.SCHOOL, "skola-1", Area.LEARNING, Basis.CONSENT),
    (Category.SCHOOL, "skola-1", None, Basis.CONSENT),
    (Category.SOCIAL, "kommun-0780-soc", Area.SAFETY, Basis.CONSENT),
    (Category.HEALTH, "bvc-1", Area.DEVELOPMENT, Basis.CONSENT),
]


def _load(now: dt.datetime) -> tuple[list[Event], list[Event], dict[uuid.UUID, FactRef], set[uuid.UUID]]:
    """Facts for every child; a consent before the facts for a third of them, one after the
    load for another third, none for the rest."""
    first: list[Event] = []
    late: list[Event] = []
    refs: dict[uuid.UUID, FactRef] = {}
    covered: set[uuid.UUID] = set()
    for c in range(CHILDREN):
        child = uuid.UUID(int=c + 1, version=4)
        consent = grant(child, uuid.uuid5(child, "consent"), list(Category)[:3], ["skola-1"],
                        now - dt.timedelta(hours=1), now + dt.timedelta(days=30))
        for registered in scoped_register(child, now - dt.timedelta(days=1)):  # what makes the consent hold
            first.append(registered)
            refs[registered.event_id] = FactRef.of(registered)
            covered.add(registered.event_id)
        if c % 3 == 1:
            first.append(consent)
        elif c % 3 == 2:
            late.append(consent)
        for n in range(FACTS_PER_CHILD):
            if n == 0:
                spec = (Category.SOCIAL, "kommun-0780-soc", Area.SAFETY, Basis.STATUTORY)
            elif n == 1:
                spec = (Category.SCHOOL, "skola-1", None, Basis.DIRECTORY)
            else:
                spec = MIX[n % len(MIX)]
            event = fact(child, n, spec[1], spec[0], spec[2], spec[3])
            first.append(event)
            refs[event.event_id] = FactRef.of(event)
            if c % 3 != 0 or spec[3] is Basis.DIRECTORY:
                covered.add(event.event_id)
    return first, late, refs, covered


@pytest.mark.timeout(900)
def test_gate_loses_nothing_when_killed_during_a_load(tmp_path: Path) -> None:
    first, late, refs, covered = _load(dt.datetime.now(dt.UTC))
    statutory = {f for f, r in refs.items() if r.basis is Basis.STATUTORY}
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(cfg))
        with Workers(broker.bootstrap, tmp_path, tick_s=5.0) as workers:
            workers.start()
            asyncio.run(send(cfg, first))
            kills, published, at_kill = 0, 0, []
            for _ in range(KILLS):
                published = wait_for_progress(cfg, published + KILL_EVERY)
                workers.kill9()
                kills += 1
                at_kill.append(published)
                workers.start()
            asyncio.run(send(cfg, late))

            def done(d: Decisions) -> bool:
                return set(d.released) == covered and {r.report_event_id for r in d.routed} == statutory

            seen = settle(cfg, done, timeout=600)
            assert workers.alive(), "the worker died; see " + str(workers.logs[-1])
    lost = covered - set(seen.released)
    leaked = set(seen.released) - covered
    unrouted = statutory - {r.report_event_id for r in seen.routed}
    print(f"\ngate crash: {len(refs)} facts, {kills} kill -9 (after {at_kill} outputs), lost {len(lost)}, leaked {len(leaked)}, "
          f"unrouted reports {len(unrouted)}, duplicate outputs absorbed by id {seen.duplicates}")
    assert kills == KILLS
    # Every kill interrupted a worker that was publishing, before the load was through.
    assert at_kill == sorted(at_kill) and at_kill[-1] < len(seen.output_ids)
    assert not lost and not leaked and not unrouted
    assert all(seen.released[f] == () for f in covered if refs[f].basis is Basis.DIRECTORY)
    # Duplicates carry the id of what they repeat, so the projector can absorb them.
    by_id: dict[uuid.UUID, object] = {}
    for release in seen.releases:
        assert by_id.setdefault(release.event_id, (release.fact_event_id, release.consent_ids)) == \
            (release.fact_event_id, release.consent_ids)
