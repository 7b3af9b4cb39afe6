"""Sessions that end (issue 17, finding 2), between two ``kronobarn api`` processes on one database,
as two replicas behind one address: a logout at one holds at the other, and so does an
administrator's ending of a user's sessions; the JSON API answers 401, the pages the login."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from services.api.auth.form_tokens import FIELD
from services.api.auth.sessions import REFRESH_S
from services.kafka.broker import EmbeddedBroker, free_port
from services.sql.db import make_engine, migrate
from tests.e2e.test_api_cli import KRONOBARN, _env, _wait
from tests.support.browser import token_on

COORDINATOR = "dev-coordinator-SE2321000065-BHV0780"
ADMINISTRATOR = "dev-administrator"


@pytest.fixture
def replicas(tmp_path: Path, broker: EmbeddedBroker) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(make_engine(url))
    procs, bases = [], []
    for _ in range(2):  # one working directory: one dev login key, as replicas share their IdP's
        port = free_port()
        procs.append(subprocess.Popen([KRONOBARN, "api", "--port", str(port)], env=_env(broker, url), cwd=tmp_path,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        bases.append(f"http://127.0.0.1:{port}")
        _wait(f"{bases[-1]}/openapi.json", procs[-1])
    try:
        yield bases[0], bases[1]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _until(check: Callable[[], bool], within_s: float = REFRESH_S + 2.0) -> bool:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _token(base: str, subject: str) -> str:
    got = httpx.post(f"{base}/dev/token", json={"subject": subject})
    assert got.status_code == 200, got.text
    return str(got.json()["access_token"])


def test_a_logout_at_one_replica_ends_the_session_at_both(replicas: tuple[str, str]) -> None:
    a, b = replicas
    browser = httpx.Client()  # one cookie jar for both: cookies do not tell ports apart
    token = token_on(browser.get(f"{a}/dev/login").text)
    login = browser.post(f"{a}/dev/login", data={"subject": COORDINATOR, FIELD: token}, headers={"Origin": a},
                         follow_redirects=False)
    assert login.status_code == 303
    cookie = login.cookies["kronobarn_token"]
    assert "Max-Age=1800" in login.headers["set-cookie"]  # a page session of 30 minutes, not 8 hours
    bearer = {"Authorization": f"Bearer {cookie}"}
    for base in (a, b):
        assert httpx.get(f"{base}/ui/children", cookies={"kronobarn_token": cookie}).status_code == 200
        assert httpx.get(f"{base}/children", headers=bearer).status_code == 200

    # The form token of a page from one replica is good at the other: they derive one form key.
    token = token_on(browser.get(f"{b}/ui/children").text)
    out = browser.post(f"{a}/ui/logout", data={FIELD: token}, headers={"Origin": a}, follow_redirects=False)
    assert out.status_code == 303

    def refused(base: str) -> bool:
        page = httpx.get(f"{base}/ui/children", cookies={"kronobarn_token": cookie}, follow_redirects=False)
        api = httpx.get(f"{base}/children", headers=bearer)
        return (page.status_code, page.headers.get("location"), api.status_code) == (303, "/dev/login", 401)

    assert refused(a)  # at once where it was made
    assert _until(lambda: refused(b))  # within a refresh at the other
    assert "session has ended" in httpx.get(f"{b}/children", headers=bearer).text


def test_an_administrator_ends_every_session_of_a_user_at_every_replica(replicas: tuple[str, str]) -> None:
    a, b = replicas
    first, second = _token(a, COORDINATOR), _token(b, COORDINATOR)
    admin, other = _token(a, ADMINISTRATOR), _token(a, "dev-coordinator-kommun-0780-soc")
    end = f"{b}/admin/users/{COORDINATOR}/end-sessions"
    assert httpx.post(end, headers={"Authorization": f"Bearer {other}"}).status_code == 403
    assert httpx.post(end, headers={"Authorization": f"Bearer {admin}"}).status_code == 204

    def status(base: str, token: str) -> int:
        return httpx.get(f"{base}/children", headers={"Authorization": f"Bearer {token}"}).status_code

    assert _until(lambda: all(status(base, t) == 401 for base in (a, b) for t in (first, second)))
    assert status(a, other) == 200 and status(b, other) == 200  # another user's session goes on
    time.sleep(1.1)  # token times are whole seconds: a login after the end is one a second later
    again = _token(a, COORDINATOR)
    assert status(a, again) == 200 and status(b, again) == 200
