"""Golden bytes for every schema: a change to a schema or the codec fails here, loudly.

If a schema change is intended: snapshot the old self-contained schema into
``schemas/avro/history/NAME.vN.avsc`` (so old data stays readable), then regenerate with
``KRONOBARN_UPDATE_GOLDEN=1 pytest tests/unit/test_codec_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from schemas.codec import Codec
from schemas.events import EVENT_TYPES
from services.dev.samples import sample_event

GOLDEN = Path(__file__).with_name("golden")
UPDATE = os.environ.get("KRONOBARN_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_encoding_matches_golden_bytes(codec: Codec, name: str) -> None:
    event = sample_event(name, seed=7)
    path = GOLDEN / f"{name}.hex"
    encoded = codec.encode(event)
    if UPDATE:
        path.write_text(encoded.hex() + "\n")
    assert encoded.hex() == path.read_text().strip()


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_golden_bytes_decode_to_the_event(codec: Codec, name: str) -> None:
    golden = bytes.fromhex((GOLDEN / f"{name}.hex").read_text().strip())
    decoded = codec.decode(golden)
    assert decoded == sample_event(name, seed=7)
    assert type(decoded).__name__ == name


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_round_trip_many_seeds(codec: Codec, name: str) -> None:
    for seed in range(25):
        event = sample_event(name, seed=seed)
        assert codec.decode(codec.encode(event)) == event


def test_every_schema_has_a_golden_file() -> None:
    assert {p.stem for p in GOLDEN.glob("*.hex")} == set(EVENT_TYPES)
