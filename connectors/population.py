"""Population register connector (Navet-style REST): registrations, custody and moves.

Guardians are people too: each gets a pseudonymous party id, a UUIDv5 of an HMAC of their
personnummer under ``guardian_secret`` -- stable across runs so consents can name them, and
not derivable from the number without the secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from connectors import personnummer
from connectors.base import Connector, Fact, MappingError, SourceRecord, Subject
from connectors.http import TokenClient, required
from schemas.events import ChildMoved, ChildRegistered, CustodyRecorded

GUARDIAN_NAMESPACE = uuid.UUID("a4c1e5b2-7d3f-4e8a-9b61-2f0c8d4e7a53")
DEV_GUARDIAN_SECRET = "dev-only guardian secret"
DEFAULT_ORGANISATION = "skatteverket-navet"
UNKNOWN_KIND = "unknown change kind {kind!r}"
MISSING = "change lacks {field}"
BAD_GUARDIAN = "a guardian's personnummer is invalid: {reason}"


class PopulationConnector(Connector):
    name: ClassVar[str] = "population"
    system: ClassVar[str] = "navet"
    cursor_field: ClassVar[str] = "changeNumber"

    def __init__(self, client: TokenClient, batch_size: int, guardian_secret: str, organisation_id: str) -> None:
        self._client = client
        self._batch = batch_size
        self._secret = guardian_secret.encode()
        self._org = organisation_id

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> PopulationConnector:
        client = TokenClient("navet", required(source, "url"), required(source, "token_url"),
                             required(source, "client_id"), required(source, "client_secret"))
        return cls(client, batch_size, source.get("guardian_secret", DEV_GUARDIAN_SECRET),
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
        try:
            canonical = personnummer.normalise(pnr)
        except personnummer.PersonnummerError as exc:
            raise MappingError(BAD_GUARDIAN.format(reason=exc)) from None
        digest = hmac.new(self._secret, canonical.encode(), hashlib.sha256).hexdigest()
        return uuid.uuid5(GUARDIAN_NAMESPACE, digest)

    async def aclose(self) -> None:
        await self._client.aclose()


def _field(data: Mapping[str, Any], name: str) -> Any:
    value = data.get(name)
    if value in (None, ""):
        raise MappingError(MISSING.format(field=name))
    return value
