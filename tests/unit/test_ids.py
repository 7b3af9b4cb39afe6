import uuid

from hypothesis import given
from hypothesis import strategies as st

from schemas.ids import EVENT_NAMESPACE, new_child_id, source_event_id


@given(st.text(), st.text(), st.text())
def test_source_event_id_is_uuid5_of_system_record_and_version(system: str, record: str, version: str) -> None:
    expected = uuid.uuid5(EVENT_NAMESPACE, f"{system}\x1f{record}\x1f{version}")
    assert source_event_id(system, record, version) == expected
    assert expected.version == 5


def test_a_new_version_is_a_new_event_and_a_replay_is_not() -> None:
    assert source_event_id("s", "r", "1") == source_event_id("s", "r", "1")
    assert source_event_id("s", "r", "1") != source_event_id("s", "r", "2")


def test_child_ids_are_random() -> None:
    assert new_child_id() != new_child_id() and new_child_id().version == 4
