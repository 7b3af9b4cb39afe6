"""The demo's one child, one id (issue 15): newborns seen by personnummer before their birth
record, whose two ids the hub merged, and a check of what the hub made of them.

The population register runs first (``intake``), so every newborn it registers whose pregnancy the
health system registered gets an id X by personnummer before the health system's birth record
names both and links X to the unborn id U. The check is a rule of the demo's own, on what the
hub holds at the end:

* every child with both a pregnancy and a registration in the intake is a merge (in this order no
  other way brings the two together), and the identity registry's links are the merges announced;
* in the read model each merged id is only a pointer to its surviving id, and no other id points;
* each surviving id has one personnummer in the identity registry (and no handle is left on a
  merged id), is born on the day the sources said, and has its pregnancy's facts (the expectant
  parent its pregnancy record named) and its registration (the sealed identity);
* no merged id owns a released fact, a consent or a plan row, and the gate released nothing
  under one.

Only counts are printed; the children stay pseudonyms.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

from projections.read_model import (
    actions,
    assessments,
    children,
    consents,
    follow_ups,
    meetings,
    named_person_history,
    released_facts,
)
from services.dev.demo.county_view import Intake
from services.ingest.identity import PNR
from services.sql.schema import identity_handles, identity_links

OWNED = (released_facts, consents, meetings, actions, assessments, follow_ups, named_person_history)

NOT_MERGED = "{n} children with a pregnancy and a registration kept two ids"
UNANNOUNCED = "{n} links in the identity registry were not announced"
NOT_LINKED = "{n} merges announced that the identity registry does not hold"
NOT_POINTER = "{n} merged ids are not a pointer to their surviving id in the read model"
STRAY_POINTER = "{n} ids in the read model point at a child the demo did not see merged"
PNR_COUNT = "{n} surviving ids do not have exactly one personnummer"
PNR_TWICE = "{n} child ids have more than one personnummer"
LEFT_HANDLES = "{n} identity handles still point at a merged id"
NOT_BORN = "{n} surviving ids are not born on the day the sources said"
NO_PREGNANCY = "{n} surviving ids lack their pregnancy's facts"
NOT_REGISTERED = "{n} surviving ids lack their registration"
OWNS = "merged ids own {n} rows of {table}"
RELEASED = "{n} facts were released under a merged id"


@dataclass(frozen=True)
class Row:
    """A child's read-model row, as far as the check reads it."""

    merged_into: str | None
    unborn: bool
    birth_date: dt.date | None
    expectant_parent: str | None
    registered: bool  # its sealed identity is there


@dataclass
class Held:
    """What the hub holds at the end, read back for the check."""

    links: dict[str, str] = field(default_factory=dict)  # identity_links: merged -> surviving
    unannounced: int = 0
    rows: dict[str, Row] = field(default_factory=dict)  # the merged and surviving ids, and every pointer
    personnummer: Counter[str] = field(default_factory=Counter)  # PERSONNUMMER handles per child id
    merged_handles: int = 0  # identity handles still on a merged id
    owned: Counter[str] = field(default_factory=Counter)  # rows a merged id owns, by table


def newborns_seen_apart(intake: Intake) -> set[uuid.UUID]:
    """Children with a pregnancy (the health system) and a registration (the population register):
    with the register read first, each was seen by personnummer before its birth record."""
    return intake.expectant.keys() & intake.registered


def read_held(engine: Engine, intake: Intake) -> Held:
    """The identity registry's links and handles, and the read model's rows, for the check."""
    merged = [str(m) for m in intake.merged]
    ids = merged + [str(s) for s in intake.merged.values()]
    held = Held()
    c = children.c
    with engine.connect() as connection:
        for merged_id, surviving, announced in connection.execute(
                select(identity_links.c.merged_id, identity_links.c.surviving_id, identity_links.c.announced_at)):
            held.links[merged_id] = surviving
            held.unannounced += announced is None
        held.personnummer.update(dict(connection.execute(
            select(identity_handles.c.child_id, func.count()).where(identity_handles.c.kind == PNR)
            .group_by(identity_handles.c.child_id)).all()))
        rows = connection.execute(select(c.child_id, c.merged_into, c.unborn, c.birth_date, c.expectant_parent,
                                         c.sealed_identity.is_not(None))
                                  .where(c.child_id.in_(ids) | c.merged_into.is_not(None))).all()
        held.rows = {cid: Row(into, bool(unborn), born, parent, bool(registered))
                     for cid, into, unborn, born, parent, registered in rows}
        for table in OWNED:
            held.owned[table.name] = connection.scalar(
                select(func.count()).select_from(table).where(table.c.child_id.in_(merged))) or 0
        held.merged_handles = connection.scalar(
            select(func.count()).select_from(identity_handles).where(identity_handles.c.child_id.in_(merged))) or 0
    return held


def problems(intake: Intake, held: Held, releases: Iterable[tuple[uuid.UUID, dt.datetime]]) -> list[str]:
    """What breaks the demo's rule (empty: none). ``releases`` are the gate's releases of CONSENT
    and STATUTORY facts, by child."""
    merged = {str(m): str(s) for m, s in intake.merged.items()}
    surviving = set(merged.values())
    counts = [
        (len({str(c) for c in newborns_seen_apart(intake)} - surviving), NOT_MERGED),
        (len(held.links.keys() - merged.keys()) + held.unannounced, UNANNOUNCED),
        (sum(held.links.get(m) != s for m, s in merged.items()), NOT_LINKED),
        (sum(_row(held, m).merged_into != s for m, s in merged.items()), NOT_POINTER),
        (sum(r.merged_into is not None and cid not in merged for cid, r in held.rows.items()),
         STRAY_POINTER),
        (sum(held.personnummer[s] != 1 for s in surviving), PNR_COUNT),
        (sum(n > 1 for n in held.personnummer.values()), PNR_TWICE),
        (held.merged_handles, LEFT_HANDLES),
        (sum(not _born(intake, s, _row(held, s)) for s in surviving), NOT_BORN),
        (sum(not _expected(intake, s, _row(held, s)) for s in surviving), NO_PREGNANCY),
        (sum(not _row(held, s).registered for s in surviving), NOT_REGISTERED),
        (sum(str(child) in merged for child, _ in releases), RELEASED),
    ]
    out = [message.format(n=n) for n, message in counts if n]
    return out + [OWNS.format(n=n, table=table) for table, n in held.owned.items() if n]


MISSING = Row(merged_into="(no row)", unborn=True, birth_date=None, expectant_parent=None, registered=False)


def _row(held: Held, child: str) -> Row:
    return held.rows.get(child, MISSING)


def _born(intake: Intake, child: str, row: Row) -> bool:
    """Born, not unborn, on a day a registration or a birth record gave, and a child, not a pointer."""
    days = intake.born_on.get(uuid.UUID(child), set())
    return row.merged_into is None and not row.unborn and row.birth_date in days


def _expected(intake: Intake, child: str, row: Row) -> bool:
    """Its pregnancy was registered, and the read model names the expectant parent it named."""
    parents = intake.expectant.get(uuid.UUID(child))
    if not parents:
        return False
    named = {str(p) for p in parents if p is not None}
    return not named or row.expectant_parent in named


def described_merges(intake: Intake) -> str:
    n = len(intake.merged)
    return (f"One child, one id: {n:,} newborns were seen first by personnummer (the population register ran "
            f"before the birth records) and merged into the ids they had before birth; {len(intake.carried):,} "
            f"of their facts go over to those ids.")


def merges_check(engine: Engine, intake: Intake, releases: Iterable[tuple[uuid.UUID, dt.datetime]]) -> list[str]:
    return problems(intake, read_held(engine, intake), releases)


def described_check(intake: Intake, failures: list[str]) -> str:
    verdict = "ok" if not failures else f"[red]FAILED: {'; '.join(failures)}[/red]"
    return (f"Merged ids: {len(intake.merged):,} pointers to their surviving ids; each survivor born, with one "
            f"personnummer and its pregnancy's facts; no released fact, consent or plan row under a merged "
            f"id: {verdict}")
