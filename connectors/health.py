"""Health connector: the region's FHIR R4 records (Cambio Cosmic-style) into ``intake.health``.

Two feeds, chosen by ``feed`` in ``[source]``:

* ``search`` (``HealthConnector``): each resource type in turn -- Condition, Patient,
  EpisodeOfCare, Encounter, Immunization, Observation -- with ``_lastUpdated``,
  ``_sort=_lastUpdated`` and ``_count``, following Bundle ``next`` links. Each type is a stream of
  the framework's marks (``Order.INSTANT``); a resumed search asks ``_lastUpdated=ge<instant>``
  and the runner drops what it already published. A ``next`` link the server has expired (404 or
  410) ends the read as an outage: the runner resumes from the checkpoint with a new search.
* ``bulk`` (``HealthBulkConnector``): FHIR Bulk Data ``$export`` (system or Group level) with
  ``_type`` and ``_since``, the asynchronous request pattern (202 + ``Content-Location``, polling
  that honours ``Retry-After``), NDJSON files streamed line by line, and the job deleted at the
  end. NDJSON promises no order, so each type is an ``Order.NONE`` stream; the manifest's
  ``transactionTime`` is kept as the ``$export`` stream's instant and is the next ``_since``.

Before a page is handed on, references the mapping needs but that carry no identifier (a
patient, a practitioner performer, a newborn's pregnancy) are read once per run
(``Mapper.references``). ``map`` (no I/O) turns one resource into facts; see
``connectors.health_mapping``, whose ``Profile`` holds what differs between installations.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import structlog

from connectors.base import Connector, Fact, Order, Page, SourceRecord, SourceUnavailable
from connectors.health_mapping import REGION, RESOURCE_TYPES, Mapper, Profile
from connectors.http import SourceRejected, TokenClient
from connectors.http import retry_after as http_retry_after
from connectors.parties import PartyIds

log = structlog.get_logger(__name__)

BAD_TYPES = "[source] resource_types must be a list drawn from {known}"
BAD_ORGANISATIONS = "[source] organisation_ids must be a table of source unit id = hub organisation id"
BAD_FEED = "[source] feed must be \"search\" or \"bulk\""
BAD_GROUP = "[source] export_group must be a FHIR Group id (letters, digits, '-' and '.')"
BAD_EXPORT_TIMEOUT = "[source] export_timeout_s must be a positive number"
BAD_CURSOR = "health cursor {cursor!r} is not one this connector wrote"
NOT_SEARCHSET = "the FHIR server answered a {kind} search with something other than a searchset Bundle"
LINK_EXPIRED = "health FHIR server expired the next link of the {kind} search (HTTP {status}); resuming from the checkpoint"
EXPORT_REFUSED = "health FHIR server refused the $export kick-off: HTTP {status}"
NO_STATUS_URL = "health FHIR server accepted the $export kick-off without a Content-Location"
EXPORT_FAILED = "health FHIR server's $export job failed or vanished: HTTP {status} on its status URL"
EXPORT_SLOW = "health FHIR server's $export job did not complete within {seconds:g} s"
BAD_MANIFEST = "health FHIR server's $export manifest lacks {element}"
BAD_NDJSON = "health FHIR server's $export {kind} file has a line that is not a JSON resource"

FEEDS = ("search", "bulk")
EXPORT_STREAM = "$export"  # the stream holding each completed export's transactionTime
FHIR_JSON = "application/fhir+json"
DEFAULT_RETRY_AFTER_S = 2.0  # when a 202 status answer names no Retry-After
MAX_RETRY_AFTER_S = 120.0
RESOLVE_ROUNDS = 3  # a newborn's pregnancy Condition may name its parent by reference only
RESOLVE_CONCURRENCY = 8

Sleep = Callable[[float], Awaitable[None]]


class HealthConnector(Connector):
    """FHIR R4 search, per resource type, resumable at an instant."""

    name: ClassVar[str] = "health"
    system: ClassVar[str] = "cosmic"
    cursor_field: ClassVar[str] = "meta.lastUpdated"
    names_parties: ClassVar[bool] = True
    order: ClassVar[Order] = Order.INSTANT

    def __init__(self, client: TokenClient, batch_size: int, mapper: Mapper,
                 resource_types: tuple[str, ...] = RESOURCE_TYPES) -> None:
        self._client = client
        self._count = batch_size
        self._mapper = mapper
        self._types = resource_types
        # Resources read for references without identifiers, per run: "Type/id" -> resource or None.
        self._resolved: dict[str, Mapping[str, Any] | None] = {}

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> HealthConnector:
        types = source.get("resource_types", list(RESOURCE_TYPES))
        if not isinstance(types, list) or not types or any(t not in RESOURCE_TYPES for t in types):
            raise ValueError(BAD_TYPES.format(known=", ".join(RESOURCE_TYPES)))
        renames = source.get("organisation_ids", {})
        if not isinstance(renames, Mapping) or not all(isinstance(v, str) for v in renames.values()):
            raise ValueError(BAD_ORGANISATIONS)
        feed = source.get("feed", "search")
        if feed not in FEEDS:
            raise ValueError(BAD_FEED)
        group = source.get("export_group", "")
        if not isinstance(group, str) or not all(c.isalnum() or c in "-." for c in group) or len(group) > 64:
            raise ValueError(BAD_GROUP)
        export_timeout = source.get("export_timeout_s", 3600.0)
        if not _positive(export_timeout):
            raise ValueError(BAD_EXPORT_TIMEOUT)
        profile = Profile.from_config(source.get("profile"))
        client = TokenClient.from_source("health FHIR server", source)
        mapper = Mapper(organisation_id=str(source.get("organisation_id", REGION)), organisation_ids=dict(renames),
                        party_ids=PartyIds.from_config(source), profile=profile)
        ordered = tuple(t for t in RESOURCE_TYPES if t in types)
        if feed == "bulk":
            return HealthBulkConnector(client, batch_size, mapper, ordered, group=group or None,
                                       timeout_s=float(export_timeout))
        return cls(client, batch_size, mapper, ordered)

    async def read(self, since: Mapping[str, str] | None) -> AsyncIterator[Page]:
        self._resolved = {}
        try:
            for kind in self._types:
                async for page in self._search(kind, (since or {}).get(kind)):
                    yield page
        finally:
            self._resolved = {}  # personal data: kept no longer than the run

    def resume_from(self, cursor: str) -> dict[str, str]:
        """The per-type ``lastUpdated|id`` positions of the cursor this connector saved before marks."""
        return {kind: position.stamp for kind, position in parse_cursor(cursor).items()}

    async def _search(self, kind: str, start: str | None) -> AsyncIterator[Page]:
        params: dict[str, Any] = {"_count": self._count, "_sort": "_lastUpdated"}
        if start is not None:
            params["_lastUpdated"] = f"ge{start}"  # ge: resources sharing the instant come again
        bundle = await self._client.get_json(kind, params)
        while True:
            if bundle.get("resourceType") != "Bundle":
                raise ValueError(NOT_SEARCHSET.format(kind=kind))
            resources = [entry.get("resource") or {} for entry in bundle.get("entry") or ()
                         if (entry.get("search") or {}).get("mode", "match") == "match"]  # not included/outcome
            url = next((link.get("url") for link in bundle.get("link") or () if link.get("relation") == "next"), None)
            yield Page(kind, await self._records(kind, resources), last=url is None)
            if url is None:
                break
            response = await self._client.request("GET", url, headers={"Accept": FHIR_JSON})
            if response.status_code in (404, 410):
                raise SourceUnavailable(LINK_EXPIRED.format(kind=kind, status=response.status_code))
            bundle = self._client.judged(response, f"a {kind} search's next link").json()
        log.debug("connector.health.searched", resource_type=kind)

    async def _records(self, kind: str, resources: Sequence[Mapping[str, Any]]) -> list[SourceRecord]:
        """Records of one page, after reading what their references leave out."""
        await self._resolve(kind, resources)
        records = []
        for resource in resources:
            stamp = str((resource.get("meta") or {}).get("lastUpdated") or "")
            records.append(SourceRecord(
                kind=kind,
                record_id=self._mapper.record_id(kind, resource, self._resolved),
                version=str((resource.get("meta") or {}).get("versionId") or stamp or "0"),
                cursor=stamp,
                data=resource,
            ))
        return records

    async def _resolve(self, kind: str, resources: Iterable[Mapping[str, Any]]) -> None:
        """Read each reference the mapping wants and this run has not read, a few at a time."""
        resources = list(resources)
        gate = asyncio.Semaphore(RESOLVE_CONCURRENCY)

        async def read(key: str) -> None:
            async with gate:
                response = await self._client.request("GET", key, headers={"Accept": FHIR_JSON})
            if response.status_code in (404, 410):
                self._resolved[key] = None  # gone: the mapping falls back (or dead-letters)
            else:
                self._resolved[key] = self._client.judged(response, f"a {key.partition('/')[0]} read").json()

        for _ in range(RESOLVE_ROUNDS):
            wanted = set().union(*(self._mapper.references(kind, r, self._resolved) for r in resources))
            if not wanted:
                return
            await asyncio.gather(*(read(key) for key in sorted(wanted)))

    def map(self, record: SourceRecord) -> list[Fact]:
        if record.kind == EXPORT_STREAM:
            return []  # the export's transactionTime: a place in the feed, no fact
        return self._mapper.facts(record.kind, record.data, self._resolved)

    async def aclose(self) -> None:
        await self._client.aclose()


class HealthBulkConnector(HealthConnector):
    """FHIR Bulk Data ``$export`` with ``_since``: one export per run, NDJSON in no order."""

    order: ClassVar[Order] = Order.NONE

    def __init__(self, client: TokenClient, batch_size: int, mapper: Mapper,
                 resource_types: tuple[str, ...] = RESOURCE_TYPES, *, group: str | None = None,
                 timeout_s: float = 3600.0, sleep: Sleep = asyncio.sleep,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__(client, batch_size, mapper, resource_types)
        self._group = group
        self._timeout_s = timeout_s
        self._sleep = sleep
        self._clock = clock or time.monotonic

    async def read(self, since: Mapping[str, str] | None) -> AsyncIterator[Page]:
        self._resolved = {}
        status_url = await self._kick_off(self._since(since or {}))
        try:
            manifest = await self._completed(status_url)
            files: dict[str, list[str]] = {}
            for output in manifest["output"]:
                files.setdefault(str(output.get("type")), []).append(str(output.get("url")))
            token = manifest["requiresAccessToken"]
            for kind in self._types:
                for url in files.get(kind, ()):
                    async for page in self._file(kind, url, token):
                        yield page
                yield Page(kind, [], last=True)  # every file of the type is read
            if manifest.get("error"):
                log.warning("connector.health.export_errors", files=len(manifest["error"]))
            at = manifest["transactionTime"]
            yield Page(EXPORT_STREAM, [SourceRecord(EXPORT_STREAM, "transactionTime", at, at, {})], last=True)
        finally:
            self._resolved = {}
            await self._delete(status_url)

    def _since(self, since: Mapping[str, str]) -> str | None:
        """The last export's ``transactionTime``; after a search feed, the earliest type's instant."""
        if EXPORT_STREAM in since:
            return since[EXPORT_STREAM]
        instants = [since.get(kind) for kind in self._types]
        if any(at is None for at in instants):
            return None  # a type never read: export everything
        return min(instants, key=lambda at: dt.datetime.fromisoformat(str(at).replace("Z", "+00:00")))

    async def _kick_off(self, since: str | None) -> str:
        params = {"_type": ",".join(self._types), "_outputFormat": "application/fhir+ndjson"}
        if since is not None:
            params["_since"] = since
        path = f"Group/{self._group}/$export" if self._group else "$export"
        response = await self._client.request("GET", path, params=params,
                                              headers={"Accept": FHIR_JSON, "Prefer": "respond-async"})
        if response.status_code != 202:
            raise SourceRejected(EXPORT_REFUSED.format(status=response.status_code))
        location = response.headers.get("Content-Location")
        if not location:
            raise SourceRejected(NO_STATUS_URL)
        log.info("connector.health.export_started", since=since, group=self._group)
        return location

    async def _completed(self, status_url: str) -> dict[str, Any]:
        """Poll the job until its manifest, waiting as long as each ``Retry-After`` asks."""
        started = self._clock()
        while True:
            response = await self._client.request("GET", status_url, headers={"Accept": "application/json"})
            if response.status_code == 200:
                return _manifest(response.json())
            if response.status_code != 202:
                raise SourceUnavailable(EXPORT_FAILED.format(status=response.status_code))
            delay = retry_after(response.headers.get("Retry-After"))
            if self._clock() - started + delay > self._timeout_s:
                raise SourceUnavailable(EXPORT_SLOW.format(seconds=self._timeout_s))
            log.debug("connector.health.export_progress", progress=response.headers.get("X-Progress", "")[:100],
                      retry_after_s=delay)
            await self._sleep(delay)

    async def _file(self, kind: str, url: str, token: bool) -> AsyncIterator[Page]:
        """One NDJSON file as pages of ``batch_size`` resources, streamed."""
        batch: list[Mapping[str, Any]] = []
        async for line in self._client.lines(url, token=token, accept="application/fhir+ndjson"):
            if not line.strip():
                continue
            try:
                resource = json.loads(line)
            except ValueError:
                raise SourceRejected(BAD_NDJSON.format(kind=kind)) from None
            if not isinstance(resource, dict):
                raise SourceRejected(BAD_NDJSON.format(kind=kind))
            batch.append(resource)
            if len(batch) >= self._count:
                yield Page(kind, await self._records(kind, batch))
                batch = []
        if batch:
            yield Page(kind, await self._records(kind, batch))

    async def _delete(self, status_url: str) -> None:
        """Ask the server to drop the job and its files; a failure only costs it disk until expiry."""
        try:
            response = await self._client.request("DELETE", status_url)
        except (SourceUnavailable, SourceRejected) as exc:
            log.warning("connector.health.export_not_deleted", error=type(exc).__name__)
            return
        if response.status_code >= 300:
            log.warning("connector.health.export_not_deleted", status=response.status_code)


def retry_after(header: str | None, now: dt.datetime | None = None) -> float:
    """Seconds a Bulk Data status poll waits (``connectors.http.retry_after``, the one reading of
    the header), with a default when the server names none and a bound when it names too much."""
    seconds = http_retry_after(header, now or dt.datetime.now(dt.UTC))
    return DEFAULT_RETRY_AFTER_S if seconds is None else min(seconds, MAX_RETRY_AFTER_S)


def _manifest(body: Any) -> dict[str, Any]:
    """The completion manifest, checked for what the connector relies on."""
    if not isinstance(body, dict):
        raise SourceRejected(BAD_MANIFEST.format(element="a JSON object"))
    at = body.get("transactionTime")
    if not isinstance(at, str) or _parse_instant(at) is None:
        raise SourceRejected(BAD_MANIFEST.format(element="a transactionTime instant"))
    if not isinstance(body.get("requiresAccessToken"), bool):
        raise SourceRejected(BAD_MANIFEST.format(element="requiresAccessToken"))
    outputs = body.get("output")
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and o.get("url") for o in outputs):
        raise SourceRejected(BAD_MANIFEST.format(element="output[] with a url each"))
    return body


def _parse_instant(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


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
