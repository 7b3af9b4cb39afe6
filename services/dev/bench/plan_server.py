"""The plan-page bench's server: the real web service in its own process, on a shared socket.

Run as ``python -m services.dev.bench.plan_server FD``, with the hub's settings in the environment
(``KRONOBARN_DATABASE_URL``, ``KRONOBARN_ENV=dev``, ``KRONOBARN_DEV_LOGIN``) and the dev login
key file in ``KRONOBARN_BENCH_DEV_KEY_FILE``. ``FD`` is a listening socket the bench opened and
handed down: several of these processes accept on it, the way replicas sit behind one address,
so the service uses both cores instead of one interpreter lock.

The publish port drops the access events: the bench measures the page, not Kafka.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn

from services.settings import Settings

KEY_FILE_ENV = "KRONOBARN_BENCH_DEV_KEY_FILE"


async def _drop(*_args: Any, **_kwargs: Any) -> None:
    """The publish port: access events are not the subject here."""


def plan_app(settings: Settings, key_file: Path, engine: Any = None) -> Any:
    """The web service under test, trusting the dev login key in ``key_file``."""
    from services.api.app import create_app

    return create_app(settings, publish=_drop, engine=engine, dev_key_file=key_file)


def main(fd: int) -> None:
    app = plan_app(Settings(), Path(os.environ[KEY_FILE_ENV]))
    # socket(fileno=) reads the family off the socket; uvicorn's own fd= takes it for a Unix
    # socket, so the event loop leaves Nagle on and every answer waits out a delayed ACK.
    listener = socket.socket(fileno=fd)
    from services.api.app import settle_heap

    settle_heap()
    # No access log: paths carry children's ids. uvloop and httptools when installed.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main(int(sys.argv[1]))
