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
UNKNOWN = "unknown connector {name!r}; known: {known}"


def connector_class(name: str) -> type[Connector]:
    try:
        module, _, attr = CONNECTORS[name].partition(":")
    except KeyError:
        raise ValueError(UNKNOWN.format(name=name, known=", ".join(sorted(CONNECTORS)))) from None
    cls = getattr(importlib.import_module(module), attr)
    assert issubclass(cls, Connector)
    return cls
