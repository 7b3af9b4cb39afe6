"""The embedded broker and topic administration, against the real Tansu binary.

Start-up failures use tiny shell scripts in place of the binary: they fail on purpose, fast.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from schemas.topics import ALL_TOPICS, Topic
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-broker"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_broker_answers_metadata(broker: EmbeddedBroker) -> None:
    assert broker.running
    await kafka.wait_for_broker(broker.bootstrap, timeout_s=5)


def test_start_and_stop_leave_nothing_running() -> None:
    with EmbeddedBroker(port=free_port()) as b:
        pid = b.pid
        assert b.running and pid is not None
    assert not b.running and _gone(pid)
    b.stop()  # idempotent after a stop
    EmbeddedBroker(port=free_port()).stop()  # and on a broker that never started


async def test_start_works_inside_a_running_event_loop() -> None:
    """The readiness probe has its own loop, so an async caller does not time out."""
    with EmbeddedBroker(port=free_port()) as b:
        await kafka.wait_for_broker(b.bootstrap, timeout_s=5)


def test_second_broker_on_same_port_fails_clearly(broker: EmbeddedBroker) -> None:
    with pytest.raises(RuntimeError, match="already in use"):
        EmbeddedBroker(port=broker.port).start()


def test_port_bound_but_not_listening_fails_clearly(tmp_path: Path) -> None:
    """Tansu panics on a taken port yet exits 0; its output tells us why."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeError, match="already in use") as info:
            EmbeddedBroker(port=port, log_path=tmp_path / "broker.log").start()
    assert "AddrInUse" in str(info.value)


def test_broker_that_dies_reports_its_output(tmp_path: Path) -> None:
    script = _script(tmp_path, "echo 'no storage for you' >&2; exit 3")
    broker = EmbeddedBroker(port=free_port(), binary=script, log_path=tmp_path / "broker.log")
    with pytest.raises(RuntimeError, match="exited with code 3") as info:
        broker.start()
    assert "no storage for you" in str(info.value)
    assert not broker.running


def test_broker_that_never_answers_times_out_and_is_stopped(tmp_path: Path) -> None:
    script = _script(tmp_path, "echo starting; exec sleep 60")
    broker = EmbeddedBroker(port=free_port(), binary=script, log_path=tmp_path / "broker.log")
    with pytest.raises(RuntimeError, match="did not become ready") as info:
        broker.start(timeout_s=1)
    assert "starting" in str(info.value)
    assert not broker.running


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="cannot run the broker binary"):
        EmbeddedBroker(port=free_port(), binary=str(tmp_path / "nope")).start()


async def test_create_topics_is_idempotent(kafka_settings: Settings) -> None:
    assert await kafka.create_topics(kafka_settings) == []  # the fixture created them all
    admin = kafka.admin(kafka_settings)
    await admin.start()
    try:
        names = set(await admin.list_topics())
        described = await admin.describe_topics([t.name for t in ALL_TOPICS])
    finally:
        await admin.close()
    assert {t.name for t in ALL_TOPICS} <= names
    assert {len(d["partitions"]) for d in described} == {kafka_settings.partitions}


async def test_create_topics_returns_only_what_it_created(kafka_settings: Settings) -> None:
    new = Topic("test.created", (), "test")
    assert await kafka.create_topics(kafka_settings, [new, *ALL_TOPICS]) == ["test.created"]
    assert await kafka.create_topics(kafka_settings, [new, *ALL_TOPICS]) == []


async def test_partition_mismatch_is_refused(kafka_settings: Settings) -> None:
    odd = Topic("test.mismatch", (), "test")
    assert await kafka.create_topics(kafka_settings, [odd], partitions=2) == ["test.mismatch"]
    with pytest.raises(kafka.PartitionMismatch, match="co-partitioned"):
        await kafka.create_topics(kafka_settings, [odd], partitions=4)


async def test_unreachable_broker_is_a_clear_error() -> None:
    with pytest.raises(ConnectionError, match="no Kafka broker answered"):
        await kafka.wait_for_broker(f"127.0.0.1:{free_port()}", timeout_s=1)
