"""Organisation names and home municipalities, for display and for the gaps list's audience.

Built from the county directory (``KRONOBARN_COUNTY_DIRECTORY``, ``services.county``; in dev
without one, the synthetic county's). An organisation not in the directory is shown by its id
and belongs to no municipality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.county import CountyDirectory
from services.county import county_directory
from services.settings import Settings


@dataclass(frozen=True)
class OrgDirectory:
    names: Mapping[str, str] = field(default_factory=dict)
    municipalities: Mapping[str, str] = field(default_factory=dict)  # org id -> municipality code
    municipality_names: Mapping[str, str] = field(default_factory=dict)

    def name(self, org: str | None) -> str | None:
        return None if org is None else self.names.get(org)

    def municipality_of(self, org: str) -> str | None:
        return self.municipalities.get(org)

    def municipality_name(self, code: str | None) -> str | None:
        return None if code is None else self.municipality_names.get(code)

    def in_municipality(self, code: str | None) -> list[str]:
        return sorted(org for org, m in self.municipalities.items() if m == code)

    @classmethod
    def from_settings(cls, settings: Settings) -> OrgDirectory:
        """The settings' county directory; production refuses to start without one."""
        return cls.from_county(county_directory(settings))

    @classmethod
    def from_county(cls, county: CountyDirectory) -> OrgDirectory:
        units = county.organisations
        return cls({u.id: u.name for u in units}, {u.id: u.municipality_code for u in units},
                   {m.code: m.name for m in county.municipalities})
