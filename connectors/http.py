"""HTTP for adapters: OAuth2 client credentials, bearer calls, and errors the runner understands.

Connection errors (a reset mid-answer too), time-outs, 5xx and 429 become ``SourceUnavailable``:
the runner backs off and retries from its checkpoint, no sooner than a ``Retry-After`` the source
sent (seconds or an HTTP date, RFC 9110 §10.2.3). A 401 fetches a fresh token once and retries --
a token that expires mid-paging costs one request; a second 401, or any other 4xx, is a
configuration problem and raises ``SourceRejected`` with the status only.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from connectors.base import SourceUnavailable

UNREACHABLE = "{system} unreachable: {error}"
SERVER_ERROR = "{system} answered {status}"
SLOW_DOWN = "{system} asked us to slow down (429)"
NOT_JSON = "{system} answered {path} with something that is not JSON"
GONE = "{system}: the file is gone (HTTP {status}); starting again from the checkpoint"
REJECTED = "{system} rejected the request: HTTP {status} on {path}"
MISSING_KEY = "[source] needs {key!r}"
BAD_TIMEOUT = "[source] timeout_s must be a positive number"
DEFAULT_TIMEOUT_S = 15.0


class SourceRejected(Exception):
    """The source refused us (bad credentials, bad URL): retrying will not help."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def required(source: Mapping[str, Any], key: str) -> Any:
    value = source.get(key)
    if value in (None, ""):
        raise ValueError(MISSING_KEY.format(key=key))
    return value


def retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date); None if
    absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        at = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return max(0.0, (at - now).total_seconds())


def timeout_of(source: Mapping[str, Any]) -> float:
    value = source.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(BAD_TIMEOUT)
    return float(value)


class TokenClient:
    @classmethod
    def from_source(cls, system: str, source: Mapping[str, Any]) -> TokenClient:
        """From a ``[source]`` table: ``url``, ``token_url``, ``client_id``, ``client_secret`` and
        ``timeout_s`` (per request, default 15)."""
        return cls(system, required(source, "url"), required(source, "token_url"), required(source, "client_id"),
                   required(source, "client_secret"), timeout_s=timeout_of(source))

    def __init__(self, system: str, base_url: str, token_url: str, client_id: str, client_secret: str,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.system = system
        self._token_url = token_url
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", timeout=timeout_s)
        self._token: str | None = None

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """A GET whose answer must be 2xx JSON; any other 4xx is ``SourceRejected``."""
        response = self.judged(await self.request("GET", path, params=params), path)
        try:
            return response.json()
        except ValueError:  # e.g. a gateway's HTML error page with 200: an outage, not our data
            raise SourceUnavailable(NOT_JSON.format(system=self.system, path=path)) from None

    async def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                      headers: Mapping[str, str] | None = None, token: bool = True) -> httpx.Response:
        """One exchange. Unreachable, 5xx and 429 are ``SourceUnavailable``; a 401 renews the
        token once. Other statuses are returned for the caller to judge (``judged``)."""
        for attempt in (1, 2):
            sent = {**(headers or {}), **(await self._authorization() if token else {})}
            try:
                # An empty params dict would make httpx drop the query of a server's ``next`` link.
                response = await self._http.request(method, url.lstrip("/"), params=params or None, headers=sent)
            except httpx.HTTPError as exc:
                raise SourceUnavailable(UNREACHABLE.format(system=self.system, error=type(exc).__name__)) from None
            if response.status_code == 401 and token and attempt == 1:
                self._token = None  # expired or revoked: one fresh token, then give up
                continue
            return self._available(response)
        raise AssertionError("unreachable")

    async def lines(self, url: str, *, token: bool = True, accept: str = "application/x-ndjson") -> AsyncIterator[str]:
        """The lines of a (large) file, streamed: never the whole file in memory. A file that is
        gone (404, 410) is an outage: the caller's run starts again from its checkpoint."""
        for attempt in (1, 2):
            sent = {"Accept": accept, **(await self._authorization() if token else {})}
            try:
                async with self._http.stream("GET", url, headers=sent) as response:
                    if response.status_code == 401 and token and attempt == 1:
                        self._token = None
                        continue
                    self._available(response)
                    if response.status_code in (404, 410):
                        raise SourceUnavailable(GONE.format(system=self.system, status=response.status_code))
                    self.judged(response, "a file")
                    async for line in response.aiter_lines():
                        yield line
                    return
            except httpx.HTTPError as exc:
                raise SourceUnavailable(UNREACHABLE.format(system=self.system, error=type(exc).__name__)) from None

    async def _authorization(self) -> dict[str, str]:
        if self._token is None:
            self._token = await self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    async def _fetch_token(self) -> str:
        try:
            response = await self._http.post(self._token_url, data=self._form)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(UNREACHABLE.format(system=self.system, error=type(exc).__name__)) from None
        return str(self.judged(self._available(response), "token").json()["access_token"])

    def _available(self, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        if status >= 500 or status == 429:
            message = SLOW_DOWN if status == 429 else SERVER_ERROR
            raise SourceUnavailable(message.format(system=self.system, status=status),
                                    retry_after(response.headers.get("retry-after"), dt.datetime.now(dt.UTC)))
        return response

    def judged(self, response: httpx.Response, path: str) -> httpx.Response:
        """``response`` if it is not a 4xx, else ``SourceRejected`` naming the status and ``path``."""
        if response.status_code >= 400:
            raise SourceRejected(REJECTED.format(system=self.system, status=response.status_code, path=path),
                                 response.status_code)
        return response

    async def aclose(self) -> None:
        await self._http.aclose()
