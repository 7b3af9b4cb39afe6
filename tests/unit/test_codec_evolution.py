"""Schema evolution: a new schema version reads data written with the previous one.

The fixture ``evolution/ObservationRecorded.v1.avsc`` is the event as it stood before the
optional ``unit`` field existed. Bytes written with it carry v1's fingerprint; the catalogue
resolves that fingerprint to the v1 writer schema and fastavro resolves into the current one.

``PregnancyRegistered`` (``expectant_parent_id``) and ``ConsentGranted`` (``obtained``,
``registered_by``) evolved for real: their v1 schemas are in ``schemas/avro/history/`` and
their v1 golden bytes in ``evolution/NAME.v1.hex``.
"""

from __future__ import annotations

import io
import random
import typing
from dataclasses import fields, replace
from pathlib import Path

import fastavro
import pytest

from schemas.catalogue import AVRO_DIR, Catalogue
from schemas.codec import MAGIC, Codec, DecodeError
from schemas.events import EVENT_TYPES, Event, ObservationRecorded
from services.dev.samples import _value, sample_envelope, sample_event

EVOLUTION = Path(__file__).with_name("evolution")
# Written once with the v1 schema (see _write_v1); kept as bytes so a codec change cannot
# silently re-interpret data that is already on disk in a cluster.
V1_GOLDEN = EVOLUTION / "ObservationRecorded.v1.hex"


def _v1_record(event: ObservationRecorded) -> dict:
    env = event.envelope
    return {
        "envelope": {
            "event_id": env.event_id, "type": env.type, "child_id": env.child_id,
            "occurred_at": env.occurred_at, "recorded_at": env.recorded_at,
            "source": {"system": env.source.system, "organisation_id": env.source.organisation_id,
                       "record_id": env.source.record_id, "record_version": env.source.record_version},
            "basis": env.basis, "category": env.category, "area": env.area, "sealed": None,
        },
        "unit_id": event.unit_id, "code": event.code, "value": event.value,
        "observed_on": event.observed_on,
    }


def _write_v1(catalogue: Catalogue, event: ObservationRecorded) -> bytes:
    v1 = next(v for v in catalogue.versions() if v.name == "ObservationRecorded" and not v.current)
    out = io.BytesIO()
    out.write(MAGIC + v1.fingerprint)
    fastavro.schemaless_writer(out, v1.parsed, _v1_record(event))
    return out.getvalue()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(AVRO_DIR, history=EVOLUTION)


def _v1_event() -> ObservationRecorded:
    event = sample_event("ObservationRecorded", seed=3)
    assert isinstance(event, ObservationRecorded)
    return replace(event, unit=None, envelope=replace(event.envelope, sealed=None))


def test_v1_and_current_have_different_fingerprints(catalogue: Catalogue) -> None:
    versions = [v for v in catalogue.versions() if v.name == "ObservationRecorded"]
    assert len(versions) == 2
    assert versions[0].fingerprint != versions[1].fingerprint


def test_current_codec_reads_v1_golden_bytes(catalogue: Catalogue) -> None:
    expected = _v1_event()
    written = _write_v1(catalogue, expected)
    assert written.hex() == V1_GOLDEN.read_text().strip()
    decoded = Codec(catalogue).decode(bytes.fromhex(V1_GOLDEN.read_text().strip()))
    assert decoded == expected
    assert decoded.unit is None  # the field v1 did not have takes its default


def test_without_history_v1_bytes_are_an_unknown_fingerprint() -> None:
    golden = bytes.fromhex(V1_GOLDEN.read_text().strip())
    with pytest.raises(DecodeError, match="unknown writer schema fingerprint"):
        Codec(Catalogue.load()).decode(golden)


# -- evolved event types: old golden bytes stay readable through schemas/avro/history --------

# The golden bytes each event type had before its optional fields were added, with the fields
# v1 lacked. The snapshots in schemas/avro/history/ are what the production catalogue reads
# them with; these bytes are the proof, kept as written.
EVOLVED = {
    "PregnancyRegistered": ("expectant_parent_id",),
    "ConsentGranted": ("obtained", "registered_by"),
    "ReportOfConcernRouted": ("reporter_category", "acute", "filed_in_hub", "reported_at"),
    "MeetingHeld": ("child_took_part", "guardians_took_part"),
    "ActionAgreed": ("start_on", "by_others"),
}


def _default(name: str, field: str) -> object:
    return next(f.default for f in fields(EVENT_TYPES[name]) if f.name == field)


def _v1_sample(name: str, seed: int = 7) -> Event:
    """``sample_event(name, seed)`` as it was before the fields in EVOLVED existed.

    The sample draws field values in field order and then the envelope, from one stream; the
    new fields come last, so v1's draws are the current ones without them.
    """
    rng = random.Random(f"{name}:{seed}")
    cls = EVENT_TYPES[name]
    hints = typing.get_type_hints(cls)
    values = {f.name: _value(hints[f.name], f.name, rng) for f in fields(cls)
              if f.name != "envelope" and f.name not in EVOLVED[name]}
    return cls(envelope=sample_envelope(name, rng), **values)


@pytest.mark.parametrize("name", sorted(EVOLVED))
def test_history_holds_the_v1_writer_schema(name: str) -> None:
    golden = bytes.fromhex((EVOLUTION / f"{name}.v1.hex").read_text().strip())
    history = Catalogue.load(AVRO_DIR, history=AVRO_DIR / "history")
    writer = history.by_fingerprint(golden[len(MAGIC):len(MAGIC) + 8])
    assert writer is not None and writer.name == name and not writer.current
    assert writer.fingerprint != history.current(name).fingerprint
    assert not set(EVOLVED[name]) & {f["name"] for f in writer.schema["fields"]}
    assert set(EVOLVED[name]) <= {f["name"] for f in history.current(name).schema["fields"]}


@pytest.mark.parametrize("name", sorted(EVOLVED))
def test_current_codec_reads_v1_golden_bytes_of_evolved_events(name: str) -> None:
    golden = bytes.fromhex((EVOLUTION / f"{name}.v1.hex").read_text().strip())
    decoded = Codec().decode(golden)  # the production catalogue: current schemas plus history
    assert type(decoded).__name__ == name
    assert all(getattr(decoded, field) == _default(name, field) for field in EVOLVED[name])  # v1 had none
    assert decoded == _v1_sample(name)


@pytest.mark.parametrize("name", sorted(EVOLVED))
def test_evolved_events_round_trip_with_and_without_the_new_fields(name: str) -> None:
    codec = Codec()
    full = sample_event(name, seed=7)
    assert codec.decode(codec.encode(full)) == full
    bare = replace(full, **{field: _default(name, field) for field in EVOLVED[name]})
    assert codec.decode(codec.encode(bare)) == bare
