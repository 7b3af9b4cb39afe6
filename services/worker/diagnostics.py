"""``kill -USR1 <worker>``: what a worker that seems stuck is waiting for, written to stderr.

Every asyncio task's chain of awaits (on the worker's loop and on the loop of Faust's consumer
thread) and where the consumer stands per partition: Faust's paused and active partitions,
aiokafka's fetch positions and buffered records. Function names, line numbers, topic names
and offsets only, never a value, so no personal data leaves this way. Faust and aiokafka
internals are read with defaults: a version that moved them gives a shorter dump, not a crash.
"""

from __future__ import annotations

import asyncio
import io
import signal
import sys
from typing import Any

MAX_DEPTH = 40


def install(app: Any) -> None:
    """Register the handler; call from a task running on the worker's loop."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump, app)


def dump(app: Any) -> None:
    out = io.StringIO()
    _tasks(out, asyncio.all_tasks(), "")
    consumer = getattr(app, "consumer", None)
    if consumer is not None:
        _consumer(out, consumer)
    sys.stderr.write(out.getvalue())
    sys.stderr.flush()


def _tasks(out: io.StringIO, tasks: Any, prefix: str) -> None:
    for task in tasks:
        out.write(f"--- {prefix}{task.get_name()}\n")
        awaited: Any = task.get_coro()
        for _ in range(MAX_DEPTH):  # outermost first
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is None:
                out.write(f"    awaiting {type(awaited).__name__}\n")
                break
            out.write(f"    {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}\n")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
            if awaited is None:
                break


def _consumer(out: io.StringIO, consumer: Any) -> None:
    names = lambda tps: sorted(f"{tp.topic}[{tp.partition}]" for tp in tps or ())
    out.write(f"faust flow_active={getattr(consumer, 'flow_active', '?')} "
              f"paused={names(getattr(consumer, '_paused_partitions', ()))}\n")
    out.write(f"faust active={names(getattr(consumer, '_active_partitions', ()))}\n")
    thread = getattr(consumer, "_thread", None)
    inner = getattr(thread, "_consumer", None)
    fetcher = getattr(inner, "_fetcher", None)
    if fetcher is not None:
        out.write(f"aiokafka buffered={names(getattr(fetcher, '_records', {}).keys())} "
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
