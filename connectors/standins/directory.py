"""The synthetic county's directory, as the stand-ins read it.

The county's organisations are configuration (``deploy/county/kronoberg.toml``), not simulator
code. The stand-ins may not import ``services``, whose ``services.county`` validates a
directory file with line numbers; this small loader reads the checked-in synthetic file with
tomllib, and ``CountyDirectory`` checks the same rules (a unit test loads the file through
``services.county`` too). The path is resolved from the repository, as ``deploy/connectors``
is: ``deploy/`` is not a package and does not ship in a wheel.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

from schemas.county import CountyDirectory

REPOSITORY = Path(__file__).resolve().parents[2]
SYNTHETIC_COUNTY = REPOSITORY / "deploy" / "county" / "kronoberg.toml"


@functools.cache
def synthetic_directory() -> CountyDirectory:
    """The synthetic county's directory (read once per process)."""
    return read_directory(SYNTHETIC_COUNTY)


def read_directory(path: Path) -> CountyDirectory:
    """A directory file, read without ``services.county``'s line-numbered messages."""
    return CountyDirectory.from_mapping(tomllib.loads(path.read_text(encoding="utf-8")))
