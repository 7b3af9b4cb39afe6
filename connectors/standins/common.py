"""Pieces every stand-in shares: its store under ``data_dir``, fill labels, day-time stamps."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from connectors.standins.county import County
from connectors.standins.store import RecordStore


def store_for(data_dir: Path, name: str) -> RecordStore:
    return RecordStore(data_dir / f"{name}.db")


def label(county: County) -> str:
    """What a store was filled from; a different county (or county directory) refills it."""
    directory = hashlib.sha256(repr((county.directory.municipalities, county.units)).encode()).hexdigest()[:12]
    return (f"seed={county.seed};children={county.children};as_of={county.as_of.isoformat()};"
            f"attendance={county.attendance};directory={directory}")


def at(day: dt.date, index: int, hour: int = 8) -> dt.datetime:
    """A working-hours time on ``day``, spread by child index so timestamps rarely tie."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC) + dt.timedelta(seconds=index % 28_800)


def feed_start(county: County, day: dt.date) -> dt.date:
    """Records older than the history window appear as of its first day (the initial load)."""
    return max(day, county.window_start)
