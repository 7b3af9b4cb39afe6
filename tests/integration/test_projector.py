"""The live projector against a real broker and database, and replay against it (DESIGN §9).

A scripted county goes through real ``kronobarn worker`` processes (gate + projector). The
read model must then equal, hash for hash, what ``kronobarn replay`` builds from offset 0 in a
fresh database, on SQLite and on PostgreSQL; revoked facts must be gone, not hidden; and a
poison record on ``shared`` goes to the dead letters while the projector carries on.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from projections.read_model import assessments, children, meetings, named_person_history, released_facts
from schemas.deadletter import DeadLetter
from schemas.events import NamedPersonAssigned
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from tests.conftest import DATABASES
from tests.support.gate import Workers
from tests.support.history import county_history
from tests.support.kafka import read_all
from tests.support.projector import caught_up, hub, publish, replay_cli

CHILDREN = 60


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", DATABASES)
def test_live_read_model_equals_a_replay(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if kind == "sqlite":
        live_url, replay_url = f"sqlite:///{tmp_path / 'live.db'}", f"sqlite:///{tmp_path / 'replay.db'}"
    else:
        new_schema = request.getfixturevalue("postgres_schema")
        live_url, replay_url = new_schema(), new_schema()
    history = county_history(CHILDREN)
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(cfg))
        engine, codec, store = hub(live_url)
        poison = ("shared", str(uuid.uuid4()).encode(), b"\xc3\x01 not an event")
        asyncio.run(publish(cfg, codec, [*history[: len(history) // 2], poison, *history[len(history) // 2:]]))
        with Workers(broker.bootstrap, tmp_path, tick_s=2.0, database_url=live_url) as workers:
            workers.start()
            assert caught_up(cfg, store), "the projector did not catch up; see " + str(workers.logs[-1])
            assert workers.alive()
        letters = [codec.decode_record(r) for r in asyncio.run(read_all(cfg, ["deadletter"], idle_ms=200))]
        plan_topic = [codec.decode_record(r) for r in asyncio.run(read_all(cfg, ["plan"], idle_ms=200))]
        announced = [e for e in plan_topic if isinstance(e, NamedPersonAssigned)]
        assert any(isinstance(d, DeadLetter) and d.stage == "projector" and d.original == poison[2] for d in letters)
        live = store.digest()
        done = replay_cli(broker.bootstrap, live_url, replay_url, "--jobs", "2", cwd=tmp_path)  # as a large log
        assert done.returncode == 0, done.stdout + done.stderr
        print(done.stdout.strip().splitlines()[-1])
        _, _, replayed = hub(replay_url)
        assert replayed.digest() == live
    counts = store.counts()
    with engine.connect() as connection:
        plans = connection.execute(select(children.c.plan_status).where(children.c.plan_id.is_not(None))).all()
        texts = connection.execute(select(meetings.c.decisions)).scalars().all()
        rated = connection.execute(select(assessments.c.comment)).scalars().all()
        facts = connection.execute(select(released_facts.c.child_id, released_facts.c.basis)).all()
    assert counts["children"] == CHILDREN
    # Every child's named person was announced, each change once. A change can be superseded as
    # facts arrive (a home BHV before the listing is known), so announcements may outnumber the
    # final history, but every entry of it was announced.
    assert len({e.child_id for e in announced}) == CHILDREN
    assert len({e.event_id for e in announced}) == len(announced) >= counts["named_person_history"]
    with engine.connect() as connection:
        final = connection.execute(select(named_person_history.c.child_id, named_person_history.c.organisation_id,
                                          named_person_history.c.rule)).all()
    said = {(str(e.child_id), e.organisation_id, e.rule) for e in announced}
    assert {tuple(r) for r in final} <= said
    assert len(plans) == len([c for c in range(CHILDREN) if c % 3 == 1]) and {p for (p,) in plans} == {"open"}
    # The SIP's parts (issue 20) are in the digest the replay matched: one of each per plan.
    assert all(counts[t] == len(plans) for t in ("invitations", "invitation_answers", "plan_participants",
                                                  "follow_up_reviews", "action_evaluations"))
    assert counts["assessment_history"] == len(plans)
    assert all(t and t.startswith("Beslut") for t in texts) and all(r == "Behöver stöd i läsning" for r in rated)
    # Withdrawn consents (every fifth child with one) leave nothing of theirs behind: purged.
    withdrawn = {str(uuid.UUID(int=c + 1, version=4)) for c in range(CHILDREN) if c % 3 != 0 and c % 5 == 2}
    kept = {str(uuid.UUID(int=c + 1, version=4)) for c in range(CHILDREN) if c % 3 != 0 and c % 5 != 2}
    with_facts = {child for child, _ in facts}
    assert not (withdrawn & with_facts) and kept <= with_facts
    assert {basis for _, basis in facts} <= {"CONSENT", "STATUTORY"}
    engine.dispose()
