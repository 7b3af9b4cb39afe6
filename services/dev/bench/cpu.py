"""Where the cores go during a bench phase: CPU time of named processes over a window.

A latency above target on these 2-core machines is usually a question of who had the cores,
so the gate's latency phase reports the broker's, the gate worker's and the bench's own share
(each in cores: CPU seconds per wall second, threads added up). Read from ``/proc``; where
that is missing (not Linux) or a process is gone, its share is left out rather than guessed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of ``pid`` so far (all its threads), or None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return parse_stat(f.read())
    except OSError:
        return None


def parse_stat(stat: bytes) -> float | None:
    """CPU seconds from the text of ``/proc/PID/stat`` (see proc(5))."""
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14 and 15
    except (IndexError, ValueError):
        return None


class CpuMeter:
    """``start()``, do the work, then ``cores()``: each named process's CPU per wall second."""

    def __init__(self, pids: Mapping[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self._start: dict[str, float] = {}
        self._at = 0.0

    def start(self) -> None:
        self._at = time.monotonic()
        self._start = {name: s for name, pid in self.pids.items() if (s := cpu_seconds(pid)) is not None}

    def cores(self) -> dict[str, float]:
        wall = time.monotonic() - self._at
        if not self._start or wall <= 0:
            return {}
        out = {}
        for name, before in self._start.items():
            now = cpu_seconds(self.pids[name])
            if now is not None:
                out[name] = round((now - before) / wall, 2)
        return out


def describe(cores: Mapping[str, float], cpus: int) -> str:
    """``"broker 1.05, gate worker 0.52 (cores, of 2)"``; empty when nothing was measured."""
    if not cores:
        return ""
    return ", ".join(f"{name} {used:.2f}" for name, used in cores.items()) + f" (cores, of {cpus})"
