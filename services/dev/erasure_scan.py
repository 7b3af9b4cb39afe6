"""The crypto-shredding proof (DESIGN §9): look for one child's plaintext everywhere the hub keeps data.

Used by the demo, which prints its figures, and by the erasure tests, which also run it before
the erasure as a control (it must find the child then). Where it looks:

* **the database**: every row of every table (read model, audit log, key store, checkpoints,
  identity registry, gate state...), each value as text, bytes as Latin-1;
* **the topics**: every record of every topic, its raw bytes; and the child's own records decoded
  with the given codec (which opens sealed fields with the key store): every opened field value,
  dead letters' originals too;
* **files**: every file under the given directories (``var/``: the SQLite file and its WAL among them).

A hit is reported by where it was (table, topic, file) and which needle, never by the value.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, select

from schemas.codec import Codec
from schemas.deadletter import DeadLetter
from schemas.sealing import Personal
from services.kafka import clients as kafka
from services.kafka import offsets
from services.settings import Settings


@dataclass
class Found:
    """What a scan looked at, and where it found which needle (by label, never the value)."""

    looked: Counter[str] = field(default_factory=Counter)  # rows, records, files, opened fields
    hits: Counter[tuple[str, str]] = field(default_factory=Counter)  # (where, needle label) -> count

    def __add__(self, other: Found) -> Found:
        return Found(self.looked + other.looked, self.hits + other.hits)

    @property
    def total(self) -> int:
        return sum(self.hits.values())


def needles_of(personnummer: str | None = None, names: Sequence[str] = (), texts: Sequence[str] = ()) -> dict[str, bytes]:
    """The child's plaintext as labelled byte strings: the personnummer in every form it is written,
    each name, each free text."""
    out: dict[str, bytes] = {}
    if personnummer:
        digits = personnummer.replace("-", "").replace("+", "")
        for n, form in enumerate({digits, digits[2:], f"{digits[:8]}-{digits[8:]}", f"{digits[2:8]}-{digits[8:]}"}):
            out[f"personnummer#{n}"] = form.encode()
    out.update({f"name#{n}": name.encode() for n, name in enumerate(names)})
    out.update({f"text#{n}": text.encode() for n, text in enumerate(texts)})
    return out


def _search(where: str, data: bytes, needles: dict[str, bytes], found: Found) -> None:
    for label, needle in needles.items():
        if needle in data:
            found.hits[(where, label)] += data.count(needle)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "replace")


def scan_database(engine: Engine, needles: dict[str, bytes]) -> Found:
    """Every row of every table the database holds (reflected, so tables added later count too)."""
    found, meta = Found(), MetaData()
    meta.reflect(engine)
    with engine.connect() as c:
        for table in meta.sorted_tables:
            for row in c.execute(select(table)):
                found.looked["rows"] += 1
                _search(f"table {table.name}", b"\x00".join(_as_bytes(v) for v in row if v is not None), needles, found)
    return found


def scan_files(roots: Iterable[Path], needles: dict[str, bytes], exclude: Iterable[Path] = ()) -> Found:
    """Every file under ``roots``, but not under ``exclude`` (the stand-ins' data: other parties' systems)."""
    found, skipped = Found(), [e.resolve() for e in exclude]
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if any(path.resolve().is_relative_to(e) for e in skipped):
                continue
            found.looked["files"] += 1
            _search(f"file {path.relative_to(root)}", path.read_bytes(), needles, found)
    return found


async def scan_topics(settings: Settings, codec: Codec, needles: dict[str, bytes], child_ids: Iterable[object]) -> Found:
    """Every record of every topic on the broker (internal ones too), raw; and the sealed fields of
    the child's own records (keyed by one of ``child_ids``) opened: another child's may share a
    name with it (siblings, guardians)."""
    keys = {str(c).encode() for c in child_ids}
    found = Found()
    consumer = kafka.consumer(settings)
    await consumer.start()
    try:
        topics = sorted(await consumer.topics())
    finally:
        await consumer.stop()
    ends = await offsets.topic_ends(settings, topics)
    async for records in offsets.read(settings, dict.fromkeys(ends, 0), ends, **offsets.BULK):
        for record in records:
            found.looked["records"] += 1
            where = f"topic {record.topic}"
            _search(where, (record.key or b"") + b"\x00" + (record.value or b""), needles, found)
            for value in _opened(codec, record.value) if record.key in keys else ():
                found.looked["opened fields"] += 1
                _search(f"{where} (opened)", value.encode(), needles, found)
    return found


def _opened(codec: Codec, value: bytes | None) -> list[str]:
    """The opened sealed field values of a record (and of a dead letter's original), if it decodes."""
    try:
        event = codec.decode(value) if value else None
    except Exception:  # noqa: BLE001 - not one of ours (a Faust internal record): its raw bytes were searched
        return []
    if isinstance(event, DeadLetter):
        return _opened(codec, event.original)
    sealed = getattr(getattr(event, "envelope", None), "sealed", None)
    return [str(v) for v in sealed.fields.values()] if isinstance(sealed, Personal) else []


async def scan(engine: Engine, settings: Settings, codec: Codec, needles: dict[str, bytes],
               child_ids: Iterable[object], files: Iterable[Path] = (), exclude: Iterable[Path] = ()) -> Found:
    """Database, topics and files, as one ``Found``."""
    return await asyncio.to_thread(scan_database, engine, needles) + \
        await scan_topics(settings, codec, needles, child_ids) + scan_files(files, needles, exclude)
