"""The people sources name for their organisations (a school unit's principal), as the hub keeps
them: the latest complete list per source, replacing the one before in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import Engine, delete, insert, select

from connectors.base import Contact
from services.sql.schema import organisation_contacts


class SqlContacts:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, source: str, contacts: Sequence[Contact]) -> None:
        """``contacts`` is everything ``source`` names now; what it no longer names goes."""
        now = dt.datetime.now(dt.UTC)
        rows = {(c.organisation_id, c.role): c for c in contacts}  # one per organisation and role
        with self._engine.begin() as connection:
            connection.execute(delete(organisation_contacts).where(organisation_contacts.c.source == source))
            if rows:
                connection.execute(insert(organisation_contacts), [
                    {"source": source, "organisation_id": org, "role": role, "name": c.name, "since": c.since,
                     "updated_at": now} for (org, role), c in rows.items()])

    def of(self, organisation_ids: Iterable[str], role: str = "principal") -> dict[str, str]:
        """Organisation id -> the name of its person in ``role``, for those that have one."""
        ids = sorted(set(organisation_ids))
        if not ids:
            return {}
        with self._engine.connect() as connection:
            rows = connection.execute(select(organisation_contacts.c.organisation_id, organisation_contacts.c.name)
                                      .where(organisation_contacts.c.organisation_id.in_(ids))
                                      .where(organisation_contacts.c.role == role)
                                      .order_by(organisation_contacts.c.source)).all()
        return {org: name for org, name in rows}
