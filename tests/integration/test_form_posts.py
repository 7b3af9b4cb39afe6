"""Forms that only a page of this site can post (issue 17, finding 5; ASVS 4.0 V4.2.2, V13.2.3).

Every form route of the pages, read from the app's own routes, is posted by a user who may use
it, once with each defect: no form token, a wrong one, another browser's, no ``Origin``, a foreign
``Origin`` (with and without a ``X-Forwarded-Host`` that matches it). Each gets 403 and publishes
nothing; the same post as a browser makes it is not refused. ``X-Forwarded-*`` are believed only
from a configured proxy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.auth import form_tokens
from services.api.auth.tokens import Principal
from tests.integration.test_api_access_matrix import COUNTY_FORMS, FORM_BODIES, endpoints, required_role
from tests.support.api import ADMINISTRATOR, AUDITOR, COORDINATOR_BHV, Harness, harness
from tests.support.browser import Browser, token_on

SITE = "http://testserver"
DEV_COORDINATOR = "dev-coordinator-SE2321000065-BHV0780"  # a user of the dev login's synthetic county
FOREIGN = "https://evil.example"


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    return harness(tmp_path_factory.mktemp("forms"))


def form_routes(h: Harness) -> list[tuple[str, str]]:
    """(route path, URL about child A) of every form post of the pages, the login's included."""
    found = [(path, url.replace(str(h.county.b), str(h.county.a))) for method, path, url in endpoints(h)
             if method == "POST" and (path.startswith("/ui/") or path == "/dev/login")]
    assert len(found) >= 20 and ("/ui/logout", "/ui/logout") in found
    return found


def poster(path: str) -> Principal | None:
    """Someone who may use the form: the login's is anyone's."""
    if path == "/dev/login":
        return None
    return {"coordinator": COORDINATOR_BHV, "auditor": AUDITOR, "administrator": ADMINISTRATOR}[required_role(path)]


def body(h: Harness, path: str, url: str) -> dict[str, str]:
    if path == "/dev/login":
        return {"subject": DEV_COORDINATOR}
    return dict(COUNTY_FORMS[path](h) if path in COUNTY_FORMS else FORM_BODIES.get(url.rstrip("/").split("/")[-1], {}))


def browser(h: Harness, who: Principal | None) -> tuple[Browser, str]:
    """A logged-in browser (or an anonymous one) and the form token of a page it loaded."""
    client = Browser(h.app, follow_redirects=False)
    if who is not None:
        client.cookies.set("kronobarn_token", h.token(who))
    return client, client.form_token()


def test_every_form_refuses_a_post_that_did_not_come_from_a_page_of_this_site(h: Harness) -> None:
    other_token = browser(h, None)[1]  # a token, but another browser's
    for path, url in form_routes(h):
        client, token = browser(h, poster(path))
        data = body(h, path, url)
        defects = {
            "no token": ({"Origin": SITE}, data),
            "a wrong token": ({"Origin": SITE}, {**data, form_tokens.FIELD: token[:-2] + "xx"}),
            "another browser's token": ({"Origin": SITE}, {**data, form_tokens.FIELD: other_token}),
            "no Origin": ({}, {**data, form_tokens.FIELD: token}),
            "a foreign Origin": ({"Origin": FOREIGN}, {**data, form_tokens.FIELD: token}),
            "a foreign Origin and forwarded host": ({"Origin": FOREIGN, "X-Forwarded-Host": "evil.example",
                                                     "X-Forwarded-Proto": "https"},
                                                    {**data, form_tokens.FIELD: token}),
            "Origin null": ({"Origin": "null"}, {**data, form_tokens.FIELD: token}),
            "a token that is not ASCII": ({"Origin": SITE}, {**data, form_tokens.FIELD: token[:-1] + "å"}),
        }
        before = len(h.publish.events)
        for defect, (headers, sent) in defects.items():
            r = TestClient.post(client, url, data=sent, headers=headers, follow_redirects=False)
            assert r.status_code == 403, (url, defect, r.status_code)
            assert "kronobarn_token" not in r.headers.get("set-cookie", ""), (url, defect)  # no login, no logout
        assert len(h.publish.events) == before, url  # nothing published, not even a read
        if path == "/ui/logout":  # a refused logout ended nothing
            assert client.get("/ui/children").status_code == 200
        made = client.post(url, data=data)  # as a browser posts it: Origin and the page's token
        assert made.status_code != 403, (url, made.status_code, made.text[:300])


def test_the_refusal_says_why_in_swedish_on_the_page(h: Harness) -> None:
    client, token = browser(h, COORDINATOR_BHV)
    r = TestClient.post(client, "/ui/children", data={"name": "x"}, headers={"Origin": SITE})
    assert r.status_code == 403 and "formulärnyckel" in r.text and "ladda om sidan" in r.text
    r = TestClient.post(client, "/ui/children", data={"name": "x", form_tokens.FIELD: token},
                        headers={"Origin": FOREIGN})
    assert r.status_code == 403 and "annan webbplats" in r.text


def test_a_login_and_a_logout_each_end_the_form_tokens_before_them(tmp_path: Path) -> None:
    h = harness(tmp_path)  # its own: the logout revokes a token the other tests would share
    client, before_login = browser(h, None)
    login = client.post("/dev/login", data={"subject": DEV_COORDINATOR})
    assert login.status_code == 303 and "kronobarn_token" in client.cookies
    stale = TestClient.post(client, "/ui/children", data={"name": "x", form_tokens.FIELD: before_login},
                            headers={"Origin": SITE})
    assert stale.status_code == 403  # a token planted before the login does not carry over
    logged_in = token_on(client.get("/ui/children").text)
    assert logged_in != before_login
    assert client.post("/ui/logout", data={form_tokens.FIELD: logged_in}).status_code == 303
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))  # even logged in again by other means
    after = TestClient.post(client, "/ui/children", data={"name": "x", form_tokens.FIELD: logged_in},
                            headers={"Origin": SITE})
    assert after.status_code == 403


def test_the_form_cookie_is_httponly_and_lax_and_every_page_of_one_browser_carries_one_token(h: Harness) -> None:
    client = Browser(h.app, follow_redirects=False)
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    first = client.get("/ui/children")
    [cookie] = [c for c in first.headers.get_list("set-cookie") if c.startswith(form_tokens.COOKIE + "=")]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Max-Age" not in cookie
    pages = [first, client.get(f"/ui/children/{h.county.a}"), client.get(f"/ui/children/{h.county.a}/meetings/new")]
    assert len({token_on(p.text) for p in pages}) == 1
    assert all(form_tokens.COOKIE not in p.headers.get("set-cookie", "") for p in pages[1:])  # kept, not renewed


def _proxied(tmp_path: Path, trusted: str, peer: str) -> tuple[Harness, Browser]:
    tmp_path.mkdir()
    h = harness(tmp_path, trusted_proxies=trusted)
    client = Browser(h.app, follow_redirects=False, client=(peer, 40_000))
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    return h, client


PUBLIC_SITE = {"Origin": "https://barnensplan.example.se", "X-Forwarded-Host": "barnensplan.example.se",
               "X-Forwarded-Proto": "https"}


def test_forwarded_headers_count_only_from_a_configured_proxy(tmp_path: Path) -> None:
    h, proxy = _proxied(tmp_path / "trusted", "10.0.0.0/8", "10.1.2.3")
    token = proxy.form_token()
    # Through the proxy, the site is the one the browser used, not the proxy's address.
    assert proxy.post("/ui/children", data={"name": "x"}, headers=PUBLIC_SITE).status_code == 200
    assert proxy.post("/ui/children", data={"name": "x"}, headers={"Origin": SITE}).status_code == 200  # no header
    assert TestClient.post(proxy, "/ui/children", data={"name": "x", form_tokens.FIELD: token},
                           headers={**PUBLIC_SITE, "Origin": SITE}).status_code == 403

    h, direct = _proxied(tmp_path / "direct", "10.0.0.0/8", "192.0.2.7")  # not a configured proxy
    assert direct.post("/ui/children", data={"name": "x"}, headers=PUBLIC_SITE).status_code == 403
    assert direct.post("/ui/children", data={"name": "x"}, headers={**PUBLIC_SITE, "Origin": SITE}).status_code == 200
    h, nobody = _proxied(tmp_path / "none", "", "10.1.2.3")  # no proxy configured: no one is believed
    assert nobody.post("/ui/children", data={"name": "x"}, headers=PUBLIC_SITE).status_code == 403
