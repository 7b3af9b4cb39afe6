"""Scale case: the synthetic county at full size through every stand-in's storage.

Prepares all four stand-ins for ``children`` children, with daily attendance (a real county's
volume: about 10M records a year at 45,000 children), in a temporary directory and reports
records stored, seconds and peak memory (RSS) per stand-in. It shows the generator streams
(memory stays flat as the county grows) and how long a full-county load takes here.
"""

from __future__ import annotations

import resource
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress

from connectors.standins.county import County
from connectors.standins.directory import synthetic_directory
from connectors.standins.registry import STANDINS, standin
from schemas.county import CountyDirectory


@dataclass(frozen=True, slots=True)
class ScaleRow:
    standin: str
    records: int
    seconds: float
    peak_rss_mib: float


def _records(data_dir: Path, name: str) -> int:
    """Rows in every table of the stand-in's SQLite files (its records, whatever the layout)."""
    total = 0
    for path in data_dir.glob(f"{name}*.db"):
        with sqlite3.connect(path) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            total += sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables
                         if not t.startswith(("meta", "standin_meta", "sqlite_")))
    return total


def county_scale(children: int, progress: Progress, directory: CountyDirectory | None = None) -> list[ScaleRow]:
    county = County(children=children, attendance="daily", directory=directory or synthetic_directory())
    task = progress.add_task(f"county of {children:,} children", total=len(STANDINS))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        for name in STANDINS:
            start = time.perf_counter()
            standin(name).prepare(data_dir, county)
            seconds = time.perf_counter() - start
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows.append(ScaleRow(name, _records(data_dir, name), seconds, peak))
            progress.advance(task)
    return rows
