"""The ``kill -USR1`` dump (``services.worker.repairs.diagnostics``): where each agent is waiting."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections import deque
from contextlib import redirect_stderr
from types import SimpleNamespace

from faust.types import TP

from services.worker.repairs import diagnostics
from services.worker.repairs.continuity import Continuity


async def _gate_agent(arrived: asyncio.Event) -> None:
    await _handle(arrived)


async def _handle(arrived: asyncio.Event) -> None:
    await arrived.wait()


async def test_the_dump_shows_each_agents_own_chain_and_what_it_had_handled() -> None:
    arrived = asyncio.Event()
    agent_coro = _gate_agent(arrived)
    task = asyncio.get_running_loop().create_task(agent_coro)
    await asyncio.sleep(0)  # the agent now waits inside _handle
    continuity = Continuity("gate")
    handled = {"consent": 1}  # nothing yet in intake.health
    continuity.stalled([TP("consent", 3), TP("intake.health", 1)], lambda tp: 9, lambda t, _p: handled.get(t, -1))
    app = SimpleNamespace(agents={"gate_agent": SimpleNamespace(_actors=[SimpleNamespace(it=agent_coro)])})

    out = io.StringIO()
    with redirect_stderr(out):
        diagnostics.dump(app)
    arrived.set()
    await task

    text = out.getvalue()
    agent_part = text[text.index("--- agent gate_agent"):]
    assert "_gate_agent" in agent_part and "_handle" in agent_part  # the chain into the handler
    assert "agent gate admitted=0 handling=0" in text
    assert "handled_at_last_look: consent[3]=1\n" in text  # intake.health[1] handled nothing yet


async def test_the_dump_shows_a_batch_stranded_without_a_leader() -> None:
    """The 3 December failure: a gate output queued for a topic the producer's metadata lost."""
    shared = TP("shared", 1)
    known = {"kronobarn-gate-tick": {0, 1, 2, 3}}
    cluster = SimpleNamespace(topics=lambda: set(known), partitions_for_topic=known.get,
                              leader_for_partition=lambda tp: 111 if tp.topic in known else None)
    producer = SimpleNamespace(
        _sender=SimpleNamespace(_in_flight=set(), _muted_partitions=set()),
        _message_accumulator=SimpleNamespace(
            _pending_batches=set(),
            _batches={shared: deque([SimpleNamespace(_ctime=time.monotonic() - 60, _retry_count=0)])}),
        client=SimpleNamespace(_topics={"kronobarn-gate-tick"}, _md_update_fut=None, cluster=cluster))
    app = SimpleNamespace(agents={}, producer=SimpleNamespace(_producer=producer))

    out = io.StringIO()
    with redirect_stderr(out):
        diagnostics.dump(app)

    text = out.getvalue()
    assert "producer in_flight_nodes=[] muted=[] pending_batches=0" in text
    assert "tracks=['kronobarn-gate-tick'] knows=['kronobarn-gate-tick'] updating=False" in text
    assert re.search(r"queued shared\[1\] batches=1 oldest_age_s=6\d\.\d retries=0 leader=None known_partitions=None",
                     text)
