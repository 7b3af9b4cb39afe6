"""The parts of erasure that live in the database (issue 16): which ids one erasure takes, how a
running process learns of it, and SQLite files that keep no old page with erased text."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from projections.plan import ERASED_TEXT
from projections.read_model import actions
from services.erasure.erase import child_ids
from services.erasure.watch import ErasureWatch
from services.readmodel.engine import read_model
from services.readmodel.replay import let_go_of_erased
from services.settings import Settings
from services.sql.db import forget_overwritten, make_engine, migrate
from services.sql.keystore import SqlKeyStore, dev_master_key
from services.sql.schema import identity_links
from tests.conftest import DATABASES


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'hub.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    made = make_engine(url)
    migrate(made)
    return made


def _link(engine: Engine, merged: uuid.UUID, surviving: uuid.UUID) -> None:
    with engine.begin() as c:
        c.execute(insert(identity_links).values(merged_id=str(merged), surviving_id=str(surviving),
                                                linked_at=dt.datetime.now(dt.UTC)))


def test_one_erasure_takes_every_id_of_the_child_whichever_is_named(engine: Engine) -> None:
    # u <- x <- y (y was merged into x, x into u), u <- z; w is another child.
    u, x, y, z, w = (uuid.uuid4() for _ in range(5))
    for merged, surviving in ((x, u), (y, x), (z, u)):
        _link(engine, merged, surviving)
    reference = {u, x, y, z}  # the test's own: every id linked to u, directly or not
    for named in (u, x, y, z):
        found = child_ids(engine, named)
        assert found[0] == u and set(found) == reference and len(found) == len(reference)
    assert child_ids(engine, w) == (w,)


def test_a_running_process_sees_each_erasure_once(engine: Engine) -> None:
    keys, watch = SqlKeyStore(engine, dev_master_key()), ErasureWatch(engine)
    earlier, later = uuid.uuid4(), uuid.uuid4()
    keys.erase(earlier, reason_code="GDPR_ART17")
    assert watch.poll() == {earlier}  # a process that starts sees the erasures made before it
    assert watch.poll() == set()
    keys.erase(later, reason_code="GDPR_ART17")
    assert watch.poll() == {later} and watch.seen == {earlier, later}


def test_sqlite_files_keep_no_page_with_overwritten_text(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    needle = b"Plantext-0b1c7f6e"
    with engine.begin() as c:
        c.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        for i in range(200):
            c.execute(text("INSERT INTO notes VALUES (:i, :body)"), {"i": i, "body": f"{needle.decode()} {i} " * 4})
    with engine.begin() as c:
        c.execute(text("UPDATE notes SET body = '[raderad]'"))

    def anywhere() -> bool:
        return any(needle in p.read_bytes() for p in tmp_path.iterdir() if p.is_file())

    assert anywhere()  # the write-ahead log still holds the old pages
    forget_overwritten(engine)
    assert not anywhere()


def test_a_replay_lets_go_of_children_erased_while_it_read_the_log(tmp_path: Path) -> None:
    """A replay opens text as it reads; a child erased meanwhile reads erased once it has written."""
    hub_url, into_url = f"sqlite:///{tmp_path / 'hub.db'}", f"sqlite:///{tmp_path / 'rebuilt.db'}"
    hub, into = make_engine(hub_url), make_engine(into_url)
    migrate(hub)
    migrate(into)
    erased, kept = uuid.uuid4(), uuid.uuid4()
    with into.begin() as c:  # what the replay wrote: both children's text, opened while the keys existed
        for child, need in ((erased, "Plantext-raderas"), (kept, "Plantext-kvar")):
            c.execute(insert(actions).values(action_id=str(uuid.uuid4()), child_id=str(child), area="health",
                                             responsible_org="x", status="agreed", need=need, what=None))
    SqlKeyStore(hub, dev_master_key()).erase(erased, reason_code="GDPR_ART17")
    settings = Settings(_env_file=None, database_url=hub_url)  # type: ignore[call-arg]
    assert let_go_of_erased(settings, read_model(into, settings)) == 1
    with into.connect() as c:
        texts = dict(c.execute(text("SELECT child_id, need FROM actions")).all())
    assert texts == {str(erased): ERASED_TEXT, str(kept): "Plantext-kvar"}
    assert not any(b"Plantext-raderas" in p.read_bytes() for p in tmp_path.glob("rebuilt.db*"))
