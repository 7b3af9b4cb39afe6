"""The gate's per-child record as compact JSON for its Faust table (changelog-backed, so a
restarted worker recovers it).

The record holds references only; each held or released fact's original bytes sit under their
own table key, so a child's record stays small however many facts it has. ``applied`` holds
the highest offset of each source topic already folded in: an event at or below it is a
redelivery after a crash. ``revoked`` remembers the consents whose end revoked a held fact, so
a reconciliation can repeat the revocation.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from projections.consent_rules import Custody, Lapse
from projections.consents import Consent, FactRef
from projections.gate import ChildGate, Fact
from projections.population import Resident
from schemas.events import Area, Basis, Category, Grantor, GrantorRole


@dataclass(slots=True)
class ChildRecord:
    gate: ChildGate = field(default_factory=ChildGate)
    applied: dict[str, int] = field(default_factory=dict)
    revoked: dict[UUID, tuple[UUID, ...]] = field(default_factory=dict)
    # The JSON of the held and the released list as last written, with the lists it was made
    # from: a new fact joins at the end, so the next write appends one fragment (``_joined``).
    written: dict[str, tuple[tuple[Any, ...], str]] = field(default_factory=dict, repr=False, compare=False)

    def is_applied(self, topic: str, offset: int) -> bool:
        return self.applied.get(topic, -1) >= offset


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time_from(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _consent(c: Consent) -> list[Any]:
    return [str(c.consent_id), sorted(c.categories), sorted(c.recipients), _time(c.valid_from), _time(c.valid_to),
            None if c.source_organisations is None else sorted(c.source_organisations),
            None if c.areas is None else sorted(c.areas), _time(c.withdrawn_at),
            sorted([str(g.party_id), g.role.value] for g in c.grantors), _time(c.granted_at), _time(c.lapsed_at),
            None if c.lapse is None else c.lapse.value]


def _consent_from(child: UUID, d: list[Any]) -> Consent:
    cid, categories, recipients, start, end, orgs, areas, withdrawn, *judgement = d
    grantors, granted, lapsed, lapse = judgement or ([], None, None, None)  # a record from before issue 14
    return Consent(
        UUID(cid), child, frozenset(Category(c) for c in categories), frozenset(recipients),
        dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end),
        None if orgs is None else frozenset(orgs),
        None if areas is None else frozenset(Area(a) for a in areas),
        _time_from(withdrawn), frozenset(Grantor(UUID(p), GrantorRole(r)) for p, r in grantors),
        _time_from(granted), _time_from(lapsed), None if lapse is None else Lapse(lapse),
    )


def _resident(r: Resident | None) -> Any:
    if r is None:
        return None
    return [r.birth_date and r.birth_date.isoformat(), r.unborn, r.expected,
            r.expectant_parent and str(r.expectant_parent), [r.home[0].isoformat(), *r.home[1:]] if r.home else None,
            [[_time(c.since), c.order, sorted(str(g) for g in c.guardians)] for c in r.custody],
            r.died_on and r.died_on.isoformat(), [d.isoformat() for d in r.emigrations],
            [d.isoformat() for d in r.registrations]]


def _resident_from(child: UUID, d: Any) -> Resident | None:
    if d is None:
        return None
    birth, unborn, expected, parent, home, custody, *ending = d
    died, emigrations, registrations = ending or (None, [], [])  # a record from before issue 15
    return Resident(child, birth and dt.date.fromisoformat(birth), unborn,
                    tuple(Custody(dt.datetime.fromisoformat(s), o, frozenset(UUID(g) for g in gs))
                          for s, o, gs in custody),
                    (dt.date.fromisoformat(home[0]), home[1], home[2]) if home else None, expected,
                    parent and UUID(parent), died and dt.date.fromisoformat(died),
                    tuple(dt.date.fromisoformat(e) for e in emigrations),
                    tuple(dt.date.fromisoformat(r) for r in registrations))


def _fact(f: Fact) -> list[Any]:
    r = f.ref
    return [str(f.event_id), f.seq, r.source_org, r.category.value, None if r.area is None else r.area.value,
            r.basis.value]


def _fact_from(child: UUID, d: list[Any]) -> Fact:
    event_id, seq, org, category, area, basis = d
    return Fact(UUID(event_id), FactRef(child, org, Category(category), None if area is None else Area(area),
                                        Basis(basis)), seq)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# A fact's JSON never changes (event id, ref and place in line are fixed once it is held), and
# a child's record is written again with every event: without this, encoding the whole list of
# its released facts each time was a tenth of the gate's worker.
_FRAGMENTS: dict[tuple[UUID, int, tuple[UUID, ...] | None], str] = {}
FRAGMENTS_KEPT = 200_000


def _fragment(f: Fact, ids: tuple[UUID, ...] | None = None) -> str:
    """A held fact's JSON, or (with ``ids``) a released fact's with the consents covering it."""
    key = (f.event_id, f.seq, ids)
    found = _FRAGMENTS.get(key)
    if found is None:
        if len(_FRAGMENTS) >= FRAGMENTS_KEPT:
            _FRAGMENTS.clear()
        found = _json(_fact(f) if ids is None else [_fact(f), [str(i) for i in ids]])
        _FRAGMENTS[key] = found
    return found


def _joined(record: ChildRecord, name: str, items: tuple[Any, ...], fragment: Any) -> str:
    """``",".join(map(fragment, items))``, from the last write's when ``items`` extends its list."""
    last = record.written.get(name)
    if last is not None and last[0] is items:
        return last[1]
    if last is not None and len(items) > len(last[0]) and items[:len(last[0])] == last[0]:
        more = ",".join(map(fragment, items[len(last[0]):]))
        joined = f"{last[1]},{more}" if last[0] else more
    else:
        joined = ",".join(map(fragment, items))
    record.written[name] = (items, joined)
    return joined


def _released(item: tuple[Fact, tuple[UUID, ...]]) -> str:
    return _fragment(*item)


def _resident_json(record: ChildRecord, resident: Resident | None) -> str:
    """The register's JSON, from the last write's while the child's register is the same object
    (it changes only with a register fact, never with the facts that make most writes)."""
    last = record.written.get("p")
    if last is not None and last[0][0] is resident:
        return last[1]
    text = _json(_resident(resident))
    record.written["p"] = ((resident,), text)
    return text


def dumps(child: UUID, record: ChildRecord) -> bytes:
    """The record as the JSON object ``loads`` reads, put together from cached fact fragments."""
    g = record.gate
    held = _joined(record, "h", g.held, _fragment)
    released = _joined(record, "r", g.released, _released)
    revoked = {str(k): [str(i) for i in v] for k, v in record.revoked.items()}
    return (f'{{"c":{_json([_consent(c) for c in g.consents])},"h":[{held}],"r":[{released}],'
            f'"n":{g.next_seq},"a":{_json(record.applied)},"v":{_json(revoked)},'
            f'"p":{_resident_json(record, g.resident)}}}').encode()


def loads(child: UUID, data: bytes | None) -> ChildRecord:
    if not data:
        return ChildRecord()
    d = json.loads(data)
    gate = ChildGate(
        consents=tuple(_consent_from(child, c) for c in d["c"]),
        held=tuple(_fact_from(child, f) for f in d["h"]),
        released=tuple((_fact_from(child, f), tuple(UUID(i) for i in ids)) for f, ids in d["r"]),
        next_seq=d["n"],
        resident=_resident_from(child, d.get("p")),
    )
    revoked = {UUID(k): tuple(UUID(i) for i in v) for k, v in d["v"].items()}
    return ChildRecord(gate, dict(d["a"]), revoked)
