"""``kill -USR1 <worker>``: what a worker that seems stuck is waiting for, written to stderr.

Every asyncio task's chain of awaits (on the worker's loop and on the loop of Faust's consumer
thread); each agent's own chain (its task shows only Faust's wrapper) with the offsets it had
handled per partition at its last stall check; the producer's queued batches and the topics
its metadata covers; and where the consumer stands per partition: Faust's paused and active
partitions, aiokafka's fetch positions and buffered records. Function names, line numbers,
topic names, counts and offsets only, never a value, so no personal data leaves this way.
Faust and aiokafka internals are read with defaults: a version that moved them gives a shorter
dump, not a crash.
"""

from __future__ import annotations

import asyncio
import io
import signal
import sys
import time
from typing import Any

from services.worker.repairs.continuity import live_continuities

MAX_DEPTH = 40


def install(app: Any) -> None:
    """Register the handler; call from a task running on the worker's loop."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump, app)


def dump(app: Any) -> None:
    out = io.StringIO()
    _tasks(out, asyncio.all_tasks(), "")
    _agents(out, app)
    _producer(out, getattr(getattr(app, "producer", None), "_producer", None))
    consumer = getattr(app, "consumer", None)
    if consumer is not None:
        _consumer(out, consumer)
    sys.stderr.write(out.getvalue())
    sys.stderr.flush()


def _tasks(out: io.StringIO, tasks: Any, prefix: str) -> None:
    for task in tasks:
        out.write(f"--- {prefix}{task.get_name()}\n")
        _chain(out, task.get_coro())


def _chain(out: io.StringIO, awaited: Any) -> None:
    for _ in range(MAX_DEPTH):  # outermost first
        frame = (getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
                 or getattr(awaited, "gi_frame", None))
        if frame is None:
            out.write(f"    awaiting {type(awaited).__name__}\n")
            return
        out.write(f"    {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}\n")
        awaited = (getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
                   or getattr(awaited, "gi_yieldfrom", None))
        if awaited is None:
            return


def _agents(out: io.StringIO, app: Any) -> None:
    agents = getattr(app, "agents", {})
    for name, agent in sorted(getattr(agents, "items", dict)()):
        for actor in list(getattr(agent, "_actors", ())):
            out.write(f"--- agent {name}\n")
            _chain(out, getattr(actor, "it", None))  # the agent's own coroutine
    for continuity in live_continuities():
        handled = " ".join(f"{t}[{p}]={o}" for (t, p), o in sorted(continuity.looked.items()) if o >= 0)
        out.write(f"agent {continuity.agent} admitted={continuity.admitted} handling={continuity.handling} "
                  f"holes={sorted(continuity.holes.items())} handled_at_last_look: {handled or 'none'}\n")


def _names(tps: Any) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in tps or ())


def _producer(out: io.StringIO, producer: Any) -> None:
    """aiokafka's send side: a produce request in flight holds every later batch to that broker."""
    sender = getattr(producer, "_sender", None)
    accumulator = getattr(producer, "_message_accumulator", None)
    if sender is None or accumulator is None:
        return
    out.write(f"producer in_flight_nodes={sorted(getattr(sender, '_in_flight', ()))} "
              f"muted={_names(getattr(sender, '_muted_partitions', ()))} "
              f"pending_batches={len(getattr(accumulator, '_pending_batches', ()))}\n")
    client = getattr(producer, "client", None)
    cluster = getattr(client, "cluster", None)
    if cluster is not None:
        out.write(f"producer metadata tracks={sorted(getattr(client, '_topics', ()))} "
                  f"knows={sorted(cluster.topics())} updating={getattr(client, '_md_update_fut', None) is not None}\n")
    now = time.monotonic()
    for tp, batches in sorted(getattr(accumulator, "_batches", {}).items()):
        if batches:
            first = batches[0]
            leader = cluster.leader_for_partition(tp) if cluster is not None else "?"
            known = cluster.partitions_for_topic(tp.topic) if cluster is not None else "?"
            out.write(f"  queued {tp.topic}[{tp.partition}] batches={len(batches)} "
                      f"oldest_age_s={now - getattr(first, '_ctime', now):.1f} "
                      f"retries={getattr(first, '_retry_count', '?')} leader={leader} "
                      f"known_partitions={sorted(known) if isinstance(known, set) else known}\n")


def _consumer(out: io.StringIO, consumer: Any) -> None:
    out.write(f"faust flow_active={getattr(consumer, 'flow_active', '?')} "
              f"paused={_names(getattr(consumer, '_paused_partitions', ()))}\n")
    out.write(f"faust active={_names(getattr(consumer, '_active_partitions', ()))}\n")
    thread = getattr(consumer, "_thread", None)
    inner = getattr(thread, "_consumer", None)
    fetcher = getattr(inner, "_fetcher", None)
    if fetcher is not None:
        out.write(f"aiokafka buffered={_names(getattr(fetcher, '_records', {}).keys())} "
                  f"in_flight={getattr(fetcher, '_in_flight', '?')}\n")
    subscription = getattr(getattr(inner, "_subscription", None), "subscription", None)
    assignment = getattr(subscription, "assignment", None)
    read = getattr(consumer, "_read_offset", {})  # Faust's: the last offset it passed on, per partition
    for tp in sorted(getattr(assignment, "tps", ())):
        state = assignment.state_value(tp)
        position = getattr(state, "_position", None) if state.has_valid_position else None
        out.write(f"  {tp.topic}[{tp.partition}] position={position} highwater={state.highwater} "
                  f"faust_read={read.get(tp)} paused={state.paused}\n")
    loop = getattr(thread, "thread_loop", None)
    if loop is not None:
        _tasks(out, asyncio.all_tasks(loop), "consumer thread: ")
