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
    ActionEffect,
    ActionStatus,
    Area,
    Basis,
    Category,
    ConsentObtained,
    Envelope,
    Event,
    FollowUpOutcome,
    Grantor,
    GrantorRole,
    InvitationAnswer,
    ParticipantRole,
    Protection,
    SchoolType,
    Source,
    SupportType,
)
from schemas.sealing import ERASED, Erased, Personal, SealedBox, Sealer, SealError

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
    f"kronobarn.{e.__name__}": e
    for e in (ActionEffect, ActionStatus, Area, Basis, Category, ConsentObtained, FollowUpOutcome, GrantorRole,
              InvitationAnswer, ParticipantRole, Protection, SchoolType, SupportType)
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
    """Per-class field plan: which fields, and which need converting, on the way in and out.

    Decoding builds objects through a constructor generated once per class that fills the
    slots directly. It skips the frozen-dataclass ``__init__`` (which sets each field through
    ``object.__setattr__``) and halves the cost of building an event, which is most of the
    codec's overhead over bare fastavro (DESIGN §8 target ≥ 0.8×). The classes define no
    ``__post_init__``, so nothing is bypassed but the slow path.
    """

    def __init__(self, cls: type, schema: dict[str, Any]) -> None:
        self.cls = cls
        avro_fields = {f["name"]: f["type"] for f in schema["fields"]}
        names = [f.name for f in dataclass_fields(cls)]
        self.has_envelope = "envelope" in names
        self.plain = tuple(n for n in names if n != "envelope")
        self.to_record = _compile_to_record([(n, _write_converter(avro_fields[n])) for n in self.plain])
        self.build = _compile_builder(cls, [(n, _read_converter(avro_fields[n])) for n in self.plain])


def _compile_to_record(fields: list[tuple[str, Converter]]) -> Callable[[Any], dict[str, Any]]:
    """``to_record(event) -> dict`` of the event's own fields, one generated dict display."""
    namespace: dict[str, Any] = {}
    items = []
    for i, (name, conv) in enumerate(fields):
        if conv is None:
            items.append(f"{name!r}: o.{name}")
        else:
            namespace[f"c{i}"] = conv
            items.append(f"{name!r}: c{i}(o.{name})")
    exec(f"def to_record(o):\n    return {{{', '.join(items)}}}", namespace)  # noqa: S102
    return namespace["to_record"]


def _setters(cls: type) -> dict[str, Any]:
    return {f.name: getattr(cls, f.name).__set__ for f in dataclass_fields(cls)}


def _compile_builder(cls: type, fields: list[tuple[str, Converter]]) -> Callable[..., Any]:
    """``build(record, envelope) -> instance`` for one class, filling slots directly."""
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    lines = ["def build(r, envelope):", "    o = new(cls)"]
    setters = _setters(cls)
    if "envelope" in setters:
        namespace["set_envelope"] = setters["envelope"]
        lines.append("    set_envelope(o, envelope)")
    for i, (name, conv) in enumerate(fields):
        namespace[f"s{i}"] = setters[name]
        if conv is None:
            lines.append(f"    s{i}(o, r[{name!r}])")
        else:
            namespace[f"c{i}"] = conv
            lines.append(f"    s{i}(o, c{i}(r[{name!r}]))")
    lines.append("    return o")
    exec("\n".join(lines), namespace)  # noqa: S102 - code built from our own field names only
    return namespace["build"]


def _compile_envelope_builder() -> Callable[..., Envelope]:
    """``build_envelope(env_record, name, open_sealed) -> Envelope``, slots filled directly."""
    namespace: dict[str, Any] = {
        "new": object.__new__, "Envelope": Envelope, "Source": Source,
        "BASIS": _BASIS, "CATEGORY": _CATEGORY, "AREA": _AREA,
        "mismatch": _type_mismatch,
        **{f"e_{k}": v for k, v in _setters(Envelope).items()},
        **{f"s_{k}": v for k, v in _setters(Source).items()},
    }
    source = "\n".join(
        [
            "def build_envelope(e, name, open_sealed):",
            "    if e['type'] != name:",
            "        mismatch(e['type'], name)",
            "    r = e['source']",
            "    src = new(Source)",
            *(f"    s_{f}(src, r[{f!r}])" for f in ("system", "organisation_id", "record_id", "record_version")),
            "    o = new(Envelope)",
            "    child_id = e['child_id']",
            "    e_event_id(o, e['event_id'])",
            "    e_type(o, name)",
            "    e_child_id(o, child_id)",
            "    e_occurred_at(o, e['occurred_at'])",
            "    e_recorded_at(o, e['recorded_at'])",
            "    e_source(o, src)",
            "    e_basis(o, BASIS[e['basis']])",
            "    e_category(o, CATEGORY[e['category']])",
            "    area = e['area']",
            "    e_area(o, None if area is None else AREA[area])",
            "    sealed = e['sealed']",
            "    e_sealed(o, None if sealed is None else open_sealed(child_id, sealed))",
            "    return o",
        ]
    )
    exec(source, namespace)  # noqa: S102 - code built from our own field names only
    return namespace["build_envelope"]


def _type_mismatch(actual: str, name: str) -> None:
    raise DecodeError(TYPE_MISMATCH.format(actual=actual, name=name))


_build_envelope = _compile_envelope_builder()


class Codec:
    """Encodes events to single-object Avro and back. Thread-compatible, not thread-safe."""

    def __init__(self, catalogue: Catalogue | None = None, sealer: Sealer | None = None) -> None:
        self._catalogue = catalogue or Catalogue.load()
        self._sealer = sealer
        self._mappings: dict[str, _Mapping] = {}
        self._by_fingerprint = self._catalogue.by_fingerprint

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
        record = mapping.to_record(event)
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

    def type_name(self, data: bytes) -> str:
        """The event type of encoded ``data``, read from its header alone (no body decode)."""
        writer = self._by_fingerprint(bytes(data[2:HEADER_LEN])) if data[:2] == MAGIC else None
        if writer is None:
            raise DecodeError(UNKNOWN_FINGERPRINT.format(fp=bytes(data[2:HEADER_LEN]).hex()))
        return writer.name

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
        # One flat function: this is the hot path of every consumer (DESIGN §8).
        try:
            size = 0 if data is None else len(data)
            if size < HEADER_LEN:
                raise DecodeError(TOO_SHORT.format(size=size, header=HEADER_LEN))
            assert data is not None
            if data[:2] != MAGIC:
                raise DecodeError(BAD_MAGIC.format(magic=bytes(data[:2]).hex()))
            fp = data[2:HEADER_LEN]
            writer = self._by_fingerprint(fp if type(fp) is bytes else bytes(fp))
            if writer is None:
                raise DecodeError(UNKNOWN_FINGERPRINT.format(fp=bytes(fp).hex()))
            name = writer.name
            body = io.BytesIO(data)
            body.seek(HEADER_LEN)
            try:
                record = schemaless_reader(
                    body, writer.parsed, None if writer.current else self._catalogue.current(name).parsed
                )
            except EOFError as exc:
                raise DecodeError(TRUNCATED_BODY.format(name=name)) from exc
            except Exception as exc:  # fastavro raises many types for garbage input
                # Only the error's type: fastavro's message may quote a decoded value (PII).
                raise DecodeError(SCHEMA_MISMATCH.format(name=name, error=type(exc).__name__)) from exc
            if body.tell() != size:
                raise DecodeError(TRAILING.format(name=name, extra=size - body.tell()))
            mapping = self._mappings.get(name) or self._mapping(name)
            try:
                if mapping.has_envelope:
                    return mapping.build(record, _build_envelope(record["envelope"], name, self._open))
                return mapping.build(record, None)
            except SealError as exc:
                raise DecodeError(str(exc)) from exc
            except (KeyError, ValueError, TypeError) as exc:
                raise DecodeError(SCHEMA_MISMATCH.format(name=name, error=type(exc).__name__)) from exc
        except DecodeError as exc:
            if topic is None and partition is None and offset is None:
                raise
            raise DecodeError(exc.reason, topic=topic, partition=partition, offset=offset) from exc.__cause__

    def _open(self, child_id: Any, sealed: bytes) -> Personal | SealedBox | Erased:
        if self._sealer is None:
            return SealedBox(sealed)
        return self._sealer.open(child_id, sealed)


__all__ = ["Codec", "DecodeError", "EncodeError", "ERASED", "HEADER_LEN", "MAGIC"]
