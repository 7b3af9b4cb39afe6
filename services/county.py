"""The county directory file (``KRONOBARN_COUNTY_DIRECTORY``): loading and validation.

The file is TOML (format and rules in ``docs/county-directory.md``): a ``[region]``, the
``[[municipalities]]`` (SCB code and name), every ``[[organisations]]`` unit (id, kind, name,
municipality code, a school's principal, an optional reminder mailbox) and the ``[named_person]`` choices. It becomes a
``schemas.county.CountyDirectory``, which the named-person config, the web service's
organisation names, dev login and the stand-ins all read.

A file that is not a directory is refused at load with a message naming the file and, where
the fault sits on a line, the line (``path:line: ...``): tomllib keeps no positions, so the
lines of each entry's keys are found in the text. In dev without a file, the synthetic
county's (``deploy/county/kronoberg.toml``); production refuses to start without one.
Loaded directories are cached per path: a request path reads the directory on every call.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.county import CountyDirectory, DirectoryFault
from services.settings import Settings

# The synthetic county's directory, the dev default; found from the repository as the demo finds
# deploy/connectors (deploy/ is not a package and does not ship in a wheel). The stand-ins,
# which may not import services, name the same file in connectors.standins.directory.
SYNTHETIC_COUNTY = Path(__file__).resolve().parents[1] / "deploy" / "county" / "kronoberg.toml"
DIRECTORY_MISSING = (
    "KRONOBARN_COUNTY_DIRECTORY is not set; production needs the county's directory file "
    "(TOML: region, municipalities, organisation units; see docs/county-directory.md). "
    "It replaces KRONOBARN_ORG_DIRECTORY"
)
NOT_FOUND = "county directory {path} does not exist"
BAD_TOML = "county directory {path} is not valid TOML: {error}"
BAD_ENTRY = "{where}: {field}: {error}"
FIRST_ON = " (first on line {line})"
MORE_ERRORS = " (and {n} more)"

_ID = Field(min_length=1)


class DirectoryError(ValueError):
    """The county directory is missing or malformed; the message names the file (and line)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Region(_Strict):
    id: str = _ID
    name: str = _ID


class _Municipality(_Strict):
    code: str = Field(pattern=r"^\d{4}$", description="SCB municipality code")
    name: str = _ID


class _Organisation(_Strict):
    id: str = _ID
    kind: Literal["MHV", "BHV", "SOCIAL", "KAA", "PRESCHOOL", "SCHOOL", "UPPER_SECONDARY"]
    name: str = _ID
    municipality_code: str = _ID
    principal_id: str | None = Field(None, min_length=1)
    # The unit's functional mailbox for ``kronobarn reminders send``: checked by ``CountyDirectory``
    # (``schemas.county.is_email``), whose fault names this key's line.
    reminder_email: str | None = Field(None, min_length=3, max_length=254)


class _NamedPerson(_Strict):
    school_stage_starts_with: Literal["PRESCHOOL", "PRESCHOOL_CLASS"] = "PRESCHOOL_CLASS"
    placement_grace_days: int | None = Field(None, ge=0)


class _File(_Strict):
    region: _Region
    municipalities: list[_Municipality] = Field(min_length=1)
    organisations: list[_Organisation] = Field(default_factory=list)
    named_person: _NamedPerson = Field(default_factory=_NamedPerson)


# -- where things stand in the text -------------------------------------------------------

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_-]+)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


class _Lines:
    """1-based line numbers of each table's header and keys, and of each array entry's."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.arrays: dict[str, list[dict[str, int]]] = {}
        self.tables: dict[str, dict[str, int]] = {}
        current: dict[str, int] | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if match := _ARRAY_HEADER.match(line):
                current = {"": number}
                self.arrays.setdefault(match[1], []).append(current)
            elif match := _TABLE_HEADER.match(line):
                current = self.tables.setdefault(match[1], {"": number})
            elif current is not None and (match := _KEY.match(line)):
                current.setdefault(match[1], number)

    def of(self, loc: Sequence[Any]) -> int | None:
        """The line of a pydantic error location: the key's, else its entry's or table's header."""
        if not loc or not isinstance(loc[0], str):
            return None
        if len(loc) >= 2 and isinstance(loc[1], int):
            entries = self.arrays.get(loc[0], [])
            if loc[1] >= len(entries):
                return None
            entry = entries[loc[1]]
            return entry.get(str(loc[2]), entry[""]) if len(loc) > 2 else entry[""]
        table = self.tables.get(loc[0]) or (self.arrays.get(loc[0]) or [{}])[0]
        if not table:
            return None
        return table.get(str(loc[1]), table[""]) if len(loc) > 1 else table[""]

    def entry(self, array: str, index: int, key: str, value: str) -> int | None:
        """The line of entry ``index``'s ``key``; failing that (inline tables), the line where
        ``value`` stands quoted for the ``index``-th time among that array's values."""
        entries = self.arrays.get(array, [])
        if index < len(entries) and key in entries[index]:
            return entries[index][key]
        return self._quoted(value, index)

    def _quoted(self, value: str, index: int) -> int | None:
        quoted = (f'"{value}"', f"'{value}'")
        hits = [n for n, line in enumerate(self.text.splitlines(), start=1) if any(q in line for q in quoted)]
        return hits[min(index, len(hits) - 1)] if hits else None


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else str(path)


# -- loading ------------------------------------------------------------------------------

def county_directory_path(settings: Settings) -> Path:
    """``KRONOBARN_COUNTY_DIRECTORY``; the synthetic county's file in dev only."""
    if settings.county_directory is not None:
        return settings.county_directory
    if settings.env != "dev":
        raise DirectoryError(DIRECTORY_MISSING)
    return SYNTHETIC_COUNTY


def county_directory(settings: Settings) -> CountyDirectory:
    """The county directory these settings name, loaded once per path."""
    return load_county_directory(county_directory_path(settings))


def load_county_directory(path: Path) -> CountyDirectory:
    """The directory in ``path``, validated; cached per (resolved) path."""
    return _load(Path(path).resolve())


@functools.lru_cache(maxsize=16)
def _load(path: Path) -> CountyDirectory:
    return read_county_directory(path)


def read_county_directory(path: Path) -> CountyDirectory:
    """Read and validate ``path`` (uncached); ``DirectoryError`` names the file and line."""
    if not path.is_file():
        raise DirectoryError(NOT_FOUND.format(path=path))
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message carries the line and column
        raise DirectoryError(BAD_TOML.format(path=path, error=exc)) from None
    return parse_county_directory(raw, text, path)


def parse_county_directory(raw: Mapping[str, Any], text: str, path: Path) -> CountyDirectory:
    """The directory of a parsed file; ``text`` is the file's, for line numbers."""
    lines = _Lines(text)
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".") or "file"
        message = BAD_ENTRY.format(where=_where(path, lines.of(first["loc"])), field=field, error=first["msg"])
        raise DirectoryError(message + (MORE_ERRORS.format(n=len(errors) - 1) if len(errors) > 1 else "")) from None
    try:
        return CountyDirectory.from_mapping(parsed.model_dump())
    except DirectoryFault as fault:  # what a schema cannot say: references, uniqueness, one BHV each
        line = lines.entry(fault.array, fault.index, fault.key, fault.value)
        first = "" if fault.first is None else FIRST_ON.format(
            line=lines.entry(fault.array, fault.first, fault.key, fault.value))
        raise DirectoryError(f"{_where(path, line)}: {fault}{first}") from None
