"""Population register connector (Navet-style REST): registrations, custody and moves.

Guardians are people too: each gets a pseudonymous party id (``connectors.parties``), a UUIDv5
of an HMAC of their personnummer under ``party_secret`` -- stable across runs so consents can
name them, and not derivable from the number without the secret. The health connector names
expectant parents with the same ids, so both must be configured with the same secret.
``guardian_secret`` is the key's older name, still read when ``party_secret`` is absent.

The change feed is read in the register's change order. Each event's ``occurred_at`` is the
instant the register recorded the change (the ``modified`` part of its change number), so two
custody changes of one child on one day keep the register's order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from connectors.base import Connector, Fact, MappingError, SourceRecord, Subject
from connectors.http import TokenClient, required
from connectors.parties import PartyIds
from schemas.events import ChildMoved, ChildRegistered, CustodyRecorded

DEFAULT_ORGANISATION = "skatteverket-navet"
UNKNOWN_KIND = "unknown change kind {kind!r}"
MISSING = "change lacks {field}"


class PopulationConnector(Connector):
    name: ClassVar[str] = "population"
    system: ClassVar[str] = "navet"
    cursor_field: ClassVar[str] = "changeNumber"

    def __init__(self, client: TokenClient, batch_size: int, parties: PartyIds | str, organisation_id: str) -> None:
        self._client = client
        self._batch = batch_size
        self._parties = parties if isinstance(parties, PartyIds) else PartyIds(parties)
        self._org = organisation_id

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> PopulationConnector:
        client = TokenClient("navet", required(source, "url"), required(source, "token_url"),
                             required(source, "client_id"), required(source, "client_secret"))
        return cls(client, batch_size, PartyIds.from_config(source, older="guardian_secret"),
                   source.get("organisation_id", DEFAULT_ORGANISATION))

    async def read(self, since: str | None) -> AsyncIterator[list[SourceRecord]]:
        after = since
        while True:
            params = {"limit": self._batch, **({"after": after} if after else {})}
            body = await self._client.get_json("navet/v1/changes", params)
            page = [
                SourceRecord("change", c["id"], str(c["version"]), c["changeNumber"], c)
                for c in body["changes"]
            ]
            if page:
                yield page
                after = page[-1].cursor
            if not body.get("next"):
                return

    def map(self, record: SourceRecord) -> list[Fact]:
        data = record.data
        kind = data.get("kind")
        subject = Subject(personnummer=_field(data, "personnummer"))
        occurred = dt.datetime.fromisoformat(record.cursor.partition("|")[0])
        if kind == "REGISTERED":
            personal = {k: data[k] for k in ("personnummer", "given_name", "family_name") if k in data}
            return [
                Fact(ChildRegistered, subject, occurred, self._org,
                     {"birth_date": dt.date.fromisoformat(_field(data, "birth_date")),
                      "municipality_code": _field(data, "municipality_code")}, personal=personal),
                self._custody(subject, occurred, data, part="custody"),
            ]
        if kind == "CUSTODY":
            return [self._custody(subject, occurred, data)]
        if kind == "MOVED":
            return [Fact(ChildMoved, subject, occurred, self._org,
                         {"from_municipality_code": data.get("from_municipality_code"),
                          "to_municipality_code": _field(data, "to_municipality_code"),
                          "moved_on": dt.date.fromisoformat(_field(data, "moved_on"))})]
        raise MappingError(UNKNOWN_KIND.format(kind=kind))

    def _custody(self, subject: Subject, occurred: dt.datetime, data: Mapping[str, Any], part: str = "") -> Fact:
        guardians = data.get("guardians") or []
        ids = tuple(self.guardian_id(_field(g, "personnummer")) for g in guardians)
        personal = {f"guardian_{i}": f"{g.get('given_name', '')} {g.get('family_name', '')} {g['personnummer']}"
                    for i, g in enumerate(guardians)}
        return Fact(CustodyRecorded, subject, occurred, self._org,
                    {"guardian_ids": ids, "recorded_on": occurred.date()}, personal=personal or None, part=part)

    def guardian_id(self, pnr: str) -> uuid.UUID:
        return self._parties.party_id(pnr, role="guardian")

    async def aclose(self) -> None:
        await self._client.aclose()


def _field(data: Mapping[str, Any], name: str) -> Any:
    value = data.get(name)
    if value in (None, ""):
        raise MappingError(MISSING.format(field=name))
    return value
