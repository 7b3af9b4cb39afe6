"""The replay's speedups change nothing: the folds' fast ``replace`` and the read model's bulk inserts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import insert

from projections.child_state import ChildState, apply
from projections.named_person import NamedPersonConfig
from projections.plan import Action, ChildPlan, Stamp
from projections.read_model import CHILD_TABLES, Batch, ReadModel, rows
from projections.records import replace
from schemas.events import Area, Basis, ConsentGranted, Event, FactReleased
from schemas.topics import TOPIC_OF_EVENT
from services.readmodel.engine import named_person_config
from services.settings import Settings
from services.sql.db import make_engine, migrate
from tests.support.history import T0, child_history

CONFIG = named_person_config(Settings(_env_file=None))  # type: ignore[call-arg]
AT = T0 + dt.timedelta(days=1)


def test_replace_equals_dataclasses_replace() -> None:
    plan = ChildPlan(child_id=uuid.uuid4(), status="open", lead="skola-1")
    for changes in ({}, {"lead": "bvc"}, {"status": "closed", "closed_at": T0}, {"lead": None, "plan_id": uuid.uuid4()}):
        fast, slow = replace(plan, **changes), dataclasses.replace(plan, **changes)
        assert fast == slow and type(fast) is ChildPlan and fast is not plan
    action = Action(action_id=uuid.uuid4(), area=Area.LEARNING, responsible_org="skola-1", due_on=None,
                    stamp=Stamp(T0, uuid.uuid4()))
    assert replace(action, status="completed") == dataclasses.replace(action, status="completed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        replace(plan, lead="x").lead = "y"  # type: ignore[misc]


def test_replace_refuses_unknown_fields_and_leaves_other_classes_to_dataclasses() -> None:
    with pytest.raises(TypeError, match="nope"):
        replace(ChildPlan(), nope=1)
    config = NamedPersonConfig({"0780": "bvc"}, {"0780": "kaa"})  # has a __post_init__: the slow path
    assert replace(config, placement_grace_days=3).placement_grace_days == 3
    with pytest.raises(ValueError):
        replace(config, placement_grace_days=-1)  # its __post_init__ still runs


def _released(fact: Event, consent_id: uuid.UUID) -> FactReleased:
    """What the gate publishes for a fact a consent covers."""
    env = dataclasses.replace(fact.envelope, event_id=uuid.uuid5(fact.event_id, "release"), type="FactReleased",
                              occurred_at=T0 + dt.timedelta(minutes=20, microseconds=123_456))
    return FactReleased(envelope=env, fact_event_id=fact.event_id, fact_type=type(fact).__name__,
                        consent_ids=(consent_id,), fact=b"\xc3\x01 the fact's bytes")


def _states(children: int) -> dict[uuid.UUID, ChildState]:
    """Children with directory facts, consents, released facts and (for half) a plan."""
    out: dict[uuid.UUID, ChildState] = {}
    for c in range(children):
        history = child_history(c, consent=c % 3 != 0, plan=c % 2 == 0, withdraw=c % 4 == 1)
        consent = next((e for e in history if isinstance(e, ConsentGranted)), None)
        for event in history:
            if consent is not None and event.envelope.basis in (Basis.CONSENT, Basis.STATUTORY) \
                    and TOPIC_OF_EVENT[type(event)].name.startswith("intake."):
                event = _released(event, consent.consent_id)
            before = out.get(event.child_id) or ChildState.new(event.child_id)
            out[event.child_id] = apply(before, event)
    return out


def test_bulk_inserts_store_what_sqlalchemy_stores(tmp_path: Path) -> None:
    states = _states(12)
    fast = ReadModel(make_engine(f"sqlite:///{tmp_path / 'fast.db'}"), CONFIG)
    migrate(fast.engine)
    fast.write(Batch(dict(list(states.items())[:5]), {("shared", 0): 4}), "projector", AT, fresh=True)
    fast.write(Batch(states, {("shared", 0): 9}), "projector", AT)  # the live path: delete, then insert
    slow = ReadModel(make_engine(f"sqlite:///{tmp_path / 'slow.db'}"), CONFIG)
    migrate(slow.engine)
    with slow.engine.begin() as connection:
        for table in reversed(CHILD_TABLES):
            found = [r for state in states.values() for r in rows(state, AT, CONFIG)[table]]
            if found:
                connection.execute(insert(table), found)
    assert fast.counts() == slow.counts() and fast.counts()["released_facts"] > 0
    assert fast.digest() == slow.digest()
    assert _stored(tmp_path / "fast.db") == _stored(tmp_path / "slow.db")  # byte for byte, not just equal values
    assert fast.positions("projector") == {("shared", 0): 9}


def _stored(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as connection:
        return {t.name: sorted(connection.execute(f'SELECT * FROM "{t.name}"').fetchall(), key=repr)
                for t in CHILD_TABLES}
