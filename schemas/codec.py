"""The one mapper between events and bytes: encode -> seal -> frame, and back.

Wire format is Avro single-object encoding: ``C3 01`` + 8-byte little-endian CRC-64-AVRO
fingerprint of the writer schema + the Avro binary body. Readers resolve the writer schema by
fingerprint, so data written by an earlier schema version decodes into the current classes.
Every failure surfaces as ``DecodeError`` / ``EncodeError``, naming topic, partition and
offset when known, never as a bare library exception.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer

from schemas.catalogue import Catalogue
from schemas.deadletter import DeadLetter
from schemas.events import (
    EVENT_TYPES,
    Area,
    Basis,
    Category,
    Envelope,
    Event,
    Grantor,
    GrantorRole,
    SchoolType,
    Source,
    SupportType,
)
from schemas.sealing import ERASED, Erased, Personal, SealedBox, SealError, Sealer

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8

BAD_MAGIC = "not Avro single-object encoding: magic {magic!r}, expected c301"
TOO_SHORT = "truncated: {size} bytes is shorter than the {header}-byte header"
UNKNOWN_FINGERPRINT = "unknown writer schema fingerprint {fp}"
TRUNCATED_BODY = "truncated body for {name}"
SCHEMA_MISMATCH = "payload does not match writer schema {name}: {error}"
TRAILING = "payload does not match writer schema {name}: {extra} trailing bytes"
TYPE_MISMATCH = "envelope type {actual!r} differs from record name {name!r}"
NO_CLASS = "schema {name!r} has no event class"
NOT_ENCODABLE = "cannot encode {name}: {error}"
NO_SEALER = "event {name} carries plaintext personal data but the codec has no sealer"
ENCODE_ERASED = "event {name} carries erased personal data; it cannot be re-published"

RECORD_TYPES: dict[str, type] = {**EVENT_TYPES, "DeadLetter": DeadLetter}
ENUMS: dict[str, type] = {
    f"kronobarn.{e.__name__}": e for e in (Area, Basis, Category, GrantorRole, SchoolType, SupportType)
}
_BASIS = Basis._value2member_map_
_CATEGORY = Category._value2member_map_
_AREA = Area._value2member_map_


class DecodeError(Exception):
    """Bytes that cannot become an event. Carries where they came from, for the dead letter."""

    def __init__(
        self,
        reason: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = reason
        self.topic, self.partition, self.offset = topic, partition, offset
        super().__init__(f"{reason} (topic={topic} partition={partition} offset={offset})")


class EncodeError(Exception):
    """An event that cannot be written with its schema."""


class KafkaRecord(Protocol):
    """What the codec needs of a consumer record (aiokafka's ConsumerRecord fits)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


Converter = Callable[[Any], Any] | None


def _read_converter(avro_type: Any) -> Converter:
    """How to turn fastavro's output for this type into the event's Python value."""
    if isinstance(avro_type, list):  # ["null", X]
        inner = _read_converter(next(t for t in avro_type if t != "null"))
        return None if inner is None else (lambda v: None if v is None else inner(v))
    if isinstance(avro_type, str):
        enum = ENUMS.get(avro_type)
        return None if enum is None else enum._value2member_map_.__getitem__
    kind = avro_type.get("type")
    if kind == "array":
        item = _read_converter(avro_type["items"])
        return tuple if item is None else (lambda v: tuple(map(item, v)))
    if kind == "enum":
        return ENUMS[avro_type["name"]]._value2member_map_.__getitem__
    if kind == "record" and avro_type["name"] == "kronobarn.Grantor":
        return lambda v: Grantor(v["party_id"], GrantorRole(v["role"]))
    return None


def _write_converter(avro_type: Any) -> Converter:
    if isinstance(avro_type, list):
        inner = _write_converter(next(t for t in avro_type if t != "null"))
        return None if inner is None else (lambda v: None if v is None else inner(v))
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "array":
            item = _write_converter(avro_type["items"])
            return None if item is None else (lambda v: [item(x) for x in v])
        if avro_type.get("type") == "record" and avro_type["name"] == "kronobarn.Grantor":
            return lambda g: {"party_id": g.party_id, "role": g.role}
    return None


class _Mapping:
    """Per-class field plan: which fields, and which need converting, on the way in and out."""

    def __init__(self, cls: type, schema: dict[str, Any]) -> None:
        self.cls = cls
        avro_fields = {f["name"]: f["type"] for f in schema["fields"]}
        names = [f.name for f in dataclass_fields(cls)]
        self.has_envelope = "envelope" in names
        self.plain = tuple(n for n in names if n != "envelope")
        self.read = tuple((n, _read_converter(avro_fields[n])) for n in self.plain if n in avro_fields)
        self.write = tuple((n, _write_converter(avro_fields[n])) for n in self.plain)


class Codec:
    """Encodes events to single-object Avro and back. Thread-compatible, not thread-safe."""

    def __init__(self, catalogue: Catalogue | None = None, sealer: Sealer | None = None) -> None:
        self._catalogue = catalogue or Catalogue.load()
        self._sealer = sealer
        self._mappings: dict[str, _Mapping] = {}
        self._headers: dict[str, bytes] = {}

    @property
    def catalogue(self) -> Catalogue:
        return self._catalogue

    def _mapping(self, name: str) -> _Mapping:
        mapping = self._mappings.get(name)
        if mapping is None:
            cls = RECORD_TYPES.get(name)
            if cls is None:
                raise KeyError(NO_CLASS.format(name=name))
            mapping = _Mapping(cls, self._catalogue.current(name).schema)
            self._mappings[name] = mapping
        return mapping

    # -- encode ---------------------------------------------------------------------------

    def encode(self, event: Event | DeadLetter) -> bytes:
        name = type(event).__name__
        try:
            version = self._catalogue.current(name)
            mapping = self._mapping(name)
        except KeyError as exc:
            raise EncodeError(NOT_ENCODABLE.format(name=name, error=exc)) from exc
        record = {
            n: getattr(event, n) if conv is None else conv(getattr(event, n))
            for n, conv in mapping.write
        }
        if mapping.has_envelope:
            record["envelope"] = self._envelope_record(event.envelope, name)  # type: ignore[union-attr]
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(version.fingerprint)
        try:
            schemaless_writer(out, version.parsed, record, disable_tuple_notation=True)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            raise EncodeError(NOT_ENCODABLE.format(name=name, error=exc)) from exc
        return out.getvalue()

    def _envelope_record(self, env: Envelope, name: str) -> dict[str, Any]:
        src = env.source
        return {
            "event_id": env.event_id,
            "type": env.type,
            "child_id": env.child_id,
            "occurred_at": env.occurred_at,
            "recorded_at": env.recorded_at,
            "source": {
                "system": src.system,
                "organisation_id": src.organisation_id,
                "record_id": src.record_id,
                "record_version": src.record_version,
            },
            "basis": env.basis,
            "category": env.category,
            "area": env.area,
            "sealed": None if env.sealed is None else self._seal(env, name),
        }

    def _seal(self, env: Envelope, name: str) -> bytes:
        sealed = env.sealed
        if isinstance(sealed, SealedBox):
            return sealed.ciphertext
        if isinstance(sealed, Erased):
            raise EncodeError(ENCODE_ERASED.format(name=name))
        if self._sealer is None:
            raise EncodeError(NO_SEALER.format(name=name))
        assert isinstance(sealed, Personal)
        return self._sealer.seal(env.child_id, sealed)

    # -- decode ---------------------------------------------------------------------------

    def decode_record(self, record: KafkaRecord) -> Event | DeadLetter:
        return self.decode(
            record.value, topic=record.topic, partition=record.partition, offset=record.offset
        )

    def decode(
        self,
        data: bytes | None,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> Event | DeadLetter:
        where = {"topic": topic, "partition": partition, "offset": offset}
        size = 0 if data is None else len(data)
        if size < HEADER_LEN:
            raise DecodeError(TOO_SHORT.format(size=size, header=HEADER_LEN), **where)
        assert data is not None
        if data[:2] != MAGIC:
            raise DecodeError(BAD_MAGIC.format(magic=bytes(data[:2]).hex()), **where)
        writer = self._catalogue.by_fingerprint(bytes(data[2:HEADER_LEN]))
        if writer is None:
            raise DecodeError(UNKNOWN_FINGERPRINT.format(fp=bytes(data[2:HEADER_LEN]).hex()), **where)
        reader = None if writer.current else self._catalogue.current(writer.name).parsed
        body = io.BytesIO(data)
        body.seek(HEADER_LEN)
        try:
            record = schemaless_reader(body, writer.parsed, reader)
        except EOFError as exc:
            raise DecodeError(TRUNCATED_BODY.format(name=writer.name), **where) from exc
        except Exception as exc:  # fastavro raises many types for garbage input
            raise DecodeError(SCHEMA_MISMATCH.format(name=writer.name, error=exc), **where) from exc
        extra = size - body.tell()
        if extra:
            raise DecodeError(TRAILING.format(name=writer.name, extra=extra), **where)
        try:
            return self._build(writer.name, record)
        except DecodeError as exc:
            raise DecodeError(exc.reason, **where) from exc
        except SealError as exc:
            raise DecodeError(str(exc), **where) from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise DecodeError(SCHEMA_MISMATCH.format(name=writer.name, error=exc), **where) from exc

    def _build(self, name: str, record: dict[str, Any]) -> Event | DeadLetter:
        mapping = self._mapping(name)
        values = {n: record[n] if conv is None else conv(record[n]) for n, conv in mapping.read}
        if mapping.has_envelope:
            values["envelope"] = self._envelope(record["envelope"], name)
        return mapping.cls(**values)

    def _envelope(self, env: dict[str, Any], name: str) -> Envelope:
        if env["type"] != name:
            raise DecodeError(TYPE_MISMATCH.format(actual=env["type"], name=name))
        src = env["source"]
        area = env["area"]
        sealed = env["sealed"]
        child_id = env["child_id"]
        return Envelope(
            event_id=env["event_id"],
            type=name,
            child_id=child_id,
            occurred_at=env["occurred_at"],
            recorded_at=env["recorded_at"],
            source=Source(src["system"], src["organisation_id"], src["record_id"], src["record_version"]),
            basis=_BASIS[env["basis"]],
            category=_CATEGORY[env["category"]],
            area=None if area is None else _AREA[area],
            sealed=None if sealed is None else self._open(child_id, sealed),
        )

    def _open(self, child_id: Any, sealed: bytes) -> Personal | SealedBox | Erased:
        if self._sealer is None:
            return SealedBox(sealed)
        return self._sealer.open(child_id, sealed)


__all__ = ["Codec", "DecodeError", "EncodeError", "ERASED", "HEADER_LEN", "MAGIC"]
