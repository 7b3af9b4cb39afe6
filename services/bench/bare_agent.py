"""The gate benchmark's baseline: a bare Faust agent that reads the gate's topics and does nothing.

Run as ``python -m services.bench.bare_agent GROUP EXPECT OUT`` with the hub's settings in the
environment. It is built by the same ``faust_app`` as the gate's worker (same timeouts, same
guarantee), iterates the same topics with ``stream.events()``, and writes the wall-clock time
of its first and last event to ``OUT`` as JSON once it has seen ``EXPECT`` events.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import faust

from services.logging import configure_logging
from services.settings import get_settings
from services.worker.app import faust_app
from services.worker.gate import SOURCES


def main(group: str, expect: int, out: Path) -> None:
    settings = get_settings()
    configure_logging(settings)
    app = faust_app(settings, group)
    source = app.topic(*SOURCES, key_type=bytes, value_type=bytes)

    @app.agent(source, concurrency=1)
    async def bare(stream: Any) -> None:
        seen, first = 0, 0.0
        async for _ in stream.events():
            seen += 1
            if seen == 1:
                first = time.time()
            if seen == expect:
                out.write_text(json.dumps({"first": first, "last": time.time(), "events": seen}))

    # Keep the hub's own (redacting) logging: mode would replace it with its own handlers.
    faust.Worker(app, loglevel="WARNING", quiet=True, override_logging=False).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
