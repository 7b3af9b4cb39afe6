"""The demo's county life (issue 15): how many children the population register says are protected,
died, emigrated, moved within or out of the county, or had their custody changed -- and two checks
of what the hub did with it, each by a small rule of the demo's own:

* no CONSENT or STATUTORY fact about a child is released from the start of the day it died (the
  gate's own releases, read from ``shared``);
* no child who died or emigrated stands on a gaps list or has a named person (the read model).

Only counts are printed; the children stay pseudonyms.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, or_, select

from projections.read_model import children
from schemas.events import Protection
from services.dev.demo.county_view import Intake

SWEDEN = ZoneInfo("Europe/Stockholm")
RELEASED_AFTER_DEATH = "{n} facts were released after the child's death"
LEFT_BUT_ASSIGNED = "{n} children who died or emigrated are on a gaps list or have a named person"


@dataclass(frozen=True)
class CountyLife:
    protected: Counter[Protection]  # children protected now, by kind
    protection_changes: int  # changes recorded (set or lifted), the registration's flag included
    lifted: int  # children whose protection was lifted again
    died: int
    emigrated: int
    moved_within: int  # children who moved between the county's municipalities
    moved_out: int  # children who moved to a municipality outside the county
    custody_changed: int  # children whose guardians changed after the first custody record


def county_life(intake: Intake) -> CountyLife:
    """What the register said about the county's children, from the intake read back."""
    protected: Counter[Protection] = Counter()
    lifted = 0
    for changes in intake.protection.values():
        ordered = [p for _, p in sorted(changes)]
        if ordered[-1] is not Protection.NONE:
            protected[ordered[-1]] += 1
        lifted += any(p is not Protection.NONE for p in ordered[:-1]) and ordered[-1] is Protection.NONE
    moves = intake.moved_to.values()
    residents = intake.residents.values()
    return CountyLife(
        protected=protected,
        protection_changes=sum(len(c) for c in intake.protection.values()),
        lifted=lifted,
        died=sum(r.died_on is not None for r in residents),
        emigrated=sum(bool(r.emigrations) for r in residents),
        moved_within=sum(any(intake.in_county(code) for _, code in m) for m in moves),
        moved_out=sum(any(not intake.in_county(code) for _, code in m) for m in moves),
        custody_changed=sum(len({c.guardians for c in r.custody}) > 1 for r in residents),
    )


def described(life: CountyLife) -> str:
    protected = sum(life.protected.values())
    return (f"The county's life, as the population register told it: {protected:,} children with protected "
            f"personal data ({life.protected[Protection.SEKRETESSMARKERING]:,} sekretessmarkering, "
            f"{life.protected[Protection.SKYDDAD_FOLKBOKFORING]:,} skyddad folkbokföring; {life.lifted:,} more "
            f"had it lifted); {life.died:,} died; {life.emigrated:,} emigrated; {life.moved_within:,} moved "
            f"within the county and {life.moved_out:,} out of it; {life.custody_changed:,} had their custody "
            f"changed.")


def _midnight(day: dt.date) -> dt.datetime:
    """The start of ``day`` in Sweden: from then on the child is dead for every purpose here."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=SWEDEN)


def released_after_death(intake: Intake, releases: Iterable[tuple[uuid.UUID, dt.datetime]]) -> int:
    """The demo's own rule: nothing about a child is released from the start of the day it died
    (under any of its ids)."""
    died = {child: _midnight(r.died_on) for child, r in intake.residents.items() if r.died_on is not None}
    return sum(1 for child, at in releases if (c := intake.survivor(child)) in died and at >= died[c])


def left_but_assigned(engine: Engine) -> int:
    """Children the read model says died or emigrated who still have a named person or a gap."""
    c = children.c
    query = select(c.child_id).where(or_(c.died_on.is_not(None), c.emigrated_on.is_not(None)),
                                     or_(c.named_person_org.is_not(None), c.on_gaps_list))
    with engine.connect() as connection:
        return len(connection.execute(query).all())
