"""Schema evolution: a new schema version reads data written with the previous one.

The fixture ``evolution/ObservationRecorded.v1.avsc`` is the event as it stood before the
optional ``unit`` field existed. Bytes written with it carry v1's fingerprint; the catalogue
resolves that fingerprint to the v1 writer schema and fastavro resolves into the current one.
"""

from __future__ import annotations

import io
from pathlib import Path

import fastavro
import pytest

from schemas.catalogue import AVRO_DIR, Catalogue
from schemas.codec import MAGIC, Codec, DecodeError
from schemas.events import ObservationRecorded
from services.dev.samples import sample_event

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
    from dataclasses import replace

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
