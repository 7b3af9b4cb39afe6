"""The gate bench's floor agent: one release per fact, built as the gate builds a covered fact's."""

from __future__ import annotations

import datetime as dt
import uuid

from projections.consents import FactRef
from schemas.codec import Codec
from schemas.events import Area, Basis, Category, FactReleased
from services.dev.bench.bare_agent import release
from services.dev.samples import scoped_fact, scoped_grant
from services.worker.gate import gate_event

CHILD = uuid.UUID(int=7, version=4)
ORG = "SE2321000065-BHV0780"


def test_a_fact_becomes_the_release_the_gate_would_send_for_it() -> None:
    codec = Codec()
    fact = scoped_fact(CHILD, 1, ORG, Category.HEALTH, Area.HEALTH, Basis.CONSENT)
    value = codec.encode(fact)
    out = release(codec, value)
    assert out is not None
    released = codec.decode(out)
    assert isinstance(released, FactReleased)
    assert released.fact == value and released.fact_event_id == fact.event_id
    assert released.fact_type == type(fact).__name__ and released.consent_ids == ()
    # the envelope the gate gives its outputs: the fact's own scope, a deterministic id
    expected = gate_event(FactReleased, FactRef.of(fact), fact.event_id, "floor", released.envelope.occurred_at,
                          fact_event_id=fact.event_id, fact_type=type(fact).__name__, consent_ids=(), fact=value)
    assert released.envelope == expected.envelope


def test_a_consent_is_read_but_releases_nothing() -> None:
    codec = Codec()
    now = dt.datetime.now(dt.UTC)
    grant = scoped_grant(CHILD, uuid.uuid4(), [Category.HEALTH], ["skola-1"], now, now + dt.timedelta(days=1))
    assert release(codec, codec.encode(grant)) is None
