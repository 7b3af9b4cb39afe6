"""The stand-in source systems, by name, for ``kronobarn standin NAME`` and the demo.

Each stand-in simulates another party's system with its own storage under ``data_dir``. It is
filled from the synthetic county (``prepare``, idempotent) and, for HTTP systems, served as an
ASGI app. Stand-ins are never imported by an adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.registry import load
from connectors.standins.county import County


@dataclass(frozen=True, slots=True)
class Standin:
    name: str
    description: str
    default_port: int | None  # None: not an HTTP system (the social case register is SQL)
    prepare: Callable[[Path, County], Any]  # create storage under data_dir and load the county
    app: Callable[[Path], Any] | None  # ASGI app over the prepared storage
    simulate: Callable[[Path, County, int], Any] | None = None  # apply n realistic changes


STANDINS: dict[str, str] = {
    "health": "connectors.standins.health:STANDIN",
    "school": "connectors.standins.school:STANDIN",
    "social": "connectors.standins.social:STANDIN",
    "population": "connectors.standins.population:STANDIN",
}


def standin(name: str) -> Standin:
    spec = load(STANDINS, name, "stand-in")
    assert isinstance(spec, Standin)
    return spec
