"""The connectors the hub ships, by name. Imported lazily so one broken adapter cannot stop
the others from starting."""

from __future__ import annotations

import importlib

from connectors.base import Connector

CONNECTORS: dict[str, str] = {
    "health": "connectors.health:HealthConnector",
    "school": "connectors.school:SchoolConnector",
    "social": "connectors.social:SocialConnector",
    "population": "connectors.population:PopulationConnector",
}
UNKNOWN = "unknown {what} {name!r}; known: {known}"


def load(table: dict[str, str], name: str, what: str) -> object:
    """Import ``module:attr`` registered under ``name``; a clear error names the known ones."""
    try:
        module, _, attr = table[name].partition(":")
    except KeyError:
        raise ValueError(UNKNOWN.format(what=what, name=name, known=", ".join(sorted(table)))) from None
    return getattr(importlib.import_module(module), attr)


def connector_class(name: str) -> type[Connector]:
    cls = load(CONNECTORS, name, "connector")
    assert isinstance(cls, type) and issubclass(cls, Connector)
    return cls
