"""The helper processes of a parallel ``kronobarn replay``, and the one progress display they share.

Each helper runs ``target(connection, job)`` in a fresh interpreter (``spawn``: forking a
process that is running an event loop and holds database connections is not safe) and reports
over its pipe:

* ``("read", n)`` records read, ``("folded", children)`` when its share is folded,
  ``("written", n)`` children written, then ``("done", stats)``;
* or ``("failed", reason)``: one line, the exception's type and message.

A helper folds as soon as it starts, but writes only after this process has cleared the
tables (``cleared``). A helper that dies or fails fails the replay; leaving the ``with``
block stops any helper still running.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from rich.progress import Progress, TaskID

CLEARED = "cleared"
HELPER_FAILED = "replay helper for {what} failed: {reason}"
HELPER_DIED = "replay helper for {what} stopped without a result (exit code {code})"
NOT_CLEARED = "replay helper was told {message!r} instead of {expected!r}"
_SPAWN = multiprocessing.get_context("spawn")
_POLL_S = 0.05


class ReplayError(RuntimeError):
    """A share of the replay could not be rebuilt."""


class _Helper:
    def __init__(self, process: BaseProcess, connection: Connection, what: str) -> None:
        self.process, self.connection, self.what = process, connection, what
        self.result: Any = None


class Helpers:
    """Starts one helper per job, relays their progress, and collects their results."""

    def __init__(self, target: Callable[[Connection, Any], None], jobs: list[tuple[str, Any]], total: int,
                 progress: Progress | None) -> None:
        self.progress = progress
        self.reading = progress.add_task("reading the log", total=total) if progress else None
        self.writing: TaskID | None = None
        self.to_write = 0
        self.pending = len(jobs) + 1  # shares still reading, this process's own among them
        self.read_done_at = time.monotonic()
        self._helpers: list[_Helper] = []
        for what, job in jobs:
            ours, theirs = _SPAWN.Pipe()
            process = _SPAWN.Process(target=target, args=(theirs, job), name=f"kronobarn-replay {what}", daemon=True)
            process.start()
            theirs.close()
            self._helpers.append(_Helper(process, ours, what))

    def __enter__(self) -> Helpers:
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._helpers:
            if h.process.is_alive():
                h.process.terminate()
            h.process.join(timeout=10)
            h.connection.close()

    # -- this process's own share ---------------------------------------------------------

    def cleared(self) -> None:
        """The tables are empty: helpers may write."""
        for h in self._helpers:
            h.connection.send(CLEARED)

    def read(self, records: int) -> None:
        self._advance(self.reading, records)
        self._drain()

    def folded(self, children: int) -> None:
        self._folded(children)
        self._drain()

    def written(self, children: int) -> None:
        self._advance(self.writing, children)
        self._drain()

    async def finish(self) -> list[Any]:
        """Wait for every helper's result (in job order)."""
        while any(h.result is None for h in self._helpers):
            self._drain()
            for h in self._helpers:
                if h.result is None and not h.process.is_alive() and not h.connection.poll():
                    raise ReplayError(HELPER_DIED.format(what=h.what, code=h.process.exitcode))
            await asyncio.sleep(_POLL_S)
        return [h.result for h in self._helpers]

    # -- messages -------------------------------------------------------------------------

    def _drain(self) -> None:
        for h in self._helpers:
            while h.result is None and h.connection.poll():
                try:
                    kind, value = h.connection.recv()
                except EOFError:
                    break  # it exited; ``finish`` reports it
                if kind == "read":
                    self._advance(self.reading, value)
                elif kind == "folded":
                    self._folded(value)
                elif kind == "written":
                    self._advance(self.writing, value)
                elif kind == "done":
                    h.result = value
                else:
                    raise ReplayError(HELPER_FAILED.format(what=h.what, reason=value))

    def _folded(self, children: int) -> None:
        self.pending -= 1
        self.to_write += children
        if self.pending == 0:
            self.read_done_at = time.monotonic()
        if self.progress:
            if self.writing is None:  # its total is known once every share is folded
                self.writing = self.progress.add_task("writing the read model", total=None)
            if self.pending == 0:
                self.progress.update(self.writing, total=self.to_write)

    def _advance(self, task: TaskID | None, n: int) -> None:
        if self.progress and task is not None:
            self.progress.advance(task, n)


def wait_until_cleared(connection: Connection) -> None:
    """In a helper: block until the parent has cleared the tables."""
    message = connection.recv()
    if message != CLEARED:
        raise ReplayError(NOT_CLEARED.format(message=message, expected=CLEARED))
