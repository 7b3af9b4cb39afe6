"""The county directory: the region, its municipalities and every organisation unit (DESIGN §6).

Plain frozen values with lookups, so the hub's services, the pure projections and the
stand-ins share one type. The directory is configuration, read from a TOML file
(``KRONOBARN_COUNTY_DIRECTORY``, format in ``docs/county-directory.md``): ``services.county``
loads and validates a file with line numbers in its messages; ``CountyDirectory`` itself
checks the same rules again without them, so no invalid directory exists in memory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from schemas.events import SchoolType

# The kinds of organisation unit a county directory holds.
MHV, BHV, SOCIAL, KAA = "MHV", "BHV", "SOCIAL", "KAA"
PRESCHOOL, SCHOOL, UPPER_SECONDARY = "PRESCHOOL", "SCHOOL", "UPPER_SECONDARY"
KINDS = (MHV, BHV, SOCIAL, KAA, PRESCHOOL, SCHOOL, UPPER_SECONDARY)
# The named person's municipal functions (DESIGN §6): at most one of each per municipality,
# and every municipality has its BHV unit (the named person before school age).
NAMED_PERSON_KINDS = (BHV, KAA)
SCHOOL_LINES = (SchoolType.PRESCHOOL, SchoolType.PRESCHOOL_CLASS)

NO_MUNICIPALITIES = "a county directory declares at least one municipality"
DUPLICATE_MUNICIPALITY = "municipality code {code!r} is declared twice"
DUPLICATE_ORG = "organisation id {org!r} is declared twice"
UNKNOWN_KIND = "organisation {org!r} has kind {kind!r}; the kinds are " + ", ".join(KINDS)
UNKNOWN_MUNICIPALITY = ("organisation {org!r} names municipality code {code!r}, which is not among the "
                        "municipalities ({codes})")
NO_BHV = "municipality {code} ({name}) has no BHV unit; the named person needs one per municipality"
SECOND_UNIT = "municipality {code} has a second {kind} unit {org!r}; the named person needs exactly one"
BAD_SCHOOL_LINE = "school_stage_starts_with is PRESCHOOL or PRESCHOOL_CLASS, not {value!r}"
BAD_GRACE = "placement_grace_days is a whole number of days >= 0, not {value!r}"
NO_UNIT = "municipality {code!r} has no {kind} unit"
BAD_EMAIL = "organisation {org!r} has reminder_email {value!r}, which is not an e-mail address (name@domain.se)"
# An address a mail server takes as it stands: one @, a dotted domain, no spaces, quotes or angle
# brackets (a functional mailbox, never a display name; the reminder's To: header is built from it).
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


class DirectoryFault(ValueError):
    """A directory that breaks a rule, with where: the entry (``array``, ``index``), its ``key``
    and ``value``, and for a duplicate the index of the ``first``. A loader that has the file's
    text turns that into a line number."""

    def __init__(self, message: str, array: str, index: int, key: str, value: str, first: int | None = None) -> None:
        super().__init__(message)
        self.array, self.index, self.key, self.value, self.first = array, index, key, value, first


@dataclass(frozen=True, slots=True)
class Region:
    """The region: its organisation number is the prefix of its units' HSA ids."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Municipality:
    code: str  # SCB municipality code, e.g. "0780"
    name: str


@dataclass(frozen=True, slots=True)
class Organisation:
    """An organisation unit that may produce facts about a child, or be its named person."""

    id: str
    kind: str  # one of KINDS
    name: str
    municipality_code: str
    principal_id: str | None = None  # school units: the principal (rektor)
    reminder_email: str | None = None  # the unit's functional mailbox for to-do reminders


@dataclass(frozen=True)
class CountyDirectory:
    """The county's organisations, in the order the file lists them.

    ``school_stage_starts_with`` and ``placement_grace_days`` are the county's named-person
    choices (``projections.named_person.NamedPersonConfig``); ``None`` grace days means that
    config's default.
    """

    region: Region
    municipalities: tuple[Municipality, ...]
    organisations: tuple[Organisation, ...]
    school_stage_starts_with: SchoolType = SchoolType.PRESCHOOL_CLASS
    placement_grace_days: int | None = None
    _by_id: Mapping[str, Organisation] = field(init=False, repr=False, compare=False)
    _by_kind: Mapping[tuple[str, str | None], tuple[Organisation, ...]] = field(init=False, repr=False,
                                                                               compare=False)
    _names: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "municipalities", tuple(self.municipalities))
        object.__setattr__(self, "organisations", tuple(self.organisations))
        if self.school_stage_starts_with not in SCHOOL_LINES:
            raise ValueError(BAD_SCHOOL_LINE.format(value=self.school_stage_starts_with))
        object.__setattr__(self, "school_stage_starts_with", SchoolType(self.school_stage_starts_with))
        days = self.placement_grace_days
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
            raise ValueError(BAD_GRACE.format(value=days))
        if not self.municipalities:
            raise ValueError(NO_MUNICIPALITIES)
        names: dict[str, str] = {}
        for i, m in enumerate(self.municipalities):
            if m.code in names:
                raise DirectoryFault(DUPLICATE_MUNICIPALITY.format(code=m.code), "municipalities", i, "code", m.code)
            names[m.code] = m.name
        by_id: dict[str, Organisation] = {}
        index: dict[str, int] = {}
        by_kind: dict[tuple[str, str | None], list[Organisation]] = {}
        for i, org in enumerate(self.organisations):
            if org.id in by_id:
                raise DirectoryFault(DUPLICATE_ORG.format(org=org.id), "organisations", i, "id", org.id, index[org.id])
            if org.kind not in KINDS:
                raise DirectoryFault(UNKNOWN_KIND.format(org=org.id, kind=org.kind),
                                     "organisations", i, "kind", org.kind)
            if org.municipality_code not in names:
                raise DirectoryFault(UNKNOWN_MUNICIPALITY.format(org=org.id, code=org.municipality_code,
                                                                 codes=", ".join(names)),
                                     "organisations", i, "municipality_code", org.municipality_code)
            if org.reminder_email is not None and not is_email(org.reminder_email):
                raise DirectoryFault(BAD_EMAIL.format(org=org.id, value=org.reminder_email),
                                     "organisations", i, "reminder_email", org.reminder_email)
            if org.kind in NAMED_PERSON_KINDS and by_kind.get((org.kind, org.municipality_code)):
                raise DirectoryFault(SECOND_UNIT.format(code=org.municipality_code, kind=org.kind, org=org.id),
                                     "organisations", i, "id", org.id)
            by_id[org.id], index[org.id] = org, i
            by_kind.setdefault((org.kind, org.municipality_code), []).append(org)
            by_kind.setdefault((org.kind, None), []).append(org)
        for i, m in enumerate(self.municipalities):
            if not by_kind.get((BHV, m.code)):
                raise DirectoryFault(NO_BHV.format(code=m.code, name=m.name), "municipalities", i, "code", m.code)
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))
        object.__setattr__(self, "_by_kind", MappingProxyType({k: tuple(v) for k, v in by_kind.items()}))
        object.__setattr__(self, "_names", MappingProxyType(names))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> CountyDirectory:
        """From the TOML file's tables, assumed well-formed (``services.county`` checks a file
        first and says where it is wrong; here a malformed one raises KeyError or TypeError)."""
        named = raw.get("named_person", {})
        return cls(
            region=Region(raw["region"]["id"], raw["region"]["name"]),
            municipalities=tuple(Municipality(m["code"], m["name"]) for m in raw["municipalities"]),
            organisations=tuple(
                Organisation(o["id"], o["kind"], o["name"], o["municipality_code"], o.get("principal_id"),
                             o.get("reminder_email"))
                for o in raw.get("organisations", ())
            ),
            school_stage_starts_with=SchoolType(named.get("school_stage_starts_with", SchoolType.PRESCHOOL_CLASS)),
            placement_grace_days=named.get("placement_grace_days"),
        )

    # -- lookups ---------------------------------------------------------------------------

    @property
    def codes(self) -> tuple[str, ...]:
        """The municipality codes, in the file's order."""
        return tuple(m.code for m in self.municipalities)

    @property
    def units(self) -> tuple[Organisation, ...]:
        """Every organisation unit, in the file's order (the stand-ins' name for them)."""
        return self.organisations

    def organisation(self, org: str) -> Organisation | None:
        return self._by_id.get(org)

    def units_of(self, kind: str, municipality_code: str | None = None) -> Sequence[Organisation]:
        """The units of ``kind``, of one municipality or (``None``) of the whole county."""
        return self._by_kind.get((kind, municipality_code), ())

    def unit(self, kind: str, municipality_code: str) -> Organisation:
        """The (first) ``kind`` unit of a municipality: its one MHV, BHV, SOCIAL or KAA unit."""
        units = self.units_of(kind, municipality_code)
        if not units:
            raise KeyError(NO_UNIT.format(code=municipality_code, kind=kind))
        return units[0]

    def name(self, org: str | None) -> str | None:
        """An organisation's name; ``None`` for an organisation the directory does not hold."""
        found = None if org is None else self._by_id.get(org)
        return None if found is None else found.name

    def municipality_of(self, org: str) -> str | None:
        found = self._by_id.get(org)
        return None if found is None else found.municipality_code

    def municipality_name(self, code: str | None) -> str | None:
        return None if code is None else self._names.get(code)

    def reminder_addresses(self) -> dict[str, str]:
        """Organisation id -> its reminder mailbox, for the units that have one, in the file's order."""
        return {o.id: o.reminder_email for o in self.organisations if o.reminder_email is not None}

    def units_by_municipality(self, kind: str) -> dict[str, str]:
        """Municipality code -> id of its (first) ``kind`` unit, for municipalities that have one."""
        return {m.code: units[0].id for m in self.municipalities if (units := self.units_of(kind, m.code))}


def is_email(value: str) -> bool:
    """Whether ``value`` is a plain e-mail address (``EMAIL``), at most 254 characters."""
    return len(value) <= 254 and EMAIL.fullmatch(value) is not None
