"""``kronobarn audit`` as an operator runs it: in a subprocess, against a SQLite file."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from projections.audit_store import AuditStore
from services.sql.db import make_engine, migrate
from services.worker.audit_key import decode_audit_signing_key, encode_public_key
from tests.unit.test_audit_chain import emergency, viewed

KRONOBARN = str(Path(sys.executable).with_name("kronobarn"))
SIGNING_KEY = base64.b64encode(bytes(range(7, 39))).decode()


def _env(db: Path, **extra: str) -> dict[str, str]:
    """The environment of one run; an empty ``extra`` value leaves that variable unset."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")}
    env.update({"KRONOBARN_DATABASE_URL": f"sqlite:///{db}", "KRONOBARN_AUDIT_SIGNING_KEY": SIGNING_KEY, **extra})
    return {k: v for k, v in env.items() if v != ""}


def _run(db: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KRONOBARN, "audit", *args], env=_env(db, **extra), cwd=db.parent,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A hub database with 10 logged accesses and checkpoints at 4 and 8."""
    path = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    store = AuditStore(engine, signer=decode_audit_signing_key(SIGNING_KEY), checkpoint_every=4)
    store.append([emergency(i) if i % 5 == 0 else viewed(i) for i in range(1, 11)])
    engine.dispose()
    return path


def _tamper(db: Path, statement: str) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute(statement)


def test_verify_reports_an_intact_log(db: Path) -> None:
    done = _run(db, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit log intact: 10 entries, 2 checkpoints" in done.stdout
    assert "2 entries after the last checkpoint" in done.stdout


def test_verify_names_an_edited_row_and_exits_1(db: Path) -> None:
    _tamper(db, "UPDATE audit_log SET viewer_id = 'user-7' WHERE seq = 3")
    done = _run(db, "verify")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "audit log NOT intact: 1 problem(s)" in done.stdout
    assert "entry at seq 3" in done.stdout and "does not match its hash" in done.stdout
    assert "user-7" not in done.stdout + done.stderr


def test_verify_lists_every_problem(db: Path) -> None:
    _tamper(db, "DELETE FROM audit_log WHERE seq = 2")
    _tamper(db, "UPDATE audit_checkpoints SET seq = 5 WHERE seq = 4")
    _tamper(db, "DELETE FROM audit_log WHERE seq >= 8")
    done = _run(db, "verify")
    assert done.returncode == 1
    assert "entries at seq 2..2 are missing" in done.stdout
    assert "checkpoint at seq 5 has an invalid signature" in done.stdout
    assert "checkpoint at seq 8 is beyond the last entry (seq 7)" in done.stdout


def test_verify_with_only_the_public_key(db: Path) -> None:
    public = encode_public_key(decode_audit_signing_key(SIGNING_KEY).public_key())
    done = _run(db, "verify", "--public-key", public, KRONOBARN_ENV="production", KRONOBARN_AUDIT_SIGNING_KEY="")
    assert done.returncode == 0, done.stdout + done.stderr
    # The dev key's public half does not verify checkpoints signed with the real key.
    other = encode_public_key(decode_audit_signing_key(base64.b64encode(bytes(32)).decode()).public_key())
    assert _run(db, "verify", "--public-key", other).returncode == 1


def test_checkpoint_signs_the_head_and_verify_counts_it(db: Path) -> None:
    done = _run(db, "checkpoint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checkpoint at seq 10 signed" in done.stdout
    assert "audit log intact: 10 entries, 3 checkpoints" in _run(db, "verify").stdout


def test_checkpoint_refuses_a_tampered_tail(db: Path) -> None:
    _tamper(db, "UPDATE audit_log SET purpose = 'curiosity' WHERE seq = 9")
    done = _run(db, "checkpoint")
    assert done.returncode == 1
    assert "refusing to sign" in done.stdout and "entry at seq 9" in done.stdout


def test_production_without_a_signing_key_refuses(db: Path) -> None:
    done = _run(db, "verify", KRONOBARN_ENV="production", KRONOBARN_AUDIT_SIGNING_KEY="")
    assert done.returncode == 2
    assert "KRONOBARN_AUDIT_SIGNING_KEY is not set" in done.stderr


def test_verify_on_an_unmigrated_database_says_so(tmp_path: Path) -> None:
    done = _run(tmp_path / "empty.db", "verify")
    assert done.returncode == 2
    assert "kronobarn db migrate" in done.stderr
