"""Organisation names and home municipalities, for display and for the gaps list's audience.

In production the county's organisation directory is a JSON file
(``KRONOBARN_ORG_DIRECTORY``: ``{"<org id>": {"name": "...", "municipality_code": "0780"}}``);
in dev without one, the synthetic county's units. An organisation not in the directory is
shown by its id and belongs to no municipality.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.settings import Settings

BAD_DIRECTORY = "{path}: the organisation directory must map org ids to {{name, municipality_code}}"


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
        if settings.org_directory is not None:
            return cls.from_file(settings.org_directory)
        if settings.env == "dev":
            return cls.synthetic()
        return cls()

    @classmethod
    def from_file(cls, path: Path) -> OrgDirectory:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ValueError(BAD_DIRECTORY.format(path=path))
        return cls({k: str(v.get("name", k)) for k, v in data.items()},
                   {k: str(v["municipality_code"]) for k, v in data.items() if v.get("municipality_code")})

    @classmethod
    def synthetic(cls) -> OrgDirectory:
        """The synthetic county's units (a stand-in for the county's directory, dev only)."""
        from connectors.standins.county import MUNICIPALITIES, County

        units = County().units
        return cls({u.id: u.name for u in units}, {u.id: u.municipality_code for u in units},
                   {code: name for code, name, _ in MUNICIPALITIES})
