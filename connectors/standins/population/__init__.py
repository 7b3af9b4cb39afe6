"""Stand-in for the population register (Skatteverket's Navet): custody and home municipality.

A bearer-token REST API over a change log: ``GET /navet/v1/changes?after=CURSOR&limit=N``
returns changes in order -- REGISTERED (a child enters the register, with guardians),
CUSTODY (the set of guardians changed) and MOVED (home municipality changed) -- with a
``next`` cursor. Default port 8104.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from connectors.standins.auth import Credentials, require_token, token_router
from connectors.standins.common import at, feed_start, label, store_for
from connectors.standins.county import Child, County, Person
from connectors.standins.registry import Standin
from connectors.standins.store import RecordStore, now

NAME = "population"
KIND = "change"
MAX_LIMIT = 1_000


def _person(p: Person) -> dict[str, str]:
    return {"personnummer": p.personnummer, "given_name": p.given_name, "family_name": p.family_name}


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


def prepare(data_dir: Path, county: County) -> RecordStore:
    store = store_for(data_dir, NAME)
    store.fill(label(county), (row for child in county for row in changes_of(county, child)))
    return store


def simulate(data_dir: Path, county: County, n: int) -> None:
    """Move ``n`` random children to another municipality, now."""
    store = store_for(data_dir, NAME)
    rng = random.Random()
    for _ in range(n):
        child = county.child(rng.randrange(county.children))
        if child.person is None:
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
