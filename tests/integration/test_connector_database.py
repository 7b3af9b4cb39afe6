"""A connector shares the hub's SQLite file with the worker and the web service (issue 18; the
cause of a CI failure): its reads-then-writes (the status row) must wait for another process's
write, never fail on it with "database is locked"."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import update

from services.ingest.checkpoints import SqlCheckpoints
from services.ingest.status import SqlStatus
from services.sql.db import make_engine, migrate
from services.sql.schema import connector_checkpoints

PAGES = 300


def test_a_connectors_status_waits_for_another_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    other = make_engine(url)  # another process's engine, as the worker's
    migrate(other)
    SqlCheckpoints(other).save("other", "0")
    ours = make_engine(url)  # the connector's own engine
    status, stop = SqlStatus(ours), threading.Event()

    def write_elsewhere() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with other.begin() as c:
                c.execute(update(connector_checkpoints).where(connector_checkpoints.c.connector == "other")
                          .values(cursor=str(n)))

    writer = threading.Thread(target=write_elsewhere, daemon=True)
    writer.start()
    try:
        for _ in range(PAGES):
            status.page("population", 2, 1, {"MappingError": 1})
    finally:
        stop.set()
        writer.join()
    got = SqlStatus(other).load("population")
    assert got is not None
    assert (got.records_read, got.events_published, dict(got.dead_letters)) == (2 * PAGES, PAGES, {"MappingError": PAGES})
