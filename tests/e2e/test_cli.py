"""The ``kronobarn`` command as a user runs it: in a subprocess, on embedded defaults."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.kafka.broker import free_port
from services.kafka.clients import wait_for_broker

KRONOBARN = str(Path(sys.executable).with_name("kronobarn"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")}
    env.update(
        KRONOBARN_BROKER_PORT=str(free_port()),
        KRONOBARN_DATABASE_URL=f"sqlite:///{tmp_path}/hub.db",
        **extra,
    )
    return env


def _count(stdout: str, label: str) -> int:
    """The count column of the demo table row that starts with ``label``."""
    row = next(line for line in stdout.splitlines() if line.startswith(f"│ {label}"))
    return int(row.split("│")[2].strip().replace(",", ""))


def test_demo_round_trips_every_event_and_shreds(tmp_path: Path) -> None:
    done = subprocess.run([KRONOBARN, "demo"], env=_env(tmp_path, KRONOBARN_DEMO_CHILDREN="100"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    from schemas.events import EVENT_TYPES

    assert done.stdout.split("Crypto-shredding")[0].count(" ok ") == len(EVENT_TYPES)  # one row per event type
    assert "MISMATCH" not in done.stdout
    assert "reads as ERASED" in done.stdout
    assert "Testbarn" not in done.stdout + done.stderr  # sealed names never printed
    assert "Intake topics filled by the connectors" in done.stdout
    for name in ("health", "school", "social", "population"):
        row = next(line for line in done.stdout.splitlines() if line.startswith(f"│ {name}"))
        events = int(row.split("│")[3].strip().replace(",", ""))
        assert events > 0, row
    _assert_gate_stage(done.stdout, done.stderr, tmp_path)
    _assert_merges(done.stdout)
    assert "Reports of concern filed through the hub, per municipality" in done.stdout  # issue 19
    assert "Filing to the social services' inbox" in done.stdout
    # A second demo in the same place starts from scratch: the embedded broker kept nothing.
    again = subprocess.run([KRONOBARN, "demo"], env=_env(tmp_path, KRONOBARN_DEMO_CHILDREN="100"), cwd=tmp_path,
                           capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stdout[-2000:]


def _assert_gate_stage(stdout: str, stderr: str, cwd: Path) -> None:
    """Consents, plans and the gate: every report of concern routed, invalid consents refused with
    the registry's reasons, facts released and held, none without a covering consent."""
    from services.dev.demo.plans import COMMENTS

    assert "Consent gate: what the worker let through" in stdout
    received = _count(stdout, "reports of concern received")
    assert received > 0 and _count(stdout, "reports of concern routed") == received
    assert _count(stdout, "consents granted") > 0
    assert _count(stdout, "consent requests rejected") == 20
    assert "has not granted" in stdout  # the registry's own reasons, shown
    assert _count(stdout, "facts released to shared") > 0 and _count(stdout, "facts held") > 0
    assert _count(stdout, "released without a covering consent") == 0
    assert _count(stdout, "directory facts forwarded") == _count(stdout, "intake facts: DIRECTORY")
    assert _count(stdout, "plans opened") > 0
    assert not any(text in stdout + stderr for texts in COMMENTS.values() for text in texts)  # plan text stays sealed
    assert (cwd / "var" / "demo" / "gate-worker.log").exists()


def _assert_merges(stdout: str) -> None:
    """One child, one id: the population register runs first, so the county's newborns are merged
    into their unborn ids, and the demo's own check of the merges holds."""
    text = " ".join(stdout.split())  # the console wraps long lines
    merged = re.search(r"One child, one id: ([\d,]+) newborns were seen first by personnummer", text)
    assert merged is not None and int(merged.group(1).replace(",", "")) > 0, text[-3000:]
    checked = re.search(r"Merged ids: ([\d,]+) pointers .*? under a merged id: (\S+)", text)
    assert checked is not None and checked.groups() == (merged.group(1), "ok"), text[-3000:]


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
    done = subprocess.run([KRONOBARN, "bench", "--events", "3000", "--repeats", "1", "--county", "300"], env=_env(tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "var" / "bench" / "LATEST.json").read_text())
    measures = {row["measure"]: row for row in result["rows"]}
    assert {"encode (in memory)", "decode (in memory)", "produce", "consume", "consume + decode"} <= set(measures)
    assert {"consent gate", "replay → SQLite"} <= set(measures)  # the gate on its own broker
    # The floor agent sits between the bare agent and the gate, measured in the same run.
    floor, over = measures["gate I/O floor (caps the gate's ratio)"], measures["consent gate over its I/O floor"]
    assert floor["baseline_rate"] == measures["consent gate"]["baseline_rate"]
    assert over["baseline_rate"] == floor["candidate_rate"]
    assert over["candidate_rate"] == measures["consent gate"]["candidate_rate"]
    [gate] = [lat for lat in result["latencies"] if lat["measure"].startswith("intake → shared")]
    assert {"broker", "gate worker"} <= set(gate["cpu"]) and gate["cpu"]["gate worker"] > 0  # who had the cores
    assert "intake → shared: CPU while offered, broker" in done.stdout
    [page] = [lat for lat in result["latencies"] if lat["measure"].startswith("plan page")]
    assert page["samples"] == page["rate"] * 20 and 0 < page["p50_ms"] <= page["p99_ms"]  # every request answered
    for row in measures.values():
        assert row["baseline_rate"] > 0 and row["candidate_rate"] > 0
        assert row["ratio"] == row["candidate_rate"] / row["baseline_rate"]
        assert f"{row['ratio']:.2f}×" in done.stdout
    scale = {r["standin"]: r for r in result["county_scale"]}
    assert set(scale) == {"health", "school", "social", "population"}
    assert all(r["records"] > 0 and r["peak_rss_mib"] > 0 for r in scale.values())
    assert "Scale: synthetic county of 300 children" in done.stdout


def test_topics_and_schemas_listings() -> None:
    topics = subprocess.run([KRONOBARN, "topics", "list"], capture_output=True, text=True, timeout=60)
    assert topics.returncode == 0 and "intake.health" in topics.stdout and "deadletter" in topics.stdout
    schemas = subprocess.run([KRONOBARN, "schemas", "list"], capture_output=True, text=True, timeout=60)
    assert schemas.returncode == 0 and "ConsentGranted" in schemas.stdout


def test_erase_refuses_without_a_reason_a_justification_or_a_known_child(tmp_path: Path) -> None:
    env = _env(tmp_path)
    subprocess.run([KRONOBARN, "db", "migrate"], env=env, check=True, capture_output=True, timeout=60)
    child = "0b1c7f6e-3f3a-4a77-9d43-1a6b2f9a0c11"

    def erase(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KRONOBARN, "keys", "erase", *args], env=env, capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)

    no_reason = erase(child, "--justification", "x")
    assert no_reason.returncode != 0 and "--reason" in no_reason.stderr
    no_why = erase(child, "--reason", "GDPR_ART17")
    assert no_why.returncode != 0 and "--justification" in no_why.stderr
    bad_id = erase("not-a-uuid", "--reason", "GDPR_ART17", "--justification", "x")
    assert bad_id.returncode != 0 and "UUID" in bad_id.stderr
    # Refused before anything is published or deleted, so no broker is needed to say so.
    bad_reason = erase(child, "--reason", "TEST", "--justification", "x")
    assert bad_reason.returncode == 2 and "unknown reason code" in bad_reason.stderr
    unknown = erase(child, "--reason", "GDPR_ART17", "--justification", "Begäran.")
    assert unknown.returncode == 2 and "holds nothing about child" in unknown.stderr


def test_erase_deletes_the_key_and_logs_the_erasure_on_the_access_topic(tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from schemas.codec import Codec
    from schemas.events import ChildDataErased
    from services.settings import Settings
    from services.sql.db import make_engine, migrate
    from services.sql.keystore import SqlKeyStore, dev_master_key
    from tests.support.kafka import read_all

    env = _env(tmp_path, KRONOBARN_KAFKA_BOOTSTRAP=broker.bootstrap)
    engine = make_engine(env["KRONOBARN_DATABASE_URL"])
    migrate(engine)
    keys, child = SqlKeyStore(engine, dev_master_key()), uuid.uuid4()
    keys.get_or_create(child)
    done = subprocess.run([KRONOBARN, "keys", "erase", str(child), "--reason", "REGISTERED_IN_ERROR",
                           "--justification", "Fel barn registrerat.", "--by", "drift-anna"],
                          env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert f"of child {child}" in done.stdout
    assert keys.get(child) is None and keys.is_erased(child)
    logged = [e for r in asyncio.run(read_all(Settings(kafka_bootstrap=broker.bootstrap), ["access"]))
              if isinstance(e := Codec().decode(r.value), ChildDataErased) and e.child_id == child]
    assert [(e.administrator_id, e.reason_code, e.erased_child_ids) for e in logged] == \
        [("drift-anna", "REGISTERED_IN_ERROR", (child,))]
    again = subprocess.run([KRONOBARN, "keys", "erase", str(child), "--reason", "GDPR_ART17", "--justification", "x"],
                           env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert again.returncode == 2 and "already erased" in again.stderr


def test_standin_command_serves_its_api_until_sigterm(tmp_path: Path) -> None:
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [KRONOBARN, "standin", "population", "--port", str(port), "--data-dir", str(tmp_path), "--children", "60"],
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]  # type: ignore[union-attr]
        assert f"serving on http://127.0.0.1:{port}" in lines[-1], lines
        deadline = time.monotonic() + 15
        while True:
            try:
                token = httpx.post(f"http://127.0.0.1:{port}/oauth2/token", data={
                    "grant_type": "client_credentials", "client_id": "kronobarn", "client_secret": "dev-only-secret"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        changes = httpx.get(f"http://127.0.0.1:{port}/navet/v1/changes",
                            headers={"Authorization": f"Bearer {token.json()['access_token']}"}).json()
        assert changes["changes"] and all(c["synthetic"] for c in changes["changes"])
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "population.db").exists()


def test_connector_run_reports_a_bad_config_clearly(tmp_path: Path) -> None:
    config = tmp_path / "health.toml"
    config.write_text("[source]\nurl = 'http://127.0.0.1:1/fhir'\n[run]\nbatch_size = 0\n")
    done = subprocess.run([KRONOBARN, "connector", "run", "health", "--config", str(config), "--once"],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "batch_size" in done.stdout
    missing = subprocess.run([KRONOBARN, "connector", "run", "nosuch", "--config", str(config)],
                             env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "unknown connector 'nosuch'" in missing.stdout


def test_the_development_commands_join_through_their_entry_point(tmp_path: Path) -> None:
    """``services.dev`` is not imported by the product: demo, bench and standin reach the command
    through the ``kronobarn.commands`` entry point, whether run as the script or as a module."""
    for argv in ([KRONOBARN, "--help"], [sys.executable, "-m", "services.cli", "--help"]):
        done = subprocess.run(argv, env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr[-2000:]
        listed = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 1}
        assert {"demo", "bench", "standin", "worker", "api"} <= listed, done.stdout


def test_api_refuses_to_serve_the_dev_login_beyond_loopback(tmp_path: Path) -> None:
    refused = subprocess.run([KRONOBARN, "api", "--host", "0.0.0.0", "--port", str(free_port())], env=_env(tmp_path),
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2
    assert "refusing to serve on 0.0.0.0" in refused.stderr and "--dev-login-on-network" in refused.stderr
