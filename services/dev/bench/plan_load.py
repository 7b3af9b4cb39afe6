"""The plan-page bench's load generator: an open-loop aiohttp client on uvloop, in its own process.

Run as ``python -m services.dev.bench.plan_load PLAN OUT``. ``PLAN`` is JSON with the server's
``base_url``, the offered ``rate`` and the ``requests`` as ``[path, token]`` pairs; ``OUT``
receives the latencies (ms) of answered requests and the failures. Its own process, so the
client's work does not compete with the server under test for one interpreter lock.

Open loop: request *i* goes out at ``start + i / rate`` whether or not earlier ones have
answered, and its latency runs from that scheduled moment, so a server falling behind shows
up as latency instead of slowing the load down (no coordinated omission).

aiohttp rather than httpx: at 200 requests/s httpx's async client used a whole core on its
own and became the bottleneck it was meant to measure.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
import uvloop

MAX_CONNECTIONS = 256
# Below uvicorn's keep-alive timeout (5 s): reusing a connection the server is closing just then
# fails with an error that says nothing about the server.
KEEPALIVE_S = 2.0
TIMEOUT_S = 30.0
START_DELAY_S = 0.05


async def open_loop(base_url: str, requests: list[tuple[str, str]], rate: float) -> tuple[list[float], list[str]]:
    """Send each request at its scheduled moment; latencies in ms from that moment, and failures."""
    latencies: list[float] = []
    failures: list[str] = []
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(base_url=base_url, connector=connector, timeout=timeout) as client:

        async def one(path: str, token: str, due: float) -> None:
            try:
                async with client.get(path, headers={"Authorization": f"Bearer {token}"}) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                failures.append(type(exc).__name__)
                return
            if status == 200:
                latencies.append((time.perf_counter() - due) * 1000)
            else:
                failures.append(f"HTTP {status}")

        tasks = []
        start = time.perf_counter() + START_DELAY_S
        for i, (path, token) in enumerate(requests):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(path, token, due)))
        await asyncio.gather(*tasks)
    return latencies, failures


def main(plan: Path, out: Path) -> None:
    spec = json.loads(plan.read_text())
    latencies, failures = uvloop.run(open_loop(spec["base_url"], [tuple(r) for r in spec["requests"]],
                                               spec["rate"]))
    out.write_text(json.dumps({"latencies_ms": latencies, "failures": failures}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
