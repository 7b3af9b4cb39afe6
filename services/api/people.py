"""Who a login subject is, for the auditors' pages: the display name, role and organisation the
person's token last carried (``projections.people``).

The access log holds only the subject (``viewer_id``); names are not child data, but they are
personal data of staff, so they are shown to auditors and never logged. ``remember`` is called
for every authenticated request and costs a set lookup after the first: each process keeps the
values it has stored per database, and writes again only when a token says something new.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from projections.people import NAME_LENGTH, SUBJECT_LENGTH, people
from services.api.auth.tokens import Principal
from services.api.wiring import Hub

log = structlog.get_logger(__name__)
ORG_LENGTH = 64
LOOKUP_BATCH = 500

# Per database, the (subject, name, role, organisation) this process has stored already.
_stored: weakref.WeakKeyDictionary[Engine, set[tuple[str, str, str, str]]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Person:
    subject: str
    name: str
    role: str
    organisation_id: str


def _row(principal: Principal) -> tuple[str, str, str, str] | None:
    name = (principal.name_hint or "").strip()
    if not name or len(principal.subject) > SUBJECT_LENGTH or len(principal.organisation_id) > ORG_LENGTH:
        return None
    return principal.subject, name[:NAME_LENGTH], str(principal.role.value), principal.organisation_id


async def remember(hub: Hub, principal: Principal) -> None:
    """Store who ``principal`` is, if the token names them and this process has not stored it yet."""
    row = _row(principal)
    if row is None:
        return
    stored = _stored.setdefault(hub.engine, set())
    if row in stored:
        return
    try:
        await hub.run(store, hub.engine, row, hub.now())
    except SQLAlchemyError as exc:  # a name is a nicety: never fail the request for it; try again next time
        log.warning("people.not_stored", error=type(exc).__name__)  # the message would carry the name
        return
    stored.add(row)


def store(engine: Engine, row: tuple[str, str, str, str], now: dt.datetime) -> None:
    """Insert or update one person (the latest token's values win)."""
    subject, name, role, organisation_id = row
    values = {"subject": subject, "name": name, "role": role, "organisation_id": organisation_id, "seen_at": now}
    with engine.begin() as connection:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(people).values(**values)
        connection.execute(statement.on_conflict_do_update(
            index_elements=[people.c.subject],
            set_={k: statement.excluded[k] for k in ("name", "role", "organisation_id", "seen_at")}))


def known(engine: Engine, subjects: Iterable[str]) -> dict[str, Person]:
    """The people among ``subjects`` that have been seen, by subject."""
    wanted = sorted(set(subjects))
    found: dict[str, Person] = {}
    if not wanted:
        return found
    with engine.connect() as connection:
        for start in range(0, len(wanted), LOOKUP_BATCH):
            rows = connection.execute(select(people).where(people.c.subject.in_(wanted[start:start + LOOKUP_BATCH])))
            found |= {r.subject: Person(r.subject, r.name, r.role, r.organisation_id) for r in rows}
    return found


def everyone(engine: Engine) -> list[Person]:
    """Every person seen, by name: the administrators' picker for ending a user's sessions."""
    with engine.connect() as connection:
        rows = connection.execute(select(people).order_by(people.c.name, people.c.subject))
        return [Person(r.subject, r.name, r.role, r.organisation_id) for r in rows]
