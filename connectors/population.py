"""Population register connector (Navet-style REST): registrations, custody, moves, protected
personal data, deaths and emigrations.

Each change kind becomes one or more facts, all DIRECTORY facts of category POPULATION:

* ``REGISTERED`` -> ``ChildRegistered`` (identity and home address sealed: personnummer,
  given_name, family_name, address, postal_code, town -- the address only when the register
  gives one), ``CustodyRecorded``, and ``ProtectionRecorded`` when the record carries a
  ``protection``;
* ``CUSTODY`` -> ``CustodyRecorded``, each guardian's name sealed under ``guardian:<party id>``;
* ``MOVED`` -> ``ChildMoved``, the new address sealed (none under skyddad folkbokföring);
* ``PROTECTION`` -> ``ProtectionRecorded``; ``DIED`` -> ``ChildDied``; ``EMIGRATED`` ->
  ``ChildEmigrated``.

Guardians are people too: each gets a pseudonymous party id (``connectors.parties``), a UUIDv5
of an HMAC of their personnummer under ``party_secret`` -- stable across runs so consents can
name them, and not derivable from the number without the secret. The health connector names
expectant parents with the same ids, so both must be configured with the same secret.
``guardian_secret`` is the key's older name, still read when ``party_secret`` is absent.

The change feed is read in the register's change order, following its ``next`` change number
(a page itself may come in any order). Each event's ``occurred_at`` is the instant the register
recorded the change (the ``modified`` part of its change number), so two custody changes of one
child on one day keep the register's order. That instant is also the record's cursor
(``Order.INSTANT``): a resumed read asks for the changes at or after it, ``after=<instant>|``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from connectors.base import Connector, Fact, MappingError, Order, Page, SourceRecord, Subject
from connectors.http import TokenClient
from connectors.parties import PartyIds
from schemas.events import (
    ChildDied,
    ChildEmigrated,
    ChildMoved,
    ChildRegistered,
    CustodyRecorded,
    Protection,
    ProtectionRecorded,
)

DEFAULT_ORGANISATION = "skatteverket-navet"
UNKNOWN_KIND = "unknown change kind {kind!r}"
MISSING = "change lacks {field}"
NOT_A_DATE = "change's {field} is not a date (YYYY-MM-DD)"
BAD_PROTECTION = "change's protection is not one of {known}"
IDENTITY = ("personnummer", "given_name", "family_name")
ADDRESS = ("address", "postal_code", "town")  # the home address: sealed, and absent when withheld
GUARDIAN_KEY = "guardian:{party}"  # a guardian's sealed name, by pseudonymous party id


class PopulationConnector(Connector):
    name: ClassVar[str] = "population"
    system: ClassVar[str] = "navet"
    cursor_field: ClassVar[str] = "changeNumber"
    names_parties: ClassVar[bool] = True
    order: ClassVar[Order] = Order.INSTANT
    stream: ClassVar[str] = "change"

    def __init__(self, client: TokenClient, batch_size: int, parties: PartyIds | str, organisation_id: str) -> None:
        self._client = client
        self._batch = batch_size
        self._parties = parties if isinstance(parties, PartyIds) else PartyIds(parties)
        self._org = organisation_id

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> PopulationConnector:
        client = TokenClient.from_source("navet", source)
        return cls(client, batch_size, PartyIds.from_config(source, older="guardian_secret"),
                   source.get("organisation_id", DEFAULT_ORGANISATION))

    async def read(self, since: Mapping[str, str] | None) -> AsyncIterator[Page]:
        start = (since or {}).get(self.stream)
        after = None if start is None else f"{start}|"  # before every change number at the instant
        while True:
            params = {"limit": self._batch, **({"after": after} if after else {})}
            body = await self._client.get_json("navet/v1/changes", params)
            page = [
                SourceRecord("change", c["id"], str(c["version"]), str(c["changeNumber"]).partition("|")[0], c)
                for c in body["changes"]
            ]
            after = body.get("next")
            yield Page(self.stream, page, last=not after)
            if not after:
                return

    def resume_from(self, cursor: str) -> dict[str, str]:
        """The change number ``modified|id`` saved before marks: resume at its instant."""
        at, sep, _ = cursor.partition("|")
        if not sep or not at:
            raise ValueError("not a change number")
        return {self.stream: at}

    def map(self, record: SourceRecord) -> list[Fact]:
        data = record.data
        kind = data.get("kind")
        subject = Subject(personnummer=_field(data, "personnummer"))
        occurred = dt.datetime.fromisoformat(record.cursor.partition("|")[0])
        if kind == "REGISTERED":
            personal = _given(data, IDENTITY + ADDRESS)
            facts = [
                Fact(ChildRegistered, subject, occurred, self._org,
                     {"birth_date": _date(data, "birth_date"),
                      "municipality_code": _field(data, "municipality_code")}, personal=personal),
                self._custody(subject, occurred, data, part="custody"),
            ]
            if data.get("protection") not in (None, ""):
                facts.append(self._protection(subject, occurred, data, occurred.date(), part="protection"))
            return facts
        if kind == "CUSTODY":
            return [self._custody(subject, occurred, data)]
        if kind == "MOVED":
            return [Fact(ChildMoved, subject, occurred, self._org,
                         {"from_municipality_code": data.get("from_municipality_code"),
                          "to_municipality_code": _field(data, "to_municipality_code"),
                          "moved_on": _date(data, "moved_on")}, personal=_given(data, ADDRESS) or None)]
        if kind == "PROTECTION":
            return [self._protection(subject, occurred, data, _date(data, "recorded_on"))]
        if kind == "DIED":
            return [Fact(ChildDied, subject, occurred, self._org, {"died_on": _date(data, "died_on")})]
        if kind == "EMIGRATED":
            return [Fact(ChildEmigrated, subject, occurred, self._org, {"emigrated_on": _date(data, "emigrated_on")})]
        raise MappingError(UNKNOWN_KIND.format(kind=kind))

    def _custody(self, subject: Subject, occurred: dt.datetime, data: Mapping[str, Any], part: str = "") -> Fact:
        guardians = data.get("guardians") or []
        ids = tuple(self.guardian_id(_field(g, "personnummer")) for g in guardians)
        personal = {GUARDIAN_KEY.format(party=party): f"{g.get('given_name', '')} {g.get('family_name', '')}".strip()
                    for party, g in zip(ids, guardians, strict=True)}
        return Fact(CustodyRecorded, subject, occurred, self._org,
                    {"guardian_ids": ids, "recorded_on": occurred.date()}, personal=personal or None, part=part)

    def _protection(self, subject: Subject, occurred: dt.datetime, data: Mapping[str, Any], recorded_on: dt.date,
                    part: str = "") -> Fact:
        try:
            protection = Protection(_field(data, "protection"))
        except ValueError:
            raise MappingError(BAD_PROTECTION.format(known=", ".join(Protection))) from None
        return Fact(ProtectionRecorded, subject, occurred, self._org,
                    {"protection": protection, "recorded_on": recorded_on}, part=part)

    def guardian_id(self, pnr: str) -> uuid.UUID:
        return self._parties.party_id(pnr, role="guardian")

    async def aclose(self) -> None:
        await self._client.aclose()


def _field(data: Mapping[str, Any], name: str) -> Any:
    value = data.get(name)
    if value in (None, ""):
        raise MappingError(MISSING.format(field=name))
    return value


def _date(data: Mapping[str, Any], name: str) -> dt.date:
    value = _field(data, name)
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise MappingError(NOT_A_DATE.format(field=name)) from None


def _given(data: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    """The ``keys`` the change gives (non-empty), as text: what is sealed into the fact."""
    return {k: str(data[k]) for k in keys if data.get(k) not in (None, "")}
