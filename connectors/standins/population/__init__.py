"""Stand-in for the population register (Skatteverket's Navet): who a child is, its guardians,
home, protected personal data, and the changes that end its part in the county.

A bearer-token REST API over a change log: ``GET /navet/v1/changes?after=CURSOR&limit=N``
returns changes in order, with a ``next`` cursor. Default port 8104. The kinds of change:

* ``REGISTERED`` -- a child enters the register: identity, birth date, home municipality, the
  home address (``address``, ``postal_code``, ``town``), its guardians, and ``protection`` when
  its personal data is already protected;
* ``CUSTODY`` -- the set of guardians changed (``guardians`` is the full new list);
* ``MOVED`` -- the home municipality changed (within the county, or to a municipality outside
  it), with the new address;
* ``PROTECTION`` -- protected personal data set or lifted: ``protection`` is
  ``SEKRETESSMARKERING``, ``SKYDDAD_FOLKBOKFORING`` or ``NONE``, from ``recorded_on``;
* ``DIED`` (``died_on``) and ``EMIGRATED`` (``emigrated_on``).

For a child with skyddad folkbokföring the register gives no address at all (as Navet withholds
it); its municipality code stays the one the hub must use for responsibility. With
sekretessmarkering the address is given, marked: the hub keeps it sealed and must not show it.

Change order is the order the register recorded the changes: by the instant each was recorded
(the store's ``modified``, to the microsecond), then by id. A change number is
``modified|id``, so the connector dates each change by the instant it was recorded, and two
custody changes of one child on one day keep their order. The county's history holds these
changes for a share of children (``County.child(i)``: ``custody``, ``protection``, ``died_on``,
``emigrated_on``, ``moved_out``; the ending of a child's part in the county is its last change,
with record id ``<index>-end``). ``record_custody`` adds a custody change now, and ``simulate``
can make some of its changes custody or protection changes, deaths, emigrations or moves out.
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
from connectors.standins.county import OUTSIDE_CODES, SKYDDAD_FOLKBOKFORING, Child, County, Person, adult
from connectors.standins.population.addresses import address
from connectors.standins.registry import Standin
from connectors.standins.store import RecordStore, Row, now

NAME = "population"
KIND = "change"
MAX_LIMIT = 1_000
CUSTODY_HOUR = 12  # the county's custody changes are recorded from noon, a second one an hour later
PROTECTION_HOUR = 11
ENDING_HOUR = 15  # a death, an emigration or a move out: after the day's other changes
# Part of the fill label: a store filled by an earlier generator (without addresses, protection
# and the endings) refills.
GENERATION = "population=3"
PROTECTIONS = ("NONE", "SEKRETESSMARKERING", SKYDDAD_FOLKBOKFORING)


def _person(p: Person | Mapping[str, str]) -> dict[str, str]:
    if isinstance(p, Mapping):
        return {k: str(p[k]) for k in ("personnummer", "given_name", "family_name") if k in p}
    return {"personnummer": p.personnummer, "given_name": p.given_name, "family_name": p.family_name}


def custody_change(personnummer: str, guardians: Iterable[Person | Mapping[str, str]]) -> dict[str, Any]:
    """The body of a CUSTODY change: the child and the full new list of its guardians."""
    return {"kind": "CUSTODY", "personnummer": personnummer, "synthetic": True,
            "guardians": [_person(g) for g in guardians]}


def _home(county: County, child: Child, home: int, code: str, day: dt.date) -> dict[str, str]:
    """The address fields of the child's ``home``-th home, or none under skyddad folkbokföring."""
    if child.protection_on(day) == SKYDDAD_FOLKBOKFORING:
        return {}
    return address(county, child.index, home, code).fields()


def moved(child: Child, previous: str, code: str, day: dt.date, home: dict[str, str]) -> dict[str, Any]:
    """The body of a MOVED change: from ``previous`` to ``code`` on ``day``, at ``home`` (if given)."""
    assert child.person is not None
    return {"kind": "MOVED", "personnummer": child.person.personnummer, "synthetic": True,
            "from_municipality_code": previous, "to_municipality_code": code, "moved_on": day.isoformat(), **home}


def changes_of(county: County, child: Child) -> Iterator[tuple[str, str, Any, dict[str, Any]]]:
    if child.person is None:
        return
    pnr, index = child.person.personnummer, child.index
    day = feed_start(county, child.birth_date)
    registered: dict[str, Any] = {
        "kind": "REGISTERED", **_person(child.person), "synthetic": True,
        "birth_date": child.birth_date.isoformat(), "municipality_code": child.municipality_code,
        "guardians": [_person(g) for g in child.guardians],
        **_home(county, child, 0, child.municipality_code, day),
    }
    if child.protection and child.protection[0][0] is None:
        registered["protection"] = child.protection[0][1]
    yield KIND, f"{index:06d}-reg", at(day, index), registered
    previous = child.municipality_code
    for n, (moved_on, code) in enumerate(child.moves):
        yield KIND, f"{index:06d}-mov{n}", at(moved_on, index, 10), moved(
            child, previous, code, moved_on, _home(county, child, n + 1, code, moved_on))
        previous = code
    for n, (changed_on, guardians) in enumerate(child.custody):
        yield KIND, f"{index:06d}-cus{n}", at(changed_on, index, CUSTODY_HOUR + n), custody_change(pnr, guardians)
    for n, (since, kind) in enumerate(child.protection):
        if since is not None:
            yield KIND, f"{index:06d}-pro{n}", at(since, index, PROTECTION_HOUR), protection_change(pnr, kind, since)
    end = f"{index:06d}-end"
    if child.died_on is not None:
        yield KIND, end, at(child.died_on, index, ENDING_HOUR), {
            "kind": "DIED", "personnummer": pnr, "synthetic": True, "died_on": child.died_on.isoformat()}
    elif child.emigrated_on is not None:
        yield KIND, end, at(child.emigrated_on, index, ENDING_HOUR), {
            "kind": "EMIGRATED", "personnummer": pnr, "synthetic": True,
            "emigrated_on": child.emigrated_on.isoformat()}
    elif child.moved_out is not None:
        out_on, code = child.moved_out
        home = _home(county, child, len(child.moves) + 1, code, out_on)
        yield KIND, end, at(out_on, index, ENDING_HOUR), moved(child, previous, code, out_on, home)


def protection_change(personnummer: str, protection: str, recorded_on: dt.date) -> dict[str, Any]:
    """The body of a PROTECTION change: the register's protection of the child from ``recorded_on``."""
    return {"kind": "PROTECTION", "personnummer": personnummer, "synthetic": True, "protection": protection,
            "recorded_on": recorded_on.isoformat()}


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


def simulate(data_dir: Path, county: County, n: int, custody_share: float = 0.0, *,
             protection_share: float = 0.0, death_share: float = 0.0, emigration_share: float = 0.0,
             move_out_share: float = 0.0) -> None:
    """Make ``n`` changes now, to random children: moves to another municipality of the county.

    With the given probabilities a change is something else instead: a custody change (a lone
    guardian gets a second one, or the second guardian of two is removed; the first stays), a
    protection change (set to either kind, or lifted), a death, an emigration, or a move out of
    the county. A child whose part in the county has ended (in the county's history or by an
    earlier simulated change: its ``<index>-end`` record) is left alone.
    """
    store = store_for(data_dir, NAME)
    rng = random.Random()
    for _ in range(n):
        child = county.child(rng.randrange(county.children))
        if child.person is None or child.left_on is not None or store.get(KIND, f"{child.index:06d}-end"):
            continue
        stamp_now = now()
        today = stamp_now.date()
        pnr, end = child.person.personnummer, f"{child.index:06d}-end"
        draw = rng.random()
        for share, change in ((custody_share, "custody"), (protection_share, "protection"),
                              (death_share, "died"), (emigration_share, "emigrated"), (move_out_share, "moved-out")):
            if draw < share:
                break
            draw -= share
        else:
            change = "moved"
        if change == "custody":
            guardians = child.guardians_on(county.as_of)
            if len(guardians) > 1:
                guardians = guardians[:1]
            else:
                guardians = (*guardians, adult(rng, child.birth_date))
            record_custody(data_dir, pnr, guardians)
        elif change == "protection":
            kind = rng.choice([p for p in PROTECTIONS if p != child.protection_on(today)])
            store.put(KIND, f"{child.index:06d}-simpro{stamp_now.timestamp():.6f}",
                      protection_change(pnr, kind, today), at=stamp_now)
        elif change == "died":
            store.put(KIND, end, {"kind": "DIED", "personnummer": pnr, "synthetic": True,
                                  "died_on": today.isoformat()}, at=stamp_now)
        elif change == "emigrated":
            store.put(KIND, end, {"kind": "EMIGRATED", "personnummer": pnr, "synthetic": True,
                                  "emigrated_on": today.isoformat()}, at=stamp_now)
        else:
            out = change == "moved-out"
            codes = ([c for c in OUTSIDE_CODES if c not in county.directory.codes] if out else
                     [c for c in county.directory.codes if c != child.municipality_code])
            if not codes:
                continue
            code = rng.choice(codes)
            home = _home(county, child, 1_000 + rng.randrange(1_000), code, county.as_of)
            store.put(KIND, end if out else f"{child.index:06d}-sim{stamp_now.timestamp():.6f}",
                      moved(child, child.municipality_code, code, today, home), at=stamp_now)


def app(data_dir: Path, credentials: Credentials | None = None, shuffle: str | None = None) -> FastAPI:
    """The register's API; ``shuffle`` (a test knob) returns each page's changes in a seeded
    random order, ``next`` still the page's greatest change number."""
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
        following = items[-1]["changeNumber"] if len(items) == limit else None
        if shuffle is not None:
            random.Random(f"{shuffle}|{after}").shuffle(items)
        return {"changes": items, "next": following}

    return api


STANDIN = Standin(NAME, "population register (Navet-style REST)", 8104, prepare, app, simulate)
