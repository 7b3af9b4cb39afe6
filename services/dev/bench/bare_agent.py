"""The gate benchmark's baselines: Faust agents that read the gate's topics and do nothing, or
only the I/O that any consent gate must do.

Run as ``python -m services.dev.bench.bare_agent GROUP EXPECT OUT [--floor TOPIC]`` with the hub's
settings in the environment. Both are built by the same ``faust_app`` as the gate's worker
(same timeouts, same guarantee) and iterate the same topics with ``stream.events()``. Once
``EXPECT`` events are in, the agent writes the wall-clock time of its first and last event, and
how many outputs it sent, to ``OUT`` as JSON.

* **bare** -- does nothing with an event: what Faust's own delivery costs.
* **floor** (``--floor TOPIC``) -- decodes every record and sends one encoded ``FactReleased``
  per fact to ``TOPIC``, built as the gate passes on a directory fact
  (``worker.gate.released_as_is``), but keeps no state and checks no consent. No gate that
  reads facts and releases them can be faster, so ``gate ÷ floor`` is the gate's own overhead
  and ``floor ÷ bare`` the ceiling of ``gate ÷ bare`` on this machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import faust

from schemas.codec import Codec
from schemas.events import ConsentGranted, ConsentWithdrawn
from services.logging import configure_logging
from services.settings import get_settings
from services.worker.app import faust_app
from services.worker.gate import SOURCES, released_as_is


def release(codec: Codec, value: bytes) -> bytes | None:
    """The encoded ``FactReleased`` the gate would send for the fact ``value``; None for a consent."""
    event = codec.decode(value)
    if isinstance(event, (ConsentGranted, ConsentWithdrawn)):
        return None
    return codec.encode(released_as_is(event, value, "floor", dt.datetime.now(dt.UTC)))


def main(group: str, expect: int, out: Path, floor: str | None) -> None:
    settings = get_settings()
    configure_logging(settings)
    app = faust_app(settings, group)
    source = app.topic(*SOURCES, key_type=bytes, value_type=bytes)
    codec = Codec()

    @app.agent(source, concurrency=1)
    async def bare(stream: Any) -> None:
        seen, sent, first = 0, 0, 0.0
        async for event in stream.events():
            seen += 1
            if seen == 1:
                first = time.time()
            if floor is not None and (output := release(codec, event.value)) is not None:
                # As the gate sends: straight to Faust's producer, flushed before each commit.
                await app.producer.send(floor, event.key, output, None, None, None)
                sent += 1
            if seen == expect:
                if floor is not None:
                    await app.producer.flush()  # timed until its releases are on the broker, as the gate's
                out.write_text(json.dumps({"first": first, "last": time.time(), "events": seen, "sent": sent}))

    # Keep the hub's own (redacting) logging: mode would replace it with its own handlers.
    faust.Worker(app, loglevel="WARNING", quiet=True, override_logging=False).execute_from_commandline()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.dev.bench.bare_agent")
    parser.add_argument("group", help="the consumer group: a fresh one reads from offset 0")
    parser.add_argument("expect", type=int, help="events to read before timing is written")
    parser.add_argument("out", type=Path, help="where to write the timing as JSON")
    parser.add_argument("--floor", metavar="TOPIC", help="send one FactReleased per fact to TOPIC")
    return parser.parse_args()


if __name__ == "__main__":
    args = _arguments()
    main(args.group, args.expect, args.out, args.floor)
