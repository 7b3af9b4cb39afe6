"""Plan-page latency (DESIGN §8): p50/p99 of ``GET /children/{id}`` at a fixed offered rate.

The read model is the synthetic county (``plan_county``, 45,000 children by default) in a
SQLite file in a temporary directory. The web service is the real one,
``services.api.app.create_app``, served by uvicorn in ``SERVERS`` processes accepting on one
socket (``plan_server``; replicas behind one address, as in production), with the dev
identity provider and a publish port that drops the access events (the bench measures the
page, not Kafka).

The load is open-loop (``plan_load``, an aiohttp client in its own process, so it does not
share the server's interpreter lock): request *i* is sent at ``start + i / rate`` whether or
not earlier ones have answered, and its latency is taken from that scheduled moment. Each
request is for a random child in the scope of a random dev coordinator (a child whose named
person is the coordinator's organisation), with that coordinator's token. A short warm-up at a
quarter of the rate comes first. Target: p99 ≤ 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from rich.progress import Progress
from sqlalchemy import Engine, select

from projections.read_model import children as children_table
from services.api.auth.devlogin import DevIdentityProvider, dev_users
from services.dev.bench.plan_county import fill_read_model
from services.dev.bench.report import Latency
from services.readmodel.replay import usable_cores
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.worker.process import hub_env, running

RATE = 200  # requests per second
SECONDS = 20.0
TARGET_P99_MS = 100.0
WARM_UP_REQUESTS = 200
MAX_TRANSPORT_FAILURES = 0.001  # a share of requests; any answer other than 200 fails the bench
LOAD_GRACE_S = 60.0  # for the client to start and the last answers to come back
SEED = 8080
FAILED = "{failed} of {sent} plan-page requests failed (first: {first}); the bench measures only answered pages"
LOAD_FAILED = "the load generator exited with code {code}; its log: {log}"
TOO_SLOW = "the load generator did not finish within {timeout:.0f} s (the server fell far behind); its log: {log}"
SERVERS = 2  # one per core: the interpreter lock would hold one process to one core
SERVER_START_S = 60.0
SERVER_DID_NOT_START = "the plan-page servers did not answer within {timeout:.0f} s; a log: {log}"
NO_SCOPE = "no dev coordinator has a child in scope in the synthetic county"


@contextlib.contextmanager
def serving(settings: Settings, key_file: Path, tmp: Path, servers: int = SERVERS) -> Iterator[str]:
    """``servers`` processes of the web service accepting on one listening socket; yields its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    listener.set_inheritable(True)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = hub_env(settings, dev_login="true", bench_dev_key_file=str(key_file))
    args = [sys.executable, "-m", "services.dev.bench.plan_server", str(listener.fileno())]
    with contextlib.ExitStack() as stack:
        procs = [stack.enter_context(running(args, env, tmp / f"server-{n}.log", "a plan-page server", pass_fds=(listener.fileno(),)))
                 for n in range(servers)]
        listener.close()  # the servers hold it now
        deadline = time.monotonic() + SERVER_START_S
        while not _answers(url):
            for proc in procs:
                proc.check()
            if time.monotonic() > deadline:
                raise RuntimeError(SERVER_DID_NOT_START.format(timeout=SERVER_START_S, log=procs[0].log))
            time.sleep(0.2)
        yield url


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/openapi.json", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _requests(engine: Engine, identity: DevIdentityProvider, count: int) -> list[tuple[str, str]]:
    """``count`` (path, token) pairs: random dev coordinators, each asking for a child in its scope."""
    coordinators = {u.organisation_id: u for u in dev_users() if u.role == "coordinator"}
    with engine.connect() as c:
        rows = c.execute(select(children_table.c.child_id, children_table.c.named_person_org)
                         .where(children_table.c.named_person_org.in_(list(coordinators)))).all()
    scope: dict[str, list[str]] = {}
    for child_id, org in rows:
        scope.setdefault(org, []).append(child_id)
    if not scope:
        raise RuntimeError(NO_SCOPE)
    tokens = {org: identity.issue(coordinators[org], ttl=dt.timedelta(hours=1)) for org in scope}
    orgs = sorted(scope)
    rng = random.Random(SEED)
    out = []
    for _ in range(count):
        org = rng.choice(orgs)
        out.append((f"/children/{rng.choice(scope[org])}", tokens[org]))
    return out


async def _load(base_url: str, requests: list[tuple[str, str]], rate: float, tmp: Path) -> tuple[list[float], list[str]]:
    """Run the open-loop client (``plan_load``) in its own process and read back what it measured."""
    plan, out = tmp / f"load-{rate:g}.json", tmp / f"measured-{rate:g}.json"
    plan.write_text(json.dumps({"base_url": base_url, "rate": rate, "requests": requests}))
    args = [sys.executable, "-m", "services.dev.bench.plan_load", str(plan), str(out)]
    allowed = len(requests) / rate + LOAD_GRACE_S
    deadline = time.monotonic() + allowed
    with running(args, dict(os.environ), tmp / "load.log", "the plan-page load generator") as process:
        while process.proc.poll() is None:
            if time.monotonic() > deadline:
                raise RuntimeError(TOO_SLOW.format(timeout=allowed, log=process.log))
            await asyncio.sleep(0.1)
        if process.proc.returncode != 0:
            raise RuntimeError(LOAD_FAILED.format(code=process.proc.returncode, log=process.log))
    measured = json.loads(out.read_text())
    return measured["latencies_ms"], measured["failures"]


async def plan_page_latency(settings: Settings, progress: Progress, *, children: int = 45_000, rate: float = RATE,
                            seconds: float = SECONDS) -> Latency:
    """Build the county's read model, serve the web service over it, and measure the plan page."""
    total = int(rate * seconds)
    load_before = os.getloadavg()[0]  # before our own work: how busy others keep the machine
    task = progress.add_task(f"plan page: read model of {children:,} children", total=None)
    with tempfile.TemporaryDirectory(prefix="kronobarn-plan-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'readmodel.db'}"
        engine = make_engine(url)
        try:
            migrate(engine)
            await asyncio.to_thread(fill_read_model, engine, settings, children)
            dev = settings.model_copy(update={"env": "dev", "dev_login": True, "database_url": url})
            key_file = Path(tmp) / "devlogin.pem"
            identity = DevIdentityProvider(dev, key_file=key_file)  # creates the key the app then loads
            warm_up = _requests(engine, identity, WARM_UP_REQUESTS)
            measured = _requests(engine, identity, total)
            with serving(dev, key_file, Path(tmp)) as url:
                progress.update(task, description="plan page: warm-up")
                await _load(url, warm_up, rate / 4, Path(tmp))
                progress.update(task, description=f"plan page: {rate:,.0f} requests/s for {seconds:.0f} s")
                latencies, failures = await _load(url, measured, rate, Path(tmp))
        finally:
            engine.dispose()
    refused = [f for f in failures if f.startswith("HTTP")]
    if refused or len(failures) > total * MAX_TRANSPORT_FAILURES:
        raise RuntimeError(FAILED.format(failed=len(failures), sent=total, first=(refused or failures)[0]))
    q = statistics.quantiles(latencies, n=100)
    # The target is absolute, so say how busy the machine was: other work competes for the cores.
    measure = (f"plan page GET /children/{{id}}, {children:,} children "
               f"(load avg {load_before:.1f} on {usable_cores()} cpus"
               + (f"; {len(failures)} transport errors" if failures else "") + ")")
    return Latency(measure, rate, len(latencies), q[49], q[98], TARGET_P99_MS)

