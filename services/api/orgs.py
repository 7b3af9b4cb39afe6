"""Organisation names and home municipalities, for display and for the gaps list's audience.

Built from the county directory (``KRONOBARN_COUNTY_DIRECTORY``, ``services.county``; in dev
without one, the synthetic county's). An organisation not in the directory is shown by its id
and belongs to no municipality. The pages' pickers list the directory's units (``units``), and
the region (the auditors' and administrators' organisation) is shown by its name too, though it
is no unit: it never takes a role in a plan, so ``name`` does not know it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from schemas.county import CountyDirectory
from services.api.person import swedish_key
from services.county import county_directory
from services.settings import Settings


@dataclass(frozen=True)
class Unit:
    """One organisation unit as the pages list it."""

    id: str
    name: str
    kind: str  # schemas.county.KINDS
    municipality_code: str


@dataclass(frozen=True)
class OrgDirectory:
    names: Mapping[str, str] = field(default_factory=dict)
    municipalities: Mapping[str, str] = field(default_factory=dict)  # org id -> municipality code
    municipality_names: Mapping[str, str] = field(default_factory=dict)  # in the directory's order
    kinds: Mapping[str, str] = field(default_factory=dict)  # org id -> kind
    region: tuple[str, str] | None = None  # (id, name)

    def name(self, org: str | None) -> str | None:
        return None if org is None else self.names.get(org)

    def display_name(self, org: str | None) -> str | None:
        """A unit's name, or the region's for the region's id; None for an unknown id."""
        if self.region is not None and org == self.region[0]:
            return self.region[1]
        return self.name(org)

    def municipality_of(self, org: str) -> str | None:
        return self.municipalities.get(org)

    def municipality_name(self, code: str | None) -> str | None:
        return None if code is None else self.municipality_names.get(code)

    def in_municipality(self, code: str | None) -> list[str]:
        return sorted(org for org, m in self.municipalities.items() if m == code)

    def units(self, kinds: Collection[str] | None = None) -> list[Unit]:
        """The units of ``kinds`` (every kind: None), by municipality in the directory's order, then
        by name in the Swedish alphabet."""
        order = {code: n for n, code in enumerate(self.municipality_names)}
        found = [Unit(org, name, self.kinds.get(org, ""), self.municipalities.get(org, ""))
                 for org, name in self.names.items() if kinds is None or self.kinds.get(org) in kinds]
        return sorted(found, key=lambda u: (order.get(u.municipality_code, len(order)), swedish_key(u.name), u.id))

    @classmethod
    def from_settings(cls, settings: Settings) -> OrgDirectory:
        """The settings' county directory; production refuses to start without one."""
        return cls.from_county(county_directory(settings))

    @classmethod
    def from_county(cls, county: CountyDirectory) -> OrgDirectory:
        units = county.organisations
        return cls({u.id: u.name for u in units}, {u.id: u.municipality_code for u in units},
                   {m.code: m.name for m in county.municipalities}, {u.id: u.kind for u in units},
                   (county.region.id, county.region.name))

