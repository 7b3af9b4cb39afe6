"""Stand-in for the population register (Skatteverket's Navet): custody and home municipality.

A bearer-token REST API over a change log: ``GET /navet/v1/changes?after=CURSOR&limit=N``
returns changes in order -- REGISTERED (a child enters the register, with guardians),
CUSTODY (the set of guardians changed; ``guardians`` is the full new list) and MOVED (home
municipality changed) -- with a ``next`` cursor. Default port 8104.

Change order is the order the register recorded the changes: by the instant each was recorded
(the store's ``modified``, to the microsecond), then by id. A change number is
``modified|id``, so the connector dates each change by the instant it was recorded, and two
custody changes of one child on one day keep their order. The county's history holds custody
changes for a few children (``County.child(i).custody``); ``record_custody`` adds one now, and
``simulate`` can make some of its changes custody changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from connectors.standins.auth import Credentials, require_token, token_router
from connectors.standins.common import at, feed_start, label, store_for
from connectors.standins.county import Child, County, Person, adult
from connectors.standins.registry import Standin
from connectors.standins.store import RecordStore, Row, now

NAME = "population"
KIND = "change"
MAX_LIMIT = 1_000
CUSTODY_HOUR = 12  # the county's custody changes are recorded from noon, a second one an hour later
# Part of the fill label: a store filled by an earlier generator (without custody changes) refills.
GENERATION = "population=2"


def _person(p: Person | Mapping[str, str]) -> dict[str, str]:
    if isinstance(p, Mapping):
        return {k: str(p[k]) for k in ("personnummer", "given_name", "family_name") if k in p}
    return {"personnummer": p.personnummer, "given_name": p.given_name, "family_name": p.family_name}


def custody_change(personnummer: str, guardians: Iterable[Person | Mapping[str, str]]) -> dict[str, Any]:
    """The body of a CUSTODY change: the child and the full new list of its guardians."""
    return {"kind": "CUSTODY", "personnummer": personnummer, "synthetic": True,
            "guardians": [_person(g) for g in guardians]}


def changes_of(county: County, child: Child) -> Iterator[tuple[str, str, Any, dict[str, Any]]]:
    if child.person is None:
        return
    day = feed_start(county, child.birth_date)
    yield KIND, f"{child.index:06d}-reg", at(day, child.index), {
        "kind": "REGISTERED", **_person(child.person), "synthetic": True,
        "birth_date": child.birth_date.isoformat(), "municipality_code": child.municipality_code,
        "guardians": [_person(g) for g in child.guardians],
    }
    previous = child.municipality_code
    for n, (moved_on, code) in enumerate(child.moves):
        yield KIND, f"{child.index:06d}-mov{n}", at(moved_on, child.index, 10), {
            "kind": "MOVED", "personnummer": child.person.personnummer, "synthetic": True,
            "from_municipality_code": previous, "to_municipality_code": code, "moved_on": moved_on.isoformat(),
        }
        previous = code
    for n, (changed_on, guardians) in enumerate(child.custody):
        yield KIND, f"{child.index:06d}-cus{n}", at(changed_on, child.index, CUSTODY_HOUR + n), custody_change(
            child.person.personnummer, guardians)


def record_custody(data_dir: Path, personnummer: str, guardians: Iterable[Person | Mapping[str, str]],
                   at: dt.datetime | None = None, record_id: str | None = None) -> Row:
    """Record one custody change in the register: ``guardians`` become the child's guardians.

    Recorded ``at`` (aware; default now), which is the change's place in the feed and the
    instant the connector gives its ``CustodyRecorded``. A reader that has already read past
    ``at`` never sees it, as with a real register, so pass a past instant only before the
    first read. ``record_id`` (default: made from the instant and the number) must be new.
    Returns the stored row: its ``modified`` and ``id`` make the change number.
    """
    when = at or now()
    rid = record_id or f"custody-{when.timestamp():.6f}-{hashlib.sha256(personnummer.encode()).hexdigest()[:8]}"
    return store_for(data_dir, NAME).put(KIND, rid, custody_change(personnummer, guardians), at=when)


def prepare(data_dir: Path, county: County) -> RecordStore:
    store = store_for(data_dir, NAME)
    store.fill(f"{label(county)};{GENERATION}", (row for child in county for row in changes_of(county, child)))
    return store


def simulate(data_dir: Path, county: County, n: int, custody_share: float = 0.0) -> None:
    """Make ``n`` changes now, to random children: moves to another municipality.

    With probability ``custody_share`` a change is a custody change instead: a lone guardian
    gets a second one, or the second guardian of two is removed (the first stays).
    """
    store = store_for(data_dir, NAME)
    rng = random.Random()
    for _ in range(n):
        child = county.child(rng.randrange(county.children))
        if child.person is None:
            continue
        if rng.random() < custody_share:
            guardians = child.guardians_on(county.as_of)
            if len(guardians) > 1:
                guardians = guardians[:1]
            else:
                guardians = (*guardians, adult(rng, child.birth_date))
            record_custody(data_dir, child.person.personnummer, guardians)
            continue
        to = rng.choice([u.municipality_code for u in county.units_of("KAA") if u.municipality_code != child.municipality_code])
        stamp_now = now()
        store.put(KIND, f"{child.index:06d}-sim{stamp_now.timestamp():.6f}", {
            "kind": "MOVED", "personnummer": child.person.personnummer, "synthetic": True,
            "from_municipality_code": child.municipality_code, "to_municipality_code": to,
            "moved_on": stamp_now.date().isoformat(),
        })


def app(data_dir: Path, credentials: Credentials | None = None) -> FastAPI:
    credentials = credentials or Credentials(audience="navet")
    store = store_for(data_dir, NAME)
    api = FastAPI(title="Population register stand-in (Navet-style)", version="1")
    api.include_router(token_router(credentials))
    auth = require_token(credentials)

    @api.get("/navet/v1/changes", dependencies=[auth])
    def changes(after: str | None = None, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100) -> dict[str, Any]:
        position = None
        if after:
            modified, sep, rid = after.partition("|")
            if not sep:
                raise HTTPException(400, detail="after must be a cursor from a previous response")
            position = (modified, rid)
        rows = store.feed(KIND, position, limit)
        items = [{"changeNumber": f"{r.modified}|{r.id}", "id": r.id, "version": r.version, **r.body} for r in rows]
        return {"changes": items, "next": items[-1]["changeNumber"] if len(items) == limit else None}

    return api


STANDIN = Standin(NAME, "population register (Navet-style REST)", 8104, prepare, app, simulate)
