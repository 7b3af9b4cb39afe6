"""How the health stand-in presents its records: as today's Cosmic-style server (the default), or
as an installation that differs in the ways real ones do (``Served``).

The store holds one canonical copy; ``present`` rewrites a resource on its way out, so the same
county can be served both ways and a test can compare what the connector makes of each:

* ``uri_identifiers``: personnummer and samordningsnummer under HL7 Sweden's URIs instead of
  the OIDs;
* ``municipality_extension``: another URL for the home-municipality extension;
* ``bare_references``: patient references (and a newborn's pregnancy link) carry no identifier,
  only ``Patient/{id}``, so a client must read the Patient;
* ``practitioner_performers``: an Immunization's performer is a PractitionerRole (whose
  ``organization`` is the unit) or a Practitioner (the unit is the Encounter's service provider);
  both are served, derived from the unit;
* ``unstable_pregnancy_ids``: a pregnancy Condition's id changes with every version
  (``{id}.{version}``); its stable identity is ``identifier`` of ``PREGNANCY_ID_SYSTEM``;
* ``expiring_links``: every n-th request of a search's ``next`` link answers 410 Gone.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

from connectors.standins.health import vocabulary as v
from connectors.standins.store import RecordStore

PNR_URI = "http://electronichealth.se/identifier/personnummer"
COORDINATION_URI = "http://electronichealth.se/identifier/samordningsnummer"
COORDINATION_SYSTEM = "urn:oid:1.2.752.129.2.1.3.3"
PREGNANCY_ID_SYSTEM = "http://kronobarn.example/fhir/NamingSystem/pregnancy-id"
OTHER_MUNICIPALITY_EXTENSION = "http://region.example/fhir/StructureDefinition/home-municipality"
ROLE, PRACTITIONER = "role-", "practitioner-"
DERIVED_UPDATED = "2025-01-01T00:00:00.000000+00:00"
URI_OF = {v.PNR_SYSTEM: PNR_URI, COORDINATION_SYSTEM: COORDINATION_URI}


@dataclass(frozen=True, slots=True)
class Served:
    uri_identifiers: bool = False
    municipality_extension: str = v.EXT_MUNICIPALITY
    bare_references: bool = False
    practitioner_performers: bool = False
    unstable_pregnancy_ids: bool = False
    expiring_links: int | None = None  # every n-th next-link request answers 410

    @classmethod
    def other_installation(cls, expiring_links: int | None = 3) -> Served:
        """Every difference at once: the non-default profile the tests and docs describe."""
        return cls(uri_identifiers=True, municipality_extension=OTHER_MUNICIPALITY_EXTENSION, bare_references=True,
                   practitioner_performers=True, unstable_pregnancy_ids=True, expiring_links=expiring_links)

    @property
    def default(self) -> bool:
        return self == Served(expiring_links=self.expiring_links)


def present(resource: dict[str, Any], served: Served, store: RecordStore) -> dict[str, Any]:
    """``resource`` (with its server meta) as this installation serves it."""
    if served.default:
        return resource
    out = copy.deepcopy(resource)
    kind = out["resourceType"]
    if served.uri_identifiers:
        for identifier in out.get("identifier") or ():
            identifier["system"] = URI_OF.get(identifier.get("system"), identifier.get("system"))
    for element in ("subject", "patient"):
        ref = out.get(element)
        if isinstance(ref, dict) and str(ref.get("reference", "")).startswith("Patient/"):
            _person_reference(ref, served)
    if served.municipality_extension != v.EXT_MUNICIPALITY:
        for holder in [out, *(out.get("address") or ())]:
            for extension in holder.get("extension") or ():
                if extension.get("url") == v.EXT_MUNICIPALITY:
                    extension["url"] = served.municipality_extension
    if served.practitioner_performers and kind == "Immunization":
        for performer in out.get("performer") or ():
            unit = ((performer.get("actor") or {}).get("identifier") or {}).get("value")
            if unit:
                performer["actor"] = performer_of(out["id"], unit)
    if served.unstable_pregnancy_ids:
        if kind == "Condition" and _is_pregnancy(out):
            stable = out["id"]
            out["id"] = f"{stable}.{out['meta']['versionId']}"
            out["identifier"] = [{"system": PREGNANCY_ID_SYSTEM, "value": stable}]
        if kind == "Patient":
            for extension in out.get("extension") or ():
                if extension.get("url") == v.EXT_PREGNANCY:
                    extension["valueReference"] = _pregnancy_link(extension["valueReference"], served, store)
    return out


def performer_of(immunization_id: str, unit: str) -> dict[str, Any]:
    """Half the vaccinations name the nurse's role at the unit, the other half the nurse."""
    if int(hashlib.sha256(immunization_id.encode()).hexdigest(), 16) % 2:
        return {"reference": f"PractitionerRole/{ROLE}{unit}", "type": "PractitionerRole"}
    return {"reference": f"Practitioner/{PRACTITIONER}{unit}", "type": "Practitioner"}


def derived(kind: str, rid: str) -> dict[str, Any] | None:
    """The PractitionerRole or Practitioner behind ``performer_of``; None for any other id."""
    meta = {"versionId": "1", "lastUpdated": DERIVED_UPDATED, "tag": list(v.SYNTHETIC_TAGS)}
    if kind == "PractitionerRole" and rid.startswith(ROLE):
        unit = rid.removeprefix(ROLE)
        return {"resourceType": kind, "id": rid, "meta": meta, "active": True,
                "practitioner": {"reference": f"Practitioner/{PRACTITIONER}{unit}"},
                "organization": {"reference": f"Organization/{unit}", "type": "Organization",
                                 "identifier": {"system": v.HSA_SYSTEM, "value": unit}}}
    if kind == "Practitioner" and rid.startswith(PRACTITIONER):
        return {"resourceType": kind, "id": rid, "meta": meta, "active": True}
    return None


def stable_id(kind: str, rid: str, served: Served) -> tuple[str, str | None]:
    """The stored id behind a served id, and the version it names (unstable pregnancy ids)."""
    if served.unstable_pregnancy_ids and kind == "Condition" and "." in rid:
        stable, _, version = rid.rpartition(".")
        return stable, version
    return rid, None


def _person_reference(ref: dict[str, Any], served: Served) -> None:
    if served.bare_references:
        ref.pop("identifier", None)
    elif served.uri_identifiers and isinstance(ref.get("identifier"), dict):
        system = ref["identifier"].get("system")
        ref["identifier"]["system"] = URI_OF.get(system, system)


def _pregnancy_link(link: dict[str, Any], served: Served, store: RecordStore) -> dict[str, Any]:
    stable = str(link.get("reference", "")).removeprefix("Condition/")
    row = store.get("Condition", stable)
    version = row.version if row is not None else 1
    out: dict[str, Any] = {"reference": f"Condition/{stable}.{version}"}
    if not served.bare_references:
        out["identifier"] = {"system": PREGNANCY_ID_SYSTEM, "value": stable}
    return out


def _is_pregnancy(resource: dict[str, Any]) -> bool:
    return any(c.get("code") == v.PREGNANCY[0] for c in (resource.get("code") or {}).get("coding") or ())
