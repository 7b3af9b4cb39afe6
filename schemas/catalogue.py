"""The schema catalogue: every .avsc in ``avro/``, resolvable by name and by fingerprint.

Each schema is made self-contained (referenced named types inlined at first use) before its
parsing canonical form and CRC-64-AVRO fingerprint are taken, as the Avro spec requires for
single-object encoding. Earlier versions live in ``avro/history/NAME.vN.avsc`` as
self-contained snapshots, so data they wrote stays readable after a schema evolves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

AVRO_DIR = Path(__file__).with_name("avro")
HISTORY_DIR = AVRO_DIR / "history"
NAMESPACE = "kronobarn"
PRIMITIVES = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)

UNKNOWN_NAME = "no schema named {name!r} in the catalogue"
DUPLICATE_FINGERPRINT = "schemas {a!r} and {b!r} share fingerprint {fp}"


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    name: str  # short record name, e.g. "ChildBorn"
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO of the canonical form
    schema: dict[str, Any]  # self-contained JSON schema
    parsed: dict[str, Any]  # fastavro-parsed, ready for reading and writing
    current: bool


def _fullname(name: str, namespace: str | None) -> str:
    return name if "." in name else f"{namespace or NAMESPACE}.{name}"


def _inline(node: Any, defs: dict[str, Any], seen: set[str], namespace: str) -> Any:
    """Replace named references by their definition at first use (later uses stay names)."""
    if isinstance(node, str):
        if node in PRIMITIVES:
            return node
        full = _fullname(node, namespace)
        if full in seen:
            return full
        if full not in defs:
            raise KeyError(UNKNOWN_NAME.format(name=full))
        return _inline(defs[full], defs, seen, namespace)
    if isinstance(node, list):
        return [_inline(branch, defs, seen, namespace) for branch in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind in ("record", "enum", "fixed"):
        full = _fullname(node["name"], node.get("namespace", namespace))
        seen.add(full)
        out = dict(node, name=full)
        out.pop("namespace", None)
        if kind == "record":
            inner_ns = full.rsplit(".", 1)[0]
            out["fields"] = [
                dict(f, type=_inline(f["type"], defs, seen, inner_ns)) for f in node["fields"]
            ]
        return out
    if kind == "array":
        return dict(node, items=_inline(node["items"], defs, seen, namespace))
    if kind == "map":
        return dict(node, values=_inline(node["values"], defs, seen, namespace))
    if isinstance(kind, (dict, list)) or (isinstance(kind, str) and kind not in PRIMITIVES):
        return dict(node, type=_inline(kind, defs, seen, namespace))
    return node


def _collect_named(node: Any, namespace: str, defs: dict[str, Any]) -> None:
    """Register every named type defined anywhere inside a schema file."""
    if isinstance(node, list):
        for branch in node:
            _collect_named(branch, namespace, defs)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "enum", "fixed"):
            full = _fullname(node["name"], node.get("namespace", namespace))
            defs[full] = node
            namespace = full.rsplit(".", 1)[0]
            for f in node.get("fields", ()):
                _collect_named(f["type"], namespace, defs)
        elif kind == "array":
            _collect_named(node["items"], namespace, defs)
        elif kind == "map":
            _collect_named(node["values"], namespace, defs)
        elif isinstance(kind, (dict, list)):
            _collect_named(kind, namespace, defs)


def _version(schema: dict[str, Any], *, current: bool) -> SchemaVersion:
    canonical = to_parsing_canonical_form(schema)
    fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    parsed = parse_schema(schema)  # keeps the parsed hint: fastavro re-parses schemas without it
    return SchemaVersion(schema["name"].rsplit(".", 1)[-1], fp, schema, parsed, current)


class Catalogue:
    """Current schemas by name; every known writer schema (current or historic) by fingerprint."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._current: dict[str, SchemaVersion] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for version in versions:
            clash = self._by_fingerprint.get(version.fingerprint)
            if clash is not None and clash.schema != version.schema:
                raise ValueError(
                    DUPLICATE_FINGERPRINT.format(
                        a=clash.name, b=version.name, fp=version.fingerprint.hex()
                    )
                )
            self._by_fingerprint[version.fingerprint] = version
            if version.current:
                self._current[version.name] = version

    @classmethod
    def load(cls, directory: Path = AVRO_DIR, history: Path | None = None) -> Catalogue:
        """Load ``directory/*.avsc`` as current and ``history/*.avsc`` as earlier versions."""
        history = directory / "history" if history is None else history
        raw = {p: json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.avsc"))}
        defs: dict[str, Any] = {}
        for schema in raw.values():
            _collect_named(schema, schema.get("namespace", NAMESPACE), defs)
        versions = []
        for schema in raw.values():
            if schema.get("type") == "record":
                versions.append(_version(_inline(schema, defs, set(), NAMESPACE), current=True))
        for path in sorted(history.glob("*.avsc")) if history.is_dir() else ():
            versions.append(_version(json.loads(path.read_text(encoding="utf-8")), current=False))
        return cls(versions)

    def current(self, name: str) -> SchemaVersion:
        try:
            return self._current[name]
        except KeyError:
            raise KeyError(UNKNOWN_NAME.format(name=name)) from None

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        return self._by_fingerprint.get(fp)

    def names(self) -> list[str]:
        return sorted(self._current)

    def versions(self) -> list[SchemaVersion]:
        return list(self._by_fingerprint.values())
