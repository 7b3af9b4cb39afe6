"""The bench's CPU meter: /proc parsing, and shares that leave out what cannot be read."""

from __future__ import annotations

import os
import time

from services.dev.bench.cpu import CpuMeter, cpu_seconds, describe, parse_stat

PID_NEVER_USED = 2**22 + 1  # above Linux's largest pid_max
TICKS = os.sysconf("SC_CLK_TCK")


def test_parse_stat_reads_user_and_system_time_past_an_awkward_name() -> None:
    stat = b"4242 (tansu) (x y) S 1 4242 4242 0 -1 4194560 10 0 0 0 " + f"{3 * TICKS} {2 * TICKS}".encode() + b" 0 0 20 0"
    assert parse_stat(stat) == 5.0


def test_parse_stat_of_a_truncated_line_is_none() -> None:
    assert parse_stat(b"4242 (tansu) S 1") is None


def test_own_cpu_time_grows_with_work() -> None:
    before = cpu_seconds(os.getpid())
    assert before is not None
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    after = cpu_seconds(os.getpid())
    assert after is not None and after > before


def test_meter_leaves_out_processes_it_cannot_read() -> None:
    meter = CpuMeter({"self": os.getpid(), "gone": PID_NEVER_USED, "not started": None})
    meter.start()
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    cores = meter.cores()
    assert set(cores) == {"self"} and cores["self"] > 0


def test_meter_not_started_reports_nothing() -> None:
    assert CpuMeter({"self": os.getpid()}).cores() == {}


def test_describe_names_each_share_and_the_cores_there_are() -> None:
    assert describe({"broker": 1.04, "gate worker": 0.5}, 2) == "broker 1.04, gate worker 0.50 (cores, of 2)"
    assert describe({}, 2) == ""
