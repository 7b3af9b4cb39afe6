"""Health connector: the region's FHIR R4 records (Cambio Cosmic-style) into ``intake.health``.

``read`` searches each resource type in turn -- Condition, Patient, EpisodeOfCare, Encounter,
Immunization, Observation -- with ``_lastUpdated``, ``_sort=_lastUpdated`` and ``_count``,
following Bundle ``next`` links. Each type is a stream of the framework's marks (``Order.INSTANT``:
the search is sorted by ``meta.lastUpdated``; resources sharing one come in any order). A
resumed search asks for ``_lastUpdated=ge<instant>``; the runner drops what it already published.

``map`` (no I/O) turns one resource into facts; see ``connectors.health_mapping``. Subjects are
identified by the personnummer the server puts on every patient reference.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import structlog

from connectors.base import Connector, Fact, Order, Page, SourceRecord
from connectors.health_mapping import REGION, RESOURCE_TYPES, Mapper
from connectors.http import TokenClient, required
from connectors.parties import PartyIds

log = structlog.get_logger(__name__)

BAD_TYPES = "[source] resource_types must be a list drawn from {known}"
BAD_ORGANISATIONS = "[source] organisation_ids must be a table of source unit id = hub organisation id"
BAD_TIMEOUT = "[source] timeout_s must be a positive number"
BAD_CURSOR = "health cursor {cursor!r} is not one this connector wrote"
NOT_SEARCHSET = "the FHIR server answered a {kind} search with something other than a searchset Bundle"


class HealthConnector(Connector):
    """FHIR R4 search, per resource type, resumable at an instant."""

    name: ClassVar[str] = "health"
    system: ClassVar[str] = "cosmic"
    cursor_field: ClassVar[str] = "meta.lastUpdated"
    order: ClassVar[Order] = Order.INSTANT

    def __init__(self, client: TokenClient, batch_size: int, mapper: Mapper,
                 resource_types: tuple[str, ...] = RESOURCE_TYPES) -> None:
        self._client = client
        self._count = batch_size
        self._mapper = mapper
        self._types = resource_types

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> HealthConnector:
        types = source.get("resource_types", list(RESOURCE_TYPES))
        if not isinstance(types, list) or not types or any(t not in RESOURCE_TYPES for t in types):
            raise ValueError(BAD_TYPES.format(known=", ".join(RESOURCE_TYPES)))
        renames = source.get("organisation_ids", {})
        if not isinstance(renames, Mapping) or not all(isinstance(v, str) for v in renames.values()):
            raise ValueError(BAD_ORGANISATIONS)
        timeout = source.get("timeout_s", 15.0)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(BAD_TIMEOUT)
        client = TokenClient("health FHIR server", required(source, "url"), required(source, "token_url"),
                             required(source, "client_id"), required(source, "client_secret"), timeout_s=float(timeout))
        mapper = Mapper(organisation_id=str(source.get("organisation_id", REGION)), organisation_ids=dict(renames),
                        party_ids=PartyIds.from_config(source))
        return cls(client, batch_size, mapper, tuple(t for t in RESOURCE_TYPES if t in types))

    async def read(self, since: Mapping[str, str] | None) -> AsyncIterator[Page]:
        for kind in self._types:
            async for page in self._search(kind, (since or {}).get(kind)):
                yield page

    def resume_from(self, cursor: str) -> dict[str, str]:
        """The per-type ``lastUpdated|id`` positions of the cursor this connector saved before marks."""
        return {kind: position.stamp for kind, position in parse_cursor(cursor).items()}

    async def _search(self, kind: str, start: str | None) -> AsyncIterator[Page]:
        params: dict[str, Any] | None = {"_count": self._count, "_sort": "_lastUpdated"}
        if start is not None:
            params["_lastUpdated"] = f"ge{start}"  # ge: resources sharing the instant come again
        url: str | None = kind
        while url is not None:
            bundle = await self._client.get_json(url, params)
            if bundle.get("resourceType") != "Bundle":
                raise ValueError(NOT_SEARCHSET.format(kind=kind))
            page = []
            for entry in bundle.get("entry") or ():
                resource = entry.get("resource") or {}
                if (entry.get("search") or {}).get("mode", "match") != "match":
                    continue  # included or outcome entries are not changes
                stamp = str((resource.get("meta") or {}).get("lastUpdated") or "")
                page.append(SourceRecord(
                    kind=kind,
                    record_id=str(resource.get("id") or "unknown"),
                    version=str((resource.get("meta") or {}).get("versionId") or stamp or "0"),
                    cursor=stamp,
                    data=resource,
                ))
            url = next((link.get("url") for link in bundle.get("link") or () if link.get("relation") == "next"), None)
            params = None
            yield Page(kind, page, last=url is None)
        log.debug("connector.health.searched", resource_type=kind)

    def map(self, record: SourceRecord) -> list[Fact]:
        return self._mapper.facts(record.kind, record.data)

    async def aclose(self) -> None:
        await self._client.aclose()


class Position:
    """The cursor this connector saved before marks: per type the last ``(meta.lastUpdated, id)``
    read. Only read now, to resume such a checkpoint at its instants (``resume_from``)."""

    __slots__ = ("stamp", "rid", "key")

    def __init__(self, stamp: str, rid: str) -> None:
        self.stamp, self.rid = stamp, rid
        self.key = (_instant(stamp), rid)

    @classmethod
    def of(cls, resource: Mapping[str, Any]) -> Position | None:
        """None for a resource without id or lastUpdated: it cannot move the cursor."""
        stamp = (resource.get("meta") or {}).get("lastUpdated")
        rid = resource.get("id")
        if not stamp or not rid:
            return None
        try:
            return cls(str(stamp), str(rid))
        except ValueError:
            return None


def format_cursor(positions: Mapping[str, Position]) -> str:
    """``Type=lastUpdated|id`` per type read so far, ``;``-separated, in reading order."""
    return ";".join(f"{kind}={positions[kind].stamp}|{positions[kind].rid}" for kind in RESOURCE_TYPES
                    if kind in positions)


def parse_cursor(cursor: str | None) -> dict[str, Position]:
    if not cursor:
        return {}
    positions = {}
    try:
        for part in cursor.split(";"):
            kind, _, position = part.partition("=")
            stamp, _, rid = position.rpartition("|")
            if kind not in RESOURCE_TYPES or not stamp or not rid:
                raise ValueError(part)
            positions[kind] = Position(stamp, rid)
    except ValueError:
        raise ValueError(BAD_CURSOR.format(cursor=cursor)) from None
    return positions


def _instant(stamp: str) -> dt.datetime:
    at = dt.datetime.fromisoformat(stamp)
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
