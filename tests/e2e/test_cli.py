"""The ``kronobarn`` command as a user runs it: in a subprocess, on embedded defaults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.broker import free_port
from services.kafka import wait_for_broker
import asyncio

KRONOBARN = str(Path(sys.executable).with_name("kronobarn"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")}
    env.update(
        KRONOBARN_BROKER_PORT=str(free_port()),
        KRONOBARN_DATABASE_URL=f"sqlite:///{tmp_path}/hub.db",
        **extra,
    )
    return env


def test_demo_round_trips_every_event_and_shreds(tmp_path: Path) -> None:
    done = subprocess.run([KRONOBARN, "demo"], env=_env(tmp_path, KRONOBARN_DEMO_CHILDREN="200"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count(" ok ") == 37
    assert "MISMATCH" not in done.stdout
    assert "reads as ERASED" in done.stdout
    assert "Testbarn" not in done.stdout + done.stderr  # sealed names never printed
    assert "Intake topics filled by the connectors" in done.stdout
    for name in ("health", "school", "social", "population"):
        row = next(line for line in done.stdout.splitlines() if line.startswith(f"│ {name}"))
        events = int(row.split("│")[3].strip().replace(",", ""))
        assert events > 0, row


def test_broker_command_serves_until_sigterm(tmp_path: Path) -> None:
    env = _env(tmp_path)
    proc = subprocess.Popen([KRONOBARN, "broker"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert "listening on 127.0.0.1:" in line
        asyncio.run(wait_for_broker(f"127.0.0.1:{env['KRONOBARN_BROKER_PORT']}", timeout_s=10))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    # The broker subprocess went with it: its port is free again.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            asyncio.run(wait_for_broker(f"127.0.0.1:{env['KRONOBARN_BROKER_PORT']}", timeout_s=0.5))
        except ConnectionError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("broker still answering after kronobarn broker stopped")


def test_bench_prints_ratios_and_writes_json(tmp_path: Path) -> None:
    done = subprocess.run([KRONOBARN, "bench", "--events", "3000", "--repeats", "1"], env=_env(tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "var" / "bench" / "LATEST.json").read_text())
    measures = {row["measure"]: row for row in result["rows"]}
    assert {"encode (in memory)", "decode (in memory)", "produce", "consume", "consume + decode"} <= set(measures)
    for row in measures.values():
        assert row["baseline_rate"] > 0 and row["candidate_rate"] > 0
        assert row["ratio"] == row["candidate_rate"] / row["baseline_rate"]
        assert f"{row['ratio']:.2f}×" in done.stdout


def test_topics_and_schemas_listings() -> None:
    topics = subprocess.run([KRONOBARN, "topics", "list"], capture_output=True, text=True, timeout=60)
    assert topics.returncode == 0 and "intake.health" in topics.stdout and "deadletter" in topics.stdout
    schemas = subprocess.run([KRONOBARN, "schemas", "list"], capture_output=True, text=True, timeout=60)
    assert schemas.returncode == 0 and "ConsentGranted" in schemas.stdout


def test_erase_requires_a_reason_and_a_uuid(tmp_path: Path) -> None:
    env = _env(tmp_path)
    subprocess.run([KRONOBARN, "db", "migrate"], env=env, check=True, capture_output=True, timeout=60)
    no_reason = subprocess.run([KRONOBARN, "keys", "erase", "0b1c7f6e-3f3a-4a77-9d43-1a6b2f9a0c11"],
                               env=env, capture_output=True, text=True, timeout=60)
    assert no_reason.returncode != 0 and "--reason" in no_reason.stderr
    bad_id = subprocess.run([KRONOBARN, "keys", "erase", "not-a-uuid", "--reason", "TEST"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert bad_id.returncode != 0 and "UUID" in bad_id.stderr
    ok = subprocess.run([KRONOBARN, "keys", "erase", "0b1c7f6e-3f3a-4a77-9d43-1a6b2f9a0c11", "--reason", "TEST"],
                        env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "marked erased" in ok.stdout
