"""``FromTrustedProxy``: the scheme, host and client a configured proxy forwards, and nobody else's."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest

from services.api.proxies import FromTrustedProxy

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"))


def seen(peer: str, headers: dict[str, str]) -> dict[str, Any]:
    """The scope the app behind the middleware sees, for a request from ``peer``."""
    got: dict[str, Any] = {}

    async def app(scope: Any, _receive: Any, _send: Any) -> None:
        got.update(scope)

    scope = {"type": "http", "scheme": "http", "client": (peer, 5000),
             "headers": [(b"host", b"10.0.0.2:8000")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(FromTrustedProxy(app, TRUSTED)(scope, None, None))  # type: ignore[arg-type]
    return {"scheme": got["scheme"], "client": got["client"][0],
            "host": [v.decode() for k, v in got["headers"] if k == b"host"]}


def reference_client(peer: str, forwarded_for: str) -> str:
    """The address a request is counted under: the last hop that is not a trusted proxy."""
    if not any(ipaddress.ip_address(peer) in n for n in TRUSTED):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    untrusted = [h for h in hops if not any(ipaddress.ip_address(h) in n for n in TRUSTED)]
    return untrusted[-1] if untrusted else peer


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "barnensplan.example.se"}


def test_a_configured_proxy_is_believed() -> None:
    assert seen("10.1.1.1", FORWARDED) == {"scheme": "https", "client": "10.1.1.1", "host": ["barnensplan.example.se"]}
    assert seen("2001:db8::5", FORWARDED)["host"] == ["barnensplan.example.se"]


@pytest.mark.parametrize("peer", ["192.0.2.9", "11.0.0.1", "2001:db9::1"])
def test_anyone_else_is_not(peer: str) -> None:
    assert seen(peer, {**FORWARDED, "X-Forwarded-For": "198.51.100.4"}) == {
        "scheme": "http", "client": peer, "host": ["10.0.0.2:8000"]}


def test_of_a_list_the_entry_our_proxy_wrote_counts() -> None:
    got = seen("10.1.1.1", {"X-Forwarded-Proto": "ftp, https", "X-Forwarded-Host": "evil.example, barnensplan.example.se"})
    assert got["scheme"] == "https" and got["host"] == ["barnensplan.example.se"]
    assert seen("10.1.1.1", {"X-Forwarded-Proto": "gopher"})["scheme"] == "http"  # not a scheme of ours


@pytest.mark.parametrize("forwarded_for", ["198.51.100.4", "203.0.113.9, 198.51.100.4", "198.51.100.4, 10.2.2.2",
                                           "203.0.113.9, 198.51.100.4, 10.2.2.2, 10.3.3.3", "10.2.2.2", "", " , "])
@pytest.mark.parametrize("peer", ["10.1.1.1", "192.0.2.9"])
def test_the_client_is_the_last_hop_that_is_not_a_proxy(peer: str, forwarded_for: str) -> None:
    assert seen(peer, {"X-Forwarded-For": forwarded_for})["client"] == reference_client(peer, forwarded_for)
