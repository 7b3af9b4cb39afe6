"""Which organisations may take which role in a command (DESIGN §6; issue 17, finding 3).

An organisation a command names -- a meeting's participants and lead, an action's responsible
organisation, the named person's new organisation, a consent's recipients and sources -- must
be one the county directory knows, of a kind that may take that role; else the command is
refused with a reason that names the field. The directory is the allow list: an id that is well
formed but made up (``nonexistent-org-42``, ``2026-13-45``) is refused like a malformed one.

The roles:

* **taking part in a plan** (participant, lead, responsible organisation, consent recipient):
  any unit of the directory -- MHV, BHV, social services, KAA, förskola, school, upper
  secondary. The region itself is no unit: its auditors and administrators take no part in a
  plan.
* **named person** (rules 1-5): the MHV, the BHV, the school unit's principal (förskola,
  school, upper secondary) or the KAA function; never social services.
* **source of facts** (a consent's ``source_organisations``): any unit, and the region, whose
  health records name no care unit when the source does not (``connectors.health_mapping``).

The caller passes what the directory says (org id -> kind, the region as ``REGION``); this
module does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schemas.county import BHV, KAA, KINDS, MHV, PRESCHOOL, SCHOOL, UPPER_SECONDARY

REGION = "REGION"  # the region's own id: no unit, but the source of health records naming none
SHOWN_MAX = 64  # an id echoed in a reason is cut here: the caller typed it, it may be anything

UNKNOWN_ORG = "{field} {org!r} is not an organisation in the county directory"
NOT_A_UNIT = "{field} {org!r} is not an organisation unit that can take part in a plan"
NOT_NAMED_PERSON = ("{field} {org!r} cannot be named person: only a maternity or child health unit, a förskola, "
                    "a school or a KAA function can")
NOT_A_SOURCE = "{field} {org!r} is not an organisation that facts come from"


@dataclass(frozen=True)
class Role:
    """The kinds that may take a role, and the reason given to another kind."""

    kinds: frozenset[str]
    wrong_kind: str


UNITS = frozenset(KINDS)
PARTICIPANT = Role(UNITS, NOT_A_UNIT)
NAMED_PERSON = Role(frozenset({MHV, BHV, KAA, PRESCHOOL, SCHOOL, UPPER_SECONDARY}), NOT_NAMED_PERSON)
SOURCE = Role(UNITS | {REGION}, NOT_A_SOURCE)

Units = Mapping[str, str]  # org id -> kind (schemas.county.KINDS, or REGION)


def problems(orgs: Iterable[str], field: str, role: Role, units: Units | None) -> list[str]:
    """Why each of ``orgs`` (given in ``field``) may not take ``role``: unknown to the directory,
    or of another kind. ``units`` None: not checked (the domain's own tests and the demo, which
    name their organisations themselves); the web service always passes the directory."""
    if units is None:
        return []
    out = []
    for org in dict.fromkeys(orgs):
        kind = units.get(org)
        if kind is None:
            out.append(UNKNOWN_ORG.format(field=field, org=org[:SHOWN_MAX]))
        elif kind not in role.kinds:
            out.append(role.wrong_kind.format(field=field, org=org))
    return out
