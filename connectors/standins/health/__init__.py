"""Stand-in for Region Kronoberg's health records (Cambio Cosmic-style), speaking FHIR R4.

A FHIR R4 REST server (``server``) with an OAuth2 client-credentials token endpoint, over its
own SQLite store ``data_dir/health.db``, filled from the synthetic county (``generate``):
Patient, Condition (pregnancies and noted conditions), EpisodeOfCare (BHV listings),
Encounter, Observation and Immunization. ``changes`` makes later changes for the demo and
tests. Default port 8101, FHIR base ``/fhir``, token endpoint ``/oauth2/token``.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from connectors.standins.common import label, store_for
from connectors.standins.county import County
from connectors.standins.health.changes import delete, inject_malformed, put, simulate
from connectors.standins.health.generate import county_resources
from connectors.standins.health.server import RESOURCE_TYPES, create_app, resource_of
from connectors.standins.registry import Standin
from connectors.standins.store import RecordStore

__all__ = ["RESOURCE_TYPES", "STANDIN", "create_app", "delete", "inject_malformed", "prepare", "put",
           "resource_of", "simulate"]

log = structlog.get_logger(__name__)

NAME = "health"
DEFAULT_PORT = 8101


def prepare(data_dir: Path, county: County) -> RecordStore:
    """Load the county into ``data_dir/health.db``; a no-op when it already holds this county."""
    store = store_for(data_dir, NAME)
    loaded = store.fill(label(county), county_resources(county))
    log.info("standin.prepared", standin=NAME, resources=loaded or store.count(), reused=not loaded)
    return store


STANDIN = Standin(
    name=NAME,
    description="health records, Cosmic-style FHIR R4 with OAuth2 client credentials",
    default_port=DEFAULT_PORT,
    prepare=prepare,
    app=create_app,
    simulate=simulate,
)
