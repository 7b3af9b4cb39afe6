"""Starting ``kronobarn worker`` (or another hub process) as a child process, with its own log.

The demo and the bench run the gate the way an operator does, as its own process; this keeps
its output in a file and makes sure it is stopped, whatever happens to the caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from services.settings import Settings
from services.worker.roles import Role

STOP_TIMEOUT_S = 20.0
DIED = "{what} exited with code {code}; its log: {log}"


class ChildProcess:
    """One process with its log; ``check`` raises if it has died."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, what: str,
                 pass_fds: tuple[int, ...] = ()) -> None:
        self.log, self.what = log, what
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, pass_fds=pass_fds)

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(DIED.format(what=self.what, code=self.proc.returncode, log=self.log))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def hub_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a child hub process: this process's, with ``settings`` as they are
    here (the caller may have pointed them at a private broker or database), not as the
    environment says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")}
    env |= {"KRONOBARN_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "KRONOBARN_PARTITIONS": str(settings.partitions),
            "KRONOBARN_WORKER_GROUP": settings.worker_group, "KRONOBARN_LOG_LEVEL": "WARNING",
            "KRONOBARN_WORKER_FETCH_WAIT_MS": str(settings.worker_fetch_wait_ms),
            "KRONOBARN_WORKER_LINGER_MS": str(settings.worker_linger_ms),
            "KRONOBARN_DATABASE_URL": settings.resolved_database_url, "KRONOBARN_ENV": settings.env}
    if settings.social_register_url:  # the delivery of reports of concern (services.reports.delivery)
        env["KRONOBARN_SOCIAL_REGISTER_URL"] = settings.social_register_url
    if settings.social_register_urls:
        env["KRONOBARN_SOCIAL_REGISTER_URLS"] = json.dumps(settings.social_register_urls)
    env["KRONOBARN_REPORT_ASSESS_EVERY_S"] = str(settings.report_assess_every_s)
    for name in ("master_key", "identity_secret", "audit_signing_key"):
        secret = getattr(settings, name, None)
        if secret is not None:
            env[f"KRONOBARN_{name.upper()}"] = secret.get_secret_value()
    return env | {f"KRONOBARN_{k.upper()}": v for k, v in extra.items()}


def kronobarn_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("kronobarn")), *args]


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], log: Path, what: str,
            pass_fds: tuple[int, ...] = ()) -> Iterator[ChildProcess]:
    process = ChildProcess(args, env, log, what, pass_fds)
    try:
        yield process
    finally:
        process.stop()


def worker(settings: Settings, log: Path, tick_s: float = 60.0,
           role: Role = Role.ALL) -> contextlib.AbstractContextManager[ChildProcess]:
    """A ``kronobarn worker --role ROLE`` on ``settings``' broker and groups, stopped on exit."""
    return running(kronobarn_command("worker", "--tick", str(tick_s), "--role", role), hub_env(settings), log,
                   f"the {role} worker")
