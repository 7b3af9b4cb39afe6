"""Changes to the health stand-in after its initial load: the demo's simulation and test hooks.

Every change is written with ``meta.lastUpdated`` = now and a new ``meta.versionId``, so an
incremental ``_lastUpdated`` search finds exactly the changes. ``simulate`` cycles through the
kinds of change a records system sees in a day, starting with a new measurement, and keeps its
position in ``health.simulated`` so that successive calls vary.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from connectors.standins.common import store_for
from connectors.standins.county import County
from connectors.standins.health import vocabulary as v
from connectors.standins.health.generate import resource_id
from connectors.standins.store import RecordStore, Row

log = structlog.get_logger(__name__)

NAME = "health"
BAD_PNR = "20150309-9312"  # the right check digit would be 8


def put(data_dir: Path, resource: dict[str, Any], at: dt.datetime | None = None) -> Row:
    """Create or update one resource as given (no validation): a new version, updated now."""
    return store_for(data_dir, NAME).put(resource["resourceType"], resource["id"], resource, at)


def delete(data_dir: Path, kind: str, rid: str) -> None:
    """Delete one resource: it leaves search results and reads answer 410 Gone."""
    store_for(data_dir, NAME).delete(kind, rid)


def inject_malformed(data_dir: Path, county: County) -> str:
    """An Immunization whose patient's personnummer has a wrong check digit; returns its ref."""
    store = store_for(data_dir, NAME)
    episode = _some(store, "EpisodeOfCare", random.Random(0))
    rid = resource_id(county, "malformed", 1)
    body = {
        "resourceType": "Immunization", "id": rid, "meta": {"tag": list(v.SYNTHETIC_TAGS)},
        "status": "completed",
        "vaccineCode": {"coding": [{"system": v.ATC, "code": "J07BD52", "display": "Measles, mumps, rubella"}]},
        "patient": {"reference": "Patient/unknown", "identifier": {"system": v.PNR_SYSTEM, "value": BAD_PNR.replace("-", "")}},
        "occurrenceDateTime": dt.datetime.now(dt.UTC).isoformat(),
        "performer": [{"actor": episode.body["managingOrganization"]}] if episode else [],
        "protocolApplied": [{"doseNumberPositiveInt": 1}],
    }
    store.put("Immunization", rid, body)
    return f"Immunization/{rid}"


def simulate(data_dir: Path, county: County, n: int) -> int:
    """Apply ``n`` realistic changes; returns how many were applied."""
    store = store_for(data_dir, NAME)
    counter = data_dir / f"{NAME}.simulated"
    done = int(counter.read_text()) if counter.exists() else 0
    applied = 0
    for step in range(done, done + n):
        rng = random.Random(f"{county.seed}:health-simulation:{step}")
        kind, change = CHANGES[step % len(CHANGES)]
        if change(store, county, rng, step):
            applied += 1
            log.debug("standin.health.changed", change=kind, step=step)
    counter.write_text(str(done + n))
    return applied


def _new_observation(store: RecordStore, county: County, rng: random.Random, step: int) -> bool:
    episode = _some(store, "EpisodeOfCare", rng)
    if episode is None:
        return False
    rid = resource_id(county, "simulated-observation", step)
    code, display, ucum = v.WEIGHT
    store.put("Observation", rid, {
        "resourceType": "Observation", "id": rid, "meta": {"tag": list(v.SYNTHETIC_TAGS)}, "status": "final",
        "category": [{"coding": [{"system": v.OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": v.LOINC, "code": code, "display": display}]},
        "subject": episode.body["patient"], "effectiveDateTime": _now(),
        "performer": [episode.body["managingOrganization"]],
        "valueQuantity": {"value": round(rng.uniform(4.0, 20.0), 2), "unit": ucum, "system": v.UCUM, "code": ucum},
    })
    return True


def _new_visit(store: RecordStore, county: County, rng: random.Random, step: int) -> bool:
    episode = _some(store, "EpisodeOfCare", rng)
    if episode is None:
        return False
    rid = resource_id(county, "simulated-encounter", step)
    now = dt.datetime.now(dt.UTC)
    store.put("Encounter", rid, {
        "resourceType": "Encounter", "id": rid, "meta": {"tag": list(v.SYNTHETIC_TAGS)}, "status": "finished",
        "class": {"system": v.ACT_CODE, "code": "AMB"},
        "type": [{"coding": [{"system": v.VISIT_TYPE, "code": "bhv-extra", "display": "Extra BVC-besök"}]}],
        "subject": episode.body["patient"],
        "period": {"start": (now - dt.timedelta(minutes=30)).isoformat(), "end": now.isoformat()},
        "serviceProvider": episode.body["managingOrganization"],
    })
    return True


def _new_immunization(store: RecordStore, county: County, rng: random.Random, step: int) -> bool:
    episode = _some(store, "EpisodeOfCare", rng)
    if episode is None:
        return False
    rid = resource_id(county, "simulated-immunization", step)
    store.put("Immunization", rid, {
        "resourceType": "Immunization", "id": rid, "meta": {"tag": list(v.SYNTHETIC_TAGS)}, "status": "completed",
        "vaccineCode": {"coding": [{"system": v.ATC, "code": "J07BB02", "display": "Influenza, inactivated"}]},
        "patient": episode.body["patient"], "occurrenceDateTime": _now(), "primarySource": True,
        "performer": [{"actor": episode.body["managingOrganization"]}],
        "protocolApplied": [{"doseNumberPositiveInt": 1}],
    })
    return True


def _amend_observation(store: RecordStore, county: County, rng: random.Random, step: int) -> bool:
    row = _some(store, "Observation", rng)
    if row is None or not isinstance(row.body.get("valueQuantity"), dict):
        return False
    body = dict(row.body)
    quantity = dict(body["valueQuantity"])
    quantity["value"] = round(float(quantity["value"]) * rng.uniform(0.97, 1.03), 2)
    body.update(status="amended", valueQuantity=quantity)
    store.put("Observation", row.id, body)
    return True


def _note_condition(store: RecordStore, county: County, rng: random.Random, step: int) -> bool:
    episode = _some(store, "EpisodeOfCare", rng)
    if episode is None:
        return False
    rid = resource_id(county, "simulated-condition", step)
    store.put("Condition", rid, {
        "resourceType": "Condition", "id": rid, "meta": {"tag": list(v.SYNTHETIC_TAGS)},
        "extension": [{"url": v.EXT_RECORDING_UNIT, "valueReference": episode.body["managingOrganization"]}],
        "clinicalStatus": {"coding": [{"system": v.CONDITION_CLINICAL, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": v.CONDITION_VERIFICATION, "code": "confirmed"}]},
        "code": {"coding": [{"system": v.SNOMED, "code": "65363002", "display": "Otitis media"}]},
        "subject": episode.body["patient"], "onsetDateTime": dt.date.today().isoformat(), "recordedDate": _now(),
    })
    return True


def _retract_visit(store: RecordStore, county: County, rng: random.Random, step: int) -> bool:
    row = _some(store, "Encounter", rng)
    if row is None:
        return False
    store.put("Encounter", row.id, {**row.body, "status": "entered-in-error"})
    return True


def _delete_observation(store: RecordStore, county: County, rng: random.Random, step: int) -> bool:
    row = _some(store, "Observation", rng)
    if row is None or row.body.get("status") != "final":  # an amended one stays, to be seen
        return False
    store.delete("Observation", row.id)
    return True


Change = Callable[[RecordStore, County, random.Random, int], bool]
CHANGES: tuple[tuple[str, Change], ...] = (
    ("new-observation", _new_observation),
    ("new-visit", _new_visit),
    ("new-immunization", _new_immunization),
    ("amended-observation", _amend_observation),
    ("new-observation", _new_observation),
    ("noted-condition", _note_condition),
    ("retracted-visit", _retract_visit),
    ("deleted-observation", _delete_observation),
)


USABLE = {"EpisodeOfCare": ("active",), "Encounter": ("finished",), "Observation": ("final", "amended")}


def _some(store: RecordStore, kind: str, rng: random.Random) -> Row | None:
    """A random live resource of ``kind`` in a state a change applies to (an active listing...)."""
    ids = store.ids(kind)
    for _ in range(50):
        if not ids:
            return None
        row = store.get(kind, rng.choice(ids))
        if row is not None and not row.deleted and row.body.get("status") in USABLE[kind]:
            return row
    return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
