"""The gate's per-child state as JSON for its Faust table (changelog-backed, so a restarted
worker recovers it). Held facts keep their original bytes: they are released later as-is."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any
from uuid import UUID

from projections.consents import Consent, FactRef
from projections.gate import ChildGate, Fact
from schemas.events import Area, Basis, Category


def _consent(c: Consent) -> dict[str, Any]:
    return {
        "id": str(c.consent_id), "child": str(c.child_id), "categories": sorted(c.categories),
        "recipients": sorted(c.recipients), "from": c.valid_from.isoformat(), "to": c.valid_to.isoformat(),
        "orgs": None if c.source_organisations is None else sorted(c.source_organisations),
        "areas": None if c.areas is None else sorted(c.areas),
        "withdrawn": None if c.withdrawn_at is None else c.withdrawn_at.isoformat(),
    }


def _consent_from(d: dict[str, Any]) -> Consent:
    return Consent(
        UUID(d["id"]), UUID(d["child"]), frozenset(Category(c) for c in d["categories"]), frozenset(d["recipients"]),
        dt.datetime.fromisoformat(d["from"]), dt.datetime.fromisoformat(d["to"]),
        None if d["orgs"] is None else frozenset(d["orgs"]),
        None if d["areas"] is None else frozenset(Area(a) for a in d["areas"]),
        None if d["withdrawn"] is None else dt.datetime.fromisoformat(d["withdrawn"]),
    )


def _fact(f: Fact) -> dict[str, Any]:
    r = f.ref
    return {"id": str(f.event_id), "seq": f.seq, "child": str(r.child_id), "org": r.source_org,
            "category": r.category.value, "area": None if r.area is None else r.area.value, "basis": r.basis.value}


def _fact_from(d: dict[str, Any]) -> Fact:
    ref = FactRef(UUID(d["child"]), d["org"], Category(d["category"]), None if d["area"] is None else Area(d["area"]),
                  Basis(d["basis"]))
    return Fact(UUID(d["id"]), ref, d["seq"])


def dumps(state: ChildGate, blobs: dict[str, bytes]) -> str:
    return json.dumps({
        "consents": [_consent(c) for c in state.consents],
        "held": [_fact(f) for f in state.held],
        "released": [[_fact(f), [str(i) for i in ids]] for f, ids in state.released],
        "seen": sorted(str(i) for i in state.seen),
        "next_seq": state.next_seq,
        "blobs": {k: base64.b64encode(v).decode() for k, v in blobs.items()},
    })


def loads(text: str | None) -> tuple[ChildGate, dict[str, bytes]]:
    if not text:
        return ChildGate(), {}
    d = json.loads(text)
    state = ChildGate(
        consents=tuple(_consent_from(c) for c in d["consents"]),
        held=tuple(_fact_from(f) for f in d["held"]),
        released=tuple((_fact_from(f), tuple(UUID(i) for i in ids)) for f, ids in d["released"]),
        seen=frozenset(UUID(i) for i in d["seen"]),
        next_seq=d["next_seq"],
    )
    return state, {k: base64.b64decode(v) for k, v in d["blobs"].items()}
