"""Running a connector against the session broker in tests, and reading what it produced.

Topics are shared by the whole test session, so helpers here return what *this* run
published (event ids from the runner's publish port) for the test to filter on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from connectors.base import Connector
from schemas.codec import Codec
from schemas.deadletter import DeadLetter
from schemas.events import Event
from schemas.sealing import Sealer
from schemas.topics import ALL_TOPICS
from services.ingest.runner import Backoff, Outgoing, RunStats
from services.ingest.wiring import connector_runner
from services.settings import Settings
from services.sql.keystore import SqlKeyStore, dev_master_key
from tests.support.kafka import read_all

FAST_BACKOFF = Backoff(initial_s=0.05, max_s=0.5)
INTAKE = [t.name for t in ALL_TOPICS if t.name.startswith("intake.")]


@dataclass
class RunResult:
    stats: RunStats
    event_ids: list[str] = field(default_factory=list)  # in publish order, repeats kept
    letter_ids: list[str] = field(default_factory=list)


class _Recording:
    def __init__(self, inner: Any, result: RunResult) -> None:
        self._inner, self._result = inner, result

    async def publish(self, records: Sequence[Outgoing]) -> None:
        await self._inner.publish(records)
        for r in records:
            (self._result.letter_ids if r.topic == "deadletter" else self._result.event_ids).append(str(r.event_id))


async def run_connector(
    connector: Connector, settings: Settings, engine: Engine, **runner_options: Any
) -> RunResult:
    """Drain ``connector`` once into the broker, like ``kronobarn connector run --once``."""
    runner_options.setdefault("backoff", FAST_BACKOFF)
    async with connector_runner(connector, settings, engine, **runner_options) as runner:
        result = RunResult(runner.stats)
        runner.publisher = _Recording(runner.publisher, result)
        await runner.run_once()
    return result


class _DryRun:
    async def publish(self, records: Sequence[Outgoing]) -> None:
        return None


async def dry_run(connector: Connector, settings: Settings, engine: Engine, **runner_options: Any) -> RunResult:
    """Everything ``run_connector`` does except sending: the ids a run would publish."""
    runner_options.setdefault("backoff", FAST_BACKOFF)
    async with connector_runner(connector, settings, engine, **runner_options) as runner:
        result = RunResult(runner.stats)
        runner.publisher = _Recording(_DryRun(), result)
        await runner.run_once()
    return result


def toml_source(source: dict[str, Any], run: dict[str, Any]) -> str:
    """A connector TOML file for flat tables (JSON strings and lists are valid TOML values)."""
    import json

    def table(name: str, values: dict[str, Any]) -> str:
        return f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())

    return table("source", source) + table("run", run)


def codec_for(engine: Engine) -> Codec:
    """A codec that opens sealed fields with the keys the runner used (dev master key)."""
    return Codec(sealer=Sealer(SqlKeyStore(engine, dev_master_key())))


async def read_events(settings: Settings, engine: Engine, event_ids: Sequence[str] | None = None,
                      topics: Sequence[str] = INTAKE) -> list[Event]:
    """Decoded events on ``topics`` (all of them, or only ``event_ids``), in log order."""
    opener, plain = codec_for(engine), Codec()
    wanted = None if event_ids is None else set(event_ids)
    out = []
    for record in await read_all(settings, topics):
        # Other tests share these topics and seal with other keys: open only what we asked for.
        event = plain.decode_record(record)
        if isinstance(event, Event) and (wanted is None or str(event.event_id) in wanted):
            out.append(opener.decode_record(record))
    return out


async def read_dead_letters(settings: Settings, letter_ids: Sequence[str] | None = None) -> list[DeadLetter]:
    codec = Codec()
    wanted = None if letter_ids is None else set(letter_ids)
    letters = []
    for record in await read_all(settings, ["deadletter"]):
        letter = codec.decode_record(record)
        if isinstance(letter, DeadLetter) and (wanted is None or str(letter.dead_letter_id) in wanted):
            letters.append(letter)
    return letters
