"""A stand-in's own storage: versioned records with change tracking, in one SQLite file.

Every stand-in keeps its records here (one row per record: kind, id, version, modified time,
deleted flag, JSON body) and serves change feeds ordered by ``(modified, id)``, which is how
the real systems' incremental APIs behave. Given a ``shuffle`` seed (a test knob), records that
share a ``modified`` come in a seeded random order instead of by id, and ``scan`` pages in
that order alone, ignoring ``modified``, as a server that pages by a random primary key does. Deleting keeps a tombstone so deletions can be
reported. ``prepare`` fills it once per (seed, size) and is a no-op when already filled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, modified TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL, PRIMARY KEY (kind, id));
CREATE INDEX IF NOT EXISTS records_feed ON records (kind, modified, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
CHUNK = 5_000


def stamp(at: dt.datetime) -> str:
    """Sortable UTC text with microseconds, e.g. 2026-03-01T08:00:00.000000+00:00."""
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Row:
    kind: str
    id: str
    version: int
    modified: str
    deleted: bool
    body: dict[str, Any]


class RecordStore:
    """Thread-safe for the stand-in's server threads; one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn().executescript(SCHEMA)  # executescript manages its own transaction

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.create_function("shuffled", 2, shuffled, deterministic=True)
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- filling ------------------------------------------------------------------------

    def prepared_as(self) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'prepared'").fetchone()
        return None if row is None else row[0]

    def fill(self, label: str, rows: Iterable[tuple[str, str, dt.datetime, dict[str, Any]]]) -> int:
        """Replace everything with ``rows`` (kind, id, modified, body), unless already ``label``."""
        if self.prepared_as() == label:
            return 0
        count = 0
        with self._tx() as c:
            c.execute("DELETE FROM records")
            batch: list[tuple[Any, ...]] = []
            for kind, rid, modified, body in rows:
                batch.append((kind, rid, 1, stamp(modified), json.dumps(body, sort_keys=True)))
                if len(batch) >= CHUNK:
                    count += self._insert(c, batch)
            count += self._insert(c, batch)
            c.execute("INSERT OR REPLACE INTO meta VALUES ('prepared', ?)", (label,))
        return count

    @staticmethod
    def _insert(c: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> int:
        c.executemany("INSERT INTO records (kind, id, version, modified, body) VALUES (?, ?, ?, ?, ?)", batch)
        n = len(batch)
        batch.clear()
        return n

    # -- changing (tests, simulation) ---------------------------------------------------

    def put(self, kind: str, rid: str, body: dict[str, Any], at: dt.datetime | None = None) -> Row:
        """Create or update one record: a new version, modified now."""
        modified = stamp(at or now())
        with self._tx() as c:
            old = c.execute("SELECT version FROM records WHERE kind = ? AND id = ?", (kind, rid)).fetchone()
            version = 1 if old is None else old[0] + 1
            c.execute(
                "INSERT OR REPLACE INTO records (kind, id, version, modified, deleted, body) VALUES (?, ?, ?, ?, 0, ?)",
                (kind, rid, version, modified, json.dumps(body, sort_keys=True)),
            )
        return Row(kind, rid, version, modified, False, body)

    def delete(self, kind: str, rid: str, at: dt.datetime | None = None) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE records SET deleted = 1, version = version + 1, modified = ? WHERE kind = ? AND id = ?",
                (stamp(at or now()), kind, rid),
            )

    # -- reading ------------------------------------------------------------------------

    def get(self, kind: str, rid: str) -> Row | None:
        row = self._conn().execute(
            "SELECT kind, id, version, modified, deleted, body FROM records WHERE kind = ? AND id = ?", (kind, rid)
        ).fetchone()
        return None if row is None else _row(row)

    def feed(self, kind: str, after: tuple[str, str] | None, limit: int, *, deleted: bool = False,
             shuffle: str | None = None) -> list[Row]:
        """Records of ``kind`` strictly after ``(modified, key)``, in that order; the key is the
        id, or with ``shuffle`` its seeded hash (``key_of``)."""
        modified, rid = after or ("", "")
        key = "id" if shuffle is None else "shuffled(?, id)"
        seed = () if shuffle is None else (shuffle,)
        rows = self._conn().execute(
            "SELECT kind, id, version, modified, deleted, body FROM records "
            f"WHERE kind = ? AND deleted = ? AND (modified > ? OR (modified = ? AND {key} > ?)) "
            f"ORDER BY modified, {key} LIMIT ?",
            (kind, int(deleted), modified, modified, *seed, rid, *seed, limit),
        ).fetchall()
        return [_row(r) for r in rows]

    def scan(self, kind: str, modified_after: str | None, after_key: str, limit: int, shuffle: str) -> list[Row]:
        """Records of ``kind`` modified strictly after ``modified_after``, paged by seeded hash
        of id strictly after ``after_key``: no order of time at all."""
        rows = self._conn().execute(
            "SELECT kind, id, version, modified, deleted, body FROM records "
            "WHERE kind = ? AND deleted = 0 AND modified > ? AND shuffled(?, id) > ? "
            "ORDER BY shuffled(?, id) LIMIT ?",
            (kind, modified_after or "", shuffle, after_key, shuffle, limit),
        ).fetchall()
        return [_row(r) for r in rows]

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return self._conn().execute("SELECT count(*) FROM records WHERE deleted = 0").fetchone()[0]
        return self._conn().execute("SELECT count(*) FROM records WHERE kind = ? AND deleted = 0", (kind,)).fetchone()[0]

    def ids(self, kind: str) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT id FROM records WHERE kind = ? AND deleted = 0 ORDER BY id", (kind,))]


def shuffled(seed: str, rid: str) -> str:
    """A record's place in a seeded random order."""
    return hashlib.sha256(f"{seed}|{rid}".encode()).hexdigest()


def key_of(row: Row, shuffle: str | None) -> str:
    """The key ``feed`` orders records sharing a ``modified`` by."""
    return row.id if shuffle is None else shuffled(shuffle, row.id)


def _row(r: tuple[Any, ...]) -> Row:
    return Row(r[0], r[1], r[2], r[3], bool(r[4]), json.loads(r[5]))
