"""HTTP for adapters: OAuth2 client credentials, bearer calls, and errors the runner understands.

Connection errors, time-outs and 5xx become ``SourceUnavailable`` (the runner backs off and
retries from its checkpoint). A 401 fetches a fresh token once and retries; a second 401, or
any other 4xx, is a configuration problem and raises ``SourceRejected`` with the status only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors.base import SourceUnavailable

UNREACHABLE = "{system} unreachable: {error}"
SERVER_ERROR = "{system} answered {status}"
REJECTED = "{system} rejected the request: HTTP {status} on {path}"
MISSING_KEY = "[source] needs {key!r}"


class SourceRejected(Exception):
    """The source refused us (bad credentials, bad URL): retrying will not help."""


def required(source: Mapping[str, Any], key: str) -> Any:
    value = source.get(key)
    if value in (None, ""):
        raise ValueError(MISSING_KEY.format(key=key))
    return value


class TokenClient:
    def __init__(self, system: str, base_url: str, token_url: str, client_id: str, client_secret: str,
                 timeout_s: float = 15.0) -> None:
        self.system = system
        self._token_url = token_url
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", timeout=timeout_s)
        self._token: str | None = None

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        for attempt in (1, 2):
            if self._token is None:
                self._token = await self._fetch_token()
            response = await self._send(path, params)
            if response.status_code == 401 and attempt == 1:
                self._token = None  # expired or revoked: one fresh token, then give up
                continue
            return self._checked(response, path).json()
        raise AssertionError("unreachable")

    async def _fetch_token(self) -> str:
        try:
            response = await self._http.post(self._token_url, data=self._form)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(UNREACHABLE.format(system=self.system, error=type(exc).__name__)) from None
        return str(self._checked(response, "token").json()["access_token"])

    async def _send(self, path: str, params: Mapping[str, Any] | None) -> httpx.Response:
        try:
            # An empty params dict would make httpx drop the query of a server's ``next`` link.
            return await self._http.get(path.lstrip("/"), params=params or None,
                                        headers={"Authorization": f"Bearer {self._token}"})
        except httpx.HTTPError as exc:
            raise SourceUnavailable(UNREACHABLE.format(system=self.system, error=type(exc).__name__)) from None

    def _checked(self, response: httpx.Response, path: str) -> httpx.Response:
        if response.status_code >= 500:
            raise SourceUnavailable(SERVER_ERROR.format(system=self.system, status=response.status_code))
        if response.status_code >= 400:
            raise SourceRejected(REJECTED.format(system=self.system, status=response.status_code, path=path))
        return response

    async def aclose(self) -> None:
        await self._http.aclose()
