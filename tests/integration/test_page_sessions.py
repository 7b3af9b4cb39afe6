"""The page session (issue 17, finding 2): short, renewed while in use, and the token it replaces
stops working once the request that carried it is answered."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient

from services.api.auth.sessions import PAGE_SESSION
from tests.support.api import COORDINATOR_BHV, harness
from tests.support.browser import Browser


def test_a_page_session_past_half_its_life_is_renewed_and_the_old_token_retired(tmp_path: Path) -> None:
    h = harness(tmp_path)
    idp = h.app.state.hub.dev_idp
    now = dt.datetime.now(dt.UTC)
    young = idp.issue(COORDINATOR_BHV, PAGE_SESSION, now=now - PAGE_SESSION / 4)
    old = idp.issue(COORDINATOR_BHV, PAGE_SESSION, now=now - PAGE_SESSION * 3 / 4)
    client = Browser(h.app)

    kept = client.get("/ui/children", cookies={"kronobarn_token": young})
    assert kept.status_code == 200 and "kronobarn_token" not in kept.headers.get("set-cookie", "")

    renewed = client.get("/ui/children", cookies={"kronobarn_token": old})
    assert renewed.status_code == 200
    fresh = renewed.cookies["kronobarn_token"]
    assert fresh != old and f"Max-Age={int(PAGE_SESSION.total_seconds())}" in renewed.headers["set-cookie"]
    assert "HttpOnly" in renewed.headers["set-cookie"] and "SameSite=Lax" in renewed.headers["set-cookie"]
    assert client.get("/children", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    assert client.get("/children", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    # The JSON API never renews: a bearer is the identity provider's, not a page session.
    api = client.get("/children", headers={"Authorization": f"Bearer {young}"})
    assert api.status_code == 200 and "set-cookie" not in api.headers


def test_logout_keeps_its_own_cookie_deletion(tmp_path: Path) -> None:
    h = harness(tmp_path)
    old = h.app.state.hub.dev_idp.issue(COORDINATOR_BHV, PAGE_SESSION,
                                        now=dt.datetime.now(dt.UTC) - PAGE_SESSION * 3 / 4)
    out = Browser(h.app).post("/ui/logout", cookies={"kronobarn_token": old}, follow_redirects=False)
    assert out.status_code == 303
    logins = [c for c in out.headers.get_list("set-cookie") if c.startswith("kronobarn_token=")]
    assert len(logins) == 1 and 'kronobarn_token=""' in logins[0]  # deleted, not renewed


def test_an_administrator_ends_a_users_sessions_from_the_page(tmp_path: Path) -> None:
    from tests.support.api import ADMINISTRATOR

    h = harness(tmp_path)
    client = Browser(h.app)
    theirs = h.token(COORDINATOR_BHV)
    assert client.get("/children", headers={"Authorization": f"Bearer {theirs}"}).status_code == 200  # seen: named
    admin = Browser(h.app)
    admin.cookies.set("kronobarn_token", h.token(ADMINISTRATOR))
    page = admin.get("/ui/admin")
    assert page.status_code == 200 and f'value="{COORDINATOR_BHV.subject}"' in page.text
    assert COORDINATOR_BHV.name_hint in page.text
    assert admin.post("/ui/admin/sessions/end", data={"subject": ""}, follow_redirects=False).status_code == 422
    done = admin.post("/ui/admin/sessions/end", data={"subject": COORDINATOR_BHV.subject}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/ui/admin?klart=sessioner")
    assert client.get("/children", headers={"Authorization": f"Bearer {theirs}"}).status_code == 401
    assert "sessioner är avslutade" in admin.get(done.headers["location"]).text


def test_two_logins_of_one_user_in_one_second_are_two_sessions(tmp_path: Path) -> None:
    """A logout ends its own session only, however close the two logins were."""
    h = harness(tmp_path)
    now = dt.datetime.now(dt.UTC)
    first, second = (h.app.state.hub.dev_idp.issue(COORDINATOR_BHV, PAGE_SESSION, now=now) for _ in range(2))
    assert first != second
    out = Browser(h.app)
    out.cookies.set("kronobarn_token", first)
    assert out.post("/ui/logout", follow_redirects=False).status_code == 303
    still = TestClient(h.app)
    still.cookies.set("kronobarn_token", second)
    assert still.get("/ui/children", follow_redirects=False).status_code == 200
