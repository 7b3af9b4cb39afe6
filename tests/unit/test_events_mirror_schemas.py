"""The event classes mirror the .avsc files field for field, and every topic is declared once."""

from __future__ import annotations

import dataclasses

import pytest

from schemas.catalogue import Catalogue
from schemas.deadletter import DeadLetter
from schemas.events import EVENT_TYPES, Event
from schemas.topics import ALL_TOPICS, TOPIC_OF_EVENT, key_for
from services.dev.samples import sample_event

CATALOGUE = Catalogue.load()


@pytest.mark.parametrize("cls", [*EVENT_TYPES.values(), DeadLetter], ids=lambda c: c.__name__)
def test_class_fields_equal_schema_fields(cls: type) -> None:
    schema = CATALOGUE.current(cls.__name__).schema
    assert [f.name for f in dataclasses.fields(cls)] == [f["name"] for f in schema["fields"]]


@pytest.mark.parametrize("cls", EVENT_TYPES.values(), ids=lambda c: c.__name__)
def test_events_are_frozen_and_past_tense(cls: type[Event]) -> None:
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert cls.__name__.endswith(("ed", "Born", "Held", "Withdrawn")), cls.__name__
    event = sample_event(cls.__name__)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.envelope = event.envelope  # type: ignore[misc]


def test_every_event_type_is_on_exactly_one_topic() -> None:
    declared = [cls for topic in ALL_TOPICS for cls in topic.events]
    assert len(declared) == len(set(declared))
    assert set(EVENT_TYPES.values()) | {DeadLetter} == set(declared)
    assert set(TOPIC_OF_EVENT) == set(declared)


def test_topic_names_are_unique_and_keyed_by_child() -> None:
    names = [t.name for t in ALL_TOPICS]
    assert len(names) == len(set(names)) == 11
    assert all(t.key == "child_id" for t in ALL_TOPICS if t.name != "deadletter")


def test_key_is_the_child_pseudonym() -> None:
    event = sample_event("ChildBorn", seed=2)
    assert key_for(event) == str(event.child_id).encode()
